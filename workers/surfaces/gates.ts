/**
 * Fatigue gates: before a surface is made (by the agent's `create_surface` tool or the gap scanner), the
 * patient's history decides whether it is sent, not sent, or asked for verbally on the next call instead,
 * and on which channel: the one the patient actually completes surfaces on.
 *
 * The verdict is a pure function of the workspace's gates and the patient's history (`gateVerdict`), so
 * the scanner's dry run reaches exactly the real run's decisions; `decide` loads both, judges, and
 * records the decision with its reason in `gate_decisions`. The history is one aggregate over the
 * patient's surfaces (indexed on workspace, entity, status), never their specs.
 */

import { and, desc, eq, sql } from "drizzle-orm";
import { newId } from "../../shared/ids";
import { PENDING_STATUSES, SURFACE_CHANNELS, SurfaceGates } from "../../shared/schemas/surface-settings";
import { type Db, database } from "../db/client";
import { gateDecisions, surfaceSettings, surfaces } from "../db/schema";
import type { SurfaceChannel } from "./contracts";

export type GateDecision = "allow" | "block" | "verbal";

/** What the gates know about a patient's surfaces. */
export interface PatientHistory {
  /** Created, delivered, opened or partial. */
  pending: number;
  completed: number;
  /** No longer open: completed, expired or archived. */
  closed: number;
  lastCreatedAt: string | null;
  /** Completed surfaces per channel, with the time of the latest. */
  completedByChannel: Partial<Record<SurfaceChannel, { count: number; lastAt: string }>>;
}

export interface GateRequest {
  requestedChannel: SurfaceChannel;
  runId?: string;
  requirementId?: string;
  /** Surfaces the caller already made in this run (the scanner's per-run cap); 0 outside a run. */
  surfacesThisRun: number;
}

export interface GateVerdict {
  decision: GateDecision;
  reason: string;
  channel: SurfaceChannel;
}

export async function loadGates(db: Db, workspaceId: string): Promise<SurfaceGates> {
  const [row] = await db
    .select({ gates: surfaceSettings.gates })
    .from(surfaceSettings)
    .where(eq(surfaceSettings.workspaceId, workspaceId));
  // Stored settings were valid when written; a default added since fills in.
  const parsed = SurfaceGates.safeParse(row?.gates ?? {});
  return parsed.success ? parsed.data : SurfaceGates.parse({});
}

export async function loadGateSettings(db: Db, workspaceId: string) {
  const [row] = await db.select().from(surfaceSettings).where(eq(surfaceSettings.workspaceId, workspaceId));
  return { gates: await loadGates(db, workspaceId), updatedAt: row?.updatedAt ?? null };
}

export function saveGates(db: Db, workspaceId: string, gates: SurfaceGates) {
  const updatedAt = new Date().toISOString();
  return db
    .insert(surfaceSettings)
    .values({ workspaceId, gates, updatedAt })
    .onConflictDoUpdate({ target: surfaceSettings.workspaceId, set: { gates, updatedAt } });
}

const isChannel = (c: string): c is SurfaceChannel => (SURFACE_CHANNELS as readonly string[]).includes(c);

/** The patient's surface history: one GROUP BY over their rows. */
export async function patientHistory(db: Db, workspaceId: string, entityId: string): Promise<PatientHistory> {
  const rows = await db
    .select({
      status: surfaces.status,
      channel: surfaces.channel,
      count: sql<number>`count(*)`,
      lastCreatedAt: sql<string>`max(${surfaces.createdAt})`,
      lastCompletedAt: sql<string | null>`max(${surfaces.completedAt})`,
    })
    .from(surfaces)
    .where(and(eq(surfaces.workspaceId, workspaceId), eq(surfaces.entityId, entityId)))
    .groupBy(surfaces.status, surfaces.channel);
  const history: PatientHistory = {
    pending: 0,
    completed: 0,
    closed: 0,
    lastCreatedAt: null,
    completedByChannel: {},
  };
  for (const row of rows) {
    const count = Number(row.count);
    if ((PENDING_STATUSES as readonly string[]).includes(row.status)) history.pending += count;
    else history.closed += count;
    if (history.lastCreatedAt === null || row.lastCreatedAt > history.lastCreatedAt)
      history.lastCreatedAt = row.lastCreatedAt;
    if (row.status === "completed" && isChannel(row.channel)) {
      history.completed += count;
      const lastAt = row.lastCompletedAt ?? row.lastCreatedAt;
      const seen = history.completedByChannel[row.channel];
      history.completedByChannel[row.channel] = {
        count: (seen?.count ?? 0) + count,
        lastAt: seen && seen.lastAt > lastAt ? seen.lastAt : lastAt,
      };
    }
  }
  return history;
}

/** The channel the patient completes most surfaces on (the latest completion breaks a tie), if any. */
export function preferredChannel(history: PatientHistory): SurfaceChannel | null {
  let best: { channel: SurfaceChannel; count: number; lastAt: string } | null = null;
  for (const channel of SURFACE_CHANNELS) {
    const seen = history.completedByChannel[channel];
    if (!seen) continue;
    if (!best || seen.count > best.count || (seen.count === best.count && seen.lastAt > best.lastAt))
      best = { channel, ...seen };
  }
  return best?.channel ?? null;
}

export function completionRate(history: PatientHistory): number | null {
  return history.closed === 0 ? null : history.completed / history.closed;
}

