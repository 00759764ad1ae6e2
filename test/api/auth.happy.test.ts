/** Signing in and out, MFA enrolment, and creating a workspace, as a dashboard user does them. */
import { env } from "cloudflare:workers";
import { beforeAll, describe, expect, it } from "vitest";
import { ACCOUNT_CHAIN } from "../../workers/db/audit";
import { SESSION_COOKIE, SESSION_TTL_SECONDS } from "../../workers/session";
import { auditRows } from "../helpers/db";
import { api } from "../helpers/http";
import { currentTotp } from "../helpers/totp";
import {
  createWorkspace,
  insertMember,
  login,
  TEST_PASSWORD,
  type TestWorkspace,
  unique,
} from "../helpers/workspace";

let ws: TestWorkspace;

beforeAll(async () => {
  ws = await createWorkspace();
});

const lastAccountEvent = async () => (await auditRows(ACCOUNT_CHAIN)).at(-1)!;

describe("POST /auth/login", () => {
  it("signs in and sets an HttpOnly, Secure, SameSite=Strict session cookie", async () => {
    const member = ws.members.operator;
    const res = await api("POST", "/auth/login", { body: { email: member.email, password: TEST_PASSWORD } });
    expect(res.status, res.text).toBe(200);
    const setCookie = res.headers.getSetCookie().find((c) => c.startsWith(`${SESSION_COOKIE}=`))!;
    const attributes = setCookie
      .split(";")
      .slice(1)
      .map((a) => a.trim().toLowerCase());
    expect(attributes).toEqual(
      expect.arrayContaining([
        "httponly",
        "secure",
        "samesite=strict",
        "path=/",
        `max-age=${SESSION_TTL_SECONDS}`,
      ]),
    );
    expect(res.body).toEqual({
      user: { id: member.id, email: member.email, name: expect.any(String), mfa_enabled: false },
      workspaces: [{ id: ws.id, name: `Clinic ${ws.id}`, role: "operator", require_mfa: false }],
      mfa_verified: false,
    });
  });

  it("accepts the email in any case", async () => {
    const cookie = await login(ws.members.viewer.email.toUpperCase());
    const session = await api("GET", "/auth/session", { cookie });
    expect(session.body.user.id).toBe(ws.members.viewer.id);
  });

  it("opens a session that works on the workspace and records the sign-in in the account chain", async () => {
    const cookie = await login(ws.members.admin.email);
    const res = await api("GET", `/v1/${ws.id}/services`, { cookie });
    expect(res.status).toBe(200);
    const event = await lastAccountEvent();
    expect(event).toMatchObject({
      action: "auth.login",
      actorType: "user",
      actorId: ws.members.admin.id,
      targetType: "session",
    });
    const session = await env.DB.prepare("SELECT user_id, revoked_at FROM sessions WHERE id = ?")
      .bind(event.targetId)
      .first();
    expect(session).toEqual({ user_id: ws.members.admin.id, revoked_at: null });
  });

  it("clears the failure count after a successful sign-in", async () => {
    const member = await insertMember(ws.id, "viewer");
    for (let i = 0; i < 3; i++) {
      await api("POST", "/auth/login", { body: { email: member.email, password: "wrong password!" } });
    }
    await login(member.email);
    const row = await env.DB.prepare("SELECT failed_login_count, locked_until FROM users WHERE id = ?")
      .bind(member.id)
      .first();
    expect(row).toEqual({ failed_login_count: 0, locked_until: null });
  });
});

describe("GET /auth/session and POST /auth/logout", () => {
  it("describes the session, then signs out: the cookie is cleared and the session revoked", async () => {
    const cookie = await login(ws.members.owner.email);
    const session = await api("GET", "/auth/session", { cookie });
    expect(session.status).toBe(200);
    expect(session.body.user.email).toBe(ws.members.owner.email);

    const logout = await api("POST", "/auth/logout", { cookie });
    expect(logout.status).toBe(204);
    const cleared = logout.headers.getSetCookie().find((c) => c.startsWith(`${SESSION_COOKIE}=`))!;
    expect(cleared).toMatch(/Max-Age=0/i);
    expect(await lastAccountEvent()).toMatchObject({ action: "auth.logout", actorId: ws.members.owner.id });

    expect((await api("GET", "/auth/session", { cookie })).status).toBe(401);
  });
});

