/**
 * `/v1/{workspace_id}/services/{service_id}/knowledge`: the curated answers a service's agent may give
 * (hours, locations, directions, preparation, policies, FAQs). What is not here is out of scope, and the
 * agent escalates rather than guesses.
 */
import { and, eq } from "drizzle-orm";
import { newId } from "../../shared/ids";
import { listOf } from "../../shared/schemas/common";
import {
  KnowledgeCreate,
  KnowledgeEntrySchema,
  KnowledgeItemParams,
  KnowledgeKindSchema,
  KnowledgeListQuery,
  KnowledgeUpdate,
  ServiceParams,
} from "../../shared/schemas/context-graphs";
import { type Db, database } from "../db/client";
import { findKnowledge, type KnowledgeRow, listKnowledge } from "../db/context-graphs";
import { knowledgeEntries } from "../db/schema";
import { findService } from "../db/tenancy";
import { notFound } from "../errors";
import { audited } from "./audited";
import { nextToken, pageFrom } from "./pagination";
import { jsonBody, jsonResponse, router, workspaceRoute } from "./router";

export function knowledgeView(row: KnowledgeRow) {
  return {
    id: row.id,
    workspace_id: row.workspaceId,
    service_id: row.serviceId,
    kind: KnowledgeKindSchema.parse(row.kind),
    title: row.title,
    body: row.body,
    keywords: row.keywords,
    created_at: row.createdAt,
    updated_at: row.updatedAt,
  };
}

async function requireService(db: Db, workspaceId: string, serviceId: string) {
  if (!(await findService(db, workspaceId, serviceId))) throw notFound("Service");
}

async function entryOrThrow(db: Db, workspaceId: string, serviceId: string, id: string) {
  await requireService(db, workspaceId, serviceId);
  const row = await findKnowledge(db, workspaceId, serviceId, id);
  if (!row) throw notFound("Knowledge entry");
  return row;
}

const KnowledgeList = listOf(KnowledgeEntrySchema, "KnowledgeList");
const tags = ["Knowledge"];

export const knowledgeApi = router()
  .openapi(
    workspaceRoute("viewer", {
      method: "get",
      path: "/v1/{workspace_id}/services/{service_id}/knowledge",
      tags,
      summary: "List a service's knowledge entries",
      request: { params: ServiceParams, query: KnowledgeListQuery },
      responses: { 200: jsonResponse(KnowledgeList, "Entries, oldest first") },
    }),
    async (c) => {
      const { workspace_id, service_id } = c.req.valid("param");
      const query = c.req.valid("query");
      const db = database(c.env.DB);
      await requireService(db, workspace_id, service_id);
      const { rows, total } = await listKnowledge(db, workspace_id, service_id, {
        ...pageFrom(query),
        kind: query.kind,
      });
      return c.json(
        { results: rows.map(knowledgeView), total, continuation_token: nextToken(rows, query.limit) },
        200,
      );
    },
  )
  .openapi(
    workspaceRoute("admin", {
      method: "post",
      path: "/v1/{workspace_id}/services/{service_id}/knowledge",
      tags,
      summary: "Add a knowledge entry",
      request: { params: ServiceParams, body: jsonBody(KnowledgeCreate) },
      responses: { 201: jsonResponse(KnowledgeEntrySchema, "The new entry") },
    }),
    async (c) => {
      const { workspace_id, service_id } = c.req.valid("param");
      const body = c.req.valid("json");
      const db = database(c.env.DB);
      await requireService(db, workspace_id, service_id);
      const id = newId("kn");
      const at = new Date().toISOString();
      await audited(
        c,
        { action: "knowledge.created", targetType: "knowledge_entry", targetId: id, details: { service_id } },
        [
          db.insert(knowledgeEntries).values({
            id,
            workspaceId: workspace_id,
            serviceId: service_id,
            kind: body.kind,
            title: body.title,
            body: body.body,
            keywords: [...new Set(body.keywords)],
            createdAt: at,
            updatedAt: at,
          }),
        ],
      );
      return c.json(knowledgeView((await findKnowledge(db, workspace_id, service_id, id))!), 201);
    },
  )
  .openapi(
    workspaceRoute("viewer", {
      method: "get",
      path: "/v1/{workspace_id}/services/{service_id}/knowledge/{id}",
      tags,
      summary: "Get a knowledge entry",
      request: { params: KnowledgeItemParams },
      responses: { 200: jsonResponse(KnowledgeEntrySchema, "The entry") },
    }),
    async (c) => {
      const { workspace_id, service_id, id } = c.req.valid("param");
      return c.json(knowledgeView(await entryOrThrow(database(c.env.DB), workspace_id, service_id, id)), 200);
    },
  )
  .openapi(
    workspaceRoute("admin", {
      method: "patch",
      path: "/v1/{workspace_id}/services/{service_id}/knowledge/{id}",
      tags,
      summary: "Update a knowledge entry",
      request: { params: KnowledgeItemParams, body: jsonBody(KnowledgeUpdate) },
      responses: { 200: jsonResponse(KnowledgeEntrySchema, "The updated entry") },
    }),
    async (c) => {
      const { workspace_id, service_id, id } = c.req.valid("param");
      const body = c.req.valid("json");
      const db = database(c.env.DB);
      await entryOrThrow(db, workspace_id, service_id, id);
      await audited(
        c,
        {
          action: "knowledge.updated",
          targetType: "knowledge_entry",
          targetId: id,
          details: { service_id, fields: Object.keys(body) },
        },
        [
          db
            .update(knowledgeEntries)
            .set({
              kind: body.kind,
              title: body.title,
              body: body.body,
              keywords: body.keywords ? [...new Set(body.keywords)] : undefined,
              updatedAt: new Date().toISOString(),
            })
            .where(
              and(
                eq(knowledgeEntries.workspaceId, workspace_id),
                eq(knowledgeEntries.serviceId, service_id),
                eq(knowledgeEntries.id, id),
              ),
            ),
        ],
      );
      return c.json(knowledgeView((await findKnowledge(db, workspace_id, service_id, id))!), 200);
    },
  )
  .openapi(
    workspaceRoute("admin", {
      method: "delete",
      path: "/v1/{workspace_id}/services/{service_id}/knowledge/{id}",
      tags,
      summary: "Delete a knowledge entry",
      request: { params: KnowledgeItemParams },
      responses: { 204: { description: "Deleted" } },
    }),
    async (c) => {
      const { workspace_id, service_id, id } = c.req.valid("param");
      const db = database(c.env.DB);
      await entryOrThrow(db, workspace_id, service_id, id);
      await audited(
        c,
        { action: "knowledge.deleted", targetType: "knowledge_entry", targetId: id, details: { service_id } },
        [
          db
            .delete(knowledgeEntries)
            .where(
              and(
                eq(knowledgeEntries.workspaceId, workspace_id),
                eq(knowledgeEntries.serviceId, service_id),
                eq(knowledgeEntries.id, id),
              ),
            ),
        ],
      );
      return c.body(null, 204);
    },
  );
