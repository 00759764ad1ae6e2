/**
 * The phone simulator: a simulated call is opened as the voice webhook opens one (provider `simulator`,
 * ConversationRelay whatever the service's setting), its socket is opened with the dashboard's own
 * credentials plus a token bound to the workspace, the call and the purpose, and the session speaks the
 * ConversationRelay protocol on it with `debug` frames that Twilio's sockets never get.
 */
import { env, exports } from "cloudflare:workers";
import { eq } from "drizzle-orm";
import twilio from "twilio";
import { beforeAll, describe, expect, it, vi } from "vitest";
import { SCHEDULING_GRAPH } from "../../scripts/demo-graphs";
import { blindIndex } from "../../shared/crypto/blind-index";
import { signSimulatorToken } from "../../workers/api/simulator";
import { openFromNumber } from "../../workers/db/calls";
import { callEvents, calls, services } from "../../workers/db/schema";
import { signStreamToken } from "../../workers/telephony/twilio-signature";
import { type Frame, RelayCall, relayLine } from "../calls/relay-client";
import { auditRows, db } from "../helpers/db";
import { api, BASE_URL, expectError } from "../helpers/http";
import { insertPhoneNumber, sessionCookie, uniquePhoneNumber } from "../helpers/workspace";
import { ingestPatient, type WorldFixture } from "../world/fixtures";

type Line = Awaited<ReturnType<typeof relayLine>>;

const CALLER = "+14155550123";

function startCall(line: Line, body: unknown, key = line.ws.keys.operator) {
  return api("POST", `/v1/${line.ws.id}/simulator/calls`, { key, body });
}

function openSocket(path: string, headers: Record<string, string>) {
  return exports.default.fetch(`${BASE_URL}${path}`, { headers: { Upgrade: "websocket", ...headers } });
}

const socketPath = (wsId: string, callId: string, token: string) =>
  `/v1/${wsId}/simulator/calls/${callId}/socket?token=${token}`;

/** A connected simulator socket and every frame the session sent on it. */
class SimulatorSocket {
  readonly frames: Frame[] = [];
  #cursor = 0;

  constructor(readonly ws: WebSocket) {
    ws.accept();
    ws.addEventListener("message", (e) => this.frames.push(JSON.parse(e.data as string)));
  }

  send(frame: Frame) {
    this.ws.send(JSON.stringify(frame));
  }

  /** The frames of the next turn: up to the text token with `last: true`, and an `end` right after it. */
  async turn(): Promise<{ debug: Frame; text: string; end: Frame | null }> {
    const start = this.#cursor;
    const lastAt = await vi.waitFor(
      () => {
        const i = this.frames.findIndex((f, j) => j >= start && f.type === "text" && f.last === true);
        if (i < 0) throw new Error("no complete reply yet");
        return i;
      },
      { timeout: 5000, interval: 5 },
    );
    await new Promise((r) => setTimeout(r, 20));
    const frames = this.frames.slice(start, lastAt + 1);
    const end = this.frames[lastAt + 1]?.type === "end" ? this.frames[lastAt + 1] : null;
    this.#cursor = lastAt + 1 + (end ? 1 : 0);
    return {
      debug: frames.find((f) => f.type === "debug"),
      text: frames
        .filter((f) => f.type === "text")
        .map((f) => f.token)
        .join(""),
      end,
    };
  }

  async say(voicePrompt: string) {
    this.send({ type: "prompt", voicePrompt, lang: "en-US", last: true });
    return this.turn();
  }
}

/** A line on the demo scheduling graph whose service is set to Media Streams (the simulator overrides it). */
async function mediaStreamsLine(): Promise<Line> {
  const line = await relayLine(SCHEDULING_GRAPH);
  await db().update(services).set({ voiceTransport: "media_streams" }).where(eq(services.id, line.serviceId));
  return line;
}

