/**
 * X-Twilio-Signature, checked against the official `twilio` package: what it signs we accept, what we
 * compute it validates, and any change to the URL, a parameter, the body or the token is refused.
 */
import twilio from "twilio";
import { describe, expect, it } from "vitest";
import {
  formParams,
  mediaSocketUrl,
  publicRequestUrl,
  signStreamToken,
  twilioSignature,
  verifyMediaSocketUpgrade,
  verifyStreamToken,
  verifyTwilioWebhook,
} from "../../workers/telephony/twilio-signature";
import { fakeSid } from "./helpers";

const TOKEN = "12345abcdef-auth-token";
const URL = "https://clinic.example.com/telephony/twilio/voice?tenant=a%20b&x=1";
const PARAMS = {
  CallSid: fakeSid("CA"),
  From: "+14155550123",
  To: "+12125550199",
  Body: "Hello + goodbye & ünïcödé = 100% 'quoted' \"double\"",
  Digits: "1234#*",
};

const form = (params: Record<string, string>) => new URLSearchParams(params).toString();
const encode = (text: string) => new Uint8Array(new TextEncoder().encode(text));

function signedRequest(
  url: string,
  body: string,
  signature: string | null,
  contentType = "application/x-www-form-urlencoded",
) {
  const headers = new Headers({ "Content-Type": contentType });
  if (signature !== null) headers.set("X-Twilio-Signature", signature);
  return new Request(url, { method: "POST", headers, body });
}

describe("twilioSignature", () => {
  it("computes exactly what the twilio package computes, and the package validates it", async () => {
    const ours = await twilioSignature(TOKEN, URL, formParams(form(PARAMS)));
    expect(ours).toBe(twilio.getExpectedTwilioSignature(TOKEN, URL, PARAMS));
    expect(twilio.validateRequest(TOKEN, ours, URL, PARAMS)).toBe(true);
  });

  it("signs repeated parameters as the package does (each distinct value, sorted)", async () => {
    const body = "To=%2B1&Tag=b&Tag=a&Tag=b";
    const expected = twilio.getExpectedTwilioSignature(TOKEN, URL, { To: "+1", Tag: ["b", "a", "b"] });
    expect(await twilioSignature(TOKEN, URL, formParams(body))).toBe(expected);
  });
});

