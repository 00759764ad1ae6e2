/**
 * `/v1/{ws}/pipeline/...`: every figure checked against rows seeded straight into D1 (sources, source
 * events, the sync log, world events, merges, review items), including `degraded` while a source is in
 * error and the numbers still answer, zero-filled buckets, sorting and paging, 404 for another
 * workspace's ids and 400 for values the API does not know. Each test uses a fresh workspace.
 */
import { env } from "cloudflare:workers";
import { beforeAll, describe, expect, it } from "vitest";
import { newId } from "../../shared/ids";
import { database } from "../../workers/db/client";
import {
  countMergedEntities,
  countPendingMatchReviews,
  eligibleWaiting,
  listPipelineSources,
  listSinkLog,
  listSourceEvents,
  mergeCounts,
  oldestPendingSync,
  recentMerges,
  sourceEventCounts,
  sourceHistory,
  syncCounts,
  worldEventThroughput,
} from "../../workers/db/pipeline";
import {
  reviewItems,
  sourceEvents,
  syncEvents,
  worldEdges,
  worldEntities,
  worldEvents,
} from "../../workers/db/schema";
import { insertDataSource } from "../helpers/data-sources";
import { db } from "../helpers/db";
import { api, expectError } from "../helpers/http";
import { createWorkspace, type TestWorkspace, unique } from "../helpers/workspace";

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const ago = (ms: number) => new Date(Date.now() - ms).toISOString();
const hourStart = (iso: string) => `${iso.slice(0, 13)}:00:00.000Z`;
const dayStart = (iso: string) => `${iso.slice(0, 10)}T00:00:00.000Z`;

const get = (ws: TestWorkspace, path: string, role: keyof TestWorkspace["keys"] = "viewer") =>
  api("GET", `/v1/${ws.id}/pipeline/${path}`, { key: ws.keys[role] });

type SourceEventSeed = Partial<typeof sourceEvents.$inferInsert> & { receivedAt: string };

async function insertSourceEvents(ws: TestWorkspace, sourceId: string, seeds: SourceEventSeed[]) {
  const rows = seeds.map((seed) => ({
    id: newId("sev"),
    workspaceId: ws.id,
    dataSourceId: sourceId,
    channel: "poll" as const,
    resourceType: "Patient",
    resourceId: `p-${unique()}`,
    versionKey: "1",
    status: "applied" as const,
    eventsStored: seed.status === "failed" || seed.status === "skipped" ? 0 : 2,
    ...seed,
  }));
  for (let i = 0; i < rows.length; i += 5)
    await db()
      .insert(sourceEvents)
      .values(rows.slice(i, i + 5));
  return rows;
}

type SyncSeed = Partial<typeof syncEvents.$inferInsert> & { createdAt: string };

async function insertSyncEvents(ws: TestWorkspace, seeds: SyncSeed[]) {
  const rows = seeds.map((seed) => ({
    id: newId("syn"),
    workspaceId: ws.id,
    kind: "allergy_intolerance",
    idempotencyKey: `k-${unique()}`,
    updatedAt: seed.createdAt,
    ...seed,
  }));
  for (let i = 0; i < rows.length; i += 5)
    await db()
      .insert(syncEvents)
      .values(rows.slice(i, i + 5));
  return rows;
}

async function insertEntity(ws: TestWorkspace, overrides: Partial<typeof worldEntities.$inferInsert> = {}) {
  const id = newId("ent");
  await db()
    .insert(worldEntities)
    .values({ id, workspaceId: ws.id, entityType: "patient", source: "ehr", ...overrides });
  return id;
}

async function insertWorldEvents(
  ws: TestWorkspace,
  entityId: string,
  seeds: { source: string; sourceSystem?: string | null; ingestedAt: string; syncStatus?: string }[],
) {
  const rows = seeds.map((seed) => ({
    id: newId("evt"),
    workspaceId: ws.id,
    entityId,
    entityType: "patient",
    domain: "demographics",
    eventType: "demographics.recorded",
    dataEnc: "sealed",
    confidence: 1,
    effectiveAt: seed.ingestedAt,
    idempotencyKey: `e-${unique()}`,
    ...seed,
  }));
  for (let i = 0; i < rows.length; i += 4)
    await db()
      .insert(worldEvents)
      .values(rows.slice(i, i + 4));
}

let ws: TestWorkspace;
let other: TestWorkspace;

beforeAll(async () => {
  [ws, other] = await Promise.all([createWorkspace(), createWorkspace()]);
});

