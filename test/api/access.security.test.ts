/**
 * Who may call what, for every `/v1` operation: enumerated from `/openapi.json` and cross-checked
 * against the routes the app registered, so no route escapes. API keys and session cookies are both
 * tried, and refused writes must leave the database as it was.
 */
import { beforeAll, describe, expect, it } from "vitest";
import type { Role } from "../../shared/auth/roles";
import { databaseState } from "../helpers/db";
import { type ApiResponse, api, expectError } from "../helpers/http";
import {
  concretePath,
  documentedOperations,
  isMutating,
  type Operation,
  registeredOperationIds,
  rolesAtOrAbove,
  rolesBelow,
} from "../helpers/openapi";
import { anyRequest, FIXTURE_REQUIRED_TAGS, hasFixture, SUCCESSFUL_REQUESTS } from "../helpers/operations";
import { createWorkspace, insertApiKey, sessionCookie, type TestWorkspace } from "../helpers/workspace";

const operations = await documentedOperations();
const v1 = operations.filter((op) => op.path.startsWith("/v1/"));

let home: TestWorkspace;
let other: TestWorkspace;
const sessions = {} as Record<Role, string>;
let revokedKey: string;
let expiredKey: string;

beforeAll(async () => {
  [home, other] = await Promise.all([createWorkspace(), createWorkspace()]);
  for (const [role, member] of Object.entries(home.members)) {
    sessions[role as Role] = (await sessionCookie(member.id)).cookie;
  }
  revokedKey = (await insertApiKey(home.id, "owner", { revokedAt: new Date().toISOString() })).key;
  const expiresAt = new Date(Date.now() - 1000).toISOString();
  expiredKey = (await insertApiKey(home.id, "owner", { expiresAt })).key;
});

describe("the /v1 operation list", () => {
  it("has every /v1 route the app registered, and nothing else", () => {
    const registered = registeredOperationIds().filter((id) => id.split(" ")[1]!.startsWith("/v1/"));
    expect(v1.map((op) => op.id).sort()).toEqual(registered);
    expect(v1.length).toBeGreaterThanOrEqual(20);
  });

  it("declares a minimum role and accepts both an API key and a session on every operation", () => {
    for (const op of v1) {
      expect(op.minRole, op.id).toBeDefined();
      expect([...op.security].sort(), op.id).toEqual(["ApiKey", "SessionCookie"]);
    }
  });

  it("keeps the minimum roles as designed: weakening one must be a deliberate change here", () => {
    const minRoles = Object.fromEntries(v1.map((op) => [op.id, op.minRole]));
    expect(minRoles).toMatchObject({
      "GET /v1/{workspace_id}": "viewer",
      "PATCH /v1/{workspace_id}": "owner",
      "GET /v1/{workspace_id}/services": "viewer",
      "POST /v1/{workspace_id}/services": "admin",
      "GET /v1/{workspace_id}/services/{id}": "viewer",
      "PATCH /v1/{workspace_id}/services/{id}": "admin",
      "DELETE /v1/{workspace_id}/services/{id}": "admin",
      "GET /v1/{workspace_id}/phone-numbers": "viewer",
      "POST /v1/{workspace_id}/phone-numbers": "admin",
      "GET /v1/{workspace_id}/phone-numbers/{id}": "viewer",
      "PATCH /v1/{workspace_id}/phone-numbers/{id}": "admin",
      "DELETE /v1/{workspace_id}/phone-numbers/{id}": "admin",
      "GET /v1/{workspace_id}/users": "admin",
      "POST /v1/{workspace_id}/users": "admin",
      "GET /v1/{workspace_id}/users/{id}": "admin",
      "PATCH /v1/{workspace_id}/users/{id}": "admin",
      "DELETE /v1/{workspace_id}/users/{id}": "admin",
      "GET /v1/{workspace_id}/api-keys": "admin",
      "POST /v1/{workspace_id}/api-keys": "admin",
      "DELETE /v1/{workspace_id}/api-keys/{id}": "admin",
      "GET /v1/{workspace_id}/audit": "admin",
      "GET /v1/{workspace_id}/audit/verify": "admin",
    });
  });

  it("has a successful-request fixture for every operation of the resources that need one", () => {
    const missing = v1
      .filter((op) => op.tags.some((tag) => FIXTURE_REQUIRED_TAGS.includes(tag)) && !hasFixture(op))
      .map((op) => op.id);
    expect(missing, "add them to test/helpers/operations.ts").toEqual([]);
    const stale = Object.keys(SUCCESSFUL_REQUESTS).filter((id) => !v1.some((op) => op.id === id));
    expect(stale, "fixtures for operations that no longer exist").toEqual([]);
  });
});

