/** `/v1/{workspace_id}/api-keys`: keys for integrations. The key is shown once, at creation. */
import type { z } from "zod";
import { apiKeyHint, generateApiKey, hashApiKey } from "../../shared/auth/api-key";
import { canGrant } from "../../shared/auth/roles";
import { newId } from "../../shared/ids";
import { listOf, PageQuery, WorkspaceItemParams, WorkspaceParams } from "../../shared/schemas/common";
import { ApiKeyCreate, ApiKeyCreated, ApiKeySchema } from "../../shared/schemas/identity";
import { findApiKey, listApiKeys, revokeApiKeyStatement } from "../db/api-keys";
import { database } from "../db/client";
import { apiKeys } from "../db/schema";
import { ApiError, notFound } from "../errors";
import { audited } from "./audited";
import { nextToken, pageFrom } from "./pagination";
import { jsonBody, jsonResponse, router, workspaceRoute } from "./router";

type ApiKeyRow = typeof apiKeys.$inferSelect;

function apiKeyView(row: ApiKeyRow): z.infer<typeof ApiKeySchema> {
  return {
    id: row.id,
    workspace_id: row.workspaceId,
    name: row.name,
    role: row.role,
    key_hint: row.keyHint,
    created_by: row.createdBy,
    created_at: row.createdAt,
    expires_at: row.expiresAt,
    revoked_at: row.revokedAt,
    last_used_at: row.lastUsedAt,
  };
}

const ApiKeyList = listOf(ApiKeySchema, "ApiKeyList");
const tags = ["API keys"];

export const apiKeysApi = router()
  .openapi(
    workspaceRoute("admin", {
      method: "get",
      path: "/v1/{workspace_id}/api-keys",
      tags,
      summary: "List API keys (never the keys themselves)",
      request: { params: WorkspaceParams, query: PageQuery },
      responses: { 200: jsonResponse(ApiKeyList, "Keys, oldest first, revoked ones included") },
    }),
    async (c) => {
      const { workspace_id } = c.req.valid("param");
      const query = c.req.valid("query");
      const { rows, total } = await listApiKeys(database(c.env.DB), workspace_id, pageFrom(query));
      return c.json(
        { results: rows.map(apiKeyView), total, continuation_token: nextToken(rows, query.limit) },
        200,
      );
    },
  )
  .openapi(
    workspaceRoute("admin", {
      method: "post",
      path: "/v1/{workspace_id}/api-keys",
      tags,
      summary: "Create an API key",
      request: { params: WorkspaceParams, body: jsonBody(ApiKeyCreate) },
      responses: { 201: jsonResponse(ApiKeyCreated, "The key, shown this once") },
    }),
    async (c) => {
      const { workspace_id } = c.req.valid("param");
      const body = c.req.valid("json");
      if (!canGrant(c.get("access").role, body.role)) {
        throw new ApiError("forbidden", `Only an ${body.role} or above can create a key with that role`);
      }
      if (body.expires_at && body.expires_at <= new Date().toISOString()) {
        throw new ApiError("unprocessable", "expires_at must be in the future", { field: "expires_at" });
      }
      const db = database(c.env.DB);
      const key = generateApiKey();
      const id = newId("key");
      const principal = c.get("principal");
      await audited(
        c,
        { action: "api_key.created", targetType: "api_key", targetId: id, details: { role: body.role } },
        [
          db.insert(apiKeys).values({
            id,
            workspaceId: workspace_id,
            name: body.name,
            role: body.role,
            keyHash: await hashApiKey(key),
            keyHint: apiKeyHint(key),
            createdBy: principal.kind === "user" ? principal.userId : principal.keyId,
            expiresAt: body.expires_at ? new Date(body.expires_at).toISOString() : null,
          }),
        ],
      );
      return c.json({ ...apiKeyView((await findApiKey(db, workspace_id, id))!), key }, 201);
    },
  )
  .openapi(
    workspaceRoute("admin", {
      method: "delete",
      path: "/v1/{workspace_id}/api-keys/{id}",
      tags,
      summary: "Revoke an API key",
      description: "Takes effect on the next request. Revoking an already revoked key is a no-op.",
      request: { params: WorkspaceItemParams },
      responses: { 204: { description: "Revoked" } },
    }),
    async (c) => {
      const { workspace_id, id } = c.req.valid("param");
      const db = database(c.env.DB);
      const key = await findApiKey(db, workspace_id, id);
      if (!key) throw notFound("API key");
      if (!canGrant(c.get("access").role, key.role)) {
        throw new ApiError("forbidden", `Only an ${key.role} or above can revoke this key`);
      }
      if (!key.revokedAt) {
        await audited(c, { action: "api_key.revoked", targetType: "api_key", targetId: id }, [
          revokeApiKeyStatement(db, workspace_id, id),
        ]);
      }
      return c.body(null, 204);
    },
  );
