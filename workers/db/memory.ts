/**
 * Memory data access: L2 patterns (`memory_patterns`), the patients whose interactions changed since
 * their patterns were computed, and the one read the L3 model needs (entity, workspace settings and
 * stored patterns, joined).
 */
import { and, asc, eq, gt, inArray, isNull, or, sql } from "drizzle-orm";
import type { Db, Statement } from "./client";
import { memoryPatterns, workspaces, worldEntities, worldEvents } from "./schema";

/** The events memory patterns are computed from. */
export const PATTERN_EVENT_TYPES = ["interaction.recorded", "task.recorded"];

export function listWorkspaces(db: Db) {
  return db
    .select({ id: workspaces.id, timezone: workspaces.timezone })
    .from(workspaces)
    .orderBy(asc(workspaces.id));
}

/**
 * Patients of one workspace with interaction or task events ingested after `since` and after their
 * patterns were last computed, least recently changed first. Events of a merged entity count for the
 * entity it was merged into. The `since` bound keeps the scan on the `(workspace_id, ingested_at)` index.
 */
export async function patientsWithNewInteractions(
  db: Db,
  workspaceId: string,
  since: string,
  limit: number,
): Promise<string[]> {
  const canonical = sql<string>`coalesce(${worldEntities.mergedInto}, ${worldEvents.entityId})`;
  const lastIngested = sql<string>`max(${worldEvents.ingestedAt})`;
  const rows = await db
    .select({ entityId: canonical, lastIngested })
    .from(worldEvents)
    .innerJoin(
      worldEntities,
      and(eq(worldEntities.workspaceId, worldEvents.workspaceId), eq(worldEntities.id, worldEvents.entityId)),
    )
    .leftJoin(
      memoryPatterns,
      and(eq(memoryPatterns.workspaceId, worldEvents.workspaceId), eq(memoryPatterns.entityId, canonical)),
    )
    .where(
      and(
        eq(worldEvents.workspaceId, workspaceId),
        gt(worldEvents.ingestedAt, since),
        eq(worldEvents.entityType, "patient"),
        inArray(worldEvents.eventType, PATTERN_EVENT_TYPES),
        or(isNull(memoryPatterns.computedAt), gt(worldEvents.ingestedAt, memoryPatterns.computedAt)),
      ),
    )
    .groupBy(canonical)
    .orderBy(asc(lastIngested), asc(canonical))
    .limit(limit);
  return rows.map((r) => r.entityId);
}

export function upsertPatterns(
  db: Db,
  rows: { workspaceId: string; entityId: string; patterns: Record<string, unknown>; computedAt: string }[],
): Statement[] {
  return rows.map((row) =>
    db
      .insert(memoryPatterns)
      .values(row)
      .onConflictDoUpdate({
        target: [memoryPatterns.workspaceId, memoryPatterns.entityId],
        set: { patterns: row.patterns, computedAt: row.computedAt },
      }),
  );
}

export function findPatterns(db: Db, workspaceId: string, entityId: string) {
  return db.query.memoryPatterns.findFirst({
    where: and(eq(memoryPatterns.workspaceId, workspaceId), eq(memoryPatterns.entityId, entityId)),
  });
}

/**
 * Everything the L3 read needs from D1 in one query: the entity (and the entity it was merged into),
 * the workspace's time zone and world settings, and the canonical entity's stored patterns.
 */
export async function memoryContext(db: Db, workspaceId: string, entityId: string) {
  const canonical = sql<string>`coalesce(${worldEntities.mergedInto}, ${worldEntities.id})`;
  const [row] = await db
    .select({
      entityType: worldEntities.entityType,
      canonicalId: canonical,
      timezone: workspaces.timezone,
      worldSettings: workspaces.worldSettings,
      patterns: memoryPatterns.patterns,
      computedAt: memoryPatterns.computedAt,
    })
    .from(worldEntities)
    .innerJoin(workspaces, eq(workspaces.id, worldEntities.workspaceId))
    .leftJoin(
      memoryPatterns,
      and(eq(memoryPatterns.workspaceId, worldEntities.workspaceId), eq(memoryPatterns.entityId, canonical)),
    )
    .where(and(eq(worldEntities.workspaceId, workspaceId), eq(worldEntities.id, entityId)));
  return row;
}
