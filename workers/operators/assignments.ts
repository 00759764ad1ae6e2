/**
 * An operator's part in a call, as `operator_assignments` records it: when the call asked for a person,
 * when each operator connected, took over, handed back and transferred, how long they were in control,
 * and their wrap-up (outcome, and notes sealed with the workspace key). Metrics are SQL over these rows.
 *
 * One row per operator per call. A call that escalates before anyone joins gets a row with no operator
 * (`recordEscalation`); the first operator to connect takes that row, so escalation → connect is on one
 * row, and later operators get rows of their own. Everything but `recordEscalation` is a statement for
 * `audited(c, event, statements)`, so a change and its audit row land together; each is written so that
 * sending it twice changes nothing the second time (reconnects, retried batches).
 */
import { and, eq, isNull, sql } from "drizzle-orm";
import { decryptField, encryptField } from "../../shared/crypto/encryption";
import { newId } from "../../shared/ids";
import type { Db, Statement } from "../db/client";
import { operatorAssignments } from "../db/schema";

export type AssignmentRow = typeof operatorAssignments.$inferSelect;
export type WrapupOutcome = NonNullable<AssignmentRow["outcome"]>;

/** Which row: one operator's on one call. */
export interface AssignmentKey {
  workspaceId: string;
  callId: string;
  operatorUserId: string;
}

const t = operatorAssignments;

const ofOperator = (key: AssignmentKey) =>
  and(eq(t.workspaceId, key.workspaceId), eq(t.callId, key.callId), eq(t.operatorUserId, key.operatorUserId));

/**
 * The call asked for a person: a row with no operator yet, holding when and why. Idempotent: a call whose
 * escalation is already recorded (waiting, or taken by the operator who connected first) gets no second row.
 * `at` is an ISO timestamp.
 */
export async function recordEscalation(
  db: Db,
  escalation: { workspaceId: string; callId: string; serviceId: string | null; reason: string; at: string },
): Promise<void> {
  const { workspaceId, callId, serviceId, reason, at } = escalation;
  await db.run(sql`
    INSERT INTO operator_assignments
      (id, workspace_id, call_id, service_id, operator_user_id, escalated_at, escalation_reason, created_at, updated_at)
    SELECT ${newId("asg")}, ${workspaceId}, ${callId}, ${serviceId}, NULL, ${at}, ${reason}, ${at}, ${at}
    WHERE NOT EXISTS (
      SELECT 1 FROM operator_assignments
      WHERE workspace_id = ${workspaceId} AND call_id = ${callId} AND escalated_at IS NOT NULL
    )`);
}

/**
 * An operator joined the call (listen socket or `connect`): the first one takes the waiting escalation row,
 * anyone else gets a row of their own. `connected_at` is written once; a reconnect changes nothing.
 */
export function connectStatements(
  db: Db,
  key: AssignmentKey & { serviceId: string | null },
  at: string,
): Statement[] {
  const waiting = sql`(SELECT id FROM operator_assignments
    WHERE workspace_id = ${key.workspaceId} AND call_id = ${key.callId} AND operator_user_id IS NULL
    ORDER BY created_at LIMIT 1)`;
  const alreadyHere = sql`EXISTS (SELECT 1 FROM operator_assignments
    WHERE workspace_id = ${key.workspaceId} AND call_id = ${key.callId} AND operator_user_id = ${key.operatorUserId})`;
  return [
    db
      .update(t)
      .set({ operatorUserId: key.operatorUserId, connectedAt: at, updatedAt: at })
      .where(and(eq(t.id, waiting), sql`NOT ${alreadyHere}`)),
    // Matches the (workspace, call, operator) unique index when the row above was taken or already there.
    db
      .insert(t)
      .values({
        id: newId("asg"),
        workspaceId: key.workspaceId,
        callId: key.callId,
        serviceId: key.serviceId,
        operatorUserId: key.operatorUserId,
        connectedAt: at,
        createdAt: at,
        updatedAt: at,
      })
      .onConflictDoNothing(),
  ];
}

/** Whether the row says its operator is in control now (took over and has not handed back since). */
const inControl = sql`(${t.takeoverAt} IS NOT NULL AND (${t.handbackAt} IS NULL OR ${t.handbackAt} < ${t.takeoverAt}))`;