/**
 * The gates in order: the run's cap; unfinished surfaces (verbal at `verbal_after_pending`, blocked at
 * `max_pending_per_patient`); the cooldown since the last surface; the completion rate (once enough are
 * closed). Allowed surfaces go on the channel the patient completes on, else the one requested.
 */
export function gateVerdict(
  gates: SurfaceGates,
  history: PatientHistory,
  request: GateRequest,
  now: Date,
): GateVerdict {
  const preferred = preferredChannel(history);
  const channel = preferred ?? request.requestedChannel;
  const block = (reason: string): GateVerdict => ({ decision: "block", reason, channel });
  if (request.surfacesThisRun >= gates.max_surfaces_per_run)
    return block(
      `run cap: ${request.surfacesThisRun} surfaces already made this run (max ${gates.max_surfaces_per_run})`,
    );
  if (history.pending >= gates.verbal_after_pending)
    return {
      decision: "verbal",
      reason: `${history.pending} unfinished surfaces (verbal at ${gates.verbal_after_pending}): ask on the next call`,
      channel: "voice",
    };
  if (history.pending >= gates.max_pending_per_patient)
    return block(`${history.pending} unfinished surfaces (max ${gates.max_pending_per_patient})`);
  if (history.lastCreatedAt) {
    const hours = (now.getTime() - Date.parse(history.lastCreatedAt)) / 3_600_000;
    if (hours < gates.cooldown_hours)
      return block(`cooldown: last surface ${hours.toFixed(1)} h ago (cooldown ${gates.cooldown_hours} h)`);
  }
  const rate = completionRate(history);
  if (rate !== null && history.closed >= gates.completion_rate_after && rate < gates.min_completion_rate)
    return block(
      `completion rate ${rate.toFixed(2)} over ${history.closed} closed surfaces (min ${gates.min_completion_rate})`,
    );
  const how =
    preferred && preferred !== request.requestedChannel
      ? `on ${preferred}, where the patient completes surfaces (asked for ${request.requestedChannel})`
      : preferred
        ? `on ${preferred}, where the patient completes surfaces`
        : `on ${request.requestedChannel} (no completed surface yet)`;
  return { decision: "allow", reason: `allowed ${how}`, channel };
}

/** The history as it will be once an allowed surface exists (the scanner's later checks in one run). */
export function withNewSurface(history: PatientHistory, at: Date): PatientHistory {
  return { ...history, pending: history.pending + 1, lastCreatedAt: at.toISOString() };
}

export interface DecisionRecord extends GateVerdict {
  entityId: string;
  requirementId?: string | null;
  runId?: string | null;
  surfaceId?: string | null;
  at: Date;
}

export function insertDecision(db: Db, workspaceId: string, record: DecisionRecord, id = newId("gd")) {
  return db.insert(gateDecisions).values({
    id,
    workspaceId,
    entityId: record.entityId,
    requirementId: record.requirementId ?? null,
    runId: record.runId ?? null,
    decision: record.decision,
    reason: record.reason,
    channel: record.channel,
    surfaceId: record.surfaceId ?? null,
    at: record.at.toISOString(),
  });
}

/** Names the surface an allowed decision led to. */
export async function attachSurface(env: Env, workspaceId: string, decisionId: string, surfaceId: string) {
  await database(env.DB)
    .update(gateDecisions)
    .set({ surfaceId })
    .where(and(eq(gateDecisions.workspaceId, workspaceId), eq(gateDecisions.id, decisionId)));
}

/**
 * May `entityId` get a surface now, on which channel, or should the agent ask verbally? Reads the gates
 * and the patient's history, and records the decision with its reason (`decisionId`: attach the surface
 * with `attachSurface` once made).
 */
export async function decide(
  env: Env,
  workspaceId: string,
  entityId: string,
  request: GateRequest,
  now = new Date(),
): Promise<GateVerdict & { decisionId: string }> {
  const db = database(env.DB);
  const [gates, history] = await Promise.all([
    loadGates(db, workspaceId),
    patientHistory(db, workspaceId, entityId),
  ]);
  const verdict = gateVerdict(gates, history, request, now);
  const decisionId = newId("gd");
  await insertDecision(
    db,
    workspaceId,
    { ...verdict, entityId, requirementId: request.requirementId, runId: request.runId, at: now },
    decisionId,
  );
  return { ...verdict, decisionId };
}

/** A page of recorded decisions, newest first. */
export async function listDecisions(
  db: Db,
  workspaceId: string,
  filter: { entityId?: string; decision?: GateDecision; runId?: string },
  limit: number,
  offset: number,
) {
  const where = and(
    eq(gateDecisions.workspaceId, workspaceId),
    filter.entityId ? eq(gateDecisions.entityId, filter.entityId) : undefined,
    filter.decision ? eq(gateDecisions.decision, filter.decision) : undefined,
    filter.runId ? eq(gateDecisions.runId, filter.runId) : undefined,
  );
  const [rows, total] = await Promise.all([
    db
      .select()
      .from(gateDecisions)
      .where(where)
      .orderBy(desc(gateDecisions.at), desc(gateDecisions.id))
      .limit(limit)
      .offset(offset),
    db.$count(gateDecisions, where),
  ]);
  return { rows, total };
}

export function decisionView(row: typeof gateDecisions.$inferSelect) {
  return {
    id: row.id,
    entity_id: row.entityId,
    requirement_id: row.requirementId,
    run_id: row.runId,
    decision: row.decision,
    reason: row.reason,
    channel: row.channel,
    surface_id: row.surfaceId,
    at: row.at,
  };
}