describe("TOTP enrolment", () => {
  it("sets up, enables with a current code, then requires the code at every sign-in", async () => {
    const member = await insertMember(ws.id, "operator");
    const cookie = await login(member.email);

    const setup = await api("POST", "/auth/mfa/setup", { cookie });
    expect(setup.status, setup.text).toBe(200);
    const { secret, otpauth_uri } = setup.body;
    expect(secret).toMatch(/^[A-Z2-7]{32}$/);
    expect(otpauth_uri).toMatch(/^otpauth:\/\/totp\/Switchboard:/);
    expect(otpauth_uri).toContain(`secret=${secret}`);

    const enable = await api("POST", "/auth/mfa/enable", { cookie, body: { code: currentTotp(secret) } });
    expect(enable.status, enable.text).toBe(200);
    expect(enable.body.user.mfa_enabled).toBe(true);
    expect(enable.body.mfa_verified).toBe(true);
    expect(await lastAccountEvent()).toMatchObject({ action: "auth.mfa_enabled", targetId: member.id });

    const withoutCode = await api("POST", "/auth/login", {
      body: { email: member.email, password: TEST_PASSWORD },
    });
    expect(withoutCode.status).toBe(401);
    expect(withoutCode.body.error).toMatchObject({ code: "mfa_required", details: { factor: "totp" } });

    const signedIn = await api("POST", "/auth/login", {
      body: { email: member.email, password: TEST_PASSWORD, totp_code: currentTotp(secret) },
    });
    expect(signedIn.status, signedIn.text).toBe(200);
    expect(signedIn.body.mfa_verified).toBe(true);

    const disable = await api("POST", "/auth/mfa/disable", { cookie, body: { code: currentTotp(secret) } });
    expect(disable.status, disable.text).toBe(200);
    expect(disable.body.user.mfa_enabled).toBe(false);
    await login(member.email);
  });

  it("lets a user in a workspace that requires MFA enrol, then use it", async () => {
    const strict = await createWorkspace({ requireMfa: true });
    const member = strict.members.admin;
    const cookie = await login(member.email);
    const refused = await api("GET", `/v1/${strict.id}`, { cookie });
    expect(refused.body.error.code).toBe("mfa_enrollment_required");

    const { secret } = (await api("POST", "/auth/mfa/setup", { cookie })).body;
    await api("POST", "/auth/mfa/enable", { cookie, body: { code: currentTotp(secret) } });
    // Enrolling verifies the current session, so it works at once.
    expect((await api("GET", `/v1/${strict.id}`, { cookie })).status).toBe(200);
  });
});

describe("POST /auth/workspaces", () => {
  it("creates a workspace owned by the signed-in user, audited in its own chain", async () => {
    const cookie = await login(ws.members.viewer.email);
    const id = `t-new-${unique()}`;
    const res = await api("POST", "/auth/workspaces", {
      cookie,
      body: { id, name: "Northside Family Practice", timezone: "America/Chicago" },
    });
    expect(res.status, res.text).toBe(201);
    expect(res.body).toMatchObject({
      id,
      name: "Northside Family Practice",
      timezone: "America/Chicago",
      require_mfa: false,
    });

    const members = await api("GET", `/v1/${id}/users`, { cookie });
    expect(members.body.results).toEqual([
      expect.objectContaining({ id: ws.members.viewer.id, role: "owner" }),
    ]);
    const chain = await auditRows(id);
    expect(chain).toHaveLength(1);
    expect(chain[0]).toMatchObject({
      seq: 1,
      action: "workspace.created",
      actorType: "user",
      actorId: ws.members.viewer.id,
      targetType: "workspace",
      targetId: id,
    });
  });
});
