/**
 * The sync log API: `GET /world/sync` (filters, paging, newest first, entity names), one event, and the
 * operator's retries (one, or every failed write), with their 404s, 409s, roles and audit rows. Sync
 * events are written straight to D1 here; what produces them is tested in test/ehr/writeback.test.ts.
 */
import { env } from "cloudflare:workers";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { newId } from "../../shared/ids";
import { database } from "../../workers/db/client";
import { syncEvents } from "../../workers/db/schema";
import { chunk } from "../../workers/db/world";
import { RETRY_ALL_LIMIT, STUCK_AFTER_MS } from "../../workers/ehr/writeback";
import { captureSyncQueue } from "../ehr/writeback-fixtures";
import { insertDataSource } from "../helpers/data-sources";
import { expectError } from "../helpers/http";
import { unique } from "../helpers/workspace";
import { auditActions, ingestPatient, type WorldFixture, worldWorkspace } from "../world/fixtures";

type SyncStatus = (typeof syncEvents.$inferSelect)["status"];

let queue: ReturnType<typeof captureSyncQueue>;
beforeEach(() => {
  queue = captureSyncQueue();
});
afterEach(() => queue.restore());

/** A write-back sink (never called: these tests only read and reset rows). */
const insertSource = (workspaceId: string, fields: { writeback?: boolean; sourceSystem?: string } = {}) =>
  insertDataSource(workspaceId, { writeback: true, ...fields });

interface SeedRow {
  status?: SyncStatus;
  entityId?: string | null;
  dataSourceId?: string | null;
  sourceSystem?: string | null;
  fhirResourceType?: string | null;
  fhirResourceId?: string | null;
  createdAt?: string;
  updatedAt?: string;
  error?: string | null;
}

let clock = Date.parse("2026-11-01T00:00:00Z");

/** Sync event rows, each created a second after the previous one (so "newest first" is checkable). */
async function seed(workspaceId: string, rows: SeedRow[]): Promise<string[]> {
  const values = rows.map((r) => {
    clock += 1000;
    const at = new Date(clock).toISOString();
    return {
      id: newId("syn"),
      workspaceId,
      kind: "allergy",
      status: r.status ?? "synced",
      entityId: r.entityId ?? null,
      dataSourceId: r.dataSourceId ?? null,
      sourceSystem: r.sourceSystem ?? null,
      fhirResourceType: r.fhirResourceType ?? null,
      fhirResourceId: r.fhirResourceId ?? null,
      error: r.error ?? null,
      idempotencyKey: `seed:${unique()}:${unique()}`,
      createdAt: r.createdAt ?? at,
      updatedAt: r.updatedAt ?? new Date().toISOString(),
    };
  });
  const db = database(env.DB);
  for (const part of chunk(values, 17)) await db.insert(syncEvents).values(part);
  return values.map((v) => v.id);
}

const statusOf = async (id: string) =>
  (await env.DB.prepare("SELECT status FROM sync_events WHERE id = ?").bind(id).first<{ status: string }>())!
    .status;

