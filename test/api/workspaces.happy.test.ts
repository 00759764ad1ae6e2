/** The workspace itself: every member reads it, only an owner changes it. */
import { beforeAll, describe, expect, it } from "vitest";
import { ROLES } from "../../shared/auth/roles";
import { databaseState } from "../helpers/db";
import { api, expectError } from "../helpers/http";
import { createWorkspace, type TestWorkspace } from "../helpers/workspace";

let ws: TestWorkspace;

beforeAll(async () => {
  ws = await createWorkspace();
});

describe("the workspace", () => {
  it("is read by every role", async () => {
    for (const role of ROLES) {
      const res = await api("GET", `/v1/${ws.id}`, { key: ws.keys[role] });
      expect(res.status, role).toBe(200);
      expect(res.body).toMatchObject({
        id: ws.id,
        name: `Clinic ${ws.id}`,
        timezone: "UTC",
        require_mfa: false,
      });
    }
  });

  it("is renamed, moved to another time zone and made to require MFA by its owner", async () => {
    const res = await api("PATCH", `/v1/${ws.id}`, {
      key: ws.keys.owner,
      body: { name: "Lakeside Pediatrics", timezone: "America/New_York", require_mfa: true },
    });
    expect(res.status, res.text).toBe(200);
    expect(res.body).toMatchObject({
      name: "Lakeside Pediatrics",
      timezone: "America/New_York",
      require_mfa: true,
    });
    const read = await api("GET", `/v1/${ws.id}`, { key: ws.keys.viewer });
    expect(read.body).toEqual(res.body);
    await api("PATCH", `/v1/${ws.id}`, { key: ws.keys.owner, body: { require_mfa: false } });
  });

  it("keeps what an update leaves out", async () => {
    await api("PATCH", `/v1/${ws.id}`, {
      key: ws.keys.owner,
      body: { name: "Harbor Clinic", timezone: "Asia/Tokyo" },
    });
    const res = await api("PATCH", `/v1/${ws.id}`, {
      key: ws.keys.owner,
      body: { name: "Harbor Clinic North" },
    });
    expect(res.body).toMatchObject({ name: "Harbor Clinic North", timezone: "Asia/Tokyo" });
  });

  it("is not changed by an admin: 403", async () => {
    const before = await databaseState();
    expectError(
      await api("PATCH", `/v1/${ws.id}`, { key: ws.keys.admin, body: { name: "Admin's" } }),
      "forbidden",
      403,
    );
    expect(await databaseState()).toEqual(before);
  });

  it.each([
    ["an unknown time zone", { timezone: "Mars/Olympus_Mons" }],
    ["a require_mfa that is not a boolean", { require_mfa: "yes" }],
    ["nothing at all", {}],
    ["an id change", { id: "t-hijacked" }],
  ])("answers 400 to %s", async (_, body) => {
    expectError(await api("PATCH", `/v1/${ws.id}`, { key: ws.keys.owner, body }), "validation_failed", 400);
  });
});
