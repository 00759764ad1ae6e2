/**
 * A surface's signed links: every token that is not the surface's current, valid one is refused with its
 * reason (expired, tampered payload or signature, re-issued, wrong audience, `alg: none`, another HMAC
 * algorithm, another workspace's surface inside a validly signed token), the page answers 4xx without the
 * form, and checking writes nothing. Short links resolve only with their MAC and hand out a fresh token.
 */
import { env, exports } from "cloudflare:workers";
import { SignJWT } from "jose";
import { describe, expect, it } from "vitest";
import { purposeMac } from "../../shared/crypto/hmac";
import { toBase64Url, utf8 } from "../../shared/encoding";
import { archive, create, revokeLinks } from "../../workers/surfaces/service";
import {
  checkToken,
  issueToken,
  resolveShortLink,
  shortCode,
  shortLink,
} from "../../workers/surfaces/tokens";
import { databaseState } from "../helpers/db";
import { ingestPatient, worldWorkspace } from "../world/fixtures";

const SPEC = {
  title: "Contact update",
  fields: [{ key: "nickname", label: "What should we call you?", field_type: "text" as const }],
};

async function newSurface() {
  const f = await worldWorkspace();
  const entityId = await ingestPatient(f);
  const surface = await create(env, f.ws.id, {
    entityId,
    spec: SPEC as never,
    channel: "sms",
    createdBy: { type: "api", id: "test" },
  });
  return { f, surface };
}

/** The surface key, derived as the service derives it, to sign tokens the service did not issue. */
const surfaceKey = () => purposeMac(env.SIGNING_SECRET, "switchboard-surface-token", "v1");

function forge(claims: Record<string, unknown>, alg: "HS256" | "HS512" = "HS256", key?: Uint8Array) {
  return (async () =>
    new SignJWT(claims)
      .setProtectedHeader({ alg })
      .setIssuedAt()
      .setExpirationTime("1h")
      .setJti(crypto.randomUUID())
      .sign(key ?? (await surfaceKey())))();
}

const b64 = (value: unknown) => toBase64Url(utf8.encode(JSON.stringify(value)));
const payloadOf = (token: string) =>
  JSON.parse(
    utf8.decode(
      Uint8Array.from(atob(token.split(".")[1]!.replace(/-/g, "+").replace(/_/g, "/")), (ch) =>
        ch.charCodeAt(0),
      ),
    ),
  );

async function page(token: string) {
  const res = await exports.default.fetch(`https://sb.test/s/${token}`);
  return { status: res.status, text: await res.text() };
}

