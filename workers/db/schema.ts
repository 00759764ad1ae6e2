/**
 * The D1 schema: the system of record. `npm run db:generate` turns changes here into a migration in
 * `migrations/`. Every table holding workspace data has `workspace_id`, and every query filters on it.
 * Times are ISO-8601 UTC strings; JSON columns hold validated objects.
 */
import { sql } from "drizzle-orm";
import { index, integer, primaryKey, real, sqliteTable, text, uniqueIndex } from "drizzle-orm/sqlite-core";
import type { Role } from "../../shared/auth/roles";

const now = sql`(strftime('%Y-%m-%dT%H:%M:%fZ','now'))`;

/** A tenant: one clinic or clinic group. `id` is a readable slug (`demo`) and appears in every API path. */
export const workspaces = sqliteTable("workspaces", {
  id: text("id").primaryKey(),
  name: text("name").notNull(),
  timezone: text("timezone").notNull().default("UTC"),
  /** When set, members must have TOTP enrolled before they can use this workspace. */
  requireMfa: integer("require_mfa", { mode: "boolean" }).notNull().default(false),
  /** World-model settings: confidence by source, writeback and merge thresholds (shared/world/confidence.ts). */
  worldSettings: text("world_settings", { mode: "json" })
    .$type<Record<string, unknown>>()
    .notNull()
    .default({}),
  createdAt: text("created_at").notNull().default(now),
  updatedAt: text("updated_at").notNull().default(now),
});

/**
 * A person who signs in to the dashboard. Identity is global (one login, many workspaces); what they
 * may do lives in `memberships`. The TOTP secret is encrypted; failed logins drive the lockout.
 */
export const users = sqliteTable(
  "users",
  {
    id: text("id").primaryKey(),
    email: text("email").notNull(),
    name: text("name").notNull(),
    passwordHash: text("password_hash").notNull(),
    mfaEnabled: integer("mfa_enabled", { mode: "boolean" }).notNull().default(false),
    totpSecretEnc: text("totp_secret_enc"),
    /** A secret handed out by MFA setup, kept until the user proves a code from it. */
    totpPendingEnc: text("totp_pending_enc"),
    failedLoginCount: integer("failed_login_count").notNull().default(0),
    lockedUntil: text("locked_until"),
    createdAt: text("created_at").notNull().default(now),
    updatedAt: text("updated_at").notNull().default(now),
  },
  (t) => [uniqueIndex("users_email_unique").on(t.email)],
);

/** Which users belong to which workspace, and with which role. */
export const memberships = sqliteTable(
  "memberships",
  {
    workspaceId: text("workspace_id")
      .notNull()
      .references(() => workspaces.id),
    userId: text("user_id")
      .notNull()
      .references(() => users.id),
    role: text("role").$type<Role>().notNull(),
    createdAt: text("created_at").notNull().default(now),
  },
  (t) => [primaryKey({ columns: [t.workspaceId, t.userId] }), index("memberships_user_idx").on(t.userId)],
);

/** Dashboard sessions. The cookie's JWT names a row here, so a session can be revoked server-side. */
export const sessions = sqliteTable(
  "sessions",
  {
    id: text("id").primaryKey(),
    userId: text("user_id")
      .notNull()
      .references(() => users.id),
    mfaVerified: integer("mfa_verified", { mode: "boolean" }).notNull().default(false),
    createdAt: text("created_at").notNull().default(now),
    expiresAt: text("expires_at").notNull(),
    revokedAt: text("revoked_at"),
  },
  (t) => [index("sessions_user_idx").on(t.userId), index("sessions_expires_idx").on(t.expiresAt)],
);

/** Keys for integrations: one workspace, one role. Only a SHA-256 of the key is kept. */
export const apiKeys = sqliteTable(
  "api_keys",
  {
    id: text("id").primaryKey(),
    workspaceId: text("workspace_id")
      .notNull()
      .references(() => workspaces.id),
    name: text("name").notNull(),
    role: text("role").$type<Role>().notNull(),
    keyHash: text("key_hash").notNull(),
    keyHint: text("key_hint").notNull(),
    createdBy: text("created_by"),
    createdAt: text("created_at").notNull().default(now),
    expiresAt: text("expires_at"),
    revokedAt: text("revoked_at"),
    lastUsedAt: text("last_used_at"),
  },
  (t) => [
    uniqueIndex("api_keys_hash_unique").on(t.keyHash),
    index("api_keys_workspace_idx").on(t.workspaceId, t.createdAt),
  ],
);

