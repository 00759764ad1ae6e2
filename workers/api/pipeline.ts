/**
 * `/v1/{workspace_id}/pipeline/...`: is data flowing between the EHR and the world model? Nine read-only
 * answers for viewers and up, each computed from D1 alone (sources, source events, the sync log, world
 * events, merges, the review queue), so they keep answering when the EHR or the connector is down, and
 * then say `degraded` (rules in shared/pipeline/health.ts). Ids, counts and times only, never PHI.
 */
import type { Context } from "hono";
import { z } from "zod";
import type { BusinessHours } from "../../shared/ehr/business-hours";
import { isOverdue, pipelineHealth, type SourceFacts } from "../../shared/pipeline/health";
import { ResourceId, WorkspaceItemParams, WorkspaceParams } from "../../shared/schemas/common";
import {
  type Bucket,
  DEFAULT_BUCKETS,
  EntityResolutionSchema,
  MAX_BUCKETS,
  OutboundLogQuery,
  OutboundLogSchema,
  PipelineOutboundSchema,
  PipelineSourcesSchema,
  PipelineStatusSchema,
  SeriesQuery,
  type SourceEventSchema,
  SourceEventsQuery,
  SourceEventsSchema,
  SourceHistorySchema,
  ThroughputSchema,
} from "../../shared/schemas/pipeline";
import { ReviewStatsSchema } from "../../shared/schemas/review";
import type { SyncStatus } from "../../shared/schemas/sync";
import { database } from "../db/client";
import {
  countMergedEntities,
  countPendingMatchReviews,
  countSinkLog,
  countSourceEvents,
  type DataSourceRow,
  eligibleWaiting,
  findPipelineSource,
  listPipelineSources,
  listSinkLog,
  listSourceEvents,
  mergeCounts,
  oldestPendingSync,
  recentMerges,
  type SourceEventRow,
  sourceEventCounts,
  sourceHistory,
  syncCounts,
  worldEventThroughput,
} from "../db/pipeline";
import type { AppEnv } from "../env";
import { ApiError, notFound } from "../errors";
import { reviewStatsOf } from "../world/review-items";
import { jsonResponse, router, workspaceRoute } from "./router";
import { syncLogEntryView } from "./sync";

const tags = ["Pipeline"];

const HOUR_MS = 3_600_000;
const DAY_MS = 24 * HOUR_MS;
const BUCKET_MS: Record<Bucket, number> = { hour: HOUR_MS, day: DAY_MS };
const RECENT_MERGES = 20;

type StatusCounts = { applied: number; failed: number; skipped: number };

const zeroCounts = (): StatusCounts => ({ applied: 0, failed: 0, skipped: 0 });
const zeroSync = (): Record<SyncStatus, number> => ({
  pending: 0,
  processing: 0,
  synced: 0,
  failed: 0,
  not_applicable: 0,
});

const iso = (ms: number) => new Date(ms).toISOString();

const StoredGate = z.object({
  timezone: z.string(),
  days: z.array(z.number().int()),
  start: z.string().regex(/^\d{2}:\d{2}$/),
  end: z.string().regex(/^\d{2}:\d{2}$/),
});

/** The stored gate when it has the shape the connector writes; anything else counts as no gate. */
function gateOf(value: Record<string, unknown> | null): BusinessHours | null {
  const gate = StoredGate.safeParse(value);
  return gate.success ? gate.data : null;
}

function factsOf(row: DataSourceRow): SourceFacts {
  return {
    id: row.id,
    name: row.name,
    type: row.type,
    enabled: row.enabled,
    status: row.status,
    pollIntervalSeconds: row.pollIntervalSeconds,
    businessHours: gateOf(row.businessHours ?? null),
    lastPollAt: row.lastPollAt,
    lastSuccessAt: row.lastSuccessAt,
    lastNotificationAt: row.lastNotificationAt,
    createdAt: row.createdAt,
  };
}

const connectorState = (status: string): "idle" | "polling" | "error" =>
  status === "polling" || status === "error" ? status : "idle";

/** The latest of some ISO times (they sort as strings), or null when there are none. */
const latest = (times: (string | null)[]) =>
  times.reduce<string | null>((a, b) => (b !== null && (a === null || b > a) ? b : a), null);

