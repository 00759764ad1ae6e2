/**
 * Outreach settings as the API accepts and shows them: the fatigue gates every new surface passes, the
 * gap scanner's requirements, its run results, the recorded gate decisions, and surface analytics. Shared
 * by the Worker (validation, OpenAPI) and the dashboard (types only).
 */
import { z } from "zod";
import { DisplayName, PageQuery, ResourceId, Timestamp, WorkspaceId } from "./common";

export const SURFACE_CHANNELS = ["sms", "whatsapp", "email", "voice", "web"] as const;
export const SurfaceChannelSchema = z.enum(SURFACE_CHANNELS);
export const SURFACE_STATUSES = [
  "created",
  "delivered",
  "opened",
  "partial",
  "completed",
  "expired",
  "archived",
] as const;
/** Sent and not finished: what counts against a patient's pending limit. */
export const PENDING_STATUSES = ["created", "delivered", "opened", "partial"] as const;

/** The fatigue gates; every key has a default, so `{}` is the default configuration. */
export const SurfaceGates = z
  .strictObject({
    cooldown_hours: z
      .number()
      .min(0)
      .max(24 * 90)
      .default(48)
      .meta({ description: "No new surface for a patient within this many hours of their last one" }),
    max_pending_per_patient: z
      .number()
      .int()
      .min(1)
      .max(50)
      .default(3)
      .meta({ description: "No new surface while the patient holds this many unfinished ones" }),
    min_completion_rate: z
      .number()
      .min(0)
      .max(1)
      .default(0.2)
      .meta({ description: "Block patients who complete less than this share of their surfaces" }),
    completion_rate_after: z
      .number()
      .int()
      .min(1)
      .max(100)
      .default(3)
      .meta({ description: "The completion-rate gate applies once this many surfaces are closed" }),
    max_surfaces_per_run: z
      .number()
      .int()
      .min(0)
      .max(10_000)
      .default(100)
      .meta({ description: "The most surfaces one scanner run creates" }),
    verbal_after_pending: z
      .number()
      .int()
      .min(1)
      .max(50)
      .default(3)
      .meta({ description: "With this many unfinished surfaces, ask on the next call instead" }),
  })
  .meta({ id: "SurfaceGates" });
export type SurfaceGates = z.infer<typeof SurfaceGates>;

export const SurfaceSettingsSchema = z
  .object({ gates: SurfaceGates, updated_at: Timestamp.nullable() })
  .meta({ id: "SurfaceSettings" });
export const SurfaceSettingsUpdate = z
  .strictObject({ gates: SurfaceGates })
  .meta({ id: "SurfaceSettingsUpdate" });

/** A world-model path or prefix (`contact.email`, `coverage`, `coverage.`: any coverage fact). */
const RequiredPath = z
  .string()
  .max(120)
  .regex(/^[a-z][a-z0-9_]*(\.[a-z0-9_-]+)*\.?$/, "a dotted world-model path such as contact.email")
  .transform((p) => p.replace(/\.$/, ""));

export const GAP_TRIGGERS = ["upcoming_appointment", "recent_interaction"] as const;
export const GAP_PRIORITIES = ["high", "medium", "low"] as const;

const RequirementFields = {
  name: DisplayName,
  trigger: z.enum(GAP_TRIGGERS).meta({
    description:
      "`upcoming_appointment`: patients with an appointment starting within `lookahead_hours`; " +
      "`recent_interaction`: patients with an interaction in the last `lookahead_hours`",
  }),
  lookahead_hours: z
    .number()
    .int()
    .min(1)
    .max(24 * 90),
  required_paths: z.array(RequiredPath).min(1).max(20),
  channel: SurfaceChannelSchema,
  priority: z.enum(GAP_PRIORITIES).default("medium"),
  template_id: ResourceId.nullable().default(null).meta({
    description: "A workspace template to send instead of a form built from the missing paths",
  }),
  enabled: z.boolean().default(true),
};

export const GapRequirementCreate = z.strictObject(RequirementFields).meta({ id: "GapRequirementCreate" });
export const GapRequirementPatch = z
  .strictObject({
    name: RequirementFields.name.optional(),
    trigger: RequirementFields.trigger.optional(),
    lookahead_hours: RequirementFields.lookahead_hours.optional(),
    required_paths: RequirementFields.required_paths.optional(),
    channel: SurfaceChannelSchema.optional(),
    priority: z.enum(GAP_PRIORITIES).optional(),
    template_id: ResourceId.nullable().optional(),
    enabled: z.boolean().optional(),
  })
  .refine((p) => Object.keys(p).length > 0, "at least one field")
  .meta({ id: "GapRequirementPatch" });

export const GapRequirementSchema = z
  .object({
    id: ResourceId,
    workspace_id: WorkspaceId,
    name: z.string(),
    trigger: z.enum(GAP_TRIGGERS),
    lookahead_hours: z.number().int(),
    required_paths: z.array(z.string()),
    channel: SurfaceChannelSchema,
    priority: z.enum(GAP_PRIORITIES),
    template_id: ResourceId.nullable(),
    enabled: z.boolean(),
    created_at: Timestamp,
    updated_at: Timestamp,
  })
  .meta({ id: "GapRequirement" });
