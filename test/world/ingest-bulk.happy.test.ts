/**
 * One ingest creating many entities (an EHR Bundle): each new patient's PatientModel is handed its events
 * without a check against D1, identities are written in one batch and duplicates looked up once for all.
 * What must still hold: every live state equals its rebuild from D1, every identity is searchable and
 * resolvable, and duplicates within the batch (or against older entities) merge once or go to review.
 */
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import type { IngestEvent } from "../../shared/schemas/world";
import { ingestEvents } from "../../workers/world/ingest";
import { patientModel } from "../../workers/world/state";
import { ingestPatient, worldCounts, worldWorkspace } from "./fixtures";

const SYSTEM = { actorType: "system", actorId: null } as const;

/** A new patient's events (demographics, contact, an allergy) under external id `ext`. */
function patientEvents(
  ext: string,
  p: { given: string; family: string; birth: string; phone: string },
  keyPrefix = ext,
): IngestEvent[] {
  const entity = { entity_type: "patient" as const, external_id: ext };
  return [
    {
      idempotency_key: `${keyPrefix}:demo`,
      entity,
      event_type: "demographics.recorded",
      data: { given_name: p.given, family_name: p.family, birth_date: p.birth },
      source: "ehr" as const,
    },
    {
      idempotency_key: `${keyPrefix}:contact`,
      entity,
      event_type: "contact.recorded",
      data: { phone: p.phone },
      source: "ehr" as const,
    },
    {
      idempotency_key: `${keyPrefix}:allergy`,
      entity,
      event_type: "allergy.recorded",
      data: { substance: "Latex", severity: "moderate" },
      source: "ehr" as const,
    },
  ];
}

/** Two letters naming `i` (< 676): names with digits would not search as typed. */
const letters = (i: number) => String.fromCharCode(97 + (i % 26), 97 + Math.floor(i / 26));

const person = (i: number) => ({
  given: `Tess${letters(i)}`,
  family: `Bulkfamily${letters(i)}`,
  birth: `19${50 + (i % 40)}-0${1 + (i % 9)}-1${i % 10}`,
  phone: `+1415555${String(1000 + i).padStart(4, "0")}`,
});

