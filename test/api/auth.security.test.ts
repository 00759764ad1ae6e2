/**
 * Sign-in defences: lockout, no account enumeration through answers, passwords and TOTP secrets at
 * rest, and no secret ever written to the audit log.
 */
import { env } from "cloudflare:workers";
import { beforeAll, describe, expect, it } from "vitest";
import { verifyPassword } from "../../shared/auth/password";
import { decryptField } from "../../shared/crypto/encryption";
import { ACCOUNT_CHAIN } from "../../workers/db/audit";
import { LOCKOUT_MINUTES } from "../../workers/db/identity";
import { auditRows } from "../helpers/db";
import { api, expectError } from "../helpers/http";
import { currentTotp } from "../helpers/totp";
import {
  createWorkspace,
  insertMember,
  login,
  TEST_PASSWORD,
  type TestWorkspace,
  unique,
} from "../helpers/workspace";

/** The policy: five failures in a row lock the account. */
const LOCKOUT_THRESHOLD = 5;

let ws: TestWorkspace;

beforeAll(async () => {
  ws = await createWorkspace();
});

const userRow = (id: string) =>
  env.DB.prepare(
    "SELECT password_hash, totp_secret_enc, totp_pending_enc, failed_login_count, locked_until FROM users WHERE id = ?",
  )
    .bind(id)
    .first<{
      password_hash: string;
      totp_secret_enc: string | null;
      totp_pending_enc: string | null;
      failed_login_count: number;
      locked_until: string | null;
    }>();

describe("lockout", () => {
  it(`locks the account after ${LOCKOUT_THRESHOLD} failures in a row, even for the right password`, async () => {
    const member = await insertMember(ws.id, "viewer");
    for (let i = 1; i <= LOCKOUT_THRESHOLD; i++) {
      const res = await api("POST", "/auth/login", { body: { email: member.email, password: `wrong ${i}` } });
      expectError(res, "invalid_credentials", 401);
    }
    expect((await auditRows(ACCOUNT_CHAIN)).at(-1)).toMatchObject({
      action: "auth.account_locked",
      targetId: member.id,
    });

    const res = await api("POST", "/auth/login", { body: { email: member.email, password: TEST_PASSWORD } });
    expectError(res, "account_locked", 429);
    const retryAfter = Number(res.headers.get("Retry-After"));
    expect(retryAfter).toBeGreaterThan(LOCKOUT_MINUTES * 60 - 30);
    expect(retryAfter).toBeLessThanOrEqual(LOCKOUT_MINUTES * 60);
    expect(res.body.error.details).toEqual({ retry_after_seconds: retryAfter });
    expect(res.headers.getSetCookie()).toEqual([]);
  });

  it("does not lock after fewer failures, and a success starts the count again", async () => {
    const member = await insertMember(ws.id, "viewer");
    for (let round = 0; round < 2; round++) {
      for (let i = 1; i < LOCKOUT_THRESHOLD; i++) {
        await api("POST", "/auth/login", { body: { email: member.email, password: `wrong ${i}` } });
      }
      await login(member.email);
    }
    expect((await userRow(member.id))?.failed_login_count).toBe(0);
  });

  it("lets the user in once the lock has expired", async () => {
    const member = await insertMember(ws.id, "viewer");
    await env.DB.prepare("UPDATE users SET failed_login_count = ?, locked_until = ? WHERE id = ?")
      .bind(LOCKOUT_THRESHOLD, new Date(Date.now() - 1000).toISOString(), member.id)
      .run();
    await login(member.email);
    expect(await userRow(member.id)).toMatchObject({ failed_login_count: 0, locked_until: null });
  });

  it("starts a fresh count after an expired lock: one more mistake does not lock again", async () => {
    const member = await insertMember(ws.id, "viewer");
    await env.DB.prepare("UPDATE users SET failed_login_count = ?, locked_until = ? WHERE id = ?")
      .bind(LOCKOUT_THRESHOLD, new Date(Date.now() - 1000).toISOString(), member.id)
      .run();
    const res = await api("POST", "/auth/login", { body: { email: member.email, password: "wrong again" } });
    expectError(res, "invalid_credentials", 401);
    expect(await userRow(member.id)).toMatchObject({ failed_login_count: 1, locked_until: null });
    await login(member.email);
  });
});

