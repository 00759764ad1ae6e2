/**
 * A ConversationRelay client for tests: places a call through the signed voice webhook, opens the
 * WebSocket the TwiML names (upgrade signed as Twilio signs it, with the official `twilio` package), and
 * exchanges the protocol's JSON frames with the call's CallSession.
 */
import { env, exports } from "cloudflare:workers";
import { eq } from "drizzle-orm";
import twilio from "twilio";
import { expect, vi } from "vitest";
import type { CallSession } from "../../durable-objects/call-session";
import type { ContextGraphInput, KnowledgeKind } from "../../shared/calls/context-graph";
import { parseContextGraph } from "../../shared/calls/context-graph";
import { newId } from "../../shared/ids";
import { callSession } from "../../workers/calls/session-client";
import { callEvents, calls, contextGraphs, knowledgeEntries, services } from "../../workers/db/schema";
import { db } from "../helpers/db";
import { api, BASE_URL } from "../helpers/http";
import { uniquePhoneNumber } from "../helpers/workspace";
import { clinicLine, parseXml, twilioPost, voiceParams } from "../telephony/helpers";
import { ingestPatient, type PatientSeed } from "../world/fixtures";

// Frames are checked by assertions.
// biome-ignore lint/suspicious/noExplicitAny: see above
export type Frame = any;

/** A ConversationRelay line answering with `graph` (and its knowledge), on a fresh number. */
export async function relayLine(
  graph: ContextGraphInput,
  knowledge: { kind: KnowledgeKind; title: string; body: string; keywords: string[] }[] = [],
) {
  const line = await clinicLine("conversation_relay");
  const graphId = newId("cg");
  await db()
    .insert(contextGraphs)
    .values({
      id: graphId,
      workspaceId: line.ws.id,
      serviceId: line.serviceId,
      version: 1,
      graph: parseContextGraph(graph) as unknown as Record<string, unknown>,
    });
  await db().update(services).set({ contextGraphId: graphId }).where(eq(services.id, line.serviceId));
  if (knowledge.length > 0)
    await db()
      .insert(knowledgeEntries)
      .values(
        knowledge.map((k) => ({ id: newId("kn"), workspaceId: line.ws.id, serviceId: line.serviceId, ...k })),
      );
  return { ...line, graphId };
}

/**
 * A patient of the line's workspace who calls from their own number: `Maria <family>`, born April 2nd 1980
 * (what the scripted verification says), plus whatever else `seed` gives them.
 */
export async function linePatient(
  line: Awaited<ReturnType<typeof relayLine>>,
  prefix: string,
  seed: PatientSeed = {},
) {
  const family = `${prefix}${Array.from({ length: 6 }, () => String.fromCharCode(97 + Math.floor(Math.random() * 26))).join("")}`;
  const phone = uniquePhoneNumber();
  const fixture = {
    ws: line.ws,
    call: (role: "operator", method: string, path: string, body?: unknown) =>
      api(method, `/v1/${line.ws.id}${path}`, {
        key: line.ws.keys[role],
        ...(body !== undefined ? { body } : {}),
      }),
  };
  const patientId = await ingestPatient(fixture as never, {
    given_name: "Maria",
    family_name: family,
    phone,
    ...seed,
  });
  return { patientId, family, phone };
}

/** The relay socket's path and call id, from the TwiML a signed voice webhook answers with. */
export async function dial(to: string, from = "+14155550123") {
  const params = voiceParams(to, { From: from, Caller: from });
  const res = await twilioPost("/telephony/twilio/voice", params);
  expect(res.status, res.text).toBe(200);
  const relay = parseXml(res.text).children[0]!.children[0]!;
  expect(relay.name).toBe("ConversationRelay");
  const url = relay.attributes.url!;
  const callId = relay.children.find((p) => p.attributes.name === "call_id")!.attributes.value!;
  return { url, path: new URL(url).pathname, callId, callSid: params.CallSid };
}

/** The upgrade request Twilio makes for `url` (signed over the public wss URL, no parameters). */
export function upgrade(url: string, options: { signature?: string | null; path?: string } = {}) {
  const signature =
    options.signature === undefined
      ? twilio.getExpectedTwilioSignature(env.TWILIO_AUTH_TOKEN, url, {})
      : options.signature;
  const headers: Record<string, string> = { Upgrade: "websocket" };
  if (signature !== null) headers["X-Twilio-Signature"] = signature;
  return exports.default.fetch(`${BASE_URL}${options.path ?? new URL(url).pathname}`, { headers });
}