describe("GET /pipeline/status", () => {
  it("is unavailable with no enabled source, and every figure is zero", async () => {
    const fresh = await createWorkspace();
    await insertDataSource(fresh.id, { enabled: false, status: "error", lastError: "old failure" });
    const res = await get(fresh, "status");
    expect(res.status, res.text).toBe(200);
    expect(res.body).toMatchObject({
      status: "unavailable",
      reasons: [],
      active_polls: [],
      totals: {
        sources: 1,
        enabled: 0,
        source_events_24h: { applied: 0, failed: 0, skipped: 0 },
        sync: { pending: 0, processing: 0, synced: 0, failed: 0, not_applicable: 0 },
      },
      loops: {
        poller: { last_run_at: null, interval_seconds: null, overdue: false },
        writeback: { oldest_pending_at: null, oldest_pending_age_seconds: null, failed: 0 },
        webhook: { last_notification_at: null },
      },
    });
    expect(Date.parse(res.body.checked_at)).toBeGreaterThan(Date.now() - 60_000);
  });

  it("is starting while an enabled source has not completed a poll, and healthy once it has", async () => {
    const fresh = await createWorkspace();
    const id = await insertDataSource(fresh.id, { status: "polling", lastPollStartedAt: ago(5_000) });
    const starting = await get(fresh, "status");
    expect(starting.body.status).toBe("starting");
    expect(starting.body.active_polls).toEqual([
      { id, name: expect.any(String), started_at: expect.any(String) },
    ]);
    expect(starting.body.sources[0]).toMatchObject({
      id,
      status: "polling",
      lag_seconds: null,
      overdue: false,
    });

    const success = ago(60_000);
    await env.DB.prepare(
      "UPDATE data_sources SET status = 'idle', last_poll_started_at = ?, last_poll_at = ?, last_success_at = ? WHERE id = ?",
    )
      .bind(ago(70_000), success, success, id)
      .run();
    const healthy = await get(fresh, "status");
    expect(healthy.body).toMatchObject({ status: "healthy", reasons: [], active_polls: [] });
    expect(healthy.body.sources[0].lag_seconds).toBeGreaterThanOrEqual(60);
    expect(healthy.body.sources[0].lag_seconds).toBeLessThan(120);
    expect(healthy.body.loops.poller).toEqual({
      last_run_at: success,
      interval_seconds: 300,
      overdue: false,
    });
  });

  it("says degraded when the EHR is down, and still answers every figure from the database", async () => {
    const fresh = await createWorkspace();
    const lastSuccess = ago(3 * HOUR);
    const down = await insertDataSource(fresh.id, {
      name: "Main EHR",
      status: "error",
      lastError: "EHR answered 503",
      lastPollAt: ago(2 * 60_000),
      lastPollStartedAt: ago(3 * 60_000),
      lastSuccessAt: lastSuccess,
      pollIntervalSeconds: 120,
    });
    const hook = await insertDataSource(fresh.id, {
      type: "fhir_webhook",
      lastNotificationAt: ago(30_000),
      lastSuccessAt: ago(30_000),
    });
    await insertSourceEvents(fresh, down, [
      { receivedAt: ago(4 * HOUR) },
      { receivedAt: ago(4 * HOUR) },
      { receivedAt: ago(3 * HOUR), status: "failed", error: "Patient.gender: invalid code" },
      { receivedAt: ago(3 * HOUR), status: "skipped" },
      { receivedAt: ago(25 * HOUR) },
    ]);
    await insertSourceEvents(fresh, hook, [{ receivedAt: ago(60_000) }]);
    const oldestPending = ago(20 * 60_000);
    await insertSyncEvents(fresh, [
      { createdAt: oldestPending, status: "pending", dataSourceId: down },
      { createdAt: ago(60_000), status: "pending", dataSourceId: down },
      { createdAt: ago(HOUR), status: "failed", dataSourceId: down, attempts: 5, error: "EHR answered 503" },
      { createdAt: ago(HOUR), status: "synced", dataSourceId: down, syncedAt: ago(HOUR) },
      { createdAt: ago(HOUR), status: "not_applicable" },
    ]);

    const res = await get(fresh, "status");
    expect(res.status, res.text).toBe(200);
    expect(res.body.status).toBe("degraded");
    expect(
      res.body.reasons.map((r: { code: string; source_id: string | null }) => [r.code, r.source_id]),
    ).toEqual([
      ["source_error", down],
      ["sync_failed", null],
      ["writeback_stalled", null],
    ]);
    expect(res.body.totals).toEqual({
      sources: 2,
      enabled: 2,
      source_events_24h: { applied: 3, failed: 1, skipped: 1 },
      sync: { pending: 2, processing: 0, synced: 1, failed: 1, not_applicable: 1 },
    });
    const main = res.body.sources.find((s: { id: string }) => s.id === down);
    expect(main).toMatchObject({
      name: "Main EHR",
      type: "fhir_store",
      enabled: true,
      status: "error",
      last_error: "EHR answered 503",
      last_success_at: lastSuccess,
      poll_interval_seconds: 120,
      overdue: false,
    });
    expect(main.lag_seconds).toBeGreaterThanOrEqual(3 * 3600);
    expect(main.lag_seconds).toBeLessThan(3 * 3600 + 60);
    expect(res.body.loops.writeback.oldest_pending_at).toBe(oldestPending);
    expect(res.body.loops.writeback.oldest_pending_age_seconds).toBeGreaterThanOrEqual(20 * 60);
    expect(res.body.loops.writeback.failed).toBe(1);
    expect(res.body.loops.webhook.last_notification_at).toBe(
      res.body.sources.find((s: { id: string }) => s.id === hook).last_notification_at,
    );
    expect(res.body.loops.poller.interval_seconds).toBe(120);
  });

  it("says degraded when a polling source is overdue", async () => {
    const fresh = await createWorkspace();
    const late = await insertDataSource(fresh.id, {
      lastPollAt: ago(11 * 60_000),
      lastSuccessAt: ago(11 * 60_000),
    });
    const res = await get(fresh, "status");
    expect(res.body.status).toBe("degraded");
    expect(res.body.reasons).toEqual([
      { code: "source_overdue", source_id: late, message: expect.any(String) },
    ]);
    expect(res.body.sources[0].overdue).toBe(true);
    expect(res.body.loops.poller.overdue).toBe(true);
  });

  it("counts facts waiting for a write-back sink, and calls them stalled only once a sink exists", async () => {
    const fresh = await createWorkspace();
    await insertDataSource(fresh.id, { lastPollAt: ago(60_000), lastSuccessAt: ago(60_000) });
    const entity = await insertEntity(fresh);
    const oldest = ago(30 * 60_000);
    await insertWorldEvents(fresh, entity, [
      { source: "operator", ingestedAt: oldest, syncStatus: "eligible" },
      { source: "operator", ingestedAt: ago(60_000), syncStatus: "eligible" },
      { source: "operator", ingestedAt: ago(60_000), syncStatus: "synced" },
      { source: "ehr", ingestedAt: ago(60_000) },
    ]);
    const waiting = await get(fresh, "status");
    expect(waiting.body.status).toBe("healthy");
    expect(waiting.body.loops.writeback).toMatchObject({
      eligible_waiting: 2,
      oldest_eligible_at: oldest,
      sink_id: null,
    });

    const sink = await insertDataSource(fresh.id, {
      writeback: true,
      lastPollAt: ago(60_000),
      lastSuccessAt: ago(60_000),
    });
    const stalled = await get(fresh, "status");
    expect(stalled.body.status).toBe("degraded");
    expect(stalled.body.reasons).toEqual([
      { code: "writeback_stalled", source_id: null, message: expect.stringMatching(/15 minutes/) },
    ]);
    expect(stalled.body.loops.writeback.sink_id).toBe(sink);
  });

  it("shows only its own workspace's sources and figures", async () => {
    const mine = await insertDataSource(ws.id);
    await insertDataSource(other.id, { status: "error" });
    const res = await get(ws, "status");
    const ids = res.body.sources.map((s: { id: string }) => s.id);
    expect(ids).toContain(mine);
    const theirs = (await get(other, "status")).body.sources.map((s: { id: string }) => s.id);
    for (const id of theirs) expect(ids).not.toContain(id);
  });
});

