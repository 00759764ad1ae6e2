/**
 * `/auth/*`: dashboard sign-in. Email + password (PBKDF2), then a TOTP code when the user has MFA.
 * Five failures in a row lock the account for 15 minutes. Sessions are rows named by a signed cookie.
 * Account-level events are audited in the `_account` chain.
 */
import { createRoute, type RouteConfig } from "@hono/zod-openapi";
import { eq } from "drizzle-orm";
import type { Context } from "hono";
import type { z } from "zod";
import { DECOY_PASSWORD_HASH, verifyPassword } from "../../shared/auth/password";
import { newTotpSecret, totpUri, verifyTotp } from "../../shared/auth/totp";
import { decryptField, encryptField } from "../../shared/crypto/encryption";
import { newId } from "../../shared/ids";
import { LoginRequest, MfaSetupSchema, SessionSchema, TotpCode } from "../../shared/schemas/identity";
import { WorkspaceCreate, WorkspaceSchema } from "../../shared/schemas/tenancy";
import { ACCOUNT_CHAIN, type AuditEntry, appendAudit } from "../db/audit";
import { type Db, database } from "../db/client";
import {
  clearFailedLogins,
  findUser,
  findUserByEmail,
  insertSession,
  LOCKOUT_MINUTES,
  listUserWorkspaces,
  markSessionMfaVerified,
  recordFailedLogin,
  revokeSession,
} from "../db/identity";
import { memberships, users, workspaces } from "../db/schema";
import { findWorkspace } from "../db/tenancy";
import type { AppEnv } from "../env";
import { ApiError } from "../errors";
import { authenticate } from "../middleware/auth";
import { clearSessionCookie, SESSION_TTL_SECONDS, setSessionCookie, signSessionToken } from "../session";
import { errorResponses, jsonBody, jsonResponse, router } from "./router";
import { workspaceView } from "./workspaces";

const tags = ["Auth"];

function authRoute<const R extends RouteConfig>(config: R, signedIn = true) {
  return createRoute({
    ...config,
    ...(signedIn
      ? { middleware: [authenticate] as const, security: [{ SessionCookie: [] as string[] }] }
      : {}),
    responses: { ...errorResponses, ...config.responses },
  });
}

/** The signed-in dashboard user; API keys have no account to manage. */
function sessionUser(c: Context<AppEnv>) {
  const principal = c.get("principal");
  if (principal.kind !== "user")
    throw new ApiError("forbidden", "Account endpoints need a dashboard session");
  return principal;
}

function accountAudit(db: Db, c: Context<AppEnv>, entry: Omit<AuditEntry, "workspaceId" | "requestId">) {
  return appendAudit(db, { workspaceId: ACCOUNT_CHAIN, requestId: c.get("requestId"), ...entry });
}

async function sessionView(
  db: Db,
  userId: string,
  mfaVerified: boolean,
): Promise<z.infer<typeof SessionSchema>> {
  const [user, memberOf] = await Promise.all([findUser(db, userId), listUserWorkspaces(db, userId)]);
  if (!user) throw new ApiError("unauthorized", "Authentication required");
  return {
    user: { id: user.id, email: user.email, name: user.name, mfa_enabled: user.mfaEnabled },
    workspaces: memberOf.map((w) => ({ id: w.id, name: w.name, role: w.role, require_mfa: w.requireMfa })),
    mfa_verified: mfaVerified,
  };
}

const totpField = (userId: string) => `totp:${userId}`;

