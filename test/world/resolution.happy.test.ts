/**
 * Entity resolution: how candidates rank by what matched, an exact duplicate merging on its own, a weak
 * match waiting for a person, and what a reviewer's decision on that match does.
 */
import { describe, expect, it } from "vitest";
import { eventRow, factAt, ingestPatient, worldWorkspace } from "./fixtures";

describe("resolve", () => {
  it("ranks external id, phone + email, name + birth date, email and phone by the strength of what matched", async () => {
    const f = await worldWorkspace();
    const family = "+14155550101";
    const ana = await ingestPatient(f, {
      given_name: "Ana",
      family_name: "Rank",
      birth_date: "1980-01-01",
      phone: family,
      email: "ana@example.test",
    });
    const ben = await ingestPatient(f, {
      given_name: "Ben",
      family_name: "Rank",
      birth_date: "1990-05-05",
      phone: family,
    });
    const cy = await ingestPatient(f, {
      given_name: "Cy",
      family_name: "Rank",
      email: "cy@example.test",
      external_id: "ehr:Patient:cy-rank",
    });
    const resolve = async (body: Record<string, string>) => {
      const res = await f.call("viewer", "POST", "/world/entities/resolve", body);
      expect(res.status, res.text).toBe(200);
      return res.body.candidates.map(
        (c: { entity_id: string; match_confidence: number; matched_on: string[] }) => [
          c.entity_id,
          c.match_confidence,
          c.matched_on,
        ],
      );
    };
    expect(await resolve({ external_id: "ehr:Patient:cy-rank" })).toEqual([[cy, 1, ["external_id"]]]);
    expect(await resolve({ phone: "(415) 555-0101", email: "ANA@example.test" })).toEqual([
      [ana, 0.94, ["email", "phone"]],
      [ben, 0.7, ["phone"]],
    ]);
    expect(
      await resolve({ phone: family, given_name: "Ben", family_name: "rank", birth_date: "1990-05-05" }),
    ).toEqual([
      [ben, 0.97, ["name_dob", "phone"]],
      [ana, 0.7, ["phone"]],
    ]);
    expect(await resolve({ given_name: "Ana", family_name: "Rank", birth_date: "1980-01-01" })).toEqual([
      [ana, 0.9, ["name_dob"]],
    ]);
    expect(await resolve({ email: "cy@example.test" })).toEqual([[cy, 0.8, ["email"]]]);
    expect(await resolve({ phone: "+14155550199" })).toEqual([]);
  });
});

describe("duplicates", () => {
  it("an exact duplicate under another external id merges into the older entity", async () => {
    const f = await worldWorkspace();
    const seed = {
      given_name: "Dora",
      family_name: "Twice",
      birth_date: "1975-07-07",
      phone: "+14155550177",
    };
    const first = await ingestPatient(f, { ...seed, external_id: "ehr:Patient:dora-1" });
    const second = await ingestPatient(f, {
      ...seed,
      external_id: "other:Patient:dora-2",
      allergies: [{ substance: "Latex", severity: "moderate" }],
    });

    const duplicates = await f.call("viewer", "GET", "/world/entities/duplicates");
    expect(duplicates.body.total).toBe(1);
    expect(duplicates.body.results[0]).toMatchObject({
      from_id: second,
      to_id: first,
      edge_type: "same_as",
      confidence: 0.97,
      source: "system",
    });
    const merged = await f.call("viewer", "GET", `/world/entities/${second}`);
    expect(merged.body.merged_into).toBe(first);
    // The canonical entity's facts include the merged one's.
    expect(await factAt(f, first, "allergies.latex")).toMatchObject({ source: "ehr", confidence: 1 });
    const search = await f.call("viewer", "GET", "/world/search?q=dor%20tw");
    expect(search.body.results.map((r: { id: string }) => r.id)).toEqual([first]);
    const resolved = await f.call("viewer", "POST", "/world/entities/resolve", { phone: seed.phone });
    expect(resolved.body.candidates.map((c: { entity_id: string }) => c.entity_id)).toEqual([first]);
    // Later events for the merged entity's external id land on the canonical one.
    const later = await f.call("operator", "POST", "/world/events", {
      events: [
        {
          idempotency_key: "dora-2-med",
          entity: { entity_type: "patient", external_id: "other:Patient:dora-2" },
          event_type: "medication.recorded",
          data: { name: "metformin" },
          source: "ehr",
        },
      ],
    });
    expect(later.body.results[0].entity_id).toBe(first);
    expect(await factAt(f, first, "medications.metformin")).toBeDefined();
    expect((await f.call("viewer", "GET", "/review?kind=entity_match")).body.total).toBe(0);
  });

  it("events sent to a merged practitioner's id land on the canonical one, still a practitioner", async () => {
    const f = await worldWorkspace();
    const doctor = (externalId: string) => ({ entity_type: "practitioner", external_id: externalId });
    const ingest = async (externalId: string, key: string) => {
      const entity = doctor(externalId);
      const res = await f.call("operator", "POST", "/world/events", {
        events: [
          {
            idempotency_key: `${key}-demo`,
            entity,
            event_type: "demographics.recorded",
            data: { given_name: "June", family_name: "Healer", birth_date: "1960-03-03" },
            source: "ehr",
          },
          {
            idempotency_key: `${key}-phone`,
            entity,
            event_type: "contact.recorded",
            data: { phone: "+14155550144" },
            source: "ehr",
          },
        ],
      });
      return res.body.results[0].entity_id as string;
    };
    const canonical = await ingest("ehr:Practitioner:june", "a");
    const merged = await ingest("npi:Practitioner:june", "b");
    expect((await f.call("viewer", "GET", `/world/entities/${merged}`)).body.merged_into).toBe(canonical);
    const res = await f.call("operator", "POST", "/world/events", {
      events: [
        {
          idempotency_key: "june-profile",
          entity_id: merged,
          event_type: "profile.recorded",
          data: { specialty: "cardiology" },
          source: "ehr",
        },
      ],
    });
    expect(res.status, res.text).toBe(200);
    const [event] = await eventRow(f.ws.id, { id: res.body.results[0].event_id });
    expect(event).toMatchObject({ entity_id: canonical, entity_type: "practitioner" });
    expect(await factAt(f, canonical, "profile.specialty")).toMatchObject({ value: "cardiology" });
  });

  it("a weak match (a shared phone) waits for review instead of merging", async () => {
    const f = await worldWorkspace();
    const phone = "+14155550188";
    const ella = await ingestPatient(f, { given_name: "Ella", family_name: "Weak", phone });
    const finn = await ingestPatient(f, { given_name: "Finn", family_name: "Weak", phone });
    expect((await f.call("viewer", "GET", "/world/entities/duplicates")).body.total).toBe(0);
    const queue = await f.call("viewer", "GET", "/review?kind=entity_match");
    expect(queue.body.total).toBe(1);
    expect(queue.body.results[0]).toMatchObject({
      kind: "entity_match",
      entity_id: finn,
      candidate_id: ella,
      priority: "medium",
      domain: "identity",
      path: null,
      proposed_value: null,
      entity_display_name: "Finn Weak",
    });
    const diff = await f.call("viewer", "GET", `/review/${queue.body.results[0].id}`);
    expect(diff.body).toMatchObject({
      entity: { id: finn, display_name: "Finn Weak", merged_into: null },
      candidate: { id: ella, display_name: "Ella Weak", match_confidence: 0.7, matched_on: ["phone"] },
      proposed: null,
      current: null,
      verdict: null,
    });
  });
});

