/**
 * The sync log's rows (`sync_events`): one per write to the EHR. Writers insert with the row's
 * idempotency key, so scheduling one write twice leaves one row.
 */
import { and, eq } from "drizzle-orm";
import type { Db } from "./client";
import { syncEvents } from "./schema";

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
