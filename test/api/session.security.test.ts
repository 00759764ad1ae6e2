/**
 * The dashboard session cookie on every `/v1` operation and every signed-in `/auth` operation: forged,
 * tampered, expired and signed-out sessions are refused; cross-site writes carrying the cookie are
 * refused; a workspace that requires MFA refuses sessions that did not pass it.
 */
import { env } from "cloudflare:workers";
import { beforeAll, describe, expect, it } from "vitest";
import { toBase64Url, utf8 } from "../../shared/encoding";
import { SESSION_COOKIE, signSessionToken } from "../../workers/session";
import { databaseState } from "../helpers/db";

/** The database state before a write that must be refused; reads skip the comparison. */
const stateIfWrite = (op: Operation) => (isMutating(op) ? databaseState() : Promise.resolve(undefined));

import { api, expectError } from "../helpers/http";
import { documentedOperations, isMutating, type Operation } from "../helpers/openapi";
import { anyRequest } from "../helpers/operations";
import { createWorkspace, sessionCookie, type TestWorkspace, unique } from "../helpers/workspace";

const operations = await documentedOperations();
const v1 = operations.filter((op) => op.path.startsWith("/v1/"));
/** `/auth` operations that need a signed-in user (everything but login). */
const signedInAuth = operations.filter((op) => op.path.startsWith("/auth/") && op.security.length > 0);

let ws: TestWorkspace;
let mfaWorkspace: TestWorkspace;
/** Cookies that must never open a session, built from real ones. */
let forged: Record<string, string>;

const cookieOf = (token: string) => `${SESSION_COOKIE}=${token}`;
const decodeSegment = (segment: string): Record<string, unknown> =>
  JSON.parse(atob(segment.replaceAll("-", "+").replaceAll("_", "/")));
const encodeSegment = (value: unknown) => toBase64Url(utf8.encode(JSON.stringify(value)));

beforeAll(async () => {
  [ws, mfaWorkspace] = await Promise.all([createWorkspace(), createWorkspace({ requireMfa: true })]);
  const owner = ws.members.owner.id;
  const { token } = await sessionCookie(owner);
  const [header, payload, signature] = token.split(".") as [string, string, string];
  const claims = decodeSegment(payload);
  // The first character: the last one of a base64url signature also carries padding bits a decoder drops.
  const flipped = `${signature.startsWith("A") ? "B" : "A"}${signature.slice(1)}`;
  const admin = await sessionCookie(ws.members.admin.id);
  const stale = await sessionCookie(owner);
  await env.DB.prepare("UPDATE sessions SET expires_at = ? WHERE id = ?")
    .bind(new Date(Date.now() - 1000).toISOString(), stale.sessionId)
    .run();
  const soon = new Date(Date.now() + 3600_000);
  const sign = (secret: string, sessionId: string, expiresAt = soon) =>
    signSessionToken(secret, { userId: owner, sessionId }, expiresAt);
  forged = {
    "a flipped signature": cookieOf(`${header}.${payload}.${flipped}`),
    "a payload naming another user": cookieOf(
      `${header}.${encodeSegment({ ...claims, sub: ws.members.admin.id })}.${signature}`,
    ),
    "alg none": cookieOf(`${encodeSegment({ alg: "none", typ: "JWT" })}.${payload}.`),
    "another secret": cookieOf(await sign("not-the-session-secret-0123456789abcdef", claims.jti as string)),
    // Signed with the real secret, but naming a session that is not this user's, or not live.
    "another user's session id": cookieOf(await sign(env.SESSION_SECRET, admin.sessionId)),
    "a session id never issued": cookieOf(await sign(env.SESSION_SECRET, "ses_neverissued000000")),
    "an expired token": cookieOf(
      await sign(env.SESSION_SECRET, claims.jti as string, new Date(Date.now() - 1000)),
    ),
    "an expired session row": stale.cookie,
    "not a JWT": cookieOf("not-a-jwt"),
    "an empty value": cookieOf(""),
  };
});