describe("deciding a match", () => {
  async function weakPair() {
    const f = await worldWorkspace();
    const phone = "+14155550166";
    const older = await ingestPatient(f, { given_name: "Gus", family_name: "Pair", phone });
    const newer = await ingestPatient(f, {
      given_name: "Gus",
      family_name: "Pairr",
      phone,
      allergies: [{ substance: "Aspirin" }],
    });
    const queue = await f.call("viewer", "GET", "/review?kind=entity_match");
    return { f, older, newer, itemId: queue.body.results[0].id as string };
  }

  it("approve merges the pair: a same_as edge from review, and the older entity holds both histories", async () => {
    const { f, older, newer, itemId } = await weakPair();
    const res = await f.call("operator", "POST", `/review/${itemId}/approve`);
    expect(res.status, res.text).toBe(200);
    expect(res.body).toMatchObject({ status: "approved", decision_event_id: null });
    const duplicates = await f.call("viewer", "GET", "/world/entities/duplicates");
    expect(duplicates.body.results).toEqual([
      expect.objectContaining({ from_id: newer, to_id: older, confidence: 0.7, source: "review" }),
    ]);
    expect((await f.call("viewer", "GET", `/world/entities/${newer}`)).body.merged_into).toBe(older);
    expect(await factAt(f, older, "allergies.aspirin")).toBeDefined();
  });

  it("reject leaves them apart", async () => {
    const { f, older, newer, itemId } = await weakPair();
    const res = await f.call("operator", "POST", `/review/${itemId}/reject`, { reason: "different people" });
    expect(res.status, res.text).toBe(200);
    expect(res.body.status).toBe("rejected");
    expect((await f.call("viewer", "GET", "/world/entities/duplicates")).body.total).toBe(0);
    expect((await f.call("viewer", "GET", `/world/entities/${newer}`)).body.merged_into).toBeNull();
    expect(await factAt(f, older, "allergies.aspirin")).toBeUndefined();
  });

  it("approving a match whose entity already absorbed a duplicate carries that duplicate along", async () => {
    const f = await worldWorkspace();
    const phone = "+14155550155";
    const canonical = await ingestPatient(f, { given_name: "Hal", family_name: "Chain", phone });
    const middle = await ingestPatient(f, {
      given_name: "Ivy",
      family_name: "Chain",
      birth_date: "2000-02-02",
      phone,
    });
    // An exact duplicate of `middle` merges into it at once.
    const absorbed = await ingestPatient(f, {
      given_name: "Ivy",
      family_name: "Chain",
      birth_date: "2000-02-02",
      phone,
      allergies: [{ substance: "Codeine" }],
      external_id: "other:Patient:ivy-copy",
    });
    expect((await f.call("viewer", "GET", `/world/entities/${absorbed}`)).body.merged_into).toBe(middle);
    const queue = await f.call("viewer", "GET", "/review?kind=entity_match");
    expect(
      queue.body.results.map((r: { entity_id: string; candidate_id: string }) => [
        r.entity_id,
        r.candidate_id,
      ]),
    ).toEqual([[middle, canonical]]);

    expect((await f.call("operator", "POST", `/review/${queue.body.results[0].id}/approve`)).status).toBe(
      200,
    );
    expect((await f.call("viewer", "GET", `/world/entities/${middle}`)).body.merged_into).toBe(canonical);
    expect((await f.call("viewer", "GET", `/world/entities/${absorbed}`)).body.merged_into).toBe(canonical);
    expect(await factAt(f, canonical, "allergies.codeine")).toBeDefined();
    const resolved = await f.call("viewer", "POST", "/world/entities/resolve", {
      external_id: "other:Patient:ivy-copy",
    });
    expect(resolved.body.candidates.map((c: { entity_id: string }) => c.entity_id)).toEqual([canonical]);
  });
});