/** A service is one agent configuration: a line such as "Scheduling" with its persona and rules. */
export const services = sqliteTable(
  "services",
  {
    id: text("id").primaryKey(),
    workspaceId: text("workspace_id")
      .notNull()
      .references(() => workspaces.id),
    name: text("name").notNull(),
    description: text("description").notNull().default(""),
    persona: text("persona", { mode: "json" }).$type<Record<string, unknown>>().notNull(),
    contextGraphId: text("context_graph_id"),
    /** How Twilio streams this service's calls: Media Streams (the HIPAA-eligible default) or ConversationRelay. */
    voiceTransport: text("voice_transport")
      .$type<"media_streams" | "conversation_relay">()
      .notNull()
      .default("media_streams"),
    escalationRules: text("escalation_rules", { mode: "json" }).$type<Record<string, unknown>>().notNull(),
    createdAt: text("created_at").notNull().default(now),
    updatedAt: text("updated_at").notNull().default(now),
  },
  (t) => [
    uniqueIndex("services_workspace_name_unique").on(t.workspaceId, t.name),
    index("services_workspace_created_idx").on(t.workspaceId, t.createdAt, t.id),
  ],
);

/**
 * A phone number the clinic owns, mapped to the service that answers it. E.164 is unique across the
 * deployment: an inbound call names only the number, and it must lead to exactly one service.
 */
export const phoneNumbers = sqliteTable(
  "phone_numbers",
  {
    id: text("id").primaryKey(),
    workspaceId: text("workspace_id")
      .notNull()
      .references(() => workspaces.id),
    e164: text("e164").notNull(),
    serviceId: text("service_id").references(() => services.id),
    label: text("label").notNull().default(""),
    createdAt: text("created_at").notNull().default(now),
    updatedAt: text("updated_at").notNull().default(now),
  },
  (t) => [
    uniqueIndex("phone_numbers_e164_unique").on(t.e164),
    index("phone_numbers_workspace_idx").on(t.workspaceId, t.createdAt, t.id),
    index("phone_numbers_service_idx").on(t.serviceId),
  ],
);

/**
 * Append-only, hash-chained record of every state change, one chain per workspace (account-level
 * events such as logins use the chain `_account`). `(workspace_id, seq)` is unique, so two writers can
 * never fork the chain: the loser retries on the new head.
 */
export const auditLog = sqliteTable(
  "audit_log",
  {
    id: text("id").primaryKey(),
    workspaceId: text("workspace_id").notNull(),
    seq: integer("seq").notNull(),
    actorType: text("actor_type").$type<"user" | "api_key" | "system" | "anonymous">().notNull(),
    actorId: text("actor_id"),
    action: text("action").notNull(),
    targetType: text("target_type"),
    targetId: text("target_id"),
    details: text("details", { mode: "json" }).$type<Record<string, unknown>>().notNull(),
    requestId: text("request_id"),
    createdAt: text("created_at").notNull(),
    prevHash: text("prev_hash").notNull(),
    hash: text("hash").notNull(),
  },
  (t) => [
    uniqueIndex("audit_log_workspace_seq_unique").on(t.workspaceId, t.seq),
    index("audit_log_workspace_action_idx").on(t.workspaceId, t.action, t.seq),
    index("audit_log_workspace_target_idx").on(t.workspaceId, t.targetType, t.targetId),
  ],
);

/**
 * Things the world model knows about: patients, practitioners, locations, appointments... The display
 * name is PHI, so it is stored encrypted; search goes through `entity_terms`. An entity found to be the
 * same as an older one points at it with `merged_into` (and a `same_as` edge records why).
 */
export const worldEntities = sqliteTable(
  "world_entities",
  {
    id: text("id").primaryKey(),
    workspaceId: text("workspace_id")
      .notNull()
      .references(() => workspaces.id),
    entityType: text("entity_type").notNull(),
    displayNameEnc: text("display_name_enc"),
    /** The source of the entity's first event, and the highest confidence of its identity facts. */
    source: text("source").notNull(),
    confidence: real("confidence").notNull().default(0),
    mergedInto: text("merged_into"),
    eventCount: integer("event_count").notNull().default(0),
    lastEventAt: text("last_event_at"),
    createdAt: text("created_at").notNull().default(now),
    updatedAt: text("updated_at").notNull().default(now),
  },
  (t) => [
    index("world_entities_type_idx").on(t.workspaceId, t.entityType, t.createdAt, t.id),
    index("world_entities_source_idx").on(t.workspaceId, t.source, t.confidence),
    index("world_entities_merged_idx")
      .on(t.workspaceId, t.mergedInto)
      .where(sql`${t.mergedInto} IS NOT NULL`),
  ],
);

/**
 * Blind indexes (HMAC per workspace) of identifying values: phone, email, name + birth date, external
 * ids. Entity resolution is an equality lookup here, without the values in clear.
 */
