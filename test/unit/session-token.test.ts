/** Session tokens: HS256 JWTs naming a user and a session, refused when anything about them is off. */
import { env } from "cloudflare:workers";
import { SignJWT } from "jose";
import { describe, expect, it } from "vitest";
import { utf8 } from "../../shared/encoding";
import { signSessionToken, verifySessionToken } from "../../workers/session";

const claims = { userId: "usr_abc", sessionId: "ses_def" };
const inAnHour = () => new Date(Date.now() + 3_600_000);

describe("session tokens", () => {
  it("verify to the user and session they were signed for", async () => {
    const token = await signSessionToken(env.SESSION_SECRET, claims, inAnHour());
    expect(await verifySessionToken(env.SESSION_SECRET, token)).toEqual(claims);
  });

  it("are refused when expired, signed with another secret, or not JWTs", async () => {
    const expired = await signSessionToken(env.SESSION_SECRET, claims, new Date(Date.now() - 1000));
    const foreign = await signSessionToken("another-secret-entirely-0123456789", claims, inAnHour());
    for (const token of [expired, foreign, "", "a.b.c", "not a token"]) {
      expect(await verifySessionToken(env.SESSION_SECRET, token), token).toBeNull();
    }
  });

  it("are refused with another algorithm, issuer or audience, or without a subject", async () => {
    const key = utf8.encode(env.SESSION_SECRET);
    const base = () =>
      new SignJWT({})
        .setSubject(claims.userId)
        .setJti(claims.sessionId)
        .setIssuer("switchboard")
        .setAudience("switchboard-dashboard")
        .setExpirationTime("1h");
    const variants = [
      await base().setProtectedHeader({ alg: "HS512" }).sign(key),
      await base().setIssuer("someone-else").setProtectedHeader({ alg: "HS256" }).sign(key),
      await base().setAudience("surface").setProtectedHeader({ alg: "HS256" }).sign(key),
      await new SignJWT({})
        .setJti("ses_x")
        .setIssuer("switchboard")
        .setAudience("switchboard-dashboard")
        .setExpirationTime("1h")
        .setProtectedHeader({ alg: "HS256" })
        .sign(key),
    ];
    for (const token of variants) expect(await verifySessionToken(env.SESSION_SECRET, token)).toBeNull();
    const [, payload] = variants[0]!.split(".");
    const unsigned = `${btoa(JSON.stringify({ alg: "none", typ: "JWT" })).replace(/=+$/, "")}.${payload}.`;
    expect(await verifySessionToken(env.SESSION_SECRET, unsigned)).toBeNull();
  });
});
