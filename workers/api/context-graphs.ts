/**
 * `/v1/{workspace_id}/services/{service_id}/context-graph(s)`: a service's versioned context graphs.
 * Saving never edits a version: it adds version n+1 (validated: 422 with every reason when refused),
 * and activating points the service's `context_graph_id` at a version.
 */
import type { z } from "zod";
import { validateContextGraph } from "../../shared/calls/context-graph";
import { newId } from "../../shared/ids";
import { ErrorBodySchema } from "../../shared/schemas/common";
import {
  ContextGraphCreate,
  ContextGraphListQuery,
  ContextGraphVersionList,
  ContextGraphVersionSchema,
  GraphVersionParams,
  ServiceParams,
} from "../../shared/schemas/context-graphs";
import { type Db, database } from "../db/client";
import {
  type ContextGraphRow,
  findActiveGraph,
  findGraphVersion,
  insertGraphVersion,
  latestGraphVersion,
  listGraphVersions,
  setActiveGraph,
} from "../db/context-graphs";
import { findService } from "../db/tenancy";
import { ApiError, notFound } from "../errors";
import { actorOf, audited } from "./audited";
import { jsonBody, jsonResponse, router, workspaceRoute } from "./router";

type Summary = Omit<ContextGraphRow, "graph">;

function summaryView(row: Summary, activeId: string | null) {
  return {
    id: row.id,
    workspace_id: row.workspaceId,
    service_id: row.serviceId,
    version: row.version,
    note: row.note,
    active: row.id === activeId,
    created_by: row.createdBy,
    created_at: row.createdAt,
  };
}

function versionView(
  row: ContextGraphRow,
  activeId: string | null,
): z.infer<typeof ContextGraphVersionSchema> {
  return { ...summaryView(row, activeId), graph: row.graph };
}

async function serviceOrThrow(db: Db, workspaceId: string, serviceId: string) {
  const service = await findService(db, workspaceId, serviceId);
  if (!service) throw notFound("Service");
  return service;
}

const isUniqueViolation = (err: unknown) =>
  err instanceof Error && /UNIQUE constraint failed/i.test(err.message);

const tags = ["Context graphs"];
const unprocessable = jsonResponse(ErrorBodySchema, "The graph was refused; details.reasons say why");