describe("verifyTwilioWebhook (form parameters)", () => {
  const verify = (request: Request, body: string, publicBaseUrl?: string) =>
    verifyTwilioWebhook(request, encode(body), { authToken: TOKEN, publicBaseUrl });

  it("accepts the package's signature and returns the parameters", async () => {
    const body = form(PARAMS);
    const result = await verify(
      signedRequest(URL, body, twilio.getExpectedTwilioSignature(TOKEN, URL, PARAMS)),
      body,
    );
    expect(result.ok).toBe(true);
    expect(result.ok && Object.fromEntries([...result.params].map(([k, v]) => [k, v[0]]))).toEqual(PARAMS);
  });

  it("refuses a changed parameter, an added one, a removed one, a wrong token and a missing header", async () => {
    const signature = twilio.getExpectedTwilioSignature(TOKEN, URL, PARAMS);
    const changed = form({ ...PARAMS, To: "+12125550100" });
    const added = form({ ...PARAMS, Extra: "1" });
    const { Digits: _, ...fewer } = PARAMS;
    for (const body of [changed, added, form(fewer)]) {
      expect(await verify(signedRequest(URL, body, signature), body)).toEqual({
        ok: false,
        reason: "bad_signature",
      });
    }
    const body = form(PARAMS);
    const wrongToken = twilio.getExpectedTwilioSignature("another-token", URL, PARAMS);
    expect(await verify(signedRequest(URL, body, wrongToken), body)).toEqual({
      ok: false,
      reason: "bad_signature",
    });
    expect(await verify(signedRequest(URL, body, null), body)).toEqual({
      ok: false,
      reason: "missing_signature",
    });
    expect(await verify(signedRequest(URL, body, ""), body)).toEqual({
      ok: false,
      reason: "missing_signature",
    });
  });

  it("checks the public URL, not the host the Worker sees behind a proxy", async () => {
    const body = form(PARAMS);
    const signature = twilio.getExpectedTwilioSignature(TOKEN, URL, PARAMS);
    const internal = "http://10.0.0.7:8787/telephony/twilio/voice?tenant=a%20b&x=1";
    expect(
      (await verify(signedRequest(internal, body, signature), body, "https://clinic.example.com")).ok,
    ).toBe(true);
    // Without the public base URL the internal URL is what gets checked, and it is not what Twilio signed.
    expect((await verify(signedRequest(internal, body, signature), body)).ok).toBe(false);
    // The path and query are part of what is signed.
    const otherPath = "http://10.0.0.7:8787/telephony/twilio/status?tenant=a%20b&x=1";
    expect(
      (await verify(signedRequest(otherPath, body, signature), body, "https://clinic.example.com")).ok,
    ).toBe(false);
  });

  it("accepts a URL signed with or without the default port, like the package", async () => {
    const body = form(PARAMS);
    const withPort = "https://clinic.example.com:443/telephony/twilio/voice?tenant=a%20b&x=1";
    const signature = twilio.getExpectedTwilioSignature(TOKEN, withPort, PARAMS);
    expect(twilio.validateRequest(TOKEN, signature, URL, PARAMS)).toBe(true);
    expect((await verify(signedRequest(URL, body, signature), body)).ok).toBe(true);
  });

  it("refuses SharedKey-signed webhooks, which this deployment has no secret for", async () => {
    const body = form(PARAMS);
    const request = signedRequest(URL, body, twilio.getExpectedTwilioSignature(TOKEN, URL, PARAMS));
    request.headers.set(
      "X-Twilio-Webhooks-Signature-Settings",
      "key=webhooks_sharedkey_1,algorithm=HMAC_SHA256",
    );
    expect(await verify(request, body)).toEqual({ ok: false, reason: "unsupported_signature_settings" });
  });
});

describe("verifyTwilioWebhook (JSON body with bodySHA256)", () => {
  const json = JSON.stringify({ CallSid: PARAMS.CallSid, To: "+12125550199", Nested: { a: 1 } });
  const bodyUrl = `https://clinic.example.com/telephony/twilio/voice?bodySHA256=${twilio.getExpectedBodyHash(json)}`;

  it("accepts a body the package validates, and returns its top-level fields", async () => {
    const signature = twilio.getExpectedTwilioSignature(TOKEN, bodyUrl, {});
    expect(twilio.validateRequestWithBody(TOKEN, signature, bodyUrl, json)).toBe(true);
    const result = await verifyTwilioWebhook(
      signedRequest(bodyUrl, json, signature, "application/json"),
      encode(json),
      {
        authToken: TOKEN,
      },
    );
    expect(result.ok).toBe(true);
    expect(result.ok && result.params.get("To")).toEqual(["+12125550199"]);
    expect(result.ok && result.params.has("Nested")).toBe(false);
  });

  it("refuses a changed body (hash mismatch) and a changed hash (signature mismatch)", async () => {
    const signature = twilio.getExpectedTwilioSignature(TOKEN, bodyUrl, {});
    const tampered = json.replace("+12125550199", "+12125550100");
    expect(twilio.validateRequestWithBody(TOKEN, signature, bodyUrl, tampered)).toBe(false);
    expect(
      await verifyTwilioWebhook(
        signedRequest(bodyUrl, tampered, signature, "application/json"),
        encode(tampered),
        {
          authToken: TOKEN,
        },
      ),
    ).toEqual({ ok: false, reason: "body_hash_mismatch" });
    const rehashed = bodyUrl.replace(
      /bodySHA256=[0-9a-f]+/,
      `bodySHA256=${twilio.getExpectedBodyHash(tampered)}`,
    );
    expect(
      await verifyTwilioWebhook(
        signedRequest(rehashed, tampered, signature, "application/json"),
        encode(tampered),
        {
          authToken: TOKEN,
        },
      ),
    ).toEqual({ ok: false, reason: "bad_signature" });
  });
});

