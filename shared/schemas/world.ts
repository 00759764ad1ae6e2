/** The world model as the API accepts and shows it. */
import { z } from "zod";
import { utf8 } from "../encoding";
import { ENTITY_TYPES, EVENT_TYPE_NAMES, SOURCES } from "../world/events";
import { MATCH_KINDS } from "../world/resolution";
import { PageQuery, ResourceId, Timestamp } from "./common";

export const EntityTypeSchema = z.enum(ENTITY_TYPES).meta({ id: "EntityType" });
export const SourceSchema = z.enum(SOURCES).meta({ id: "Source" });

/** `source:ResourceType:id`, e.g. `ehr:Patient:12345`. */
export const ExternalId = z
  .string()
  .max(200)
  .regex(/^[a-z0-9_.-]+:[A-Za-z]+:[A-Za-z0-9._-]+$/, "source:ResourceType:id");

export const MAX_EVENT_DATA_BYTES = 16 * 1024;

export const IngestEvent = z
  .strictObject({
    idempotency_key: z.string().min(1).max(200),
    entity_id: ResourceId.optional().meta({ description: "An existing entity" }),
    entity: z
      .strictObject({ entity_type: EntityTypeSchema, external_id: ExternalId })
      .optional()
      .meta({ description: "Or: the entity with this external id, created if new" }),
    event_type: z.enum(EVENT_TYPE_NAMES),
    data: z.unknown(),
    confidence: z
      .number()
      .min(0)
      .max(1)
      .optional()
      .meta({ description: "Defaults by source (authoritative 1.0)" }),
    source: SourceSchema,
    source_system: z.string().max(100).optional(),
    produced_by: z.string().max(100).optional(),
    effective_at: z.iso.datetime({ offset: true }).optional(),
    supersedes: z.string().max(64).optional(),
    fhir_resource_type: z
      .string()
      .regex(/^[A-Z][A-Za-z]{1,63}$/)
      .optional(),
    fhir_resource_id: z
      .string()
      .regex(/^[A-Za-z0-9.-]{1,64}$/)
      .optional(),
  })
  .refine(
    (e) => (e.entity_id === undefined) !== (e.entity === undefined),
    "give exactly one of entity_id or entity",
  )
  .refine(
    (e) => utf8.encode(JSON.stringify(e.data ?? null)).byteLength <= MAX_EVENT_DATA_BYTES,
    `data is larger than ${MAX_EVENT_DATA_BYTES} bytes`,
  )
  .meta({ id: "IngestEvent" });
export type IngestEvent = z.infer<typeof IngestEvent>;

export const IngestRequest = z.strictObject({ events: z.array(IngestEvent).min(1).max(1000) });

export const IngestResult = z
  .object({
    results: z.array(
      z.object({
        idempotency_key: z.string(),
        event_id: z.string(),
        entity_id: z.string(),
        status: z.enum(["stored", "duplicate"]),
      }),
    ),
    stored: z.number().int(),
    duplicates: z.number().int(),
  })
  .meta({ id: "IngestResult" });

export const FactSchema = z
  .object({
    path: z.string(),
    value: z.unknown(),
    confidence: z.number(),
    source: z.string(),
    effective_at: Timestamp,
    event_id: z.string(),
    safety_critical: z.boolean(),
  })
  .meta({ id: "Fact" });

export const EntitySummarySchema = z
  .object({
    id: z.string(),
    entity_type: EntityTypeSchema,
    display_name: z.string().nullable(),
    source: z.string(),
    confidence: z.number(),
    merged_into: z.string().nullable(),
    event_count: z.number().int(),
    last_event_at: Timestamp.nullable(),
    created_at: Timestamp,
  })
  .meta({ id: "EntitySummary" });

export const EntityDetailSchema = EntitySummarySchema.extend({
  facts: z.array(FactSchema),
}).meta({ id: "EntityDetail" });

export const EntitySearchQuery = PageQuery.omit({ continuation_token: true }).extend({
  q: z.string().trim().max(100).optional(),
  entity_type: EntityTypeSchema.optional(),
  source: SourceSchema.optional(),
  confidence_min: z.coerce.number().min(0).max(1).optional(),
});

export const EntitySearchResult = z
  .object({ results: z.array(EntitySummarySchema), total: z.number().int() })
  .meta({ id: "EntitySearchResult" });

export const ResolveRequest = z
  .strictObject({
    entity_type: EntityTypeSchema.default("patient"),
    phone: z.string().max(32).optional(),
    email: z.email().max(254).optional(),
    given_name: z.string().max(100).optional(),
    family_name: z.string().max(100).optional(),
    birth_date: z.iso.date().optional(),
    external_id: ExternalId.optional(),
  })
  .refine(
    (r) => r.phone || r.email || r.external_id || (r.given_name && r.family_name && r.birth_date),
    "give a phone, an email, an external_id, or given_name + family_name + birth_date",
  );

export const ResolveResult = z
  .object({
    candidates: z.array(
      z.object({
        entity_id: z.string(),
        display_name: z.string().nullable(),
        match_confidence: z.number(),
        matched_on: z.array(z.enum(MATCH_KINDS)),
      }),
    ),
  })
  .meta({ id: "ResolveResult" });

export const EdgeSchema = z
  .object({
    id: z.string(),
    from_id: z.string(),
    to_id: z.string(),
    edge_type: z.string(),
    confidence: z.number(),
    source: z.string(),
    created_at: Timestamp,
  })
  .meta({ id: "Edge" });

export const TranscriptTurnSchema = z.strictObject({
  speaker: z.enum(["caller", "agent", "operator"]),
  text: z.string().max(4000),
});

export const ExtractionRequest = z
  .strictObject({
    entity_id: ResourceId,
    interaction_id: z.string().min(1).max(64),
    channel: z.enum(["voice", "sms", "surface"]),
    transcript: z.array(TranscriptTurnSchema).max(1000),
    facts: z
      .array(
        z.strictObject({
          event_type: z.enum(EVENT_TYPE_NAMES),
          data: z.unknown(),
          basis: z.enum(["agent_confirmed", "agent_mentioned", "agent_inferred", "surface_submission"]),
        }),
      )
      .min(1)
      .max(50),
  })
  .meta({ id: "ExtractionRequest" });
export type ExtractionRequest = z.infer<typeof ExtractionRequest>;

export const ExtractionResult = z
  .object({
    results: z.array(
      z.object({
        path: z.string(),
        extracted_event_id: z.string(),
        promoted_event_id: z.string().nullable(),
        review_item_id: z.string().nullable(),
        verified: z.boolean(),
        priority: z.enum(["high", "medium", "low"]),
        reasons: z.array(z.string()),
      }),
    ),
  })
  .meta({ id: "ExtractionResult" });
