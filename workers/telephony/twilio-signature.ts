/**
 * Who may talk to the telephony endpoints: Twilio's request signatures, and our own short-lived tokens
 * on the media WebSocket URLs we hand to Twilio.
 *
 * `X-Twilio-Signature` (https://www.twilio.com/docs/usage/webhooks/webhooks-security): base64 of
 * HMAC-SHA1, keyed with the account's auth token, over the full URL Twilio requested followed by every
 * POST parameter sorted by name, each as name + value (repeated names: each distinct value, sorted).
 * For a JSON body, the URL carries `bodySHA256` (hex SHA-256 of the raw body) and the signature covers
 * the URL alone. Comparisons are constant-time; like Twilio's own helpers, the URL is tried with and
 * without the scheme's default port.
 *
 * The URL is the *public* one (`PUBLIC_BASE_URL` + the path and query as received): behind a proxy,
 * tunnel or custom domain the Worker sees another host (or scheme) than the one Twilio signed.
 *
 * Not supported: webhooks signed with a SharedKey (a Webhooks Rule adds
 * `X-Twilio-Webhooks-Signature-Settings`); there is no SharedKey secret configured, so they are refused.
 */
import { hmac, purposeMac } from "../../shared/crypto/hmac";
import { fromBase64Url, timingSafeEqual, toBase64, toBase64Url, toHex, utf8 } from "../../shared/encoding";
import type { VoiceTransport } from "../../shared/schemas/tenancy";

export const TWILIO_SIGNATURE_HEADER = "X-Twilio-Signature";
export const TWILIO_SIGNATURE_SETTINGS_HEADER = "X-Twilio-Webhooks-Signature-Settings";

/** Form parameters as Twilio sent them: a name may repeat. */
export type TwilioParams = ReadonlyMap<string, readonly string[]>;

/** Parses an `application/x-www-form-urlencoded` body into {@link TwilioParams}. */
export function formParams(body: string): Map<string, string[]> {
  const params = new Map<string, string[]>();
  for (const [name, value] of new URLSearchParams(body)) {
    const values = params.get(name);
    if (values) values.push(value);
    else params.set(name, [value]);
  }
  return params;
}

/** The signature Twilio sends for `url` and `params`, computed as Twilio documents it. */
export async function twilioSignature(authToken: string, url: string, params: TwilioParams): Promise<string> {
  let data = url;
  for (const name of [...params.keys()].sort()) {
    for (const value of [...new Set(params.get(name))].sort()) data += name + value;
  }
  return toBase64(await hmac("SHA-1", authToken, data));
}

