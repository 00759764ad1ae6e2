/**
 * Operator metrics from assignment and call rows written straight to D1, checked against numbers worked
 * out by hand: per operator calls, resolutions, median time to connect and handle time (odd and even
 * counts), time in control; per service the escalation rate; the totals; the window; simulated calls left
 * out unless asked for.
 */
import { beforeAll, describe, expect, it } from "vitest";
import { newId } from "../../shared/ids";
import { SIMULATOR_PROVIDER } from "../../workers/api/simulator";
import { operatorAssignments } from "../../workers/db/schema";
import { db } from "../helpers/db";
import { api, expectError } from "../helpers/http";
import { insertCall, newOperator } from "../helpers/operations";
import { createWorkspace, insertService, type TestWorkspace } from "../helpers/workspace";

const S = 1000;
const MIN = 60 * S;
const HOUR = 60 * MIN;
const DAY = 24 * HOUR;

let ws: TestWorkspace;
let a: string;
let b: string;
let c: string;
let d: string;
let scheduling: string;
let triage: string;
let quiet: string;
/** Two hours ago: most rows start here. */
let T: number;

const iso = (ms: number) => new Date(ms).toISOString();

/** An assignment row; times in ms, `null` for not yet. Its created_at is its escalation (else connect). */
async function assignment(
  workspaceId: string,
  row: {
    operator: string | null;
    escalated?: number | null;
    connected?: number | null;
    wrapped?: number | null;
    outcome?: "resolved" | "callback_scheduled" | "transferred" | "unresolved" | null;
    activeMs?: number;
    callId?: string;
  },
) {
  const escalated = row.escalated ?? null;
  const connected = row.connected ?? null;
  await db()
    .insert(operatorAssignments)
    .values({
      id: newId("asg"),
      workspaceId,
      callId: row.callId ?? newId("call"),
      operatorUserId: row.operator,
      escalatedAt: escalated === null ? null : iso(escalated),
      escalationReason: escalated === null ? null : "caller_request",
      connectedAt: connected === null ? null : iso(connected),
      wrappedAt: row.wrapped == null ? null : iso(row.wrapped),
      outcome: row.outcome ?? null,
      activeMs: row.activeMs ?? 0,
      createdAt: iso(escalated ?? connected!),
    });
}

beforeAll(async () => {
  ws = await createWorkspace();
  T = Date.now() - 2 * HOUR;
  [a, b, c, d] = [await newOperator(ws), await newOperator(ws), await newOperator(ws), await newOperator(ws)];
  scheduling = await insertService(ws.id, "Scheduling line");
  triage = await insertService(ws.id, "Nurse triage line");
  quiet = await insertService(ws.id, "Quiet line");

  // Calls: scheduling 4 in the last day (1 escalated), one simulated escalated, one 3 days ago escalated;
  // triage 2, both escalated.
  for (const escalated of [true, false, false, false]) {
    await insertCall(ws, { serviceId: scheduling, startedAt: iso(T), escalated });
  }
  const simulatedCall = await insertCall(ws, {
    serviceId: scheduling,
    startedAt: iso(T),
    escalated: true,
    provider: SIMULATOR_PROVIDER,
  });
  await insertCall(ws, { serviceId: scheduling, startedAt: iso(Date.now() - 3 * DAY), escalated: true });
  for (let i = 0; i < 2; i++) await insertCall(ws, { serviceId: triage, startedAt: iso(T), escalated: true });

  // Operator a: connects after 10 s, 30 s, 20 s (median 20 s); handles 290 s, 150 s, 580 s and 60 s
  // (median 220 s); 3 resolved; 90 s in control. Plus one 8 days ago.
  await assignment(ws.id, {
    operator: a,
    escalated: T,
    connected: T + 10 * S,
    wrapped: T + 5 * MIN,
    outcome: "resolved",
    activeMs: 60 * S,
  });
  await assignment(ws.id, {
    operator: a,
    escalated: T,
    connected: T + 30 * S,
    wrapped: T + 3 * MIN,
    outcome: "unresolved",
  });
  await assignment(ws.id, {
    operator: a,
    escalated: T,
    connected: T + 20 * S,
    wrapped: T + 10 * MIN,
    outcome: "resolved",
    activeMs: 30 * S,
  });
  await assignment(ws.id, { operator: a, connected: T, wrapped: T + MIN, outcome: "resolved" });
  await assignment(ws.id, {
    operator: a,
    escalated: Date.now() - 8 * DAY,
    connected: Date.now() - 8 * DAY + 100 * S,
    wrapped: Date.now() - 8 * DAY + 200 * S,
    outcome: "resolved",
  });
  // Operator b: connected after 45 s and still on the call; and a simulated call (5 s, 55 s, resolved).
  await assignment(ws.id, { operator: b, escalated: T, connected: T + 45 * S });
  await assignment(ws.id, {
    operator: b,
    escalated: T,
    connected: T + 5 * S,
    wrapped: T + MIN,
    outcome: "resolved",
    callId: simulatedCall,
  });
  // Operator d: joined a call that had not escalated, transferred it after 2 min; then was removed.
  await assignment(ws.id, { operator: d, connected: T, wrapped: T + 2 * MIN, outcome: "transferred" });
  // A call still waiting for anyone.
  await assignment(ws.id, { operator: null, escalated: T + HOUR });
  expect((await api("DELETE", `/v1/${ws.id}/operators/${d}`, { key: ws.keys.admin })).status).toBe(204);

  // Another workspace's work, which must not show.
  const other = await createWorkspace();
  const stranger = await newOperator(other);
  await assignment(other.id, {
    operator: stranger,
    escalated: T,
    connected: T + S,
    wrapped: T + 2 * S,
    outcome: "resolved",
  });
  await insertCall(other, { serviceId: await insertService(other.id), startedAt: iso(T), escalated: true });
});