export const entityIdentifiers = sqliteTable(
  "entity_identifiers",
  {
    workspaceId: text("workspace_id").notNull(),
    kind: text("kind").notNull(),
    valueHash: text("value_hash").notNull(),
    entityId: text("entity_id")
      .notNull()
      .references(() => worldEntities.id),
    createdAt: text("created_at").notNull().default(now),
  },
  (t) => [
    primaryKey({ columns: [t.workspaceId, t.kind, t.valueHash, t.entityId] }),
    index("entity_identifiers_entity_idx").on(t.entityId),
  ],
);

/** Blind-indexed name prefixes, for `q` search over encrypted display names. */
export const entityTerms = sqliteTable(
  "entity_terms",
  {
    workspaceId: text("workspace_id").notNull(),
    termHash: text("term_hash").notNull(),
    entityId: text("entity_id")
      .notNull()
      .references(() => worldEntities.id),
  },
  (t) => [
    primaryKey({ columns: [t.workspaceId, t.termHash, t.entityId] }),
    index("entity_terms_entity_idx").on(t.entityId),
  ],
);

/**
 * The world model's source of truth: append-only events, each with a source and a confidence. An
 * entity's state is the projection of its events (shared/world/projection.ts). `data` is encrypted.
 * `(workspace_id, idempotency_key)` is unique, so a re-delivered event is stored once.
 */
export const worldEvents = sqliteTable(
  "world_events",
  {
    id: text("id").primaryKey(),
    workspaceId: text("workspace_id")
      .notNull()
      .references(() => workspaces.id),
    entityId: text("entity_id")
      .notNull()
      .references(() => worldEntities.id),
    entityType: text("entity_type").notNull(),
    domain: text("domain").notNull(),
    eventType: text("event_type").notNull(),
    dataEnc: text("data_enc").notNull(),
    confidence: real("confidence").notNull(),
    source: text("source").notNull(),
    sourceSystem: text("source_system"),
    producedBy: text("produced_by"),
    effectiveAt: text("effective_at").notNull(),
    ingestedAt: text("ingested_at").notNull(),
    supersedes: text("supersedes"),
    fhirResourceType: text("fhir_resource_type"),
    fhirResourceId: text("fhir_resource_id"),
    /** Writeback state: `none` until a fact becomes eligible, then the EHR sync's own states. */
    syncStatus: text("sync_status").notNull().default("none"),
    idempotencyKey: text("idempotency_key").notNull(),
  },
  (t) => [
    uniqueIndex("world_events_idempotency_unique").on(t.workspaceId, t.idempotencyKey),
    index("world_events_entity_idx").on(t.workspaceId, t.entityId, t.effectiveAt),
    index("world_events_fhir_idx").on(t.workspaceId, t.fhirResourceType, t.fhirResourceId),
    index("world_events_ingested_idx").on(t.workspaceId, t.ingestedAt),
    index("world_events_supersedes_idx").on(t.workspaceId, t.supersedes),
    index("world_events_sync_idx").on(t.workspaceId, t.syncStatus).where(sql`${t.syncStatus} <> 'none'`),
  ],
);

/** Relations between entities: `same_as` (merges), `has_appointment`, `sees_practitioner`, `at_location`... */
export const worldEdges = sqliteTable(
  "world_edges",
  {
    id: text("id").primaryKey(),
    workspaceId: text("workspace_id")
      .notNull()
      .references(() => workspaces.id),
    fromId: text("from_id").notNull(),
    toId: text("to_id").notNull(),
    edgeType: text("edge_type").notNull(),
    confidence: real("confidence").notNull(),
    source: text("source").notNull(),
    details: text("details", { mode: "json" }).$type<Record<string, unknown>>().notNull().default({}),
    createdAt: text("created_at").notNull().default(now),
  },
  (t) => [
    uniqueIndex("world_edges_unique").on(t.workspaceId, t.fromId, t.toId, t.edgeType),
    index("world_edges_to_idx").on(t.workspaceId, t.toId),
    index("world_edges_type_idx").on(t.workspaceId, t.edgeType, t.confidence),
    index("world_edges_type_created_idx").on(t.workspaceId, t.edgeType, t.createdAt),
  ],
);

/**
 * The human review queue: facts the judge could not settle (or that need a person before writeback),
 * and uncertain entity matches. Proposed values and evidence are PHI, so they are encrypted.
 */
