/**
 * The EHR sync log as the API shows it (`/v1/{ws}/world/sync`), and the writes other features hand to the
 * writeback (`enqueueWriteback` in workers/ehr/writeback.ts): a surface's answers become a
 * QuestionnaireResponse, a call's summary a Communication, an appointment change an Appointment update.
 * Those payloads are PHI: they are sealed in `sync_events.payload_enc` and never returned.
 */
import { z } from "zod";
import { APPOINTMENT_STATUSES } from "../world/vocabulary";
import { ResourceId, Timestamp } from "./common";

export const SYNC_STATUSES = ["pending", "processing", "synced", "failed", "not_applicable"] as const;
export type SyncStatus = (typeof SYNC_STATUSES)[number];
export const SyncStatusSchema = z.enum(SYNC_STATUSES).meta({ id: "SyncStatus" });

/** Writes that do not come from a world fact; a fact's kind is its event domain (`allergy`, `contact`...). */
export const WRITEBACK_ITEM_KINDS = ["questionnaire_response", "communication", "appointment"] as const;
export type WritebackItemKind = (typeof WRITEBACK_ITEM_KINDS)[number];

const FhirResourceType = z.string().regex(/^[A-Z][A-Za-z]{1,63}$/, "a FHIR resource type");
const FhirId = z.string().regex(/^[A-Za-z0-9.-]{1,64}$/, "a FHIR id");
const IsoDateTime = z.iso.datetime({ offset: true });

export const SyncEventSchema = z
  .object({
    id: z.string(),
    kind: z.string().meta({
      description:
        "The fact's domain (allergy, contact...) or questionnaire_response, communication, appointment",
    }),
    status: SyncStatusSchema,
    attempts: z.number().int(),
    error: z.string().nullable().meta({ description: "Why the last attempt failed, or why nothing applies" }),
    entity_id: z.string().nullable(),
    entity_display_name: z.string().nullable(),
    world_event_id: z.string().nullable(),
    data_source_id: z
      .string()
      .nullable()
      .meta({ description: "The writeback sink; null until there is one" }),
    source_system: z.string().nullable(),
    fhir_resource_type: z.string().nullable(),
    fhir_resource_id: z.string().nullable(),
    created_at: Timestamp,
    updated_at: Timestamp,
    synced_at: Timestamp.nullable(),
  })
  .meta({ id: "SyncEvent" });

export const SyncLogQuery = z.object({
  status: SyncStatusSchema.optional(),
  data_source_id: ResourceId.optional(),
  source_system: z
    .string()
    .regex(/^[a-z0-9_.-]{1,100}$/)
    .optional(),
  fhir_resource_type: FhirResourceType.optional(),
  fhir_resource_id: FhirId.optional(),
  limit: z.coerce.number().int().min(1).max(200).default(50),
  offset: z.coerce.number().int().min(0).max(100_000).default(0),
});

export const SyncLogSchema = z
  .object({ results: z.array(SyncEventSchema), total: z.number().int() })
  .meta({ id: "SyncLog" });

export const SyncRetryAllResult = z
  .object({
    retried: z.number().int().meta({ description: "Failed writes put back in the queue by this call" }),
    remaining: z
      .number()
      .int()
      .meta({ description: "Failed writes left for another call (at most 500 per call)" }),
  })
  .meta({ id: "SyncRetryAllResult" });

/** One answer, typed as FHIR's `QuestionnaireResponse.item.answer.value[x]`. */
const Answer = z.union([
  z.strictObject({ value_string: z.string().min(1).max(4000) }),
  z.strictObject({ value_boolean: z.boolean() }),
  z.strictObject({ value_integer: z.number().int() }),
  z.strictObject({ value_decimal: z.number() }),
  z.strictObject({ value_date: z.iso.date() }),
  z.strictObject({ value_date_time: IsoDateTime }),
  z.strictObject({
    value_coding: z.strictObject({
      system: z.url().max(300).optional(),
      code: z.string().min(1).max(100),
      display: z.string().max(300).optional(),
    }),
  }),
]);

export const QuestionnaireResponsePayload = z.strictObject({
  /** The surface (form) the patient submitted: the Provenance's source entity. */
  surface_id: z.string().min(1).max(64),
  /** The Questionnaire's canonical URL, when the form has one. */
  questionnaire: z.url().max(300).optional(),
  status: z.enum(["completed", "amended"]).default("completed"),
  authored: IsoDateTime,
  items: z
    .array(
      z.strictObject({
        link_id: z.string().min(1).max(100),
        text: z.string().max(500).optional(),
        answers: z.array(Answer).max(50).default([]),
      }),
    )
    .min(1)
    .max(200),
});
export type QuestionnaireResponsePayload = z.infer<typeof QuestionnaireResponsePayload>;

export const CommunicationPayload = z.strictObject({
  /** The call (or message thread): the Provenance's source entity. */
  interaction_id: z.string().min(1).max(64),
  channel: z.enum(["voice", "sms", "email", "whatsapp"]).default("voice"),
  direction: z.enum(["inbound", "outbound"]),
  occurred_at: IsoDateTime,
  summary: z.string().trim().min(1).max(8000),
  topics: z.array(z.string().min(1).max(60)).max(20).default([]),
});
export type CommunicationPayload = z.infer<typeof CommunicationPayload>;

/**
 * An appointment's status change (a cancellation, a no-show, an arrival). Times do not change here: a
 * reschedule moves the appointment's slots too, which is the scheduling module's job.
 */
export const AppointmentPayload = z.strictObject({
  /** The Appointment's id in the EHR; when absent, the appointment entity's FHIR id is used. */
  appointment_id: FhirId.optional(),
  status: z.enum(APPOINTMENT_STATUSES),
  cancelation_reason: z.string().max(500).optional(),
  /** Who asked for the change: the Provenance's second agent. */
  source: z.enum(["voice", "sms", "surface", "operator"]).default("voice"),
  interaction_id: z.string().min(1).max(64).optional(),
});
export type AppointmentPayload = z.infer<typeof AppointmentPayload>;

export const WRITEBACK_PAYLOADS = {
  questionnaire_response: QuestionnaireResponsePayload,
  communication: CommunicationPayload,
  appointment: AppointmentPayload,
} as const satisfies Record<WritebackItemKind, z.ZodType>;