describe("GET /pipeline/sources", () => {
  it("counts the last 24 hours per source and status, with the newest event of all time", async () => {
    const fresh = await createWorkspace();
    const a = await insertDataSource(fresh.id, { name: "A", createdAt: ago(2 * DAY) });
    const b = await insertDataSource(fresh.id, { name: "B", createdAt: ago(DAY), enabled: false });
    const newestA = ago(10 * 60_000);
    await insertSourceEvents(fresh, a, [
      { receivedAt: ago(2 * HOUR) },
      { receivedAt: newestA },
      { receivedAt: ago(HOUR), status: "failed", error: "Patient: missing resourceType" },
      { receivedAt: ago(HOUR), status: "skipped" },
      { receivedAt: ago(HOUR), status: "skipped" },
      { receivedAt: ago(30 * HOUR) },
    ]);
    const oldB = ago(40 * HOUR);
    await insertSourceEvents(fresh, b, [{ receivedAt: oldB }]);
    const res = await get(fresh, "sources");
    expect(res.status, res.text).toBe(200);
    expect(Date.parse(res.body.since)).toBeLessThanOrEqual(Date.now() - DAY + 1000);
    expect(res.body.results).toEqual([
      {
        id: a,
        name: "A",
        type: "fhir_store",
        source_system: "ehr",
        enabled: true,
        status: "idle",
        writeback: false,
        last_success_at: null,
        last_error: null,
        last_event_at: newestA,
        last_24h: { applied: 2, failed: 1, skipped: 2 },
      },
      expect.objectContaining({
        id: b,
        enabled: false,
        last_event_at: oldB,
        last_24h: { applied: 0, failed: 0, skipped: 0 },
      }),
    ]);
  });

  it("is an empty list for a workspace without sources", async () => {
    const fresh = await createWorkspace();
    expect((await get(fresh, "sources")).body.results).toEqual([]);
  });
});

