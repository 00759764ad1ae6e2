/**
 * The CallSession over a real ConversationRelay WebSocket (signed upgrade through the Worker's route),
 * driving the LocalEngine on the demo scheduling graph with a scripted tool executor: greeting on setup,
 * turns persisted in the object's SQLite storage, interrupts trimming what the caller heard, invalid
 * frames logged and survived, safety escalation ending the call with handoff data, no PHI to an
 * unverified caller, eviction mid-call, silence and maximum-duration alarms, and what the end writes to
 * D1 (ids and timings only) and R2 (the transcript).
 */
import { evictDurableObject, runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { and, eq } from "drizzle-orm";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { type CallSession, replyTokens, setToolExecutor } from "../../durable-objects/call-session";
import { INQUIRIES_GRAPH, SCHEDULING_GRAPH } from "../../scripts/demo-graphs";
import type { ToolCall } from "../../shared/engine/engine";
import { callSession } from "../../workers/calls/session-client";
import type { ToolExecution } from "../../workers/calls/tools";
import { callEvents, calls } from "../../workers/db/schema";
import { getTranscript } from "../../workers/world/memory";
import { db } from "../helpers/db";
import { expectError } from "../helpers/http";
import { ehrLinkedPatient } from "../helpers/operations";
import { ACCOUNT_SID, parseXml, published, twilioPost } from "../telephony/helpers";
import { PATIENT, PHI_STRINGS, SLOTS } from "../unit/engine/fixtures";
import { dial, RelayCall, relayLine, upgrade } from "./relay-client";

/** A scripted tool executor: answers by tool name, and records what it was asked. */
function scriptedTools(answers: Partial<Record<ToolCall["name"], Omit<ToolExecution, "latency_ms">>> = {}) {
  const asked: ToolCall[] = [];
  setToolExecutor(async (_env, _context, toolCalls) => {
    asked.push(...toolCalls);
    return toolCalls.map((call) => ({
      latency_ms: 3,
      ...(answers[call.name] ?? { result: { name: call.name, outcome: "ok" } }),
    }));
  });
  return asked;
}

const VERIFIED_TOOLS = {
  verify_identity: {
    result: { name: "verify_identity", outcome: "ok" },
    patientEntityId: "ent_scripted",
    patient: PATIENT,
  },
  find_slots: { result: { name: "find_slots", outcome: "ok", data: { options: SLOTS } } },
  book_appointment: { result: { name: "book_appointment", outcome: "ok", data: { label: SLOTS[1]!.label } } },
} satisfies Partial<Record<ToolCall["name"], Omit<ToolExecution, "latency_ms">>>;

const session = (callId: string) => callSession(env, callId) as unknown as DurableObjectStub<CallSession>;
const snapshot = (callId: string) => session(callId).snapshot();

async function finished(callId: string) {
  await vi.waitFor(
    async () => {
      if (!(await snapshot(callId)).finishedAt) throw new Error("not finished");
    },
    { timeout: 5000, interval: 20 },
  );
  return (await db().query.calls.findFirst({ where: eq(calls.id, callId) }))!;
}

afterEach(() => setToolExecutor());

describe("CallSession over ConversationRelay", () => {
  let line: Awaited<ReturnType<typeof relayLine>>;
  beforeEach(async () => {
    line = await relayLine(SCHEDULING_GRAPH);
  });

  it("greets on setup, streams replies as tokens, and keeps every turn in its storage", async () => {
    scriptedTools();
    const call = await RelayCall.connect(line.number.e164);
    const greeting = await call.reply();
    expect(greeting.text).toMatch(/name/i);
    expect(greeting.tokens.length).toBeGreaterThan(1);
    expect(greeting.tokens.slice(0, -1).every((t: { last: boolean }) => t.last === false)).toBe(true);
    expect(greeting.end).toBeNull();

    const second = await call.say("This is Jane Doe");
    expect(second.text).toMatch(/birth/i);

    const snap = await snapshot(call.callId);
    expect(snap.call).toMatchObject({
      callId: call.callId,
      workspaceId: line.ws.id,
      serviceId: line.serviceId,
    });
    expect(snap.turns.map((t) => t.speaker)).toEqual(["agent", "caller", "agent"]);
    expect(snap.turns[1]!.text).toBe("This is Jane Doe");
    expect(snap.engineState?.state_id).toBe("verify_identity");
    expect(snap.engineState?.collected.full_name).toBeTruthy();
    // The caller's number is not kept in clear: only the sealed form D1 already holds.
    expect(JSON.stringify(snap.call)).not.toContain("4155550123");

    // Each turn publishes the call's full live overlay (ids, codes, numbers: no PHI).
    const updates = await published(line.ws.id, "call.updated");
    expect(updates.at(-1)!.data).toMatchObject({
      call_id: call.callId,
      service_id: line.serviceId,
      transport: "conversation_relay",
      state_id: "verify_identity",
      turn_count: 1,
      risk_level: "normal",
      escalation: "none",
      mode: "agent",
      patient_verified: false,
    });
    expect(JSON.stringify(updates)).not.toContain("Jane");
    call.ws.close();
  });

  it("books through the tools, ends with handoff data after the goodbye, and writes D1 and R2", async () => {
    const patientId = await ehrLinkedPatient(line.ws);
    const asked = scriptedTools({
      ...VERIFIED_TOOLS,
      verify_identity: { ...VERIFIED_TOOLS.verify_identity, patientEntityId: patientId },
    });
    const call = await RelayCall.connect(line.number.e164);
    await call.reply();
    await call.say("This is Jane Doe");
    const verified = await call.say("March 5th 1980");
    expect(verified.text).toMatch(/help/i);
    await call.say("I need to make an appointment");
    const offered = await call.say("next Tuesday afternoon");
    expect(offered.text).toContain(SLOTS[1]!.label);
    await call.say("the second one");
    const booked = await call.say("yes please");
    expect(booked.end).toBeNull();
    const bye = await call.say("no that's all, thanks");
    expect(bye.end).not.toBeNull();
    expect(JSON.parse(bye.end.handoffData)).toEqual({ reason: "completed" });

    expect(asked.map((c) => c.name)).toEqual(["verify_identity", "find_slots", "book_appointment"]);
    expect(asked[2]!.args.selected_option).toEqual(SLOTS[1]);

    const row = await finished(call.callId);
    expect(row).toMatchObject({ finalState: "end", escalated: false, patientEntityId: patientId });
    const events = await db()
      .select()
      .from(callEvents)
      .where(and(eq(callEvents.workspaceId, line.ws.id), eq(callEvents.callId, call.callId)));
    const kinds = new Set(events.map((e) => e.kind));
    for (const kind of ["turn", "tool", "state", "setup", "end"]) expect(kinds).toContain(kind);
    const tools = events.filter((e) => e.kind === "tool").map((e) => e.data);
    expect(tools).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ name: "book_appointment", outcome: "ok", latency_ms: 3 }),
      ]),
    );
    // No PHI in the timeline: nothing the caller or the agent said.
    const timeline = JSON.stringify(events.map((e) => e.data));
    for (const said of ["Jane", "1980", "Tuesday", SLOTS[1]!.label]) expect(timeline).not.toContain(said);

    // The transcript is in R2, speaker-attributed, and the object forgot the words.
    const transcript = (await getTranscript(env, line.ws.id, call.callId))!;
    expect(transcript.turns.map((t) => t.speaker)).toContain("caller");
    expect(transcript.turns.find((t) => t.speaker === "caller")?.text).toBe("This is Jane Doe");
    const snap = await snapshot(call.callId);
    expect(snap.turns.every((t) => t.text === "")).toBe(true);

    // Closing the socket afterwards changes nothing.
    call.ws.close();
    const again = await db().select().from(callEvents).where(eq(callEvents.callId, call.callId));
    expect(again.length).toBe(events.length);
  });

  it("streams what the agent says before a lookup at once, and the rest once the tool answers", async () => {
    let release: () => void = () => {};
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    setToolExecutor(async (_env, _context, toolCalls) => {
      await gate;
      return toolCalls.map((call) => ({
        latency_ms: 3,
        ...VERIFIED_TOOLS.verify_identity,
        result: { name: call.name, outcome: "ok" },
      }));
    });
    const call = await RelayCall.connect(line.number.e164);
    await call.reply();
    await call.say("This is Jane Doe");
    const before = call.frames.length;
    call.send({ type: "prompt", voicePrompt: "March 5th 1980", lang: "en-US", last: true });
    // While verify_identity is still running, the caller already hears the agent.
    const early = await vi.waitFor(
      () => {
        const tokens = call.frames.slice(before).filter((f) => f.type === "text");
        if (tokens.length === 0) throw new Error("nothing yet");
        return tokens;
      },
      { timeout: 3000, interval: 5 },
    );
    expect(early.map((t) => t.token).join("")).toMatch(/one moment/i);
    expect(early.every((t) => t.last === false)).toBe(true);
    release();
    const rest = await call.reply();
    expect(rest.text).toMatch(/One moment while I check that\..*help/s);
    // One agent turn, its first token timed at the early part.
    const snap = await snapshot(call.callId);
    expect(snap.turns.map((t) => t.speaker)).toEqual(["agent", "caller", "agent", "caller", "agent"]);
    expect(snap.turns.at(-1)!.text).toBe(rest.text);
    call.ws.close();
  });

  it("escalates chest pain at once: the goodbye, then end with the reason, and call.escalated", async () => {
    const asked = scriptedTools({
      escalate: { result: { name: "escalate", outcome: "ok" }, escalation: { reason: "safety:chest_pain" } },
    });
    const call = await RelayCall.connect(line.number.e164);
    await call.reply();
    const reply = await call.say("I'm having chest pain right now");
    expect(reply.end).not.toBeNull();
    expect(JSON.parse(reply.end.handoffData)).toEqual({
      reason: "escalation",
      reason_code: "safety:chest_pain",
    });
    expect(asked.map((c) => c.name)).toEqual(["escalate"]);
    const escalated = await published(line.ws.id, "call.escalated");
    // Nobody online to take it: the service's fallback (a call back) runs.
    expect(escalated.map((e) => e.data)).toEqual([
      {
        call_id: call.callId,
        service_id: line.serviceId,
        reason: "safety:chest_pain",
        routed: "fallback",
        fallback: "callback",
      },
    ]);
    const row = await finished(call.callId);
    expect(row.escalated).toBe(true);
    // Nobody to forward to (the service's fallback is a call back): Twilio is told to say so and hang up.
    const action = await twilioPost(`/telephony/twilio/handoff/${call.callId}`, {
      CallSid: call.callSid,
      AccountSid: ACCOUNT_SID,
    });
    expect(parseXml(action.text).children.map((c) => c.name)).toEqual(["Say", "Hangup"]);
    // A request naming another call's id, or an unsigned one, changes nothing.
    const other = await twilioPost(`/telephony/twilio/handoff/call_${"x".repeat(22)}`, {
      CallSid: call.callSid,
      AccountSid: ACCOUNT_SID,
    });
    expect(parseXml(other.text).children.map((c) => c.name)).toEqual(["Hangup"]);
    const unsigned = await twilioPost(
      `/telephony/twilio/handoff/${call.callId}`,
      { CallSid: call.callSid, AccountSid: ACCOUNT_SID },
      { unsigned: true },
    );
    expect(unsigned.status).toBe(403);
    const events = await db().select().from(callEvents).where(eq(callEvents.callId, call.callId));
    expect(events.find((e) => e.kind === "escalation")?.data).toMatchObject({ reason: "safety:chest_pain" });
  });

  it("tells an unverified caller nothing from the record, in any token", async () => {
    scriptedTools({
      verify_identity: { result: { name: "verify_identity", outcome: "none" }, patient: PATIENT },
    });
    const call = await RelayCall.connect(line.number.e164);
    await call.reply();
    for (const said of ["Jane Doe", "3/5/1980", "when is my appointment?", "call me back"]) {
      const { end } = await call.say(said);
      if (end) break;
    }
    const tokens = call.frames.filter((f) => f.type === "text").map((f) => f.token as string);
    expect(tokens.length).toBeGreaterThan(3);
    for (const token of tokens) for (const phi of PHI_STRINGS) expect(token).not.toContain(phi);
    expect((await snapshot(call.callId)).call?.verified).toBe(false);
  });

  it("trims the agent's turn to what the caller heard when they barge in", async () => {
    scriptedTools();
    const call = await RelayCall.connect(line.number.e164);
    const greeting = await call.reply();
    const heard = greeting.text.split(" ").slice(0, 3).join(" ");
    call.send({ type: "interrupt", utteranceUntilInterrupt: heard, durationUntilInterruptMs: 900 });
    await call.say("Jane Doe");
    const snap = await snapshot(call.callId);
    expect(snap.turns[0]).toMatchObject({ speaker: "agent", text: greeting.text, heard });
    call.ws.close();
  });

  it("logs invalid frames with ids only and goes on with the call", async () => {
    scriptedTools();
    const warn = vi.spyOn(console, "warn");
    const call = await RelayCall.connect(line.number.e164);
    await call.reply();
    call.send("this is not JSON, Jane Doe");
    call.send({ type: "prompt", text: "Jane Doe" });
    call.send({ type: "bogus", voicePrompt: "Jane Doe" });
    call.send({ type: "error", description: "Invalid message received" });
    const next = await call.say("This is Jane Doe");
    expect(next.text).toMatch(/birth/i);
    const lines = warn.mock.calls.map((c) => String(c[0]));
    warn.mockRestore();
    const invalid = lines.filter((l) => l.includes("call.invalid_frame"));
    expect(invalid).toHaveLength(3);
    expect(lines.some((l) => l.includes("call.relay_error"))).toBe(true);
    for (const l of lines) expect(l).not.toContain("Jane");
    expect(call.closed).toBe(false);
    call.ws.close();
  });

  it("resumes the conversation after the object is evicted mid-call", async () => {
    scriptedTools(VERIFIED_TOOLS);
    const call = await RelayCall.connect(line.number.e164);
    await call.reply();
    await call.say("This is Jane Doe");
    await evictDurableObject(session(call.callId));
    const after = await call.say("March 5th 1980");
    expect(after.text).toMatch(/help/i);
    const snap = await snapshot(call.callId);
    expect(snap.engineState?.state_id).toBe("identify_need");
    expect(snap.call?.verified).toBe(true);
    expect(snap.turns.map((t) => t.speaker)).toEqual(["agent", "caller", "agent", "caller", "agent"]);
    expect(snap.tools.map((t) => t.name)).toEqual(["verify_identity"]);
    call.ws.close();
  });

  it("re-prompts once after silence, then ends politely", async () => {
    scriptedTools();
    const call = await RelayCall.connect(line.number.e164);
    await call.reply();
    const stub = session(call.callId);
    const expire = () =>
      runInDurableObject(stub, (_, state) => {
        state.storage.sql.exec("UPDATE meta SET value = '0' WHERE key = 'silence_deadline'");
      });
    await expire();
    expect(await runDurableObjectAlarm(stub)).toBe(true);
    const reprompt = await call.reply();
    expect(reprompt.text).toBe("Are you still there?");
    expect(reprompt.end).toBeNull();
    await expire();
    await runDurableObjectAlarm(stub);
    const bye = await call.reply();
    expect(bye.text).toMatch(/goodbye/i);
    expect(JSON.parse(bye.end.handoffData)).toEqual({ reason: "silence" });
    await finished(call.callId);
  });

  it("ends the call at the maximum duration", async () => {
    scriptedTools();
    const call = await RelayCall.connect(line.number.e164);
    await call.reply();
    const stub = session(call.callId);
    await runInDurableObject(stub, (_, state) => {
      state.storage.sql.exec("UPDATE meta SET value = '0' WHERE key = 'max_deadline'");
    });
    await runDurableObjectAlarm(stub);
    const bye = await call.reply();
    expect(JSON.parse(bye.end.handoffData)).toEqual({ reason: "max_duration" });
    await finished(call.callId);
  });
});