export const contextGraphsApi = router()
  .openapi(
    workspaceRoute("viewer", {
      method: "get",
      path: "/v1/{workspace_id}/services/{service_id}/context-graphs",
      tags,
      summary: "List a service's context graph versions",
      request: { params: ServiceParams, query: ContextGraphListQuery },
      responses: { 200: jsonResponse(ContextGraphVersionList, "Versions, newest first") },
    }),
    async (c) => {
      const { workspace_id, service_id } = c.req.valid("param");
      const db = database(c.env.DB);
      const service = await serviceOrThrow(db, workspace_id, service_id);
      const { rows, total } = await listGraphVersions(db, workspace_id, service_id, c.req.valid("query"));
      return c.json({ results: rows.map((r) => summaryView(r, service.contextGraphId)), total }, 200);
    },
  )
  .openapi(
    workspaceRoute("admin", {
      method: "post",
      path: "/v1/{workspace_id}/services/{service_id}/context-graphs",
      tags,
      summary: "Save a new version of a service's context graph",
      description:
        "Validates the graph (shape, exit targets, reachability, a reachable terminal state, tool names) and " +
        "saves it as the next version; `activate` also makes it the service's active graph. A refused graph " +
        "answers 422 `unprocessable` with `details.reasons`: `[{ path, message }]`.",
      request: { params: ServiceParams, body: jsonBody(ContextGraphCreate) },
      responses: {
        201: jsonResponse(ContextGraphVersionSchema, "The new version"),
        409: jsonResponse(ErrorBodySchema, "Another version was saved at the same moment; retry"),
        422: unprocessable,
      },
    }),
    async (c) => {
      const { workspace_id, service_id } = c.req.valid("param");
      const body = c.req.valid("json");
      const db = database(c.env.DB);
      await serviceOrThrow(db, workspace_id, service_id);
      const result = validateContextGraph(body.graph);
      if (!result.ok) {
        throw new ApiError("unprocessable", "The context graph is not valid", { reasons: result.reasons });
      }
      const version = (await latestGraphVersion(db, workspace_id, service_id)) + 1;
      const id = newId("cg");
      const actor = actorOf(c);
      const changes = [
        insertGraphVersion(db, {
          id,
          workspaceId: workspace_id,
          serviceId: service_id,
          version,
          // What the author wrote, not the parsed form: defaults stay defaults if they change later.
          graph: body.graph,
          note: body.note,
          createdBy: actor.actorId,
          createdAt: new Date().toISOString(),
        }),
        ...(body.activate ? [setActiveGraph(db, workspace_id, service_id, id)] : []),
      ] as const;
      try {
        await audited(
          c,
          {
            action: "context_graph.created",
            targetType: "context_graph",
            targetId: id,
            details: { service_id, version, activated: body.activate },
          },
          [...changes],
        );
      } catch (err) {
        if (isUniqueViolation(err)) {
          throw new ApiError("conflict", "Another version was saved at the same moment; retry", { version });
        }
        throw err;
      }
      const row = await findGraphVersion(db, workspace_id, service_id, version);
      const service = await serviceOrThrow(db, workspace_id, service_id);
      return c.json(versionView(row!, service.contextGraphId), 201);
    },
  )
  .openapi(
    workspaceRoute("viewer", {
      method: "get",
      path: "/v1/{workspace_id}/services/{service_id}/context-graphs/{version}",
      tags,
      summary: "Get one version of a service's context graph",
      request: { params: GraphVersionParams },
      responses: { 200: jsonResponse(ContextGraphVersionSchema, "The version") },
    }),
    async (c) => {
      const { workspace_id, service_id, version } = c.req.valid("param");
      const db = database(c.env.DB);
      const service = await serviceOrThrow(db, workspace_id, service_id);
      const row = await findGraphVersion(db, workspace_id, service_id, version);
      if (!row) throw notFound("Context graph version");
      return c.json(versionView(row, service.contextGraphId), 200);
    },
  )
  .openapi(
    workspaceRoute("admin", {
      method: "post",
      path: "/v1/{workspace_id}/services/{service_id}/context-graphs/{version}/activate",
      tags,
      summary: "Make a version the service's active context graph",
      request: { params: GraphVersionParams },
      responses: { 200: jsonResponse(ContextGraphVersionSchema, "The version, now active") },
    }),
    async (c) => {
      const { workspace_id, service_id, version } = c.req.valid("param");
      const db = database(c.env.DB);
      await serviceOrThrow(db, workspace_id, service_id);
      const row = await findGraphVersion(db, workspace_id, service_id, version);
      if (!row) throw notFound("Context graph version");
      await audited(
        c,
        {
          action: "context_graph.activated",
          targetType: "context_graph",
          targetId: row.id,
          details: { service_id, version },
        },
        [setActiveGraph(db, workspace_id, service_id, row.id)],
      );
      return c.json(versionView(row, row.id), 200);
    },
  )
  .openapi(
    workspaceRoute("viewer", {
      method: "get",
      path: "/v1/{workspace_id}/services/{service_id}/context-graph",
      tags,
      summary: "Get the service's active context graph",
      request: { params: ServiceParams },
      responses: { 200: jsonResponse(ContextGraphVersionSchema, "The active version") },
    }),
    async (c) => {
      const { workspace_id, service_id } = c.req.valid("param");
      const db = database(c.env.DB);
      await serviceOrThrow(db, workspace_id, service_id);
      const row = await findActiveGraph(db, workspace_id, service_id);
      if (!row) throw notFound("Active context graph");
      return c.json(versionView(row, row.id), 200);
    },
  );
