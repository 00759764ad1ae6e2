/** Members: adding new and existing users, changing roles and names, removing, reading. */
import { beforeAll, describe, expect, it } from "vitest";
import { api } from "../helpers/http";
import {
  createWorkspace,
  insertMember,
  insertUser,
  login,
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
  it("are added as new users with an initial password they can sign in with", async () => {
    const email = `New.Hire-${unique()}@Example.test`;
    const password = "a long initial password";
    const res = await api("POST", base, {
      key: ws.keys.admin,
      body: { email, name: "New Hire", role: "operator", password },
    });
    expect(res.status, res.text).toBe(201);
    expect(res.body).toMatchObject({
      id: expect.stringMatching(/^usr_/),
      email: email.toLowerCase(),
      name: "New Hire",
      role: "operator",
      mfa_enabled: false,
    });
    const cookie = await login(email, password);
    const session = await api("GET", "/auth/session", { cookie });
    expect(session.body.workspaces).toEqual([expect.objectContaining({ id: ws.id, role: "operator" })]);
  });

  it("are added from an existing account, without a password, keeping its name", async () => {
    const other = await createWorkspace();
    const user = other.members.viewer;
    const res = await api("POST", base, {
      key: ws.keys.admin,
      body: { email: user.email, name: "Ignored Name", role: "viewer" },
    });
    expect(res.status, res.text).toBe(201);
    expect(res.body).toMatchObject({ id: user.id, email: user.email, role: "viewer" });
    expect(res.body.name).not.toBe("Ignored Name");
    const cookie = await login(user.email);
    const session = await api("GET", "/auth/session", { cookie });
    expect(session.body.workspaces.map((w: { id: string }) => w.id).sort()).toEqual([other.id, ws.id].sort());
  });

  it("are granted any role up to the granter's own", async () => {
    for (const role of ["viewer", "operator", "admin"] as const) {
      const user = await insertUser();
      const res = await api("POST", base, {
        key: ws.keys.admin,
        body: { email: user.email, name: "X", role },
      });
      expect(res.status, role).toBe(201);
    }
    const user = await insertUser();
    const res = await api("POST", base, {
      key: ws.keys.owner,
      body: { email: user.email, name: "X", role: "owner" },
    });
    expect(res.status).toBe(201);
  });

  it("are listed in joining order, and read one by one", async () => {
    const fresh = await createWorkspace();
    const list = await api("GET", `/v1/${fresh.id}/users`, { key: fresh.keys.admin });
    expect(list.body.total).toBe(4);
    expect(list.body.results.map((m: { role: string }) => m.role)).toEqual([
      "viewer",
      "operator",
      "admin",
      "owner",
    ]);
    const one = await api("GET", `/v1/${fresh.id}/users/${fresh.members.operator.id}`, {
      key: fresh.keys.admin,
    });
    expect(one.body).toMatchObject({
      id: fresh.members.operator.id,
      email: fresh.members.operator.email,
      role: "operator",
    });
  });

  it("change role and name", async () => {
    const member = await insertMember(ws.id, "viewer");
    const res = await api("PATCH", `${base}/${member.id}`, {
      key: ws.keys.admin,
      body: { role: "admin", name: "Renamed Person" },
    });
    expect(res.status, res.text).toBe(200);
    expect(res.body).toMatchObject({ role: "admin", name: "Renamed Person" });
  });

  it("answer a no-op update with the member unchanged", async () => {
    const member = await insertMember(ws.id, "operator");
    const res = await api("PATCH", `${base}/${member.id}`, {
      key: ws.keys.admin,
      body: { role: "operator" },
    });
    expect(res.status).toBe(200);
    expect(res.body.role).toBe("operator");
  });

  it("are removed, losing access at once, while their account stays", async () => {
    const member = await insertMember(ws.id, "operator");
    const cookie = await login(member.email);
    expect((await api("GET", `/v1/${ws.id}`, { cookie })).status).toBe(200);
    expect((await api("DELETE", `${base}/${member.id}`, { key: ws.keys.admin })).status).toBe(204);
    expect((await api("GET", `/v1/${ws.id}`, { cookie })).status).toBe(403);
    expect((await api("GET", "/auth/session", { cookie })).status).toBe(200);
  });

  it("may be demoted or removed while another owner remains", async () => {
    const fresh = await createWorkspace();
    const second = await insertMember(fresh.id, "owner");
    const demote = await api("PATCH", `/v1/${fresh.id}/users/${fresh.members.owner.id}`, {
      key: fresh.keys.owner,
      body: { role: "admin" },
    });
    expect(demote.status, demote.text).toBe(200);
    const promote = await api("PATCH", `/v1/${fresh.id}/users/${fresh.members.owner.id}`, {
      key: fresh.keys.owner,
      body: { role: "owner" },
    });
    expect(promote.status).toBe(200);
    const remove = await api("DELETE", `/v1/${fresh.id}/users/${second.id}`, { key: fresh.keys.owner });
    expect(remove.status).toBe(204);
  });
});
