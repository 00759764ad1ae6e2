/** `/v1/{workspace_id}/phone-numbers`: the clinic's numbers and the service answering each. */
import { and, eq } from "drizzle-orm";
import type { z } from "zod";
import { newId } from "../../shared/ids";
import {
  listOf,
  PageQuery,
  ResourceId,
  WorkspaceItemParams,
  WorkspaceParams,
} from "../../shared/schemas/common";
import { PhoneNumberCreate, PhoneNumberSchema, PhoneNumberUpdate } from "../../shared/schemas/tenancy";
import { normalizeE164 } from "../../shared/tenancy/phone";
import { type Db, database } from "../db/client";
import { phoneNumbers } from "../db/schema";
import { findPhoneNumber, findPhoneNumberByE164, findService, listPhoneNumbers } from "../db/tenancy";
import { ApiError, notFound } from "../errors";
import { audited } from "./audited";
import { nextToken, pageFrom } from "./pagination";
import { jsonBody, jsonResponse, router, workspaceRoute } from "./router";

type PhoneNumberRow = typeof phoneNumbers.$inferSelect;

export function phoneNumberView(row: PhoneNumberRow): z.infer<typeof PhoneNumberSchema> {
  return {
    id: row.id,
    workspace_id: row.workspaceId,
    number: row.e164,
    service_id: row.serviceId,
    label: row.label,
    created_at: row.createdAt,
    updated_at: row.updatedAt,
  };
}

async function assertServiceInWorkspace(db: Db, workspaceId: string, serviceId: string | null | undefined) {
  if (serviceId && !(await findService(db, workspaceId, serviceId))) {
    throw new ApiError("unprocessable", "service_id does not name a service of this workspace", {
      field: "service_id",
    });
  }
}

const PhoneNumberList = listOf(PhoneNumberSchema, "PhoneNumberList");
const tags = ["Phone numbers"];

export const phoneNumbersApi = router()
  .openapi(
    workspaceRoute("viewer", {
      method: "get",
      path: "/v1/{workspace_id}/phone-numbers",
      tags,
      summary: "List phone numbers",
      request: { params: WorkspaceParams, query: PageQuery.extend({ service_id: ResourceId.optional() }) },
      responses: { 200: jsonResponse(PhoneNumberList, "Numbers, oldest first") },
    }),
    async (c) => {
      const { workspace_id } = c.req.valid("param");
      const query = c.req.valid("query");
      const { rows, total } = await listPhoneNumbers(database(c.env.DB), workspace_id, {
        ...pageFrom(query),
        serviceId: query.service_id,
      });
      return c.json(
        { results: rows.map(phoneNumberView), total, continuation_token: nextToken(rows, query.limit) },
        200,
      );
    },
  )
  .openapi(
    workspaceRoute("admin", {
      method: "post",
      path: "/v1/{workspace_id}/phone-numbers",
      tags,
      summary: "Add a phone number",
      description: "The number is validated and stored in E.164. A number can belong to one workspace only.",
      request: { params: WorkspaceParams, body: jsonBody(PhoneNumberCreate) },
      responses: { 201: jsonResponse(PhoneNumberSchema, "The new number") },
    }),
    async (c) => {
      const { workspace_id } = c.req.valid("param");
      const body = c.req.valid("json");
      const e164 = normalizeE164(body.number);
      if (!e164) {
        throw new ApiError("validation_failed", "number is not a valid phone number", {
          issues: [
            {
              location: "json",
              path: "number",
              code: "invalid_phone_number",
              message: "not a valid phone number",
            },
          ],
        });
      }
      const db = database(c.env.DB);
      await assertServiceInWorkspace(db, workspace_id, body.service_id);
      if (await findPhoneNumberByE164(db, e164))
        throw new ApiError("conflict", "This number is already registered");
      const id = newId("pn");
      const at = new Date().toISOString();
      await audited(
        c,
        {
          action: "phone_number.created",
          targetType: "phone_number",
          targetId: id,
          details: { service_id: body.service_id },
        },
        [
          db.insert(phoneNumbers).values({
            id,
            workspaceId: workspace_id,
            e164,
            serviceId: body.service_id,
            label: body.label ?? "",
            createdAt: at,
            updatedAt: at,
          }),
        ],
      );
      return c.json(phoneNumberView((await findPhoneNumber(db, workspace_id, id))!), 201);
    },
  )
  .openapi(
    workspaceRoute("viewer", {
      method: "get",
      path: "/v1/{workspace_id}/phone-numbers/{id}",
      tags,
      summary: "Get a phone number",
      request: { params: WorkspaceItemParams },
      responses: { 200: jsonResponse(PhoneNumberSchema, "The number") },
    }),
    async (c) => {
      const { workspace_id, id } = c.req.valid("param");
      const row = await findPhoneNumber(database(c.env.DB), workspace_id, id);
      if (!row) throw notFound("Phone number");
      return c.json(phoneNumberView(row), 200);
    },
  )
  .openapi(
    workspaceRoute("admin", {
      method: "patch",
      path: "/v1/{workspace_id}/phone-numbers/{id}",
      tags,
      summary: "Map a number to another service, or relabel it",
      request: { params: WorkspaceItemParams, body: jsonBody(PhoneNumberUpdate) },
      responses: { 200: jsonResponse(PhoneNumberSchema, "The updated number") },
    }),
    async (c) => {
      const { workspace_id, id } = c.req.valid("param");
      const body = c.req.valid("json");
      const db = database(c.env.DB);
      if (!(await findPhoneNumber(db, workspace_id, id))) throw notFound("Phone number");
      await assertServiceInWorkspace(db, workspace_id, body.service_id);
      await audited(
        c,
        {
          action: "phone_number.updated",
          targetType: "phone_number",
          targetId: id,
          details: { fields: Object.keys(body) },
        },
        [
          db
            .update(phoneNumbers)
            .set({ serviceId: body.service_id, label: body.label, updatedAt: new Date().toISOString() })
            .where(and(eq(phoneNumbers.workspaceId, workspace_id), eq(phoneNumbers.id, id))),
        ],
      );
      return c.json(phoneNumberView((await findPhoneNumber(db, workspace_id, id))!), 200);
    },
  )
  .openapi(
    workspaceRoute("admin", {
      method: "delete",
      path: "/v1/{workspace_id}/phone-numbers/{id}",
      tags,
      summary: "Remove a phone number",
      request: { params: WorkspaceItemParams },
      responses: { 204: { description: "Removed" } },
    }),
    async (c) => {
      const { workspace_id, id } = c.req.valid("param");
      const db = database(c.env.DB);
      if (!(await findPhoneNumber(db, workspace_id, id))) throw notFound("Phone number");
      await audited(c, { action: "phone_number.deleted", targetType: "phone_number", targetId: id }, [
        db
          .delete(phoneNumbers)
          .where(and(eq(phoneNumbers.workspaceId, workspace_id), eq(phoneNumbers.id, id))),
      ]);
      return c.body(null, 204);
    },
  );
