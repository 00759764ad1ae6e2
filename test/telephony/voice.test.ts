/**
 * `POST /telephony/twilio/voice`: a signed inbound call to a clinic number becomes one call row (caller
 * sealed), `call.started` on the workspace stream, and TwiML connecting the call to its media socket over
 * the service's transport. Unknown numbers get a polite message; a re-delivered webhook creates nothing.
 */
import { env } from "cloudflare:workers";
import { eq } from "drizzle-orm";
import twilio from "twilio";
import { afterEach, describe, expect, it } from "vitest";
import { blindIndex } from "../../shared/crypto/blind-index";
import { findCallByProviderSid, listCallEvents, openFromNumber } from "../../workers/db/calls";
import { calls } from "../../workers/db/schema";
import { setSpeechBinding } from "../../workers/speech/speech";
import { verifyStreamToken } from "../../workers/telephony/twilio-signature";
import { db } from "../helpers/db";
import { fakeAi } from "../helpers/fake-ai";
import { clinicLine, parseXml, published, twilioPost, uniqueNumber, voiceParams } from "./helpers";

const VOICE = "/telephony/twilio/voice";

const wsBase = () => env.PUBLIC_BASE_URL.replace(/^http/, "ws");

afterEach(() => setSpeechBinding());

describe("POST /telephony/twilio/voice", () => {
  it("Media Streams: creates the call and answers <Connect><Stream> with a tokened URL and the call id", async () => {
    const { ws, serviceId, number } = await clinicLine("media_streams");
    setSpeechBinding(fakeAi());
    const params = voiceParams(number.e164);
    const res = await twilioPost(VOICE, params);
    expect(res.status, res.text).toBe(200);
    expect(res.headers.get("Content-Type")).toMatch(/^text\/xml/);

    const call = (await findCallByProviderSid(db(), params.CallSid))!;
    expect(call).toMatchObject({
      workspaceId: ws.id,
      serviceId,
      phoneNumberId: number.id,
      channel: "voice",
      direction: "inbound",
      transport: "media_streams",
      toNumber: number.e164,
      status: "ringing",
    });

    const response = parseXml(res.text);
    expect(response.name).toBe("Response");
    const [connect] = response.children;
    expect(connect?.name).toBe("Connect");
    // When the stream ends without a REST redirect, Twilio asks the call's handoff route what next.
    const action = `${env.PUBLIC_BASE_URL}/telephony/twilio/handoff/${call.id}`;
    expect(connect!.attributes).toEqual({ action });
    const [stream] = connect!.children;
    expect(stream?.name).toBe("Stream");
    const url = stream!.attributes.url!;
    const prefix = `${wsBase()}/telephony/twilio/stream/${call.id}/`;
    expect(url.startsWith(prefix), url).toBe(true);
    expect(url).not.toContain("?");
    expect(await verifyStreamToken(env.SIGNING_SECRET, call.id, url.slice(prefix.length))).toBe(true);
    expect(stream!.children).toEqual([
      { name: "Parameter", attributes: { name: "call_id", value: call.id }, children: [], text: "" },
    ]);

    // The same document twilio's own TwiML builder makes.
    const expected = new twilio.twiml.VoiceResponse();
    expected.connect({ action }).stream({ url }).parameter({ name: "call_id", value: call.id });
    expect(res.text).toBe(expected.toString());
  });

  it("ConversationRelay: answers <Connect><ConversationRelay> with no TwiML greeting (the session greets)", async () => {
    const { number } = await clinicLine("conversation_relay");
    const params = voiceParams(number.e164);
    const res = await twilioPost(VOICE, params);
    expect(res.status, res.text).toBe(200);
    const call = (await findCallByProviderSid(db(), params.CallSid))!;
    expect(call.transport).toBe("conversation_relay");

    expect(res.text).not.toContain("welcomeGreeting");
    const connect = parseXml(res.text).children[0]!;
    expect(connect.attributes).toEqual({
      action: `${env.PUBLIC_BASE_URL}/telephony/twilio/handoff/${call.id}`,
    });
    const relay = connect.children[0]!;
    expect(relay.name).toBe("ConversationRelay");
    const { url, ...attributes } = relay.attributes;
    expect(url!.startsWith(`${wsBase()}/telephony/twilio/relay/${call.id}/`)).toBe(true);
    expect(attributes).toEqual({
      language: "en-US",
      interruptible: "any",
      dtmfDetection: "true",
    });
    expect(relay.children.map((p) => p.attributes)).toEqual([{ name: "call_id", value: call.id }]);

    const expected = new twilio.twiml.VoiceResponse();
    expected
      .connect({ action: `${env.PUBLIC_BASE_URL}/telephony/twilio/handoff/${call.id}` })
      .conversationRelay({
        url: url!,
        language: "en-US",
        interruptible: "any",
        dtmfDetection: true,
      })
      .parameter({ name: "call_id", value: call.id });
    expect(res.text).toBe(expected.toString());
  });

  it("seals the caller's number to the call, with a blind index, and publishes call.started with ids only", async () => {
    const { ws, serviceId, number } = await clinicLine();
    const caller = "+14155550177";
    const params = voiceParams(number.e164, { From: caller, Caller: caller });
    expect((await twilioPost(VOICE, params)).status).toBe(200);
    const call = (await findCallByProviderSid(db(), params.CallSid))!;

    expect(call.fromNumberEnc).not.toContain("4155550177");
    expect(await openFromNumber(env.ENCRYPTION_KEY, ws.id, call.id, call.fromNumberEnc!)).toBe(caller);
    await expect(
      openFromNumber(env.ENCRYPTION_KEY, ws.id, "call_other", call.fromNumberEnc!),
    ).rejects.toThrow();
    expect(call.fromNumberHash).toBe(await blindIndex(env.ENCRYPTION_KEY, ws.id, "phone", caller));

    const started = await published(ws.id, "call.started");
    expect(started).toHaveLength(1);
    expect(started[0]!.data).toEqual({
      call_id: call.id,
      service_id: serviceId,
      phone_number_id: number.id,
      channel: "voice",
      direction: "inbound",
      transport: "media_streams",
    });
    expect(JSON.stringify(started[0])).not.toContain("4155550177");
  });

  it("a re-delivered webhook answers the same call and creates nothing", async () => {
    const { ws, number } = await clinicLine("conversation_relay");
    const params = voiceParams(number.e164);
    const first = await twilioPost(VOICE, params);
    const again = await Promise.all([twilioPost(VOICE, params), twilioPost(VOICE, params)]);
    const rows = await db().select().from(calls).where(eq(calls.providerSid, params.CallSid));
    expect(rows).toHaveLength(1);
    const withoutToken = (xml: string) => xml.replace(/\/\d+\.[A-Za-z0-9_-]{43}"/, '/TOKEN"');
    for (const res of again) {
      expect(res.status).toBe(200);
      expect(withoutToken(res.text)).toBe(withoutToken(first.text));
    }
    expect(await listCallEvents(db(), ws.id, rows[0]!.id)).toHaveLength(1);
    expect(await published(ws.id, "call.started")).toHaveLength(1);
  });

  it("an unknown number gets a polite spoken message and a hang-up, logged without the numbers", async () => {
    const params = voiceParams(uniqueNumber(), { From: "+14155550188" });
    const warnings: string[] = [];
    const original = console.warn;
    console.warn = (line: string) => warnings.push(line);
    let res: Awaited<ReturnType<typeof twilioPost>>;
    try {
      res = await twilioPost(VOICE, params);
    } finally {
      console.warn = original;
    }
    expect(res.status).toBe(200);
    const response = parseXml(res.text);
    expect(response.children.map((c) => c.name)).toEqual(["Say", "Hangup"]);
    expect(response.children[0]!.text).toMatch(/not in service/);
    expect(await findCallByProviderSid(db(), params.CallSid)).toBeUndefined();
    expect(warnings).toHaveLength(1);
    expect(JSON.parse(warnings[0]!)).toMatchObject({ level: "warn", event: "telephony.unknown_number" });
    expect(warnings[0]).not.toContain(params.To);
    expect(warnings[0]).not.toContain("4155550188");
  });

  it("a number with no service assigned is not in service either", async () => {
    const { ws } = await clinicLine();
    const { insertPhoneNumber } = await import("../helpers/workspace");
    const unassigned = await insertPhoneNumber(ws.id, null);
    const params = voiceParams(unassigned.e164);
    const res = await twilioPost(VOICE, params);
    expect(res.status).toBe(200);
    expect(res.text).toContain("<Hangup/>");
    expect(await findCallByProviderSid(db(), params.CallSid)).toBeUndefined();
  });

  it("refuses malformed parameters with a 400 once the signature holds", async () => {
    const { number } = await clinicLine();
    const res = await twilioPost(VOICE, voiceParams(number.e164, { CallSid: "not-a-sid" }));
    expect(res.status).toBe(400);
    expect(res.body.error.code).toBe("validation_failed");
  });
});
