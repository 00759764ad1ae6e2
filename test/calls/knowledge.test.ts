/** Knowledge entries over the API: create, list (by kind), read, update, delete; validation, roles, tenancy. */
import { beforeAll, describe, expect, it } from "vitest";
import { auditRows } from "../helpers/db";
import { api, expectError } from "../helpers/http";
import { createWorkspace, insertService, type TestWorkspace } from "../helpers/workspace";

let ws: TestWorkspace;
let other: TestWorkspace;

beforeAll(async () => {
  [ws, other] = await Promise.all([createWorkspace(), createWorkspace()]);
});

const knowledgePath = (w: TestWorkspace, serviceId: string) => `/v1/${w.id}/services/${serviceId}/knowledge`;

const HOURS = {
  kind: "hours",
  title: "Opening hours",
  body: "Monday to Friday, 9 a.m. to noon and 1 p.m. to 5 p.m.\nClosed weekends.",
  keywords: ["Hours", "open", "weekend", "open"],
};
const COLONOSCOPY = {
  kind: "preparation",
  title: "Preparing for a colonoscopy",
  body: "Clear liquids the day before; arrange a driver.",
  keywords: ["colonoscopy", "prep"],
};

describe("knowledge entries", () => {
  it("are created, listed by kind, read, updated and deleted, each change audited", async () => {
    const serviceId = await insertService(ws.id);
    const path = knowledgePath(ws, serviceId);

    const hours = await api("POST", path, { key: ws.keys.admin, body: HOURS });
    expect(hours.status, hours.text).toBe(201);
    expect(hours.body).toMatchObject({
      id: expect.stringMatching(/^kn_/),
      workspace_id: ws.id,
      service_id: serviceId,
      kind: "hours",
      title: "Opening hours",
      body: HOURS.body,
      // Lower-cased and de-duplicated, for matching.
      keywords: ["hours", "open", "weekend"],
    });
    const prep = await api("POST", path, { key: ws.keys.owner, body: COLONOSCOPY });
    expect(prep.status).toBe(201);

    const all = await api("GET", path, { key: ws.keys.viewer });
    expect(all.status).toBe(200);
    expect(all.body.total).toBe(2);
    expect(all.body.results.map((e: { id: string }) => e.id)).toEqual([hours.body.id, prep.body.id]);
    const onlyPrep = await api("GET", `${path}?kind=preparation`, { key: ws.keys.viewer });
    expect(onlyPrep.body.total).toBe(1);
    expect(onlyPrep.body.results[0].id).toBe(prep.body.id);

    const read = await api("GET", `${path}/${hours.body.id}`, { key: ws.keys.viewer });
    expect(read.body).toEqual(hours.body);

    const patched = await api("PATCH", `${path}/${hours.body.id}`, {
      key: ws.keys.admin,
      body: { body: "Monday to Saturday, 8 a.m. to 6 p.m.", keywords: ["hours", "saturday"] },
    });
    expect(patched.status, patched.text).toBe(200);
    expect(patched.body).toMatchObject({
      title: "Opening hours",
      body: "Monday to Saturday, 8 a.m. to 6 p.m.",
      keywords: ["hours", "saturday"],
    });

    const deleted = await api("DELETE", `${path}/${prep.body.id}`, { key: ws.keys.admin });
    expect(deleted.status).toBe(204);
    expectError(await api("GET", `${path}/${prep.body.id}`, { key: ws.keys.viewer }), "not_found", 404);
    expect((await api("GET", path, { key: ws.keys.viewer })).body.total).toBe(1);

    const audit = (await auditRows(ws.id)).filter((r) => r.targetType === "knowledge_entry");
    expect(audit.map((r) => [r.action, r.targetId])).toEqual([
      ["knowledge.created", hours.body.id],
      ["knowledge.created", prep.body.id],
      ["knowledge.updated", hours.body.id],
      ["knowledge.deleted", prep.body.id],
    ]);
    expect(audit[2]?.details).toEqual({ service_id: serviceId, fields: ["body", "keywords"] });
  });

  it("page with limit and continuation_token", async () => {
    const serviceId = await insertService(ws.id);
    const path = knowledgePath(ws, serviceId);
    for (const title of ["One", "Two", "Three"]) {
      await api("POST", path, { key: ws.keys.admin, body: { ...HOURS, kind: "faq", title } });
    }
    const first = await api("GET", `${path}?limit=2`, { key: ws.keys.viewer });
    expect(first.body.results).toHaveLength(2);
    const next = await api("GET", `${path}?limit=2&continuation_token=${first.body.continuation_token}`, {
      key: ws.keys.viewer,
    });
    const titles = [...first.body.results, ...next.body.results].map((e: { title: string }) => e.title);
    expect(titles.sort()).toEqual(["One", "Three", "Two"]);
    expect(next.body.continuation_token).toBeNull();
  });
});