describe("starting a simulated call", () => {
  let line: Line;
  beforeAll(async () => {
    line = await mediaStreamsLine();
  });

  it("opens the call as the webhook would, marked simulator, on ConversationRelay, audited", async () => {
    const res = await startCall(line, { to: line.number.e164, from: CALLER });
    expect(res.status, res.text).toBe(201);
    const { call_id, socket_url, socket_path, provider_sid, expires_at } = res.body;
    expect(socket_path).toMatch(
      new RegExp(`^/v1/${line.ws.id}/simulator/calls/${call_id}/socket\\?token=\\d+\\.[A-Za-z0-9_-]{43}$`),
    );
    expect(socket_url).toBe(`wss://sb.test${socket_path}`);
    expect(Date.parse(expires_at)).toBeGreaterThan(Date.now());

    const row = (await db().select().from(calls).where(eq(calls.id, call_id)))[0]!;
    expect(row).toMatchObject({
      workspaceId: line.ws.id,
      serviceId: line.serviceId,
      phoneNumberId: line.number.id,
      provider: "simulator",
      providerSid: provider_sid,
      transport: "conversation_relay",
      channel: "voice",
      direction: "inbound",
      toNumber: line.number.e164,
      status: "in-progress",
    });
    // The caller's number is sealed and indexed exactly as the webhook does it.
    expect(await openFromNumber(env.ENCRYPTION_KEY, line.ws.id, call_id, row.fromNumberEnc!)).toBe(CALLER);
    expect(row.fromNumberHash).toBe(await blindIndex(env.ENCRYPTION_KEY, line.ws.id, "phone", CALLER));
    const events = await db().select().from(callEvents).where(eq(callEvents.callId, call_id));
    expect(events.map((e) => e.kind)).toEqual(["provider.voice"]);

    const audit = (await auditRows(line.ws.id)).filter((r) => r.action === "simulator.call_started");
    expect(audit.map((r) => r.targetId)).toEqual([call_id]);
    expect(JSON.stringify(audit)).not.toContain("5550123");
  });

  it("refuses viewers, and accepts admins", async () => {
    expectError(
      await startCall(line, { to: line.number.e164, from: CALLER }, line.ws.keys.viewer),
      "forbidden",
      403,
    );
    expect((await startCall(line, { to: line.number.e164, from: CALLER }, line.ws.keys.admin)).status).toBe(
      201,
    );
  });

  it("validates the numbers and writes nothing on bad input", async () => {
    const before = await db().$count(calls, eq(calls.workspaceId, line.ws.id));
    for (const body of [
      { to: "not a number", from: CALLER },
      { to: line.number.e164, from: "12" },
      { to: line.number.e164 },
      { to: line.number.e164, from: { patient: "x" } },
      { to: line.number.e164, from: CALLER, extra: true },
    ]) {
      expectError(await startCall(line, body), "validation_failed", 400);
    }
    // A number nobody has, and another workspace's number, are equally unknown.
    const other = await relayLine(SCHEDULING_GRAPH);
    expectError(await startCall(line, { to: uniquePhoneNumber(), from: CALLER }), "not_found", 404);
    expectError(await startCall(line, { to: other.number.e164, from: CALLER }), "not_found", 404);
    // A number without a service.
    const bare = await insertPhoneNumber(line.ws.id, null);
    expectError(await startCall(line, { to: bare.e164, from: CALLER }), "unprocessable", 422);
    // Another workspace's patient.
    expectError(
      await startCall(line, { to: line.number.e164, from: { patient_id: "ent_nobody" } }),
      "not_found",
      404,
    );
    expect(await db().$count(calls, eq(calls.workspaceId, line.ws.id))).toBe(before);
  });
});

