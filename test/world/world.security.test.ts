/**
 * Tenancy and roles in the world model and the review queue: nothing of one workspace is reachable
 * from another (404 or empty, never the data), viewers read but never act, and claims are personal.
 */
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { api, expectError } from "../helpers/http";
import {
  allergyReview,
  extract,
  ingestPatient,
  published,
  reviewRow,
  worldCounts,
  worldWorkspace,
} from "./fixtures";

/** Two workspaces; `a` holds a patient with a pending review item, `b` is a stranger. */
async function twoWorkspaces() {
  const a = await worldWorkspace();
  const b = await worldWorkspace();
  const phone = "+14155550133";
  const entityId = await ingestPatient(a, {
    given_name: "Zelda",
    family_name: "Private",
    birth_date: "1966-06-06",
    phone,
    email: "zelda@example.test",
    external_id: "ehr:Patient:zelda",
  });
  const [verdict] = await extract(a, entityId, "I'm allergic to latex", [
    { event_type: "allergy.recorded", data: { substance: "latex" } },
  ]);
  return { a, b, entityId, itemId: verdict!.review_item_id!, phone };
}

describe("across workspaces", () => {
  it("another workspace's entity ids are 404 on every read and unusable in writes", async () => {
    const { a, b, entityId } = await twoWorkspaces();
    for (const suffix of ["", "/graph", "/provenance", "/lineage"]) {
      const res = await b.call("owner", "GET", `/world/entities/${entityId}${suffix}`);
      expectError(res, "not_found", 404);
      expect(res.text).not.toContain("Zelda");
    }
    const before = await worldCounts(b.ws.id);
    const aBefore = await worldCounts(a.ws.id);
    expectError(
      await b.call("owner", "POST", "/world/events", {
        events: [
          {
            idempotency_key: "steal",
            entity_id: entityId,
            event_type: "allergy.recorded",
            data: { substance: "latex" },
            source: "ehr",
          },
        ],
      }),
      "unprocessable",
      422,
    );
    expectError(
      await b.call("owner", "POST", "/world/extractions", {
        entity_id: entityId,
        interaction_id: "x",
        channel: "voice",
        transcript: [],
        facts: [{ event_type: "allergy.recorded", data: { substance: "latex" }, basis: "agent_mentioned" }],
      }),
      "not_found",
      404,
    );
    expect(await worldCounts(b.ws.id)).toEqual(before);
    expect(await worldCounts(a.ws.id)).toEqual(aBefore);
  });

  it("search, resolve, lists and duplicates of another workspace come back empty", async () => {
    const { b, phone } = await twoWorkspaces();
    // The same external id in `b` is a new entity of `b`, not a door into `a`.
    const mine = await ingestPatient(b, {
      given_name: "Other",
      family_name: "Person",
      external_id: "ehr:Patient:zelda",
    });
    expect((await b.call("viewer", "GET", "/world/search?q=zelda")).body).toMatchObject({
      results: [],
      total: 0,
    });
    expect((await b.call("viewer", "GET", "/world/entities?q=private")).body.total).toBe(0);
    const all = await b.call("viewer", "GET", "/world/entities");
    expect(all.body.results.map((r: { id: string }) => r.id)).toEqual([mine]);
    for (const details of [
      { phone },
      { email: "zelda@example.test" },
      { given_name: "Zelda", family_name: "Private", birth_date: "1966-06-06" },
    ]) {
      expect((await b.call("viewer", "POST", "/world/entities/resolve", details)).body.candidates).toEqual(
        [],
      );
    }
    expect(
      (await b.call("viewer", "POST", "/world/entities/resolve", { external_id: "ehr:Patient:zelda" })).body
        .candidates,
    ).toEqual([expect.objectContaining({ entity_id: mine, display_name: "Other Person" })]);
    expect((await b.call("viewer", "GET", "/world/entities/duplicates")).body.total).toBe(0);
  });

  it("another workspace's review items are 404 to read and to act on, absent from lists, stats and batches", async () => {
    const { a, b, itemId } = await twoWorkspaces();
    const aBefore = await worldCounts(a.ws.id);
    expectError(await b.call("owner", "GET", `/review/${itemId}`), "not_found", 404);
    for (const [action, body] of [
      ["claim"],
      ["unclaim"],
      ["approve"],
      ["correct", { value: { substance: "latex" } }],
      ["reject", { reason: "mine now" }],
    ] as const) {
      expectError(await b.call("owner", "POST", `/review/${itemId}/${action}`, body), "not_found", 404);
    }
    const batch = await b.call("owner", "POST", "/review/batch", { action: "approve", ids: [itemId] });
    expect(batch.body).toMatchObject({
      succeeded: 0,
      failed: 1,
      results: [{ id: itemId, error: { code: "not_found" } }],
    });
    expect((await b.call("viewer", "GET", "/review")).body).toMatchObject({ results: [], total: 0 });
    expect((await b.call("viewer", "GET", "/review/stats")).body.queue_depth).toBe(0);
    expect(await reviewRow(a.ws.id, itemId)).toMatchObject({ status: "pending", claimed_by: null });
    expect(await worldCounts(a.ws.id)).toEqual(aBefore);
    expect(await published(a.ws.id, "review.submitted")).toEqual([]);
  });

  it("a key of one workspace is refused on another's paths", async () => {
    const { a, b, itemId } = await twoWorkspaces();
    for (const path of [`/v1/${b.ws.id}/review`, `/v1/${b.ws.id}/review/${itemId}`]) {
      expectError(await api("GET", path, { key: a.ws.keys.owner }), "forbidden", 403);
    }
  });
});