export const GapRequirementList = z
  .object({ results: z.array(GapRequirementSchema), total: z.number().int() })
  .meta({ id: "GapRequirementList" });
export const GapRequirementParams = z.object({ workspace_id: WorkspaceId, id: ResourceId });

const Planned = z.object({
  entity_id: z.string(),
  requirement_id: z.string(),
  reason: z.string(),
  channel: SurfaceChannelSchema.nullable(),
  missing_paths: z.array(z.string()),
});
export const ScannerResultSchema = z
  .object({
    run_id: z.string(),
    dry_run: z.boolean(),
    considered: z.number().int().meta({ description: "Patient and requirement pairs looked at" }),
    created: z.array(
      Planned.extend({
        surface_id: z.string().nullable().meta({ description: "Null in a dry run" }),
        delivered: z.boolean().nullable(),
      }),
    ),
    blocked: z.array(Planned),
    verbal: z.array(Planned),
    skipped: z.object({
      complete: z.number().int().meta({ description: "Nothing required was missing" }),
      pending_surface: z.number().int().meta({ description: "Already holding an unfinished surface for it" }),
      recently_decided: z.number().int().meta({ description: "Blocked or sent verbal within the cooldown" }),
      nothing_to_ask: z.number().int().meta({ description: "Missing paths no form field can collect" }),
    }),
  })
  .meta({ id: "ScannerResult" });
export type ScannerResult = z.infer<typeof ScannerResultSchema>;

export const GATE_DECISIONS = ["allow", "block", "verbal"] as const;
export const GateDecisionSchema = z
  .object({
    id: z.string(),
    entity_id: z.string(),
    requirement_id: z.string().nullable(),
    run_id: z.string().nullable(),
    decision: z.enum(GATE_DECISIONS),
    reason: z.string(),
    channel: z.string().nullable(),
    surface_id: z.string().nullable(),
    at: Timestamp,
  })
  .meta({ id: "GateDecision" });
export const GateDecisionList = z
  .object({
    results: z.array(GateDecisionSchema),
    total: z.number().int(),
    continuation_token: z.string().nullable(),
  })
  .meta({ id: "GateDecisionList" });
export const GateDecisionQuery = PageQuery.extend({
  entity_id: ResourceId.optional(),
  decision: z.enum(GATE_DECISIONS).optional(),
  run_id: ResourceId.optional(),
});

export const AnalyticsQuery = z
  .object({
    from: z.iso.datetime({ offset: true }).optional().meta({ description: "Default: 30 days before `to`" }),
    to: z.iso.datetime({ offset: true }).optional().meta({ description: "Default: now" }),
  })
  .refine((q) => !q.from || !q.to || Date.parse(q.from) <= Date.parse(q.to), "from must not be after to");

const Durations = z.object({
  count: z.number().int(),
  median_seconds: z.number().nullable(),
  p90_seconds: z.number().nullable(),
});
export const SurfaceAnalyticsSchema = z
  .object({
    from: Timestamp,
    to: Timestamp,
    total: z.number().int(),
    completed: z.number().int(),
    by_status: z.record(z.string(), z.number().int()),
    by_channel: z.array(
      z.object({
        channel: z.string(),
        total: z.number().int(),
        completed: z.number().int(),
        completion_rate: z.number().nullable(),
      }),
    ),
    time_to_complete: z.object({ from_created: Durations, from_delivered: Durations }),
    abandonment: z
      .array(
        z.object({
          title: z.string(),
          template_id: z.string().nullable(),
          field_key: z
            .string()
            .nullable()
            .meta({ description: "The last field saved; null when opened and left before any" }),
          count: z.number().int(),
        }),
      )
      .meta({ description: "Unfinished surfaces by where patients stopped, most first" }),
  })
  .meta({ id: "SurfaceAnalytics" });
export type SurfaceAnalytics = z.infer<typeof SurfaceAnalyticsSchema>;

export const PatientHistoryParams = z.object({ workspace_id: WorkspaceId, entity_id: ResourceId });
export const PatientSurfaceHistorySchema = z
  .object({
    entity_id: z.string(),
    pending: z.number().int(),
    completed: z.number().int(),
    closed: z.number().int(),
    completion_rate: z.number().nullable(),
    preferred_channel: SurfaceChannelSchema.nullable(),
    last_created_at: Timestamp.nullable(),
    surfaces: z.array(
      z.object({
        id: z.string(),
        title: z.string(),
        status: z.enum(SURFACE_STATUSES),
        channel: SurfaceChannelSchema,
        answered: z.number().int(),
        required: z.number().int(),
        last_field_key: z.string().nullable(),
        created_at: Timestamp,
        delivered_at: Timestamp.nullable(),
        completed_at: Timestamp.nullable(),
      }),
    ),
    decisions: z.array(GateDecisionSchema),
  })
  .meta({ id: "PatientSurfaceHistory" });

export const WorkspaceOnlyParams = z.object({ workspace_id: WorkspaceId });
