/** `/v1/{workspace_id}/services`: the agent configurations (lines) a workspace runs. */

import { and, eq } from "drizzle-orm";
import type { z } from "zod";
import { newId } from "../../shared/ids";
import {
  ErrorBodySchema,
  listOf,
  PageQuery,
  WorkspaceItemParams,
  WorkspaceParams,
} from "../../shared/schemas/common";
import { ServiceCreate, ServiceSchema, ServiceUpdate } from "../../shared/schemas/tenancy";
import { serviceHasCalls } from "../db/calls";
import { database } from "../db/client";
import { deleteServiceGraphsAndKnowledge } from "../db/context-graphs";
import { phoneNumbers, services } from "../db/schema";
import { findService, findServiceByName, listServices } from "../db/tenancy";
import { ApiError, notFound } from "../errors";
import { audited } from "./audited";
import { nextToken, pageFrom } from "./pagination";
import { jsonBody, jsonResponse, router, workspaceRoute } from "./router";

type ServiceRow = typeof services.$inferSelect;

export function serviceView(row: ServiceRow): z.infer<typeof ServiceSchema> {
  return {
    id: row.id,
    workspace_id: row.workspaceId,
    name: row.name,
    description: row.description,
    persona: ServiceSchema.shape.persona.parse(row.persona),
    context_graph_id: row.contextGraphId,
    voice_transport: row.voiceTransport,
    escalation_rules: ServiceSchema.shape.escalation_rules.parse(row.escalationRules),
    created_at: row.createdAt,
    updated_at: row.updatedAt,
  };
}

const ServiceList = listOf(ServiceSchema, "ServiceList");
const tags = ["Services"];

export const servicesApi = router()
  .openapi(
    workspaceRoute("viewer", {
      method: "get",
      path: "/v1/{workspace_id}/services",
      tags,
      summary: "List services",
      request: { params: WorkspaceParams, query: PageQuery },
      responses: { 200: jsonResponse(ServiceList, "Services, oldest first") },
    }),
    async (c) => {
      const { workspace_id } = c.req.valid("param");
      const query = c.req.valid("query");
      const { rows, total } = await listServices(database(c.env.DB), workspace_id, pageFrom(query));
      return c.json(
        { results: rows.map(serviceView), total, continuation_token: nextToken(rows, query.limit) },
        200,
      );
    },
  )
  .openapi(
    workspaceRoute("admin", {
      method: "post",
      path: "/v1/{workspace_id}/services",
      tags,
      summary: "Create a service",
      request: { params: WorkspaceParams, body: jsonBody(ServiceCreate) },
      responses: {
        201: jsonResponse(ServiceSchema, "The new service"),
        409: jsonResponse(ServiceSchema, "Name taken"),
      },
    }),
    async (c) => {
      const { workspace_id } = c.req.valid("param");
      const body = c.req.valid("json");
      const db = database(c.env.DB);
      if (await findServiceByName(db, workspace_id, body.name)) {
        throw new ApiError("conflict", "A service with this name already exists", { field: "name" });
      }
      const id = newId("svc");
      const at = new Date().toISOString();
      await audited(c, { action: "service.created", targetType: "service", targetId: id }, [
        db.insert(services).values({
          id,
          workspaceId: workspace_id,
          name: body.name,
          description: body.description,
          persona: body.persona,
          contextGraphId: body.context_graph_id,
          voiceTransport: body.voice_transport,
          escalationRules: body.escalation_rules,
          createdAt: at,
          updatedAt: at,
        }),
      ]);
      const created = await findService(db, workspace_id, id);
      return c.json(serviceView(created!), 201);
    },
  )
  .openapi(
    workspaceRoute("viewer", {
      method: "get",
      path: "/v1/{workspace_id}/services/{id}",
      tags,
      summary: "Get a service",
      request: { params: WorkspaceItemParams },
      responses: { 200: jsonResponse(ServiceSchema, "The service") },
    }),
    async (c) => {
      const { workspace_id, id } = c.req.valid("param");
      const row = await findService(database(c.env.DB), workspace_id, id);
      if (!row) throw notFound("Service");
      return c.json(serviceView(row), 200);
    },
  )
  .openapi(
    workspaceRoute("admin", {
      method: "patch",
      path: "/v1/{workspace_id}/services/{id}",
      tags,
      summary: "Update a service",
      request: { params: WorkspaceItemParams, body: jsonBody(ServiceUpdate) },
      responses: { 200: jsonResponse(ServiceSchema, "The updated service") },
    }),
    async (c) => {
      const { workspace_id, id } = c.req.valid("param");
      const body = c.req.valid("json");
      const db = database(c.env.DB);
      const existing = await findService(db, workspace_id, id);
      if (!existing) throw notFound("Service");
      if (
        body.name &&
        body.name !== existing.name &&
        (await findServiceByName(db, workspace_id, body.name))
      ) {
        throw new ApiError("conflict", "A service with this name already exists", { field: "name" });
      }
      await audited(
        c,
        {
          action: "service.updated",
          targetType: "service",
          targetId: id,
          details: { fields: Object.keys(body) },
        },
        [
          db
            .update(services)
            .set({
              name: body.name,
              description: body.description,
              persona: body.persona,
              contextGraphId: body.context_graph_id,
              voiceTransport: body.voice_transport,
              escalationRules: body.escalation_rules,
              updatedAt: new Date().toISOString(),
            })
            .where(and(eq(services.workspaceId, workspace_id), eq(services.id, id))),
        ],
      );
      return c.json(serviceView((await findService(db, workspace_id, id))!), 200);
    },
  )
  .openapi(
    workspaceRoute("admin", {
      method: "delete",
      path: "/v1/{workspace_id}/services/{id}",
      tags,
      summary: "Delete a service",
      description:
        "Its phone numbers stay, unassigned, until they are mapped to another service; its context graphs and knowledge go with it. A service that has answered calls is kept as their history (409).",
      request: { params: WorkspaceItemParams },
      responses: {
        204: { description: "Deleted" },
        409: jsonResponse(ErrorBodySchema, "The service has answered calls"),
      },
    }),
    async (c) => {
      const { workspace_id, id } = c.req.valid("param");
      const db = database(c.env.DB);
      if (!(await findService(db, workspace_id, id))) throw notFound("Service");
      if (await serviceHasCalls(db, workspace_id, id))
        throw new ApiError("conflict", "This service has answered calls, which keep it as their history", {
          reason: "has_calls",
        });
      await audited(c, { action: "service.deleted", targetType: "service", targetId: id }, [
        ...deleteServiceGraphsAndKnowledge(db, workspace_id, id),
        db
          .update(phoneNumbers)
          .set({ serviceId: null, updatedAt: new Date().toISOString() })
          .where(and(eq(phoneNumbers.workspaceId, workspace_id), eq(phoneNumbers.serviceId, id))),
        db.delete(services).where(and(eq(services.workspaceId, workspace_id), eq(services.id, id))),
      ]);
      return c.body(null, 204);
    },
  );
