/**
 * What the review queue refuses, and that a refusal writes nothing: decided items, other reviewers'
 * claims, corrections that do not fit, malformed bodies, double clicks and racing reviewers.
 */
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { patientModel } from "../../workers/world/state";
import { api, expectError } from "../helpers/http";
import { insertApiKey } from "../helpers/workspace";
import {
  allergyReview,
  auditActions,
  eventRow,
  extract,
  ingestPatient,
  reviewRow,
  type WorldFixture,
  worldCounts,
  worldWorkspace,
} from "./fixtures";

/** Runs `request` and asserts it failed with `code` and left the world tables and the audit log as they were. */
async function expectRefusedUnchanged(
  f: WorldFixture,
  request: () => ReturnType<WorldFixture["call"]>,
  code: Parameters<typeof expectError>[1],
  status: number,
) {
  const before = await worldCounts(f.ws.id);
  const res = await request();
  expectError(res, code, status);
  expect(await worldCounts(f.ws.id)).toEqual(before);
  return res;
}

/** A second operator of the same workspace, with its own key. */
async function secondOperator(f: WorldFixture) {
  const { id, key } = await insertApiKey(f.ws.id, "operator");
  return {
    id,
    call: (method: string, path: string, body?: unknown) =>
      api(method, `/v1/${f.ws.id}${path}`, { key, ...(body !== undefined ? { body } : {}) }),
  };
}

describe("unknown items", () => {
  it("404 for a well-formed id that does not exist, 400 for a malformed one", async () => {
    const f = await worldWorkspace();
    const missing = "rev_AAAAAAAAAAAAAAAAAAAAAA";
    for (const [method, path, body] of [
      ["GET", `/review/${missing}`],
      ["POST", `/review/${missing}/claim`],
      ["POST", `/review/${missing}/unclaim`],
      ["POST", `/review/${missing}/approve`],
      ["POST", `/review/${missing}/correct`, { value: "x" }],
      ["POST", `/review/${missing}/reject`, { reason: "no" }],
    ] as const) {
      await expectRefusedUnchanged(f, () => f.call("operator", method, path, body), "not_found", 404);
    }
    expectError(await f.call("viewer", "GET", "/review/not-an-id"), "validation_failed", 400);
  });
});

describe("decided items", () => {
  it("a second decision is 409 and stores nothing", async () => {
    const f = await worldWorkspace();
    const { itemId } = await allergyReview(f);
    expect((await f.call("operator", "POST", `/review/${itemId}/approve`)).status).toBe(200);
    await expectRefusedUnchanged(
      f,
      () => f.call("operator", "POST", `/review/${itemId}/approve`),
      "conflict",
      409,
    );
    await expectRefusedUnchanged(
      f,
      () => f.call("operator", "POST", `/review/${itemId}/reject`, { reason: "changed my mind" }),
      "conflict",
      409,
    );
    await expectRefusedUnchanged(
      f,
      () => f.call("operator", "POST", `/review/${itemId}/claim`),
      "conflict",
      409,
    );
    await expectRefusedUnchanged(
      f,
      () => f.call("operator", "POST", `/review/${itemId}/unclaim`),
      "conflict",
      409,
    );
    expect(await eventRow(f.ws.id, { idempotencyKey: `review:${itemId}` })).toHaveLength(1);
  });

  it("a double click stores one decision event and one audit row", async () => {
    const f = await worldWorkspace();
    const { entityId, itemId } = await allergyReview(f);
    const answers = await Promise.all([
      f.call("operator", "POST", `/review/${itemId}/approve`),
      f.call("operator", "POST", `/review/${itemId}/approve`),
    ]);
    expect(answers.map((r) => r.status).sort()).toEqual([200, 409]);
    expect(await eventRow(f.ws.id, { idempotencyKey: `review:${itemId}` })).toHaveLength(1);
    expect(await auditActions(f.ws.id, "review.approved")).toHaveLength(1);
    // The patient's live projection holds the one stored decision, as a rebuild from D1 would.
    const ref = { workspaceId: f.ws.id, entityId };
    const live = await patientModel(env, f.ws.id, entityId).state(ref);
    expect(live).toEqual(await patientModel(env, f.ws.id, entityId).rebuild(ref));
  });

  it("racing approve and reject: one wins, and the item's status matches its decision event", async () => {
    const f = await worldWorkspace();
    const { itemId } = await allergyReview(f);
    const answers = await Promise.all([
      f.call("operator", "POST", `/review/${itemId}/approve`),
      f.call("operator", "POST", `/review/${itemId}/reject`, { reason: "not said" }),
    ]);
    expect(answers.map((r) => r.status).sort()).toEqual([200, 409]);
    const item = await reviewRow(f.ws.id, itemId);
    const events = await eventRow(f.ws.id, { idempotencyKey: `review:${itemId}` });
    expect(events).toHaveLength(1);
    expect(item?.decision_event_id).toBe(events[0]!.id);
    expect(events[0]!.confidence).toBe(item?.status === "approved" ? 0.95 : 0);
    const audits = [
      ...(await auditActions(f.ws.id, "review.approved")),
      ...(await auditActions(f.ws.id, "review.rejected")),
    ];
    expect(audits).toHaveLength(1);
  });
});

