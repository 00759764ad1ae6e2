/**
 * The phone simulator: a person on the dashboard (or `npm run call` in a terminal) calls a clinic number
 * of their workspace and talks to the agent over the real ConversationRelay protocol, by typing.
 *
 * - `POST /v1/{ws}/simulator/calls` (operator, audited) opens a call exactly as the voice webhook does
 *   (`openVoiceCallStatements`), with provider `simulator` (so analytics can leave simulated calls out),
 *   a generated provider sid, and transport `conversation_relay` whatever the service's setting. It
 *   answers with the socket URL and a short-lived token bound to the workspace, the call and the purpose
 *   `simulator`.
 * - `GET /v1/{ws}/simulator/calls/{call_id}/socket?token=…` (operator) is the WebSocket upgrade: the
 *   browser cannot sign as Twilio does, so it is authenticated by the session cookie or API key, the
 *   operator role, the token, and the call being this workspace's simulated call. It reaches the same
 *   `CallSession` as Twilio's upgrade; the session adds `debug` frames (state, risk, tool outcomes: ids
 *   and codes) on simulated calls only. Twilio's own upgrade route keeps requiring Twilio's signature,
 *   and its tokens have another purpose, so neither token opens the other's socket.
 */

import { z } from "@hono/zod-openapi";
import type { Context } from "hono";
import { CALL_ID_HEADER, TRANSPORT_HEADER } from "../../durable-objects/call-session";
import { purposeMac } from "../../shared/crypto/hmac";
import { fromBase64Url, randomBytes, timingSafeEqual, toBase64Url, toHex } from "../../shared/encoding";
import { WorkspaceParams } from "../../shared/schemas/common";
import { normalizeE164 } from "../../shared/tenancy/phone";
import { callSession } from "../calls/session-client";
import { findCall, openVoiceCallStatements } from "../db/calls";
import { database } from "../db/client";
import { loadActiveGraph } from "../db/context-graphs";
import { findPhoneNumberByE164, findService } from "../db/tenancy";
import { findEntity } from "../db/world";
import type { AppEnv } from "../env";
import { ApiError, notFound } from "../errors";
import { publish } from "../events";
import { webSocketBase } from "../telephony/twilio-signature";
import { entityState } from "../world/state";
import { audited } from "./audited";
import { jsonBody, jsonResponse, router, workspaceRoute } from "./router";

/** Simulated calls carry this provider; real ones `twilio`. */
export const SIMULATOR_PROVIDER = "simulator";
/** The simulator's socket token is good this long: the client connects right after creating the call. */
export const SIMULATOR_TOKEN_TTL_SECONDS = 300;
const TOKEN_PURPOSE = "switchboard-simulator-socket";

const PhoneNumber = z
  .string()
  .max(32)
  .refine((n) => normalizeE164(n) !== null, "not a valid phone number")
  .transform((n) => normalizeE164(n)!);

const SimulatorCallCreate = z
  .strictObject({
    to: PhoneNumber.meta({ description: "A clinic number of this workspace", example: "+14155550100" }),
    from: z.union([
      PhoneNumber.meta({ description: "The caller's number", example: "+14155550123" }),
      z.strictObject({ patient_id: z.string().min(1).max(64) }),
    ]),
  })
  .meta({ id: "SimulatorCallCreate" });

const SimulatorCall = z
  .object({
    call_id: z.string(),
    provider_sid: z.string(),
    service_id: z.string(),
    socket_url: z.string().meta({ description: "The ConversationRelay WebSocket, with its token" }),
    socket_path: z.string().meta({ description: "The same, relative to the API's origin" }),
    expires_at: z.string().meta({ description: "When the token stops opening the socket" }),
  })
  .meta({ id: "SimulatorCall" });

function tokenMac(secret: string, workspaceId: string, callId: string, expires: number) {
  return purposeMac(secret, TOKEN_PURPOSE, workspaceId, callId, expires);
}

/** `<expiry unix seconds>.<HMAC-SHA256 base64url>` over the purpose, workspace and call, keyed with SIGNING_SECRET. */
export async function signSimulatorToken(
  secret: string,
  workspaceId: string,
  callId: string,
  options: { ttlSeconds?: number; now?: number } = {},
) {
  const expires =
    Math.floor((options.now ?? Date.now()) / 1000) + (options.ttlSeconds ?? SIMULATOR_TOKEN_TTL_SECONDS);
  return {
    token: `${expires}.${toBase64Url(await tokenMac(secret, workspaceId, callId, expires))}`,
    expires,
  };
}

/** Whether `token` was signed for this workspace's call and the simulator, and has not expired. */
export async function verifySimulatorToken(
  secret: string,
  workspaceId: string,
  callId: string,
  token: string | undefined,
  now = Date.now(),
): Promise<boolean> {
  const match = /^(\d{1,12})\.([A-Za-z0-9_-]{43})$/.exec(token ?? "");
  if (!match || !secret) return false;
  const expires = Number(match[1]);
  let given: Uint8Array;
  try {
    given = fromBase64Url(match[2]!);
  } catch {
    return false;
  }
  const expected = await tokenMac(secret, workspaceId, callId, expires);
  return timingSafeEqual(given, expected) && expires * 1000 > now;
}

/** The caller's number: as given, or the demo patient's phone from the world model. */
async function callerNumber(
  c: Context<AppEnv>,
  workspaceId: string,
  from: z.infer<typeof SimulatorCallCreate>["from"],
) {
  if (typeof from === "string") return from;
  const entity = await findEntity(database(c.env.DB), workspaceId, from.patient_id);
  if (entity?.entityType !== "patient") throw notFound("Patient");
  const state = await entityState(c.env, workspaceId, {
    id: entity.mergedInto ?? entity.id,
    entityType: entity.entityType,
  });
  const phone = state.facts["contact.phone"]?.value;
  const e164 = typeof phone === "string" ? normalizeE164(phone) : null;
  if (!e164)
    throw new ApiError("unprocessable", "This patient has no phone number in the world model", {
      field: "from.patient_id",
    });
  return e164;
}