describe("GET /pipeline/sources/{id}/history", () => {
  it("counts per hour and status, zero-filled over the default 24 hours", async () => {
    const fresh = await createWorkspace();
    const id = await insertDataSource(fresh.id);
    const twoHours = ago(2 * HOUR);
    const fiveHours = ago(5 * HOUR);
    await insertSourceEvents(fresh, id, [
      { receivedAt: twoHours },
      { receivedAt: twoHours },
      { receivedAt: twoHours, status: "failed", error: "bad" },
      { receivedAt: fiveHours, status: "skipped" },
      { receivedAt: ago(30 * HOUR) },
    ]);
    const res = await get(fresh, `sources/${id}/history`);
    expect(res.status, res.text).toBe(200);
    expect(res.body.bucket).toBe("hour");
    expect(res.body.source_id).toBe(id);
    expect(res.body.buckets).toHaveLength(24);
    const starts: string[] = res.body.buckets.map((b: { start: string }) => b.start);
    expect(starts[0]).toBe(res.body.since);
    for (let i = 1; i < starts.length; i++)
      expect(Date.parse(starts[i]!) - Date.parse(starts[i - 1]!)).toBe(HOUR);
    expect(starts.at(-1)).toBe(hourStart(res.body.until));
    const at = (start: string) => res.body.buckets.find((b: { start: string }) => b.start === start);
    expect(at(hourStart(twoHours))).toEqual({
      start: hourStart(twoHours),
      applied: 2,
      failed: 1,
      skipped: 0,
    });
    expect(at(hourStart(fiveHours))).toEqual({
      start: hourStart(fiveHours),
      applied: 0,
      failed: 0,
      skipped: 1,
    });
    const nonEmpty = res.body.buckets.filter(
      (b: { applied: number; failed: number; skipped: number }) => b.applied + b.failed + b.skipped > 0,
    );
    expect(nonEmpty).toHaveLength(2);
    expect(res.body.totals).toEqual({ applied: 2, failed: 1, skipped: 1 });
  });

  it("counts per UTC day from `since`, rounded down to its day", async () => {
    const fresh = await createWorkspace();
    const id = await insertDataSource(fresh.id);
    const threeDays = ago(3 * DAY);
    await insertSourceEvents(fresh, id, [
      { receivedAt: threeDays },
      { receivedAt: ago(30 * DAY), status: "failed" },
      { receivedAt: ago(5 * DAY) },
    ]);
    const since = ago(4 * DAY);
    const res = await get(fresh, `sources/${id}/history?bucket=day&since=${since}`);
    expect(res.status, res.text).toBe(200);
    expect(res.body.since).toBe(dayStart(since));
    expect(res.body.buckets).toHaveLength(5);
    expect(res.body.buckets.find((b: { start: string }) => b.start === dayStart(threeDays)).applied).toBe(1);
    expect(res.body.totals).toEqual({ applied: 1, failed: 0, skipped: 0 });
    // 90 days back is the limit.
    const longest = await get(fresh, `sources/${id}/history?bucket=day&since=${ago(89 * DAY)}`);
    expect(longest.body.buckets).toHaveLength(90);
    expect(longest.body.totals).toEqual({ applied: 2, failed: 1, skipped: 0 });
  });

  it("accepts a week of hours and refuses more, a future start, and unknown buckets", async () => {
    const id = await insertDataSource(ws.id);
    const week = await get(ws, `sources/${id}/history?since=${encodeURIComponent(ago(167 * HOUR))}`);
    expect(week.status, week.text).toBe(200);
    expect(week.body.buckets).toHaveLength(168);
    for (const query of [
      `since=${ago(169 * HOUR)}`,
      `bucket=day&since=${ago(91 * DAY)}`,
      `since=${new Date(Date.now() + 2 * HOUR).toISOString()}`,
      "since=yesterday",
      "bucket=week",
      "bucket=",
    ]) {
      const res = await get(ws, `sources/${id}/history?${query}`);
      expectError(res, "validation_failed", 400);
    }
  });

  it("answers 404 for another workspace's source and one that does not exist", async () => {
    const theirs = await insertDataSource(other.id);
    expectError(await get(ws, `sources/${theirs}/history`), "not_found", 404);
    expectError(await get(ws, `sources/${newId("ds")}/history`), "not_found", 404);
    expectError(await get(ws, "sources/not-an-id/history"), "validation_failed", 400);
  });
});