describe("CallSession: transfers, digits and partial prompts", () => {
  it("defers a transfer until after the goodbye's last token: end carries the number", async () => {
    const line = await relayLine(INQUIRIES_GRAPH);
    const asked = scriptedTools({
      transfer: { result: { name: "transfer", outcome: "ok" }, transfer: { to: "+14155550100" } },
    });
    const call = await RelayCall.connect(line.number.e164);
    await call.reply();
    const reply = await call.say("I need an appointment");
    expect(reply.text.length).toBeGreaterThan(0);
    expect(JSON.parse(reply.end.handoffData)).toEqual({ reason: "transfer", to: "+14155550100" });
    // The end frame comes right after the token marked last, never before it.
    const endAt = call.frames.findIndex((f) => f.type === "end");
    expect(call.frames[endAt - 1]).toMatchObject({ type: "text", last: true });
    expect(asked).toEqual([{ name: "transfer", args: { to: "+14155550100" } }]);
    const row = await finished(call.callId);
    expect(row.finalState).toBe("transfer_to_scheduling");
    // Twilio then asks the `<Connect action>` what to do: dial the number.
    const action = await twilioPost(`/telephony/twilio/handoff/${call.callId}`, {
      CallSid: call.callSid,
      AccountSid: ACCOUNT_SID,
      CallStatus: "in-progress",
      HandoffData: JSON.stringify({ reason: "transfer", to: "+19995550100" }),
    });
    expect(action.status).toBe(200);
    const dialed = parseXml(action.text).children;
    expect(dialed.map((c) => c.name)).toEqual(["Dial"]);
    // The session's record decides, not what the request claims.
    expect(dialed[0]!.text).toBe("+14155550100");
    // After the end, the session answers nothing more.
    call.send({ type: "prompt", voicePrompt: "hello?", lang: "en-US", last: true });
    await new Promise((r) => setTimeout(r, 50));
    expect(call.frames.filter((f) => f.type === "text").at(-1)?.last).toBe(true);
    expect(call.frames.at(-1)?.type).toBe("end");
  });

  it("answers a DTMF digit as a turn, and waits for the last piece of a partial prompt", async () => {
    const line = await relayLine(SCHEDULING_GRAPH);
    scriptedTools();
    const call = await RelayCall.connect(line.number.e164);
    await call.reply();
    call.send({ type: "prompt", voicePrompt: "This is Jane ", lang: "en-US", last: false });
    const whole = await (async () => {
      call.send({ type: "prompt", voicePrompt: "Doe", lang: "en-US", last: true });
      return call.reply();
    })();
    expect(whole.text).toMatch(/birth/i);
    call.send({ type: "dtmf", digit: "1" });
    await call.reply();
    const snap = await snapshot(call.callId);
    expect(snap.turns.filter((t) => t.speaker === "caller").map((t) => t.text)).toEqual([
      "This is Jane Doe",
      "1",
    ]);
    call.ws.close();
  });
});

