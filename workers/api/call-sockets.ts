/**
 * The media WebSocket Twilio opens for a call (the URL the voice webhook's TwiML names): outside `/v1`,
 * authenticated by the call's short-lived token in the path and `X-Twilio-Signature` over the public
 * `wss://` URL (`verifyMediaSocketUpgrade`); 403 otherwise, before anything reaches the call. A verified
 * upgrade goes to the call's `CallSession`, which accepts the socket (Hibernation API) and runs the call.
 *
 * - `GET /telephony/twilio/relay/{call_id}/{token}`: ConversationRelay.
 * - `GET /telephony/twilio/stream/{call_id}/{token}`: Media Streams.
 */
import type { Context } from "hono";
import { CALL_ID_HEADER, TRANSPORT_HEADER } from "../../durable-objects/call-session";
import { callSession } from "../calls/session-client";
import type { AppEnv } from "../env";
import { ApiError } from "../errors";
import { verifyMediaSocketUpgrade } from "../telephony/twilio-signature";
import { router } from "./router";

async function upgrade(c: Context<AppEnv>): Promise<Response> {
  const check = await verifyMediaSocketUpgrade(c.req.raw, {
    authToken: c.env.TWILIO_AUTH_TOKEN,
    signingSecret: c.env.SIGNING_SECRET,
    publicBaseUrl: c.env.PUBLIC_BASE_URL,
  });
  if (!check.ok) {
    console.warn(
      JSON.stringify({
        level: "warn",
        event: "telephony.socket_rejected",
        requestId: c.get("requestId"),
        reason: check.reason,
      }),
    );
    throw new ApiError("forbidden", "The media socket's token or Twilio signature is missing or invalid");
  }
  if (c.req.header("Upgrade")?.toLowerCase() !== "websocket")
    throw new ApiError("validation_failed", "Expected a WebSocket upgrade");
  const headers = new Headers(c.req.raw.headers);
  // The session trusts its own headers only from this route: none of a caller's reach it.
  for (const name of [...headers.keys()]) if (name.startsWith("x-switchboard-")) headers.delete(name);
  headers.set(CALL_ID_HEADER, check.callId);
  headers.set(TRANSPORT_HEADER, check.transport);
  const res = await callSession(c.env, check.callId).fetch("https://call-session/socket", { headers });
  // A fresh response, so middleware may add its headers (the DO's own response is immutable).
  return new Response(null, { status: res.status, webSocket: res.webSocket });
}

export const callSocketsApi = router()
  .get("/telephony/twilio/relay/:call_id/:token", upgrade)
  .get("/telephony/twilio/stream/:call_id/:token", upgrade);
