/**
 * Driving Twilio's webhooks the way Twilio does: form-encoded parameters signed by the official `twilio`
 * package (`getExpectedTwilioSignature`) over the public URL, plus a strict little XML reader for the
 * TwiML that comes back and fresh SIDs and numbers per test.
 */
import { env } from "cloudflare:workers";
import { eq } from "drizzle-orm";
import twilio from "twilio";
import { expect } from "vitest";
import { toHex } from "../../shared/encoding";
import { services } from "../../workers/db/schema";
import { db } from "../helpers/db";
import { api } from "../helpers/http";
import { createWorkspace, insertPhoneNumber, insertService, uniquePhoneNumber } from "../helpers/workspace";

/** A valid number no test has used, so it leads to no service. */
export const uniqueNumber = uniquePhoneNumber;

/** A fresh Twilio SID with the given two-letter prefix (`CA` call, `SM` message, `RE` recording, `AC` account). */
export const fakeSid = (prefix: string) => prefix + toHex(crypto.getRandomValues(new Uint8Array(16)));
export const ACCOUNT_SID = fakeSid("AC");

/** What Twilio signs: the URL configured on the number, which is the public one, not the Worker's own host. */
export const publicUrl = (path: string) => `${env.PUBLIC_BASE_URL}${path}`;

export interface TwilioPostOptions {
  /** Sign with this token instead of the deployment's. */
  authToken?: string;
  /** Send no X-Twilio-Signature. */
  unsigned?: boolean;
  /** Sign these parameters but send `params` (a tampered request). */
  signedParams?: Record<string, string>;
  /** Sign this URL instead of the public one. */
  signedUrl?: string;
}

/** POSTs form parameters to a telephony webhook, signed as Twilio signs them. */
export function twilioPost(path: string, params: Record<string, string>, options: TwilioPostOptions = {}) {
  const signature = twilio.getExpectedTwilioSignature(
    options.authToken ?? env.TWILIO_AUTH_TOKEN,
    options.signedUrl ?? publicUrl(path),
    options.signedParams ?? params,
  );
  return api("POST", path, {
    raw: new URLSearchParams(params).toString(),
    contentType: "application/x-www-form-urlencoded",
    headers: options.unsigned ? {} : { "X-Twilio-Signature": signature },
  });
}

/** What the workspace's live stream published (one helper for every suite). */
export { published } from "../world/fixtures";

/** A persona greeting with characters XML must escape (the persona schema already refuses < and >). */
export const GREETING = 'Hi & welcome to "Northside" Clinic';

/** A workspace with a service on `transport` answering a fresh number. */
export async function clinicLine(transport: "media_streams" | "conversation_relay" = "media_streams") {
  const ws = await createWorkspace();
  const serviceId = await insertService(ws.id);
  await db()
    .update(services)
    .set({ voiceTransport: transport, persona: { agent_name: "Robin", greeting: GREETING } })
    .where(eq(services.id, serviceId));
  const number = await insertPhoneNumber(ws.id, serviceId);
  return { ws, serviceId, number };
}

/** The parameters Twilio sends with an inbound call (a subset; the handlers ignore the rest). */
export function voiceParams(to: string, overrides: Record<string, string> = {}) {
  return {
    CallSid: fakeSid("CA"),
    AccountSid: ACCOUNT_SID,
    From: "+14155550123",
    To: to,
    CallStatus: "ringing",
    Direction: "inbound",
    ApiVersion: "2010-04-01",
    Caller: "+14155550123",
    Called: to,
    ...overrides,
  };
}

// ---------------------------------------------------------------------------------------------------------
// A strict XML reader for TwiML: elements, attributes, text; throws on anything malformed.

export interface XmlElement {
  name: string;
  attributes: Record<string, string>;
  children: XmlElement[];
  text: string;
}

const ENTITIES: Record<string, string> = { amp: "&", lt: "<", gt: ">", quot: '"', apos: "'" };
function decode(text: string): string {
  if (/&(?!(amp|lt|gt|quot|apos);)/.test(text)) throw new Error("unescaped &");
  return text.replace(/&(amp|lt|gt|quot|apos);/g, (_, name: string) => ENTITIES[name]!);
}

export function parseXml(xml: string): XmlElement {
  let rest = xml.replace(/^<\?xml version="1\.0" encoding="UTF-8"\?>/, "");
  expect(rest, "one XML declaration, first").not.toMatch(/<\?/);
  const root: XmlElement = { name: "#document", attributes: {}, children: [], text: "" };
  const stack = [root];
  while (rest.length > 0) {
    const top = stack.at(-1)!;
    const open = /^<([A-Za-z][\w.-]*)((?:\s+[A-Za-z][\w.-]*="[^"<]*")*)\s*(\/?)>/.exec(rest);
    const close = /^<\/([A-Za-z][\w.-]*)>/.exec(rest);
    const text = /^[^<]+/.exec(rest);
    if (open) {
      const attributes: Record<string, string> = {};
      for (const [, name, value] of open[2]!.matchAll(/([A-Za-z][\w.-]*)="([^"]*)"/g)) {
        if (name! in attributes) throw new Error(`duplicate attribute ${name}`);
        attributes[name!] = decode(value!);
      }
      const el: XmlElement = { name: open[1]!, attributes, children: [], text: "" };
      top.children.push(el);
      if (!open[3]) stack.push(el);
      rest = rest.slice(open[0].length);
    } else if (close) {
      if (close[1] !== top.name) throw new Error(`</${close[1]}> closes <${top.name}>`);
      stack.pop();
      rest = rest.slice(close[0].length);
    } else if (text) {
      top.text += decode(text[0]);
      rest = rest.slice(text[0].length);
    } else {
      throw new Error(`malformed XML at: ${rest.slice(0, 40)}`);
    }
  }
  if (stack.length !== 1) throw new Error("unclosed element");
  if (root.children.length !== 1) throw new Error("one root element");
  return root.children[0]!;
}
