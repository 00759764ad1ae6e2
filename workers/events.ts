/**
 * A workspace's live event stream, through its `WorkspaceHub`: publishing, opening a Server-Sent
 * Events stream, and the one-time stream tickets for clients that cannot send credentials.
 *
 * Tickets exist because a browser's `EventSource` cannot set `Authorization`: a client with an API key
 * or a session asks `POST /v1/{ws}/events/tickets` and opens `GET /v1/{ws}/events/stream?ticket=…`.
 * A ticket is a jose HS256 JWT (`aud: "event-stream"`, 60 s, the workspace, the subject, its role and
 * a `jti`), signed with a key derived from SIGNING_SECRET for this purpose alone (no other token the
 * deployment signs verifies as a ticket), accepted on the stream path only, for its workspace only,
 * and once: the hub records each `jti` it has let through until the ticket would have expired.
 */
import { errors, jwtVerify, SignJWT } from "jose";
import type { PublishExtra } from "../durable-objects/workspace-hub";
import type { Role } from "../shared/auth/roles";
import { ROLES } from "../shared/auth/roles";
import { purposeMac } from "../shared/crypto/hmac";
import { randomBytes, toBase64Url } from "../shared/encoding";
import { controlFrame, EVENT_STREAM_TYPE, retryFrame } from "../shared/events/sse";
import type {
  WorkspaceEvent,
  WorkspaceEventInput,
  WorkspaceEventType,
} from "../shared/events/workspace-events";
import { ApiError } from "./errors";

export function workspaceHub(env: Env, workspaceId: string) {
  return env.WORKSPACE_HUB.get(env.WORKSPACE_HUB.idFromName(workspaceId));
}

/**
 * Publishes an event; a hub that cannot be reached is logged, never fails the change that caused it.
 * `extra.caller_name` goes to the hub's queue only (it is PHI: never part of an event). Null when the
 * hub did not record it (unreachable, or a second `call.ended` for the same call).
 */
export async function publish(
  env: Env,
  workspaceId: string,
  event: WorkspaceEventInput,
  extra?: PublishExtra,
): Promise<WorkspaceEvent | null> {
  try {
    return await workspaceHub(env, workspaceId).publish(event, extra);
  } catch (err) {
    console.error(
      JSON.stringify({
        level: "error",
        event: "hub.publish_failed",
        workspaceId,
        type: event.type,
        error: err instanceof Error ? err.name : "Error",
      }),
    );
    return null;
  }
}

// ---------------------------------------------------------------------------------------------------------
// The stream

export interface StreamOptions {
  /** Replay the events after this id (`Last-Event-ID`); null: start with what happens next. */
  lastEventId: number | null;
  types: WorkspaceEventType[] | null;
  /** Replay, then end the stream (clients that poll instead of holding a connection). */
  replayOnly: boolean;
  /** The signed-in user holding the stream (their operator presence), or null for an API key. */
  userId?: string | null;
}

const STREAM_HEADERS = { "Content-Type": EVENT_STREAM_TYPE, "Cache-Control": "no-store" } as const;

/**
 * The workspace's event stream from its hub. When the hub cannot be reached, a stream of its own that
 * says so (`event: error`) and ends: the client reconnects after the retry delay.
 */
export async function openStream(env: Env, workspaceId: string, options: StreamOptions): Promise<Response> {
  const url = new URL("https://workspace-hub/stream");
  if (options.lastEventId !== null) url.searchParams.set("last_event_id", String(options.lastEventId));
  if (options.types) url.searchParams.set("types", options.types.join(","));
  if (options.replayOnly) url.searchParams.set("replay_only", "true");
  url.searchParams.set("workspace", workspaceId);
  if (options.userId) url.searchParams.set("user", options.userId);
  try {
    const res = await workspaceHub(env, workspaceId).fetch(url, { method: "GET" });
    if (res.status !== 200 || !res.body) throw new Error(`hub answered ${res.status}`);
    // A fresh Response: the hub's headers are immutable, and the app's middleware adds its own.
    return new Response(res.body, { status: 200, headers: STREAM_HEADERS });
  } catch (err) {
    console.error(
      JSON.stringify({
        level: "error",
        event: "hub.stream_failed",
        workspaceId,
        error: err instanceof Error ? err.name : "Error",
      }),
    );
    const body =
      retryFrame() +
      controlFrame("error", {
        code: "service_unavailable",
        message: "The event stream is unavailable; reconnecting",
      });
    return new Response(body, { status: 200, headers: STREAM_HEADERS });
  }
}

// ---------------------------------------------------------------------------------------------------------
// Tickets