/** Milliseconds from the row's takeover to `at`. */
const sinceTakeover = (at: string) =>
  sql`CAST(round((julianday(${at}) - julianday(${t.takeoverAt})) * 86400000) AS INTEGER)`;

/**
 * The operator took control (joining the call first when they had not). A repeated takeover while in
 * control keeps the first one's time, so `active_ms` counts from when control really moved.
 */
export function takeoverStatements(
  db: Db,
  key: AssignmentKey & { serviceId: string | null },
  at: string,
): Statement[] {
  return [
    ...connectStatements(db, key, at),
    db
      .update(t)
      .set({ takeoverAt: at, updatedAt: at })
      .where(and(ofOperator(key), sql`NOT ${inControl}`)),
  ];
}

/** The operator handed the call back to the agent: the time in control since the takeover is added up. */
export function handbackStatement(db: Db, key: AssignmentKey, at: string): Statement {
  return db
    .update(t)
    .set({ handbackAt: at, activeMs: sql`${t.activeMs} + ${sinceTakeover(at)}`, updatedAt: at })
    .where(and(ofOperator(key), inControl));
}

/** The operator sent the call on to another line (the first request's time is kept). */
export function transferStatements(
  db: Db,
  key: AssignmentKey & { serviceId: string | null },
  at: string,
): Statement[] {
  return [
    ...connectStatements(db, key, at),
    db
      .update(t)
      .set({ transferredAt: at, updatedAt: at })
      .where(and(ofOperator(key), isNull(t.transferredAt))),
  ];
}

/**
 * The operator's wrap-up: on their row, made now when they never joined (a call handled another way). The
 * update matches nothing once wrapped up, so follow these with `abortUnlessChanged` to make a second
 * wrap-up fail its batch. An operator still in control when the call ended gets that time counted up to
 * `endedAt` (the call's end, or the wrap-up when the end is not known).
 */
export function wrapupStatements(
  db: Db,
  key: AssignmentKey & { serviceId: string | null },
  wrapup: { outcome: WrapupOutcome; notesEnc: string | null; at: string; endedAt: string | null },
): Statement[] {
  const until = wrapup.endedAt ?? wrapup.at;
  return [
    db
      .insert(t)
      .values({
        id: newId("asg"),
        workspaceId: key.workspaceId,
        callId: key.callId,
        serviceId: key.serviceId,
        operatorUserId: key.operatorUserId,
        createdAt: wrapup.at,
        updatedAt: wrapup.at,
      })
      .onConflictDoNothing(),
    db
      .update(t)
      .set({
        outcome: wrapup.outcome,
        notesEnc: wrapup.notesEnc,
        wrappedAt: wrapup.at,
        activeMs: sql`${t.activeMs} + CASE WHEN ${inControl} THEN max(0, ${sinceTakeover(until)}) ELSE 0 END`,
        handbackAt: sql`CASE WHEN ${inControl} THEN ${until} ELSE ${t.handbackAt} END`,
        updatedAt: wrapup.at,
      })
      .where(and(ofOperator(key), isNull(t.wrappedAt))),
  ];
}

/** One operator's row on a call. */
export async function findAssignment(db: Db, key: AssignmentKey): Promise<AssignmentRow | undefined> {
  const [row] = await db.select().from(t).where(ofOperator(key)).limit(1);
  return row;
}

/** Every row of a call (escalation first), for tests and the call's detail. */
export function callAssignments(db: Db, workspaceId: string, callId: string): Promise<AssignmentRow[]> {
  return db
    .select()
    .from(t)
    .where(and(eq(t.workspaceId, workspaceId), eq(t.callId, callId)))
    .orderBy(t.createdAt, t.id);
}

/**
 * Wrap-up notes are PHI: sealed with the workspace key and bound to their row's call and operator (the
 * row's unique key), so sealed notes copied to another row do not open.
 */
const notesField = (key: AssignmentKey) => `operator_assignments.notes:${key.callId}:${key.operatorUserId}`;

export const sealNotes = (encryptionKey: string, key: AssignmentKey, notes: string) =>
  encryptField(encryptionKey, key.workspaceId, notesField(key), notes);

export const openNotes = (encryptionKey: string, key: AssignmentKey, sealed: string) =>
  decryptField(encryptionKey, key.workspaceId, notesField(key), sealed);
