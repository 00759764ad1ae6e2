/**
 * Surfaces, their answers and the workspace's form templates (`surfaces`, `surface_answers`,
 * `surface_templates`). A surface's spec holds prefilled values and every answer is what a patient typed:
 * both are sealed with the workspace key, bound to their row (and field), so lists and counts never open
 * them. Status only moves forward (`STATUS_RANK`); `expired` and `archived` end any surface that has not
 * ended; each transition is a guarded update that reports whether it moved, so a retry changes nothing.
 */
import { and, asc, count, desc, eq, inArray, lt, or, sql } from "drizzle-orm";
import type { SQLiteUpdateSetSource } from "drizzle-orm/sqlite-core";
import { decryptField, encryptField } from "../../shared/crypto/encryption";
import type { AnswerValue } from "../../shared/surfaces/spec";
import type { Db, Statement } from "./client";
import { surfaceAnswers, surfaces, surfaceTemplates } from "./schema";

export type SurfaceRow = typeof surfaces.$inferSelect;
export type SurfaceTemplateRow = typeof surfaceTemplates.$inferSelect;
export type SurfaceRowStatus = SurfaceRow["status"];

/** The forward order of a surface's life; `expired` and `archived` are reached from any open status. */
export const STATUS_RANK: Record<SurfaceRowStatus, number> = {
  created: 0,
  delivered: 1,
  opened: 2,
  partial: 3,
  completed: 4,
  expired: 5,
  archived: 5,
};
/** Statuses that end a surface: nothing moves it again. */
export const FINAL_STATUSES = ["completed", "expired", "archived"] as const satisfies SurfaceRowStatus[];
export const OPEN_STATUSES = [
  "created",
  "delivered",
  "opened",
  "partial",
] as const satisfies SurfaceRowStatus[];
export const isFinal = (status: SurfaceRowStatus) => (FINAL_STATUSES as readonly string[]).includes(status);

/** The statuses a surface may move to `to` from. */
export function transitionsInto(to: SurfaceRowStatus): SurfaceRowStatus[] {
  if (to === "expired" || to === "archived") return [...OPEN_STATUSES];
  if (to === "partial") return ["created", "delivered", "opened", "partial"];
  return OPEN_STATUSES.filter((from) => STATUS_RANK[from] < STATUS_RANK[to]);
}

// ---------------------------------------------------------------------------------------------------------
// Sealing

export const sealSpec = (key: string, workspaceId: string, surfaceId: string, spec: unknown) =>
  encryptField(key, workspaceId, `surfaces.spec:${surfaceId}`, JSON.stringify(spec));

export async function openSpec(key: string, row: Pick<SurfaceRow, "workspaceId" | "id" | "specEnc">) {
  return JSON.parse(
    await decryptField(key, row.workspaceId, `surfaces.spec:${row.id}`, row.specEnc),
  ) as unknown;
}

const answerField = (surfaceId: string, fieldKey: string) => `surface_answers.value:${surfaceId}:${fieldKey}`;

export const sealAnswer = (
  key: string,
  workspaceId: string,
  surfaceId: string,
  fieldKey: string,
  value: AnswerValue,
) => encryptField(key, workspaceId, answerField(surfaceId, fieldKey), JSON.stringify(value));

// ---------------------------------------------------------------------------------------------------------
// Surfaces

export function insertSurface(db: Db, row: typeof surfaces.$inferInsert): Statement {
  return db.insert(surfaces).values(row);
}

export function findSurface(db: Db, workspaceId: string, surfaceId: string) {
  return db.query.surfaces.findFirst({
    where: and(eq(surfaces.workspaceId, workspaceId), eq(surfaces.id, surfaceId)),
  });
}

/** The one cross-workspace read: a short link names only the surface (its MAC then binds the workspace). */
export function findSurfaceAnyWorkspace(db: Db, surfaceId: string) {
  return db.query.surfaces.findFirst({ where: eq(surfaces.id, surfaceId) });
}

export interface SurfaceFilter {
  status?: SurfaceRowStatus | undefined;
  entityId?: string | undefined;
  channel?: SurfaceRow["channel"] | undefined;
  createdByType?: string | undefined;
  /** Keyset: the (created_at, id) of the last row of the previous page (newest first). */
  before?: [string, string] | undefined;
}

