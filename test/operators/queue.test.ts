/**
 * The WorkspaceHub's active-call set and `GET /v1/{ws}/queue`, moved only by events published through
 * `publish()` as the CallSession and telephony routes publish them: order by urgency (re-ordered when
 * a call's risk changes), escalation and operator events, ended calls leaving (a second `call.ended`
 * not broadcast), the caller's name in the queue only, eviction, and the stale-call sweep.
 */
import { evictDurableObject, runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { beforeEach, describe, expect, it } from "vitest";
import { STALE_CALL_MS } from "../../durable-objects/workspace-hub";
import { defaultOverlay } from "../../shared/operators/active-calls";
import { type CallOverlay, QueueSchema } from "../../shared/schemas/operators";
import { publish, workspaceHub } from "../../workers/events";
import { api } from "../helpers/http";
import { createWorkspace, type TestWorkspace, unique } from "../helpers/workspace";

let ws: TestWorkspace;

beforeEach(async () => {
  ws = await createWorkspace();
});

const newCallId = () => `call_${unique()}${unique()}`;

/** What the hub's buffer holds (read inside the object: event data is not typed for RPC). */
const buffered = (hub: ReturnType<typeof workspaceHub>) =>
  runInDurableObject(hub, (instance) => instance.since(0));

async function queue() {
  const res = await api("GET", `/v1/${ws.id}/queue`, { key: ws.keys.operator });
  expect(res.status, res.text).toBe(200);
  return QueueSchema.parse(res.body);
}

const started = (callId: string) =>
  publish(env, ws.id, {
    type: "call.started",
    data: { call_id: callId, service_id: "svc_test", channel: "voice", transport: "conversation_relay" },
  });

/** A `call.updated` as the CallSession publishes it: the whole overlay. */
const updated = (callId: string, fields: Partial<CallOverlay>, callerName?: string | null) =>
  publish(
    env,
    ws.id,
    { type: "call.updated", data: { ...defaultOverlay(callId, new Date().toISOString()), ...fields } },
    callerName === undefined ? undefined : { caller_name: callerName },
  );

describe("the queue", () => {
  it("lists live calls most urgent first, and re-orders when a call's risk changes", async () => {
    const [a, b] = [newCallId(), newCallId()];
    await started(a);
    await started(b);
    await updated(a, { risk_score: 0.2, risk_level: "normal", turn_count: 1 });
    await updated(b, { risk_score: 0.5, risk_level: "monitor", turn_count: 1 });
    let q = await queue();
    expect(q.results.map((e) => e.call_id)).toEqual([b, a]);
    expect(q.results[0]).toMatchObject({ risk_score: 0.5, urgency: 0.175, priority_reasons: [], wait_ms: 0 });

    const last = await updated(a, { risk_score: 0.95, risk_level: "escalate", turn_count: 2 });
    q = await queue();
    expect(q.results.map((e) => e.call_id)).toEqual([a, b]);
    expect(q.results[0]).toMatchObject({ priority_reasons: ["high_risk"], turn_count: 2 });
    expect(q.results[0]!.urgency).toBeCloseTo(0.35 * 0.95, 2);
    expect(q.last_event_id).toBe(last!.id);
  });

  it("follows escalation and the operator: waiting, connected, in control, handed back, left", async () => {
    const callId = newCallId();
    await started(callId);
    await publish(env, ws.id, {
      type: "call.escalated",
      data: {
        call_id: callId,
        service_id: "svc_test",
        reason: "caller_request",
        routed: "operator",
        fallback: null,
      },
    });
    let [entry] = (await queue()).results;
    expect(entry).toMatchObject({
      escalation: "waiting",
      escalation_reason: "caller_request",
      mode: "agent",
    });
    expect(entry!.escalated_at).not.toBeNull();
    expect(entry!.urgency).toBeGreaterThanOrEqual(0.2);

    const operator = "usr_operator0001";
    const steps: [string, Partial<CallOverlay>][] = [
      ["operator.joined", { escalation: "connected", operator_user_id: operator, mode: "agent" }],
      ["operator.takeover", { escalation: "operator_active", operator_user_id: operator, mode: "operator" }],
      ["operator.handback", { escalation: "connected", operator_user_id: operator, mode: "agent" }],
      ["operator.left", { escalation: "waiting", operator_user_id: null, mode: "agent" }],
    ];
    for (const [type, expected] of steps) {
      await publish(env, ws.id, {
        type: type as "operator.joined",
        data: { call_id: callId, operator_user_id: operator },
      });
      [entry] = (await queue()).results;
      expect(entry, type).toMatchObject(expected);
    }
  });

  it("marks a call the service's fallback took", async () => {
    const callId = newCallId();
    await started(callId);
    await publish(env, ws.id, {
      type: "call.escalated",
      data: {
        call_id: callId,
        service_id: null,
        reason: "billing",
        routed: "fallback",
        fallback: "callback",
      },
    });
    const [entry] = (await queue()).results;
    expect(entry).toMatchObject({ escalation: "fallback", wait_ms: 0 });
  });

  it("keeps what it knows when an update carries only a few fields (the status callback's)", async () => {
    const callId = newCallId();
    await started(callId);
    await updated(callId, {
      risk_score: 0.6,
      state_id: "scheduling",
      turn_count: 3,
      transport: "media_streams",
    });
    await publish(env, ws.id, {
      type: "call.updated",
      data: { call_id: callId, service_id: "svc_test", status: "in-progress", risk_score: "high" },
    });
    const [entry] = (await queue()).results;
    expect(entry).toMatchObject({
      risk_score: 0.6,
      state_id: "scheduling",
      turn_count: 3,
      transport: "media_streams",
    });
  });

  it("drops ended calls; a second call.ended is not recorded or broadcast again", async () => {
    const [a, b] = [newCallId(), newCallId()];
    await started(a);
    await started(b);
    const first = await publish(env, ws.id, {
      type: "call.ended",
      data: { call_id: a, reason: "completed" },
    });
    const second = await publish(env, ws.id, {
      type: "call.ended",
      data: { call_id: a, reason: "completed" },
    });
    expect(first).not.toBeNull();
    expect(second).toBeNull();
    expect((await queue()).results.map((e) => e.call_id)).toEqual([b]);
    // Late events about the ended call do not bring it back.
    await updated(a, { risk_score: 0.9 });
    expect((await queue()).results.map((e) => e.call_id)).toEqual([b]);
    const { events } = await buffered(workspaceHub(env, ws.id));
    expect(events.filter((e) => e.type === "call.ended" && e.data.call_id === a)).toHaveLength(1);
  });
});

describe("the caller's name", () => {
  it("is in the queue only (never in an event), survives eviction, and is forgotten when the call ends", async () => {
    const callId = newCallId();
    const name = "Maria Quintero";
    await started(callId);
    await updated(callId, { patient_verified: true, turn_count: 2 }, name);
    await updated(callId, { patient_verified: true, turn_count: 3 });
    expect((await queue()).results[0]).toMatchObject({ call_id: callId, caller_name: name, turn_count: 3 });

    const hub = workspaceHub(env, ws.id);
    const { events } = await buffered(hub);
    expect(JSON.stringify(events)).not.toContain("Quintero");

    await evictDurableObject(hub);
    expect((await queue()).results[0]).toMatchObject({ call_id: callId, caller_name: name, turn_count: 3 });

    await publish(env, ws.id, { type: "call.ended", data: { call_id: callId, reason: "completed" } });
    const kept = await runInDurableObject(hub, (_, state) =>
      state.storage.sql.exec("SELECT caller_name FROM calls WHERE call_id = ?", callId).one(),
    );
    expect(kept.caller_name).toBeNull();
  });
});

describe("the stale-call sweep", () => {
  it("drops calls nobody updated for 35 minutes and announces call.ended (reason stale)", async () => {
    const [stale, live] = [newCallId(), newCallId()];
    await started(stale);
    await started(live);
    const hub = workspaceHub(env, ws.id);
    await runInDurableObject(hub, (_, state) => {
      state.storage.sql.exec(
        "UPDATE calls SET touched_at = ? WHERE call_id = ?",
        Date.now() - STALE_CALL_MS - 1000,
        stale,
      );
    });
    expect(await runDurableObjectAlarm(hub)).toBe(true);
    expect((await queue()).results.map((e) => e.call_id)).toEqual([live]);
    const { events } = await buffered(hub);
    expect(events.at(-1)).toMatchObject({ type: "call.ended", data: { call_id: stale, reason: "stale" } });
    // The sweep keeps itself scheduled while there are calls to watch.
    expect(await runInDurableObject(hub, (_, state) => state.storage.getAlarm())).not.toBeNull();
  });
});