export const reviewItems = sqliteTable(
  "review_items",
  {
    id: text("id").primaryKey(),
    workspaceId: text("workspace_id")
      .notNull()
      .references(() => workspaces.id),
    kind: text("kind").$type<"fact" | "entity_match">().notNull(),
    entityId: text("entity_id").notNull(),
    /** The proposed event (kind fact) or the candidate duplicate entity (kind entity_match). */
    subjectId: text("subject_id").notNull(),
    path: text("path"),
    domain: text("domain").notNull(),
    payloadEnc: text("payload_enc").notNull(),
    /** 3 high (allergies, medications, safety), 2 medium, 1 low: ordered by this, then age. */
    priority: integer("priority").notNull(),
    status: text("status")
      .$type<"pending" | "approved" | "corrected" | "rejected">()
      .notNull()
      .default("pending"),
    claimedBy: text("claimed_by"),
    claimedAt: text("claimed_at"),
    decidedBy: text("decided_by"),
    decidedAt: text("decided_at"),
    decisionEventId: text("decision_event_id"),
    createdAt: text("created_at").notNull().default(now),
  },
  (t) => [
    index("review_items_queue_idx").on(t.workspaceId, t.status, t.priority, t.createdAt),
    index("review_items_entity_idx").on(t.workspaceId, t.entityId),
    /** Review statistics read the last days' decisions as a range, not every decision ever made. */
    index("review_items_decided_idx").on(t.workspaceId, t.decidedAt),
    uniqueIndex("review_items_subject_unique").on(t.workspaceId, t.kind, t.subjectId),
  ],
);

/** Memory L2: episodic patterns per patient, recomputed by cron from interactions (memory L1). */
export const memoryPatterns = sqliteTable(
  "memory_patterns",
  {
    workspaceId: text("workspace_id").notNull(),
    entityId: text("entity_id").notNull(),
    patterns: text("patterns", { mode: "json" }).$type<Record<string, unknown>>().notNull(),
    computedAt: text("computed_at").notNull(),
  },
  (t) => [primaryKey({ columns: [t.workspaceId, t.entityId] })],
);

/**
 * Where the world model's EHR data comes from and goes to: a FHIR R4 server polled by `_lastUpdated`
 * (`fhir_store`) or one that pushes Subscription notifications (`fhir_webhook`). `auth` holds the
 * non-secret half of the credentials (client id, token URL, scope, algorithm); the secrets (bearer
 * token, private key, webhook secret) are one encrypted JSON document and are never returned.
 */
export const dataSources = sqliteTable(
  "data_sources",
  {
    id: text("id").primaryKey(),
    workspaceId: text("workspace_id")
      .notNull()
      .references(() => workspaces.id),
    name: text("name").notNull(),
    type: text("type").$type<"fhir_store" | "fhir_webhook">().notNull(),
    baseUrl: text("base_url").notNull(),
    /** `source_system` of the world events this source produces, e.g. `ehr` (ids `ehr:Patient:123`). */
    sourceSystem: text("source_system").notNull(),
    auth: text("auth", { mode: "json" }).$type<Record<string, unknown>>().notNull(),
    secretsEnc: text("secrets_enc"),
    resourceTypes: text("resource_types", { mode: "json" }).$type<string[]>().notNull(),
    pollIntervalSeconds: integer("poll_interval_seconds").notNull().default(300),
    businessHours: text("business_hours", { mode: "json" }).$type<Record<string, unknown> | null>(),
    writeback: integer("writeback", { mode: "boolean" }).notNull().default(false),
    enabled: integer("enabled", { mode: "boolean" }).notNull().default(true),
    /** `idle`, `polling`, `error`: the connector's own state, with the last error's text. */
    status: text("status").notNull().default("idle"),
    lastError: text("last_error"),
    /** Per resource type, the newest `meta.lastUpdated` (and ids at it) already ingested. */
    cursors: text("cursors", { mode: "json" }).$type<Record<string, unknown>>().notNull().default({}),
    /** The last Subscription event number seen (R5 backport), to notice gaps. */
    lastEventNumber: integer("last_event_number"),
    lastPollStartedAt: text("last_poll_started_at"),
    lastPollAt: text("last_poll_at"),
    lastSuccessAt: text("last_success_at"),
    lastNotificationAt: text("last_notification_at"),
    createdAt: text("created_at").notNull().default(now),
    updatedAt: text("updated_at").notNull().default(now),
  },
  (t) => [
    uniqueIndex("data_sources_workspace_name_unique").on(t.workspaceId, t.name),
    index("data_sources_workspace_created_idx").on(t.workspaceId, t.createdAt, t.id),
    index("data_sources_enabled_idx").on(t.enabled, t.type),
  ],
);

/**
 * One row per resource version a source delivered (polled or pushed): applied, failed validation, or
 * skipped (a type Switchboard does not model). Unique per version, so a re-delivered notification or
 * an overlapping poll page writes nothing new. Errors name FHIR paths, never values.
 */
