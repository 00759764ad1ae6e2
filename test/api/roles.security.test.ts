/**
 * Nobody grants more than they hold: an admin can neither mint, promote to, rename, demote nor remove
 * an owner, nor create or revoke an owner's API key. Refusals store nothing.
 */
import { beforeAll, describe, expect, it } from "vitest";
import { databaseState } from "../helpers/db";
import { api, expectError } from "../helpers/http";
import {
  createWorkspace,
  insertApiKey,
  insertMember,
  insertUser,
  sessionCookie,
  type TestWorkspace,
} from "../helpers/workspace";

let ws: TestWorkspace;
let adminCookie: string;

beforeAll(async () => {
  ws = await createWorkspace();
  adminCookie = (await sessionCookie(ws.members.admin.id)).cookie;
});

describe("an admin", () => {
  const refusals: [string, () => Promise<{ method: string; path: string; body?: unknown }>][] = [
    [
      "adds an owner",
      async () => ({
        method: "POST",
        path: `/v1/${ws.id}/users`,
        body: { email: (await insertUser()).email, name: "Owner Two", role: "owner" },
      }),
    ],
    [
      "promotes a member to owner",
      async () => ({
        method: "PATCH",
        path: `/v1/${ws.id}/users/${(await insertMember(ws.id, "viewer")).id}`,
        body: { role: "owner" },
      }),
    ],
    [
      "promotes themselves to owner",
      async () => ({
        method: "PATCH",
        path: `/v1/${ws.id}/users/${ws.members.admin.id}`,
        body: { role: "owner" },
      }),
    ],
    [
      "demotes an owner",
      async () => ({
        method: "PATCH",
        path: `/v1/${ws.id}/users/${ws.members.owner.id}`,
        body: { role: "viewer" },
      }),
    ],
    [
      "renames an owner",
      async () => ({
        method: "PATCH",
        path: `/v1/${ws.id}/users/${ws.members.owner.id}`,
        body: { name: "Renamed" },
      }),
    ],
    [
      "removes an owner",
      async () => ({ method: "DELETE", path: `/v1/${ws.id}/users/${ws.members.owner.id}` }),
    ],
    [
      "creates an owner key",
      async () => ({
        method: "POST",
        path: `/v1/${ws.id}/api-keys`,
        body: { name: "Too strong", role: "owner" },
      }),
    ],
    [
      "revokes an owner key",
      async () => ({
        method: "DELETE",
        path: `/v1/${ws.id}/api-keys/${(await insertApiKey(ws.id, "owner")).id}`,
      }),
    ],
  ];

  it.each(refusals)("is refused with 403 when it %s, by key or session", async (_, build) => {
    for (const credentials of [{ key: ws.keys.admin }, { cookie: adminCookie }]) {
      const req = await build();
      const before = await databaseState();
      const res = await api(req.method, req.path, { ...credentials, body: req.body });
      expectError(res, "forbidden", 403);
      expect(await databaseState()).toEqual(before);
    }
  });

  it("may manage admins and roles below", async () => {
    const member = await insertMember(ws.id, "viewer");
    const promote = await api("PATCH", `/v1/${ws.id}/users/${member.id}`, {
      key: ws.keys.admin,
      body: { role: "admin" },
    });
    expect(promote.status).toBe(200);
    const key = await api("POST", `/v1/${ws.id}/api-keys`, {
      key: ws.keys.admin,
      body: { name: "Admin key", role: "admin" },
    });
    expect(key.status).toBe(201);
    expect((await api("DELETE", `/v1/${ws.id}/users/${member.id}`, { key: ws.keys.admin })).status).toBe(204);
  });
});

describe("an API key", () => {
  it("creates keys no stronger than itself", async () => {
    const res = await api("POST", `/v1/${ws.id}/api-keys`, {
      key: ws.keys.admin,
      body: { name: "Escalate", role: "owner" },
    });
    expectError(res, "forbidden", 403);
    const ok = await api("POST", `/v1/${ws.id}/api-keys`, {
      key: ws.keys.owner,
      body: { name: "Owner key", role: "owner" },
    });
    expect(ok.status).toBe(201);
  });
});
