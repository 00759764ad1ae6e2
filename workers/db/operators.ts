/**
 * Operators (`operators`) and their involvement in calls (`operator_assignments`). Routing reads the
 * operators who are online, of a type, with a skill; metrics are SQL over the assignments.
 */
import { and, asc, eq, type SQL, sql } from "drizzle-orm";
import type { OperatorStatus, OperatorType } from "../../shared/schemas/operators";
import type { Db, Statement } from "./client";
import { afterKey, type Page } from "./paging";
import { abortUnlessChanged } from "./review";
import { calls, memberships, operatorAssignments, operators, services, users } from "./schema";

export type OperatorRow = typeof operators.$inferSelect;

/** Whether the user is still a member who may take calls (operator role or above). */
const takesCalls = sql`exists (select 1 from ${memberships} m where m.workspace_id = ${operators.workspaceId}
  and m.user_id = ${operators.userId} and m.role in ('operator', 'admin', 'owner'))`;

/**
 * Who can take an escalation now: online operators of the type, with the skill when one is asked for,
 * the one whose status changed longest ago first (the longest idle). An operator who has since left the
 * workspace, or been made a viewer, is not routed to.
 */
export async function availableOperators(
  db: Db,
  workspaceId: string,
  want: { type: OperatorType; skill: string | null },
): Promise<OperatorRow[]> {
  return db
    .select()
    .from(operators)
    .where(
      and(
        eq(operators.workspaceId, workspaceId),
        eq(operators.status, "online"),
        eq(operators.type, want.type),
        want.skill
          ? sql`exists (select 1 from json_each(${operators.skills}) where json_each.value = ${want.skill})`
          : undefined,
        takesCalls,
      ),
    )
    .orderBy(asc(operators.statusChangedAt));
}

/**
 * Set an operator's status (a statement, for `audited(c, event, [statement])` or a batch). `status_changed_at`
 * moves only when the status really changes, so re-sending "online" keeps the operator's place in routing.
 * Matches nothing when the user is not an operator of the workspace.
 */
export function setOperatorStatus(
  db: Db,
  workspaceId: string,
  userId: string,
  status: OperatorStatus,
  at = new Date(),
): Statement {
  const iso = at.toISOString();
  return db
    .update(operators)
    .set({
      status,
      statusChangedAt: sql`case when ${operators.status} = ${status} then ${operators.statusChangedAt} else ${iso} end`,
      updatedAt: iso,
    })
    .where(and(eq(operators.workspaceId, workspaceId), eq(operators.userId, userId)));
}

/** Calls the operator is connected to now: connected and not wrapped up. */
const activeCalls = sql<number>`(select count(*) from ${operatorAssignments} a
  where a.workspace_id = ${operators.workspaceId} and a.operator_user_id = ${operators.userId}
  and a.connected_at is not null and a.wrapped_at is null)`;

/** An operator as the API shows one: the registry row with the user's name and email and their live calls. */
const operatorColumns = {
  userId: operators.userId,
  name: users.name,
  email: users.email,
  type: operators.type,
  skills: operators.skills,
  status: operators.status,
  statusChangedAt: operators.statusChangedAt,
  activeCalls,
  createdAt: operators.createdAt,
  updatedAt: operators.updatedAt,
};

export interface OperatorView {
  userId: string;
  name: string;
  email: string;
  type: OperatorType;
  skills: string[];
  status: OperatorStatus;
  statusChangedAt: string;
  activeCalls: number;
  createdAt: string;
  updatedAt: string;
}

export interface OperatorFilter {
  status?: OperatorStatus | undefined;
  type?: OperatorType | undefined;
}

/** A page of the registry in registration order (created_at, user_id), with the filtered total. */
export async function listOperatorsPage(
  db: Db,
  workspaceId: string,
  filter: OperatorFilter,
  page: Page,
): Promise<{ rows: OperatorView[]; total: number }> {
  const where = and(
    eq(operators.workspaceId, workspaceId),
    filter.status ? eq(operators.status, filter.status) : undefined,
    filter.type ? eq(operators.type, filter.type) : undefined,
  );
  const [rows, total] = await Promise.all([
    db
      .select(operatorColumns)
      .from(operators)
      .innerJoin(users, eq(users.id, operators.userId))
      .where(and(where, afterKey(operators.createdAt, operators.userId, page.after)))
      .orderBy(asc(operators.createdAt), asc(operators.userId))
      .limit(page.limit)
      .offset(page.after ? 0 : page.offset),
    db.$count(operators, where),
  ]);
  return { rows, total };
}

