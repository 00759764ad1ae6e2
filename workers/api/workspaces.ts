/** `/v1/{workspace_id}`: the workspace itself. */
import { eq } from "drizzle-orm";
import type { z } from "zod";
import { WorkspaceParams } from "../../shared/schemas/common";
import { WorkspaceSchema, WorkspaceUpdate } from "../../shared/schemas/tenancy";
import { database } from "../db/client";
import { workspaces } from "../db/schema";
import { findWorkspace } from "../db/tenancy";
import { notFound } from "../errors";
import { audited } from "./audited";
import { jsonBody, jsonResponse, router, workspaceRoute } from "./router";

export function workspaceView(row: typeof workspaces.$inferSelect): z.infer<typeof WorkspaceSchema> {
  return {
    id: row.id,
    name: row.name,
    timezone: row.timezone,
    require_mfa: row.requireMfa,
    created_at: row.createdAt,
    updated_at: row.updatedAt,
  };
}

const tags = ["Workspaces"];

export const workspacesApi = router()
  .openapi(
    workspaceRoute("viewer", {
      method: "get",
      path: "/v1/{workspace_id}",
      tags,
      summary: "Get the workspace",
      request: { params: WorkspaceParams },
      responses: { 200: jsonResponse(WorkspaceSchema, "The workspace") },
    }),
    async (c) => {
      const row = await findWorkspace(database(c.env.DB), c.req.valid("param").workspace_id);
      if (!row) throw notFound("Workspace");
      return c.json(workspaceView(row), 200);
    },
  )
  .openapi(
    workspaceRoute("owner", {
      method: "patch",
      path: "/v1/{workspace_id}",
      tags,
      summary: "Update the workspace (name, time zone, MFA requirement)",
      request: { params: WorkspaceParams, body: jsonBody(WorkspaceUpdate) },
      responses: { 200: jsonResponse(WorkspaceSchema, "The updated workspace") },
    }),
    async (c) => {
      const { workspace_id } = c.req.valid("param");
      const body = c.req.valid("json");
      const db = database(c.env.DB);
      await audited(
        c,
        {
          action: "workspace.updated",
          targetType: "workspace",
          targetId: workspace_id,
          details: { ...body },
        },
        [
          db
            .update(workspaces)
            .set({
              name: body.name,
              timezone: body.timezone,
              requireMfa: body.require_mfa,
              updatedAt: new Date().toISOString(),
            })
            .where(eq(workspaces.id, workspace_id)),
        ],
      );
      return c.json(workspaceView((await findWorkspace(db, workspace_id))!), 200);
    },
  );