/** The earliest of some ISO times, or null when there are none. */
const earliest = (times: (string | null)[]) =>
  times.reduce<string | null>((a, b) => (b !== null && (a === null || b < a) ? b : a), null);

/** A 400 shaped like the validation hook's, for the check that needs the clock. */
function invalidSince(message: string): ApiError {
  return new ApiError("validation_failed", `Invalid query: since ${message}`, {
    issues: [{ location: "query", path: "since", code: "custom", message }],
  });
}

/** The window of a series: whole buckets from `since` (rounded down) to the bucket holding `now`. */
function seriesWindow(bucket: Bucket, since: string | undefined, now: number) {
  const size = BUCKET_MS[bucket];
  const last = Math.floor(now / size) * size;
  const first =
    since === undefined
      ? last - (DEFAULT_BUCKETS[bucket] - 1) * size
      : Math.floor(Date.parse(since) / size) * size;
  if (first > last) throw invalidSince("is in the future");
  const n = (last - first) / size + 1;
  if (n > MAX_BUCKETS[bucket]) {
    throw invalidSince(`is too far back: at most ${MAX_BUCKETS[bucket]} ${bucket} buckets`);
  }
  const starts = Array.from({ length: n }, (_, i) => iso(first + i * size));
  return { since: starts[0]!, starts, index: new Map(starts.map((s, i) => [s, i])) };
}

async function requireSource(c: Context<AppEnv>, workspaceId: string, id: string) {
  const [row] = await findPipelineSource(database(c.env.DB), workspaceId, id);
  if (!row) throw notFound("Data source");
}

function sourceEventView(row: SourceEventRow): z.infer<typeof SourceEventSchema> {
  return {
    id: row.id,
    channel: row.channel,
    resource_type: row.resourceType,
    resource_id: row.resourceId,
    version_key: row.versionKey,
    status: row.status,
    error: row.error,
    events_stored: row.eventsStored,
    entity_id: row.entityId,
    received_at: row.receivedAt,
  };
}

const SinkParams = WorkspaceParams.extend({
  id: z
    .union([ResourceId, z.literal("none")])
    .meta({ description: "A data source id, or `none` for the writes that had no sink" }),
});

