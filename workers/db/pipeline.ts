/**
 * Reads for pipeline health (`/v1/{ws}/pipeline/...`): aggregates over `data_sources`, `source_events`,
 * `sync_events`, `world_events`, `world_edges` and `review_items`. Each query is bounded by an index
 * range (the `(workspace_id, …, time)` indexes of those tables), so the figures stay cheap as the logs
 * grow. Each function returns the drizzle query itself, so tests can also ask SQLite for its plan.
 */
import { and, asc, count, desc, eq, gte, isNotNull, isNull, max, min, type SQL, sql } from "drizzle-orm";
import type { Bucket } from "../../shared/schemas/pipeline";
import type { Db } from "./client";
import {
  dataSources,
  reviewItems,
  sourceEvents,
  syncEvents,
  worldEdges,
  worldEntities,
  worldEvents,
} from "./schema";

/** `strftime` formats that truncate an ISO-8601 UTC time to its bucket's start, in the same format. */
const BUCKET_FORMAT: Record<Bucket, SQL> = {
  hour: sql.raw("'%Y-%m-%dT%H:00:00.000Z'"),
  day: sql.raw("'%Y-%m-%dT00:00:00.000Z'"),
};

const bucketOf = (bucket: Bucket, column: typeof sourceEvents.receivedAt | typeof worldEvents.ingestedAt) =>
  sql<string>`strftime(${BUCKET_FORMAT[bucket]}, ${column})`;

export type DataSourceRow = typeof dataSources.$inferSelect;
export type SourceEventRow = typeof sourceEvents.$inferSelect;
export type SyncEventRow = typeof syncEvents.$inferSelect;

/** The workspace's sources, oldest first, each with the time of the newest resource it delivered. */
export function listPipelineSources(db: Db, workspaceId: string) {
  return db
    .select({
      source: dataSources,
      // max() over the (workspace, source, received_at) index: one probe per source. Qualified by hand:
      // drizzle leaves a one-table query's columns bare, and a bare `id` here would be the event's own.
      lastEventAt: sql<
        string | null
      >`(SELECT max(se.received_at) FROM ${sourceEvents} se WHERE se.workspace_id = "data_sources"."workspace_id" AND se.data_source_id = "data_sources"."id")`,
    })
    .from(dataSources)
    .where(eq(dataSources.workspaceId, workspaceId))
    .orderBy(asc(dataSources.createdAt), asc(dataSources.id));
}

export function findPipelineSource(db: Db, workspaceId: string, id: string) {
  return db
    .select({ id: dataSources.id })
    .from(dataSources)
    .where(and(eq(dataSources.workspaceId, workspaceId), eq(dataSources.id, id)))
    .limit(1);
}

/** Source events received since `since`, counted by source and status (the `(workspace, received_at)` index). */
export function sourceEventCounts(db: Db, workspaceId: string, since: string) {
  return db
    .select({ dataSourceId: sourceEvents.dataSourceId, status: sourceEvents.status, n: count() })
    .from(sourceEvents)
    .where(and(eq(sourceEvents.workspaceId, workspaceId), gte(sourceEvents.receivedAt, since)))
    .groupBy(sourceEvents.dataSourceId, sourceEvents.status);
}

/** Sync events by sink and status, with each group's last sync. */
export function syncCounts(db: Db, workspaceId: string) {
  return db
    .select({
      dataSourceId: syncEvents.dataSourceId,
      status: syncEvents.status,
      n: count(),
      lastSyncedAt: max(syncEvents.syncedAt),
    })
    .from(syncEvents)
    .where(eq(syncEvents.workspaceId, workspaceId))
    .groupBy(syncEvents.dataSourceId, syncEvents.status);
}

/** The oldest write-back still waiting: the first row of the `(workspace, status, created_at)` range. */
export function oldestPendingSync(db: Db, workspaceId: string) {
  return db
    .select({ createdAt: min(syncEvents.createdAt) })
    .from(syncEvents)
    .where(and(eq(syncEvents.workspaceId, workspaceId), eq(syncEvents.status, "pending")));
}

/**
 * World events eligible for writeback but not yet handed to a sink (none is configured, or the scheduler
 * has not run): how many, and since when. SQLite uses a partial index only when the query repeats its
 * condition with the same literal, hence the redundant `<> 'none'` (a bound `?` would not match).
 */
export function eligibleWaiting(db: Db, workspaceId: string) {
  return db
    .select({ n: count(), oldest: min(worldEvents.ingestedAt) })
    .from(worldEvents)
    .where(
      and(
        eq(worldEvents.workspaceId, workspaceId),
        sql`${worldEvents.syncStatus} <> 'none'`,
        sql`${worldEvents.syncStatus} = 'eligible'`,
      ),
    );
}

/** One source's events since `since`, counted per bucket and status. */
export function sourceHistory(db: Db, workspaceId: string, sourceId: string, bucket: Bucket, since: string) {
  const start = bucketOf(bucket, sourceEvents.receivedAt);
  return db
    .select({ start, status: sourceEvents.status, n: count() })
    .from(sourceEvents)
    .where(
      and(
        eq(sourceEvents.workspaceId, workspaceId),
        eq(sourceEvents.dataSourceId, sourceId),
        gte(sourceEvents.receivedAt, since),
      ),
    )
    .groupBy(start, sourceEvents.status);
}

export type SourceEventSort = "-received_at" | "received_at" | "status" | "-status";