describe("GET /pipeline/sources/{id}/events", () => {
  let id: string;
  let seeded: Awaited<ReturnType<typeof insertSourceEvents>>;

  beforeAll(async () => {
    id = await insertDataSource(ws.id);
    seeded = await insertSourceEvents(ws, id, [
      { receivedAt: ago(7 * 60_000), resourceType: "Patient" },
      {
        receivedAt: ago(6 * 60_000),
        resourceType: "Appointment",
        status: "failed",
        error: "Appointment.status: required",
      },
      { receivedAt: ago(5 * 60_000), resourceType: "Patient", status: "skipped", error: "not modelled" },
      { receivedAt: ago(4 * 60_000), resourceType: "Slot" },
      {
        receivedAt: ago(3 * 60_000),
        resourceType: "Patient",
        status: "failed",
        error: "Patient.gender: invalid",
      },
      { receivedAt: ago(2 * 60_000), resourceType: "Patient", channel: "webhook" },
    ]);
    // Another source's events never show here.
    await insertSourceEvents(ws, await insertDataSource(ws.id), [{ receivedAt: ago(60_000) }]);
  });

  const ids = (res: { body: { results: { id: string }[] } }) => res.body.results.map((r) => r.id);
  const byTime = () => [...seeded].sort((a, b) => a.receivedAt.localeCompare(b.receivedAt));

  it("lists newest first by default, with type, id, outcome and error but no contents", async () => {
    const res = await get(ws, `sources/${id}/events`);
    expect(res.status, res.text).toBe(200);
    expect(res.body).toMatchObject({ total: 6, limit: 50, offset: 0 });
    expect(ids(res)).toEqual(
      byTime()
        .reverse()
        .map((r) => r.id),
    );
    const failed = seeded[1]!;
    expect(res.body.results.find((r: { id: string }) => r.id === failed.id)).toEqual({
      id: failed.id,
      channel: "poll",
      resource_type: "Appointment",
      resource_id: failed.resourceId,
      version_key: "1",
      status: "failed",
      error: "Appointment.status: required",
      events_stored: 0,
      entity_id: null,
      received_at: failed.receivedAt,
    });
  });

  it("sorts oldest first, and by status (then newest first)", async () => {
    expect(ids(await get(ws, `sources/${id}/events?sort=received_at`))).toEqual(byTime().map((r) => r.id));
    const rank = { applied: 0, failed: 1, skipped: 2 };
    const byStatus = byTime()
      .reverse()
      .sort((a, b) => rank[a.status] - rank[b.status])
      .map((r) => r.id);
    expect(ids(await get(ws, `sources/${id}/events?sort=status`))).toEqual(byStatus);
    const byStatusDesc = byTime()
      .reverse()
      .sort((a, b) => rank[b.status] - rank[a.status])
      .map((r) => r.id);
    expect(ids(await get(ws, `sources/${id}/events?sort=-status`))).toEqual(byStatusDesc);
  });

  it("pages with limit and offset", async () => {
    const all = ids(await get(ws, `sources/${id}/events`));
    const page = await get(ws, `sources/${id}/events?limit=2&offset=3`);
    expect(ids(page)).toEqual(all.slice(3, 5));
    expect(page.body).toMatchObject({ total: 6, limit: 2, offset: 3 });
    const past = await get(ws, `sources/${id}/events?offset=6`);
    expect(past.body).toMatchObject({ results: [], total: 6 });
  });

  it("filters by status and resource type, with totals to match", async () => {
    const failed = await get(ws, `sources/${id}/events?status=failed`);
    expect(failed.body.total).toBe(2);
    expect(failed.body.results.every((r: { status: string }) => r.status === "failed")).toBe(true);
    const patients = await get(ws, `sources/${id}/events?resource_type=Patient&status=failed`);
    expect(ids(patients)).toEqual([seeded[4]!.id]);
    expect((await get(ws, `sources/${id}/events?resource_type=Coverage`)).body).toMatchObject({
      results: [],
      total: 0,
    });
  });

  it("answers 400 to unknown sorts, statuses and bad paging, and 404 across workspaces", async () => {
    for (const query of [
      "sort=name",
      "sort=",
      "status=ok",
      "resource_type=patient",
      "resource_type=Pat%27ient",
      "limit=0",
      "limit=101",
      "offset=-1",
    ]) {
      expectError(await get(ws, `sources/${id}/events?${query}`), "validation_failed", 400);
    }
    expectError(
      await api("GET", `/v1/${other.id}/pipeline/sources/${id}/events`, { key: other.keys.owner }),
      "not_found",
      404,
    );
  });
});

