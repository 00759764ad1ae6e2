/**
 * `/v1/{workspace_id}/users`: the workspace's members. Adding an email that has no account creates the
 * user (with the initial password given); an existing account just joins. Nobody grants a role above
 * their own, and the last owner can be neither demoted nor removed.
 */
import { and, eq } from "drizzle-orm";
import type { z } from "zod";
import { hashPassword } from "../../shared/auth/password";
import { canGrant, type Role } from "../../shared/auth/roles";
import { newId } from "../../shared/ids";
import { listOf, PageQuery, WorkspaceItemParams, WorkspaceParams } from "../../shared/schemas/common";
import { MemberCreate, MemberSchema, MemberUpdate } from "../../shared/schemas/identity";
import { database, type Statement } from "../db/client";
import {
  countOwners,
  findMember,
  findUserByEmail,
  isNoOwnerLeft,
  listMembers,
  requireAnOwnerLeft,
} from "../db/identity";
import { dropOperatorStatement } from "../db/operators";
import { memberships, users } from "../db/schema";
import { ApiError, notFound } from "../errors";
import { audited } from "./audited";
import { encodeToken, pageFrom } from "./pagination";
import { jsonBody, jsonResponse, router, workspaceRoute } from "./router";

type MemberRow = NonNullable<Awaited<ReturnType<typeof findMember>>>;

function memberView(row: MemberRow): z.infer<typeof MemberSchema> {
  return {
    id: row.id,
    email: row.email,
    name: row.name,
    role: row.role,
    mfa_enabled: row.mfaEnabled,
    joined_at: row.joinedAt,
  };
}

function assertCanGrant(actorRole: Role, role: Role) {
  if (!canGrant(actorRole, role)) {
    throw new ApiError("forbidden", `Only an ${role} or above can grant the ${role} role`, { role });
  }
}

const noOwnerLeft = () => new ApiError("conflict", "A workspace needs at least one owner");

/** Turns the database's last-owner guard into the same answer the route's own check gives. */
function lastOwnerConflict(err: unknown): never {
  throw isNoOwnerLeft(err) ? noOwnerLeft() : err;
}

const MemberList = listOf(MemberSchema, "MemberList");
const tags = ["Users"];