describe("the media socket upgrade", () => {
  it("refuses a missing or wrong signature and a wrong token with 403", async () => {
    const line = await relayLine(SCHEDULING_GRAPH);
    const { url, path } = await dial(line.number.e164);
    for (const res of [
      await upgrade(url, { signature: null }),
      await upgrade(url, { signature: "bm90IGEgc2lnbmF0dXJl" }),
      await upgrade(url, { path: path.replace(/\/[^/]+$/, "/9999999999.AAAA") }),
    ]) {
      expect(res.status).toBe(403);
      const text = await res.text();
      expectError(
        { status: res.status, headers: res.headers, body: JSON.parse(text), text },
        "forbidden",
        403,
      );
    }
  });

  it("closes a Media Streams socket with a logged reason (no speech services)", async () => {
    const line = await relayLine(SCHEDULING_GRAPH);
    const { url } = await dial(line.number.e164);
    const streamUrl = url.replace("/telephony/twilio/relay/", "/telephony/twilio/stream/");
    const res = await upgrade(streamUrl);
    expect(res.status).toBe(101);
    const ws = res.webSocket!;
    const closed = new Promise<CloseEvent>((resolve) => ws.addEventListener("close", resolve));
    ws.accept();
    expect((await closed).code).toBe(1011);
  });
});

describe("replyTokens", () => {
  it("splits a reply into a few tokens that join back to it", () => {
    const reply = "Thanks for calling. How can I help you today?";
    const tokens = replyTokens(reply);
    expect(tokens.length).toBe(3);
    expect(tokens.join("")).toBe(reply);
    expect(replyTokens("")).toEqual([""]);
  });
});
