/** Member requests that must fail: duplicates, missing passwords, unknown members, the last owner. */
import { beforeAll, describe, expect, it } from "vitest";
import { auditRows, databaseState } from "../helpers/db";
import { api, expectError } from "../helpers/http";
import {
  createWorkspace,
  insertMember,
  sessionCookie,
  type TestWorkspace,
  unique,
} from "../helpers/workspace";

let ws: TestWorkspace;
let base: string;

beforeAll(async () => {
  ws = await createWorkspace();
  base = `/v1/${ws.id}/users`;
});

describe("members", () => {
  it("answer 409 to adding someone who is already a member", async () => {
    const before = await databaseState();
    const res = await api("POST", base, {
      key: ws.keys.admin,
      body: { email: ws.members.viewer.email, name: "Again", role: "operator" },
    });
    expectError(res, "conflict", 409);
    expect(await databaseState()).toEqual(before);
  });

  it("answer 400 to a new user without an initial password", async () => {
    const before = await databaseState();
    const res = await api("POST", base, {
      key: ws.keys.admin,
      body: { email: `nobody-${unique()}@example.test`, name: "No Password", role: "viewer" },
    });
    expectError(res, "validation_failed", 400);
    expect(res.body.error.details.issues[0]).toMatchObject({ path: "password" });
    expect(await databaseState()).toEqual(before);
  });

  it.each([
    ["a short password", { password: "short" }],
    ["an unknown role", { role: "superuser" }],
    ["a bad email", { email: "not-an-email" }],
  ])("answer 400 to %s", async (_, fields) => {
    const res = await api("POST", base, {
      key: ws.keys.admin,
      body: {
        email: `x-${unique()}@example.test`,
        name: "X",
        role: "viewer",
        password: "long enough password",
        ...fields,
      },
    });
    expectError(res, "validation_failed", 400);
  });

  it("answer 404 to members that do not exist or belong to another workspace", async () => {
    const other = await createWorkspace();
    for (const id of ["usr_doesnotexist0000", other.members.viewer.id]) {
      expectError(await api("GET", `${base}/${id}`, { key: ws.keys.admin }), "not_found", 404);
      expectError(
        await api("PATCH", `${base}/${id}`, { key: ws.keys.admin, body: { role: "operator" } }),
        "not_found",
        404,
      );
      expectError(await api("DELETE", `${base}/${id}`, { key: ws.keys.admin }), "not_found", 404);
    }
  });

  it("answer 400 to an empty update", async () => {
    const member = await insertMember(ws.id, "viewer");
    expectError(
      await api("PATCH", `${base}/${member.id}`, { key: ws.keys.admin, body: {} }),
      "validation_failed",
      400,
    );
  });

  describe("the last owner", () => {
    it("cannot be demoted: 409", async () => {
      const fresh = await createWorkspace();
      const before = await databaseState();
      const res = await api("PATCH", `/v1/${fresh.id}/users/${fresh.members.owner.id}`, {
        key: fresh.keys.owner,
        body: { role: "admin" },
      });
      expectError(res, "conflict", 409);
      expect(await databaseState()).toEqual(before);
    });

    it("cannot be removed: 409", async () => {
      const fresh = await createWorkspace();
      const before = await databaseState();
      const res = await api("DELETE", `/v1/${fresh.id}/users/${fresh.members.owner.id}`, {
        key: fresh.keys.owner,
      });
      expectError(res, "conflict", 409);
      expect(await databaseState()).toEqual(before);
    });

    it.each([
      ["one demoted while the other is removed", "PATCH", "DELETE"],
      ["both removed", "DELETE", "DELETE"],
      ["both demoted", "PATCH", "PATCH"],
    ])(
      "survives two owners changed at the same moment (%s): one stays, one is refused",
      async (_, first, second) => {
        const fresh = await createWorkspace();
        const other = await insertMember(fresh.id, "owner");
        const change = (method: string, id: string) =>
          api(method, `/v1/${fresh.id}/users/${id}`, {
            key: fresh.keys.owner,
            body: method === "PATCH" ? { role: "admin" } : undefined,
          });
        const answers = await Promise.all([change(first, fresh.members.owner.id), change(second, other.id)]);
        // Either may win the race; exactly one does.
        expect(answers.filter((r) => r.status < 300)).toHaveLength(1);
        expectError(answers.find((r) => r.status === 409)!, "conflict", 409);
        const members = await api("GET", `/v1/${fresh.id}/users`, { key: fresh.keys.owner });
        expect(members.body.results.filter((m: { role: string }) => m.role === "owner")).toHaveLength(1);
        const audit = await auditRows(fresh.id);
        expect(audit).toHaveLength(1);
      },
    );

    it("cannot remove themselves through their own session: 409", async () => {
      const fresh = await createWorkspace();
      const { cookie } = await sessionCookie(fresh.members.owner.id);
      const res = await api("DELETE", `/v1/${fresh.id}/users/${fresh.members.owner.id}`, { cookie });
      expectError(res, "conflict", 409);
    });
  });
});
