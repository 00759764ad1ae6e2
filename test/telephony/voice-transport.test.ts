/**
 * A service's `voice_transport` through the services API (Media Streams by default, ConversationRelay on
 * request), and the voice webhook following it; plus the TwiML builders' escaping.
 */
import { afterEach, describe, expect, it } from "vitest";
import { findCallByProviderSid } from "../../workers/db/calls";
import { setSpeechBinding } from "../../workers/speech/speech";
import {
  connectConversationRelay,
  notInServiceTwiml,
  twimlDocument,
  xmlEscape,
} from "../../workers/telephony/twiml";
import { db } from "../helpers/db";
import { fakeAi } from "../helpers/fake-ai";
import { api } from "../helpers/http";
import { createWorkspace, insertPhoneNumber } from "../helpers/workspace";
import { parseXml, twilioPost, voiceParams } from "./helpers";

afterEach(() => setSpeechBinding());

describe("services' voice_transport", () => {
  it("defaults to media_streams, can be set and changed, and the next call follows it", async () => {
    const ws = await createWorkspace();
    const base = `/v1/${ws.id}/services`;
    const created = await api("POST", base, { key: ws.keys.admin, body: { name: "Nurse line" } });
    expect(created.status, created.text).toBe(201);
    expect(created.body.voice_transport).toBe("media_streams");
    const relay = await api("POST", base, {
      key: ws.keys.admin,
      body: { name: "Scheduling", voice_transport: "conversation_relay" },
    });
    expect(relay.body.voice_transport).toBe("conversation_relay");

    const number = await insertPhoneNumber(ws.id, created.body.id);
    setSpeechBinding(fakeAi());
    const first = voiceParams(number.e164);
    expect((await twilioPost("/telephony/twilio/voice", first)).text).toContain("<Stream ");

    const patched = await api("PATCH", `${base}/${created.body.id}`, {
      key: ws.keys.admin,
      body: { voice_transport: "conversation_relay" },
    });
    expect(patched.status, patched.text).toBe(200);
    expect(patched.body.voice_transport).toBe("conversation_relay");
    const second = voiceParams(number.e164);
    expect((await twilioPost("/telephony/twilio/voice", second)).text).toContain("<ConversationRelay ");

    // A call keeps the transport it started with, even when its webhook is re-delivered after a change.
    expect((await findCallByProviderSid(db(), first.CallSid))!.transport).toBe("media_streams");
    expect((await twilioPost("/telephony/twilio/voice", first)).text).toContain("<Stream ");
  });

  it("refuses an unknown transport with a 400 and the field named", async () => {
    const ws = await createWorkspace();
    const res = await api("POST", `/v1/${ws.id}/services`, {
      key: ws.keys.admin,
      body: { name: "Line", voice_transport: "sip" },
    });
    expect(res.status).toBe(400);
    expect(res.body.error.details.issues[0].path).toBe("voice_transport");
  });
});

describe("TwiML builders", () => {
  it("escape every XML special character and drop control characters", () => {
    expect(xmlEscape(`a&b<c>d"e'f\u0007g\nh`)).toBe("a&amp;b&lt;c&gt;d&quot;e&apos;fg\nh");
    const xml = twimlDocument([
      connectConversationRelay({ url: "wss://x.test/r/1/t", welcomeGreeting: `<Say>"hi" & 'bye'</Say>` }),
    ]);
    const relay = parseXml(xml).children[0]!.children[0]!;
    expect(relay.attributes.welcomeGreeting).toBe(`<Say>"hi" & 'bye'</Say>`);
  });

  it("the not-in-service answer is well-formed: a Say, then a Hangup", () => {
    const response = parseXml(notInServiceTwiml());
    expect(response.children.map((c) => c.name)).toEqual(["Say", "Hangup"]);
  });
});
