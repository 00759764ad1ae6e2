/** API key requests that must fail: past expiry dates, unknown keys, other workspaces' keys. */
import { beforeAll, describe, expect, it } from "vitest";
import { databaseState } from "../helpers/db";
import { api, expectError } from "../helpers/http";
import { createWorkspace, insertApiKey, type TestWorkspace } from "../helpers/workspace";

let ws: TestWorkspace;
let base: string;

beforeAll(async () => {
  ws = await createWorkspace();
  base = `/v1/${ws.id}/api-keys`;
});

describe("API keys", () => {
  it("answer 422 to an expiry date in the past", async () => {
    const before = await databaseState();
    const res = await api("POST", base, {
      key: ws.keys.admin,
      body: { name: "Expired", role: "viewer", expires_at: "2020-01-01T00:00:00Z" },
    });
    expectError(res, "unprocessable", 422);
    expect(res.body.error.details).toEqual({ field: "expires_at" });
    expect(await databaseState()).toEqual(before);
  });

  it("answer 400 to an expiry that is not an ISO date-time", async () => {
    for (const expires_at of ["tomorrow", "2030-01-01", "2030-13-01T00:00:00Z", 1893456000]) {
      const res = await api("POST", base, {
        key: ws.keys.admin,
        body: { name: "Bad", role: "viewer", expires_at },
      });
      expectError(res, "validation_failed", 400);
    }
  });

  it("answer 404 to revoking a key that does not exist or is another workspace's", async () => {
    const other = await createWorkspace();
    const theirs = await insertApiKey(other.id, "viewer");
    const before = await databaseState();
    for (const id of ["key_doesnotexist0000", theirs.id]) {
      expectError(await api("DELETE", `${base}/${id}`, { key: ws.keys.admin }), "not_found", 404);
    }
    expect(await databaseState()).toEqual(before);
    expect((await api("GET", `/v1/${other.id}`, { key: theirs.key })).status).toBe(200);
  });
});
