/** Context graph versions over the API: save (validated), list, read, activate; roles; tenancy; the demo seed. */
import { env } from "cloudflare:workers";
import { eq } from "drizzle-orm";
import { beforeAll, describe, expect, it } from "vitest";
import { INQUIRIES_GRAPH, SCHEDULING_GRAPH } from "../../scripts/demo-graphs";
import { demoSql } from "../../scripts/seed-sql";
import { validateContextGraph } from "../../shared/calls/context-graph";
import { loadActiveGraph, loadKnowledge } from "../../workers/db/context-graphs";
import { contextGraphs, knowledgeEntries, services } from "../../workers/db/schema";
import { auditRows, db } from "../helpers/db";
import { api, expectError } from "../helpers/http";
import { createWorkspace, insertService, type TestWorkspace } from "../helpers/workspace";

let ws: TestWorkspace;
let other: TestWorkspace;

beforeAll(async () => {
  [ws, other] = await Promise.all([createWorkspace(), createWorkspace()]);
});

const graphsPath = (w: TestWorkspace, serviceId: string) =>
  `/v1/${w.id}/services/${serviceId}/context-graphs`;

/** The inquiries graph with a state nothing reaches, an unknown tool and an exit to a missing state. */
function brokenGraph() {
  const graph = structuredClone(INQUIRIES_GRAPH);
  graph.states.orphan = {
    type: "action",
    instructions: "Unreachable.",
    exits: [{ on: "default", to: "end" }],
  };
  graph.states.questions!.tools = ["answer_from_knowledge", "read_minds"];
  graph.states.out_of_scope!.exits = [{ on: "default", to: "the_void" }];
  return graph;
}

describe("context graph versions", () => {
  it("are saved as versions 1, 2, …, listed newest first, and activated", async () => {
    const serviceId = await insertService(ws.id);
    const path = graphsPath(ws, serviceId);

    const first = await api("POST", path, {
      key: ws.keys.admin,
      body: { graph: SCHEDULING_GRAPH, note: "First draft" },
    });
    expect(first.status, first.text).toBe(201);
    expect(first.body).toMatchObject({
      id: expect.stringMatching(/^cg_/),
      workspace_id: ws.id,
      service_id: serviceId,
      version: 1,
      note: "First draft",
      active: false,
      created_by: ws.keyIds.admin,
    });
    expect(first.body.graph).toEqual(SCHEDULING_GRAPH);
    // Saved without activate: the service has no active graph yet.
    expectError(
      await api("GET", `/v1/${ws.id}/services/${serviceId}/context-graph`, { key: ws.keys.viewer }),
      "not_found",
      404,
    );

    const second = await api("POST", path, {
      key: ws.keys.owner,
      body: { graph: INQUIRIES_GRAPH, activate: true },
    });
    expect(second.status, second.text).toBe(201);
    expect(second.body).toMatchObject({ version: 2, active: true, note: "" });
    const service = await db().query.services.findFirst({ where: eq(services.id, serviceId) });
    expect(service?.contextGraphId).toBe(second.body.id);

    const list = await api("GET", path, { key: ws.keys.viewer });
    expect(list.status).toBe(200);
    expect(list.body.total).toBe(2);
    expect(list.body.results.map((v: { version: number; active: boolean }) => [v.version, v.active])).toEqual(
      [
        [2, true],
        [1, false],
      ],
    );
    expect(list.body.results[0].graph).toBeUndefined();

    const active = await api("GET", `/v1/${ws.id}/services/${serviceId}/context-graph`, {
      key: ws.keys.viewer,
    });
    expect(active.status).toBe(200);
    expect(active.body).toMatchObject({ version: 2, active: true, graph: INQUIRIES_GRAPH });

    const v1 = await api("GET", `${path}/1`, { key: ws.keys.viewer });
    expect(v1.status).toBe(200);
    expect(v1.body).toMatchObject({ id: first.body.id, version: 1, active: false, graph: SCHEDULING_GRAPH });

    const activated = await api("POST", `${path}/1/activate`, { key: ws.keys.admin });
    expect(activated.status, activated.text).toBe(200);
    expect(activated.body).toMatchObject({ version: 1, active: true });
    const nowActive = await api("GET", `/v1/${ws.id}/services/${serviceId}/context-graph`, {
      key: ws.keys.viewer,
    });
    expect(nowActive.body.version).toBe(1);
    expect(validateContextGraph(nowActive.body.graph).ok).toBe(true);

    const audit = (await auditRows(ws.id)).filter((r) => r.targetType === "context_graph");
    expect(audit.map((r) => [r.action, r.targetId, r.details])).toEqual([
      ["context_graph.created", first.body.id, { service_id: serviceId, version: 1, activated: false }],
      ["context_graph.created", second.body.id, { service_id: serviceId, version: 2, activated: true }],
      ["context_graph.activated", first.body.id, { service_id: serviceId, version: 1 }],
    ]);
  });

  it("version per service: another service starts at 1", async () => {
    const a = await insertService(ws.id);
    const b = await insertService(ws.id);
    await api("POST", graphsPath(ws, a), { key: ws.keys.admin, body: { graph: INQUIRIES_GRAPH } });
    const res = await api("POST", graphsPath(ws, b), {
      key: ws.keys.admin,
      body: { graph: INQUIRIES_GRAPH },
    });
    expect(res.body.version).toBe(1);
  });
});