type Metrics = {
  operators: { user_id: string; name: string }[];
  services: { service_id: string }[];
  totals: unknown;
};
const byOperator = (body: Metrics) => new Map(body.operators.map((o) => [o.user_id, o]));
const byService = (body: Metrics) => new Map(body.services.map((s) => [s.service_id, s]));

describe("GET /v1/{workspace_id}/operators/metrics", () => {
  it("computes the last day's figures per operator, per service and in total (real calls only)", async () => {
    const res = await api("GET", `/v1/${ws.id}/operators/metrics?window=24h`, { key: ws.keys.viewer });
    expect(res.status, res.text).toBe(200);
    expect(res.body.window).toBe("24h");
    expect(Date.parse(res.body.to) - Date.parse(res.body.from)).toBe(DAY);
    const ops = byOperator(res.body);
    expect([...ops.keys()].sort()).toEqual([a, b, c, d].sort());
    expect(res.body.operators[0].user_id).toBe(a);
    expect(ops.get(a)).toEqual({
      user_id: a,
      name: expect.stringMatching(/^operator /),
      calls: 4,
      resolutions: 3,
      median_time_to_connect_ms: 20_000,
      median_handle_ms: 220_000,
      active_ms: 90_000,
    });
    expect(ops.get(b)).toMatchObject({
      calls: 1,
      resolutions: 0,
      median_time_to_connect_ms: 45_000,
      median_handle_ms: null,
      active_ms: 0,
    });
    // Registered, idle.
    expect(ops.get(c)).toMatchObject({
      calls: 0,
      resolutions: 0,
      median_time_to_connect_ms: null,
      median_handle_ms: null,
      active_ms: 0,
    });
    // Removed since, and still counted, with their name.
    expect(ops.get(d)).toMatchObject({
      name: expect.stringMatching(/^operator /),
      calls: 1,
      resolutions: 0,
      median_time_to_connect_ms: null,
      median_handle_ms: 120_000,
    });

    expect(byService(res.body)).toEqual(
      new Map([
        [
          scheduling,
          { service_id: scheduling, name: "Scheduling line", calls: 4, escalated: 1, escalation_rate: 0.25 },
        ],
        [
          triage,
          { service_id: triage, name: "Nurse triage line", calls: 2, escalated: 2, escalation_rate: 1 },
        ],
        [quiet, { service_id: quiet, name: "Quiet line", calls: 0, escalated: 0, escalation_rate: 0 }],
      ]),
    );
    // Escalations a1 a2 a3 b1 and the waiting one; connected: all but the waiting one; median of 10 20 30 45 s.
    expect(res.body.totals).toEqual({
      escalations: 5,
      connected: 4,
      resolutions: 3,
      median_time_to_connect_ms: 25_000,
    });
  });

  it("counts simulated calls, and operators' work on them, when asked", async () => {
    const res = await api("GET", `/v1/${ws.id}/operators/metrics?window=24h&include_simulated=true`, {
      key: ws.keys.viewer,
    });
    expect(res.status, res.text).toBe(200);
    expect(byOperator(res.body).get(b)).toMatchObject({
      calls: 2,
      resolutions: 1,
      median_time_to_connect_ms: 25_000,
      median_handle_ms: 55_000,
    });
    expect(byService(res.body).get(scheduling)).toMatchObject({
      calls: 5,
      escalated: 2,
      escalation_rate: 0.4,
    });
    expect(res.body.totals).toEqual({
      escalations: 6,
      connected: 5,
      resolutions: 4,
      median_time_to_connect_ms: 20_000,
    });
  });

  it("widens with the window: 7 days (the default) takes in the older call, 30 days the older assignment", async () => {
    const week = await api("GET", `/v1/${ws.id}/operators/metrics`, { key: ws.keys.viewer });
    expect(week.body.window).toBe("7d");
    expect(byService(week.body).get(scheduling)).toMatchObject({
      calls: 5,
      escalated: 2,
      escalation_rate: 0.4,
    });
    expect(byOperator(week.body).get(a)).toMatchObject({ calls: 4, resolutions: 3 });

    const month = await api("GET", `/v1/${ws.id}/operators/metrics?window=30d`, { key: ws.keys.viewer });
    expect(byOperator(month.body).get(a)).toMatchObject({
      calls: 5,
      resolutions: 4,
      // 10 20 30 100 s
      median_time_to_connect_ms: 25_000,
      // 60 150 290 580 100 s: the middle one
      median_handle_ms: 150_000,
    });
    expect(month.body.totals).toMatchObject({ escalations: 6, connected: 5, resolutions: 4 });
  });

  it("answers a workspace with no operators and no calls with empty figures", async () => {
    const empty = await createWorkspace();
    const res = await api("GET", `/v1/${empty.id}/operators/metrics?window=30d`, { key: empty.keys.viewer });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({
      operators: [],
      services: [],
      totals: { escalations: 0, connected: 0, resolutions: 0, median_time_to_connect_ms: null },
    });
  });

  it.each(["window=1y", "window=", "include_simulated=yes"])("answers 400 to %s", async (query) => {
    expectError(
      await api("GET", `/v1/${ws.id}/operators/metrics?${query}`, { key: ws.keys.viewer }),
      "validation_failed",
      400,
    );
  });

  it("is not taken for an operator's id", async () => {
    // `metrics` is not a user id: the operator route would answer 400, not these figures.
    const res = await api("GET", `/v1/${ws.id}/operators/metrics`, { key: ws.keys.viewer });
    expect(res.body).toHaveProperty("totals");
    expectError(
      await api("GET", `/v1/${ws.id}/operators/metrix`, { key: ws.keys.viewer }),
      "validation_failed",
      400,
    );
  });
});