export const sourceEvents = sqliteTable(
  "source_events",
  {
    id: text("id").primaryKey(),
    workspaceId: text("workspace_id")
      .notNull()
      .references(() => workspaces.id),
    dataSourceId: text("data_source_id")
      .notNull()
      .references(() => dataSources.id),
    channel: text("channel").$type<"poll" | "webhook" | "manual" | "bundle">().notNull(),
    resourceType: text("resource_type").notNull(),
    resourceId: text("resource_id").notNull(),
    versionKey: text("version_key").notNull(),
    status: text("status").$type<"applied" | "failed" | "skipped">().notNull(),
    error: text("error"),
    eventsStored: integer("events_stored").notNull().default(0),
    entityId: text("entity_id"),
    receivedAt: text("received_at").notNull(),
  },
  (t) => [
    uniqueIndex("source_events_version_unique").on(
      t.workspaceId,
      t.dataSourceId,
      t.resourceType,
      t.resourceId,
      t.versionKey,
    ),
    index("source_events_source_time_idx").on(t.workspaceId, t.dataSourceId, t.receivedAt),
    index("source_events_time_idx").on(t.workspaceId, t.receivedAt),
  ],
);

/**
 * The sync log: one row per thing written back to the EHR (a verified fact, an appointment change, a
 * surface's QuestionnaireResponse, a call's Communication), with its attempts and outcome. The payload
 * (PHI) is encrypted. `idempotency_key` is unique per workspace, so scheduling the same write twice
 * makes one row.
 */
export const syncEvents = sqliteTable(
  "sync_events",
  {
    id: text("id").primaryKey(),
    workspaceId: text("workspace_id")
      .notNull()
      .references(() => workspaces.id),
    dataSourceId: text("data_source_id").references(() => dataSources.id),
    kind: text("kind").notNull(),
    worldEventId: text("world_event_id"),
    entityId: text("entity_id"),
    sourceSystem: text("source_system"),
    fhirResourceType: text("fhir_resource_type"),
    fhirResourceId: text("fhir_resource_id"),
    payloadEnc: text("payload_enc"),
    status: text("status")
      .$type<"pending" | "processing" | "synced" | "failed" | "not_applicable">()
      .notNull()
      .default("pending"),
    attempts: integer("attempts").notNull().default(0),
    error: text("error"),
    idempotencyKey: text("idempotency_key").notNull(),
    createdAt: text("created_at").notNull().default(now),
    updatedAt: text("updated_at").notNull().default(now),
    syncedAt: text("synced_at"),
  },
  (t) => [
    uniqueIndex("sync_events_idempotency_unique").on(t.workspaceId, t.idempotencyKey),
    index("sync_events_status_idx").on(t.workspaceId, t.status, t.createdAt),
    index("sync_events_source_idx").on(t.workspaceId, t.dataSourceId, t.createdAt),
    index("sync_events_fhir_idx").on(t.workspaceId, t.fhirResourceType, t.fhirResourceId),
  ],
);

/**
 * A service's context graph, one row per saved version (never edited: a change is a new version). The
 * graph is validated on save (shared/calls/context-graph.ts); `services.context_graph_id` names the
 * version calls use.
 */
export const contextGraphs = sqliteTable(
  "context_graphs",
  {
    id: text("id").primaryKey(),
    workspaceId: text("workspace_id")
      .notNull()
      .references(() => workspaces.id),
    serviceId: text("service_id")
      .notNull()
      .references(() => services.id),
    version: integer("version").notNull(),
    graph: text("graph", { mode: "json" }).$type<Record<string, unknown>>().notNull(),
    note: text("note").notNull().default(""),
    createdBy: text("created_by"),
    createdAt: text("created_at").notNull().default(now),
  },
  (t) => [uniqueIndex("context_graphs_service_version_unique").on(t.workspaceId, t.serviceId, t.version)],
);

/** Curated answers per service (hours, locations, directions, preparation, policies): what the agent may say. */
export const knowledgeEntries = sqliteTable(
  "knowledge_entries",
  {
    id: text("id").primaryKey(),
    workspaceId: text("workspace_id")
      .notNull()
      .references(() => workspaces.id),
    serviceId: text("service_id")
      .notNull()
      .references(() => services.id),
    kind: text("kind").notNull(),
    title: text("title").notNull(),
    body: text("body").notNull(),
    keywords: text("keywords", { mode: "json" }).$type<string[]>().notNull().default([]),
    createdAt: text("created_at").notNull().default(now),
    updatedAt: text("updated_at").notNull().default(now),
  },
  (t) => [index("knowledge_entries_service_idx").on(t.workspaceId, t.serviceId, t.kind)],
);

/**
 * One phone call or text conversation. The caller's number is PHI: sealed, with a blind index for
 * lookups. `provider_sid` (Twilio's CallSid / conversation id) is unique, so a re-delivered webhook
 * finds the same call. `status_rank` orders Twilio's statuses so a late callback never moves a call
 * backwards.
 */