describe("an ingest creating many patients", () => {
  // 120 patients: more than one 98-id part for the IN lists of terms and identifier hits.
  it("gives each its projection (equal to a rebuild from D1), its identity and its counts", async () => {
    const f = await worldWorkspace();
    const events = Array.from({ length: 120 }, (_, i) =>
      patientEvents(`ehr:Patient:bulk-${i}`, person(i)),
    ).flat();
    const outcome = await ingestEvents(env, f.ws.id, events, SYSTEM);
    expect(outcome).toMatchObject({
      stored: 360,
      duplicates: 0,
      entitiesCreated: 120,
      merges: 0,
      reviewsQueued: 0,
    });
    const ids = [...new Set(outcome.results.map((r) => r.entity_id))];
    expect(ids).toHaveLength(120);
    expect(await worldCounts(f.ws.id)).toMatchObject({
      world_events: 360,
      world_entities: 120,
      world_edges: 0,
      review_items: 0,
      // external id, phone and name + birth date for each
      entity_identifiers: 360,
    });
    const rows = await env.DB.prepare(
      "SELECT id, event_count, display_name_enc IS NOT NULL AS named, confidence FROM world_entities WHERE workspace_id = ?",
    )
      .bind(f.ws.id)
      .all<{ id: string; event_count: number; named: number; confidence: number }>();
    for (const row of rows.results) expect(row).toMatchObject({ event_count: 3, named: 1, confidence: 1 });
    // Every tenth patient (each check makes two PatientModels load from D1).
    for (const id of ids.filter((_, n) => n % 10 === 0)) {
      const ref = { workspaceId: f.ws.id, entityId: id };
      const live = await patientModel(env, f.ws.id, id).state(ref);
      expect(Object.keys(live.facts)).toEqual(expect.arrayContaining(["allergies.latex", "contact.phone"]));
      expect(live).toEqual(await patientModel(env, f.ws.id, id).rebuild(ref));
    }
    // Name terms and blind indexes of every entity were written.
    const i = 77;
    const search = await f.call("viewer", "GET", `/world/search?q=${person(i).given}%20${person(i).family}`);
    expect(search.body.results.map((r: { id: string }) => r.id)).toEqual([outcome.results[i * 3]!.entity_id]);
    const resolved = await f.call("viewer", "POST", "/world/entities/resolve", { phone: person(i).phone });
    expect(resolved.body.candidates.map((c: { entity_id: string }) => c.entity_id)).toEqual([
      outcome.results[i * 3]!.entity_id,
    ]);
    // Delivered again: all duplicates, nothing written, no entity created.
    const again = await ingestEvents(env, f.ws.id, events, SYSTEM);
    expect(again).toMatchObject({ stored: 0, duplicates: 360, entitiesCreated: 0 });
    expect((await worldCounts(f.ws.id)).world_events).toBe(360);

    // New patients beside a known one: the known one's PatientModel takes its new event and counts on.
    const known = ids[3]!;
    const mixed: IngestEvent[] = [
      ...Array.from({ length: 10 }, (_, i) => patientEvents(`ehr:Patient:late-${i}`, person(200 + i))).flat(),
      {
        idempotency_key: "known:medication",
        entity_id: known,
        event_type: "medication.recorded",
        data: { name: "metformin" },
        source: "ehr" as const,
      },
    ];
    expect(await ingestEvents(env, f.ws.id, mixed, SYSTEM)).toMatchObject({
      stored: 31,
      entitiesCreated: 10,
      merges: 0,
    });
    const ref = { workspaceId: f.ws.id, entityId: known };
    const live = await patientModel(env, f.ws.id, known).state(ref);
    expect(live.facts["medications.metformin"]).toBeDefined();
    expect(live).toEqual(await patientModel(env, f.ws.id, known).rebuild(ref));
    const count = await env.DB.prepare("SELECT event_count FROM world_entities WHERE id = ?")
      .bind(known)
      .first<{ event_count: number }>();
    expect(count?.event_count).toBe(4);
  }, 30_000);

  it("two new patients of one batch that are the same person merge once, into one history", async () => {
    const f = await worldWorkspace();
    const same = person(5);
    const events = [
      ...patientEvents("ehr:Patient:twin-a", same),
      ...Array.from({ length: 20 }, (_, i) =>
        patientEvents(`ehr:Patient:other-${i}`, person(100 + i)),
      ).flat(),
      ...patientEvents("other:Patient:twin-b", same),
    ];
    const before = await worldCounts(f.ws.id);
    const outcome = await ingestEvents(env, f.ws.id, events, SYSTEM);
    expect(outcome).toMatchObject({ entitiesCreated: 22, merges: 1, reviewsQueued: 0 });
    const a = outcome.results[0]!.entity_id;
    const b = outcome.results.at(-1)!.entity_id;
    const edges = await env.DB.prepare(
      "SELECT from_id, to_id, edge_type FROM world_edges WHERE workspace_id = ?",
    )
      .bind(f.ws.id)
      .all<{ from_id: string; to_id: string; edge_type: string }>();
    expect(edges.results).toHaveLength(1);
    const [keep, merge] = a < b ? [a, b] : [b, a];
    expect(edges.results[0]).toEqual({ from_id: merge, to_id: keep, edge_type: "same_as" });
    const audits = await env.DB.prepare(
      "SELECT count(*) AS n FROM audit_log WHERE workspace_id = ? AND action = 'world.entities_merged'",
    )
      .bind(f.ws.id)
      .first<{ n: number }>();
    expect(audits?.n).toBe(1);
    expect((await worldCounts(f.ws.id)).audit_log).toBe(before.audit_log + 2);
    const ref = { workspaceId: f.ws.id, entityId: keep };
    const live = await patientModel(env, f.ws.id, keep).state(ref);
    expect(live.history["allergies.latex"]).toHaveLength(2);
    expect(live).toEqual(await patientModel(env, f.ws.id, keep).rebuild(ref));
  });

  it("a new patient matching an older one strongly merges into it; a weak match among new ones waits for review", async () => {
    const f = await worldWorkspace();
    const old = person(9);
    const older = await ingestPatient(f, {
      given_name: old.given,
      family_name: old.family,
      birth_date: old.birth,
      phone: old.phone,
      external_id: "ehr:Patient:older",
    });
    const shared = "+14155559999";
    const events = [
      ...patientEvents("other:Patient:older-again", old),
      ...patientEvents("ehr:Patient:phone-1", { ...person(30), phone: shared }),
      ...patientEvents("ehr:Patient:phone-2", { ...person(31), phone: shared }),
    ];
    const outcome = await ingestEvents(env, f.ws.id, events, SYSTEM);
    expect(outcome).toMatchObject({ entitiesCreated: 3, merges: 1, reviewsQueued: 1 });
    const newer = outcome.results[0]!.entity_id;
    const merged = await f.call("viewer", "GET", `/world/entities/${newer}`);
    expect(merged.body.merged_into).toBe(older);
    const review = await f.call("viewer", "GET", "/review?kind=entity_match");
    expect(review.body.total).toBe(1);
    const ref = { workspaceId: f.ws.id, entityId: older };
    expect(await patientModel(env, f.ws.id, older).state(ref)).toEqual(
      await patientModel(env, f.ws.id, older).rebuild(ref),
    );
  });
});