describe("account enumeration", () => {
  it("answers an unknown email exactly as a wrong password", async () => {
    const known = await api("POST", "/auth/login", {
      body: { email: ws.members.viewer.email, password: "definitely wrong" },
    });
    const unknown = await api("POST", "/auth/login", {
      body: { email: `nobody-${unique()}@example.test`, password: "definitely wrong" },
    });
    expect(unknown.status).toBe(known.status);
    expect(unknown.text).toBe(known.text);
    expect(unknown.headers.get("Content-Type")).toBe(known.headers.get("Content-Type"));
    await login(ws.members.viewer.email);
  });
});

describe("secrets at rest", () => {
  it("stores passwords as salted PBKDF2-SHA256 at 100,000 iterations, never in clear", async () => {
    const password = `Initial password ${unique()}`;
    const email = `new-${unique()}@example.test`;
    const res = await api("POST", `/v1/${ws.id}/users`, {
      key: ws.keys.admin,
      body: { email, name: "New Hire", role: "operator", password },
    });
    expect(res.status, res.text).toBe(201);
    const row = await userRow(res.body.id);
    expect(row?.password_hash).toMatch(/^pbkdf2-sha256\$100000\$[A-Za-z0-9_-]{22}\$[A-Za-z0-9_-]{43}$/);
    expect(row?.password_hash).not.toContain(password);
    expect(await verifyPassword(password, row!.password_hash)).toBe(true);
    await login(email, password);
  });

  it("stores the TOTP secret encrypted, bound to the user", async () => {
    const member = await insertMember(ws.id, "operator");
    const cookie = await login(member.email);
    const { secret } = (await api("POST", "/auth/mfa/setup", { cookie })).body;
    const pending = (await userRow(member.id))?.totp_pending_enc;
    expect(pending).toMatch(/^v1\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/);
    expect(pending).not.toContain(secret);

    await api("POST", "/auth/mfa/enable", { cookie, body: { code: currentTotp(secret) } });
    const row = await userRow(member.id);
    expect(row?.totp_pending_enc).toBeNull();
    expect(row?.totp_secret_enc).toMatch(/^v1\./);
    expect(row?.totp_secret_enc).not.toContain(secret);
    const field = `totp:${member.id}`;
    expect(await decryptField(env.ENCRYPTION_KEY, ACCOUNT_CHAIN, field, row!.totp_secret_enc!)).toBe(secret);
    await expect(
      decryptField(env.ENCRYPTION_KEY, ACCOUNT_CHAIN, `totp:${ws.members.owner.id}`, row!.totp_secret_enc!),
    ).rejects.toThrow();
  });

  it("never writes a password, TOTP secret or API key into the audit log", async () => {
    const password = `Audit check password ${unique()}`;
    const email = `audit-${unique()}@example.test`;
    await api("POST", `/v1/${ws.id}/users`, {
      key: ws.keys.owner,
      body: { email, name: "Audit Check", role: "viewer", password },
    });
    const cookie = await login(email, password);
    const { secret } = (await api("POST", "/auth/mfa/setup", { cookie })).body;
    await api("POST", "/auth/mfa/enable", { cookie, body: { code: currentTotp(secret) } });
    const created = await api("POST", `/v1/${ws.id}/api-keys`, {
      key: ws.keys.owner,
      body: { name: "Export", role: "viewer" },
    });
    const everything = JSON.stringify((await env.DB.prepare("SELECT * FROM audit_log").all()).results);
    for (const secretValue of [password, secret, created.body.key, TEST_PASSWORD]) {
      expect(everything).not.toContain(secretValue);
    }
  });
});

describe("session answers", () => {
  it("never returns password hashes or encrypted secrets", async () => {
    const cookie = await login(ws.members.owner.email);
    const session = await api("GET", "/auth/session", { cookie });
    const member = await api("GET", `/v1/${ws.id}/users/${ws.members.owner.id}`, { cookie });
    for (const text of [session.text, member.text]) {
      expect(text).not.toMatch(/pbkdf2|password|totp_secret|v1\.[A-Za-z0-9_-]{16}/);
    }
  });
});
