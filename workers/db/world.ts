/**
 * World-model data access: entities, their blind-indexed identifiers and name terms, events and edges.
 * Values arrive here already encrypted or hashed; this module never sees a key.
 */
import { and, asc, desc, eq, gte, inArray, isNull, or, sql } from "drizzle-orm";
import type { Db, Statement } from "./client";
import { entityIdentifiers, entityTerms, worldEdges, worldEntities, worldEvents } from "./schema";

/** D1 binds at most 100 parameters per statement: multi-row inserts are cut to fit. */
export function chunk<T>(rows: T[], columns: number, maxParams = 100): T[][] {
  const size = Math.max(1, Math.floor(maxParams / columns));
  const out: T[][] = [];
  for (let i = 0; i < rows.length; i += size) out.push(rows.slice(i, i + size));
  return out;
}

export type EntityRow = typeof worldEntities.$inferSelect;
export type EventRow = typeof worldEvents.$inferSelect;

export function findEntity(db: Db, workspaceId: string, id: string) {
  return db.query.worldEntities.findFirst({
    where: and(eq(worldEntities.workspaceId, workspaceId), eq(worldEntities.id, id)),
  });
}

export async function findEntities(db: Db, workspaceId: string, ids: string[]): Promise<EntityRow[]> {
  const parts = await Promise.all(
    chunk(ids, 1, 99).map((part) =>
      db
        .select()
        .from(worldEntities)
        .where(and(eq(worldEntities.workspaceId, workspaceId), inArray(worldEntities.id, part))),
    ),
  );
  return parts.flat();
}

export function insertEntities(db: Db, rows: (typeof worldEntities.$inferInsert)[]): Statement[] {
  return chunk(rows, 11).map((part) => db.insert(worldEntities).values(part).onConflictDoNothing());
}

export interface EntityFilter {
  entityType?: string | undefined;
  source?: string | undefined;
  confidenceMin?: number | undefined;
  /** Only entities whose name has every one of these term hashes (a name search). */
  termHashes?: string[] | undefined;
}

export async function listEntities(
  db: Db,
  workspaceId: string,
  f: EntityFilter,
  limit: number,
  offset: number,
) {
  const where = and(
    eq(worldEntities.workspaceId, workspaceId),
    isNull(worldEntities.mergedInto),
    f.entityType ? eq(worldEntities.entityType, f.entityType) : undefined,
    f.source ? eq(worldEntities.source, f.source) : undefined,
    f.confidenceMin !== undefined ? gte(worldEntities.confidence, f.confidenceMin) : undefined,
    f.termHashes ? inArray(worldEntities.id, withAllTerms(db, workspaceId, f.termHashes)) : undefined,
  );
  const [rows, total] = await Promise.all([
    db
      .select()
      .from(worldEntities)
      .where(where)
      .orderBy(asc(worldEntities.createdAt), asc(worldEntities.id))
      .limit(limit)
      .offset(offset),
    db.$count(worldEntities, where),
  ]);
  return { rows, total };
}

/**
 * The ids of entities having every one of the term hashes (an AND over the query's tokens), as a
 * subquery: a common name can match more entities than D1 binds parameters.
 */
function withAllTerms(db: Db, workspaceId: string, termHashes: string[]) {
  return db
    .select({ entityId: entityTerms.entityId })
    .from(entityTerms)
    .where(and(eq(entityTerms.workspaceId, workspaceId), inArray(entityTerms.termHash, termHashes)))
    .groupBy(entityTerms.entityId)
    .having(sql`count(distinct ${entityTerms.termHash}) = ${termHashes.length}`);
}

export async function findIdentifierHits(
  db: Db,
  workspaceId: string,
  keys: { kind: string; valueHash: string }[],
) {
  // One `IN` list per kind, so each lookup is a range of the (workspace_id, kind, value_hash) primary
  // key; an OR of (kind, hash) pairs made SQLite scan the workspace's identifiers instead.
  const byKind = new Map<string, string[]>();
  for (const k of keys) byKind.set(k.kind, [...(byKind.get(k.kind) ?? []), k.valueHash]);
  const queries = [...byKind].flatMap(([kind, hashes]) =>
    chunk([...new Set(hashes)], 1, 98).map((part) =>
      db
        .select({
          entityId: entityIdentifiers.entityId,
          kind: entityIdentifiers.kind,
          valueHash: entityIdentifiers.valueHash,
        })
        .from(entityIdentifiers)
        .where(
          and(
            eq(entityIdentifiers.workspaceId, workspaceId),
            eq(entityIdentifiers.kind, kind),
            inArray(entityIdentifiers.valueHash, part),
          ),
        ),
    ),
  );
  return (await Promise.all(queries)).flat();
}

export function insertIdentifiers(db: Db, rows: (typeof entityIdentifiers.$inferInsert)[]): Statement[] {
  return chunk(rows, 5).map((part) => db.insert(entityIdentifiers).values(part).onConflictDoNothing());
}

/** Replaces an entity's name terms (its display name changed). */
export function replaceTerms(
  db: Db,
  workspaceId: string,
  entityId: string,
  termHashes: string[],
): Statement[] {
  return replaceTermsOf(db, workspaceId, new Map([[entityId, termHashes]]));
}