describe("GET /v1/{ws}/world/sync", { timeout: 30_000 }, () => {
  it("lists the workspace's writes newest first, with entity names, counts and outcomes", async () => {
    const f = await worldWorkspace();
    const other = await worldWorkspace();
    const patient = await ingestPatient(f, { given_name: "Rosa", family_name: "Delgado" });
    const sink = await insertSource(f.ws.id);
    const [older, newer] = await seed(f.ws.id, [
      {
        status: "synced",
        entityId: patient,
        dataSourceId: sink,
        sourceSystem: "ehr",
        fhirResourceType: "AllergyIntolerance",
        fhirResourceId: "ai-1",
      },
      { status: "failed", entityId: patient, dataSourceId: sink, error: "the EHR answered 503" },
    ]);
    await seed(other.ws.id, [{ status: "failed" }]);

    const res = await f.call("viewer", "GET", "/world/sync");
    expect(res.status, res.text).toBe(200);
    expect(res.body.total).toBe(2);
    expect(res.body.results.map((r: { id: string }) => r.id)).toEqual([newer, older]);
    expect(res.body.results[1]).toEqual({
      id: older,
      kind: "allergy",
      status: "synced",
      attempts: 0,
      error: null,
      entity_id: patient,
      entity_display_name: "Rosa Delgado",
      world_event_id: null,
      data_source_id: sink,
      source_system: "ehr",
      fhir_resource_type: "AllergyIntolerance",
      fhir_resource_id: "ai-1",
      created_at: expect.any(String),
      updated_at: expect.any(String),
      synced_at: null,
    });
    expect(res.body.results[0]).toMatchObject({ status: "failed", error: "the EHR answered 503" });
  });

  it("filters by status, sink, source system and FHIR resource, and pages with limit and offset", async () => {
    const f = await worldWorkspace();
    const [a, b] = [await insertSource(f.ws.id), await insertSource(f.ws.id, { sourceSystem: "epic" })];
    const ids = await seed(f.ws.id, [
      {
        status: "synced",
        dataSourceId: a,
        sourceSystem: "ehr",
        fhirResourceType: "AllergyIntolerance",
        fhirResourceId: "x1",
      },
      { status: "failed", dataSourceId: a, sourceSystem: "ehr", fhirResourceType: "Coverage" },
      {
        status: "synced",
        dataSourceId: b,
        sourceSystem: "epic",
        fhirResourceType: "Patient",
        fhirResourceId: "p9",
      },
      { status: "pending", dataSourceId: null },
      {
        status: "not_applicable",
        dataSourceId: b,
        sourceSystem: "epic",
        fhirResourceType: "AllergyIntolerance",
      },
    ]);
    const list = async (query: string) => {
      const res = await f.call("viewer", "GET", `/world/sync?${query}`);
      expect(res.status, res.text).toBe(200);
      return { ids: res.body.results.map((r: { id: string }) => r.id), total: res.body.total };
    };
    expect(await list("status=synced")).toEqual({ ids: [ids[2], ids[0]], total: 2 });
    expect(await list(`data_source_id=${a}`)).toEqual({ ids: [ids[1], ids[0]], total: 2 });
    expect(await list("source_system=epic")).toEqual({ ids: [ids[4], ids[2]], total: 2 });
    expect(await list("fhir_resource_type=AllergyIntolerance")).toEqual({ ids: [ids[4], ids[0]], total: 2 });
    expect(await list("fhir_resource_type=Patient&fhir_resource_id=p9")).toEqual({ ids: [ids[2]], total: 1 });
    expect(await list(`status=synced&data_source_id=${b}`)).toEqual({ ids: [ids[2]], total: 1 });
    expect(await list("status=processing")).toEqual({ ids: [], total: 0 });

    const newestFirst = [...ids].reverse();
    expect(await list("limit=2")).toEqual({ ids: newestFirst.slice(0, 2), total: 5 });
    expect(await list("limit=2&offset=2")).toEqual({ ids: newestFirst.slice(2, 4), total: 5 });
    expect(await list("limit=2&offset=4")).toEqual({ ids: newestFirst.slice(4), total: 5 });
    expect(await list("limit=200&offset=10")).toEqual({ ids: [], total: 5 });
  });

  it("defaults to 50 a page", async () => {
    const f = await worldWorkspace();
    await seed(
      f.ws.id,
      Array.from({ length: 55 }, () => ({})),
    );
    const res = await f.call("viewer", "GET", "/world/sync");
    expect(res.body.results).toHaveLength(50);
    expect(res.body.total).toBe(55);
  });

  it("refuses bad filters and paging with 400", async () => {
    const f = await worldWorkspace();
    for (const query of [
      "limit=0",
      "limit=201",
      "offset=-1",
      "status=done",
      "data_source_id=not-an-id",
      "fhir_resource_type=allergy",
      "fhir_resource_id=a%20b",
      "source_system=EHR%20One",
    ]) {
      const res = await f.call("viewer", "GET", `/world/sync?${query}`);
      expectError(res, "validation_failed", 400);
    }
  });
});