describe("roles", () => {
  it("a viewer reads the queue but every action is 403 and changes nothing", async () => {
    const f = await worldWorkspace();
    const { itemId } = await allergyReview(f);
    for (const path of ["/review", "/review/my-queue", "/review/stats", `/review/${itemId}`]) {
      expect((await f.call("viewer", "GET", path)).status, path).toBe(200);
    }
    const before = await worldCounts(f.ws.id);
    for (const [path, body] of [
      [`/review/${itemId}/claim`],
      [`/review/${itemId}/unclaim`],
      [`/review/${itemId}/approve`],
      [`/review/${itemId}/correct`, { value: { substance: "latex" } }],
      [`/review/${itemId}/reject`, { reason: "no" }],
      ["/review/batch", { action: "approve", ids: [itemId] }],
    ] as const) {
      expectError(await f.call("viewer", "POST", path, body), "forbidden", 403);
    }
    expect(await worldCounts(f.ws.id)).toEqual(before);
    expect(await reviewRow(f.ws.id, itemId)).toMatchObject({ status: "pending", claimed_by: null });
  });

  it("an operator cannot release another operator's claim", async () => {
    const f = await worldWorkspace();
    const { itemId } = await allergyReview(f);
    await f.call("admin", "POST", `/review/${itemId}/claim`);
    expectError(await f.call("operator", "POST", `/review/${itemId}/unclaim`), "forbidden", 403);
    expect((await reviewRow(f.ws.id, itemId))?.claimed_by).toBe(f.ws.keyIds.admin);
  });
});

describe("what leaves the database", () => {
  it("audit rows and live events carry ids and paths, never the patient's words or values", async () => {
    const f = await worldWorkspace();
    const entityId = await ingestPatient(f, { given_name: "Quinn", family_name: "Secret" });
    const [verdict] = await extract(f, entityId, "I'm allergic to latex, it gives me hives", [
      { event_type: "allergy.recorded", data: { substance: "latex", reaction: "hives" } },
    ]);
    await f.call("operator", "POST", `/review/${verdict!.review_item_id}/reject`, {
      reason: "Quinn was joking",
    });
    const audit = await env.DB.prepare("SELECT details FROM audit_log WHERE workspace_id = ?")
      .bind(f.ws.id)
      .all();
    const events = await published(f.ws.id);
    for (const text of [JSON.stringify(audit.results), JSON.stringify(events)]) {
      expect(text).not.toMatch(/hives|Quinn|Secret|joking/);
    }
    const stored = await env.DB.prepare("SELECT payload_enc FROM review_items WHERE workspace_id = ?")
      .bind(f.ws.id)
      .first<{ payload_enc: string }>();
    expect(stored?.payload_enc).not.toMatch(/hives|latex|joking/);
  });
});
