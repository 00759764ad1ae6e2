/**
 * The operator's live-call actions over the API, on real ConversationRelay calls: connect and listen (the
 * escalation row taken by the first operator, reconnects recorded once), take over (registered operators
 * only; busy), speak to the caller (only in control; the caller hears it), hand back (time in control
 * counted), transfer (the announcement, then the relay's `end`), wrap up (notes sealed at rest, once).
 * Every change leaves its audit row and nothing of what was said or noted; a call that is over answers 409.
 */
import { env, exports } from "cloudflare:workers";
import { and, eq } from "drizzle-orm";
import { beforeAll, describe, expect, it, vi } from "vitest";
import { SCHEDULING_GRAPH } from "../../scripts/demo-graphs";
import { newId } from "../../shared/ids";
import type { ListenFrame } from "../../shared/operators/live";
import { calls, operators } from "../../workers/db/schema";
import {
  callAssignments,
  findAssignment,
  openNotes,
  recordEscalation,
} from "../../workers/operators/assignments";
import { type Frame, RelayCall, relayLine } from "../calls/relay-client";
import { auditRows, db } from "../helpers/db";
import { api, BASE_URL, expectError } from "../helpers/http";
import { insertMember, sessionCookie, uniquePhoneNumber } from "../helpers/workspace";
import { published } from "../world/fixtures";

type Line = Awaited<ReturnType<typeof relayLine>>;

let line: Line;
/** The session cookie of the workspace's operator member, a registered (online, clinical) operator. */
let operatorCookie: string;
/** A second registered operator, and an operator-role member who is not in the registry. */
let second: { id: string; cookie: string };
let unregistered: { id: string; cookie: string };

async function registerOperator(userId: string) {
  await db()
    .insert(operators)
    .values({ workspaceId: line.ws.id, userId, type: "clinical", status: "online" });
}

beforeAll(async () => {
  line = await relayLine(SCHEDULING_GRAPH);
  await registerOperator(line.ws.members.operator.id);
  operatorCookie = (await sessionCookie(line.ws.members.operator.id)).cookie;
  const secondMember = await insertMember(line.ws.id, "operator");
  await registerOperator(secondMember.id);
  second = { id: secondMember.id, cookie: (await sessionCookie(secondMember.id)).cookie };
  const other = await insertMember(line.ws.id, "operator");
  unregistered = { id: other.id, cookie: (await sessionCookie(other.id)).cookie };
});

/** A call on the line, greeted and waiting for the caller. */
async function liveCall(): Promise<RelayCall> {
  const call = await RelayCall.connect(line.number.e164, uniquePhoneNumber());
  await call.reply();
  return call;
}

const actionPath = (callId: string, action: string) => `/v1/${line.ws.id}/calls/${callId}/${action}`;

function act(callId: string, action: string, cookie: string, body?: unknown) {
  return api("POST", actionPath(callId, action), { cookie, body });
}

async function callAudit(callId: string) {
  return (await auditRows(line.ws.id)).filter((r) => r.targetId === callId);
}

async function operatorStatus(userId: string) {
  const [row] = await db()
    .select()
    .from(operators)
    .where(and(eq(operators.workspaceId, line.ws.id), eq(operators.userId, userId)));
  return row!.status;
}

/** Opens the listen socket with `headers`; the frames it sends are collected. */
async function listen(callId: string, headers: Record<string, string>) {
  const res = await exports.default.fetch(`${BASE_URL}${actionPath(callId, "listen")}`, { headers });
  const frames: ListenFrame[] = [];
  res.webSocket?.accept();
  res.webSocket?.addEventListener("message", (e) => frames.push(JSON.parse(e.data as string)));
  return { res, frames, ws: res.webSocket };
}

/** The next frame of `type` the caller's relay socket got from `from` on. */
async function relayFrame(call: RelayCall, from: number, type: string): Promise<Frame> {
  return vi.waitFor(
    () => {
      const frame = call.frames.slice(from).find((f) => f.type === type);
      if (!frame) throw new Error(`no ${type} frame yet`);
      return frame;
    },
    { timeout: 5000, interval: 10 },
  );
}

