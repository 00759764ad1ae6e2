/** Sign-in and MFA requests that must fail, and how. */
import { env } from "cloudflare:workers";
import { beforeAll, describe, expect, it } from "vitest";
import { ACCOUNT_CHAIN } from "../../workers/db/audit";
import { auditRows, databaseState } from "../helpers/db";
import { api, expectError } from "../helpers/http";
import { currentTotp, wrongTotp } from "../helpers/totp";
import {
  createWorkspace,
  insertMember,
  login,
  TEST_PASSWORD,
  type TestWorkspace,
} from "../helpers/workspace";

let ws: TestWorkspace;

beforeAll(async () => {
  ws = await createWorkspace();
});

describe("POST /auth/login", () => {
  it("answers 401 invalid_credentials to a wrong password, counts it and audits it", async () => {
    const member = await insertMember(ws.id, "viewer");
    const res = await api("POST", "/auth/login", {
      body: { email: member.email, password: "not the password" },
    });
    expectError(res, "invalid_credentials", 401);
    expect(res.headers.getSetCookie()).toEqual([]);
    const row = await env.DB.prepare("SELECT failed_login_count FROM users WHERE id = ?")
      .bind(member.id)
      .first();
    expect(row).toEqual({ failed_login_count: 1 });
    expect((await auditRows(ACCOUNT_CHAIN)).at(-1)).toMatchObject({
      action: "auth.login_failed",
      actorType: "anonymous",
      targetId: member.id,
      details: { reason: "password" },
    });
  });

  it("answers 401 invalid_credentials to an unknown email", async () => {
    const res = await api("POST", "/auth/login", {
      body: { email: "nobody-at-all@example.test", password: TEST_PASSWORD },
    });
    expectError(res, "invalid_credentials", 401);
  });

  it.each([
    ["no body fields", {}],
    ["no password", { email: "a@example.test" }],
    ["an empty password", { email: "a@example.test", password: "" }],
    ["a malformed email", { email: "not-an-email", password: TEST_PASSWORD }],
    ["a 5-digit code", { email: "a@example.test", password: TEST_PASSWORD, totp_code: "12345" }],
    ["a code with letters", { email: "a@example.test", password: TEST_PASSWORD, totp_code: "12a456" }],
    ["an unknown field", { email: "a@example.test", password: TEST_PASSWORD, remember: true }],
    ["a password too long to hash", { email: "a@example.test", password: "x".repeat(257) }],
  ])("answers 400 validation_failed to %s", async (_, body) => {
    const before = await databaseState();
    const res = await api("POST", "/auth/login", { body });
    expectError(res, "validation_failed", 400);
    expect(res.body.error.details.issues.length).toBeGreaterThan(0);
    expect(await databaseState()).toEqual(before);
  });

  it("answers 400 invalid_json to a malformed body", async () => {
    const res = await api("POST", "/auth/login", { raw: '{"email":', contentType: "application/json" });
    expectError(res, "invalid_json", 400);
  });

  it("answers 415 to a form post", async () => {
    const res = await api("POST", "/auth/login", {
      raw: "email=a%40example.test&password=x",
      contentType: "application/x-www-form-urlencoded",
    });
    expectError(res, "unsupported_media_type", 415);
  });
});

describe("TOTP", () => {
  let member: Awaited<ReturnType<typeof insertMember>>;
  let cookie: string;
  let secret: string;

  beforeAll(async () => {
    member = await insertMember(ws.id, "operator");
    cookie = await login(member.email);
  });

  it("refuses to enable before setup with 409", async () => {
    const res = await api("POST", "/auth/mfa/enable", { cookie, body: { code: "123456" } });
    expectError(res, "conflict", 409);
  });

  it("refuses to disable while not enabled with 409", async () => {
    const res = await api("POST", "/auth/mfa/disable", { cookie, body: { code: "123456" } });
    expectError(res, "conflict", 409);
  });

  it("refuses a wrong enrolment code with 422 and stays disabled", async () => {
    secret = (await api("POST", "/auth/mfa/setup", { cookie })).body.secret;
    const res = await api("POST", "/auth/mfa/enable", { cookie, body: { code: wrongTotp(secret) } });
    expectError(res, "unprocessable", 422);
    const session = await api("GET", "/auth/session", { cookie });
    expect(session.body.user.mfa_enabled).toBe(false);
  });

  it.each([["12345"], ["1234567"], ["abcdef"], [""]])("answers 400 to the code %j", async (code) => {
    const res = await api("POST", "/auth/mfa/enable", { cookie, body: { code } });
    expectError(res, "validation_failed", 400);
  });

  it("refuses a second setup once enabled with 409", async () => {
    const enabled = await api("POST", "/auth/mfa/enable", { cookie, body: { code: currentTotp(secret) } });
    expect(enabled.status).toBe(200);
    const res = await api("POST", "/auth/mfa/setup", { cookie });
    expectError(res, "conflict", 409);
  });

  it("answers 401 to a sign-in with a wrong code, and counts it as a failure", async () => {
    const res = await api("POST", "/auth/login", {
      body: { email: member.email, password: TEST_PASSWORD, totp_code: wrongTotp(secret) },
    });
    expectError(res, "invalid_credentials", 401);
    expect(res.headers.getSetCookie()).toEqual([]);
    expect((await auditRows(ACCOUNT_CHAIN)).at(-1)).toMatchObject({
      action: "auth.login_failed",
      details: { reason: "totp" },
    });
  });

  it("answers 401 mfa_required without a code, and opens no session", async () => {
    const before = await env.DB.prepare("SELECT COUNT(*) AS n FROM sessions WHERE user_id = ?")
      .bind(member.id)
      .first();
    const res = await api("POST", "/auth/login", { body: { email: member.email, password: TEST_PASSWORD } });
    expectError(res, "mfa_required", 401);
    expect(res.headers.getSetCookie()).toEqual([]);
    const after = await env.DB.prepare("SELECT COUNT(*) AS n FROM sessions WHERE user_id = ?")
      .bind(member.id)
      .first();
    expect(after).toEqual(before);
  });

  it("refuses to disable with a wrong code with 422", async () => {
    const res = await api("POST", "/auth/mfa/disable", { cookie, body: { code: wrongTotp(secret) } });
    expectError(res, "unprocessable", 422);
    const session = await api("GET", "/auth/session", { cookie });
    expect(session.body.user.mfa_enabled).toBe(true);
  });
});

describe("POST /auth/workspaces", () => {
  it.each([
    ["an id with capitals", { id: "North-Side", name: "North" }],
    ["an id with a slash", { id: "a/../b", name: "North" }],
    ["a one-letter id", { id: "a", name: "North" }],
    ["an unknown time zone", { id: "t-tz-zone", name: "North", timezone: "Mars/Olympus" }],
    ["markup in the name", { id: "t-markup", name: "<b>North</b>" }],
  ])("answers 400 to %s", async (_, body) => {
    const cookie = await login(ws.members.viewer.email);
    const before = await databaseState();
    const res = await api("POST", "/auth/workspaces", { cookie, body });
    expectError(res, "validation_failed", 400);
    expect(await databaseState()).toEqual(before);
  });

  it("answers 409 to an id that is taken, leaving the owner unchanged", async () => {
    const cookie = await login(ws.members.viewer.email);
    const before = await databaseState();
    const res = await api("POST", "/auth/workspaces", { cookie, body: { id: ws.id, name: "Takeover" } });
    expectError(res, "conflict", 409);
    expect(await databaseState()).toEqual(before);
  });
});
