/**
 * Every telephony webhook refuses a request Twilio did not sign as received: a missing header, a wrong
 * token, a changed parameter, or a signature over another URL. The answer is 403 in the standard error
 * body, and nothing is written.
 */
import { eq } from "drizzle-orm";
import { describe, expect, it } from "vitest";
import { findCallByProviderSid, listCallEvents } from "../../workers/db/calls";
import { calls } from "../../workers/db/schema";
import { db } from "../helpers/db";
import { expectError } from "../helpers/http";
import { clinicLine, fakeSid, publicUrl, type TwilioPostOptions, twilioPost, voiceParams } from "./helpers";

const FORGERIES: [string, (params: Record<string, string>) => TwilioPostOptions][] = [
  ["no signature", () => ({ unsigned: true })],
  ["a wrong auth token", () => ({ authToken: "not-the-auth-token" })],
  ["a changed parameter", (params) => ({ signedParams: { ...params, To: "+12125550000" } })],
  [
    "the Worker's own URL instead of the public one",
    () => ({ signedUrl: "https://sb.test/telephony/twilio/voice" }),
  ],
  ["another endpoint's URL", () => ({ signedUrl: publicUrl("/telephony/twilio/status") })],
];

describe("telephony webhooks refuse unsigned and forged requests", () => {
  for (const [name, forge] of FORGERIES) {
    it(`voice, with ${name}: 403 and no call`, async () => {
      const { number } = await clinicLine();
      const params = voiceParams(number.e164);
      const originalWarn = console.warn;
      console.warn = () => {};
      try {
        const res = await twilioPost("/telephony/twilio/voice", params, forge(params));
        expectError(res, "forbidden", 403);
      } finally {
        console.warn = originalWarn;
      }
      expect(await findCallByProviderSid(db(), params.CallSid)).toBeUndefined();
    });
  }

  it("status, recording and SMS callbacks with a bad signature change nothing", async () => {
    const { ws, number } = await clinicLine();
    const params = voiceParams(number.e164);
    await twilioPost("/telephony/twilio/voice", params);
    const call = (await findCallByProviderSid(db(), params.CallSid))!;
    const before = { call, events: await listCallEvents(db(), ws.id, call.id) };

    const forged = { authToken: "not-the-auth-token" };
    const warnings: string[] = [];
    const originalWarn = console.warn;
    console.warn = (line: string) => warnings.push(line);
    const sms = {
      MessageSid: fakeSid("SM"),
      AccountSid: fakeSid("AC"),
      From: "+14155550150",
      To: number.e164,
      Body: "hi",
    };
    try {
      const responses = [
        await twilioPost(
          "/telephony/twilio/status",
          { CallSid: params.CallSid, CallStatus: "completed", CallDuration: "60", SequenceNumber: "1" },
          forged,
        ),
        await twilioPost(
          "/telephony/twilio/recording",
          { CallSid: params.CallSid, RecordingSid: fakeSid("RE"), RecordingStatus: "completed" },
          forged,
        ),
        await twilioPost("/telephony/twilio/sms", sms, { unsigned: true }),
      ];
      for (const res of responses) expectError(res, "forbidden", 403);
    } finally {
      console.warn = originalWarn;
    }
    expect(await findCallByProviderSid(db(), params.CallSid)).toEqual(before.call);
    expect(await listCallEvents(db(), ws.id, call.id)).toEqual(before.events);
    expect(await db().select().from(calls).where(eq(calls.providerSid, sms.MessageSid))).toEqual([]);
    // Rejections are logged with the reason, never the signature or a parameter.
    expect(warnings.map((w) => JSON.parse(w).reason)).toEqual([
      "bad_signature",
      "bad_signature",
      "missing_signature",
    ]);
    for (const w of warnings) expect(w).not.toMatch(/4155550150|CA[0-9a-f]{32}/);
  });
});
