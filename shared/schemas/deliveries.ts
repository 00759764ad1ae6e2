/**
 * The outbox as the API shows it: every message sent to a patient, with its channel, purpose, status and
 * provider, never its address or body, except in a development deployment (`ENVIRONMENT = "development"`),
 * where the dashboard's Outbox stands in for the phone the local adapters do not text.
 */
import { z } from "zod";
import { PageQuery, ResourceId, Timestamp } from "./common";

export const DELIVERY_CHANNELS = ["sms", "whatsapp", "email"] as const;
export const DELIVERY_STATUSES = ["pending", "sent", "failed"] as const;

export const DeliveryListQuery = PageQuery.extend({
  channel: z.enum(DELIVERY_CHANNELS).optional(),
  status: z.enum(DELIVERY_STATUSES).optional(),
  purpose: z
    .string()
    .regex(/^[a-z][a-z0-9_]{0,39}$/, "a purpose like surface_link")
    .optional()
    .meta({ description: "call_reply, tool_sms, surface_link…" }),
  surface_id: ResourceId.optional(),
  call_id: ResourceId.optional(),
});

export const DeliverySchema = z
  .object({
    id: z.string(),
    channel: z.enum(DELIVERY_CHANNELS),
    purpose: z.string(),
    status: z.enum(DELIVERY_STATUSES),
    provider: z.string().meta({ description: "twilio, cloudflare, http, or local (recorded, not sent)" }),
    provider_id: z.string().nullable().meta({ description: "The provider's message id" }),
    call_id: z.string().nullable(),
    surface_id: z.string().nullable(),
    error_code: z.string().nullable().meta({ description: "The provider's error code when it failed" }),
    attempts: z.number().int(),
    created_at: Timestamp,
    sent_at: Timestamp.nullable(),
    updated_at: Timestamp,
    message: z
      .object({ to: z.string(), body: z.string() })
      .optional()
      .meta({ description: "Development deployments only: the recipient and the text" }),
  })
  .meta({ id: "Delivery" });
