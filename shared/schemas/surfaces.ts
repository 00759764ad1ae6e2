/**
 * `/v1/{workspace_id}/surfaces` and `/surface-templates`: what operators and integrators send and get
 * back. A surface's answers (and its spec's prefilled values) are PHI: the API shows them to operators
 * and above only.
 */
import { z } from "zod";
import { SurfaceSpec } from "../surfaces/spec";
import { DisplayName, PageQuery, ResourceId, Timestamp } from "./common";

export const SURFACE_STATUSES = [
  "created",
  "delivered",
  "opened",
  "partial",
  "completed",
  "expired",
  "archived",
] as const;
export const SURFACE_CHANNELS = ["sms", "whatsapp", "email", "voice", "web"] as const;
export const CREATED_BY_TYPES = ["agent", "operator", "api", "scanner"] as const;
export const TEMPLATE_KINDS = ["intake", "consent", "screening", "update"] as const;

/** 1 hour to 1 year (default 7 days). */
const TtlSeconds = z
  .number()
  .int()
  .min(3600)
  .max(365 * 24 * 3600)
  .meta({ description: "How long the link works: 1 hour to 1 year (default 7 days)" });

export const SurfaceChannelSchema = z.enum(SURFACE_CHANNELS).meta({ id: "SurfaceChannel" });

export const SurfaceCreateRequest = z
  .strictObject({
    entity_id: ResourceId.meta({ description: "The patient" }),
    spec: SurfaceSpec.optional().meta({ description: "The form; or give template_id" }),
    template_id: ResourceId.optional().meta({ description: "A workspace template to build it from" }),
    channel: SurfaceChannelSchema.default("sms"),
    ttl_seconds: TtlSeconds.optional(),
    prefill: z
      .boolean()
      .default(true)
      .meta({ description: "Fill target fields from the patient's current facts (never sensitive ones)" }),
  })
  .refine((r) => r.spec !== undefined || r.template_id !== undefined, {
    message: "give spec or template_id",
    path: ["spec"],
  })
  .meta({ id: "SurfaceCreateRequest" });

export const SurfacePatchRequest = z
  .strictObject({
    spec: SurfaceSpec.optional(),
    channel: SurfaceChannelSchema.optional(),
    ttl_seconds: TtlSeconds.optional().meta({ description: "Counted from when the surface was created" }),
  })
  .refine((r) => Object.keys(r).length > 0, "change at least one of spec, channel, ttl_seconds")
  .meta({ id: "SurfacePatchRequest" });

export const SurfaceDeliverRequest = z
  .strictObject({
    channel: SurfaceChannelSchema.optional().meta({ description: "Defaults to the surface's channel" }),
    to: z
      .union([z.string().regex(/^\+[1-9]\d{6,14}$/, "E.164 phone number"), z.email().max(254)])
      .optional()
      .meta({ description: "A phone number or email; defaults to the patient's contact on record" }),
  })
  .meta({ id: "SurfaceDeliverRequest" });

export const SurfaceReshapeRequest = z
  .strictObject({ channel: SurfaceChannelSchema.optional(), ttl_seconds: TtlSeconds.optional() })
  .meta({ id: "SurfaceReshapeRequest" });

export const SurfaceListQuery = PageQuery.extend({
  status: z.enum(SURFACE_STATUSES).optional(),
  entity_id: ResourceId.optional(),
  channel: z.enum(SURFACE_CHANNELS).optional(),
  created_by_type: z.enum(CREATED_BY_TYPES).optional(),
});

export const SurfaceSummarySchema = z
  .object({
    id: z.string(),
    entity_id: z.string(),
    parent_id: z.string().nullable(),
    template_id: z.string().nullable(),
    title: z.string(),
    status: z.enum(SURFACE_STATUSES),
    channel: z.enum(SURFACE_CHANNELS),
    created_by: z.object({ type: z.enum(CREATED_BY_TYPES), id: z.string().nullable() }),
    call_id: z.string().nullable(),
    field_count: z.number().int(),
    required_count: z.number().int(),
    answered_count: z.number().int(),
    last_field_key: z.string().nullable(),
    links_revoked: z.boolean(),
    expires_at: Timestamp,
    delivered_at: Timestamp.nullable(),
    opened_at: Timestamp.nullable(),
    completed_at: Timestamp.nullable(),
    created_at: Timestamp,
  })
  .meta({ id: "SurfaceSummary" });

export const SurfaceProgressSchema = z.object({
  answered: z.number().int(),
  required: z.number().int(),
  complete: z.boolean(),
  missing: z.array(z.string()).meta({ description: "Keys of visible required fields still unanswered" }),
});

export const SurfaceDetailSchema = SurfaceSummarySchema.extend({
  spec: z
    .record(z.string(), z.unknown())
    .meta({ description: "The spec; prefilled values only for operators and above" }),
  progress: SurfaceProgressSchema,
  answers: z
    .record(z.string(), z.unknown())
    .nullable()
    .meta({ description: "The answers by field key (operators and above; null for viewers)" }),
}).meta({ id: "SurfaceDetail" });

export const SurfaceDeliveryResultSchema = z
  .object({
    delivery_id: z.string().nullable().meta({ description: "The outbox row; null for voice and web" }),
    channel: z.enum(SURFACE_CHANNELS),
    link: z.string().meta({ description: "The short link sent (it hands out a fresh signed token)" }),
    surface: SurfaceSummarySchema,
  })
  .meta({ id: "SurfaceDeliveryResult" });

const PrefillPaths = z
  .record(
    z.string().regex(/^[a-z][a-z0-9_]{0,63}$/),
    z
      .string()
      .regex(/^[a-z][a-z0-9_-]*(\.[a-z0-9_-]+)*$/, "a world-model path like contact.email")
      .max(200),
  )
  .meta({ description: "Field key → the world-model path its prefill comes from" });

export const SurfaceTemplateCreateRequest = z
  .strictObject({
    name: DisplayName,
    kind: z.enum(TEMPLATE_KINDS),
    spec: SurfaceSpec,
    prefill_paths: PrefillPaths.default({}),
  })
  .meta({ id: "SurfaceTemplateCreateRequest" });

export const SurfaceTemplateImportRequest = z
  .strictObject({
    name: SurfaceTemplateCreateRequest.shape.name.optional().meta({
      description: "Defaults to the Questionnaire's title",
    }),
    kind: z.enum(TEMPLATE_KINDS).default("intake"),
    questionnaire: z
      .record(z.string(), z.unknown())
      .refine((q) => q.resourceType === "Questionnaire", "a FHIR Questionnaire (resourceType Questionnaire)")
      .meta({ description: "A FHIR R4 Questionnaire" }),
  })
  .meta({ id: "SurfaceTemplateImportRequest" });

export const SurfaceTemplateSchema = z
  .object({
    id: z.string(),
    name: z.string(),
    kind: z.enum(TEMPLATE_KINDS),
    spec: z.record(z.string(), z.unknown()),
    prefill_paths: z.record(z.string(), z.string()),
    created_at: Timestamp,
    updated_at: Timestamp,
  })
  .meta({ id: "SurfaceTemplate" });

export const SurfaceTemplateImportResultSchema = z
  .object({
    template: SurfaceTemplateSchema,
    warnings: z
      .array(z.object({ path: z.string(), message: z.string() }))
      .meta({ description: "What the import changed or could not carry over" }),
  })
  .meta({ id: "SurfaceTemplateImportResult" });