export const calls = sqliteTable(
  "calls",
  {
    id: text("id").primaryKey(),
    workspaceId: text("workspace_id")
      .notNull()
      .references(() => workspaces.id),
    serviceId: text("service_id").references(() => services.id),
    phoneNumberId: text("phone_number_id"),
    channel: text("channel").$type<"voice" | "sms">().notNull(),
    direction: text("direction").$type<"inbound" | "outbound">().notNull(),
    transport: text("transport"),
    provider: text("provider").notNull().default("twilio"),
    providerSid: text("provider_sid").notNull(),
    toNumber: text("to_number").notNull(),
    fromNumberEnc: text("from_number_enc"),
    fromNumberHash: text("from_number_hash"),
    status: text("status").notNull(),
    statusRank: integer("status_rank").notNull().default(0),
    patientEntityId: text("patient_entity_id"),
    finalState: text("final_state"),
    escalated: integer("escalated", { mode: "boolean" }).notNull().default(false),
    qualityScore: real("quality_score"),
    durationSeconds: integer("duration_seconds"),
    recording: text("recording", { mode: "json" }).$type<Record<string, unknown> | null>(),
    startedAt: text("started_at").notNull(),
    answeredAt: text("answered_at"),
    endedAt: text("ended_at"),
    createdAt: text("created_at").notNull().default(now),
    updatedAt: text("updated_at").notNull().default(now),
  },
  (t) => [
    uniqueIndex("calls_provider_sid_unique").on(t.provider, t.providerSid),
    index("calls_workspace_started_idx").on(t.workspaceId, t.startedAt, t.id),
    index("calls_workspace_status_idx").on(t.workspaceId, t.status, t.startedAt),
    index("calls_from_idx").on(t.workspaceId, t.fromNumberHash),
  ],
);

/**
 * A call's timeline: provider callbacks, state transitions, tool calls, escalations. `dedupe_key` is
 * unique per call, so a re-delivered callback adds nothing. Data carries ids and codes, never PHI.
 */
export const callEvents = sqliteTable(
  "call_events",
  {
    id: text("id").primaryKey(),
    workspaceId: text("workspace_id")
      .notNull()
      .references(() => workspaces.id),
    callId: text("call_id")
      .notNull()
      .references(() => calls.id),
    kind: text("kind").notNull(),
    dedupeKey: text("dedupe_key").notNull(),
    data: text("data", { mode: "json" }).$type<Record<string, unknown>>().notNull().default({}),
    at: text("at").notNull(),
  },
  (t) => [
    uniqueIndex("call_events_dedupe_unique").on(t.callId, t.dedupeKey),
    index("call_events_call_idx").on(t.workspaceId, t.callId, t.at),
  ],
);

// ---------------------------------------------------------------------------------------------------------
// Surfaces: agent-generated forms on signed links (issue 6)

/**
 * A surface: a form for one patient, on a signed link. The spec (with prefilled values: PHI) is sealed
 * with the workspace key; the title is the operator-facing name ("Insurance update") and holds no PHI.
 * `token_jti` is the id of the one link that currently works (a new link revokes the old one);
 * `revoked_at` stops every link. Counts are kept here so lists and analytics never open the spec.
 */
export const surfaces = sqliteTable(
  "surfaces",
  {
    id: text("id").primaryKey(),
    workspaceId: text("workspace_id")
      .notNull()
      .references(() => workspaces.id),
    entityId: text("entity_id").notNull(),
    /** The surface this one was reshaped from (its unfilled fields), if any. */
    parentId: text("parent_id"),
    templateId: text("template_id"),
    title: text("title").notNull(),
    specEnc: text("spec_enc").notNull(),
    status: text("status")
      .$type<"created" | "delivered" | "opened" | "partial" | "completed" | "expired" | "archived">()
      .notNull(),
    channel: text("channel").$type<"sms" | "whatsapp" | "email" | "voice" | "web">().notNull(),
    /** Who made it: `agent` (on a call), `operator`, `scanner`, `api`. */
    createdByType: text("created_by_type").notNull(),
    createdById: text("created_by_id"),
    callId: text("call_id"),
    /** The gap requirement that asked for it (scanner), if any. */
    requirementId: text("requirement_id"),
    fieldCount: integer("field_count").notNull(),
    requiredCount: integer("required_count").notNull(),
    answeredCount: integer("answered_count").notNull().default(0),
    /** The key of the last field saved: where an unfinished surface was left (field-level abandonment). */
    lastFieldKey: text("last_field_key"),
    tokenJti: text("token_jti"),
    revokedAt: text("revoked_at"),
    expiresAt: text("expires_at").notNull(),
    deliveredAt: text("delivered_at"),
    openedAt: text("opened_at"),
    completedAt: text("completed_at"),
    archivedAt: text("archived_at"),
    createdAt: text("created_at").notNull().default(now),
    updatedAt: text("updated_at").notNull().default(now),
  },
  (t) => [
    index("surfaces_workspace_created_idx").on(t.workspaceId, t.createdAt, t.id),
    index("surfaces_workspace_status_idx").on(t.workspaceId, t.status, t.createdAt),
    index("surfaces_entity_idx").on(t.workspaceId, t.entityId, t.status),
    index("surfaces_expiry_idx").on(t.status, t.expiresAt),
  ],
);