export const pipelineApi = router()
  .openapi(
    workspaceRoute("viewer", {
      method: "get",
      path: "/v1/{workspace_id}/pipeline/status",
      tags,
      summary: "Overall health: status, active polls, totals, per-source state and loop states",
      description:
        "Computed from the database only, so it answers while the EHR is down. `unavailable`: no enabled " +
        "source. `degraded`: an enabled source in `error`, an enabled polling source whose last poll is " +
        "older than twice its interval (counting business hours only), a failed write-back, or one " +
        "waiting for more than 15 minutes (pending, or eligible while a sink exists); `reasons` says " +
        "which. `starting`: enabled sources, none of which has completed a poll or received a " +
        "notification. Else `healthy`.",
      request: { params: WorkspaceParams },
      responses: { 200: jsonResponse(PipelineStatusSchema, "Pipeline health") },
    }),
    async (c) => {
      const { workspace_id } = c.req.valid("param");
      const db = database(c.env.DB);
      const now = new Date();
      const [sources, events, sync, [pending], [eligible]] = await Promise.all([
        listPipelineSources(db, workspace_id),
        sourceEventCounts(db, workspace_id, iso(now.getTime() - DAY_MS)),
        syncCounts(db, workspace_id),
        oldestPendingSync(db, workspace_id),
        eligibleWaiting(db, workspace_id),
      ]);
      const facts = sources.map(({ source }) => factsOf(source));
      const events24h = zeroCounts();
      for (const e of events) events24h[e.status] += e.n;
      const syncTotals = zeroSync();
      for (const s of sync) syncTotals[s.status] += s.n;
      const oldestPendingAt = pending?.createdAt ?? null;
      const oldestEligibleAt = eligible?.oldest ?? null;
      // The sink writeback uses: the oldest enabled polling source marked for write-back (sources.ts).
      const sink = sources.find(
        ({ source }) => source.enabled && source.writeback && source.type === "fhir_store",
      )?.source;
      const { status, reasons } = pipelineHealth({
        sources: facts,
        failedSyncs: syncTotals.failed,
        // Without a sink, eligible facts wait by design; with one, they should have been scheduled.
        oldestPendingAt: earliest([oldestPendingAt, sink ? oldestEligibleAt : null]),
        now,
      });
      const pollers = facts.filter((f) => f.enabled && f.type === "fhir_store");
      return c.json(
        {
          status,
          reasons,
          checked_at: now.toISOString(),
          active_polls: sources
            .filter(({ source }) => source.status === "polling")
            .map(({ source }) => ({
              id: source.id,
              name: source.name,
              started_at: source.lastPollStartedAt,
            })),
          totals: {
            sources: sources.length,
            enabled: facts.filter((f) => f.enabled).length,
            source_events_24h: events24h,
            sync: syncTotals,
          },
          sources: sources.map(({ source }, i) => ({
            id: source.id,
            name: source.name,
            type: source.type,
            enabled: source.enabled,
            status: connectorState(source.status),
            writeback: source.writeback,
            poll_interval_seconds: source.pollIntervalSeconds,
            last_poll_at: source.lastPollAt,
            last_success_at: source.lastSuccessAt,
            last_notification_at: source.lastNotificationAt,
            last_error: source.lastError,
            lag_seconds: source.lastSuccessAt
              ? Math.max(0, Math.round((now.getTime() - Date.parse(source.lastSuccessAt)) / 1000))
              : null,
            overdue: isOverdue(facts[i]!, now),
          })),
          loops: {
            poller: {
              last_run_at: latest(
                sources
                  .filter(({ source }) => source.enabled && source.type === "fhir_store")
                  .flatMap(({ source }) => [source.lastPollStartedAt, source.lastPollAt]),
              ),
              interval_seconds: pollers.length
                ? Math.min(...pollers.map((p) => p.pollIntervalSeconds))
                : null,
              overdue: pollers.some((p) => isOverdue(p, now)),
            },
            writeback: {
              oldest_pending_at: oldestPendingAt,
              oldest_pending_age_seconds: oldestPendingAt
                ? Math.max(0, Math.round((now.getTime() - Date.parse(oldestPendingAt)) / 1000))
                : null,
              failed: syncTotals.failed,
              eligible_waiting: eligible?.n ?? 0,
              oldest_eligible_at: oldestEligibleAt,
              sink_id: sink?.id ?? null,
            },
            webhook: { last_notification_at: latest(facts.map((f) => f.lastNotificationAt)) },
          },
        },
        200,
      );
    },
  )
  .openapi(
    workspaceRoute("viewer", {
      method: "get",
      path: "/v1/{workspace_id}/pipeline/sources",
      tags,
      summary: "Every data source with its last 24 hours of delivered resources",
      request: { params: WorkspaceParams },
      responses: { 200: jsonResponse(PipelineSourcesSchema, "Sources, oldest first") },
    }),
    async (c) => {
      const { workspace_id } = c.req.valid("param");
      const db = database(c.env.DB);
      const since = iso(Date.now() - DAY_MS);
      const [sources, events] = await Promise.all([
        listPipelineSources(db, workspace_id),
        sourceEventCounts(db, workspace_id, since),
      ]);
      const counts = new Map<string, StatusCounts>();
      for (const e of events) {
        const entry = counts.get(e.dataSourceId) ?? zeroCounts();
        entry[e.status] += e.n;
        counts.set(e.dataSourceId, entry);
      }
      return c.json(
        {
          since,
          results: sources.map(({ source, lastEventAt }) => ({
            id: source.id,
            name: source.name,
            type: source.type,
            source_system: source.sourceSystem,
            enabled: source.enabled,
            status: connectorState(source.status),
            writeback: source.writeback,
            last_success_at: source.lastSuccessAt,
            last_error: source.lastError,
            last_event_at: lastEventAt,
            last_24h: counts.get(source.id) ?? zeroCounts(),
          })),
        },
        200,
      );
    },
  )
  .openapi(
    workspaceRoute("viewer", {
      method: "get",
      path: "/v1/{workspace_id}/pipeline/sources/{id}/history",
      tags,
      summary: "A source's delivered resources per hour or day, by outcome",
      description:
        "Buckets are UTC hours or days, zero-filled, from `since` rounded down to the bucket holding now: " +
        "at most 168 hourly or 90 daily buckets (default 24 hours or 30 days).",
      request: { params: WorkspaceItemParams, query: SeriesQuery },
      responses: { 200: jsonResponse(SourceHistorySchema, "The series") },
    }),
    async (c) => {
      const { workspace_id, id } = c.req.valid("param");
      const { bucket, since } = c.req.valid("query");
      const now = Date.now();
      const window = seriesWindow(bucket, since, now);
      await requireSource(c, workspace_id, id);
      const rows = await sourceHistory(database(c.env.DB), workspace_id, id, bucket, window.since);
      const buckets = window.starts.map((start) => ({ start, ...zeroCounts() }));
      const totals = zeroCounts();
      for (const row of rows) {
        const i = window.index.get(row.start);
        if (i === undefined) continue;
        buckets[i]![row.status] += row.n;
        totals[row.status] += row.n;
      }
      return c.json({ source_id: id, bucket, since: window.since, until: iso(now), buckets, totals }, 200);
    },
  )
  .openapi(
    workspaceRoute("viewer", {
      method: "get",
      path: "/v1/{workspace_id}/pipeline/sources/{id}/events",
      tags,
      summary: "A source's delivered resources: type, id, outcome and error, never contents",
      request: { params: WorkspaceItemParams, query: SourceEventsQuery },
      responses: { 200: jsonResponse(SourceEventsSchema, "One page of source events") },
    }),
    async (c) => {
      const { workspace_id, id } = c.req.valid("param");
      const q = c.req.valid("query");
      await requireSource(c, workspace_id, id);
      const db = database(c.env.DB);
      const filter = { status: q.status, resourceType: q.resource_type };
      const [rows, total] = await Promise.all([
        listSourceEvents(db, workspace_id, id, filter, q.sort, q),
        countSourceEvents(db, workspace_id, id, filter),
      ]);
      return c.json({ results: rows.map(sourceEventView), total, limit: q.limit, offset: q.offset }, 200);
    },
  )
  .openapi(
    workspaceRoute("viewer", {
      method: "get",
      path: "/v1/{workspace_id}/pipeline/outbound",
      tags,
      summary: "Write-backs per sink, by status",
      description:
        "One entry per data source that is a write-back sink or has sync events, and one with a null " +
        "`data_source_id` for writes that had no sink.",
      request: { params: WorkspaceParams },
      responses: { 200: jsonResponse(PipelineOutboundSchema, "Per-sink counts") },
    }),
    async (c) => {
      const { workspace_id } = c.req.valid("param");
      const db = database(c.env.DB);
      const [sources, sync] = await Promise.all([
        listPipelineSources(db, workspace_id),
        syncCounts(db, workspace_id),
      ]);
      const sinks = new Map<string | null, z.infer<typeof PipelineOutboundSchema>["results"][number]>();
      const sinkFor = (id: string | null) => {
        let sink = sinks.get(id);
        if (!sink) {
          const source = sources.find((s) => s.source.id === id)?.source;
          sink = {
            data_source_id: id,
            name: source?.name ?? null,
            writeback: source?.writeback ?? false,
            counts: zeroSync(),
            last_synced_at: null,
          };
          sinks.set(id, sink);
        }
        return sink;
      };
      for (const { source } of sources) if (source.writeback) sinkFor(source.id);
      const totals = zeroSync();
      for (const row of sync) {
        const sink = sinkFor(row.dataSourceId);
        sink.counts[row.status] += row.n;
        totals[row.status] += row.n;
        sink.last_synced_at = latest([sink.last_synced_at, row.lastSyncedAt]);
      }
      // Named sinks in the sources' order, then the writes without one.
      const order = (id: string | null) =>
        id === null ? sources.length : sources.findIndex((s) => s.source.id === id);
      const results = [...sinks.values()].sort((a, b) => order(a.data_source_id) - order(b.data_source_id));
      return c.json({ results, totals }, 200);
    },
  )
  .openapi(
    workspaceRoute("viewer", {
      method: "get",
      path: "/v1/{workspace_id}/pipeline/outbound/{id}/log",
      tags,
      summary: "A sink's sync events, newest first",
      description:
        "`id` is a data source id, or `none` for the writes that had no sink. Payloads are never shown.",
      request: { params: SinkParams, query: OutboundLogQuery },
      responses: { 200: jsonResponse(OutboundLogSchema, "One page of the sink's log") },
    }),
    async (c) => {
      const { workspace_id, id } = c.req.valid("param");
      const q = c.req.valid("query");
      const sinkId = id === "none" ? null : id;
      if (sinkId !== null) await requireSource(c, workspace_id, sinkId);
      const db = database(c.env.DB);
      const [rows, total] = await Promise.all([
        listSinkLog(db, workspace_id, sinkId, q.status, q),
        countSinkLog(db, workspace_id, sinkId, q.status),
      ]);
      return c.json({ results: rows.map(syncLogEntryView), total, limit: q.limit, offset: q.offset }, 200);
    },
  )
  .openapi(
    workspaceRoute("viewer", {
      method: "get",
      path: "/v1/{workspace_id}/pipeline/entity-resolution",
      tags,
      summary: "Merges made by entity resolution, recent merge activity, and matches waiting for review",
      request: { params: WorkspaceParams },
      responses: { 200: jsonResponse(EntityResolutionSchema, "Entity resolution figures") },
    }),
    async (c) => {
      const { workspace_id } = c.req.valid("param");
      const db = database(c.env.DB);
      const now = Date.now();
      const [[merges], [merged], recent, [pendingMatches]] = await Promise.all([
        mergeCounts(db, workspace_id, iso(now - DAY_MS), iso(now - 7 * DAY_MS)),
        countMergedEntities(db, workspace_id),
        recentMerges(db, workspace_id, RECENT_MERGES),
        countPendingMatchReviews(db, workspace_id),
      ]);
      return c.json(
        {
          total_merges: merges?.total ?? 0,
          merged_entities: merged?.n ?? 0,
          merges_24h: Number(merges?.last24h ?? 0),
          merges_7d: Number(merges?.last7d ?? 0),
          pending_match_reviews: pendingMatches?.n ?? 0,
          recent: recent.map((m) => ({
            kept_id: m.keptId,
            merged_id: m.mergedId,
            confidence: m.confidence,
            source: m.source,
            merged_at: m.mergedAt,
          })),
        },
        200,
      );
    },
  )
  .openapi(
    workspaceRoute("viewer", {
      method: "get",
      path: "/v1/{workspace_id}/pipeline/review",
      tags,
      summary: "The review queue's depth by priority, and the last 7 days' decisions and review time",
      request: { params: WorkspaceParams },
      responses: { 200: jsonResponse(ReviewStatsSchema, "Review figures") },
    }),
    async (c) => {
      const { workspace_id } = c.req.valid("param");
      return c.json(await reviewStatsOf(database(c.env.DB), workspace_id), 200);
    },
  )
  .openapi(
    workspaceRoute("viewer", {
      method: "get",
      path: "/v1/{workspace_id}/pipeline/throughput",
      tags,
      summary: "World events ingested per hour or day, across sources and per source",
      description:
        "Buckets are UTC hours or days, zero-filled, from `since` rounded down to the bucket holding now: " +
        "at most 168 hourly or 90 daily buckets (default 24 hours or 30 days). A source is the world " +
        "events' `source` with its `source_system`.",
      request: { params: WorkspaceParams, query: SeriesQuery },
      responses: { 200: jsonResponse(ThroughputSchema, "The series") },
    }),
    async (c) => {
      const { workspace_id } = c.req.valid("param");
      const { bucket, since } = c.req.valid("query");
      const now = Date.now();
      const window = seriesWindow(bucket, since, now);
      const rows = await worldEventThroughput(database(c.env.DB), workspace_id, bucket, window.since);
      const buckets = window.starts.map((start) => ({ start, total: 0 }));
      const series = new Map<string, z.infer<typeof ThroughputSchema>["sources"][number]>();
      let total = 0;
      for (const row of rows) {
        const i = window.index.get(row.start);
        if (i === undefined) continue;
        const key = JSON.stringify([row.source, row.sourceSystem]);
        let entry = series.get(key);
        if (!entry) {
          entry = {
            source: row.source,
            source_system: row.sourceSystem,
            total: 0,
            counts: buckets.map(() => 0),
          };
          series.set(key, entry);
        }
        entry.counts[i]! += row.n;
        entry.total += row.n;
        buckets[i]!.total += row.n;
        total += row.n;
      }
      const sources = [...series.values()].sort(
        (a, b) =>
          b.total - a.total ||
          a.source.localeCompare(b.source) ||
          (a.source_system ?? "").localeCompare(b.source_system ?? ""),
      );
      return c.json({ bucket, since: window.since, until: iso(now), buckets, sources, total }, 200);
    },
  );