const URL_PREFIX = /^([a-z][a-z0-9+.-]*:\/\/)([^/?#]*)/i;
const DEFAULT_PORTS: Record<string, string> = {
  "https://": "443",
  "wss://": "443",
  "http://": "80",
  "ws://": "80",
};

/** The URL as given, without its port, and with the scheme's default port: any of them may have been signed. */
function urlVariants(url: string): string[] {
  const match = URL_PREFIX.exec(url);
  if (!match) return [url];
  const [prefix, scheme, authority] = match as unknown as [string, string, string];
  const rest = url.slice(prefix.length);
  const host = authority.replace(/:\d+$/, "");
  const defaultPort = DEFAULT_PORTS[scheme.toLowerCase()];
  const variants = new Set([url, `${scheme}${host}${rest}`]);
  if (defaultPort) variants.add(`${scheme}${host}:${defaultPort}${rest}`);
  return [...variants];
}

async function signatureMatches(authToken: string, header: string, url: string, params: TwilioParams) {
  const given = utf8.encode(header);
  let ok = false;
  // Every variant is computed, so the time taken does not say which one matched.
  for (const candidate of urlVariants(url)) {
    if (timingSafeEqual(given, utf8.encode(await twilioSignature(authToken, candidate, params)))) ok = true;
  }
  return ok;
}

/** Why a request was refused; logged (never the signature or the body), not sent to the caller. */
export type SignatureFailure =
  | "missing_signature"
  | "unsupported_signature_settings"
  | "bad_signature"
  | "body_hash_mismatch"
  | "not_configured";

export type WebhookVerification =
  | { ok: true; params: Map<string, string[]>; json: unknown }
  | { ok: false; reason: SignatureFailure };

/**
 * The URL Twilio requested, as Twilio saw it: `publicBaseUrl`'s scheme and host, then the path and
 * query exactly as they arrived (not re-encoded: the signature covers the characters Twilio sent).
 * Without a public base URL, the request's own URL.
 */
export function publicRequestUrl(publicBaseUrl: string | undefined, requestUrl: string): string {
  const base = publicBaseUrl ? URL_PREFIX.exec(publicBaseUrl.trim())?.[0] : undefined;
  const own = URL_PREFIX.exec(requestUrl);
  if (!base || !own) return requestUrl;
  return base + (requestUrl.slice(own[0].length) || "/");
}

/**
 * Checks a webhook's `X-Twilio-Signature` over its public URL and raw body. Form bodies are signed with
 * their parameters; a URL with `bodySHA256` means a JSON (or other raw) body, whose hash must match too.
 * On success, the parameters (form fields, or a JSON object's top-level scalars) are returned.
 */
export async function verifyTwilioWebhook(
  request: Request,
  rawBody: Uint8Array<ArrayBuffer>,
  options: { authToken: string; publicBaseUrl?: string | undefined },
): Promise<WebhookVerification> {
  if (!options.authToken) return { ok: false, reason: "not_configured" };
  const header = request.headers.get(TWILIO_SIGNATURE_HEADER);
  if (!header) return { ok: false, reason: "missing_signature" };
  if (request.headers.has(TWILIO_SIGNATURE_SETTINGS_HEADER))
    return { ok: false, reason: "unsupported_signature_settings" };
  const url = publicRequestUrl(options.publicBaseUrl, request.url);
  const bodyHash = new URLSearchParams(url.split("#")[0]!.split("?")[1] ?? "").get("bodySHA256");

  if (bodyHash !== null) {
    const signed = await signatureMatches(options.authToken, header, url, new Map());
    const actual = toHex(await crypto.subtle.digest("SHA-256", rawBody));
    const hashOk = timingSafeEqual(utf8.encode(bodyHash.toLowerCase()), utf8.encode(actual));
    if (!signed) return { ok: false, reason: "bad_signature" };
    if (!hashOk) return { ok: false, reason: "body_hash_mismatch" };
    return { ok: true, ...jsonParams(rawBody) };
  }

  const params = formParams(utf8.decode(rawBody));
  if (!(await signatureMatches(options.authToken, header, url, params)))
    return { ok: false, reason: "bad_signature" };
  return { ok: true, params, json: null };
}

/** A signed JSON body's top-level scalar fields, as strings, like the form parameters of other webhooks. */
function jsonParams(rawBody: Uint8Array): { params: Map<string, string[]>; json: unknown } {
  const params = new Map<string, string[]>();
  let json: unknown = null;
  try {
    json = JSON.parse(utf8.decode(rawBody));
  } catch {
    return { params, json: null };
  }
  if (json && typeof json === "object" && !Array.isArray(json)) {
    for (const [name, value] of Object.entries(json)) {
      if (typeof value === "string" || typeof value === "number" || typeof value === "boolean")
        params.set(name, [String(value)]);
    }
  }
  return { params, json };
}

// ---------------------------------------------------------------------------------------------------------
// Media WebSocket URLs and their tokens

/** Where Twilio opens each transport's WebSocket; the call id and token follow as path segments. */
export const MEDIA_SOCKET_PATHS: Record<VoiceTransport, string> = {
  media_streams: "/telephony/twilio/stream",
  conversation_relay: "/telephony/twilio/relay",
};

/** How long a media socket token is good for: Twilio connects within seconds of reading the TwiML. */
export const STREAM_TOKEN_TTL_SECONDS = 300;

const TOKEN_PURPOSE = "switchboard-twilio-media-socket";

async function tokenMac(secret: string, callId: string, expires: number): Promise<Uint8Array> {
  return purposeMac(secret, TOKEN_PURPOSE, callId, expires);
}

/**
 * A token for `callId`'s media socket: `<expiry unix seconds>.<HMAC-SHA256 base64url>`, keyed with
 * SIGNING_SECRET. URL-safe, so it travels as a path segment.
 */
export async function signStreamToken(
  secret: string,
  callId: string,
  options: { ttlSeconds?: number; now?: number } = {},
): Promise<string> {
  const expires =
    Math.floor((options.now ?? Date.now()) / 1000) + (options.ttlSeconds ?? STREAM_TOKEN_TTL_SECONDS);
  return `${expires}.${toBase64Url(await tokenMac(secret, callId, expires))}`;
}

/** Whether `token` was made by {@link signStreamToken} for `callId` and has not expired. */
export async function verifyStreamToken(
  secret: string,
  callId: string,
  token: string,
  now = Date.now(),
): Promise<boolean> {
  const match = /^(\d{1,12})\.([A-Za-z0-9_-]{43})$/.exec(token);
  if (!match || !secret) return false;
  const expires = Number(match[1]);
  const expected = await tokenMac(secret, callId, expires);
  let given: Uint8Array;
  try {
    given = fromBase64Url(match[2]!);
  } catch {
    return false;
  }
  return timingSafeEqual(given, expected) && expires * 1000 > now;
}

/** `https://host` → `wss://host` (and `http` → `ws`, for local runs). */
export function webSocketBase(publicBaseUrl: string): string {
  const origin = URL_PREFIX.exec(publicBaseUrl.trim())?.[0] ?? publicBaseUrl;
  return origin.replace(/^http(s?):\/\//i, (_, s: string) => `ws${s}://`);
}

/**
 * The WebSocket URL for a call's transport. The token is a path segment, not a query parameter:
 * Twilio documents that a `<Stream>` URL may not carry a query string (error 31922; values go in
 * `<Parameter>`), and one shape for both transports keeps the upgrade check in one place.
 */
export function mediaSocketUrl(
  publicBaseUrl: string,
  transport: VoiceTransport,
  callId: string,
  token: string,
) {
  return `${webSocketBase(publicBaseUrl)}${MEDIA_SOCKET_PATHS[transport]}/${encodeURIComponent(callId)}/${token}`;
}

const SOCKET_PATH = /^\/telephony\/twilio\/(stream|relay)\/([A-Za-z0-9_-]{1,64})\/([^/]{1,80})$/;

export type MediaSocketCheck =
  | { ok: true; callId: string; transport: VoiceTransport }
  | { ok: false; reason: SignatureFailure | "bad_path" | "bad_token" };

/**
 * Checks a media WebSocket upgrade from Twilio: the path names a call and carries that call's unexpired
 * token, and `X-Twilio-Signature` signs the public `wss://` URL (no parameters: a GET). Both must hold.
 * The route that accepts the upgrade (with the CallSession) calls this first and answers 403 otherwise.
 */
export async function verifyMediaSocketUpgrade(
  request: Request,
  options: { authToken: string; signingSecret: string; publicBaseUrl: string; now?: number },
): Promise<MediaSocketCheck> {
  const path = request.url.replace(URL_PREFIX, "").split("?")[0]!;
  const match = SOCKET_PATH.exec(path);
  if (!match) return { ok: false, reason: "bad_path" };
  const transport: VoiceTransport = match[1] === "stream" ? "media_streams" : "conversation_relay";
  const callId = match[2]!;
  if (!(await verifyStreamToken(options.signingSecret, callId, match[3]!, options.now)))
    return { ok: false, reason: "bad_token" };
  if (!options.authToken) return { ok: false, reason: "not_configured" };
  const header = request.headers.get(TWILIO_SIGNATURE_HEADER);
  if (!header) return { ok: false, reason: "missing_signature" };
  const url = webSocketBase(options.publicBaseUrl) + request.url.replace(URL_PREFIX, "");
  if (!(await signatureMatches(options.authToken, header, url, new Map())))
    return { ok: false, reason: "bad_signature" };
  return { ok: true, callId, transport };
}