const forbiddenSocket = () =>
  new ApiError("forbidden", "The simulator socket's token is missing, invalid or not for this call");

export const simulatorApi = router()
  .openapi(
    workspaceRoute("operator", {
      method: "post",
      path: "/v1/{workspace_id}/simulator/calls",
      tags: ["Simulator"],
      summary: "Start a simulated call to a clinic number",
      description:
        "Opens a call as the voice webhook would (provider `simulator`, ConversationRelay) and returns the " +
        "WebSocket to talk to the agent on: send `setup`, then `prompt` frames; the session answers with " +
        "`text` tokens, `debug` frames (state, risk, tool outcomes) and `end`.",
      request: { params: WorkspaceParams, body: jsonBody(SimulatorCallCreate) },
      responses: { 201: jsonResponse(SimulatorCall, "The call and its socket") },
    }),
    async (c) => {
      const { workspace_id } = c.req.valid("param");
      const body = c.req.valid("json");
      const db = database(c.env.DB);
      const number = await findPhoneNumberByE164(db, body.to);
      // Another workspace's number is as unknown here as a number nobody has.
      if (!number || number.workspaceId !== workspace_id) throw notFound("Phone number");
      const service = number.serviceId ? await findService(db, workspace_id, number.serviceId) : undefined;
      if (!service)
        throw new ApiError("unprocessable", "This number does not lead to a service", { field: "to" });
      if (!(await loadActiveGraph(db, workspace_id, service.id)))
        throw new ApiError("unprocessable", "This number's service has no context graph yet", {
          field: "to",
        });
      const from = await callerNumber(c, workspace_id, body.from);
      // Like a Twilio CallSid (a prefix and 32 hex digits), with a prefix no Twilio resource uses.
      const providerSid = `SIM${toHex(randomBytes(16))}`;
      const { callId, statements } = await openVoiceCallStatements(db, c.env.ENCRYPTION_KEY, {
        workspaceId: workspace_id,
        serviceId: service.id,
        phoneNumberId: number.id,
        toNumber: number.e164,
        from,
        direction: "inbound",
        transport: "conversation_relay",
        provider: SIMULATOR_PROVIDER,
        providerSid,
        status: "in-progress",
        at: new Date().toISOString(),
      });
      await audited(
        c,
        {
          action: "simulator.call_started",
          targetType: "call",
          targetId: callId,
          details: {
            phone_number_id: number.id,
            service_id: service.id,
            caller: typeof body.from === "string" ? "number" : "patient",
          },
        },
        statements,
      );
      await publish(c.env, workspace_id, {
        type: "call.started",
        data: {
          call_id: callId,
          service_id: service.id,
          phone_number_id: number.id,
          channel: "voice",
          direction: "inbound",
          transport: "conversation_relay",
        },
      });
      const { token, expires } = await signSimulatorToken(c.env.SIGNING_SECRET, workspace_id, callId);
      const socketPath = `/v1/${workspace_id}/simulator/calls/${callId}/socket?token=${token}`;
      return c.json(
        {
          call_id: callId,
          provider_sid: providerSid,
          service_id: service.id,
          socket_url: `${webSocketBase(new URL(c.req.url).origin)}${socketPath}`,
          socket_path: socketPath,
          expires_at: new Date(expires * 1000).toISOString(),
        },
        201,
      );
    },
  )
  // A WebSocket upgrade rather than a JSON operation, but documented like every /v1 route, so the
  // security suites check its authentication, workspace scoping and role like the others'.
  .openapi(
    workspaceRoute("operator", {
      method: "get",
      path: "/v1/{workspace_id}/simulator/calls/{call_id}/socket",
      tags: ["Simulator sockets"],
      summary: "Open a simulated call's ConversationRelay socket",
      description:
        "A WebSocket upgrade (`Upgrade: websocket`) with the `token` from `POST /simulator/calls`, bound to this workspace, this call and the simulator. The socket speaks ConversationRelay, plus `debug` frames.",
      request: {
        params: z.object({ workspace_id: WorkspaceParams.shape.workspace_id, call_id: z.string().max(64) }),
        query: z.object({ token: z.string().min(1).max(200) }),
      },
      responses: { 101: { description: "Switching Protocols: the call's socket" } },
    }),
    async (c) => {
      const { workspace_id: workspaceId, call_id: callId } = c.req.valid("param");
      // A page on another site may not open a session-authenticated socket (browsers send cookies with it).
      const origin = c.req.header("Origin");
      if (origin && origin !== new URL(c.req.url).origin)
        throw new ApiError("forbidden", "Cross-origin sockets are not allowed");
      if (!(await verifySimulatorToken(c.env.SIGNING_SECRET, workspaceId, callId, c.req.query("token"))))
        throw forbiddenSocket();
      const call = await findCall(database(c.env.DB), workspaceId, callId);
      if (!call || call.provider !== SIMULATOR_PROVIDER) throw forbiddenSocket();
      if (c.req.header("Upgrade")?.toLowerCase() !== "websocket")
        throw new ApiError("validation_failed", "Expected a WebSocket upgrade");
      const headers = new Headers({ Upgrade: "websocket" });
      headers.set(CALL_ID_HEADER, callId);
      headers.set(TRANSPORT_HEADER, "conversation_relay");
      const res = await callSession(c.env, callId).fetch("https://call-session/socket", { headers });
      return new Response(null, { status: res.status, webSocket: res.webSocket }) as never;
    },
  );