describe("talking on the simulator socket", () => {
  let line: Line;
  beforeAll(async () => {
    line = await mediaStreamsLine();
  });

  it("speaks ConversationRelay with debug frames, as a demo patient from the world model", async () => {
    const f: WorldFixture = {
      ws: { id: line.ws.id, keys: line.ws.keys, keyIds: line.ws.keyIds },
      call: (role, method, path, body) =>
        api(method, `/v1/${line.ws.id}${path}`, { key: line.ws.keys[role], ...(body ? { body } : {}) }),
    };
    const phone = uniquePhoneNumber();
    const patientId = await ingestPatient(f, { given_name: "Maria", family_name: "Simulova", phone });
    const res = await startCall(line, { to: line.number.e164, from: { patient_id: patientId } });
    expect(res.status, res.text).toBe(201);
    const row = (await db().select().from(calls).where(eq(calls.id, res.body.call_id)))[0]!;
    expect(await openFromNumber(env.ENCRYPTION_KEY, line.ws.id, row.id, row.fromNumberEnc!)).toBe(phone);

    const upgrade = await openSocket(res.body.socket_path, {
      Authorization: `Bearer ${line.ws.keys.operator}`,
    });
    expect(upgrade.status).toBe(101);
    const sim = new SimulatorSocket(upgrade.webSocket!);
    sim.send({ type: "setup", callSid: res.body.provider_sid, from: phone, to: line.number.e164 });
    const greeting = await sim.turn();
    expect(greeting.text.length).toBeGreaterThan(0);
    expect(greeting.debug).toMatchObject({
      type: "debug",
      state_id: expect.any(String),
      risk: { score: expect.any(Number), level: "normal" },
      tools: expect.any(Array),
      patient_known: true,
      identity_verified: false,
      escalation: null,
      ending: null,
    });
    // The greeting never names a caller who has not verified who they are.
    expect(greeting.text).not.toContain("Simulova");

    const asked = await sim.say("I have chest pain and can't breathe");
    expect(asked.debug.escalation).toMatch(/^safety:/);
    expect(asked.end?.type).toBe("end");
    expect(JSON.parse(asked.end.handoffData)).toMatchObject({ reason: "escalation" });
    // No status callback comes for a simulated call: the session's end completes it.
    await vi.waitFor(async () => {
      const ended = (await db().select().from(calls).where(eq(calls.id, row.id)))[0]!;
      expect(ended).toMatchObject({
        status: "completed",
        escalated: true,
        durationSeconds: expect.any(Number),
      });
    });
    // Debug frames carry ids and codes, never what was said.
    for (const frame of sim.frames.filter((fr) => fr.type === "debug"))
      expect(JSON.stringify(frame)).not.toMatch(/breathe|Simulova|Maria/i);
  });

  it("sends no debug frames to Twilio's sockets", async () => {
    const relay = await relayLine(SCHEDULING_GRAPH);
    const call = await RelayCall.connect(relay.number.e164);
    await call.reply();
    expect(call.frames.some((f) => f.type === "debug")).toBe(false);
  });

  it("opens with a session cookie too", async () => {
    const res = await startCall(line, { to: line.number.e164, from: CALLER });
    const { cookie } = await sessionCookie(line.ws.members.operator.id);
    const upgrade = await openSocket(res.body.socket_path, { Cookie: cookie });
    expect(upgrade.status).toBe(101);
    upgrade.webSocket!.accept();
    upgrade.webSocket!.close(1000, "done");
  });
});