/** A page of a workspace's surfaces, newest first, and how many match the filter. */
export async function listSurfaces(
  db: Db,
  workspaceId: string,
  filter: SurfaceFilter,
  limit: number,
  offset: number,
): Promise<{ rows: SurfaceRow[]; total: number }> {
  const where = and(
    eq(surfaces.workspaceId, workspaceId),
    filter.status ? eq(surfaces.status, filter.status) : undefined,
    filter.entityId ? eq(surfaces.entityId, filter.entityId) : undefined,
    filter.channel ? eq(surfaces.channel, filter.channel) : undefined,
    filter.createdByType ? eq(surfaces.createdByType, filter.createdByType) : undefined,
  );
  const keyset = filter.before
    ? or(
        lt(surfaces.createdAt, filter.before[0]),
        and(eq(surfaces.createdAt, filter.before[0]), lt(surfaces.id, filter.before[1])),
      )
    : undefined;
  const [rows, total] = await Promise.all([
    db
      .select()
      .from(surfaces)
      .where(and(where, keyset))
      .orderBy(desc(surfaces.createdAt), desc(surfaces.id))
      .limit(limit)
      .offset(offset),
    db.$count(surfaces, where),
  ]);
  return { rows, total };
}

/** How many of a patient's surfaces are in each status (for gates and the agent's `list_surfaces`). */
export async function surfaceCountsByStatus(db: Db, workspaceId: string, entityId: string) {
  const rows = await db
    .select({ status: surfaces.status, n: count() })
    .from(surfaces)
    .where(and(eq(surfaces.workspaceId, workspaceId), eq(surfaces.entityId, entityId)))
    .groupBy(surfaces.status);
  return Object.fromEntries(rows.map((r) => [r.status, r.n])) as Partial<Record<SurfaceRowStatus, number>>;
}

/**
 * Moves a surface to `to` when its status allows it (see `transitionsInto`), with any other columns in
 * `set`; returns the rows it changed (none when the move was not allowed or already made).
 */
export function transitionStatement(
  db: Db,
  workspaceId: string,
  surfaceId: string,
  to: SurfaceRowStatus,
  set: SQLiteUpdateSetSource<typeof surfaces> = {},
) {
  return db
    .update(surfaces)
    .set({ ...set, status: to, updatedAt: new Date().toISOString() })
    .where(
      and(
        eq(surfaces.workspaceId, workspaceId),
        eq(surfaces.id, surfaceId),
        inArray(surfaces.status, transitionsInto(to)),
      ),
    )
    .returning({ id: surfaces.id });
}

/** Changes columns of a surface only while it is in one of `statuses` (PATCH: created or delivered). */
export function updateSurfaceWhile(
  db: Db,
  workspaceId: string,
  surfaceId: string,
  statuses: SurfaceRowStatus[],
  set: SQLiteUpdateSetSource<typeof surfaces>,
) {
  return db
    .update(surfaces)
    .set({ ...set, updatedAt: new Date().toISOString() })
    .where(
      and(
        eq(surfaces.workspaceId, workspaceId),
        eq(surfaces.id, surfaceId),
        inArray(surfaces.status, statuses),
      ),
    )
    .returning({ id: surfaces.id });
}

/** Makes `jti` the surface's only working link token. */
export function setTokenJti(db: Db, workspaceId: string, surfaceId: string, jti: string) {
  return db
    .update(surfaces)
    .set({ tokenJti: jti, updatedAt: new Date().toISOString() })
    .where(and(eq(surfaces.workspaceId, workspaceId), eq(surfaces.id, surfaceId)));
}

/** Stops every link of a surface (once: the first revocation's time stays). */
export function revokeLinksStatement(db: Db, workspaceId: string, surfaceId: string, at: string) {
  return db
    .update(surfaces)
    .set({ revokedAt: sql`coalesce(${surfaces.revokedAt}, ${at})`, updatedAt: at })
    .where(and(eq(surfaces.workspaceId, workspaceId), eq(surfaces.id, surfaceId)));
}