describe("connecting to a live call", () => {
  it("takes the call's escalation row for the first operator, gives later ones their own, once each", async () => {
    const call = await liveCall();
    await recordEscalation(db(), {
      workspaceId: line.ws.id,
      callId: call.callId,
      serviceId: line.serviceId,
      reason: "caller_request",
      at: new Date().toISOString(),
    });
    // Recording the same escalation again adds nothing.
    await recordEscalation(db(), {
      workspaceId: line.ws.id,
      callId: call.callId,
      serviceId: line.serviceId,
      reason: "caller_request",
      at: new Date().toISOString(),
    });
    expect(await callAssignments(db(), line.ws.id, call.callId)).toMatchObject([
      { operatorUserId: null, escalationReason: "caller_request", connectedAt: null },
    ]);

    const first = await act(call.callId, "connect", operatorCookie);
    expect(first.status, first.text).toBe(200);
    expect(first.body).toEqual({
      call_id: call.callId,
      mode: "agent",
      operator_user_id: line.ws.members.operator.id,
      escalation: "connected",
      pending_transfer: false,
    });
    const again = await act(call.callId, "connect", operatorCookie);
    expect(again.status, again.text).toBe(200);
    expect((await act(call.callId, "connect", second.cookie)).status).toBe(200);

    const rows = await callAssignments(db(), line.ws.id, call.callId);
    expect(rows).toHaveLength(2);
    const [escalated, joined] = rows;
    expect(escalated).toMatchObject({
      operatorUserId: line.ws.members.operator.id,
      escalationReason: "caller_request",
      serviceId: line.serviceId,
    });
    expect(Date.parse(escalated!.connectedAt!)).toBeGreaterThanOrEqual(Date.parse(escalated!.escalatedAt!));
    expect(joined).toMatchObject({
      operatorUserId: second.id,
      escalatedAt: null,
      connectedAt: expect.any(String),
    });
    // The reconnect left the first row as it was.
    expect(escalated!.updatedAt).toBe(escalated!.connectedAt);

    const audit = await callAudit(call.callId);
    expect(audit.map((a) => [a.action, a.actorId, a.details])).toEqual([
      ["call.operator_connected", line.ws.members.operator.id, { via: "connect" }],
      ["call.operator_connected", line.ws.members.operator.id, { via: "connect" }],
      ["call.operator_connected", second.id, { via: "connect" }],
    ]);
    call.ws.close();
  });

  it("connects the operator a caller in distress is waiting for, on the row the escalation wrote", async () => {
    const call = await liveCall();
    const urgent = await call.say("I have crushing chest pain and my left arm feels numb");
    expect(urgent.end, urgent.text).toBeNull();
    const waiting = await vi.waitFor(async () => {
      const rows = await callAssignments(db(), line.ws.id, call.callId);
      if (rows.length === 0) throw new Error("escalation not recorded yet");
      return rows;
    });
    expect(waiting).toMatchObject([
      { operatorUserId: null, escalationReason: expect.stringMatching(/^safety:/) },
    ]);

    const connected = await act(call.callId, "connect", second.cookie);
    expect(connected.status, connected.text).toBe(200);
    expect(connected.body).toMatchObject({ escalation: "connected", mode: "agent" });
    const [row] = await callAssignments(db(), line.ws.id, call.callId);
    expect(row).toMatchObject({ operatorUserId: second.id, escalatedAt: waiting[0]!.escalatedAt });
    expect(Date.parse(row!.connectedAt!)).toBeGreaterThanOrEqual(Date.parse(row!.escalatedAt!));
    call.ws.close();
  });

  it("answers 404 for an unknown call, 409 for one that is over, 403 to a viewer", async () => {
    expectError(await act(newId("call"), "connect", operatorCookie), "not_found", 404);
    const call = await liveCall();
    expectError(
      await api("POST", actionPath(call.callId, "connect"), { key: line.ws.keys.viewer }),
      "forbidden",
      403,
    );
    await db().update(calls).set({ status: "completed" }).where(eq(calls.id, call.callId));
    expectError(await act(call.callId, "connect", operatorCookie), "conflict", 409);
    expect(await callAssignments(db(), line.ws.id, call.callId)).toEqual([]);
    call.ws.close();
  });
});