export const authApi = router()
  .openapi(
    authRoute(
      {
        method: "post",
        path: "/auth/login",
        tags,
        summary: "Sign in to the dashboard",
        description:
          "Sets the session cookie. A user with MFA must send `totp_code`; without it the answer is 401 `mfa_required`. " +
          `Five failed attempts in a row lock the account for ${LOCKOUT_MINUTES} minutes (429 \`account_locked\`).`,
        request: { body: jsonBody(LoginRequest) },
        responses: { 200: jsonResponse(SessionSchema, "Signed in"), 429: errorResponses[401] },
      },
      false,
    ),
    async (c) => {
      const body = c.req.valid("json");
      const db = database(c.env.DB);
      const user = await findUserByEmail(db, body.email);
      const invalid = new ApiError("invalid_credentials", "Email or password is incorrect");
      if (!user) {
        await verifyPassword(body.password, DECOY_PASSWORD_HASH);
        await accountAudit(db, c, { actorType: "anonymous", actorId: null, action: "auth.login_failed" });
        throw invalid;
      }
      const now = new Date();
      if (user.lockedUntil && user.lockedUntil > now.toISOString()) {
        const retryAfter = Math.ceil((Date.parse(user.lockedUntil) - now.getTime()) / 1000);
        throw new ApiError(
          "account_locked",
          "Too many failed sign-ins: try again later",
          { retry_after_seconds: retryAfter },
          {
            "Retry-After": String(retryAfter),
          },
        );
      }
      const fail = async (reason: string) => {
        const { locked } = await recordFailedLogin(db, user.id, now);
        await accountAudit(db, c, {
          actorType: "anonymous",
          actorId: null,
          action: locked ? "auth.account_locked" : "auth.login_failed",
          targetType: "user",
          targetId: user.id,
          details: { reason },
        });
        return invalid;
      };
      if (!(await verifyPassword(body.password, user.passwordHash))) throw await fail("password");
      if (user.mfaEnabled) {
        if (!body.totp_code) {
          throw new ApiError("mfa_required", "Enter the 6-digit code from your authenticator app", {
            factor: "totp",
          });
        }
        const secret = await decryptField(
          c.env.ENCRYPTION_KEY,
          ACCOUNT_CHAIN,
          totpField(user.id),
          user.totpSecretEnc!,
        );
        if (!verifyTotp(secret, body.totp_code)) throw await fail("totp");
      }
      const sessionId = newId("ses");
      const expiresAt = new Date(now.getTime() + SESSION_TTL_SECONDS * 1000);
      await db.batch([
        clearFailedLogins(db, user.id),
        insertSession(db, {
          id: sessionId,
          userId: user.id,
          mfaVerified: user.mfaEnabled,
          expiresAt: expiresAt.toISOString(),
        }),
      ]);
      await accountAudit(db, c, {
        actorType: "user",
        actorId: user.id,
        action: "auth.login",
        targetType: "session",
        targetId: sessionId,
        details: { mfa: user.mfaEnabled },
      });
      setSessionCookie(
        c,
        await signSessionToken(c.env.SESSION_SECRET, { userId: user.id, sessionId }, expiresAt),
      );
      return c.json(await sessionView(db, user.id, user.mfaEnabled), 200);
    },
  )
  .openapi(
    authRoute({
      method: "post",
      path: "/auth/logout",
      tags,
      summary: "Sign out: the session is revoked server-side",
      responses: { 204: { description: "Signed out" } },
    }),
    async (c) => {
      const principal = sessionUser(c);
      const db = database(c.env.DB);
      await appendAudit(
        db,
        {
          workspaceId: ACCOUNT_CHAIN,
          actorType: "user",
          actorId: principal.userId,
          action: "auth.logout",
          targetType: "session",
          targetId: principal.sessionId,
          requestId: c.get("requestId"),
        },
        [revokeSession(db, principal.sessionId)],
      );
      clearSessionCookie(c);
      return c.body(null, 204);
    },
  )
  .openapi(
    authRoute({
      method: "get",
      path: "/auth/session",
      tags,
      summary: "The signed-in user and their workspaces",
      responses: { 200: jsonResponse(SessionSchema, "The session") },
    }),
    async (c) => {
      const principal = sessionUser(c);
      return c.json(await sessionView(database(c.env.DB), principal.userId, principal.mfaVerified), 200);
    },
  )
  .openapi(
    authRoute({
      method: "post",
      path: "/auth/mfa/setup",
      tags,
      summary: "Start TOTP enrolment: returns a secret to add to an authenticator app",
      responses: {
        200: jsonResponse(MfaSetupSchema, "The pending secret"),
      },
    }),
    async (c) => {
      const principal = sessionUser(c);
      const db = database(c.env.DB);
      const user = (await findUser(db, principal.userId))!;
      if (user.mfaEnabled)
        throw new ApiError("conflict", "MFA is already enabled; disable it first to re-enrol");
      const secret = newTotpSecret();
      const pending = await encryptField(c.env.ENCRYPTION_KEY, ACCOUNT_CHAIN, totpField(user.id), secret);
      await appendAudit(
        db,
        {
          workspaceId: ACCOUNT_CHAIN,
          actorType: "user",
          actorId: user.id,
          action: "auth.mfa_setup_started",
          targetType: "user",
          targetId: user.id,
          requestId: c.get("requestId"),
        },
        [db.update(users).set({ totpPendingEnc: pending }).where(eq(users.id, user.id))],
      );
      return c.json({ secret, otpauth_uri: totpUri(secret, user.email) }, 200);
    },
  )
  .openapi(
    authRoute({
      method: "post",
      path: "/auth/mfa/enable",
      tags,
      summary: "Finish TOTP enrolment with a code from the app",
      request: { body: jsonBody(TotpCode) },
      responses: { 200: jsonResponse(SessionSchema, "MFA enabled; this session counts as verified") },
    }),
    async (c) => {
      const principal = sessionUser(c);
      const { code } = c.req.valid("json");
      const db = database(c.env.DB);
      const user = (await findUser(db, principal.userId))!;
      if (!user.totpPendingEnc) throw new ApiError("conflict", "Start with POST /auth/mfa/setup");
      const secret = await decryptField(
        c.env.ENCRYPTION_KEY,
        ACCOUNT_CHAIN,
        totpField(user.id),
        user.totpPendingEnc,
      );
      if (!verifyTotp(secret, code))
        throw new ApiError("unprocessable", "The code does not match", { field: "code" });
      await appendAudit(
        db,
        {
          workspaceId: ACCOUNT_CHAIN,
          actorType: "user",
          actorId: user.id,
          action: "auth.mfa_enabled",
          targetType: "user",
          targetId: user.id,
          requestId: c.get("requestId"),
        },
        [
          db
            .update(users)
            .set({
              mfaEnabled: true,
              totpSecretEnc: user.totpPendingEnc,
              totpPendingEnc: null,
              updatedAt: new Date().toISOString(),
            })
            .where(eq(users.id, user.id)),
          markSessionMfaVerified(db, principal.sessionId),
        ],
      );
      return c.json(await sessionView(db, user.id, true), 200);
    },
  )
  .openapi(
    authRoute({
      method: "post",
      path: "/auth/mfa/disable",
      tags,
      summary: "Turn TOTP off (needs a current code)",
      request: { body: jsonBody(TotpCode) },
      responses: { 200: jsonResponse(SessionSchema, "MFA disabled") },
    }),
    async (c) => {
      const principal = sessionUser(c);
      const { code } = c.req.valid("json");
      const db = database(c.env.DB);
      const user = (await findUser(db, principal.userId))!;
      if (!user.mfaEnabled || !user.totpSecretEnc) throw new ApiError("conflict", "MFA is not enabled");
      const secret = await decryptField(
        c.env.ENCRYPTION_KEY,
        ACCOUNT_CHAIN,
        totpField(user.id),
        user.totpSecretEnc,
      );
      if (!verifyTotp(secret, code))
        throw new ApiError("unprocessable", "The code does not match", { field: "code" });
      await appendAudit(
        db,
        {
          workspaceId: ACCOUNT_CHAIN,
          actorType: "user",
          actorId: user.id,
          action: "auth.mfa_disabled",
          targetType: "user",
          targetId: user.id,
          requestId: c.get("requestId"),
        },
        [db.update(users).set({ mfaEnabled: false, totpSecretEnc: null }).where(eq(users.id, user.id))],
      );
      return c.json(await sessionView(db, user.id, false), 200);
    },
  )
  .openapi(
    authRoute({
      method: "post",
      path: "/auth/workspaces",
      tags,
      summary: "Create a workspace; the signed-in user becomes its owner",
      request: { body: jsonBody(WorkspaceCreate) },
      responses: { 201: jsonResponse(WorkspaceSchema, "The new workspace") },
    }),
    async (c) => {
      const principal = sessionUser(c);
      const body = c.req.valid("json");
      const db = database(c.env.DB);
      if (await findWorkspace(db, body.id))
        throw new ApiError("conflict", "This workspace id is taken", { field: "id" });
      await appendAudit(
        db,
        {
          workspaceId: body.id,
          actorType: "user",
          actorId: principal.userId,
          action: "workspace.created",
          targetType: "workspace",
          targetId: body.id,
          requestId: c.get("requestId"),
        },
        [
          db.insert(workspaces).values({ id: body.id, name: body.name, timezone: body.timezone }),
          db.insert(memberships).values({ workspaceId: body.id, userId: principal.userId, role: "owner" }),
        ],
      );
      return c.json(workspaceView((await findWorkspace(db, body.id))!), 201);
    },
  );
