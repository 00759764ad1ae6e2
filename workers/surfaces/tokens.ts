/**
 * A surface's signed links. The link `/s/{token}` carries a jose JWT (HS256 only, pinned on verify) with
 * `aud: "surface"`, the workspace, the surface id, a `jti` and an `exp` no later than the surface's own
 * expiry. The key is derived from SIGNING_SECRET for this purpose alone, so no other token the deployment
 * signs opens a surface. Only the newest token of a surface works: issuing one stores its `jti` on the
 * surface, which revokes the previous one; `revoked_at` (and an expired or archived surface) stops all.
 *
 * SMS links are short: `/l/{surface id}.{MAC}` (a 12-character purpose MAC bound to the workspace and
 * the surface) redirects to a freshly issued token. The workspace is only ever taken from what was
 * verified: the token's claims, or the surface the MAC was checked against.
 */
import { errors, jwtVerify, SignJWT } from "jose";
import { purposeMac } from "../../shared/crypto/hmac";
import { randomBytes, timingSafeEqual, toBase64Url, utf8 } from "../../shared/encoding";
import { database } from "../db/client";
import { findSurface, findSurfaceAnyWorkspace, setTokenJti } from "../db/surfaces";
import type { Surface, TokenCheck } from "./contracts";

export const SURFACE_AUDIENCE = "surface";
const ALGORITHM = "HS256";
const TOKEN_PURPOSE = "switchboard-surface-token";
const SHORT_LINK_PURPOSE = "switchboard-surface-short-link";
/** Characters of the short link's MAC (base64url: 72 bits). */
const SHORT_MAC_LENGTH = 12;

const ID_PATTERN = /^[a-z]{2,4}_[A-Za-z0-9_-]{8,43}$/;
const WORKSPACE_PATTERN = /^[a-z0-9][a-z0-9-]{1,62}$/;

let cachedKey: { secret: string; key: Uint8Array } | undefined;

/** The HS256 key: an HMAC of the purpose under SIGNING_SECRET (so it is bound to surface links). */
async function signingKey(env: Env): Promise<Uint8Array> {
  if (!env.SIGNING_SECRET) throw new Error("SIGNING_SECRET is not configured");
  if (cachedKey?.secret !== env.SIGNING_SECRET) {
    cachedKey = {
      secret: env.SIGNING_SECRET,
      key: await purposeMac(env.SIGNING_SECRET, TOKEN_PURPOSE, "v1"),
    };
  }
  return cachedKey.key;
}

const publicOrigin = (env: Env) => (env.PUBLIC_BASE_URL ?? "").trim().replace(/\/+$/, "");

/**
 * Signs a new link token for `surface` and makes it the only one that works (the previous token's
 * `jti` is replaced). Its `exp` is the surface's expiry.
 */
export async function issueToken(
  env: Env,
  surface: Pick<Surface, "id" | "workspaceId" | "expiresAt">,
  now = new Date(),
): Promise<string> {
  const jti = toBase64Url(randomBytes(16));
  const iat = Math.floor(now.getTime() / 1000);
  const exp = Math.floor(Date.parse(surface.expiresAt) / 1000);
  const token = await new SignJWT({ ws: surface.workspaceId, sid: surface.id })
    .setProtectedHeader({ alg: ALGORITHM, typ: "JWT" })
    .setAudience(SURFACE_AUDIENCE)
    .setJti(jti)
    .setIssuedAt(iat)
    .setExpirationTime(exp)
    .sign(await signingKey(env));
  await setTokenJti(database(env.DB), surface.workspaceId, surface.id, jti);
  return token;
}

/** The patient's URL for a token. */
export const surfaceUrl = (env: Env, token: string) => `${publicOrigin(env)}/s/${token}`;

/** What each jose failure means for the patient (and the logs). */
function failureOf(err: unknown): Extract<TokenCheck, { ok: false }>["reason"] {
  if (err instanceof errors.JWTExpired) return "expired";
  if (err instanceof errors.JWTClaimValidationFailed) {
    return err.claim === "aud" ? "wrong_audience" : "malformed";
  }
  if (
    err instanceof errors.JWSSignatureVerificationFailed ||
    err instanceof errors.JOSEAlgNotAllowed ||
    err instanceof errors.JOSENotSupported
  ) {
    return "bad_signature";
  }
  return "malformed";
}

