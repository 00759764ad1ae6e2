/**
 * The operator side of a live call, through the CallSession's RPC methods and its listen socket, over a
 * real ConversationRelay socket: an escalation waits for an online operator instead of ending the call
 * (no operator online: the service's fallback, forward / call back / keep going; a wait past the limit
 * falls back the same way), the operator connects, listens (a snapshot, then live turns, points,
 * overlay and control), takes over (the caller's words are kept, scored and streamed, the agent stays
 * quiet), speaks to the caller, hands back (the agent re-enters with its context), and transfers after
 * the announcement. Listeners never end the call; the mode survives eviction; the transcript attributes
 * the operator's lines. On Media Streams listeners hear both tracks, and the operator in control may speak
 * through the listen socket: the caller hears it and it is transcribed into the operator's turn. On an
 * SMS session the operator's words go out as texts.
 */
import { evictDurableObject, runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { and, eq } from "drizzle-orm";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { LINES, OPERATOR_HEADER, setOperatorWaitLimit } from "../../durable-objects/call-operators";
import { type CallSession, setToolExecutor } from "../../durable-objects/call-session";
import { SCHEDULING_GRAPH } from "../../scripts/demo-graphs";
import { FRAME_BYTES, SAMPLE_RATE, splitFrames } from "../../shared/audio/mulaw";
import { toBase64 } from "../../shared/encoding";
import type { ToolCall } from "../../shared/engine/engine";
import { languageValence } from "../../shared/engine/risk";
import type { ListenFrame } from "../../shared/operators/live";
import { callSession } from "../../workers/calls/session-client";
import { findCallByProviderSid } from "../../workers/db/calls";
import { deliveries, operatorAssignments, operators, services } from "../../workers/db/schema";
import { setSpeechBinding } from "../../workers/speech/speech";
import { openDelivery } from "../../workers/telephony/messaging";
import { getTranscript } from "../../workers/world/memory";
import { db } from "../helpers/db";
import { fakeAi, fakeSpeech } from "../helpers/fake-ai";
import { uniquePhoneNumber } from "../helpers/workspace";
import { fakeSid, parseXml, published, twilioPost, voiceParams } from "../telephony/helpers";
import { type Frame, RelayCall, relayLine, upgrade } from "./relay-client";

const session = (callId: string) => callSession(env, callId) as unknown as DurableObjectStub<CallSession>;

const CHEST_PAIN = "I'm having chest pain right now";

/** Tools answer `ok`; `escalate` escalates with the reason the engine gave; `verify_identity` finds nobody. */
function scriptedTools() {
  const asked: ToolCall[] = [];
  setToolExecutor(async (_env, _context, toolCalls) => {
    asked.push(...toolCalls);
    return toolCalls.map((call) => {
      if (call.name === "escalate")
        return {
          latency_ms: 1,
          result: { name: call.name, outcome: "ok" as const },
          escalation: { reason: String(call.args.reason) },
        };
      if (call.name === "verify_identity")
        return { latency_ms: 1, result: { name: call.name, outcome: "none" as const } };
      return { latency_ms: 1, result: { name: call.name, outcome: "ok" as const } };
    });
  });
  return asked;
}

/** A scheduling line whose service routes escalations with `rules` (clinical by default). */
async function line(rules: Record<string, unknown> = {}) {
  const l = await relayLine(SCHEDULING_GRAPH);
  await db()
    .update(services)
    .set({
      escalationRules: {
        risk_threshold: 0.7,
        keywords: [],
        operator_type: "administrative",
        operator_skill: null,
        fallback: "callback",
        fallback_number: null,
        ...rules,
      },
    })
    .where(eq(services.id, l.serviceId));
  return l;
}

/** Registers a workspace member as an operator. */
async function operatorOnline(
  l: Awaited<ReturnType<typeof line>>,
  who: "operator" | "admin" = "operator",
  status: "online" | "busy" | "offline" = "online",
) {
  const userId = l.ws.members[who].id;
  await db().insert(operators).values({ workspaceId: l.ws.id, userId, type: "clinical", skills: [], status });
  return userId;
}

/** An operator's listen socket on the call's session, collecting its frames. */
async function listen(callId: string, operator: string) {
  const res = await session(callId).fetch("https://call-session/listen", {
    headers: { Upgrade: "websocket", [OPERATOR_HEADER]: operator },
  });
  expect(res.status).toBe(101);
  const ws = res.webSocket!;
  ws.accept();
  const frames: ListenFrame[] = [];
  let closed = false;
  ws.addEventListener("message", (e) => {
    frames.push(JSON.parse(e.data as string));
  });
  ws.addEventListener("close", () => {
    closed = true;
  });
  return {
    ws,
    frames,
    closed: () => closed,
    /** The first frame after `from` that `match` accepts. */
    async next<T extends ListenFrame>(match: (f: ListenFrame) => f is T, from = 0): Promise<T> {
      return vi.waitFor(
        () => {
          const found = frames.slice(from).find(match);
          if (!found) throw new Error("no such frame yet");
          return found;
        },
        { timeout: 3000, interval: 5 },
      );
    },
  };
}

const isTurn =
  (speaker: string, text?: string) =>
  (f: ListenFrame): f is Extract<ListenFrame, { type: "turn" }> =>
    f.type === "turn" && f.speaker === speaker && (text === undefined || f.text === text);

/** No text frame arrives for a moment (the agent stays quiet). */
async function quiet(call: RelayCall) {
  const before = call.frames.length;
  await new Promise((r) => setTimeout(r, 150));
  return call.frames.slice(before).filter((f: Frame) => f.type === "text");
}

async function finished(callId: string) {
  await vi.waitFor(
    async () => {
      if (!(await session(callId).snapshot()).finishedAt) throw new Error("not finished");
    },
    { timeout: 5000, interval: 20 },
  );
}

beforeEach(() => setOperatorWaitLimit());
afterEach(() => {
  setToolExecutor();
  setOperatorWaitLimit();
  setSpeechBinding();
});

describe("an escalation with an operator online", () => {
  it("waits live for the operator, who listens, takes over, speaks, hands back and transfers", async () => {
    const l = await line();
    const asked = scriptedTools();
    const operator = await operatorOnline(l);
    const call = await RelayCall.connect(l.number.e164);
    await call.reply();
    await call.say("This is Jane Doe");

    // Chest pain: the agent says it is connecting them, and the call stays live, waiting.
    const urgent = await call.say(CHEST_PAIN);
    expect(urgent.text).toMatch(/connecting you/i);
    expect(urgent.end).toBeNull();
    expect(await session(call.callId).control()).toEqual({
      call_id: call.callId,
      mode: "agent",
      operator_user_id: null,
      escalation: "waiting",
      pending_transfer: false,
    });
    const escalated = await published(l.ws.id, "call.escalated");
    expect(escalated.map((e) => e.data)).toEqual([
      {
        call_id: call.callId,
        service_id: l.serviceId,
        reason: "safety:chest_pain",
        routed: "operator",
        fallback: null,
      },
    ]);
    const overlay = (await published(l.ws.id, "call.updated")).at(-1)!.data;
    expect(overlay).toMatchObject({
      call_id: call.callId,
      escalation: "waiting",
      escalation_reason: "safety:chest_pain",
      safety: "chest_pain",
      turn_count: 2,
      mode: "agent",
    });
    expect(overlay.escalated_at).toEqual(expect.any(String));
    expect(JSON.stringify(overlay)).not.toContain("Jane");
    const [assignment] = await db()
      .select()
      .from(operatorAssignments)
      .where(and(eq(operatorAssignments.workspaceId, l.ws.id), eq(operatorAssignments.callId, call.callId)));
    expect(assignment).toMatchObject({ operatorUserId: null, escalationReason: "safety:chest_pain" });

    // Silence while waiting: a short hold line, never a hang-up.
    const stub = session(call.callId);
    await runInDurableObject(stub, (_, state) => {
      state.storage.sql.exec("UPDATE meta SET value = '0' WHERE key = 'silence_deadline'");
    });
    await runDurableObjectAlarm(stub);
    const hold = await call.reply();
    expect(hold.text).toBe(LINES.hold);
    expect(hold.end).toBeNull();

    // The operator connects, then listens: a snapshot of the call so far first.
    expect(await stub.connectOperator({ operator })).toMatchObject({
      escalation: "connected",
      operator_user_id: operator,
    });
    expect((await published(l.ws.id, "operator.joined")).map((e) => e.data)).toEqual([
      { call_id: call.callId, operator_user_id: operator },
    ]);
    const listener = await listen(call.callId, operator);
    const snapshot = await listener.next(
      (f): f is Extract<ListenFrame, { type: "snapshot" }> => f.type === "snapshot",
    );
    expect(listener.frames[0]!.type).toBe("snapshot");
    expect(snapshot.control.escalation).toBe("connected");
    expect(snapshot.turns.filter((t) => t.speaker === "caller").map((t) => t.text)).toEqual([
      "This is Jane Doe",
      CHEST_PAIN,
    ]);
    expect(snapshot.timeline).toHaveLength(2);
    expect(snapshot.timeline[1]!.valence).toBeLessThan(0);
    expect(snapshot.overlay.safety).toBe("chest_pain");

    // Take over: the caller's words are stored, scored and streamed; the agent says nothing, runs nothing.
    const toolsBefore = asked.length;
    expect(await stub.takeover({ operator })).toMatchObject({
      mode: "operator",
      escalation: "operator_active",
    });
    await listener.next(
      (f): f is Extract<ListenFrame, { type: "control" }> => f.type === "control" && f.mode === "operator",
    );
    const mark = listener.frames.length;
    call.send({
      type: "prompt",
      voicePrompt: "It's getting worse, I'm really scared",
      lang: "en-US",
      last: true,
    });
    expect(await quiet(call)).toEqual([]);
    await listener.next(isTurn("caller", "It's getting worse, I'm really scared"), mark);
    const point = await listener.next(
      (f): f is Extract<ListenFrame, { type: "point" }> => f.type === "point",
      mark,
    );
    expect(point.point.emotion_score).toBeGreaterThan(0.3);
    expect(asked.length).toBe(toolsBefore);

    // The operator speaks: the caller's relay socket gets the words as text tokens.
    const words = "This is the nurse on call. Please sit down and stay on the line with me.";
    expect(await stub.operatorSay({ operator, text: words })).toEqual({ spoken: true });
    expect((await call.reply()).text).toBe(words);
    const said = await listener.next(isTurn("operator", words), mark);
    expect(said.operator_user_id).toBe(operator);
    // Someone not in control is refused.
    const other = await operatorOnline(l, "admin");
    expect(await stub.operatorSay({ operator: other, text: "hello" })).toEqual({
      spoken: false,
      reason: "not_in_control",
    });

    // Hand back: the agent re-enters, and its next reply carries on with what it had (the name).
    expect(await stub.handback({ operator })).toMatchObject({ mode: "agent", escalation: "connected" });
    expect((await call.reply()).text).toBe(LINES.reentry);
    await call.say("March 5th 1980");
    const verify = asked.filter((c) => c.name === "verify_identity");
    expect(verify).toHaveLength(1);
    expect(JSON.stringify(verify[0]!.args)).toContain("Jane Doe");

    // Transfer: the announcement first, then `end` naming the clinic line.
    expect(await stub.transfer({ operator, to: "+1 (415) 555-0100" })).toMatchObject({
      pending_transfer: true,
    });
    const bye = await call.reply();
    expect(bye.text).toBe(LINES.transfer);
    expect(JSON.parse(bye.end.handoffData)).toEqual({ reason: "transfer", to: "+14155550100" });
    await finished(call.callId);
    expect(await stub.takeover({ operator })).toBeNull();
    expect(await stub.operatorSay({ operator, text: "hello?" })).toEqual({ spoken: false, reason: "over" });

    // The listener was told the call ended; events name ids only.
    await listener.next(
      (f): f is Extract<ListenFrame, { type: "ended" }> => f.type === "ended" && f.reason === "transfer",
    );
    expect(
      listener.frames.every((f) =>
        ["snapshot", "turn", "point", "overlay", "control", "ended"].includes(f.type),
      ),
    ).toBe(true);
    const kinds = (await published(l.ws.id)).map((e) => e.type);
    for (const kind of ["operator.takeover", "operator.handback", "operator.transfer", "call.ended"])
      expect(kinds).toContain(kind);
    expect((await published(l.ws.id, "call.ended")).map((e) => e.data)).toEqual([
      { call_id: call.callId, reason: "transfer" },
    ]);
    const events = JSON.stringify(await published(l.ws.id));
    for (const phi of ["Jane", "scared", "nurse on call", "5550100"]) expect(events).not.toContain(phi);

    // The transcript attributes each line: the operator's are the operator's.
    const transcript = (await getTranscript(env, l.ws.id, call.callId))!;
    expect(transcript.turns.find((t) => t.text === words)?.speaker).toBe("operator");
    expect(transcript.turns.find((t) => t.text === "It's getting worse, I'm really scared")?.speaker).toBe(
      "caller",
    );
    expect(transcript.turns.filter((t) => t.speaker === "agent").map((t) => t.text)).toContain(LINES.reentry);
  });

  it("keeps the operator in control across an eviction, and a listener leaving never ends the call", async () => {
    const l = await line();
    scriptedTools();
    const operator = await operatorOnline(l);
    const call = await RelayCall.connect(l.number.e164);
    await call.reply();
    await call.say(CHEST_PAIN);
    const stub = session(call.callId);

    const listener = await listen(call.callId, operator);
    await listener.next((f): f is Extract<ListenFrame, { type: "snapshot" }> => f.type === "snapshot");
    listener.ws.close(1000, "done");
    await vi.waitFor(() => {
      if (!listener.closed()) throw new Error("still open");
    });
    const answered = await call.say("This is Jane Doe");
    expect(answered.text).toMatch(/birth/i);
    expect((await stub.snapshot()).endedAt).toBeNull();

    await stub.takeover({ operator });
    await evictDurableObject(stub);
    expect(await stub.control()).toMatchObject({ mode: "operator", operator_user_id: operator });
    call.send({ type: "prompt", voicePrompt: "hello? are you there?", lang: "en-US", last: true });
    expect(await quiet(call)).toEqual([]);
    expect((await stub.snapshot()).turns.at(-1)).toMatchObject({
      speaker: "caller",
      text: "hello? are you there?",
    });
    expect(await stub.operatorSay({ operator, text: "Yes, I'm here." })).toEqual({ spoken: true });
    expect((await call.reply()).text).toBe("Yes, I'm here.");
    // While the operator has the call, silence never hangs up.
    await runInDurableObject(stub, (_, state) => {
      state.storage.sql.exec("INSERT OR REPLACE INTO meta (key, value) VALUES ('silence_deadline', '0')");
    });
    await runDurableObjectAlarm(stub);
    expect(await quiet(call)).toEqual([]);
    expect((await stub.snapshot()).endedAt).toBeNull();
    const view = (await stub.liveView())!;
    expect(view.turns.at(-1)).toMatchObject({ speaker: "operator", operator_user_id: operator });
    expect(view.control.mode).toBe("operator");
    call.ws.close();
  });
});

describe("an operator listening before any escalation", () => {
  it("changes nothing for silence, and has the call at once when it escalates", async () => {
    const l = await line();
    scriptedTools();
    const operator = await operatorOnline(l);
    const call = await RelayCall.connect(l.number.e164);
    await call.reply();
    const stub = session(call.callId);
    expect(await stub.connectOperator({ operator })).toMatchObject({
      escalation: "connected",
      mode: "agent",
    });
    // Nobody asked for a person: silence re-prompts as on any call.
    await runInDurableObject(stub, (_, state) => {
      state.storage.sql.exec("UPDATE meta SET value = '0' WHERE key = 'silence_deadline'");
    });
    await runDurableObjectAlarm(stub);
    expect((await call.reply()).text).toBe("Are you still there?");
    // The escalation finds the operator already there: no wait, no fallback.
    const urgent = await call.say(CHEST_PAIN);
    expect(urgent.end).toBeNull();
    expect(await stub.control()).toMatchObject({ escalation: "connected", operator_user_id: operator });
    expect((await published(l.ws.id, "call.escalated"))[0]!.data).toMatchObject({
      routed: "operator",
      fallback: null,
    });
    const deadline = await runInDurableObject(stub, (_, state) =>
      state.storage.sql.exec("SELECT count(*) AS n FROM meta WHERE key = 'operator_wait_deadline'").one(),
    );
    expect(deadline.n).toBe(0);
    call.ws.close();
  });
});

describe("a takeover while the agent is mid-turn", () => {
  it("leaves the rest of the agent's reply unsaid, and no further lookup runs", async () => {
    const l = await line();
    const operator = await operatorOnline(l);
    let release: () => void = () => {};
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    const asked: string[] = [];
    setToolExecutor(async (_env, _context, toolCalls) => {
      asked.push(...toolCalls.map((c) => c.name));
      await gate;
      return toolCalls.map((call) => ({
        latency_ms: 1,
        result: { name: call.name, outcome: "ok" as const },
      }));
    });
    const call = await RelayCall.connect(l.number.e164);
    await call.reply();
    await call.say("This is Jane Doe");
    const before = call.frames.length;
    call.send({ type: "prompt", voicePrompt: "March 5th 1980", lang: "en-US", last: true });
    // The agent has said it is checking; the lookup is running when the operator takes over.
    await vi.waitFor(
      () => {
        const said = call.frames
          .slice(before)
          .map((f: Frame) => f.token)
          .join("");
        if (!/check that\.$/.test(said)) throw new Error("not yet");
      },
      { timeout: 3000, interval: 5 },
    );
    await session(call.callId).takeover({ operator });
    release();
    const rest = await call.reply();
    expect(rest.text).toMatch(/One moment while I check that\.\s*$/);
    expect(asked).toEqual(["verify_identity"]);
    const agent = (await session(call.callId).snapshot()).turns.at(-1)!;
    expect(agent).toMatchObject({ speaker: "agent" });
    expect(agent.text).toBe(rest.text.trim());
    call.ws.close();
  });
});

describe("an escalation with nobody online", () => {
  it("forwards to the fallback number after the goodbye", async () => {
    const l = await line({ fallback: "forward", fallback_number: "+14155550199" });
    scriptedTools();
    // Offline and busy operators take nothing.
    await operatorOnline(l, "operator", "offline");
    await operatorOnline(l, "admin", "busy");
    const call = await RelayCall.connect(l.number.e164);
    await call.reply();
    const reply = await call.say(CHEST_PAIN);
    expect(JSON.parse(reply.end.handoffData)).toEqual({
      reason: "escalation",
      reason_code: "safety:chest_pain",
      to: "+14155550199",
    });
    expect((await published(l.ws.id, "call.escalated"))[0]!.data).toMatchObject({
      routed: "fallback",
      fallback: "forward",
    });
  });

  it("promises a call back and ends", async () => {
    const l = await line({ fallback: "callback" });
    scriptedTools();
    const call = await RelayCall.connect(l.number.e164);
    await call.reply();
    const reply = await call.say(CHEST_PAIN);
    expect(JSON.parse(reply.end.handoffData)).toEqual({
      reason: "escalation",
      reason_code: "safety:chest_pain",
    });
    expect((await published(l.ws.id, "call.escalated"))[0]!.data).toMatchObject({ fallback: "callback" });
    // A red flag is the highest risk whatever the caller's tone: the operator reads it so.
    expect((await published(l.ws.id, "call.updated")).at(-1)!.data).toMatchObject({
      safety: "chest_pain",
      risk_score: 1,
      risk_level: "escalate",
    });
    expect((await session(call.callId).liveView())!.timeline.at(-1)).toMatchObject({
      risk_level: "escalate",
    });
    // Whoever supervises hears that an escalation went unanswered.
    expect((await published(l.ws.id, "alert")).map((e) => e.data)).toEqual([
      {
        kind: "no_operator_online",
        call_id: call.callId,
        service_id: expect.any(String),
        reason: "safety:chest_pain",
        fallback: "callback",
      },
    ]);
    await finished(call.callId);
  });

  it("keeps the agent going with a promise of a call back", async () => {
    const l = await line({ fallback: "continue" });
    scriptedTools();
    const call = await RelayCall.connect(l.number.e164);
    await call.reply();
    const reply = await call.say(CHEST_PAIN);
    expect(reply.end).toBeNull();
    expect(reply.text).toContain(LINES.continue);
    expect(await session(call.callId).control()).toMatchObject({ mode: "agent", escalation: "fallback" });
    expect((await published(l.ws.id, "call.escalated"))[0]!.data).toMatchObject({
      routed: "fallback",
      fallback: "continue",
    });
    const next = await call.say("This is Jane Doe");
    expect(next.text).toMatch(/birth/i);
    call.ws.close();
  });

  it("falls back once the operator wait runs out", async () => {
    const l = await line({ fallback: "callback" });
    scriptedTools();
    await operatorOnline(l);
    setOperatorWaitLimit(50);
    const call = await RelayCall.connect(l.number.e164);
    await call.reply();
    const waiting = await call.say(CHEST_PAIN);
    expect(waiting.end).toBeNull();
    // The alarm at the wait limit: an apology, then the call back the handoff promises.
    const bye = await call.reply();
    expect(bye.text).toBe(LINES.callbackAfterWait);
    expect(JSON.parse(bye.end.handoffData)).toEqual({
      reason: "escalation",
      reason_code: "safety:chest_pain",
    });
    await finished(call.callId);
    expect((await published(l.ws.id, "call.updated")).at(-1)!.data).toMatchObject({
      escalation: "fallback",
    });
    expect((await published(l.ws.id, "alert")).map((e) => e.data)).toMatchObject([
      {
        kind: "operator_wait_expired",
        call_id: call.callId,
        reason: "safety:chest_pain",
        fallback: "callback",
      },
    ]);
  });
});

/** Someone speaking (a tone the fake transcriber turns into its next transcript), then a pause: base64 frames. */
function* voiceFrames() {
  const silence = (ms: number) => new Uint8Array((ms * SAMPLE_RATE) / 1000).fill(0xff);
  for (const bytes of [silence(200), fakeSpeech("x".repeat(12)), silence(900)])
    for (const frame of splitFrames(bytes, FRAME_BYTES)) yield toBase64(frame);
}

/** Twilio's side of a Media Stream, as much of it as these tests need. */
class StreamCall {
  readonly frames: Frame[] = [];
  readonly streamSid = fakeSid("MZ");
  #cursor = 0;

  constructor(
    readonly ws: WebSocket,
    readonly callId: string,
  ) {
    ws.addEventListener("message", (e) => {
      this.frames.push(JSON.parse(e.data as string));
    });
  }

  static async connect(to: string): Promise<StreamCall> {
    const params = voiceParams(to);
    const twiml = parseXml((await twilioPost("/telephony/twilio/voice", params)).text);
    const stream = twiml.children[0]!.children[0]!;
    const callId = stream.children.find((p) => p.attributes.name === "call_id")!.attributes.value!;
    const ws = (await upgrade(stream.attributes.url!)).webSocket!;
    ws.accept();
    const call = new StreamCall(ws, callId);
    call.send({
      event: "start",
      start: { streamSid: call.streamSid, callSid: params.CallSid, customParameters: { call_id: callId } },
    });
    return call;
  }

  send(frame: Frame) {
    this.ws.send(JSON.stringify(frame));
  }

  /** The caller speaks (a tone the fake transcriber turns into its next transcript), then pauses. */
  speak() {
    for (const payload of voiceFrames()) this.send({ event: "media", media: { track: "inbound", payload } });
  }

  /** The next reply's marks, once they stop coming. */
  async reply(): Promise<string[]> {
    const start = this.#cursor;
    let seen = -1;
    await vi.waitFor(
      () => {
        const count = this.frames.length;
        const settled = count === seen && this.frames.at(-1)?.event === "mark";
        seen = count;
        if (!this.frames.slice(start).some((f) => f.event === "mark") || !settled) throw new Error("not yet");
      },
      { timeout: 5000, interval: 40 },
    );
    const marks = this.frames.slice(start).filter((f) => f.event === "mark");
    this.#cursor = this.frames.length;
    return marks.map((f) => f.mark.name as string);
  }

  played(marks: string[]) {
    for (const name of marks) this.send({ event: "mark", mark: { name } });
  }
}

describe("operators on a Media Streams call", () => {
  it("hear both tracks, speak in the call's voice, and transfer once the announcement has played", async () => {
    setSpeechBinding(
      fakeAi({ transcripts: [CHEST_PAIN, "my chest still hurts", "An ambulance is on its way."] }),
    );
    const l = await line();
    await db().update(services).set({ voiceTransport: "media_streams" }).where(eq(services.id, l.serviceId));
    scriptedTools();
    const operator = await operatorOnline(l);
    const call = await StreamCall.connect(l.number.e164);
    call.played(await call.reply());
    const listener = await listen(call.callId, operator);
    const stub = session(call.callId);

    // The escalation waits for the operator; the listener hears the caller and the agent.
    call.speak();
    call.played(await call.reply());
    expect(await stub.control()).toMatchObject({ escalation: "waiting" });
    const audio = listener.frames.filter((f) => f.type === "audio");
    expect(audio.some((f) => f.track === "inbound")).toBe(true);
    expect(audio.some((f) => f.track === "outbound")).toBe(true);
    // Listeners never get what Twilio gets.
    expect(listener.frames.some((f) => "event" in f)).toBe(false);

    // Under takeover the caller's speech is transcribed and kept, and the agent does not answer.
    await stub.takeover({ operator });
    const before = call.frames.length;
    call.speak();
    await listener.next(isTurn("caller", "my chest still hurts"));
    await new Promise((r) => setTimeout(r, 100));
    expect(call.frames.slice(before).filter((f) => f.event === "media")).toEqual([]);

    // The operator's words are synthesized to the caller.
    expect(await stub.operatorSay({ operator, text: "I'm here with you." })).toEqual({ spoken: true });
    call.played(await call.reply());
    await listener.next(isTurn("operator", "I'm here with you."));

    // The operator speaks through the listen socket: the caller hears it, and it is transcribed as theirs.
    const voice = [...voiceFrames()];
    const sent = call.frames.length;
    for (const payload of voice) listener.ws.send(JSON.stringify({ type: "media", payload }));
    const spoken = await listener.next(isTurn("operator", "An ambulance is on its way."));
    expect(spoken.operator_user_id).toBe(operator);
    const heard = call.frames.slice(sent).filter((f) => f.event === "media");
    expect(heard.map((f) => f.media.payload)).toEqual(voice);
    expect(heard.every((f) => f.streamSid === call.streamSid)).toBe(true);
    // Someone listening without control is not heard.
    const bystander = await listen(call.callId, await operatorOnline(l, "admin"));
    const quietFrom = call.frames.length;
    bystander.ws.send(JSON.stringify({ type: "media", payload: voice[20] }));
    await new Promise((r) => setTimeout(r, 100));
    expect(call.frames.slice(quietFrom)).toEqual([]);

    // The transfer waits for the announcement's last mark, then redirects the call through Twilio's REST API.
    expect(await stub.transfer({ operator, to: "+14155550100" })).toMatchObject({ pending_transfer: true });
    const announcement = await call.reply();
    expect(await stub.control()).toMatchObject({ pending_transfer: true });
    expect((await stub.snapshot()).finishedAt).toBeNull();
    call.played(announcement);
    await finished(call.callId);
    expect(await stub.control()).toMatchObject({ pending_transfer: false });
    // Without Twilio credentials here the REST redirect is skipped; the `<Connect action>` Twilio requests
    // when the stream closes is answered from the session's handoff: dial the clinic line.
    expect(await stub.handoff()).toEqual({ reason: "transfer", to: "+14155550100" });
  });
});

describe("operators on an SMS session", () => {
  it("take over a text conversation: the patient's texts are kept, the operator's go out as texts", async () => {
    const l = await line();
    scriptedTools();
    const operator = await operatorOnline(l);
    const from = uniquePhoneNumber();
    const text = (body: string) => {
      const sid = fakeSid("SM");
      return twilioPost("/telephony/twilio/sms", {
        MessageSid: sid,
        SmsSid: sid,
        AccountSid: fakeSid("AC"),
        From: from,
        To: l.number.e164,
        Body: body,
        NumMedia: "0",
      }).then(() => sid);
    };
    const sid = await text(CHEST_PAIN);
    const call = (await findCallByProviderSid(db(), sid))!;
    const stub = session(call.id);
    await vi.waitFor(
      async () => {
        if ((await stub.control())?.escalation !== "waiting") throw new Error("not escalated yet");
      },
      { timeout: 5000, interval: 50 },
    );
    await stub.takeover({ operator });
    await text("Is anyone there?");
    await vi.waitFor(
      async () => {
        const turns = (await stub.snapshot()).turns;
        if (turns.at(-1)?.text !== "Is anyone there?") throw new Error("not handled yet");
      },
      { timeout: 5000, interval: 50 },
    );
    expect(
      await stub.operatorSay({ operator, text: "Yes, this is the nurse. Are you safe right now?" }),
    ).toEqual({
      spoken: true,
    });
    const outbox = async () =>
      Promise.all(
        (await db().select().from(deliveries).where(eq(deliveries.callId, call.id))).map(
          async (r) => (await openDelivery(env, r)).body,
        ),
      );
    await vi.waitFor(
      async () => {
        if (!(await outbox()).includes("Yes, this is the nurse. Are you safe right now?"))
          throw new Error("not sent yet");
      },
      { timeout: 5000, interval: 50 },
    );
    // The agent answered the first text only; the second waited for the operator.
    expect((await stub.snapshot()).turns.map((t) => t.speaker)).toEqual([
      "caller",
      "agent",
      "caller",
      "operator",
    ]);
    expect(await outbox()).toHaveLength(2);
  });
});

describe("languageValence", () => {
  it("reads negative words below zero, positive above, nothing as zero", () => {
    expect(languageValence("")).toBe(0);
    expect(languageValence("the pain is awful and I'm scared")).toBeLessThan(-0.5);
    expect(languageValence("thank you, that's great")).toBeGreaterThan(0.5);
    expect(Math.abs(languageValence("my appointment is on Tuesday at ten"))).toBeLessThan(0.2);
  });
});