describe("knowledge errors", () => {
  it("refuses bad input with 400 and writes nothing", async () => {
    const serviceId = await insertService(ws.id);
    const path = knowledgePath(ws, serviceId);
    for (const body of [
      { ...HOURS, kind: "billing" },
      { ...HOURS, title: "" },
      { ...HOURS, body: "<script>alert(1)</script>" },
      { ...HOURS, keywords: ["ok", "<b>"] },
      { title: "No kind", body: "x" },
    ]) {
      expectError(await api("POST", path, { key: ws.keys.admin, body }), "validation_failed", 400);
    }
    expectError(await api("GET", `${path}?kind=gossip`, { key: ws.keys.viewer }), "validation_failed", 400);
    const created = await api("POST", path, { key: ws.keys.admin, body: HOURS });
    expectError(
      await api("PATCH", `${path}/${created.body.id}`, { key: ws.keys.admin, body: {} }),
      "validation_failed",
      400,
    );
    expect((await api("GET", path, { key: ws.keys.viewer })).body.total).toBe(1);
  });

  it("lets viewers read and only admins write", async () => {
    const serviceId = await insertService(ws.id);
    const path = knowledgePath(ws, serviceId);
    expectError(await api("POST", path, { key: ws.keys.operator, body: HOURS }), "forbidden", 403);
    const created = await api("POST", path, { key: ws.keys.admin, body: HOURS });
    const item = `${path}/${created.body.id}`;
    expectError(await api("PATCH", item, { key: ws.keys.operator, body: { title: "x" } }), "forbidden", 403);
    expectError(await api("DELETE", item, { key: ws.keys.viewer }), "forbidden", 403);
    expect((await api("GET", item, { key: ws.keys.viewer })).status).toBe(200);
  });

  it("answers 404 across services and workspaces", async () => {
    const serviceId = await insertService(ws.id);
    const sibling = await insertService(ws.id);
    const created = await api("POST", knowledgePath(ws, serviceId), { key: ws.keys.admin, body: HOURS });
    const id = created.body.id;
    // The same workspace, another service: the entry is not there.
    for (const [method, body] of [["GET"], ["PATCH", { title: "x" }], ["DELETE"]] as const) {
      expectError(
        await api(method, `${knowledgePath(ws, sibling)}/${id}`, { key: ws.keys.admin, body }),
        "not_found",
        404,
      );
      expectError(
        await api(method, `${knowledgePath(other, serviceId)}/${id}`, { key: other.keys.owner, body }),
        "not_found",
        404,
      );
    }
    expectError(
      await api("GET", knowledgePath(other, serviceId), { key: other.keys.owner }),
      "not_found",
      404,
    );
    expectError(
      await api("POST", knowledgePath(other, serviceId), { key: other.keys.owner, body: HOURS }),
      "not_found",
      404,
    );
    expectError(
      await api("GET", knowledgePath(ws, "svc_doesnotexist00"), { key: ws.keys.viewer }),
      "not_found",
      404,
    );
    const still = await api("GET", `${knowledgePath(ws, serviceId)}/${id}`, { key: ws.keys.viewer });
    expect(still.body.title).toBe("Opening hours");
  });
});