/**
 * Replaces the name terms of many entities at once: one delete per 98 entities and multi-row inserts,
 * so an ingest creating hundreds of entities adds a few statements to its batch, not three per entity.
 */
export function replaceTermsOf(
  db: Db,
  workspaceId: string,
  termsByEntity: Map<string, string[]>,
): Statement[] {
  const statements: Statement[] = chunk([...termsByEntity.keys()], 1, 98).map((part) =>
    db
      .delete(entityTerms)
      .where(and(eq(entityTerms.workspaceId, workspaceId), inArray(entityTerms.entityId, part))),
  );
  const rows = [...termsByEntity].flatMap(([entityId, termHashes]) =>
    [...new Set(termHashes)].map((termHash) => ({ workspaceId, termHash, entityId })),
  );
  for (const part of chunk(rows, 3))
    statements.push(db.insert(entityTerms).values(part).onConflictDoNothing());
  return statements;
}

export function updateEntity(
  db: Db,
  workspaceId: string,
  id: string,
  set: Partial<typeof worldEntities.$inferInsert>,
) {
  return db
    .update(worldEntities)
    .set({ ...set, updatedAt: new Date().toISOString() })
    .where(and(eq(worldEntities.workspaceId, workspaceId), eq(worldEntities.id, id)));
}

export async function existingIdempotencyKeys(db: Db, workspaceId: string, keys: string[]) {
  const found = new Map<string, { id: string; entityId: string }>();
  const parts = await Promise.all(
    chunk(keys, 1, 90).map((part) =>
      db
        .select({ key: worldEvents.idempotencyKey, id: worldEvents.id, entityId: worldEvents.entityId })
        .from(worldEvents)
        .where(and(eq(worldEvents.workspaceId, workspaceId), inArray(worldEvents.idempotencyKey, part))),
    ),
  );
  for (const r of parts.flat()) found.set(r.key, { id: r.id, entityId: r.entityId });
  return found;
}

export function insertEvents(db: Db, rows: (typeof worldEvents.$inferInsert)[]): Statement[] {
  return chunk(rows, 18).map((part) => db.insert(worldEvents).values(part).onConflictDoNothing());
}

/** An entity's events, and those of every entity merged into it. */
function ofEntity(_db: Db, workspaceId: string, entityId: string) {
  // One IN list (the entity, then those merged into it) keeps this an index range on
  // (workspace_id, entity_id); `entity_id = ? OR entity_id IN (...)` made SQLite walk the workspace.
  return and(
    eq(worldEvents.workspaceId, workspaceId),
    sql`${worldEvents.entityId} IN (SELECT ${entityId} UNION ALL SELECT id FROM ${worldEntities} WHERE ${worldEntities.workspaceId} = ${workspaceId} AND ${worldEntities.mergedInto} = ${entityId})`,
  );
}

export function listEntityEvents(db: Db, workspaceId: string, entityId: string) {
  return db
    .select()
    .from(worldEvents)
    .where(ofEntity(db, workspaceId, entityId))
    .orderBy(asc(worldEvents.effectiveAt), asc(worldEvents.id));
}

export function countEntityEvents(db: Db, workspaceId: string, entityId: string) {
  return db.$count(worldEvents, ofEntity(db, workspaceId, entityId));
}

export function findEvent(db: Db, workspaceId: string, id: string) {
  return db.query.worldEvents.findFirst({
    where: and(eq(worldEvents.workspaceId, workspaceId), eq(worldEvents.id, id)),
  });
}

export function insertEdges(db: Db, rows: (typeof worldEdges.$inferInsert)[]): Statement[] {
  return chunk(rows, 9).map((part) => db.insert(worldEdges).values(part).onConflictDoNothing());
}

export function listEdges(db: Db, workspaceId: string, entityId: string) {
  return db
    .select()
    .from(worldEdges)
    .where(
      and(
        eq(worldEdges.workspaceId, workspaceId),
        or(eq(worldEdges.fromId, entityId), eq(worldEdges.toId, entityId)),
      ),
    )
    .orderBy(desc(worldEdges.confidence), asc(worldEdges.id));
}

/** `same_as` edges, weakest first: the merges most worth a second look. */
export async function listSameAsEdges(
  db: Db,
  workspaceId: string,
  f: { entityType?: string; confidenceMax?: number },
  limit: number,
  offset: number,
) {
  const where = and(
    eq(worldEdges.workspaceId, workspaceId),
    eq(worldEdges.edgeType, "same_as"),
    f.confidenceMax !== undefined ? sql`${worldEdges.confidence} <= ${f.confidenceMax}` : undefined,
    f.entityType
      ? sql`exists (select 1 from ${worldEntities} e where e.id = ${worldEdges.fromId} and e.entity_type = ${f.entityType})`
      : undefined,
  );
  const [rows, total] = await Promise.all([
    db
      .select()
      .from(worldEdges)
      .where(where)
      .orderBy(asc(worldEdges.confidence), asc(worldEdges.id))
      .limit(limit)
      .offset(offset),
    db.$count(worldEdges, where),
  ]);
  return { rows, total };
}