describe("GET /pipeline/outbound and /pipeline/outbound/{id}/log", () => {
  let fresh: TestWorkspace;
  let sink: string;
  let idle: string;
  let rows: Awaited<ReturnType<typeof insertSyncEvents>>;

  beforeAll(async () => {
    fresh = await createWorkspace();
    sink = await insertDataSource(fresh.id, { name: "Sink", writeback: true, createdAt: ago(2 * DAY) });
    idle = await insertDataSource(fresh.id, { name: "Idle sink", writeback: true, createdAt: ago(DAY) });
    await insertDataSource(fresh.id, { name: "Read only" });
    rows = await insertSyncEvents(fresh, [
      { dataSourceId: sink, status: "synced", createdAt: ago(50 * 60_000), syncedAt: ago(49 * 60_000) },
      { dataSourceId: sink, status: "synced", createdAt: ago(40 * 60_000), syncedAt: ago(39 * 60_000) },
      {
        dataSourceId: sink,
        status: "failed",
        createdAt: ago(30 * 60_000),
        attempts: 5,
        error: "EHR answered 500",
      },
      { dataSourceId: sink, status: "pending", createdAt: ago(20 * 60_000) },
      { dataSourceId: sink, status: "processing", createdAt: ago(10 * 60_000), attempts: 1 },
      {
        dataSourceId: null,
        status: "not_applicable",
        createdAt: ago(5 * 60_000),
        error: "no write-back sink",
      },
    ]);
  });

  it("counts per sink and status, lists idle sinks, and puts writes without a sink last", async () => {
    const res = await get(fresh, "outbound");
    expect(res.status, res.text).toBe(200);
    expect(res.body.results).toEqual([
      {
        data_source_id: sink,
        name: "Sink",
        writeback: true,
        counts: { pending: 1, processing: 1, synced: 2, failed: 1, not_applicable: 0 },
        last_synced_at: rows[1]!.syncedAt,
      },
      {
        data_source_id: idle,
        name: "Idle sink",
        writeback: true,
        counts: { pending: 0, processing: 0, synced: 0, failed: 0, not_applicable: 0 },
        last_synced_at: null,
      },
      {
        data_source_id: null,
        name: null,
        writeback: false,
        counts: { pending: 0, processing: 0, synced: 0, failed: 0, not_applicable: 1 },
        last_synced_at: null,
      },
    ]);
    expect(res.body.totals).toEqual({ pending: 1, processing: 1, synced: 2, failed: 1, not_applicable: 1 });
  });

  it("lists a sink's sync events newest first, paged, without payloads", async () => {
    const res = await get(fresh, `outbound/${sink}/log`);
    expect(res.status, res.text).toBe(200);
    expect(res.body.total).toBe(5);
    const newestFirst = rows.filter((r) => r.dataSourceId === sink).reverse();
    expect(res.body.results.map((r: { id: string }) => r.id)).toEqual(newestFirst.map((r) => r.id));
    expect(res.body.results[2]).toEqual({
      id: newestFirst[2]!.id,
      kind: "allergy_intolerance",
      status: "failed",
      attempts: 5,
      error: "EHR answered 500",
      entity_id: null,
      world_event_id: null,
      source_system: null,
      fhir_resource_type: null,
      fhir_resource_id: null,
      created_at: newestFirst[2]!.createdAt,
      updated_at: newestFirst[2]!.createdAt,
      synced_at: null,
    });
    const page = await get(fresh, `outbound/${sink}/log?limit=2&offset=1`);
    expect(page.body.results.map((r: { id: string }) => r.id)).toEqual(
      newestFirst.slice(1, 3).map((r) => r.id),
    );
    const failed = await get(fresh, `outbound/${sink}/log?status=failed`);
    expect(failed.body).toMatchObject({ total: 1, results: [{ status: "failed" }] });
    expect((await get(fresh, `outbound/${idle}/log`)).body).toMatchObject({ results: [], total: 0 });
  });

  it("lists the writes without a sink as `none`", async () => {
    const res = await get(fresh, "outbound/none/log");
    expect(res.body.total).toBe(1);
    expect(res.body.results[0]).toMatchObject({ status: "not_applicable", error: "no write-back sink" });
  });

  it("answers 404 for another workspace's sink and 400 for bad ids and statuses", async () => {
    expectError(await get(ws, `outbound/${sink}/log`), "not_found", 404);
    expectError(await get(fresh, "outbound/nothing/log"), "validation_failed", 400);
    expectError(await get(fresh, `outbound/${sink}/log?status=done`), "validation_failed", 400);
    // The other workspace's null-sink log does not include these rows.
    expect((await get(ws, "outbound/none/log")).body.results.map((r: { id: string }) => r.id)).not.toContain(
      rows[5]!.id,
    );
  });
});