describe("context graph errors", () => {
  it("never answers 500 to saves racing for the same version: each is 201 or 409, versions distinct", async () => {
    const serviceId = await insertService(ws.id);
    const results = await Promise.all(
      Array.from({ length: 4 }, () =>
        api("POST", graphsPath(ws, serviceId), { key: ws.keys.admin, body: { graph: INQUIRIES_GRAPH } }),
      ),
    );
    const saved = results.filter((r) => r.status === 201);
    for (const r of results) if (r.status !== 201) expectError(r, "conflict", 409);
    expect(saved.length).toBeGreaterThan(0);
    const versions = saved.map((r) => r.body.version);
    expect(new Set(versions).size).toBe(versions.length);
    expect(await db().$count(contextGraphs, eq(contextGraphs.serviceId, serviceId))).toBe(saved.length);
  });

  it("refuses an invalid graph with 422 and every reason with its path, writing nothing", async () => {
    const serviceId = await insertService(ws.id);
    const auditBefore = (await auditRows(ws.id)).length;
    const res = await api("POST", graphsPath(ws, serviceId), {
      key: ws.keys.admin,
      body: { graph: brokenGraph(), activate: true },
    });
    expectError(res, "unprocessable", 422);
    const reasons: { path: string; message: string }[] = res.body.error.details.reasons;
    expect(reasons).toEqual(
      expect.arrayContaining([
        { path: "$.states.orphan", message: 'state "orphan" is not reachable from an initial state' },
        { path: "$.states.questions.tools[1]", message: 'unknown tool "read_minds"' },
        { path: "$.states.out_of_scope.exits[0].to", message: 'exit target "the_void" does not exist' },
      ]),
    );
    expect(await db().$count(contextGraphs, eq(contextGraphs.serviceId, serviceId))).toBe(0);
    expect((await auditRows(ws.id)).length).toBe(auditBefore);
    const service = await db().query.services.findFirst({ where: eq(services.id, serviceId) });
    expect(service?.contextGraphId).toBeNull();
  });

  it("refuses a shape error with 422 and its path too", async () => {
    const serviceId = await insertService(ws.id);
    const res = await api("POST", graphsPath(ws, serviceId), {
      key: ws.keys.admin,
      body: {
        graph: { name: "x", initial_states: { new_patient: "a", returning_patient: "a" }, states: {} },
      },
    });
    expectError(res, "unprocessable", 422);
    expect(res.body.error.details.reasons.map((r: { path: string }) => r.path)).toContain("$.states");
  });

  it("answers 400 for a body without a graph", async () => {
    const serviceId = await insertService(ws.id);
    for (const body of [{}, { graph: "not an object" }, { graph: INQUIRIES_GRAPH, activate: "yes" }]) {
      expectError(
        await api("POST", graphsPath(ws, serviceId), { key: ws.keys.admin, body }),
        "validation_failed",
        400,
      );
    }
  });

  it("answers 404 for unknown services and versions, and across workspaces", async () => {
    const serviceId = await insertService(ws.id);
    await api("POST", graphsPath(ws, serviceId), { key: ws.keys.admin, body: { graph: INQUIRIES_GRAPH } });
    const missing = "svc_doesnotexist00";
    expectError(await api("GET", graphsPath(ws, missing), { key: ws.keys.viewer }), "not_found", 404);
    expectError(
      await api("GET", `${graphsPath(ws, serviceId)}/2`, { key: ws.keys.viewer }),
      "not_found",
      404,
    );
    expectError(
      await api("POST", `${graphsPath(ws, serviceId)}/9/activate`, { key: ws.keys.admin }),
      "not_found",
      404,
    );
    // Another workspace naming this service, with its own key: as if it did not exist.
    expectError(await api("GET", graphsPath(other, serviceId), { key: other.keys.owner }), "not_found", 404);
    expectError(
      await api("GET", `${graphsPath(other, serviceId)}/1`, { key: other.keys.owner }),
      "not_found",
      404,
    );
    expectError(
      await api("GET", `/v1/${other.id}/services/${serviceId}/context-graph`, { key: other.keys.owner }),
      "not_found",
      404,
    );
    expectError(
      await api("POST", graphsPath(other, serviceId), {
        key: other.keys.owner,
        body: { graph: INQUIRIES_GRAPH },
      }),
      "not_found",
      404,
    );
    expectError(
      await api("POST", `${graphsPath(other, serviceId)}/1/activate`, { key: other.keys.owner }),
      "not_found",
      404,
    );
    // And this workspace's key on the other workspace's path is refused outright.
    expectError(await api("GET", graphsPath(other, serviceId), { key: ws.keys.owner }), "forbidden", 403);
    expect(await db().$count(contextGraphs, eq(contextGraphs.serviceId, serviceId))).toBe(1);
  });

  it("lets viewers read and only admins write", async () => {
    const serviceId = await insertService(ws.id);
    const path = graphsPath(ws, serviceId);
    expectError(
      await api("POST", path, { key: ws.keys.operator, body: { graph: INQUIRIES_GRAPH } }),
      "forbidden",
      403,
    );
    expectError(
      await api("POST", path, { key: ws.keys.viewer, body: { graph: INQUIRIES_GRAPH } }),
      "forbidden",
      403,
    );
    expect((await api("POST", path, { key: ws.keys.admin, body: { graph: INQUIRIES_GRAPH } })).status).toBe(
      201,
    );
    expectError(await api("POST", `${path}/1/activate`, { key: ws.keys.operator }), "forbidden", 403);
    expect((await api("GET", path, { key: ws.keys.viewer })).status).toBe(200);
    expect((await api("GET", `${path}/1`, { key: ws.keys.viewer })).status).toBe(200);
  });
});

