/**
 * The sync log's rows (`sync_events`): one per write to the EHR. Writers insert with the row's
 * idempotency key, so scheduling one write twice leaves one row. State changes are guarded by the state
 * they expect, so two deliveries of one job, or a retry racing the job, never both move a row.
 */
import { and, asc, desc, eq, gte, inArray, isNotNull, isNull, lt, sql } from "drizzle-orm";
import type { Db, Statement } from "./client";
import { syncEvents, worldEntities, worldEvents } from "./schema";
import { chunk } from "./world";

export type SyncEventRow = typeof syncEvents.$inferSelect;
export type SyncStatus = SyncEventRow["status"];

/** Inserts the row unless one with its idempotency key exists; returns the stored row either way. */
export async function recordSyncEvent(db: Db, row: typeof syncEvents.$inferInsert): Promise<SyncEventRow> {
  await db.insert(syncEvents).values(row).onConflictDoNothing();
  const [stored] = await db
    .select()
    .from(syncEvents)
    .where(
      and(eq(syncEvents.workspaceId, row.workspaceId), eq(syncEvents.idempotencyKey, row.idempotencyKey)),
    );
  return stored!;
}

export async function findSyncEvent(
  db: Db,
  workspaceId: string,
  id: string,
): Promise<SyncEventRow | undefined> {
  const [row] = await db
    .select()
    .from(syncEvents)
    .where(and(eq(syncEvents.workspaceId, workspaceId), eq(syncEvents.id, id)));
  return row;
}

/** Inserts a new row (a key seen before inserts nothing); returns the id only when this call inserted it. */
export function insertSyncEvent(db: Db, row: typeof syncEvents.$inferInsert) {
  return db.insert(syncEvents).values(row).onConflictDoNothing().returning({ id: syncEvents.id });
}

/** World events waiting to be scheduled for writeback, oldest first. */
export function eligibleWorldEvents(db: Db, workspaceId: string, limit: number) {
  return db
    .select({
      id: worldEvents.id,
      entityId: worldEvents.entityId,
      entityType: worldEvents.entityType,
      eventType: worldEvents.eventType,
      domain: worldEvents.domain,
    })
    .from(worldEvents)
    .where(
      and(
        eq(worldEvents.workspaceId, workspaceId),
        eq(worldEvents.syncStatus, "eligible"),
        // Repeated as a literal: SQLite uses the partial index world_events_sync_idx only when the
        // query itself implies its WHERE, and a bound parameter does not.
        sql`${worldEvents.syncStatus} <> 'none'`,
      ),
    )
    .orderBy(asc(worldEvents.ingestedAt), asc(worldEvents.id))
    .limit(limit);
}

/** The keys among `keys` (a few) that already have a row: writes a retried request recorded before. */
export async function recordedSyncKeys(db: Db, workspaceId: string, keys: string[]): Promise<Set<string>> {
  const rows = await db
    .select({ key: syncEvents.idempotencyKey })
    .from(syncEvents)
    .where(and(eq(syncEvents.workspaceId, workspaceId), inArray(syncEvents.idempotencyKey, keys)));
  return new Set(rows.map((r) => r.key));
}

/** The EHR ids of the resources of `kind` written (synced) since `since`, at most `limit` of them. */
export async function syncedResourceIdsSince(
  db: Db,
  workspaceId: string,
  kind: string,
  since: string,
  limit: number,
): Promise<string[]> {
  const rows = await db
    .selectDistinct({ id: syncEvents.fhirResourceId })
    .from(syncEvents)
    .where(
      and(
        eq(syncEvents.workspaceId, workspaceId),
        eq(syncEvents.status, "synced"),
        gte(syncEvents.createdAt, since),
        eq(syncEvents.kind, kind),
        isNotNull(syncEvents.fhirResourceId),
      ),
    )
    .limit(limit);
  return rows.map((r) => r.id!);
}

/** A world event's sync status copied from the sync event written for it (whichever call wrote that). */
export function mirrorWorldEventStatus(
  db: Db,
  workspaceId: string,
  worldEventId: string,
  idempotencyKey: string,
): Statement {
  return db
    .update(worldEvents)
    .set({
      syncStatus: sql`coalesce((SELECT ${syncEvents.status} FROM ${syncEvents} WHERE ${syncEvents.workspaceId} = ${workspaceId} AND ${syncEvents.idempotencyKey} = ${idempotencyKey}), ${worldEvents.syncStatus})`,
    })
    .where(and(eq(worldEvents.workspaceId, workspaceId), eq(worldEvents.id, worldEventId)));
}