export async function findOperator(
  db: Db,
  workspaceId: string,
  userId: string,
): Promise<OperatorView | undefined> {
  const [row] = await db
    .select(operatorColumns)
    .from(operators)
    .innerJoin(users, eq(users.id, operators.userId))
    .where(and(eq(operators.workspaceId, workspaceId), eq(operators.userId, userId)))
    .limit(1);
  return row;
}

export function insertOperator(
  db: Db,
  row: { workspaceId: string; userId: string; type: OperatorType; skills: string[] },
  at = new Date(),
): Statement {
  const iso = at.toISOString();
  return db
    .insert(operators)
    .values({ ...row, status: "offline", statusChangedAt: iso, createdAt: iso, updatedAt: iso });
}

export function updateOperator(
  db: Db,
  workspaceId: string,
  userId: string,
  change: { type?: OperatorType | undefined; skills?: string[] | undefined },
  at = new Date(),
): Statement {
  return db
    .update(operators)
    .set({ type: change.type, skills: change.skills, updatedAt: at.toISOString() })
    .where(and(eq(operators.workspaceId, workspaceId), eq(operators.userId, userId)));
}

/**
 * Removes an operator unless they are connected to a call: the delete matches nothing while a call is
 * active, and `abortUnlessChanged` then fails the batch, so its audit row is not written either.
 */
export function deleteOperatorStatements(db: Db, workspaceId: string, userId: string): Statement[] {
  return [
    db
      .delete(operators)
      .where(
        and(eq(operators.workspaceId, workspaceId), eq(operators.userId, userId), sql`${activeCalls} = 0`),
      ),
    abortUnlessChanged(db),
  ];
}

/**
 * A member who leaves the workspace, or becomes a viewer, stops being an operator with the same change
 * (their past work stays in `operator_assignments`, and so in the metrics).
 */
export function dropOperatorStatement(db: Db, workspaceId: string, userId: string): Statement {
  return db
    .delete(operators)
    .where(and(eq(operators.workspaceId, workspaceId), eq(operators.userId, userId)));
}

// ---------------------------------------------------------------------------------------------------------
// Metrics: aggregates in SQL over the window's rows (the workspace/created_at and workspace/started_at
// indexes bound them); medians by row_number() over the ordered durations.

export interface MetricsWindow {
  from: string;
  to: string;
  /** false: leave out calls placed with the phone simulator (and operators' work on them). */
  includeSimulated: boolean;
}

/** Milliseconds between two ISO timestamps, rounded (julianday keeps about 50 µs of precision). */
const msBetween = (from: SQL, to: SQL) => sql`round((julianday(${to}) - julianday(${from})) * 86400000)`;

/** The window's assignment rows: one CTE the aggregates below read. */
function windowRows(workspaceId: string, w: MetricsWindow, simulator: string): SQL {
  return sql`select a.* from ${operatorAssignments} a
    where a.workspace_id = ${workspaceId} and a.created_at >= ${w.from} and a.created_at < ${w.to}
    ${w.includeSimulated ? sql`` : sql`and not exists (select 1 from ${calls} c where c.id = a.call_id and c.provider = ${simulator})`}`;
}

/**
 * The median of `value` per `key` over `rows` (a subquery with `key` and `value` columns, nulls left out):
 * the middle row, or the mean of the two middle rows.
 */
function medianBy(rows: SQL): SQL {
  return sql`select key, avg(value) as median from (
      select key, value,
        row_number() over (partition by key order by value) as rn,
        count(*) over (partition by key) as n
      from (${rows}) where value is not null
    ) where rn in ((n + 1) / 2, (n + 2) / 2) group by key`;
}

export interface OperatorMetricsRow {
  userId: string;
  name: string;
  calls: number;
  resolutions: number;
  medianTimeToConnectMs: number | null;
  medianHandleMs: number | null;
  activeMs: number;
}

/**
 * Per operator: every registered operator (zeros when idle) and anyone else who worked in the window
 * (an operator since removed keeps their numbers). Calls are the operator's assignment rows.
 */
