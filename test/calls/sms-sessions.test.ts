/**
 * SMS text sessions end to end: a signed inbound message reaches the call's CallSession (stored, then
 * handled by its alarm as a turn of the same engine and graph as a voice call), the reply goes out
 * through the outbox (a `deliveries` row with the body sealed, sent by the delivery queue's `message.send`
 * job and the local Messaging adapter), a redelivered message is answered once, and a conversation the agent closed
 * takes no more messages: the next one opens a new session.
 */
import { env } from "cloudflare:workers";
import { and, eq } from "drizzle-orm";
import { afterEach, describe, expect, it, vi } from "vitest";
import { type CallSession, setToolExecutor } from "../../durable-objects/call-session";
import { SCHEDULING_GRAPH } from "../../scripts/demo-graphs";
import { callSession } from "../../workers/calls/session-client";
import { findCallByProviderSid } from "../../workers/db/calls";
import { calls, deliveries } from "../../workers/db/schema";
import { openDelivery } from "../../workers/telephony/messaging";
import { db } from "../helpers/db";
import { fakeSid, twilioPost } from "../telephony/helpers";
import { PATIENT } from "../unit/engine/fixtures";
import { relayLine } from "./relay-client";

const SMS = "/telephony/twilio/sms";
const session = (callId: string) => callSession(env, callId) as unknown as DurableObjectStub<CallSession>;

const message = (to: string, from: string, body: string, sid = fakeSid("SM")) => ({
  MessageSid: sid,
  SmsSid: sid,
  AccountSid: fakeSid("AC"),
  From: from,
  To: to,
  Body: body,
  NumMedia: "0",
});

/** The agent's replies on a session, oldest first, as the patient's phone would show them. */
async function replies(workspaceId: string, callId: string): Promise<string[]> {
  const rows = await db()
    .select()
    .from(deliveries)
    .where(and(eq(deliveries.workspaceId, workspaceId), eq(deliveries.callId, callId)));
  const sent = rows
    .filter((r) => r.status === "sent")
    .sort((a, b) => a.createdAt.localeCompare(b.createdAt) || a.id.localeCompare(b.id));
  return Promise.all(sent.map(async (r) => (await openDelivery(env, r)).body));
}

async function waitForReplies(workspaceId: string, callId: string, count: number) {
  return vi.waitFor(
    async () => {
      const got = await replies(workspaceId, callId);
      if (got.length < count) throw new Error(`${got.length} of ${count} replies`);
      return got;
    },
    { timeout: 8000, interval: 50 },
  );
}

afterEach(() => setToolExecutor());

describe("SMS text sessions", () => {
  it("answers each text through the engine and the Messaging adapter, once per message", async () => {
    const line = await relayLine(SCHEDULING_GRAPH);
    setToolExecutor(async (_env, _context, toolCalls) =>
      toolCalls.map((call) => ({
        latency_ms: 2,
        result: { name: call.name, outcome: "ok" },
        ...(call.name === "verify_identity" ? { patientEntityId: "ent_sms", patient: PATIENT } : {}),
      })),
    );
    const from = "+14155550177";
    const first = message(line.number.e164, from, "Hi, this is Jane Doe");
    expect((await twilioPost(SMS, first)).status).toBe(200);
    const call = (await findCallByProviderSid(db(), first.MessageSid))!;
    const [firstReply] = await waitForReplies(line.ws.id, call.id, 1);
    expect(firstReply).toMatch(/birth/i);

    // Twilio delivers the next message twice: one reply.
    const second = message(line.number.e164, from, "March 5th 1980");
    await twilioPost(SMS, second);
    await twilioPost(SMS, second);
    const [, secondReply] = await waitForReplies(line.ws.id, call.id, 2);
    expect(secondReply).toMatch(/help/i);
    await new Promise((r) => setTimeout(r, 300));
    expect(await replies(line.ws.id, call.id)).toHaveLength(2);

    const snap = await session(call.id).snapshot();
    expect(snap.call).toMatchObject({ transport: "sms", verified: true });
    expect(snap.turns.map((t) => t.speaker)).toEqual(["caller", "agent", "caller", "agent"]);
    expect(snap.turns[0]!.text).toBe("Hi, this is Jane Doe");

    // Every outbound message names the local adapter and carries no plaintext.
    const outbound = await db().select().from(deliveries).where(eq(deliveries.callId, call.id));
    expect(outbound).toHaveLength(2);
    for (const row of outbound) {
      expect(row).toMatchObject({ channel: "sms", purpose: "call_reply", provider: "local", status: "sent" });
      expect(JSON.stringify(row)).not.toMatch(/birth|Jane/i);
    }
  });

  it("a conversation the agent ended takes no more messages: the next text opens a new session", async () => {
    const line = await relayLine(SCHEDULING_GRAPH);
    setToolExecutor(async (_env, _context, toolCalls) =>
      toolCalls.map((call) => ({
        latency_ms: 2,
        result: { name: call.name, outcome: "ok" },
        ...(call.name === "escalate" ? { escalation: { reason: "safety:chest_pain" } } : {}),
      })),
    );
    const from = "+14155550178";
    const first = message(line.number.e164, from, "I'm having chest pain right now");
    await twilioPost(SMS, first);
    const call = (await findCallByProviderSid(db(), first.MessageSid))!;
    await waitForReplies(line.ws.id, call.id, 1);
    await vi.waitFor(
      async () => {
        const row = await db().query.calls.findFirst({ where: eq(calls.id, call.id) });
        if (row?.status !== "completed") throw new Error("still open");
      },
      { timeout: 5000, interval: 50 },
    );
    const row = (await db().query.calls.findFirst({ where: eq(calls.id, call.id) }))!;
    expect(row).toMatchObject({ escalated: true, status: "completed" });

    const later = message(line.number.e164, from, "Hello?");
    await twilioPost(SMS, later);
    const next = (await findCallByProviderSid(db(), later.MessageSid))!;
    expect(next.id).not.toBe(call.id);
  });
});