export class RelayCall {
  readonly frames: Frame[] = [];
  #cursor = 0;
  closed = false;

  constructor(
    readonly ws: WebSocket,
    readonly callId: string,
    readonly callSid: string,
  ) {
    ws.addEventListener("message", (e) => {
      this.frames.push(JSON.parse(e.data as string));
    });
    ws.addEventListener("close", () => {
      this.closed = true;
    });
  }

  /** Dials `to`, opens the relay socket and sends `setup`; does not wait for the greeting. */
  static async connect(to: string, from = "+14155550123"): Promise<RelayCall> {
    const { url, callId, callSid } = await dial(to, from);
    const res = await upgrade(url);
    expect(res.status).toBe(101);
    const ws = res.webSocket!;
    ws.accept();
    const call = new RelayCall(ws, callId, callSid);
    call.send({
      type: "setup",
      sessionId: `VX${"0".repeat(32)}`,
      accountSid: `AC${"0".repeat(32)}`,
      parentCallSid: "",
      callSid,
      from,
      to,
      forwardedFrom: to,
      callType: "PSTN",
      callerName: "",
      direction: "inbound",
      callStatus: "RINGING",
      customParameters: { call_id: callId },
    });
    return call;
  }

  send(frame: Frame | string) {
    this.ws.send(typeof frame === "string" ? frame : JSON.stringify(frame));
  }

  /** The next reply: its text tokens joined (up to the one with `last: true`), and an `end` right after, if any. */
  async reply(): Promise<{ text: string; tokens: Frame[]; end: Frame | null }> {
    const start = this.#cursor;
    const lastAt = await vi.waitFor(
      () => {
        const i = this.frames.findIndex((f, j) => j >= start && f.type === "text" && f.last === true);
        if (i < 0) throw new Error("no complete reply yet");
        return i;
      },
      { timeout: 5000, interval: 5 },
    );
    const tokens = this.frames.slice(start, lastAt + 1);
    // An `end` is sent right after the last token of a goodbye.
    await new Promise((r) => setTimeout(r, 20));
    const next = this.frames[lastAt + 1];
    const end = next?.type === "end" ? next : null;
    this.#cursor = lastAt + 1 + (end ? 1 : 0);
    expect(tokens.every((t) => t.type === "text")).toBe(true);
    return { text: tokens.map((t) => t.token).join(""), tokens, end };
  }

  /** Says something and waits for the agent's reply. */
  async say(voicePrompt: string) {
    this.send({ type: "prompt", voicePrompt, lang: "en-US", last: true });
    return this.reply();
  }
}

/** The call's CallSession, for its `snapshot()` (turn text only while the call lives). */
export function sessionSnapshot(callId: string) {
  return (callSession(env, callId) as unknown as DurableObjectStub<CallSession>).snapshot();
}

/**
 * Once the session has written its end to D1: the call row, and its call events, each kind in the
 * order the session stored it (`session:<table>:<n>` keys).
 */
export async function endedCall(callId: string) {
  await vi.waitFor(
    async () => {
      if (!(await sessionSnapshot(callId)).finishedAt) throw new Error("the call has not finished");
    },
    { timeout: 5000, interval: 20 },
  );
  const row = (await db().query.calls.findFirst({ where: eq(calls.id, callId) }))!;
  const order = (key: string) => Number(/:(\d+)$/.exec(key)?.[1] ?? Number.MAX_SAFE_INTEGER);
  const events = (await db().select().from(callEvents).where(eq(callEvents.callId, callId))).sort(
    (a, b) => order(a.dedupeKey) - order(b.dedupeKey),
  );
  const ofKind = (kind: string) => events.filter((e) => e.kind === kind).map((e) => e.data);
  return {
    row,
    events,
    /** `{ name, outcome }` of each tool the session ran, in order. */
    tools: ofKind("tool").map((d) => ({ name: d.name as string, outcome: d.outcome as string })),
    ofKind,
  };
}

/** The caller has nothing more: the agent's goodbye ends the call as completed, and the call's record is read. */
export async function hangUpCompleted(call: RelayCall) {
  const bye = await call.say("no that's all, thanks");
  expect(bye.end, bye.text).not.toBeNull();
  expect(JSON.parse(bye.end.handoffData)).toEqual({ reason: "completed" });
  return endedCall(call.callId);
}
