/**
 * Deleting a service takes its context graphs and knowledge with it, and is refused (nothing changed)
 * once the service has answered calls: they keep it as their history.
 */
import { and, eq } from "drizzle-orm";
import { beforeAll, describe, expect, it } from "vitest";
import { newId } from "../../shared/ids";
import { calls, contextGraphs, knowledgeEntries, services } from "../../workers/db/schema";
import { db } from "../helpers/db";
import { api, expectError } from "../helpers/http";
import { insertGraphVersion } from "../helpers/operations";
import { createWorkspace, type TestWorkspace } from "../helpers/workspace";

let ws: TestWorkspace;

beforeAll(async () => {
  ws = await createWorkspace();
});

const rowsOf = async (serviceId: string) => ({
  services: await db().select().from(services).where(eq(services.id, serviceId)),
  graphs: await db().select().from(contextGraphs).where(eq(contextGraphs.serviceId, serviceId)),
  knowledge: await db().select().from(knowledgeEntries).where(eq(knowledgeEntries.serviceId, serviceId)),
});

async function withKnowledge(serviceId: string) {
  await db()
    .insert(knowledgeEntries)
    .values({
      id: newId("kn"),
      workspaceId: ws.id,
      serviceId,
      kind: "hours",
      title: "Opening hours",
      body: "Weekdays 9 to 5.",
    });
}

describe("deleting a service", () => {
  it("removes its graph versions and knowledge with it", async () => {
    const { serviceId } = await insertGraphVersion(ws);
    await withKnowledge(serviceId);
    const before = await rowsOf(serviceId);
    expect(before.graphs).toHaveLength(1);
    expect(before.knowledge).toHaveLength(1);
    const res = await api("DELETE", `/v1/${ws.id}/services/${serviceId}`, { key: ws.keys.admin });
    expect(res.status, res.text).toBe(204);
    expect(await rowsOf(serviceId)).toEqual({ services: [], graphs: [], knowledge: [] });
  });

  it("is refused with 409 once the service has answered a call, changing nothing", async () => {
    const { serviceId } = await insertGraphVersion(ws);
    await db()
      .insert(calls)
      .values({
        id: newId("call"),
        workspaceId: ws.id,
        serviceId,
        channel: "voice",
        direction: "inbound",
        providerSid: `CA${crypto.randomUUID().replaceAll("-", "")}`,
        toNumber: "+14155550100",
        status: "completed",
        startedAt: new Date().toISOString(),
      });
    const before = await rowsOf(serviceId);
    const res = await api("DELETE", `/v1/${ws.id}/services/${serviceId}`, { key: ws.keys.admin });
    expectError(res, "conflict", 409);
    expect(res.body.error.details).toEqual({ reason: "has_calls" });
    expect(await rowsOf(serviceId)).toEqual(before);
    await db()
      .delete(calls)
      .where(and(eq(calls.workspaceId, ws.id), eq(calls.serviceId, serviceId)));
  });
});
