/** Service requests that must fail: unknown ids, taken names, other workspaces' services, bad fields. */
import { beforeAll, describe, expect, it } from "vitest";
import { databaseState } from "../helpers/db";
import { api, expectError } from "../helpers/http";
import { createWorkspace, insertService, type TestWorkspace } from "../helpers/workspace";

let ws: TestWorkspace;
let other: TestWorkspace;
let base: string;

beforeAll(async () => {
  [ws, other] = await Promise.all([createWorkspace(), createWorkspace()]);
  base = `/v1/${ws.id}/services`;
});

describe("services", () => {
  it("answer 404 for an id that does not exist, on every verb", async () => {
    const missing = `${base}/svc_doesnotexist0000`;
    expectError(await api("GET", missing, { key: ws.keys.admin }), "not_found", 404);
    expectError(
      await api("PATCH", missing, { key: ws.keys.admin, body: { description: "x" } }),
      "not_found",
      404,
    );
    expectError(await api("DELETE", missing, { key: ws.keys.admin }), "not_found", 404);
  });

  it("answer 404 for another workspace's service, and leave it alone", async () => {
    const theirs = await insertService(other.id, "Theirs");
    const path = `${base}/${theirs}`;
    const before = await databaseState();
    expectError(await api("GET", path, { key: ws.keys.admin }), "not_found", 404);
    expectError(
      await api("PATCH", path, { key: ws.keys.admin, body: { name: "Mine now" } }),
      "not_found",
      404,
    );
    expectError(await api("DELETE", path, { key: ws.keys.admin }), "not_found", 404);
    expect(await databaseState()).toEqual(before);
  });

  it("answer 409 to a name already used in the workspace, on create and on rename", async () => {
    await api("POST", base, { key: ws.keys.admin, body: { name: "Taken" } });
    const other = await api("POST", base, { key: ws.keys.admin, body: { name: "Free" } });
    const before = await databaseState();
    const dup = await api("POST", base, { key: ws.keys.admin, body: { name: "Taken" } });
    expectError(dup, "conflict", 409);
    expect(dup.body.error.details).toEqual({ field: "name" });
    const rename = await api("PATCH", `${base}/${other.body.id}`, {
      key: ws.keys.admin,
      body: { name: "Taken" },
    });
    expectError(rename, "conflict", 409);
    expect(await databaseState()).toEqual(before);
  });

  it("answer 400 to an empty update", async () => {
    const id = await insertService(ws.id);
    expectError(
      await api("PATCH", `${base}/${id}`, { key: ws.keys.admin, body: {} }),
      "validation_failed",
      400,
    );
  });

  it.each([
    ["a risk threshold above 1", { escalation_rules: { risk_threshold: 1.5 } }],
    ["an unknown tone", { persona: { tone: "sarcastic" } }],
    ["a language that is not a tag", { persona: { language: "english" } }],
    ["markup in the description", { description: "<img src=x onerror=alert(1)>" }],
    ["a control character in the greeting", { persona: { greeting: "Hello\u0007" } }],
    ["a fallback number that is not a number", { escalation_rules: { fallback_number: "call me" } }],
    ["markup in a keyword", { escalation_rules: { keywords: ["<b>help</b>"] } }],
    ["a blank keyword", { escalation_rules: { keywords: ["   "] } }],
    ["101 keywords", { escalation_rules: { keywords: Array.from({ length: 101 }, (_, i) => `word ${i}`) } }],
    ["a context graph id with a slash", { context_graph_id: "../graphs/x" }],
    ["a blank name", { name: "   " }],
    ["a name with a statement separator", { name: "Lab; DROP TABLE services" }],
  ])("answer 400 to %s, naming the field", async (_, fields) => {
    const before = await databaseState();
    const res = await api("POST", base, { key: ws.keys.admin, body: { name: "Valid Name", ...fields } });
    expectError(res, "validation_failed", 400);
    const paths = res.body.error.details.issues.map((i: { path: string }) => i.path.split(".")[0]);
    expect(paths).toContain(Object.keys(fields)[0]);
    expect(await databaseState()).toEqual(before);
  });
});
