/**
 * Surface analytics: completion rates by channel, time to complete (median and p90, from creation and
 * from delivery), field-level abandonment (the last field saved on surfaces patients left unfinished) and
 * a patient's history. Every figure is an SQL aggregate over the surfaces' plain columns (status,
 * channel, timestamps, `last_field_key`) on the workspace's created-at index; no spec or answer is opened.
 */
import { and, asc, desc, eq, gte, lte, sql } from "drizzle-orm";
import type { SurfaceAnalytics } from "../../shared/schemas/surface-settings";
import type { Db } from "../db/client";
import { gateDecisions, surfaces } from "../db/schema";
import { completionRate, decisionView, patientHistory, preferredChannel } from "./gates";

const DEFAULT_WINDOW_DAYS = 30;
const TOP_ABANDONMENT = 20;

export interface Window {
  from: string;
  to: string;
}

export function analyticsWindow(query: { from?: string; to?: string }, now = new Date()): Window {
  const to = query.to ? new Date(query.to) : now;
  const from = query.from ? new Date(query.from) : new Date(to.getTime() - DEFAULT_WINDOW_DAYS * 86_400_000);
  return { from: from.toISOString(), to: to.toISOString() };
}

const inWindow = (workspaceId: string, w: Window) =>
  and(eq(surfaces.workspaceId, workspaceId), gte(surfaces.createdAt, w.from), lte(surfaces.createdAt, w.to));

/**
 * Nearest-rank median and p90 of `completed_at - <start>` in seconds, over completed surfaces in the
 * window: a count, then the two ranks read with ORDER BY … LIMIT 1 OFFSET (D1 has no percentile function).
 */
async function durations(db: Db, workspaceId: string, w: Window, start: "created_at" | "delivered_at") {
  const seconds = sql<number>`(julianday(${surfaces.completedAt}) - julianday(${sql.raw(start)})) * 86400.0`;
  const where = and(
    inWindow(workspaceId, w),
    eq(surfaces.status, "completed"),
    sql`${surfaces.completedAt} IS NOT NULL`,
    sql`${sql.raw(start)} IS NOT NULL`,
  );
  const [counted] = await db.select({ n: sql<number>`count(*)` }).from(surfaces).where(where);
  const count = Number(counted?.n ?? 0);
  if (count === 0) return { count, median_seconds: null, p90_seconds: null };
  const at = async (p: number) => {
    const [row] = await db
      .select({ s: seconds })
      .from(surfaces)
      .where(where)
      .orderBy(asc(seconds))
      .limit(1)
      .offset(Math.max(0, Math.ceil(p * count) - 1));
    return row ? Math.round(Number(row.s)) : null;
  };
  const [median, p90] = await Promise.all([at(0.5), at(0.9)]);
  return { count, median_seconds: median, p90_seconds: p90 };
}

export async function surfaceAnalytics(db: Db, workspaceId: string, w: Window): Promise<SurfaceAnalytics> {
  const where = inWindow(workspaceId, w);
  const [byStatusChannel, abandonment, fromCreated, fromDelivered] = await Promise.all([
    db
      .select({ status: surfaces.status, channel: surfaces.channel, n: sql<number>`count(*)` })
      .from(surfaces)
      .where(where)
      .groupBy(surfaces.status, surfaces.channel),
    db
      .select({
        title: surfaces.title,
        templateId: surfaces.templateId,
        fieldKey: surfaces.lastFieldKey,
        n: sql<number>`count(*)`,
      })
      .from(surfaces)
      .where(
        and(
          where,
          sql`${surfaces.status} <> 'completed'`,
          // Stopped somewhere: a field was saved, or the page was opened and left before any.
          sql`(${surfaces.lastFieldKey} IS NOT NULL OR ${surfaces.openedAt} IS NOT NULL)`,
        ),
      )
      .groupBy(surfaces.title, surfaces.templateId, surfaces.lastFieldKey)
      .orderBy(desc(sql`count(*)`), asc(surfaces.title), asc(surfaces.lastFieldKey))
      .limit(TOP_ABANDONMENT),
    durations(db, workspaceId, w, "created_at"),
    durations(db, workspaceId, w, "delivered_at"),
  ]);
  const byStatus: Record<string, number> = {};
  const channels = new Map<string, { total: number; completed: number }>();
  for (const row of byStatusChannel) {
    const n = Number(row.n);
    byStatus[row.status] = (byStatus[row.status] ?? 0) + n;
    const c = channels.get(row.channel) ?? { total: 0, completed: 0 };
    c.total += n;
    if (row.status === "completed") c.completed += n;
    channels.set(row.channel, c);
  }
  const total = Object.values(byStatus).reduce((a, b) => a + b, 0);
  return {
    from: w.from,
    to: w.to,
    total,
    completed: byStatus.completed ?? 0,
    by_status: byStatus,
    by_channel: [...channels.entries()]
      .map(([channel, c]) => ({
        channel,
        total: c.total,
        completed: c.completed,
        completion_rate: c.total === 0 ? null : c.completed / c.total,
      }))
      .sort((a, b) => b.total - a.total || a.channel.localeCompare(b.channel)),
    time_to_complete: { from_created: fromCreated, from_delivered: fromDelivered },
    abandonment: abandonment.map((r) => ({
      title: r.title,
      template_id: r.templateId,
      field_key: r.fieldKey,
      count: Number(r.n),
    })),
  };
}

/** A patient's surfaces (newest first, at most 100), gate figures and latest gate decisions. */
export async function patientSurfaceHistory(db: Db, workspaceId: string, entityId: string) {
  const [history, rows, decisions] = await Promise.all([
    patientHistory(db, workspaceId, entityId),
    db
      .select({
        id: surfaces.id,
        title: surfaces.title,
        status: surfaces.status,
        channel: surfaces.channel,
        answered: surfaces.answeredCount,
        required: surfaces.requiredCount,
        lastFieldKey: surfaces.lastFieldKey,
        createdAt: surfaces.createdAt,
        deliveredAt: surfaces.deliveredAt,
        completedAt: surfaces.completedAt,
      })
      .from(surfaces)
      .where(and(eq(surfaces.workspaceId, workspaceId), eq(surfaces.entityId, entityId)))
      .orderBy(desc(surfaces.createdAt), desc(surfaces.id))
      .limit(100),
    db
      .select()
      .from(gateDecisions)
      .where(and(eq(gateDecisions.workspaceId, workspaceId), eq(gateDecisions.entityId, entityId)))
      .orderBy(desc(gateDecisions.at), desc(gateDecisions.id))
      .limit(20),
  ]);
  return {
    entity_id: entityId,
    pending: history.pending,
    completed: history.completed,
    closed: history.closed,
    completion_rate: completionRate(history),
    preferred_channel: preferredChannel(history),
    last_created_at: history.lastCreatedAt,
    surfaces: rows.map((r) => ({
      id: r.id,
      title: r.title,
      status: r.status,
      channel: r.channel,
      answered: r.answered,
      required: r.required,
      last_field_key: r.lastFieldKey,
      created_at: r.createdAt,
      delivered_at: r.deliveredAt,
      completed_at: r.completedAt,
    })),
    decisions: decisions.map(decisionView),
  };
}