/**
 * Runs the requests and asserts each is refused with `status` (and `code`); for writes, also that
 * nothing was stored. Returns the answers for further checks.
 */
async function expectRefused(
  op: Operation,
  requests: [label: string, send: () => Promise<ApiResponse<unknown>>][],
  status: 401 | 403,
  code: Parameters<typeof expectError>[1],
): Promise<ApiResponse<unknown>[]> {
  const before = isMutating(op) ? await databaseState() : undefined;
  const answers: ApiResponse<unknown>[] = [];
  for (const [label, send] of requests) {
    const res = await send();
    expect(res.status, `${label}: ${res.text}`).toBe(status);
    expectError(res, code);
    answers.push(res);
  }
  if (before) expect(await databaseState()).toEqual(before);
  return answers;
}

describe.each(v1)("$id", (op) => {
  it("answers 401 without credentials", async () => {
    const req = await anyRequest(op, home);
    const [res] = await expectRefused(
      op,
      [["anonymous", () => api(op.method, req.path, { body: req.body })]],
      401,
      "unauthorized",
    );
    expect(res!.headers.get("WWW-Authenticate")).toMatch(/^Bearer/);
  });

  it("answers 403 to a key or a member of another workspace, and for a workspace that does not exist", async () => {
    const req = await anyRequest(op, other);
    const nowhere = concretePath(op, "t-nowhere-to-be-found");
    await expectRefused(
      op,
      [
        [
          "key of another workspace",
          () => api(op.method, req.path, { key: home.keys.owner, body: req.body }),
        ],
        [
          "member of another workspace",
          () => api(op.method, req.path, { cookie: sessions.owner, body: req.body }),
        ],
        ["unknown workspace", () => api(op.method, nowhere, { key: home.keys.owner, body: req.body })],
      ],
      403,
      "forbidden",
    );
  });

  it("answers 401 to a revoked or an expired key", async () => {
    const req = await anyRequest(op, home);
    await expectRefused(
      op,
      [
        ["revoked", () => api(op.method, req.path, { key: revokedKey, body: req.body })],
        ["expired", () => api(op.method, req.path, { key: expiredKey, body: req.body })],
      ],
      401,
      "unauthorized",
    );
  });

  it("answers 401 to a malformed Authorization header, even alongside a valid session", async () => {
    const req = await anyRequest(op, home);
    const key = home.keys.owner;
    const malformed = [
      "Bearer",
      "Bearer ",
      `Bearer  ${key}`,
      `Bearer ${key} extra`,
      `Bearer ${key},${key}`,
      key,
      `Token ${key}`,
      `Basic ${btoa(`${home.members.owner.email}:password`)}`,
      "Bearer sb_tooshort",
      `Bearer ${key.slice(0, -2)}${key.endsWith("AA") ? "BB" : "AA"}`,
      `Bearer ${sessions.owner.split("=")[1]}`,
    ];
    await expectRefused(
      op,
      malformed.map((header) => [
        header,
        () =>
          api(op.method, req.path, {
            cookie: sessions.owner,
            headers: { Authorization: header },
            body: req.body,
          }),
      ]),
      401,
      "unauthorized",
    );
  });

  it("answers 403 to keys and sessions with a role below its x-min-role", async () => {
    const req = await anyRequest(op, home);
    const below = rolesBelow(op.minRole!);
    const answers = await expectRefused(
      op,
      below.flatMap((role) => [
        [`${role} key`, () => api(op.method, req.path, { key: home.keys[role], body: req.body })],
        [`${role} session`, () => api(op.method, req.path, { cookie: sessions[role], body: req.body })],
      ]),
      403,
      "forbidden",
    );
    answers.forEach((res, i) => {
      const role = below[Math.floor(i / 2)];
      expect((res.body as { error: { details: unknown } }).error.details).toEqual({
        required: op.minRole,
        role,
      });
    });
  });

  it("serves keys and sessions with its x-min-role, and with the top role", async () => {
    // Roles are ordered, so the boundary and the top stand for every role in between.
    for (const role of new Set([op.minRole!, rolesAtOrAbove(op.minRole!).at(-1)!])) {
      for (const credentials of [{ key: home.keys[role] }, { cookie: sessions[role] }]) {
        const req = await anyRequest(op, home);
        const res = await api(op.method, req.path, { ...credentials, body: req.body });
        const label = `${role} ${Object.keys(credentials)[0]}: ${res.text.slice(0, 300)}`;
        if (req.status !== undefined) {
          expect(res.status, label).toBe(req.status);
        } else {
          expect([401, 403], label).not.toContain(res.status);
          expect(res.status, label).toBeLessThan(500);
        }
      }
    }
  });
});