describe("publicRequestUrl", () => {
  it("keeps the path and query exactly as received, on the public origin", () => {
    expect(publicRequestUrl("https://sb.example.com/", "http://127.0.0.1:8787/a/b?x=%27y%27&z")).toBe(
      "https://sb.example.com/a/b?x=%27y%27&z",
    );
    expect(publicRequestUrl("", "http://127.0.0.1:8787/a")).toBe("http://127.0.0.1:8787/a");
  });
});

describe("media socket tokens and upgrades", () => {
  const SECRET = "signing-secret-for-tests-0123456789";
  const callId = "call_abcDEF123_-xyz";

  it("a token is good for its call until it expires", async () => {
    const now = Date.parse("2026-12-01T10:00:00Z");
    const token = await signStreamToken(SECRET, callId, { now, ttlSeconds: 60 });
    expect(await verifyStreamToken(SECRET, callId, token, now + 59_000)).toBe(true);
    expect(await verifyStreamToken(SECRET, callId, token, now + 61_000)).toBe(false);
    expect(await verifyStreamToken(SECRET, "call_other", token, now)).toBe(false);
    expect(await verifyStreamToken("another-secret", callId, token, now)).toBe(false);
    const [expires, mac] = token.split(".");
    expect(await verifyStreamToken(SECRET, callId, `${Number(expires) + 3600}.${mac}`, now)).toBe(false);
    expect(await verifyStreamToken(SECRET, callId, "garbage", now)).toBe(false);
  });

  it("an upgrade needs both the call's token and Twilio's signature of the wss URL", async () => {
    const options = { authToken: TOKEN, signingSecret: SECRET, publicBaseUrl: "https://clinic.example.com" };
    const token = await signStreamToken(SECRET, callId);
    const wss = mediaSocketUrl(options.publicBaseUrl, "conversation_relay", callId, token);
    expect(wss).toBe(`wss://clinic.example.com/telephony/twilio/relay/${callId}/${token}`);
    const internal = wss.replace("wss://clinic.example.com", "http://10.0.0.7:8787");
    const upgrade = (signature: string | null, url = internal) =>
      new Request(url, {
        headers: signature === null ? {} : { "X-Twilio-Signature": signature, Upgrade: "websocket" },
      });
    const signature = twilio.getExpectedTwilioSignature(TOKEN, wss, {});

    expect(await verifyMediaSocketUpgrade(upgrade(signature), options)).toEqual({
      ok: true,
      callId,
      transport: "conversation_relay",
    });
    expect(await verifyMediaSocketUpgrade(upgrade(null), options)).toEqual({
      ok: false,
      reason: "missing_signature",
    });
    const wrongToken = twilio.getExpectedTwilioSignature("another-token", wss, {});
    expect(await verifyMediaSocketUpgrade(upgrade(wrongToken), options)).toEqual({
      ok: false,
      reason: "bad_signature",
    });
    const otherCall = internal.replace(callId, "call_someoneelse");
    expect(await verifyMediaSocketUpgrade(upgrade(signature, otherCall), options)).toEqual({
      ok: false,
      reason: "bad_token",
    });
    const streamUrl = mediaSocketUrl(options.publicBaseUrl, "media_streams", callId, token);
    const streamSignature = twilio.getExpectedTwilioSignature(TOKEN, streamUrl, {});
    const streamInternal = streamUrl.replace("wss://clinic.example.com", "http://10.0.0.7:8787");
    expect(await verifyMediaSocketUpgrade(upgrade(streamSignature, streamInternal), options)).toMatchObject({
      ok: true,
      transport: "media_streams",
    });
  });
});