describe("the listen socket", () => {
  it("streams the call to the operator and records the first connection only", async () => {
    const call = await liveCall();
    const opened = await listen(call.callId, { Upgrade: "websocket", Cookie: operatorCookie });
    expect(opened.res.status).toBe(101);
    const snapshot = await vi.waitFor(() => {
      const frame = opened.frames.find((f) => f.type === "snapshot");
      if (!frame) throw new Error("no snapshot yet");
      return frame as Extract<ListenFrame, { type: "snapshot" }>;
    });
    expect(snapshot.overlay.call_id).toBe(call.callId);
    expect(snapshot.turns.map((t) => t.speaker)).toEqual(["agent"]);
    expect(snapshot.control.operator_user_id).toBe(line.ws.members.operator.id);

    // What the caller says next reaches the listener.
    await call.say("I need to reschedule my appointment");
    await vi.waitFor(() => {
      expect(
        opened.frames.filter((f) => f.type === "turn").map((f) => (f as { speaker: string }).speaker),
      ).toEqual(expect.arrayContaining(["caller", "agent"]));
    });

    // A reconnect adds no second record of the connection.
    const reopened = await listen(call.callId, { Upgrade: "websocket", Cookie: operatorCookie });
    expect(reopened.res.status).toBe(101);
    const audit = await callAudit(call.callId);
    expect(audit.map((a) => [a.action, a.details])).toEqual([["call.operator_connected", { via: "listen" }]]);
    expect(await callAssignments(db(), line.ws.id, call.callId)).toMatchObject([
      { operatorUserId: line.ws.members.operator.id, connectedAt: expect.any(String) },
    ]);
    opened.ws?.close();
    reopened.ws?.close();
    call.ws.close();
  });

  it("answers 426 without the upgrade, 403 across origins and to viewers, 404 for an unknown call", async () => {
    const call = await liveCall();
    const plain = await api("GET", actionPath(call.callId, "listen"), { cookie: operatorCookie });
    expectError(plain, "upgrade_required", 426);
    expect(plain.headers.get("Upgrade")).toBe("websocket");
    const crossOrigin = await listen(call.callId, {
      Upgrade: "websocket",
      Cookie: operatorCookie,
      Origin: "https://evil.example",
    });
    expect(crossOrigin.res.status).toBe(403);
    const viewer = await listen(call.callId, {
      Upgrade: "websocket",
      Authorization: `Bearer ${line.ws.keys.viewer}`,
    });
    expect(viewer.res.status).toBe(403);
    const unknown = await exports.default.fetch(`${BASE_URL}${actionPath(newId("call"), "listen")}`, {
      headers: { Upgrade: "websocket", Cookie: operatorCookie },
    });
    expect(unknown.status).toBe(404);
    expect(await callAudit(call.callId)).toEqual([]);
    call.ws.close();
  });
});

