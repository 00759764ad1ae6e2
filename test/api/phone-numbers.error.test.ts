/** Phone number requests that must fail: invalid numbers, duplicates, other workspaces' services. */
import { beforeAll, describe, expect, it } from "vitest";
import { databaseState } from "../helpers/db";
import { api, expectError } from "../helpers/http";
import {
  createWorkspace,
  insertPhoneNumber,
  insertService,
  type TestWorkspace,
  uniquePhoneNumber,
} from "../helpers/workspace";

let ws: TestWorkspace;
let other: TestWorkspace;
let base: string;

beforeAll(async () => {
  [ws, other] = await Promise.all([createWorkspace(), createWorkspace()]);
  base = `/v1/${ws.id}/phone-numbers`;
});

describe("phone numbers", () => {
  it.each([
    "123",
    "+1 555 0100",
    "555-CALL-NOW",
    "1-800-FLOWERS",
    "+1 (201) 555-01234",
    "tel:+12015550123",
    "+12015550123 ext 5",
    "00442079460958",
    "++12015550123",
    "+",
    "",
    "   ",
    "+999 1234 5678",
    "2015550123\u0000",
    "+1 201 555 0123; DROP TABLE phone_numbers",
  ])("answer 400 to the number %j, storing nothing", async (number) => {
    const before = await databaseState();
    const res = await api("POST", base, { key: ws.keys.admin, body: { number } });
    expectError(res, "validation_failed", 400);
    expect(res.body.error.details.issues[0]).toMatchObject({ location: "json", path: "number" });
    expect(await databaseState()).toEqual(before);
  });

  it("answer 409 to a number already registered, in any format and in any workspace", async () => {
    const existing = await insertPhoneNumber(other.id);
    const national = existing.e164.replace(/^\+1(\d{3})(\d{3})(\d{4})$/, "($1) $2-$3");
    const before = await databaseState();
    for (const number of [existing.e164, national]) {
      const res = await api("POST", base, { key: ws.keys.admin, body: { number } });
      expectError(res, "conflict", 409);
    }
    expect(await databaseState()).toEqual(before);
  });

  it("answer 422 to a service of another workspace, on create and on update", async () => {
    const theirs = await insertService(other.id);
    const mine = await insertPhoneNumber(ws.id);
    const before = await databaseState();
    const created = await api("POST", base, {
      key: ws.keys.admin,
      body: { number: uniquePhoneNumber(), service_id: theirs },
    });
    expectError(created, "unprocessable", 422);
    expect(created.body.error.details).toEqual({ field: "service_id" });
    const updated = await api("PATCH", `${base}/${mine.id}`, {
      key: ws.keys.admin,
      body: { service_id: theirs },
    });
    expectError(updated, "unprocessable", 422);
    expect(await databaseState()).toEqual(before);
  });

  it("answer 422 to a service that does not exist", async () => {
    const res = await api("POST", base, {
      key: ws.keys.admin,
      body: { number: uniquePhoneNumber(), service_id: "svc_doesnotexist0000" },
    });
    expectError(res, "unprocessable", 422);
  });

  it("answer 404 for another workspace's number, and leave it alone", async () => {
    const theirs = await insertPhoneNumber(other.id);
    const before = await databaseState();
    expectError(await api("GET", `${base}/${theirs.id}`, { key: ws.keys.admin }), "not_found", 404);
    expectError(
      await api("PATCH", `${base}/${theirs.id}`, { key: ws.keys.admin, body: { label: "Mine" } }),
      "not_found",
      404,
    );
    expectError(await api("DELETE", `${base}/${theirs.id}`, { key: ws.keys.admin }), "not_found", 404);
    expect(await databaseState()).toEqual(before);
  });

  it("answer 400 to a list filter that is not a service id", async () => {
    expectError(
      await api("GET", `${base}?service_id=x'%20OR%201=1`, { key: ws.keys.admin }),
      "validation_failed",
      400,
    );
  });
});