const EVENT_ORDER: Record<SourceEventSort, SQL[]> = {
  "-received_at": [desc(sourceEvents.receivedAt), desc(sourceEvents.id)],
  received_at: [asc(sourceEvents.receivedAt), asc(sourceEvents.id)],
  status: [asc(sourceEvents.status), desc(sourceEvents.receivedAt), desc(sourceEvents.id)],
  "-status": [desc(sourceEvents.status), desc(sourceEvents.receivedAt), desc(sourceEvents.id)],
};

export interface SourceEventFilter {
  status?: SourceEventRow["status"] | undefined;
  resourceType?: string | undefined;
}

function sourceEventsWhere(workspaceId: string, sourceId: string, f: SourceEventFilter) {
  return and(
    eq(sourceEvents.workspaceId, workspaceId),
    eq(sourceEvents.dataSourceId, sourceId),
    f.status ? eq(sourceEvents.status, f.status) : undefined,
    f.resourceType ? eq(sourceEvents.resourceType, f.resourceType) : undefined,
  );
}

export function listSourceEvents(
  db: Db,
  workspaceId: string,
  sourceId: string,
  f: SourceEventFilter,
  sort: SourceEventSort,
  page: { limit: number; offset: number },
) {
  return db
    .select()
    .from(sourceEvents)
    .where(sourceEventsWhere(workspaceId, sourceId, f))
    .orderBy(...EVENT_ORDER[sort])
    .limit(page.limit)
    .offset(page.offset);
}

export function countSourceEvents(db: Db, workspaceId: string, sourceId: string, f: SourceEventFilter) {
  return db.$count(sourceEvents, sourceEventsWhere(workspaceId, sourceId, f));
}

/** A sink's sync events (`null`: the writes that had none), newest first. */
function sinkLogWhere(workspaceId: string, sinkId: string | null, status?: SyncEventRow["status"]) {
  return and(
    eq(syncEvents.workspaceId, workspaceId),
    sinkId === null ? isNull(syncEvents.dataSourceId) : eq(syncEvents.dataSourceId, sinkId),
    status ? eq(syncEvents.status, status) : undefined,
  );
}

export function listSinkLog(
  db: Db,
  workspaceId: string,
  sinkId: string | null,
  status: SyncEventRow["status"] | undefined,
  page: { limit: number; offset: number },
) {
  return db
    .select()
    .from(syncEvents)
    .where(sinkLogWhere(workspaceId, sinkId, status))
    .orderBy(desc(syncEvents.createdAt), desc(syncEvents.id))
    .limit(page.limit)
    .offset(page.offset);
}

export function countSinkLog(
  db: Db,
  workspaceId: string,
  sinkId: string | null,
  status: SyncEventRow["status"] | undefined,
) {
  return db.$count(syncEvents, sinkLogWhere(workspaceId, sinkId, status));
}

const sameAs = (workspaceId: string) =>
  and(eq(worldEdges.workspaceId, workspaceId), eq(worldEdges.edgeType, "same_as"));

/** Every merge, and those made since each of two instants (the `(workspace, edge_type, …)` index). */
export function mergeCounts(db: Db, workspaceId: string, since24h: string, since7d: string) {
  return db
    .select({
      total: count(),
      last24h: sql<number>`coalesce(sum(${worldEdges.createdAt} >= ${since24h}), 0)`,
      last7d: sql<number>`coalesce(sum(${worldEdges.createdAt} >= ${since7d}), 0)`,
    })
    .from(worldEdges)
    .where(sameAs(workspaceId));
}

/** Entities that now point at another (the partial `merged_into` index). */
export function countMergedEntities(db: Db, workspaceId: string) {
  return db
    .select({ n: count() })
    .from(worldEntities)
    .where(and(eq(worldEntities.workspaceId, workspaceId), isNotNull(worldEntities.mergedInto)));
}

export function recentMerges(db: Db, workspaceId: string, limit: number) {
  return db
    .select({
      keptId: worldEdges.toId,
      mergedId: worldEdges.fromId,
      confidence: worldEdges.confidence,
      source: worldEdges.source,
      mergedAt: worldEdges.createdAt,
    })
    .from(worldEdges)
    .where(sameAs(workspaceId))
    .orderBy(desc(worldEdges.createdAt), desc(worldEdges.id))
    .limit(limit);
}

/** Possible duplicates waiting for a person (the review queue's `(workspace, status, …)` index). */
export function countPendingMatchReviews(db: Db, workspaceId: string) {
  return db
    .select({ n: count() })
    .from(reviewItems)
    .where(
      and(
        eq(reviewItems.workspaceId, workspaceId),
        eq(reviewItems.status, "pending"),
        eq(reviewItems.kind, "entity_match"),
      ),
    );
}

/** World events ingested since `since`, counted per bucket and source (the `(workspace, ingested_at)` index). */
export function worldEventThroughput(db: Db, workspaceId: string, bucket: Bucket, since: string) {
  const start = bucketOf(bucket, worldEvents.ingestedAt);
  return db
    .select({ start, source: worldEvents.source, sourceSystem: worldEvents.sourceSystem, n: count() })
    .from(worldEvents)
    .where(and(eq(worldEvents.workspaceId, workspaceId), gte(worldEvents.ingestedAt, since)))
    .groupBy(start, worldEvents.source, worldEvents.sourceSystem);
}