export const STREAM_TICKET_AUDIENCE = "event-stream";
export const STREAM_TICKET_TTL_SECONDS = 60;
const TICKET_ALGORITHM = "HS256";
const TICKET_PURPOSE = "switchboard-event-stream-ticket";

/** The one path a ticket opens. */
export const STREAM_PATH = /^\/v1\/[^/]+\/events\/stream$/;

/** Who the ticket was issued to: a user's session, or an API key. */
export type TicketSubject =
  | { kind: "user"; userId: string; sessionId: string; mfaVerified: boolean }
  | { kind: "api_key"; keyId: string };

export interface StreamTicketClaims {
  workspaceId: string;
  role: Role;
  subject: TicketSubject;
  jti: string;
  /** Seconds since the epoch. */
  expiresAt: number;
}

let cachedKey: { secret: string; key: Uint8Array } | undefined;

/** The HS256 key: an HMAC of the purpose under SIGNING_SECRET (so it is bound to stream tickets). */
async function ticketKey(env: Env): Promise<Uint8Array> {
  if (!env.SIGNING_SECRET) throw new Error("SIGNING_SECRET is not configured");
  if (cachedKey?.secret !== env.SIGNING_SECRET) {
    cachedKey = {
      secret: env.SIGNING_SECRET,
      key: await purposeMac(env.SIGNING_SECRET, TICKET_PURPOSE, "v1"),
    };
  }
  return cachedKey.key;
}

export async function issueStreamTicket(
  env: Env,
  claims: Omit<StreamTicketClaims, "jti" | "expiresAt">,
  now = new Date(),
): Promise<{ ticket: string; jti: string; expiresAt: Date }> {
  const jti = toBase64Url(randomBytes(16));
  const iat = Math.floor(now.getTime() / 1000);
  const exp = iat + STREAM_TICKET_TTL_SECONDS;
  const { subject } = claims;
  const sub = subject.kind === "user" ? subject.userId : subject.keyId;
  const ticket = await new SignJWT({
    ws: claims.workspaceId,
    role: claims.role,
    kind: subject.kind,
    ...(subject.kind === "user" ? { sid: subject.sessionId, mfa: subject.mfaVerified } : {}),
  })
    .setProtectedHeader({ alg: TICKET_ALGORITHM, typ: "JWT" })
    .setAudience(STREAM_TICKET_AUDIENCE)
    .setSubject(sub)
    .setJti(jti)
    .setIssuedAt(iat)
    .setExpirationTime(exp)
    .sign(await ticketKey(env));
  return { ticket, jti, expiresAt: new Date(exp * 1000) };
}

const refused = (message: string) =>
  new ApiError("unauthorized", message, null, { "WWW-Authenticate": 'Bearer realm="switchboard"' });

/**
 * Checks a ticket for `workspaceId` and uses it up: 401 when it is not a valid, unexpired, unused
 * stream ticket; 403 when it was issued for another workspace.
 */
export async function redeemStreamTicket(
  env: Env,
  token: string,
  workspaceId: string,
): Promise<StreamTicketClaims> {
  let payload: Record<string, unknown>;
  try {
    ({ payload } = await jwtVerify(token, await ticketKey(env), {
      algorithms: [TICKET_ALGORITHM],
      audience: STREAM_TICKET_AUDIENCE,
      requiredClaims: ["sub", "jti", "exp", "iat"],
    }));
  } catch (err) {
    throw refused(
      err instanceof errors.JWTExpired ? "The stream ticket has expired" : "The stream ticket is not valid",
    );
  }
  const { ws, role, kind, sub, jti, exp, sid, mfa } = payload;
  const known =
    typeof ws === "string" &&
    typeof sub === "string" &&
    typeof jti === "string" &&
    typeof exp === "number" &&
    (ROLES as readonly unknown[]).includes(role) &&
    (kind === "api_key" || (kind === "user" && typeof sid === "string" && typeof mfa === "boolean"));
  if (!known) throw refused("The stream ticket is not valid");
  if (ws !== workspaceId) throw new ApiError("forbidden", "This stream ticket is for another workspace");
  if (!(await workspaceHub(env, workspaceId).redeemTicket(jti, exp * 1000))) {
    throw refused("The stream ticket has already been used");
  }
  const subject: TicketSubject =
    kind === "user"
      ? { kind: "user", userId: sub, sessionId: sid as string, mfaVerified: mfa as boolean }
      : { kind: "api_key", keyId: sub };
  return { workspaceId: ws, role: role as Role, subject, jti, expiresAt: exp };
}