describe("surface link tokens", () => {
  it("accepts the current token, with the workspace and surface from its claims", async () => {
    const { f, surface } = await newSurface();
    const token = await issueToken(env, surface);
    const check = await checkToken(env, token);
    expect(check).toMatchObject({ ok: true, workspaceId: f.ws.id, surfaceId: surface.id });
    const claims = payloadOf(token);
    expect(claims).toMatchObject({ aud: "surface", ws: f.ws.id, sid: surface.id });
    expect(claims.exp).toBe(Math.floor(Date.parse(surface.expiresAt) / 1000));
    const row = await env.DB.prepare("SELECT token_jti FROM surfaces WHERE id = ?").bind(surface.id).first();
    expect(row?.token_jti).toBe(claims.jti);
  });

  it("refuses every token that is not the surface's current valid one, and writes nothing", async () => {
    const { f, surface } = await newSurface();
    const other = await newSurface();
    const first = await issueToken(env, surface);
    const current = await issueToken(env, surface);
    const [header, payload, signature] = current.split(".") as [string, string, string];
    const claims = payloadOf(current);
    const flipped = signature.slice(0, -2) + (signature.at(-2) === "A" ? "B" : "A") + signature.at(-1);

    const cases: [string, string, string][] = [
      ["garbage", "not-a-token", "malformed"],
      [
        "tampered payload",
        `${header}.${b64({ ...claims, sid: other.surface.id })}.${signature}`,
        "bad_signature",
      ],
      ["tampered signature", `${header}.${payload}.${flipped}`, "bad_signature"],
      ["re-issued (the previous token)", first, "revoked"],
      ["wrong audience", await forge({ aud: "recording", ws: f.ws.id, sid: surface.id }), "wrong_audience"],
      ["alg none", `${b64({ alg: "none", typ: "JWT" })}.${payload}.`, "bad_signature"],
      ["HS512", await forge({ aud: "surface", ws: f.ws.id, sid: surface.id }, "HS512"), "bad_signature"],
      [
        "signed with another secret",
        await forge(
          { aud: "surface", ws: f.ws.id, sid: surface.id },
          "HS256",
          await purposeMac("another-secret", "switchboard-surface-token", "v1"),
        ),
        "bad_signature",
      ],
      [
        "another workspace's surface id",
        await forge({ aud: "surface", ws: f.ws.id, sid: other.surface.id }),
        "unknown",
      ],
      [
        "this surface under another workspace",
        await forge({ aud: "surface", ws: other.f.ws.id, sid: surface.id }),
        "unknown",
      ],
      ["no workspace claim", await forge({ aud: "surface", sid: surface.id }), "malformed"],
    ];
    const before = await databaseState();
    for (const [name, token, reason] of cases) {
      expect(await checkToken(env, token), name).toEqual({ ok: false, reason });
    }
    const later = new Date(Date.parse(surface.expiresAt) + 1000);
    expect(await checkToken(env, current, later)).toEqual({ ok: false, reason: "expired" });
    expect(await databaseState()).toEqual(before);
    // The page answers every one of them with a 4xx and never the form.
    for (const [name, token] of cases.filter(([n]) => n !== "garbage")) {
      const res = await page(token);
      expect(res.status, name).toBeGreaterThanOrEqual(400);
      expect(res.status, name).toBeLessThan(500);
      expect(res.text, name).not.toContain("What should we call you?");
    }
    expect(await checkToken(env, current)).toMatchObject({ ok: true });
  });

  it("refuses every token once the links are revoked or the surface is archived", async () => {
    const revoked = await newSurface();
    const token = await issueToken(env, revoked.surface);
    await revokeLinks(env, revoked.f.ws.id, revoked.surface.id);
    expect(await checkToken(env, token)).toEqual({ ok: false, reason: "revoked" });
    expect(await resolveShortLink(env, await shortCode(env, revoked.surface))).toBeNull();

    const archived = await newSurface();
    const archivedToken = await issueToken(env, archived.surface);
    await archive(env, archived.f.ws.id, archived.surface.id);
    expect(await checkToken(env, archivedToken)).toEqual({ ok: false, reason: "revoked" });
  });
});

describe("short links", () => {
  it("resolve to a fresh token that revokes the previous one", async () => {
    const { surface } = await newSurface();
    const link = await shortLink(env, surface);
    const code = await shortCode(env, surface);
    expect(link.endsWith(`/l/${code}`)).toBe(true);
    expect(code).toMatch(/^srf_[\w-]+\.[\w-]{12}$/);
    const first = await resolveShortLink(env, code);
    expect(await checkToken(env, first!.token)).toMatchObject({ ok: true, surfaceId: surface.id });
    const second = await resolveShortLink(env, code);
    expect(await checkToken(env, second!.token)).toMatchObject({ ok: true });
    expect(await checkToken(env, first!.token)).toEqual({ ok: false, reason: "revoked" });
  });

  it("do not resolve with a wrong MAC or another surface's MAC", async () => {
    const a = await newSurface();
    const b = await newSurface();
    const codeA = await shortCode(env, a.surface);
    const codeB = await shortCode(env, b.surface);
    const mac = codeA.split(".")[1]!;
    const before = await databaseState();
    expect(
      await resolveShortLink(env, `${a.surface.id}.${mac.slice(0, -1)}${mac.at(-1) === "A" ? "B" : "A"}`),
    ).toBeNull();
    expect(await resolveShortLink(env, `${b.surface.id}.${mac}`)).toBeNull();
    expect(await resolveShortLink(env, `${a.surface.id}.${codeB.split(".")[1]}`)).toBeNull();
    expect(await resolveShortLink(env, "srf_nope")).toBeNull();
    expect(await databaseState()).toEqual(before);
  });
});