/** Open surfaces past their expiry, across workspaces, oldest expiry first (the expiry sweep). */
export function dueForExpiry(db: Db, at: string, limit: number) {
  return db
    .select({ id: surfaces.id, workspaceId: surfaces.workspaceId })
    .from(surfaces)
    .where(and(inArray(surfaces.status, [...OPEN_STATUSES]), lt(surfaces.expiresAt, at)))
    .orderBy(asc(surfaces.expiresAt))
    .limit(limit);
}

// ---------------------------------------------------------------------------------------------------------
// Answers

/** Inserts or replaces one field's sealed answer. */
export function upsertAnswerStatement(
  db: Db,
  row: { workspaceId: string; surfaceId: string; fieldKey: string; valueEnc: string; savedAt: string },
): Statement {
  return db
    .insert(surfaceAnswers)
    .values(row)
    .onConflictDoUpdate({
      target: [surfaceAnswers.surfaceId, surfaceAnswers.fieldKey],
      set: { valueEnc: row.valueEnc, savedAt: row.savedAt },
    });
}

/** Clears one field's answer (the patient emptied it). */
export function deleteAnswerStatement(db: Db, workspaceId: string, surfaceId: string, fieldKey: string) {
  return db
    .delete(surfaceAnswers)
    .where(
      and(
        eq(surfaceAnswers.workspaceId, workspaceId),
        eq(surfaceAnswers.surfaceId, surfaceId),
        eq(surfaceAnswers.fieldKey, fieldKey),
      ),
    );
}

/** A surface's answers, opened. */
export async function listAnswers(
  db: Db,
  key: string,
  workspaceId: string,
  surfaceId: string,
): Promise<Record<string, AnswerValue>> {
  const rows = await db
    .select()
    .from(surfaceAnswers)
    .where(and(eq(surfaceAnswers.workspaceId, workspaceId), eq(surfaceAnswers.surfaceId, surfaceId)));
  const opened = await Promise.all(
    rows.map(
      async (r) =>
        [
          r.fieldKey,
          JSON.parse(
            await decryptField(key, workspaceId, answerField(surfaceId, r.fieldKey), r.valueEnc),
          ) as AnswerValue,
        ] as const,
    ),
  );
  return Object.fromEntries(opened);
}

/**
 * Sets the counts (required grows and shrinks as answers show and hide conditional fields) and where
 * the patient left off, after an answer was saved.
 */
export function setProgressStatement(
  db: Db,
  workspaceId: string,
  surfaceId: string,
  progress: { answered: number; required: number },
  lastFieldKey: string | null,
) {
  return db
    .update(surfaces)
    .set({
      answeredCount: progress.answered,
      requiredCount: progress.required,
      lastFieldKey,
      updatedAt: new Date().toISOString(),
    })
    .where(and(eq(surfaces.workspaceId, workspaceId), eq(surfaces.id, surfaceId)));
}

// ---------------------------------------------------------------------------------------------------------
// Templates

export function insertTemplate(db: Db, row: typeof surfaceTemplates.$inferInsert): Statement {
  return db.insert(surfaceTemplates).values(row);
}

export function findTemplate(db: Db, workspaceId: string, id: string) {
  return db.query.surfaceTemplates.findFirst({
    where: and(eq(surfaceTemplates.workspaceId, workspaceId), eq(surfaceTemplates.id, id)),
  });
}

export function findTemplateByName(db: Db, workspaceId: string, name: string) {
  return db.query.surfaceTemplates.findFirst({
    where: and(eq(surfaceTemplates.workspaceId, workspaceId), eq(surfaceTemplates.name, name)),
  });
}

export async function listTemplates(db: Db, workspaceId: string, limit: number, offset: number) {
  const where = eq(surfaceTemplates.workspaceId, workspaceId);
  const [rows, total] = await Promise.all([
    db
      .select()
      .from(surfaceTemplates)
      .where(where)
      .orderBy(asc(surfaceTemplates.name), asc(surfaceTemplates.id))
      .limit(limit)
      .offset(offset),
    db.$count(surfaceTemplates, where),
  ]);
  return { rows, total };
}