export const usersApi = router()
  .openapi(
    workspaceRoute("admin", {
      method: "get",
      path: "/v1/{workspace_id}/users",
      tags,
      summary: "List members",
      request: { params: WorkspaceParams, query: PageQuery },
      responses: { 200: jsonResponse(MemberList, "Members in joining order") },
    }),
    async (c) => {
      const { workspace_id } = c.req.valid("param");
      const query = c.req.valid("query");
      const { rows, total } = await listMembers(database(c.env.DB), workspace_id, pageFrom(query));
      const last = rows.at(-1);
      const token = rows.length === query.limit && last ? encodeToken([last.joinedAt, last.id]) : null;
      return c.json({ results: rows.map(memberView), total, continuation_token: token }, 200);
    },
  )
  .openapi(
    workspaceRoute("admin", {
      method: "post",
      path: "/v1/{workspace_id}/users",
      tags,
      summary: "Add a member",
      request: { params: WorkspaceParams, body: jsonBody(MemberCreate) },
      responses: { 201: jsonResponse(MemberSchema, "The new member") },
    }),
    async (c) => {
      const { workspace_id } = c.req.valid("param");
      const body = c.req.valid("json");
      assertCanGrant(c.get("access").role, body.role);
      const db = database(c.env.DB);
      const existing = await findUserByEmail(db, body.email);
      if (existing && (await findMember(db, workspace_id, existing.id))) {
        throw new ApiError("conflict", "This user is already a member", { field: "email" });
      }
      if (!existing && !body.password) {
        throw new ApiError("validation_failed", "A new user needs an initial password", {
          issues: [
            { location: "json", path: "password", code: "required", message: "required for a new user" },
          ],
        });
      }
      const userId = existing?.id ?? newId("usr");
      const changes: Statement[] = [];
      if (!existing) {
        changes.push(
          db.insert(users).values({
            id: userId,
            email: body.email,
            name: body.name,
            passwordHash: await hashPassword(body.password!),
          }),
        );
      }
      changes.push(db.insert(memberships).values({ workspaceId: workspace_id, userId, role: body.role }));
      await audited(
        c,
        {
          action: "member.added",
          targetType: "user",
          targetId: userId,
          details: { role: body.role, new_user: !existing },
        },
        changes,
      );
      return c.json(memberView((await findMember(db, workspace_id, userId))!), 201);
    },
  )
  .openapi(
    workspaceRoute("admin", {
      method: "get",
      path: "/v1/{workspace_id}/users/{id}",
      tags,
      summary: "Get a member",
      request: { params: WorkspaceItemParams },
      responses: { 200: jsonResponse(MemberSchema, "The member") },
    }),
    async (c) => {
      const { workspace_id, id } = c.req.valid("param");
      const row = await findMember(database(c.env.DB), workspace_id, id);
      if (!row) throw notFound("Member");
      return c.json(memberView(row), 200);
    },
  )
  .openapi(
    workspaceRoute("admin", {
      method: "patch",
      path: "/v1/{workspace_id}/users/{id}",
      tags,
      summary: "Change a member's role or name",
      request: { params: WorkspaceItemParams, body: jsonBody(MemberUpdate) },
      responses: {
        200: jsonResponse(MemberSchema, "The member"),
        409: jsonResponse(MemberSchema, "Last owner"),
      },
    }),
    async (c) => {
      const { workspace_id, id } = c.req.valid("param");
      const body = c.req.valid("json");
      const actorRole = c.get("access").role;
      const db = database(c.env.DB);
      const member = await findMember(db, workspace_id, id);
      if (!member) throw notFound("Member");
      const changes: Statement[] = [];
      if (body.role && body.role !== member.role) {
        assertCanGrant(actorRole, member.role);
        assertCanGrant(actorRole, body.role);
        if (member.role === "owner" && (await countOwners(db, workspace_id)) <= 1) {
          throw noOwnerLeft();
        }
        changes.push(
          db
            .update(memberships)
            .set({ role: body.role })
            .where(and(eq(memberships.workspaceId, workspace_id), eq(memberships.userId, id))),
        );
        if (member.role === "owner") changes.push(requireAnOwnerLeft(db, workspace_id, id));
        if (body.role === "viewer") changes.push(dropOperatorStatement(db, workspace_id, id));
      }
      if (body.name && body.name !== member.name) {
        assertCanGrant(actorRole, member.role);
        changes.push(
          db
            .update(users)
            .set({ name: body.name, updatedAt: new Date().toISOString() })
            .where(eq(users.id, id)),
        );
      }
      if (changes.length > 0) {
        await audited(
          c,
          {
            action: "member.updated",
            targetType: "user",
            targetId: id,
            details: { fields: Object.keys(body), from_role: member.role, to_role: body.role ?? member.role },
          },
          changes,
        ).catch(lastOwnerConflict);
      }
      return c.json(memberView((await findMember(db, workspace_id, id))!), 200);
    },
  )
  .openapi(
    workspaceRoute("admin", {
      method: "delete",
      path: "/v1/{workspace_id}/users/{id}",
      tags,
      summary: "Remove a member from the workspace",
      request: { params: WorkspaceItemParams },
      responses: { 204: { description: "Removed" }, 409: jsonResponse(MemberSchema, "Last owner") },
    }),
    async (c) => {
      const { workspace_id, id } = c.req.valid("param");
      const db = database(c.env.DB);
      const member = await findMember(db, workspace_id, id);
      if (!member) throw notFound("Member");
      assertCanGrant(c.get("access").role, member.role);
      if (member.role === "owner" && (await countOwners(db, workspace_id)) <= 1) {
        throw noOwnerLeft();
      }
      await audited(
        c,
        { action: "member.removed", targetType: "user", targetId: id, details: { role: member.role } },
        [
          db
            .delete(memberships)
            .where(and(eq(memberships.workspaceId, workspace_id), eq(memberships.userId, id))),
          dropOperatorStatement(db, workspace_id, id),
          ...(member.role === "owner" ? [requireAnOwnerLeft(db, workspace_id, id)] : []),
        ],
      ).catch(lastOwnerConflict);
      return c.body(null, 204);
    },
  );