/** One answer per surface and field (sealed); an upload's answer names its R2 object. Saved as typed. */
export const surfaceAnswers = sqliteTable(
  "surface_answers",
  {
    workspaceId: text("workspace_id")
      .notNull()
      .references(() => workspaces.id),
    surfaceId: text("surface_id")
      .notNull()
      .references(() => surfaces.id),
    fieldKey: text("field_key").notNull(),
    valueEnc: text("value_enc").notNull(),
    savedAt: text("saved_at").notNull(),
  },
  (t) => [primaryKey({ columns: [t.surfaceId, t.fieldKey] })],
);

/**
 * The outbox: every message sent to a patient (a call's SMS reply, a surface link), one row per
 * `dedupe_key`, with its channel, provider, status and attempts. Addresses and bodies are sealed.
 */
export const deliveries = sqliteTable(
  "deliveries",
  {
    id: text("id").primaryKey(),
    workspaceId: text("workspace_id")
      .notNull()
      .references(() => workspaces.id),
    dedupeKey: text("dedupe_key").notNull(),
    channel: text("channel").$type<"sms" | "whatsapp" | "email">().notNull(),
    /** What it is for: `call_reply`, `surface_link`, `tool_sms`… */
    purpose: text("purpose").notNull(),
    callId: text("call_id"),
    surfaceId: text("surface_id"),
    provider: text("provider").notNull(),
    status: text("status").$type<"pending" | "sent" | "failed">().notNull(),
    providerId: text("provider_id"),
    toEnc: text("to_enc").notNull(),
    fromEnc: text("from_enc"),
    bodyEnc: text("body_enc").notNull(),
    errorCode: text("error_code"),
    attempts: integer("attempts").notNull().default(0),
    createdAt: text("created_at").notNull().default(now),
    sentAt: text("sent_at"),
    updatedAt: text("updated_at").notNull().default(now),
  },
  (t) => [
    uniqueIndex("deliveries_dedupe_unique").on(t.workspaceId, t.dedupeKey),
    index("deliveries_workspace_created_idx").on(t.workspaceId, t.createdAt, t.id),
    index("deliveries_surface_idx").on(t.workspaceId, t.surfaceId),
    index("deliveries_call_idx").on(t.workspaceId, t.callId),
  ],
);

/** Workspace form templates (intake, consent, screening, update) with where their prefills come from. */
export const surfaceTemplates = sqliteTable(
  "surface_templates",
  {
    id: text("id").primaryKey(),
    workspaceId: text("workspace_id")
      .notNull()
      .references(() => workspaces.id),
    name: text("name").notNull(),
    kind: text("kind").$type<"intake" | "consent" | "screening" | "update">().notNull(),
    /** The spec without patient values (no PHI), plus `prefill_paths`: field key → world-model path. */
    spec: text("spec", { mode: "json" }).$type<Record<string, unknown>>().notNull(),
    prefillPaths: text("prefill_paths", { mode: "json" }).$type<Record<string, string>>().notNull(),
    createdAt: text("created_at").notNull().default(now),
    updatedAt: text("updated_at").notNull().default(now),
  },
  (t) => [uniqueIndex("surface_templates_name_unique").on(t.workspaceId, t.name)],
);

/**
 * What the gap scanner looks for: patients with an upcoming appointment (or a recent interaction)
 * within `lookahead_hours` whose world model lacks one of `required_paths` get a surface (from the
 * template, or built from the missing paths) on `channel`.
 */
export const gapRequirements = sqliteTable(
  "gap_requirements",
  {
    id: text("id").primaryKey(),
    workspaceId: text("workspace_id")
      .notNull()
      .references(() => workspaces.id),
    name: text("name").notNull(),
    trigger: text("trigger").$type<"upcoming_appointment" | "recent_interaction">().notNull(),
    lookaheadHours: integer("lookahead_hours").notNull(),
    requiredPaths: text("required_paths", { mode: "json" }).$type<string[]>().notNull(),
    channel: text("channel").$type<"sms" | "whatsapp" | "email" | "voice" | "web">().notNull(),
    priority: text("priority").$type<"high" | "medium" | "low">().notNull(),
    templateId: text("template_id"),
    enabled: integer("enabled", { mode: "boolean" }).notNull().default(true),
    createdAt: text("created_at").notNull().default(now),
    updatedAt: text("updated_at").notNull().default(now),
  },
  (t) => [index("gap_requirements_workspace_idx").on(t.workspaceId, t.enabled)],
);

