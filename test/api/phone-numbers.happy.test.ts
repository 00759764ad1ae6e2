/** Phone numbers: added in any common format, stored in E.164, mapped to services and relabelled. */
import { beforeAll, describe, expect, it } from "vitest";
import { api } from "../helpers/http";
import { createWorkspace, insertService, type TestWorkspace, uniquePhoneNumber } from "../helpers/workspace";

let ws: TestWorkspace;
let base: string;

beforeAll(async () => {
  ws = await createWorkspace();
  base = `/v1/${ws.id}/phone-numbers`;
});

describe("phone numbers", () => {
  it.each([
    ["(201) 555-0100", "+12015550100"],
    ["201.555.0101", "+12015550101"],
    ["1-201-555-0102", "+12015550102"],
    ["+1 201 555 0103", "+12015550103"],
    ["  2015550104  ", "+12015550104"],
    ["+44 20 7946 0958", "+442079460958"],
  ])("are stored in E.164: %j becomes %s", async (input, e164) => {
    const res = await api("POST", base, { key: ws.keys.admin, body: { number: input } });
    expect(res.status, res.text).toBe(201);
    expect(res.body).toMatchObject({ number: e164, service_id: null, label: "", workspace_id: ws.id });
  });

  it("are mapped to a service, listed by service, moved and relabelled", async () => {
    const [front, after] = await Promise.all([insertService(ws.id), insertService(ws.id)]);
    const created = await api("POST", base, {
      key: ws.keys.admin,
      body: { number: uniquePhoneNumber(), service_id: front, label: "Front desk" },
    });
    expect(created.body).toMatchObject({ service_id: front, label: "Front desk" });

    const byService = await api("GET", `${base}?service_id=${front}`, { key: ws.keys.viewer });
    expect(byService.body.results.map((n: { id: string }) => n.id)).toEqual([created.body.id]);
    expect(byService.body.total).toBe(1);

    const moved = await api("PATCH", `${base}/${created.body.id}`, {
      key: ws.keys.admin,
      body: { service_id: after, label: "After hours" },
    });
    expect(moved.body).toMatchObject({
      service_id: after,
      label: "After hours",
      number: created.body.number,
    });
    const unassigned = await api("PATCH", `${base}/${created.body.id}`, {
      key: ws.keys.admin,
      body: { service_id: null },
    });
    expect(unassigned.body).toMatchObject({ service_id: null, label: "After hours" });
  });

  it("are read, and removed", async () => {
    const created = await api("POST", base, { key: ws.keys.admin, body: { number: uniquePhoneNumber() } });
    const read = await api("GET", `${base}/${created.body.id}`, { key: ws.keys.viewer });
    expect(read.body).toEqual(created.body);
    expect((await api("DELETE", `${base}/${created.body.id}`, { key: ws.keys.admin })).status).toBe(204);
    expect((await api("GET", `${base}/${created.body.id}`, { key: ws.keys.viewer })).status).toBe(404);
    // A removed number can be registered again.
    const again = await api("POST", base, { key: ws.keys.admin, body: { number: created.body.number } });
    expect(again.status).toBe(201);
  });
});