export function setWorldEventSyncStatus(
  db: Db,
  workspaceId: string,
  worldEventId: string,
  status: string,
): Statement {
  return db
    .update(worldEvents)
    .set({ syncStatus: status })
    .where(and(eq(worldEvents.workspaceId, workspaceId), eq(worldEvents.id, worldEventId)));
}

/**
 * Takes the row for one attempt: `processing`, attempts + 1. A row already `processing` may be taken
 * again (the delivery that held it died, and the queue delivers again). Returns the row as taken, or
 * nothing when it is settled (synced, failed, not applicable) and there is nothing to do.
 */
export async function claimSyncEvent(
  db: Db,
  workspaceId: string,
  id: string,
  at: string,
): Promise<SyncEventRow | undefined> {
  const [row] = await db
    .update(syncEvents)
    .set({ status: "processing", attempts: sql`${syncEvents.attempts} + 1`, updatedAt: at })
    .where(
      and(
        eq(syncEvents.workspaceId, workspaceId),
        eq(syncEvents.id, id),
        inArray(syncEvents.status, ["pending", "processing"]),
      ),
    )
    .returning();
  return row;
}

/** The outcome of an attempt (or the wait before the next one) for a row being processed. */
export function settleSyncEvent(
  db: Db,
  workspaceId: string,
  id: string,
  set: Partial<
    Pick<SyncEventRow, "status" | "error" | "fhirResourceType" | "fhirResourceId" | "syncedAt">
  > & {
    updatedAt: string;
  },
): Statement {
  return db
    .update(syncEvents)
    .set(set)
    .where(
      and(
        eq(syncEvents.workspaceId, workspaceId),
        eq(syncEvents.id, id),
        eq(syncEvents.status, "processing"),
      ),
    );
}

/** Pending writes recorded while the workspace had no sink: they go to `sink` now. */
export function adoptUnassigned(
  db: Db,
  workspaceId: string,
  sink: { id: string; sourceSystem: string },
  at: string,
  limit: number,
) {
  const ids = db
    .select({ id: syncEvents.id })
    .from(syncEvents)
    .where(
      and(
        eq(syncEvents.workspaceId, workspaceId),
        eq(syncEvents.status, "pending"),
        isNull(syncEvents.dataSourceId),
      ),
    )
    .orderBy(asc(syncEvents.createdAt))
    .limit(limit);
  return db
    .update(syncEvents)
    .set({ dataSourceId: sink.id, sourceSystem: sink.sourceSystem, error: null, updatedAt: at })
    .where(
      and(
        eq(syncEvents.workspaceId, workspaceId),
        eq(syncEvents.status, "pending"),
        isNull(syncEvents.dataSourceId),
        inArray(syncEvents.id, ids),
      ),
    )
    .returning({ id: syncEvents.id });
}

/**
 * Writes that stopped moving: pending or processing, with a sink, untouched since `before` (a job whose
 * message was lost, or whose delivery died on its last attempt). Touching `updated_at` guarded by the
 * value read means two sweeps never both resume one.
 */
export async function resumeStuck(db: Db, workspaceId: string, before: string, at: string, limit: number) {
  const stuck = await db
    .select({ id: syncEvents.id, updatedAt: syncEvents.updatedAt })
    .from(syncEvents)
    .where(
      and(
        eq(syncEvents.workspaceId, workspaceId),
        inArray(syncEvents.status, ["pending", "processing"]),
        lt(syncEvents.updatedAt, before),
        sql`${syncEvents.dataSourceId} IS NOT NULL`,
      ),
    )
    .orderBy(asc(syncEvents.updatedAt))
    .limit(limit);
  if (stuck.length === 0) return [];
  const results = await db.batch(
    stuck.map((row) =>
      db
        .update(syncEvents)
        .set({ status: "pending", updatedAt: at })
        .where(
          and(
            eq(syncEvents.workspaceId, workspaceId),
            eq(syncEvents.id, row.id),
            eq(syncEvents.updatedAt, row.updatedAt),
          ),
        )
        .returning({ id: syncEvents.id }),
    ) as unknown as [Statement, ...Statement[]],
  );
  return (results as { id: string }[][]).flat().map((r) => r.id);
}

