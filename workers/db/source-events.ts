/**
 * What the inbound connector writes to D1: one `source_events` row per resource version a source
 * delivered (applied, failed or skipped), and the connector's own columns of `data_sources` (the poll
 * lease, the `_lastUpdated` cursors, the last Subscription event number). The admin API owns the rest of
 * `data_sources` (workers/db/data-sources.ts).
 */
import { and, eq, inArray, isNull, lt, ne, or, type SQL, sql } from "drizzle-orm";
import type { Db } from "./client";
import { dataSources, sourceEvents } from "./schema";
import { chunk } from "./world";

export type SourceEventRow = typeof sourceEvents.$inferInsert;

/** A resource version as `source_events` keys it. */
export interface VersionRef {
  resourceType: string;
  resourceId: string;
  versionKey: string;
}

export const versionRef = (v: VersionRef) => `${v.resourceType}/${v.resourceId}/${v.versionKey}`;

/**
 * Which of `versions` the source has delivered before (in any status), as `versionRef` strings. One
 * query per resource type and 90 ids, so the unique index's prefix serves each.
 */
export async function receivedVersions(
  db: Db,
  workspaceId: string,
  dataSourceId: string,
  versions: VersionRef[],
): Promise<Set<string>> {
  const idsByType = new Map<string, Set<string>>();
  for (const v of versions) {
    const ids = idsByType.get(v.resourceType) ?? new Set<string>();
    ids.add(v.resourceId);
    idsByType.set(v.resourceType, ids);
  }
  const queries = [...idsByType].flatMap(([resourceType, ids]) =>
    chunk([...ids], 1, 90).map((part) =>
      db
        .select({
          resourceType: sourceEvents.resourceType,
          resourceId: sourceEvents.resourceId,
          versionKey: sourceEvents.versionKey,
        })
        .from(sourceEvents)
        .where(
          and(
            eq(sourceEvents.workspaceId, workspaceId),
            eq(sourceEvents.dataSourceId, dataSourceId),
            eq(sourceEvents.resourceType, resourceType),
            inArray(sourceEvents.resourceId, part),
          ),
        ),
    ),
  );
  const found = new Set<string>();
  if (queries.length === 0) return found;
  const results = await db.batch(queries as [(typeof queries)[number], ...typeof queries]);
  for (const rows of results) for (const row of rows) found.add(versionRef(row));
  return found;
}

/**
 * Inserts the rows (a version already recorded is skipped, by the unique index) and returns the ids of
 * the rows that went in: a concurrent delivery of the same version may have recorded it first.
 */
export async function insertSourceEvents(db: Db, rows: SourceEventRow[]): Promise<Set<string>> {
  const inserted = new Set<string>();
  if (rows.length === 0) return inserted;
  const statements = chunk(rows, 12).map((part) =>
    db.insert(sourceEvents).values(part).onConflictDoNothing().returning({ id: sourceEvents.id }),
  );
  const results = await db.batch(statements as [(typeof statements)[number], ...typeof statements]);
  for (const returned of results) for (const row of returned) inserted.add(row.id);
  return inserted;
}

const sourceWhere = (workspaceId: string, id: string) =>
  and(eq(dataSources.workspaceId, workspaceId), eq(dataSources.id, id));

/**
 * Takes the poll lease: marks the source `polling` with `last_poll_started_at = lease` unless another
 * poll holds it. A lease older than `staleBefore` is a crashed poll's and is taken over; `heldLease` lets
 * a poll's own continuation renew it. Returns whether the lease was taken.
 */
export async function claimPoll(
  db: Db,
  workspaceId: string,
  id: string,
  lease: string,
  staleBefore: string,
  heldLease?: string,
): Promise<boolean> {
  const free: (SQL | undefined)[] = [
    ne(dataSources.status, "polling"),
    isNull(dataSources.lastPollStartedAt),
    lt(dataSources.lastPollStartedAt, staleBefore),
  ];
  if (heldLease) free.push(eq(dataSources.lastPollStartedAt, heldLease));
  const rows = await db
    .update(dataSources)
    .set({ status: "polling", lastPollStartedAt: lease, updatedAt: lease })
    .where(and(sourceWhere(workspaceId, id), eq(dataSources.enabled, true), or(...free)))
    .returning({ id: dataSources.id });
  return rows.length === 1;
}

/**
 * Saves the cursors after a page, while the lease is still ours (a poll declared crashed and taken over
 * must not move the cursors of the poll that replaced it).
 */
export async function saveCursors(
  db: Db,
  workspaceId: string,
  id: string,
  lease: string,
  cursors: Record<string, unknown>,
): Promise<boolean> {
  const rows = await db
    .update(dataSources)
    .set({ cursors })
    .where(and(sourceWhere(workspaceId, id), eq(dataSources.lastPollStartedAt, lease)))
    .returning({ id: dataSources.id });
  return rows.length === 1;
}

/** Releases the lease: `idle` after a complete poll, `error` with a text (no PHI) after a failed one. */
export function finishPoll(
  db: Db,
  workspaceId: string,
  id: string,
  lease: string,
  outcome: { ok: true } | { ok: false; error: string },
): Promise<unknown> {
  const at = new Date().toISOString();
  return db
    .update(dataSources)
    .set(
      outcome.ok
        ? { status: "idle", lastError: null, lastPollAt: at, lastSuccessAt: at, updatedAt: at }
        : { status: "error", lastError: outcome.error.slice(0, 500), lastPollAt: at, updatedAt: at },
    )
    .where(and(sourceWhere(workspaceId, id), eq(dataSources.lastPollStartedAt, lease)));
}

/**
 * Records that a notification arrived, and the highest Subscription event number seen. `resetTo` (a
 * handshake's count) replaces the number instead, since a new subscription counts from zero again.
 */
export async function recordNotification(
  db: Db,
  workspaceId: string,
  id: string,
  at: string,
  eventNumber: { max: number } | { resetTo: number } | null,
): Promise<void> {
  const number =
    eventNumber === null
      ? {}
      : "resetTo" in eventNumber
        ? { lastEventNumber: eventNumber.resetTo }
        : {
            lastEventNumber: sql`max(coalesce(${dataSources.lastEventNumber}, 0), ${eventNumber.max})`,
          };
  await db
    .update(dataSources)
    .set({ lastNotificationAt: at, ...number })
    .where(sourceWhere(workspaceId, id));
}