describe("claims", () => {
  it("another reviewer's live claim blocks claiming, deciding and releasing", async () => {
    const f = await worldWorkspace();
    const { itemId } = await allergyReview(f);
    const other = await secondOperator(f);
    expect((await other.call("POST", `/review/${itemId}/claim`)).status).toBe(200);
    const res = await expectRefusedUnchanged(
      f,
      () => f.call("operator", "POST", `/review/${itemId}/claim`),
      "conflict",
      409,
    );
    expect(res.body.error.details).toMatchObject({ claimed_by: other.id });
    await expectRefusedUnchanged(
      f,
      () => f.call("operator", "POST", `/review/${itemId}/approve`),
      "conflict",
      409,
    );
    await expectRefusedUnchanged(
      f,
      () => f.call("operator", "POST", `/review/${itemId}/reject`, { reason: "no" }),
      "conflict",
      409,
    );
    await expectRefusedUnchanged(
      f,
      () => f.call("operator", "POST", `/review/${itemId}/unclaim`),
      "forbidden",
      403,
    );
    expect(await eventRow(f.ws.id, { idempotencyKey: `review:${itemId}` })).toHaveLength(0);
    expect((await reviewRow(f.ws.id, itemId))?.claimed_by).toBe(other.id);
  });

  it("releasing an item nobody claimed is 409", async () => {
    const f = await worldWorkspace();
    const { itemId } = await allergyReview(f);
    await expectRefusedUnchanged(
      f,
      () => f.call("operator", "POST", `/review/${itemId}/unclaim`),
      "conflict",
      409,
    );
  });

  it("two reviewers claiming at once: exactly one holds it", async () => {
    const f = await worldWorkspace();
    const { itemId } = await allergyReview(f);
    const other = await secondOperator(f);
    const answers = await Promise.all([
      f.call("operator", "POST", `/review/${itemId}/claim`),
      other.call("POST", `/review/${itemId}/claim`),
    ]);
    expect(answers.map((r) => r.status).sort()).toEqual([200, 409]);
    const winner = answers.find((r) => r.status === 200)!;
    expect((await reviewRow(f.ws.id, itemId))?.claimed_by).toBe(winner.body.claimed_by);
    expect(await auditActions(f.ws.id, "review.claimed")).toHaveLength(1);
  });
});