/**
 * Checks a link token: its signature (HS256 with the surface key only), audience and expiry, then that
 * it is the surface's current token and the surface can still be answered. Reads the surface's row to
 * do so (by the workspace in the verified claims); returns ids only, never its content.
 */
export async function checkToken(env: Env, token: string, now = new Date()): Promise<TokenCheck> {
  if (typeof token !== "string" || token.length > 2048 || !/^[\w-]+\.[\w-]+\.[\w-]*$/.test(token)) {
    return { ok: false, reason: "malformed" };
  }
  let claims: Record<string, unknown>;
  try {
    const verified = await jwtVerify(token, await signingKey(env), {
      algorithms: [ALGORITHM],
      audience: SURFACE_AUDIENCE,
      requiredClaims: ["exp", "jti", "iat"],
      currentDate: now,
    });
    claims = verified.payload as Record<string, unknown>;
  } catch (err) {
    return { ok: false, reason: failureOf(err) };
  }
  const { ws, sid, jti } = claims;
  if (
    typeof ws !== "string" ||
    typeof sid !== "string" ||
    typeof jti !== "string" ||
    !WORKSPACE_PATTERN.test(ws) ||
    !ID_PATTERN.test(sid)
  ) {
    return { ok: false, reason: "malformed" };
  }
  const surface = await findSurface(database(env.DB), ws, sid);
  if (!surface) return { ok: false, reason: "unknown" };
  if (
    surface.tokenJti !== jti ||
    surface.revokedAt !== null ||
    surface.status === "expired" ||
    surface.status === "archived"
  ) {
    return { ok: false, reason: "revoked" };
  }
  if (Date.parse(surface.expiresAt) <= now.getTime()) return { ok: false, reason: "expired" };
  return { ok: true, workspaceId: ws, surfaceId: sid, jti };
}

// ---------------------------------------------------------------------------------------------------------
// Short links for SMS

async function shortMac(env: Env, workspaceId: string, surfaceId: string): Promise<string> {
  if (!env.SIGNING_SECRET) throw new Error("SIGNING_SECRET is not configured");
  const mac = await purposeMac(env.SIGNING_SECRET, SHORT_LINK_PURPOSE, workspaceId, surfaceId);
  return toBase64Url(mac).slice(0, SHORT_MAC_LENGTH);
}

/** The short code of a surface's link: `{surface id}.{MAC}`. */
export async function shortCode(env: Env, surface: Pick<Surface, "id" | "workspaceId">): Promise<string> {
  return `${surface.id}.${await shortMac(env, surface.workspaceId, surface.id)}`;
}

/** The short URL for SMS (`/l/{code}`), which redirects to a fresh token. */
export async function shortLink(env: Env, surface: Pick<Surface, "id" | "workspaceId">): Promise<string> {
  return `${publicOrigin(env)}/l/${await shortCode(env, surface)}`;
}

/**
 * Resolves a short code to a freshly issued token (revoking the previous one), or null when the code is
 * not one we made or the surface can no longer be answered (revoked, expired, archived).
 */
export async function resolveShortLink(
  env: Env,
  code: string,
  now = new Date(),
): Promise<{ token: string } | null> {
  if (typeof code !== "string" || code.length > 100) return null;
  const dot = code.lastIndexOf(".");
  const surfaceId = code.slice(0, dot);
  const mac = code.slice(dot + 1);
  if (dot < 0 || !ID_PATTERN.test(surfaceId) || !/^[\w-]+$/.test(mac)) return null;
  // Surface ids are unique across workspaces; the MAC then binds the one found to its workspace.
  const surface = await findSurfaceAnyWorkspace(database(env.DB), surfaceId);
  if (!surface) return null;
  const expected = await shortMac(env, surface.workspaceId, surface.id);
  if (!timingSafeEqual(utf8.encode(mac), utf8.encode(expected))) return null;
  if (
    surface.revokedAt !== null ||
    surface.status === "expired" ||
    surface.status === "archived" ||
    Date.parse(surface.expiresAt) <= now.getTime()
  ) {
    return null;
  }
  return { token: await issueToken(env, surface, now) };
}
