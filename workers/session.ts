/**
 * Dashboard sessions: a jose-signed JWT (HS256, algorithm pinned) naming a row in `sessions`, carried
 * in an HttpOnly, Secure, SameSite=Strict cookie. The row is checked on every request, so logout and
 * revocation take effect at once.
 */
import type { Context } from "hono";
import { deleteCookie, setCookie } from "hono/cookie";
import { jwtVerify, SignJWT } from "jose";
import { utf8 } from "../shared/encoding";

export const SESSION_COOKIE = "sb_session";
export const SESSION_TTL_SECONDS = 12 * 60 * 60;
const ISSUER = "switchboard";
const AUDIENCE = "switchboard-dashboard";

export interface SessionClaims {
  userId: string;
  sessionId: string;
}

export async function signSessionToken(
  secret: string,
  claims: SessionClaims,
  expiresAt: Date,
): Promise<string> {
  return new SignJWT({})
    .setProtectedHeader({ alg: "HS256", typ: "JWT" })
    .setSubject(claims.userId)
    .setJti(claims.sessionId)
    .setIssuer(ISSUER)
    .setAudience(AUDIENCE)
    .setIssuedAt()
    .setExpirationTime(Math.floor(expiresAt.getTime() / 1000))
    .sign(utf8.encode(secret));
}

/** Returns the claims of a valid token, or null for anything expired, tampered or malformed. */
export async function verifySessionToken(secret: string, token: string): Promise<SessionClaims | null> {
  try {
    const { payload } = await jwtVerify(token, utf8.encode(secret), {
      algorithms: ["HS256"],
      issuer: ISSUER,
      audience: AUDIENCE,
    });
    if (typeof payload.sub !== "string" || typeof payload.jti !== "string") return null;
    return { userId: payload.sub, sessionId: payload.jti };
  } catch {
    return null;
  }
}

export function setSessionCookie(c: Context, token: string): void {
  setCookie(c, SESSION_COOKIE, token, {
    httpOnly: true,
    secure: true,
    sameSite: "Strict",
    path: "/",
    maxAge: SESSION_TTL_SECONDS,
  });
}

export function clearSessionCookie(c: Context): void {
  deleteCookie(c, SESSION_COOKIE, { path: "/", secure: true, httpOnly: true, sameSite: "Strict" });
}