describe("corrections that do not fit", () => {
  it("422 for a correction of another path, invalid data, or an entity match; nothing stored", async () => {
    const f = await worldWorkspace();
    const entityId = await ingestPatient(f, { given_name: "Cora" });
    const [allergy, birth] = await extract(f, entityId, "latex, and I was born march 3 1991", [
      { event_type: "allergy.recorded", data: { substance: "latex", severity: "mild" } },
      { event_type: "demographics.recorded", data: { birth_date: "1991-03-03" } },
    ]);
    const correct = (id: string, body: unknown) => () =>
      f.call("operator", "POST", `/review/${id}/correct`, body);
    // Another substance is another fact path.
    await expectRefusedUnchanged(
      f,
      correct(allergy!.review_item_id!, { data: { substance: "nitrile" } }),
      "unprocessable",
      422,
    );
    await expectRefusedUnchanged(
      f,
      correct(allergy!.review_item_id!, { data: { substance: "latex", severity: "extreme" } }),
      "unprocessable",
      422,
    );
    await expectRefusedUnchanged(
      f,
      correct(birth!.review_item_id!, { value: "March 3rd" }),
      "unprocessable",
      422,
    );
    await expectRefusedUnchanged(
      f,
      correct(birth!.review_item_id!, { data: { given_name: "Cora" } }),
      "unprocessable",
      422,
    );

    // An uncertain match (same phone, different person) cannot be "corrected".
    const phone = "+14155550142";
    await ingestPatient(f, { given_name: "Dan", family_name: "Match", phone });
    await ingestPatient(f, { given_name: "Eve", family_name: "Match", phone });
    const match = await f.call("viewer", "GET", "/review?kind=entity_match");
    expect(match.body.total).toBe(1);
    await expectRefusedUnchanged(f, correct(match.body.results[0].id, { value: "x" }), "unprocessable", 422);
  });
});

describe("malformed requests", () => {
  it("400 for bodies that do not parse; nothing stored", async () => {
    const f = await worldWorkspace();
    const { itemId } = await allergyReview(f);
    const post = (path: string, body: unknown) => () => f.call("operator", "POST", path, body);
    const cases: [string, unknown][] = [
      [`/review/${itemId}/reject`, {}],
      [`/review/${itemId}/reject`, { reason: "   " }],
      [`/review/${itemId}/reject`, { reason: "x".repeat(1001) }],
      [`/review/${itemId}/reject`, { reason: "ok", extra: true }],
      [`/review/${itemId}/correct`, {}],
      [`/review/${itemId}/correct`, { value: "a", data: { substance: "a" } }],
      [`/review/${itemId}/correct`, { value: { substance: "latex", reaction: "x".repeat(17_000) } }],
      ["/review/batch", { action: "approve", ids: [] }],
      [
        "/review/batch",
        {
          action: "approve",
          ids: Array.from({ length: 101 }, (_, i) => `rev_${String(i).padStart(10, "0")}`),
        },
      ],
      ["/review/batch", { action: "approve", ids: [itemId, itemId] }],
      ["/review/batch", { action: "reject", ids: [itemId] }],
      ["/review/batch", { action: "correct", ids: [itemId] }],
    ];
    for (const [path, body] of cases) {
      await expectRefusedUnchanged(f, post(path, body), "validation_failed", 400);
    }
    expect((await reviewRow(f.ws.id, itemId))?.status).toBe("pending");
  });

  it("400 for query parameters outside their range", async () => {
    const f = await worldWorkspace();
    expectError(await f.call("viewer", "GET", "/review?status=maybe"), "validation_failed", 400);
    expectError(await f.call("viewer", "GET", "/review?priority=urgent"), "validation_failed", 400);
    expectError(await f.call("viewer", "GET", "/review?limit=1000"), "validation_failed", 400);
    expectError(
      await f.call("viewer", "GET", "/review?continuation_token=bm90LWEta2V5"),
      "invalid_continuation_token",
      400,
    );
    // A token of another list's shape (created_at, id) is not a queue position.
    const foreign = btoa(JSON.stringify(["2026-01-01T00:00:00.000Z", "rev_x"])).replace(/=+$/, "");
    expectError(
      await f.call("viewer", "GET", `/review?continuation_token=${foreign}`),
      "invalid_continuation_token",
      400,
    );
  });
});
