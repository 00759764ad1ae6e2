/**
 * `/v1/{workspace_id}/deliveries`: the outbox, every message sent to a workspace's patients (a call's
 * replies, the agent's texts, surface links), newest first, filtered by channel, status, purpose, surface
 * or call. Operators read it. Addresses and bodies stay sealed, except in a development deployment, where
 * the outbox is how a developer sees what the local adapters would have sent.
 */
import type { z } from "zod";
import { listOf, WorkspaceParams } from "../../shared/schemas/common";
import { DeliveryListQuery, DeliverySchema } from "../../shared/schemas/deliveries";
import { database } from "../db/client";
import { type DeliveryFilter, type DeliveryRow, listDeliveriesPage } from "../db/deliveries";
import { ApiError } from "../errors";
import { openDelivery } from "../telephony/messaging";
import { decodeToken, encodeToken } from "./pagination";
import { jsonResponse, router, workspaceRoute } from "./router";

const tags = ["Deliveries"];
const DeliveryList = listOf(DeliverySchema, "DeliveryList");

export async function deliveryView(env: Env, row: DeliveryRow): Promise<z.infer<typeof DeliverySchema>> {
  const view: z.infer<typeof DeliverySchema> = {
    id: row.id,
    channel: row.channel,
    purpose: row.purpose,
    status: row.status,
    provider: row.provider,
    provider_id: row.providerId,
    call_id: row.callId,
    surface_id: row.surfaceId,
    error_code: row.errorCode,
    attempts: row.attempts,
    created_at: row.createdAt,
    sent_at: row.sentAt,
    updated_at: row.updatedAt,
  };
  if (env.ENVIRONMENT !== "development") return view;
  try {
    return { ...view, message: await openDelivery(env, row) };
  } catch {
    // A field that does not open (a rotated key) leaves the message out rather than failing the list.
    return view;
  }
}

export const deliveriesApi = router().openapi(
  workspaceRoute("operator", {
    method: "get",
    path: "/v1/{workspace_id}/deliveries",
    tags,
    summary: "The outbox: messages sent to patients, newest first",
    description:
      "Every SMS, WhatsApp message and email queued for a patient, with its status. The recipient and " +
      "text (`message`) are shown only by development deployments.",
    request: { params: WorkspaceParams, query: DeliveryListQuery },
    responses: { 200: jsonResponse(DeliveryList, "Deliveries") },
  }),
  async (c) => {
    const { workspace_id } = c.req.valid("param");
    const q = c.req.valid("query");
    const filter: DeliveryFilter = {
      channel: q.channel,
      status: q.status,
      purpose: q.purpose,
      surfaceId: q.surface_id,
      callId: q.call_id,
    };
    let offset = q.offset;
    if (q.continuation_token) {
      const key = decodeToken(q.continuation_token);
      if (key.length !== 2 || typeof key[0] !== "string" || typeof key[1] !== "string") {
        throw new ApiError("invalid_continuation_token", "Not a deliveries page token");
      }
      filter.before = [key[0], key[1]];
      offset = 0;
    }
    const { rows, total } = await listDeliveriesPage(
      database(c.env.DB),
      workspace_id,
      filter,
      q.limit,
      offset,
    );
    const last = rows.at(-1);
    const token = rows.length === q.limit && last ? encodeToken([last.createdAt, last.id]) : null;
    const results = await Promise.all(rows.map((row) => deliveryView(c.env, row)));
    return c.json({ results, total, continuation_token: token }, 200);
  },
);
