/**
 * `POST /telephony/twilio/sms`: an inbound text joins the sender's open text session with that clinic
 * number (or starts one), its body sealed to its event; the answer is an empty TwiML response.
 */
import { env } from "cloudflare:workers";
import { and, eq } from "drizzle-orm";
import { describe, expect, it } from "vitest";
import {
  findCallByProviderSid,
  listCallEvents,
  openFromNumber,
  openMessageBody,
} from "../../workers/db/calls";
import { calls } from "../../workers/db/schema";
import { db } from "../helpers/db";
import { clinicLine, fakeSid, parseXml, published, twilioPost, uniqueNumber } from "./helpers";

const SMS = "/telephony/twilio/sms";

const message = (to: string, from: string, body: string, sid = fakeSid("SM")) => ({
  MessageSid: sid,
  SmsSid: sid,
  AccountSid: fakeSid("AC"),
  MessagingServiceSid: fakeSid("MG"),
  From: from,
  To: to,
  Body: body,
  NumMedia: "0",
  NumSegments: "1",
});

const sessions = (workspaceId: string) =>
  db()
    .select()
    .from(calls)
    .where(and(eq(calls.workspaceId, workspaceId), eq(calls.channel, "sms")));

describe("POST /telephony/twilio/sms", () => {
  it("starts a text session, seals the body and the sender, and answers an empty <Response/>", async () => {
    const { ws, serviceId, number } = await clinicLine();
    const first = message(number.e164, "+14155550142", "Can I move my appointment to Friday?");
    const res = await twilioPost(SMS, first);
    expect(res.status, res.text).toBe(200);
    expect(res.headers.get("Content-Type")).toMatch(/^text\/xml/);
    expect(parseXml(res.text)).toEqual({ name: "Response", attributes: {}, children: [], text: "" });

    const call = (await findCallByProviderSid(db(), first.MessageSid))!;
    expect(call).toMatchObject({
      workspaceId: ws.id,
      serviceId,
      channel: "sms",
      direction: "inbound",
      status: "in-progress",
    });
    expect(await openFromNumber(env.ENCRYPTION_KEY, ws.id, call.id, call.fromNumberEnc!)).toBe(
      "+14155550142",
    );

    const [event] = await listCallEvents(db(), ws.id, call.id);
    expect(event).toMatchObject({ kind: "sms.inbound", dedupeKey: `sms:${first.MessageSid}` });
    expect(JSON.stringify(event)).not.toContain("Friday");
    const sealed = (event!.data as { body_enc: string }).body_enc;
    expect(await openMessageBody(env.ENCRYPTION_KEY, ws.id, event!.id, sealed)).toBe(first.Body);

    const events = await published(ws.id);
    const started = events.filter((e) => e.type === "call.started");
    expect(started).toHaveLength(1);
    expect(started[0]!.data).toMatchObject({ call_id: call.id, channel: "sms" });
    expect(JSON.stringify(events)).not.toContain("Friday");
  });

  it("later messages from the same sender continue the session; a re-delivered one adds nothing", async () => {
    const { ws, number } = await clinicLine();
    const first = message(number.e164, "+14155550143", "Hello");
    await twilioPost(SMS, first);
    const second = message(number.e164, "+14155550143", "Are you open Saturday?");
    await Promise.all([twilioPost(SMS, second), twilioPost(SMS, second)]);
    await twilioPost(SMS, first);

    const rows = await sessions(ws.id);
    expect(rows).toHaveLength(1);
    const events = await listCallEvents(db(), ws.id, rows[0]!.id);
    expect(events.map((e) => e.dedupeKey)).toEqual([`sms:${first.MessageSid}`, `sms:${second.MessageSid}`]);

    // Another sender to the same number has a session of their own.
    await twilioPost(SMS, message(number.e164, "+14155550144", "Hi"));
    expect(await sessions(ws.id)).toHaveLength(2);
  });

  it("a session idle for more than 24 hours is not continued", async () => {
    const { ws, number } = await clinicLine();
    const first = message(number.e164, "+14155550145", "Hello");
    await twilioPost(SMS, first);
    const old = new Date(Date.now() - 25 * 3600_000).toISOString();
    await db().update(calls).set({ updatedAt: old }).where(eq(calls.providerSid, first.MessageSid));
    const later = message(number.e164, "+14155550145", "Hello again");
    await twilioPost(SMS, later);
    const rows = await sessions(ws.id);
    expect(rows.map((r) => r.providerSid).sort()).toEqual([first.MessageSid, later.MessageSid].sort());
  });

  it("a text to an unknown number answers empty TwiML and stores nothing", async () => {
    const original = console.warn;
    const warnings: string[] = [];
    console.warn = (line: string) => warnings.push(line);
    const text = message(uniqueNumber(), "+14155550146", "secret symptoms");
    try {
      const res = await twilioPost(SMS, text);
      expect(res.status).toBe(200);
      expect(res.text).toContain("<Response/>");
    } finally {
      console.warn = original;
    }
    expect(await findCallByProviderSid(db(), text.MessageSid)).toBeUndefined();
    expect(warnings.join("\n")).toContain("telephony.unknown_number");
    expect(warnings.join("\n")).not.toContain("secret symptoms");
    expect(warnings.join("\n")).not.toContain("4155550146");
  });
});