describe("the simulator socket's token", () => {
  let line: Line;
  let callId: string;
  let token: string;
  const operator = () => ({ Authorization: `Bearer ${line.ws.keys.operator}` });

  beforeAll(async () => {
    line = await mediaStreamsLine();
    const res = await startCall(line, { to: line.number.e164, from: CALLER });
    callId = res.body.call_id;
    token = new URL(res.body.socket_url).searchParams.get("token")!;
  });

  it("needs credentials and the operator role", async () => {
    expectError(
      await api("GET", socketPath(line.ws.id, callId, token), { headers: { Upgrade: "websocket" } }),
      "unauthorized",
      401,
    );
    const viewer = await openSocket(socketPath(line.ws.id, callId, token), {
      Authorization: `Bearer ${line.ws.keys.viewer}`,
    });
    expect(viewer.status).toBe(403);
  });

  it("refuses a tampered, missing, expired or other call's token", async () => {
    // Changed in the signature's first character: the last one of 43 base64url characters carries two
    // unused bits, so changing it can leave the decoded bytes (and the signature) the same.
    const [expiry, signature] = token.split(".") as [string, string];
    const tampered = `${expiry}.${signature.startsWith("A") ? "B" : "A"}${signature.slice(1)}`;
    const other = await startCall(line, { to: line.number.e164, from: CALLER });
    const otherToken = new URL(other.body.socket_url).searchParams.get("token")!;
    const expired = await signSimulatorToken(env.SIGNING_SECRET, line.ws.id, callId, {
      now: Date.now() - 10 * 60_000,
    });
    const later = `${Number(token.split(".")[0]) + 60}.${token.split(".")[1]}`;
    for (const bad of [tampered, otherToken, expired.token, later, "nonsense"]) {
      const res = await openSocket(socketPath(line.ws.id, callId, bad), operator());
      expect(res.status, bad).toBe(403);
    }
    // No token at all is a malformed request.
    expect((await openSocket(socketPath(line.ws.id, callId, ""), operator())).status).toBe(400);
    // A Twilio media-socket token for the call is not a simulator token.
    const twilioToken = await signStreamToken(env.SIGNING_SECRET, callId);
    expect((await openSocket(socketPath(line.ws.id, callId, twilioToken), operator())).status).toBe(403);
  });

  it("refuses another workspace, even with a valid token and the other workspace's operator", async () => {
    const other = await relayLine(SCHEDULING_GRAPH);
    const res = await openSocket(socketPath(other.ws.id, callId, token), {
      Authorization: `Bearer ${other.ws.keys.operator}`,
    });
    expect(res.status).toBe(403);
    // And its own key does not reach this workspace at all.
    const cross = await openSocket(socketPath(line.ws.id, callId, token), {
      Authorization: `Bearer ${other.ws.keys.operator}`,
    });
    expect(cross.status).toBe(403);
  });

  it("refuses a real (Twilio) call even with a token signed for it", async () => {
    const relay = await relayLine(SCHEDULING_GRAPH);
    const call = await RelayCall.connect(relay.number.e164);
    const signed = await signSimulatorToken(env.SIGNING_SECRET, relay.ws.id, call.callId);
    const res = await openSocket(socketPath(relay.ws.id, call.callId, signed.token), {
      Authorization: `Bearer ${relay.ws.keys.operator}`,
    });
    expect(res.status).toBe(403);
  });

  it("refuses a cross-origin page", async () => {
    const res = await openSocket(socketPath(line.ws.id, callId, token), {
      ...operator(),
      Origin: "https://evil.example",
    });
    expect(res.status).toBe(403);
  });

  it("does not open Twilio's relay route, signed or not", async () => {
    const path = `/telephony/twilio/relay/${callId}/${token}`;
    expect((await openSocket(path, {})).status).toBe(403);
    const signature = twilio.getExpectedTwilioSignature(
      env.TWILIO_AUTH_TOKEN,
      `${env.PUBLIC_BASE_URL.replace(/^http/, "ws")}${path}`,
      {},
    );
    expect((await openSocket(path, { "X-Twilio-Signature": signature })).status).toBe(403);
  });

  it("opens with the right token, and speaks", async () => {
    const upgrade = await openSocket(socketPath(line.ws.id, callId, token), operator());
    expect(upgrade.status).toBe(101);
    const sim = new SimulatorSocket(upgrade.webSocket!);
    sim.send({ type: "setup", callSid: "SIM0", from: CALLER, to: line.number.e164 });
    const greeting = await sim.turn();
    expect(greeting.debug.patient_known).toBe(false);
    // The person cuts the greeting short: the session keeps what they heard of it.
    const heard = greeting.text.split(" ").slice(0, 3).join(" ");
    sim.send({ type: "interrupt", utteranceUntilInterrupt: heard, durationUntilInterruptMs: 900 });
    const session = env.CALL_SESSION.get(env.CALL_SESSION.idFromName(callId)) as unknown as {
      snapshot(): Promise<{ turns: { speaker: string; heard: string | null }[] }>;
    };
    await vi.waitFor(async () => {
      const { turns } = await session.snapshot();
      expect(turns.find((t) => t.speaker === "agent")?.heard).toBe(heard);
    });
    const reply = await sim.say("What are your opening hours?");
    expect(reply.text.length).toBeGreaterThan(0);
    expect(reply.debug.previous_state_id).toBe(greeting.debug.state_id);
  });
});