/**
 * Puts writes back in the queue's hands: `pending` again, pointed at `sink` (attempts are kept: they
 * count every try). With no sink they wait for one, saying so in `error`. Guarded by the status that
 * was read; returns the ids it reset.
 */
export function retryStatements(
  db: Db,
  workspaceId: string,
  ids: string[],
  expected: SyncStatus,
  sink: { id: string; sourceSystem: string } | null,
  at: string,
  waitingText: string,
) {
  return chunk(ids, 1, 90).map((part) =>
    db
      .update(syncEvents)
      .set({
        status: "pending",
        ...(sink
          ? { error: null, dataSourceId: sink.id, sourceSystem: sink.sourceSystem }
          : { error: waitingText, dataSourceId: null }),
        updatedAt: at,
      })
      .where(
        and(
          eq(syncEvents.workspaceId, workspaceId),
          inArray(syncEvents.id, part),
          eq(syncEvents.status, expected),
        ),
      )
      .returning({ id: syncEvents.id }),
  );
}

/** Fails its batch when the statement before it changed no row (the row moved since it was read). */
export function abortUnlessChanged(db: Db): Statement {
  return db.run(sql`SELECT CASE WHEN changes() = 0 THEN json('sync event changed concurrently') END`);
}

/** The oldest failed writes, and how many there are in all. */
export async function failedSyncEvents(db: Db, workspaceId: string, limit: number) {
  const where = and(eq(syncEvents.workspaceId, workspaceId), eq(syncEvents.status, "failed"));
  const [rows, total] = await Promise.all([
    db
      .select({ id: syncEvents.id, worldEventId: syncEvents.worldEventId })
      .from(syncEvents)
      .where(where)
      .orderBy(asc(syncEvents.createdAt), asc(syncEvents.id))
      .limit(limit),
    db.$count(syncEvents, where),
  ]);
  return { rows, total };
}

/** The world events of `ids` back to `pending` (their sync events were just retried). */
export function worldEventsPending(db: Db, workspaceId: string, ids: string[]): Statement[] {
  return chunk(ids, 1, 90).map((part) =>
    db
      .update(worldEvents)
      .set({ syncStatus: "pending" })
      .where(and(eq(worldEvents.workspaceId, workspaceId), inArray(worldEvents.id, part))),
  );
}

export interface SyncFilter {
  status?: SyncStatus | undefined;
  dataSourceId?: string | undefined;
  sourceSystem?: string | undefined;
  fhirResourceType?: string | undefined;
  fhirResourceId?: string | undefined;
}

/** The sync log, newest first, with the entities' sealed display names. */
export async function listSyncEvents(
  db: Db,
  workspaceId: string,
  f: SyncFilter,
  limit: number,
  offset: number,
) {
  const where = and(
    eq(syncEvents.workspaceId, workspaceId),
    f.status ? eq(syncEvents.status, f.status) : undefined,
    f.dataSourceId ? eq(syncEvents.dataSourceId, f.dataSourceId) : undefined,
    f.sourceSystem ? eq(syncEvents.sourceSystem, f.sourceSystem) : undefined,
    f.fhirResourceType ? eq(syncEvents.fhirResourceType, f.fhirResourceType) : undefined,
    f.fhirResourceId ? eq(syncEvents.fhirResourceId, f.fhirResourceId) : undefined,
  );
  const [rows, total] = await Promise.all([
    withEntity(db, workspaceId)
      .where(where)
      .orderBy(desc(syncEvents.createdAt), desc(syncEvents.id))
      .limit(limit)
      .offset(offset),
    db.$count(syncEvents, where),
  ]);
  return { rows, total };
}

export async function findSyncEventWithEntity(db: Db, workspaceId: string, id: string) {
  const [row] = await withEntity(db, workspaceId).where(
    and(eq(syncEvents.workspaceId, workspaceId), eq(syncEvents.id, id)),
  );
  return row;
}

/** Sync events joined to their entity's display name (sealed; bound to the entity's id). */
function withEntity(db: Db, workspaceId: string) {
  return db
    .select({ event: syncEvents, displayNameEnc: worldEntities.displayNameEnc })
    .from(syncEvents)
    .leftJoin(
      worldEntities,
      and(eq(worldEntities.workspaceId, workspaceId), eq(worldEntities.id, syncEvents.entityId)),
    );
}