describe("taking over, speaking, handing back", () => {
  it("puts a registered operator in control: the caller hears them, and the agent returns with context", async () => {
    const call = await liveCall();
    const operatorId = line.ws.members.operator.id;
    expect(await operatorStatus(operatorId)).toBe("online");

    // Nobody speaks to the caller before taking over.
    expectError(await act(call.callId, "say", operatorCookie, { text: "Hello?" }), "conflict", 409);

    const taken = await act(call.callId, "takeover", operatorCookie);
    expect(taken.status, taken.text).toBe(200);
    expect(taken.body).toMatchObject({
      mode: "operator",
      operator_user_id: operatorId,
      escalation: "operator_active",
    });
    expect(await operatorStatus(operatorId)).toBe("busy");
    // Taking over again while in control keeps the first takeover's time.
    const key = { workspaceId: line.ws.id, callId: call.callId, operatorUserId: operatorId };
    const row = await findAssignment(db(), key);
    expect(row?.takeoverAt).toEqual(expect.any(String));
    expect((await act(call.callId, "takeover", operatorCookie)).status).toBe(200);
    expect((await findAssignment(db(), key))?.takeoverAt).toBe(row!.takeoverAt);

    // Another operator may not take the call from them, nor speak.
    expectError(await act(call.callId, "takeover", second.cookie), "conflict", 409);
    expectError(await act(call.callId, "say", second.cookie, { text: "Hi" }), "conflict", 409);

    const said = await act(call.callId, "say", operatorCookie, { text: "Hi, this is Sam from the clinic." });
    expect(said.status, said.text).toBe(202);
    expect(said.body).toEqual({ call_id: call.callId, spoken: true });
    expect((await call.reply()).text).toBe("Hi, this is Sam from the clinic.");

    await new Promise((r) => setTimeout(r, 60));
    const handed = await act(call.callId, "handback", operatorCookie);
    expect(handed.status, handed.text).toBe(200);
    expect(handed.body).toMatchObject({ mode: "agent", escalation: "connected" });
    expect((await call.reply()).text).toBe("Thanks for holding. Is there anything else I can help you with?");
    expectError(await act(call.callId, "handback", operatorCookie), "conflict", 409);

    const done = (await findAssignment(db(), key))!;
    expect(done.handbackAt).not.toBeNull();
    const inControl = Date.parse(done.handbackAt!) - Date.parse(done.takeoverAt!);
    expect(done.activeMs).toBe(inControl);
    expect(done.activeMs).toBeGreaterThanOrEqual(60);

    const audit = await callAudit(call.callId);
    expect(audit.map((a) => a.action)).toEqual([
      "call.takeover",
      "call.takeover",
      "call.operator_said",
      "call.handback",
    ]);
    expect(audit.find((a) => a.action === "call.operator_said")!.details).toEqual({ length: 32 });
    expect(JSON.stringify(audit)).not.toContain("Sam");
    call.ws.close();
  });

  it("lets only registered operators take over, and no one once the call is over", async () => {
    const call = await liveCall();
    const refused = await act(call.callId, "takeover", unregistered.cookie);
    expectError(refused, "forbidden", 403);
    expect(refused.body.error.message).toMatch(/registered operators/);
    expectError(
      await api("POST", actionPath(call.callId, "takeover"), { key: line.ws.keys.viewer }),
      "forbidden",
      403,
    );
    expectError(await act(newId("call"), "takeover", operatorCookie), "not_found", 404);
    expectError(await act(call.callId, "say", operatorCookie, { text: "" }), "validation_failed", 400);
    expectError(
      await act(call.callId, "say", operatorCookie, { text: "a\u0007b" }),
      "validation_failed",
      400,
    );
    expect(await callAudit(call.callId)).toEqual([]);

    // An API key acts as itself: it may take over (no registry for keys), recorded under its id.
    const byKey = await api("POST", actionPath(call.callId, "takeover"), { key: line.ws.keys.operator });
    expect(byKey.status, byKey.text).toBe(200);
    expect(byKey.body.operator_user_id).toBe(line.ws.keyIds.operator);

    await db().update(calls).set({ status: "completed" }).where(eq(calls.id, call.callId));
    for (const [action, body] of [
      ["takeover", undefined],
      ["say", { text: "Hello" }],
      ["handback", undefined],
      ["transfer", { to: "+12125550100" }],
    ] as const)
      expectError(await act(call.callId, action, operatorCookie, body), "conflict", 409);
    call.ws.close();
  });
});