describe("GET /v1/{ws}/world/sync/{event_id}", { timeout: 30_000 }, () => {
  it("answers one event, 404 for an unknown id or another workspace's, 400 for a malformed id", async () => {
    const f = await worldWorkspace();
    const other = await worldWorkspace();
    const patient = await ingestPatient(f, { given_name: "Ines", family_name: "Okoro" });
    const [mine] = await seed(f.ws.id, [
      { entityId: patient, status: "failed", error: "the EHR answered 500" },
    ]);
    const [theirs] = await seed(other.ws.id, [{}]);

    const res = await f.call("viewer", "GET", `/world/sync/${mine}`);
    expect(res.status, res.text).toBe(200);
    expect(res.body).toMatchObject({ id: mine, status: "failed", entity_display_name: "Ines Okoro" });
    expectError(await f.call("viewer", "GET", `/world/sync/${newId("syn")}`), "not_found", 404);
    expectError(await f.call("viewer", "GET", `/world/sync/${theirs}`), "not_found", 404);
    expectError(await f.call("viewer", "GET", "/world/sync/evt_123456789"), "validation_failed", 400);
  });
});

describe("POST /v1/{ws}/world/sync/retry/{event_id}", { timeout: 30_000 }, () => {
  async function withSink(): Promise<{ f: WorldFixture; sink: string }> {
    const f = await worldWorkspace();
    return { f, sink: await insertSource(f.ws.id) };
  }

  it("puts a failed write back in the queue, to the current sink, audited", async () => {
    const { f, sink } = await withSink();
    const oldSink = await insertSource(f.ws.id, { writeback: false });
    const [id] = await seed(f.ws.id, [
      { status: "failed", dataSourceId: oldSink, error: "the EHR answered 400" },
    ]);

    const res = await f.call("operator", "POST", `/world/sync/retry/${id}`);
    expect(res.status, res.text).toBe(200);
    expect(res.body).toMatchObject({ id, status: "pending", error: null, data_source_id: sink });
    expect(queue.of(f.ws.id)).toEqual([
      { type: "ehr.writeback", workspace_id: f.ws.id, idempotency_key: id, payload: { sync_event_id: id } },
    ]);
    const audit = await auditActions(f.ws.id, "sync.retried");
    expect(audit).toHaveLength(1);
    expect(audit[0]).toMatchObject({ target_id: id, actor_id: f.ws.keyIds.operator });
    expect(JSON.parse(audit[0]!.details)).toMatchObject({ previous_status: "failed", kind: "allergy" });
  });

  it("resumes a write stuck pending or processing for longer than the longest backoff", async () => {
    const { f } = await withSink();
    const longAgo = new Date(Date.now() - STUCK_AFTER_MS - 60_000).toISOString();
    const ids = await seed(f.ws.id, [
      { status: "pending", updatedAt: longAgo },
      { status: "processing", updatedAt: longAgo },
    ]);
    for (const id of ids) {
      const res = await f.call("operator", "POST", `/world/sync/retry/${id}`);
      expect(res.status, res.text).toBe(200);
      expect(await statusOf(id)).toBe("pending");
    }
    expect(queue.of(f.ws.id)).toHaveLength(2);
  });

  it("answers 409 for a write that is synced, not applicable, or pending and still moving; nothing changes", async () => {
    const { f } = await withSink();
    const ids = await seed(f.ws.id, [
      { status: "synced" },
      { status: "not_applicable", error: "patient has no EHR record" },
      { status: "pending" },
      { status: "processing" },
    ]);
    for (const id of ids) {
      const before = await statusOf(id);
      const res = await f.call("operator", "POST", `/world/sync/retry/${id}`);
      expectError(res, "conflict", 409);
      expect(res.body.error.details).toEqual({ status: before });
      expect(await statusOf(id)).toBe(before);
    }
    expect(queue.of(f.ws.id)).toHaveLength(0);
    expect(await auditActions(f.ws.id, "sync.retried")).toHaveLength(0);
  });

  it("without an enabled sink, leaves the write pending until one is, and enqueues nothing", async () => {
    const f = await worldWorkspace();
    const disabled = await insertSource(f.ws.id, { writeback: false });
    const id = (
      await seed(f.ws.id, [{ status: "failed", dataSourceId: disabled, error: "the EHR answered 500" }])
    )[0]!;
    const res = await f.call("operator", "POST", `/world/sync/retry/${id}`);
    expect(res.status, res.text).toBe(200);
    expect(res.body).toMatchObject({
      status: "pending",
      data_source_id: null,
      error: "waiting for an EHR writeback sink to be enabled",
    });
    expect(queue.of(f.ws.id)).toHaveLength(0);
    expect(await auditActions(f.ws.id, "sync.retried")).toHaveLength(1);
  });

  it("answers 404 for an unknown or another workspace's id, 403 to a viewer, changing nothing", async () => {
    const f = await worldWorkspace();
    const other = await worldWorkspace();
    await insertSource(f.ws.id);
    const id = (await seed(f.ws.id, [{ status: "failed" }]))[0]!;
    const theirs = (await seed(other.ws.id, [{ status: "failed" }]))[0]!;
    expectError(await f.call("operator", "POST", `/world/sync/retry/${newId("syn")}`), "not_found", 404);
    expectError(await f.call("operator", "POST", `/world/sync/retry/${theirs}`), "not_found", 404);
    expect(await statusOf(theirs)).toBe("failed");
    expectError(await f.call("viewer", "POST", `/world/sync/retry/${id}`), "forbidden", 403);
    expectError(
      await f.call("operator", "POST", "/world/sync/retry/not-a-sync-id"),
      "validation_failed",
      400,
    );
    expect(await statusOf(id)).toBe("failed");
    expect(queue.sent).toHaveLength(0);
    expect(await auditActions(f.ws.id, "sync.retried")).toHaveLength(0);
  });
});

