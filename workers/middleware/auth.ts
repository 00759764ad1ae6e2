/**
 * Authentication and authorization, in three small steps:
 * `authenticate` finds the principal (API key or session cookie; on the event stream's path also a
 * one-time stream ticket), `authorizeWorkspace` finds its role in the workspace named by the path, and
 * `requireRole` (attached per route) checks the minimum role.
 */
import { getCookie } from "hono/cookie";
import { createMiddleware } from "hono/factory";
import { hashApiKey, looksLikeApiKey } from "../../shared/auth/api-key";
import { type Role, roleAtLeast } from "../../shared/auth/roles";
import { findApiKey, findApiKeyByHash, LAST_USED_RESOLUTION_MS, touchApiKey } from "../db/api-keys";
import { database } from "../db/client";
import { findLiveSession, findMembership } from "../db/identity";
import type { AppEnv, Principal } from "../env";
import { ApiError } from "../errors";
import { redeemStreamTicket, STREAM_PATH } from "../events";
import { SESSION_COOKIE, verifySessionToken } from "../session";

const unauthorized = (message = "Authentication required: an API key (Authorization: Bearer) or a session") =>
  new ApiError("unauthorized", message, null, { "WWW-Authenticate": 'Bearer realm="switchboard"' });

const UNSAFE_METHODS = new Set(["POST", "PUT", "PATCH", "DELETE"]);

export const authenticate = createMiddleware<AppEnv>(async (c, next) => {
  const db = database(c.env.DB);
  const header = c.req.header("Authorization");
  let principal: Principal | undefined;
  if (header !== undefined) {
    // Exactly `Bearer <key>`: anything around the key means the header is not what it claims to be.
    const token = /^Bearer ([^\s]+)$/.exec(header)?.[1];
    if (!token || !looksLikeApiKey(token)) throw unauthorized("Malformed Authorization header");
    const key = await findApiKeyByHash(db, await hashApiKey(token));
    const now = new Date();
    if (!key || key.revokedAt || (key.expiresAt && key.expiresAt <= now.toISOString())) {
      throw unauthorized("The API key is unknown, revoked or expired");
    }
    if (!key.lastUsedAt || now.getTime() - Date.parse(key.lastUsedAt) > LAST_USED_RESOLUTION_MS) {
      c.executionCtx.waitUntil(touchApiKey(db, key.id, now).then(() => undefined));
    }
    principal = { kind: "api_key", keyId: key.id, workspaceId: key.workspaceId, role: key.role };
  } else if (c.req.method === "GET" && STREAM_PATH.test(c.req.path) && c.req.query("ticket") !== undefined) {
    principal = await streamTicketPrincipal(c.env, c.req.param("workspace_id") ?? "", c.req.query("ticket")!);
  } else {
    const token = getCookie(c, SESSION_COOKIE);
    const claims = token ? await verifySessionToken(c.env.SESSION_SECRET, token) : null;
    const session = claims ? await findLiveSession(db, claims.sessionId, claims.userId) : undefined;
    if (!claims || !session) throw unauthorized();
    // The cookie is SameSite=Strict; refusing cross-site writes outright closes what that leaves open.
    if (UNSAFE_METHODS.has(c.req.method) && c.req.header("Sec-Fetch-Site") === "cross-site") {
      throw new ApiError("forbidden", "Cross-site requests are not allowed");
    }
    const origin = c.req.header("Origin");
    if (UNSAFE_METHODS.has(c.req.method) && origin && origin !== new URL(c.req.url).origin) {
      throw new ApiError("forbidden", "Cross-origin requests are not allowed");
    }
    principal = {
      kind: "user",
      userId: claims.userId,
      sessionId: claims.sessionId,
      mfaVerified: session.mfaVerified,
    };
  }
  c.set("principal", principal);
  await next();
});

/**
 * A one-time stream ticket (workers/events.ts), accepted on the event stream's path only: it stands for
 * whoever it was issued to, while their session or API key is still live.
 */
async function streamTicketPrincipal(env: Env, workspaceId: string, ticket: string): Promise<Principal> {
  const { subject } = await redeemStreamTicket(env, ticket, workspaceId);
  const db = database(env.DB);
  if (subject.kind === "user") {
    const session = await findLiveSession(db, subject.sessionId, subject.userId);
    if (!session) throw unauthorized("The session that issued this ticket has ended");
    return { ...subject, mfaVerified: session.mfaVerified };
  }
  const key = await findApiKey(db, workspaceId, subject.keyId);
  if (!key || key.revokedAt || (key.expiresAt && key.expiresAt <= new Date().toISOString())) {
    throw unauthorized("The API key that issued this ticket is revoked or expired");
  }
  return { kind: "api_key", keyId: key.id, workspaceId: key.workspaceId, role: key.role };
}

/** For `/v1/:workspace_id/*`: the principal must belong to the workspace; its role is recorded. */
export const authorizeWorkspace = createMiddleware<AppEnv>(async (c, next) => {
  const workspaceId = c.req.param("workspace_id") ?? "";
  const principal = c.get("principal");
  const denied = new ApiError("forbidden", "No access to this workspace");
  let role: Role;
  if (principal.kind === "api_key") {
    if (principal.workspaceId !== workspaceId) throw denied;
    role = principal.role;
  } else {
    const membership = await findMembership(database(c.env.DB), workspaceId, principal.userId);
    if (!membership) throw denied;
    if (membership.requireMfa && !principal.mfaVerified) {
      throw new ApiError(
        "mfa_enrollment_required",
        "This workspace requires multi-factor authentication: enrol at POST /auth/mfa/setup, then sign in again",
      );
    }
    role = membership.role;
  }
  c.set("access", { workspaceId, role });
  await next();
});

/** Attached to each route through `workspaceRoute`, so the minimum role is declared beside the route. */
export function requireRole(minimum: Role) {
  return createMiddleware<AppEnv>(async (c, next) => {
    const { role } = c.get("access");
    if (!roleAtLeast(role, minimum)) {
      throw new ApiError("forbidden", `This action needs the ${minimum} role or above`, {
        required: minimum,
        role,
      });
    }
    await next();
  });
}