describe("transferring", () => {
  it("announces, then ends the relay session with the transfer, and records when", async () => {
    const call = await liveCall();
    expectError(
      await act(call.callId, "transfer", operatorCookie, { to: "not a number" }),
      "validation_failed",
      400,
    );
    expectError(
      await act(call.callId, "transfer", operatorCookie, { to: "+1212555" }),
      "validation_failed",
      400,
    );
    expectError(
      await act(call.callId, "transfer", operatorCookie, { to: "+12125550100", extra: 1 }),
      "validation_failed",
      400,
    );
    expect(await callAudit(call.callId)).toEqual([]);

    const from = call.frames.length;
    const sent = await act(call.callId, "transfer", operatorCookie, {
      to: "(212) 555-0100",
      announcement: "Let me put you through to the front desk.",
    });
    expect(sent.status, sent.text).toBe(202);
    expect(sent.body).toMatchObject({ call_id: call.callId, pending_transfer: true });
    const said = await call.reply();
    expect(said.text).toBe("Let me put you through to the front desk.");
    const end = await relayFrame(call, from, "end");
    expect(JSON.parse(end.handoffData)).toEqual({ reason: "transfer", to: "+12125550100" });

    const row = await findAssignment(db(), {
      workspaceId: line.ws.id,
      callId: call.callId,
      operatorUserId: line.ws.members.operator.id,
    });
    expect(row).toMatchObject({ transferredAt: expect.any(String), connectedAt: expect.any(String) });
    const audit = await callAudit(call.callId);
    expect(audit.map((a) => [a.action, a.details])).toEqual([
      ["call.transfer_requested", { announcement: true }],
    ]);
    expect(JSON.stringify(audit)).not.toContain("5550100");
    call.ws.close();
  });
});

describe("wrapping up", () => {
  it("seals the notes, audits the outcome only, frees the operator, and takes one wrap-up each", async () => {
    const call = await liveCall();
    const operatorId = line.ws.members.operator.id;
    expect((await act(call.callId, "takeover", operatorCookie)).status).toBe(200);
    expect(await operatorStatus(operatorId)).toBe("busy");
    await new Promise((r) => setTimeout(r, 40));
    // The caller hangs up while the operator is in control; the wrap-up comes after the call ended.
    const endedAt = new Date().toISOString();
    await db().update(calls).set({ status: "completed", endedAt }).where(eq(calls.id, call.callId));
    call.ws.close();

    for (const body of [{ outcome: "fixed" }, { outcome: "resolved", notes: 5 }, { notes: "x" }])
      expectError(await act(call.callId, "wrapup", operatorCookie, body), "validation_failed", 400);
    expectError(
      await act(newId("call"), "wrapup", operatorCookie, { outcome: "resolved" }),
      "not_found",
      404,
    );
    expectError(
      await api("POST", actionPath(call.callId, "wrapup"), {
        key: line.ws.keys.viewer,
        body: { outcome: "resolved" },
      }),
      "forbidden",
      403,
    );

    const notes = "Patient Jane Roe\nasked about her INR results; nurse to call back";
    const wrapped = await act(call.callId, "wrapup", operatorCookie, {
      outcome: "callback_scheduled",
      notes,
    });
    expect(wrapped.status, wrapped.text).toBe(201);
    expect(wrapped.body).toEqual({
      call_id: call.callId,
      operator_user_id: operatorId,
      outcome: "callback_scheduled",
      wrapped_at: expect.any(String),
    });
    expect(await operatorStatus(operatorId)).toBe("online");

    const key = { workspaceId: line.ws.id, callId: call.callId, operatorUserId: operatorId };
    const row = (await findAssignment(db(), key))!;
    expect(row).toMatchObject({ outcome: "callback_scheduled", wrappedAt: wrapped.body.wrapped_at });
    expect(row.notesEnc).toMatch(/^v1\./);
    expect(row.notesEnc).not.toContain("Jane");
    expect(await openNotes(env.ENCRYPTION_KEY, key, row.notesEnc!)).toBe(notes);
    // Bound to its row: the same ciphertext does not open as another operator's notes.
    await expect(
      openNotes(env.ENCRYPTION_KEY, { ...key, operatorUserId: second.id }, row.notesEnc!),
    ).rejects.toThrow();
    // Still in control when the call ended: the time counts up to the end.
    expect(row.handbackAt).toBe(endedAt);
    expect(row.activeMs).toBe(Date.parse(endedAt) - Date.parse(row.takeoverAt!));

    expectError(await act(call.callId, "wrapup", operatorCookie, { outcome: "resolved" }), "conflict", 409);
    // Another operator wraps up on a row of their own.
    expect((await act(call.callId, "wrapup", second.cookie, { outcome: "resolved" })).status).toBe(201);

    const audit = (await callAudit(call.callId)).filter((a) => a.action === "call.wrapped_up");
    expect(audit.map((a) => [a.actorId, a.details])).toEqual([
      [operatorId, { outcome: "callback_scheduled", handed_back: false }],
      [second.id, { outcome: "resolved", handed_back: false }],
    ]);
    expect(JSON.stringify(await auditRows(line.ws.id))).not.toContain("INR");
  });
});