describe("GET /pipeline/entity-resolution", () => {
  it("counts merges overall, in the last day and week, lists the last 20, and pending match reviews", async () => {
    const fresh = await createWorkspace();
    const kept = await insertEntity(fresh);
    // Two in the last day, one more in the week, the rest older.
    const times = [ago(HOUR), ago(2 * HOUR), ago(3 * DAY), ago(10 * DAY)];
    for (let i = 4; i < 22; i++) times.push(ago(20 * DAY + i * 1000));
    const merges: { merged: string; at: string; confidence: number }[] = [];
    for (const at of times) {
      merges.push({ merged: await insertEntity(fresh, { mergedInto: kept }), at, confidence: 0.9 });
    }
    for (const m of merges) {
      await db()
        .insert(worldEdges)
        .values({
          id: newId("edg"),
          workspaceId: fresh.id,
          fromId: m.merged,
          toId: kept,
          edgeType: "same_as",
          confidence: m.confidence,
          source: "system",
          createdAt: m.at,
        });
    }
    // Edges of other kinds are not merges.
    await db()
      .insert(worldEdges)
      .values({
        id: newId("edg"),
        workspaceId: fresh.id,
        fromId: kept,
        toId: merges[0]!.merged,
        edgeType: "has_appointment",
        confidence: 1,
        source: "ehr",
      });
    for (const status of ["pending", "pending", "rejected"] as const) {
      await db()
        .insert(reviewItems)
        .values({
          id: newId("rev"),
          workspaceId: fresh.id,
          kind: "entity_match",
          entityId: kept,
          subjectId: newId("ent"),
          domain: "identity",
          payloadEnc: "sealed",
          priority: 2,
          status,
        });
    }
    await db()
      .insert(reviewItems)
      .values({
        id: newId("rev"),
        workspaceId: fresh.id,
        kind: "fact",
        entityId: kept,
        subjectId: newId("evt"),
        domain: "allergy",
        payloadEnc: "sealed",
        priority: 3,
      });

    const res = await get(fresh, "entity-resolution");
    expect(res.status, res.text).toBe(200);
    expect(res.body).toMatchObject({
      total_merges: 22,
      merged_entities: 22,
      merges_24h: 2,
      merges_7d: 3,
      pending_match_reviews: 2,
    });
    const newest = [...merges].sort((a, b) => b.at.localeCompare(a.at)).slice(0, 20);
    expect(res.body.recent).toHaveLength(20);
    expect(res.body.recent.map((r: { merged_id: string }) => r.merged_id)).toEqual(
      newest.map((m) => m.merged),
    );
    expect(res.body.recent[0]).toEqual({
      kept_id: kept,
      merged_id: merges[0]!.merged,
      confidence: 0.9,
      source: "system",
      merged_at: merges[0]!.at,
    });
  });

  it("is all zeros for a workspace with no merges", async () => {
    const fresh = await createWorkspace();
    expect((await get(fresh, "entity-resolution")).body).toEqual({
      total_merges: 0,
      merged_entities: 0,
      merges_24h: 0,
      merges_7d: 0,
      pending_match_reviews: 0,
      recent: [],
    });
  });
});

describe("GET /pipeline/review", () => {
  it("reports queue depth by priority, the week's decisions and the average review time", async () => {
    const fresh = await createWorkspace();
    const entity = await insertEntity(fresh);
    const item = (
      priority: number,
      status: "pending" | "approved" | "corrected" | "rejected",
      created?: string,
      decided?: string,
    ) =>
      db()
        .insert(reviewItems)
        .values({
          id: newId("rev"),
          workspaceId: fresh.id,
          kind: "fact",
          entityId: entity,
          subjectId: newId("evt"),
          domain: "allergy",
          payloadEnc: "sealed",
          priority,
          status,
          ...(created ? { createdAt: created } : {}),
          ...(decided ? { decidedAt: decided, decidedBy: "usr_reviewer000" } : {}),
        });
    await item(3, "pending");
    await item(3, "pending");
    await item(2, "pending");
    await item(1, "pending");
    // Decided within the week: 10, 20 and 30 minutes from queued to decided.
    await item(3, "approved", ago(2 * HOUR), ago(2 * HOUR - 10 * 60_000));
    await item(2, "approved", ago(3 * HOUR), ago(3 * HOUR - 20 * 60_000));
    await item(1, "rejected", ago(DAY), ago(DAY - 30 * 60_000));
    await item(2, "corrected", ago(2 * DAY), ago(2 * DAY - 20 * 60_000));
    // Decided before the week: not counted.
    await item(3, "approved", ago(10 * DAY), ago(9 * DAY));

    const res = await get(fresh, "review");
    expect(res.status, res.text).toBe(200);
    expect(res.body).toMatchObject({
      queue_depth: 4,
      pending_by_priority: { high: 2, medium: 1, low: 1 },
      last_7_days: { approved: 2, corrected: 1, rejected: 1, average_review_seconds: 1200 },
    });
  });

  it("has no average without decisions", async () => {
    const fresh = await createWorkspace();
    expect((await get(fresh, "review")).body).toMatchObject({
      queue_depth: 0,
      pending_by_priority: { high: 0, medium: 0, low: 0 },
      last_7_days: { approved: 0, corrected: 0, rejected: 0, average_review_seconds: null },
    });
  });
});