describe("the demo seed", () => {
  it("saves each demo line's graph as version 1, points the service at it, and adds the knowledge, idempotently", async () => {
    const statements = await demoSql("test-demo-key");
    for (let round = 0; round < 2; round++) {
      for (const sql of statements) await env.DB.prepare(sql).run();
    }
    for (const [serviceId, graphId] of [
      ["svc_demo-scheduling", "cg_demo-scheduling-v1"],
      ["svc_demo-triage", "cg_demo-triage-v1"],
      ["svc_demo-inquiries", "cg_demo-inquiries-v1"],
    ] as const) {
      const service = await db().query.services.findFirst({ where: eq(services.id, serviceId) });
      expect(service?.contextGraphId).toBe(graphId);
      const graph = await db().query.contextGraphs.findFirst({ where: eq(contextGraphs.id, graphId) });
      expect(graph).toMatchObject({ workspaceId: "demo", serviceId, version: 1 });
      expect(validateContextGraph(graph?.graph).ok).toBe(true);
    }
    const active = await loadActiveGraph(db(), "demo", "svc_demo-triage");
    expect(active).toMatchObject({ id: "cg_demo-triage-v1", version: 1 });
    expect(active?.graph.states.red_flag_screen?.risk.max_loops).toBe(2);
    const forEngine = await loadKnowledge(db(), "demo", "svc_demo-inquiries");
    expect(forEngine.map((k) => k.kind)).toContain("preparation");
    expect(await loadKnowledge(db(), "demo", "svc_demo-missing")).toEqual([]);
    expect(await loadActiveGraph(db(), "t-nobody", "svc_demo-triage")).toBeNull();
    const knowledge = await db()
      .select()
      .from(knowledgeEntries)
      .where(eq(knowledgeEntries.workspaceId, "demo"));
    expect(knowledge.length).toBeGreaterThanOrEqual(10);
    expect(knowledge.some((k) => k.serviceId === "svc_demo-inquiries" && /120 Main St/.test(k.body))).toBe(
      true,
    );
    expect(knowledge.some((k) => k.serviceId === "svc_demo-inquiries" && /45 Harbor Blvd/.test(k.body))).toBe(
      true,
    );
  });
});