/** Outreach gates per workspace (cooldown, pending and completion limits, per-run cap). */
export const surfaceSettings = sqliteTable("surface_settings", {
  workspaceId: text("workspace_id")
    .primaryKey()
    .references(() => workspaces.id),
  gates: text("gates", { mode: "json" }).$type<Record<string, unknown>>().notNull(),
  updatedAt: text("updated_at").notNull().default(now),
});

/** Every fatigue-gate decision with its reason: why a patient got a surface, was asked verbally, or not. */
export const gateDecisions = sqliteTable(
  "gate_decisions",
  {
    id: text("id").primaryKey(),
    workspaceId: text("workspace_id")
      .notNull()
      .references(() => workspaces.id),
    entityId: text("entity_id").notNull(),
    requirementId: text("requirement_id"),
    /** A scanner run's id, or the call that asked. */
    runId: text("run_id"),
    decision: text("decision").$type<"allow" | "block" | "verbal">().notNull(),
    reason: text("reason").notNull(),
    channel: text("channel"),
    surfaceId: text("surface_id"),
    at: text("at").notNull(),
  },
  (t) => [
    index("gate_decisions_workspace_idx").on(t.workspaceId, t.at),
    index("gate_decisions_entity_idx").on(t.workspaceId, t.entityId, t.at),
  ],
);

/**
 * Who takes escalated calls: a workspace member registered as an operator, with a type (routing by
 * the service's `operator_type`), skills (routing by `operator_skill`) and a status the operator sets
 * from the dashboard (`online` takes escalations, `busy` is on a call, `offline` is off duty).
 */
export const operators = sqliteTable(
  "operators",
  {
    workspaceId: text("workspace_id")
      .notNull()
      .references(() => workspaces.id),
    userId: text("user_id")
      .notNull()
      .references(() => users.id),
    type: text("type").$type<"clinical" | "administrative" | "crisis_counselor">().notNull(),
    skills: text("skills", { mode: "json" }).$type<string[]>().notNull().default([]),
    status: text("status").$type<"online" | "busy" | "offline">().notNull().default("offline"),
    statusChangedAt: text("status_changed_at").notNull().default(now),
    createdAt: text("created_at").notNull().default(now),
    updatedAt: text("updated_at").notNull().default(now),
  },
  (t) => [
    primaryKey({ columns: [t.workspaceId, t.userId] }),
    index("operators_routing_idx").on(t.workspaceId, t.status, t.type),
  ],
);

/**
 * One operator's involvement in one call: when the call asked for a person, when an operator
 * connected (opened it to listen or act), took over, handed back, transferred, and the wrap-up.
 * Operator metrics (time to connect, handle time, resolutions, active time) are SQL over this table.
 * A call escalated with nobody connected yet has a row with `operator_user_id` null.
 */
export const operatorAssignments = sqliteTable(
  "operator_assignments",
  {
    id: text("id").primaryKey(),
    workspaceId: text("workspace_id")
      .notNull()
      .references(() => workspaces.id),
    callId: text("call_id").notNull(),
    serviceId: text("service_id"),
    operatorUserId: text("operator_user_id"),
    /** When the call asked for a person (null: the operator joined a call that had not escalated). */
    escalatedAt: text("escalated_at"),
    escalationReason: text("escalation_reason"),
    connectedAt: text("connected_at"),
    takeoverAt: text("takeover_at"),
    handbackAt: text("handback_at"),
    transferredAt: text("transferred_at"),
    /** Milliseconds the operator was in control (takeover → hand back, summed). */
    activeMs: integer("active_ms").notNull().default(0),
    wrappedAt: text("wrapped_at"),
    outcome: text("outcome").$type<"resolved" | "callback_scheduled" | "transferred" | "unresolved">(),
    /** Wrap-up notes: PHI, sealed with the workspace key. */
    notesEnc: text("notes_enc"),
    createdAt: text("created_at").notNull().default(now),
    updatedAt: text("updated_at").notNull().default(now),
  },
  (t) => [
    uniqueIndex("operator_assignments_call_operator_unique").on(t.workspaceId, t.callId, t.operatorUserId),
    index("operator_assignments_workspace_idx").on(t.workspaceId, t.createdAt),
    index("operator_assignments_operator_idx").on(t.workspaceId, t.operatorUserId, t.createdAt),
  ],
);