describe("GET /pipeline/throughput", () => {
  it("counts world events per hour and per source, zero-filled", async () => {
    const fresh = await createWorkspace();
    const entity = await insertEntity(fresh);
    const oneHour = ago(HOUR);
    const threeHours = ago(3 * HOUR);
    await insertWorldEvents(fresh, entity, [
      { source: "ehr", sourceSystem: "ehr", ingestedAt: oneHour },
      { source: "ehr", sourceSystem: "ehr", ingestedAt: oneHour },
      { source: "ehr", sourceSystem: "ehr", ingestedAt: threeHours },
      { source: "ehr", sourceSystem: "lab", ingestedAt: threeHours },
      { source: "voice", sourceSystem: null, ingestedAt: oneHour },
      { source: "voice", sourceSystem: null, ingestedAt: ago(2 * DAY) },
    ]);
    const res = await get(fresh, "throughput");
    expect(res.status, res.text).toBe(200);
    expect(res.body.bucket).toBe("hour");
    expect(res.body.buckets).toHaveLength(24);
    expect(res.body.total).toBe(5);
    const index = (iso: string) =>
      res.body.buckets.findIndex((b: { start: string }) => b.start === hourStart(iso));
    const h1 = index(oneHour);
    const h3 = index(threeHours);
    expect(res.body.buckets[h1].total).toBe(3);
    expect(res.body.buckets[h3].total).toBe(2);
    expect(res.body.buckets.reduce((n: number, b: { total: number }) => n + b.total, 0)).toBe(5);
    const counts = (hits: Record<number, number>) =>
      res.body.buckets.map((_: unknown, i: number) => hits[i] ?? 0);
    expect(res.body.sources).toEqual([
      { source: "ehr", source_system: "ehr", total: 3, counts: counts({ [h1]: 2, [h3]: 1 }) },
      { source: "ehr", source_system: "lab", total: 1, counts: counts({ [h3]: 1 }) },
      { source: "voice", source_system: null, total: 1, counts: counts({ [h1]: 1 }) },
    ]);

    const daily = await get(fresh, `throughput?bucket=day&since=${encodeURIComponent(ago(6 * DAY))}`);
    expect(daily.body.buckets).toHaveLength(7);
    expect(daily.body.total).toBe(6);
    expect(
      daily.body.buckets.find((b: { start: string }) => b.start === dayStart(ago(2 * DAY)))?.total,
    ).toBeGreaterThanOrEqual(1);
  });

  it("is zero-filled for a workspace with no events, and refuses unknown buckets", async () => {
    const fresh = await createWorkspace();
    const res = await get(fresh, "throughput?bucket=day");
    expect(res.body.buckets).toHaveLength(30);
    expect(res.body).toMatchObject({ total: 0, sources: [] });
    expectError(await get(fresh, "throughput?bucket=minute"), "validation_failed", 400);
    expectError(await get(fresh, `throughput?since=${ago(8 * DAY)}`), "validation_failed", 400);
  });
});

describe("the queries behind these figures", () => {
  /** SQLite's plan for a drizzle query: every table it reads must be reached through an index. */
  async function plan(query: { toSQL(): { sql: string; params: unknown[] } }): Promise<string> {
    const { sql, params } = query.toSQL();
    const { results } = await env.DB.prepare(`EXPLAIN QUERY PLAN ${sql}`)
      .bind(...params)
      .all<{ detail: string }>();
    return results.map((r) => r.detail).join("\n");
  }

  it("read every table through an index range, never a full scan", async () => {
    const d = database(env.DB);
    const since = ago(DAY);
    const queries = {
      sources: listPipelineSources(d, ws.id),
      sourceEventCounts: sourceEventCounts(d, ws.id, since),
      syncCounts: syncCounts(d, ws.id),
      oldestPending: oldestPendingSync(d, ws.id),
      history: sourceHistory(d, ws.id, "ds_x", "hour", since),
      events: listSourceEvents(d, ws.id, "ds_x", {}, "-received_at", { limit: 50, offset: 0 }),
      sinkLog: listSinkLog(d, ws.id, "ds_x", undefined, { limit: 50, offset: 0 }),
      noSinkLog: listSinkLog(d, ws.id, null, "failed", { limit: 50, offset: 0 }),
      mergeCounts: mergeCounts(d, ws.id, since, since),
      recentMerges: recentMerges(d, ws.id, 20),
      throughput: worldEventThroughput(d, ws.id, "day", since),
      eligible: eligibleWaiting(d, ws.id),
      mergedEntities: countMergedEntities(d, ws.id),
      pendingMatches: countPendingMatchReviews(d, ws.id),
    };
    for (const [name, query] of Object.entries(queries)) {
      const detail = await plan(query);
      expect(detail, name).toMatch(/USING (COVERING )?INDEX|USING INTEGER PRIMARY KEY/);
      expect(detail, name).not.toMatch(/^SCAN \w+$/m);
    }
    expect(await plan(queries.history)).toMatch(/source_events_source_time_idx/);
    expect(await plan(queries.sourceEventCounts)).toMatch(/source_events_time_idx/);
    expect(await plan(queries.throughput)).toMatch(/world_events_ingested_idx/);
    expect(await plan(queries.events)).toMatch(/source_events_source_time_idx/);
    expect(await plan(queries.eligible)).toMatch(/world_events_sync_idx/);
    expect(await plan(queries.mergedEntities)).toMatch(/world_entities_merged_idx/);
    expect(await plan(queries.pendingMatches)).toMatch(
      /review_items_(queue_idx|subject_unique) \(workspace_id=\? AND (status|kind)=\?/,
    );
  });
});