async function requestFor(op: Operation) {
  if (op.path.startsWith("/auth/")) {
    const body =
      op.path === "/auth/workspaces" ? { id: `t-s-${unique()}`, name: "Session Test" } : { code: "123456" };
    return { path: op.path, body: op.hasBody ? body : undefined, status: undefined };
  }
  return anyRequest(op, ws);
}

describe.each([...v1, ...signedInAuth])("$id with a session cookie", (op) => {
  it("refuses forged, tampered and expired cookies with 401, storing nothing", async () => {
    const req = await requestFor(op);
    const before = await stateIfWrite(op);
    for (const [what, cookie] of Object.entries(forged)) {
      const res = await api(op.method, req.path, { cookie, body: req.body });
      expect(res.status, what).toBe(401);
      expectError(res, "unauthorized");
    }
    if (before) expect(await databaseState()).toEqual(before);
  });

  it("refuses a session after sign-out with 401", async () => {
    const { cookie } = await sessionCookie(ws.members.owner.id);
    expect((await api("POST", "/auth/logout", { cookie })).status).toBe(204);
    const req = await requestFor(op);
    const res = await api(op.method, req.path, { cookie, body: req.body });
    expectError(res, "unauthorized", 401);
  });

  if (isMutating(op)) {
    it("refuses a cross-site write carrying the cookie with 403, and serves a same-origin one", async () => {
      const { cookie } = await sessionCookie(ws.members.owner.id);
      const crossSite: Record<string, string>[] = [
        { "Sec-Fetch-Site": "cross-site" },
        { Origin: "https://evil.example" },
        { Origin: "http://sb.test" },
        { Origin: "https://sb.test.evil.example" },
        { Origin: "null" },
        { "Sec-Fetch-Site": "cross-site", Origin: "https://sb.test" },
      ];
      const req = await requestFor(op);
      const before = await databaseState();
      for (const headers of crossSite) {
        const res = await api(op.method, req.path, { cookie, body: req.body, headers });
        expect(res.status, JSON.stringify(headers)).toBe(403);
        expectError(res, "forbidden");
      }
      expect(await databaseState()).toEqual(before);

      const sameOrigin = await api(op.method, req.path, {
        cookie,
        body: req.body,
        headers: { Origin: "https://sb.test", "Sec-Fetch-Site": "same-origin" },
      });
      if (req.status !== undefined) expect(sameOrigin.status, sameOrigin.text).toBe(req.status);
      else expect([401, 403], sameOrigin.text).not.toContain(sameOrigin.status);
    });
  }
});

describe.each(signedInAuth)("$id", (op) => {
  it("answers 401 without a session, and 403 to an API key: account endpoints are for users", async () => {
    const req = await requestFor(op);
    expectError(await api(op.method, op.path, { body: req.body }), "unauthorized", 401);
    const before = await databaseState();
    expectError(await api(op.method, op.path, { key: ws.keys.owner, body: req.body }), "forbidden", 403);
    expect(await databaseState()).toEqual(before);
  });
});

describe.each(v1)("$id in a workspace that requires MFA", (op) => {
  it("refuses a session without MFA with 403 mfa_enrollment_required", async () => {
    const { cookie } = await sessionCookie(mfaWorkspace.members.owner.id, { mfaVerified: false });
    const req = await anyRequest(op, mfaWorkspace);
    const before = await stateIfWrite(op);
    const res = await api(op.method, req.path, { cookie, body: req.body });
    expectError(res, "mfa_enrollment_required", 403);
    if (before) expect(await databaseState()).toEqual(before);
  });

  it("serves a session that passed MFA, and API keys", async () => {
    const { cookie } = await sessionCookie(mfaWorkspace.members.owner.id, { mfaVerified: true });
    for (const credentials of [{ cookie }, { key: mfaWorkspace.keys.owner }]) {
      const req = await anyRequest(op, mfaWorkspace);
      const res = await api(op.method, req.path, { ...credentials, body: req.body });
      if (req.status !== undefined) expect(res.status, res.text).toBe(req.status);
      else expect([401, 403], res.text).not.toContain(res.status);
    }
  });
});