export async function operatorMetrics(
  db: Db,
  workspaceId: string,
  w: MetricsWindow,
  simulator: string,
): Promise<OperatorMetricsRow[]> {
  const rows = windowRows(workspaceId, w, simulator);
  const connect = msBetween(sql`escalated_at`, sql`connected_at`);
  const handle = msBetween(sql`connected_at`, sql`wrapped_at`);
  const result = await db.all<{
    user_id: string;
    name: string;
    calls: number;
    resolutions: number;
    median_ttc: number | null;
    median_handle: number | null;
    active_ms: number;
  }>(sql`
    with w as (${rows}),
    who as (
      select user_id from ${operators} where workspace_id = ${workspaceId}
      union select operator_user_id from w where operator_user_id is not null
    ),
    stats as (
      select operator_user_id as key, count(*) as calls,
        sum(case when outcome = 'resolved' then 1 else 0 end) as resolutions,
        sum(active_ms) as active_ms
      from w where operator_user_id is not null group by operator_user_id
    ),
    ttc as (${medianBy(sql`select operator_user_id as key, ${connect} as value from w where operator_user_id is not null`)}),
    handled as (${medianBy(sql`select operator_user_id as key, ${handle} as value from w where operator_user_id is not null`)})
    select who.user_id, coalesce(u.name, '') as name,
      coalesce(stats.calls, 0) as calls, coalesce(stats.resolutions, 0) as resolutions,
      ttc.median as median_ttc, handled.median as median_handle, coalesce(stats.active_ms, 0) as active_ms
    from who
    left join ${users} u on u.id = who.user_id
    left join stats on stats.key = who.user_id
    left join ttc on ttc.key = who.user_id
    left join handled on handled.key = who.user_id
    order by coalesce(stats.calls, 0) desc, name, who.user_id`);
  return result.map((r) => ({
    userId: r.user_id,
    name: r.name,
    calls: Number(r.calls),
    resolutions: Number(r.resolutions),
    medianTimeToConnectMs: r.median_ttc === null ? null : Number(r.median_ttc),
    medianHandleMs: r.median_handle === null ? null : Number(r.median_handle),
    activeMs: Number(r.active_ms),
  }));
}

export interface MetricsTotals {
  escalations: number;
  connected: number;
  resolutions: number;
  medianTimeToConnectMs: number | null;
}

/**
 * The window's escalations (one row per escalated call), how many an operator connected to, resolutions
 * across all operators, and the median wait from escalation to an operator.
 */
export async function metricsTotals(
  db: Db,
  workspaceId: string,
  w: MetricsWindow,
  simulator: string,
): Promise<MetricsTotals> {
  const rows = windowRows(workspaceId, w, simulator);
  const connect = msBetween(sql`escalated_at`, sql`connected_at`);
  const [r] = await db.all<{
    escalations: number;
    connected: number;
    resolutions: number;
    median_ttc: number | null;
  }>(sql`
    with w as (${rows}),
    ttc as (${medianBy(sql`select 'all' as key, ${connect} as value from w`)})
    select
      coalesce(sum(case when escalated_at is not null then 1 else 0 end), 0) as escalations,
      coalesce(sum(case when escalated_at is not null and connected_at is not null then 1 else 0 end), 0) as connected,
      coalesce(sum(case when outcome = 'resolved' then 1 else 0 end), 0) as resolutions,
      (select median from ttc) as median_ttc
    from w`);
  return {
    escalations: Number(r?.escalations ?? 0),
    connected: Number(r?.connected ?? 0),
    resolutions: Number(r?.resolutions ?? 0),
    medianTimeToConnectMs: r?.median_ttc == null ? null : Number(r.median_ttc),
  };
}

export interface ServiceMetricsRow {
  serviceId: string;
  name: string;
  calls: number;
  escalated: number;
}

/** Per service: its calls started in the window and how many of them escalated (`calls.escalated`). */
export async function serviceEscalations(
  db: Db,
  workspaceId: string,
  w: MetricsWindow,
  simulator: string,
): Promise<ServiceMetricsRow[]> {
  const rows = await db.all<{ id: string; name: string; calls: number; escalated: number }>(sql`
    with counts as (
      select service_id, count(*) as calls, sum(escalated) as escalated from ${calls}
      where workspace_id = ${workspaceId} and started_at >= ${w.from} and started_at < ${w.to}
        and service_id is not null
        ${w.includeSimulated ? sql`` : sql`and provider <> ${simulator}`}
      group by service_id
    )
    select s.id, s.name, coalesce(counts.calls, 0) as calls, coalesce(counts.escalated, 0) as escalated
    from ${services} s left join counts on counts.service_id = s.id
    where s.workspace_id = ${workspaceId}
    order by s.created_at, s.id`);
  return rows.map((r) => ({
    serviceId: r.id,
    name: r.name,
    calls: Number(r.calls),
    escalated: Number(r.escalated),
  }));
}