describe("leaving a live call", () => {
  it("wrapping up while speaking for the caller hands the call back first, and the escalation is handled", async () => {
    const call = await liveCall();
    const operatorId = line.ws.members.operator.id;
    const listener = await listen(call.callId, { cookie: operatorCookie, Upgrade: "websocket" });
    expect(listener.res.status).toBe(101);
    expect((await act(call.callId, "takeover", operatorCookie)).status).toBe(200);
    const before = call.frames.length;
    const wrapped = await act(call.callId, "wrapup", operatorCookie, { outcome: "resolved" });
    expect(wrapped.status, wrapped.text).toBe(201);
    // The caller is never left alone: the agent's re-entry line.
    expect((await relayFrame(call, before, "text")).token).toBeTruthy();
    const control = await api("POST", actionPath(call.callId, "connect"), { cookie: second.cookie });
    expect(control.body).toMatchObject({ mode: "agent" });
    const row = (await findAssignment(db(), {
      workspaceId: line.ws.id,
      callId: call.callId,
      operatorUserId: operatorId,
    }))!;
    expect(row.handbackAt).toBe(row.wrappedAt);
    expect(row.activeMs).toBe(Date.parse(row.handbackAt!) - Date.parse(row.takeoverAt!));
    const audit = (await callAudit(call.callId)).filter((a) => a.action === "call.wrapped_up");
    expect(audit.map((a) => a.details)).toEqual([{ outcome: "resolved", handed_back: true }]);
    listener.ws?.close();
    call.ws.close();
  });

  it("an operator who closes the call without acting has left it: the escalation waits again", async () => {
    const call = await liveCall();
    // A red flag with clinicians online: the call waits for one.
    expect((await call.say("I have crushing chest pain")).end).toBeNull();
    const listener = await listen(call.callId, { cookie: second.cookie, Upgrade: "websocket" });
    expect((await act(call.callId, "connect", second.cookie)).body).toMatchObject({
      escalation: "connected",
    });
    listener.ws?.close();
    await vi.waitFor(
      async () => {
        const left = await published(line.ws.id, "operator.left");
        expect(left.map((e) => e.data)).toContainEqual({ call_id: call.callId, operator_user_id: second.id });
      },
      { timeout: 5000, interval: 20 },
    );
    const latest = async () =>
      (await published(line.ws.id, "call.updated")).filter((e) => e.data.call_id === call.callId).at(-1)!
        .data;
    await vi.waitFor(async () => expect(await latest()).toMatchObject({ escalation: "waiting" }), {
      timeout: 5000,
      interval: 20,
    });
    // The next operator to open it connects it again.
    const control = await act(call.callId, "connect", operatorCookie);
    expect(control.body).toMatchObject({
      escalation: "connected",
      operator_user_id: line.ws.members.operator.id,
    });
    call.ws.close();
  });
});
