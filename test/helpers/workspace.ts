/**
 * Fixtures: workspaces with one member and one API key per role, written straight to D1 through the
 * data-access schema (no audit rows, no HTTP), plus sessions and sign-in. Every name is fresh, so tests
 * sharing a file's storage never see each other's rows.
 *
 * PBKDF2 costs tens of milliseconds a hash, so every fixture user shares one hash of TEST_PASSWORD,
 * computed once per file.
 */
import { env } from "cloudflare:workers";
import { expect } from "vitest";
import { apiKeyHint, generateApiKey, hashApiKey } from "../../shared/auth/api-key";
import { hashPassword } from "../../shared/auth/password";
import { ROLES, type Role } from "../../shared/auth/roles";
import { newId } from "../../shared/ids";
import { normalizeE164 } from "../../shared/tenancy/phone";
import { apiKeys, memberships, phoneNumbers, services, users, workspaces } from "../../workers/db/schema";
import { SESSION_COOKIE, SESSION_TTL_SECONDS, signSessionToken } from "../../workers/session";
import { db } from "./db";
import { api } from "./http";

export const TEST_PASSWORD = "correct horse battery staple";

let passwordHash: Promise<string> | undefined;
/** The shared PBKDF2 hash of TEST_PASSWORD. */
export const testPasswordHash = () => {
  passwordHash ??= hashPassword(TEST_PASSWORD);
  return passwordHash;
};

/** A short random suffix for names that must not collide. */
export const unique = () => crypto.randomUUID().replaceAll("-", "").slice(0, 10);

export interface TestMember {
  id: string;
  email: string;
  role: Role;
}

export interface TestWorkspace {
  id: string;
  members: Record<Role, TestMember>;
  /** An API key per role, in full. */
  keys: Record<Role, string>;
  keyIds: Record<Role, string>;
}

/** A user with the shared test password, not yet a member of anything. */
export async function insertUser(name = "Test User"): Promise<{ id: string; email: string }> {
  const user = { id: newId("usr"), email: `user-${unique()}@example.test` };
  await db()
    .insert(users)
    .values({ ...user, name, passwordHash: await testPasswordHash() });
  return user;
}

/** A new user who is a member of `workspaceId` with `role`. */
export async function insertMember(workspaceId: string, role: Role): Promise<TestMember> {
  const user = await insertUser(`${role} ${unique()}`);
  await db().insert(memberships).values({ workspaceId, userId: user.id, role });
  return { ...user, role };
}

export interface KeyOptions {
  expiresAt?: string | null;
  revokedAt?: string | null;
}

/** An API key of `workspaceId` with `role`; returns the key itself and its id. */
export async function insertApiKey(
  workspaceId: string,
  role: Role,
  options: KeyOptions = {},
): Promise<{ id: string; key: string }> {
  const key = generateApiKey();
  const id = newId("key");
  await db()
    .insert(apiKeys)
    .values({
      id,
      workspaceId,
      name: `${role} key`,
      role,
      keyHash: await hashApiKey(key),
      keyHint: apiKeyHint(key),
      expiresAt: options.expiresAt ?? null,
      revokedAt: options.revokedAt ?? null,
    });
  return { id, key };
}

/** A workspace with a member and an API key for every role. */
export async function createWorkspace(options: { requireMfa?: boolean } = {}): Promise<TestWorkspace> {
  const id = `t-${unique()}`;
  await db()
    .insert(workspaces)
    .values({ id, name: `Clinic ${id}`, requireMfa: options.requireMfa ?? false });
  const members = {} as Record<Role, TestMember>;
  const keys = {} as Record<Role, string>;
  const keyIds = {} as Record<Role, string>;
  for (const role of ROLES) {
    members[role] = await insertMember(id, role);
    const created = await insertApiKey(id, role);
    keys[role] = created.key;
    keyIds[role] = created.id;
  }
  return { id, members, keys, keyIds };
}

export async function insertService(workspaceId: string, name = `Line ${unique()}`): Promise<string> {
  const id = newId("svc");
  await db().insert(services).values({ id, workspaceId, name, persona: {}, escalationRules: {} });
  return id;
}

const issuedNumbers = new Set<string>();
/** A valid US number (E.164) no other test in this file has used. */
export function uniquePhoneNumber(): string {
  for (;;) {
    const candidate = normalizeE164(`+1212${Math.floor(2_000_000 + Math.random() * 7_999_999)}`);
    if (candidate && !issuedNumbers.has(candidate)) {
      issuedNumbers.add(candidate);
      return candidate;
    }
  }
}

export async function insertPhoneNumber(workspaceId: string, serviceId: string | null = null) {
  const id = newId("pn");
  const e164 = uniquePhoneNumber();
  await db().insert(phoneNumbers).values({ id, workspaceId, e164, serviceId });
  return { id, e164 };
}

/** A live session for `userId`, made directly (no password check), as a `Cookie` header value. */
export async function sessionCookie(
  userId: string,
  options: { mfaVerified?: boolean } = {},
): Promise<{ cookie: string; sessionId: string; token: string }> {
  const sessionId = newId("ses");
  const expiresAt = new Date(Date.now() + SESSION_TTL_SECONDS * 1000);
  await env.DB.prepare("INSERT INTO sessions (id, user_id, mfa_verified, expires_at) VALUES (?, ?, ?, ?)")
    .bind(sessionId, userId, options.mfaVerified ? 1 : 0, expiresAt.toISOString())
    .run();
  const token = await signSessionToken(env.SESSION_SECRET, { userId, sessionId }, expiresAt);
  return { cookie: `${SESSION_COOKIE}=${token}`, sessionId, token };
}

/** The session cookie set by a `Set-Cookie` header, as a `Cookie` header value. */
export function cookieFrom(headers: Headers): string {
  const setCookie = headers.getSetCookie().find((c) => c.startsWith(`${SESSION_COOKIE}=`));
  expect(setCookie, "a session cookie is set").toBeDefined();
  return setCookie!.split(";")[0]!;
}

/** Signs in through POST /auth/login and returns the session cookie. */
export async function login(email: string, password = TEST_PASSWORD, totpCode?: string): Promise<string> {
  const res = await api("POST", "/auth/login", {
    body: { email, password, ...(totpCode ? { totp_code: totpCode } : {}) },
  });
  expect(res.status, res.text).toBe(200);
  return cookieFrom(res.headers);
}