describe("POST /v1/{ws}/world/sync/retry-all", { timeout: 60_000 }, () => {
  it("retries every failed write and nothing else, in one audited change", async () => {
    const f = await worldWorkspace();
    await insertSource(f.ws.id);
    const ids = await seed(f.ws.id, [
      { status: "failed" },
      { status: "synced" },
      { status: "failed" },
      { status: "not_applicable" },
      { status: "failed" },
    ]);
    const res = await f.call("operator", "POST", "/world/sync/retry-all");
    expect(res.status, res.text).toBe(200);
    expect(res.body).toEqual({ retried: 3, remaining: 0 });
    expect(await Promise.all(ids.map(statusOf))).toEqual([
      "pending",
      "synced",
      "pending",
      "not_applicable",
      "pending",
    ]);
    expect(
      queue
        .of(f.ws.id)
        .map((j) => j.idempotency_key)
        .sort(),
    ).toEqual([ids[0], ids[2], ids[4]].sort());
    const audit = await auditActions(f.ws.id, "sync.retried_all");
    expect(audit).toHaveLength(1);
    expect(JSON.parse(audit[0]!.details)).toEqual({ count: 3 });

    // Nothing failed now: nothing to do, nothing audited.
    const again = await f.call("operator", "POST", "/world/sync/retry-all");
    expect(again.body).toEqual({ retried: 0, remaining: 0 });
    expect(await auditActions(f.ws.id, "sync.retried_all")).toHaveLength(1);
  });

  it(`retries at most ${RETRY_ALL_LIMIT} per call, oldest first, and says how many remain`, async () => {
    const f = await worldWorkspace();
    await insertSource(f.ws.id);
    const ids = await seed(
      f.ws.id,
      Array.from({ length: RETRY_ALL_LIMIT + 2 }, () => ({ status: "failed" as const })),
    );
    const first = await f.call("operator", "POST", "/world/sync/retry-all");
    expect(first.body).toEqual({ retried: RETRY_ALL_LIMIT, remaining: 2 });
    expect(await statusOf(ids.at(-1)!)).toBe("failed");
    expect(await statusOf(ids[0]!)).toBe("pending");
    const second = await f.call("operator", "POST", "/world/sync/retry-all");
    expect(second.body).toEqual({ retried: 2, remaining: 0 });
    expect(queue.of(f.ws.id)).toHaveLength(RETRY_ALL_LIMIT + 2);
  });

  it("answers 403 to a viewer, changing nothing", async () => {
    const f = await worldWorkspace();
    await insertSource(f.ws.id);
    const [id] = await seed(f.ws.id, [{ status: "failed" }]);
    expectError(await f.call("viewer", "POST", "/world/sync/retry-all"), "forbidden", 403);
    expect(await statusOf(id!)).toBe("failed");
    expect(queue.sent).toHaveLength(0);
    expect(await auditActions(f.ws.id, "sync.retried_all")).toHaveLength(0);
  });
});
