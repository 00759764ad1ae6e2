/**
 * Data sources (the clinic's EHR connections) as the admin API accepts and shows them. Credentials are
 * write-only: they go in under `secrets` and come back only as `has_*` flags. A webhook secret is shown
 * once, in the answer that made it (create, rotate). Checks that need the deployment (which hosts a
 * base URL may name) or a crypto library (whether a private key imports) run in the route, on top of
 * these shapes. The type lists come from the connector's vocabulary (shared/ehr/vocabulary.ts).
 */
import { z } from "zod";
import { DATA_SOURCE_TYPES, INBOUND_RESOURCE_TYPES } from "../ehr/vocabulary";
import { DisplayName, ResourceId, Timestamp, TimeZone, WorkspaceId } from "./common";

export const SIGNING_ALGORITHMS = ["RS384", "ES384"] as const;

/** Parses what the `url` check may already have refused (zod runs every refinement regardless). */
const parseUrl = (url: string): URL | null => {
  try {
    return new URL(url);
  } catch {
    return null;
  }
};

/** An absolute http(s) URL without credentials, query or fragment; the route checks https and the host. */
export const FhirUrl = z
  .url({ protocol: /^https?$/ })
  .max(2000)
  .refine((url) => {
    const parsed = parseUrl(url);
    return !parsed || (!parsed.username && !parsed.password);
  }, "may not carry credentials: give them under auth and secrets")
  .refine((url) => {
    const parsed = parseUrl(url);
    return !parsed || (!parsed.search && !parsed.hash);
  }, "may not have a query or fragment")
  .transform((url) => {
    const parsed = new URL(url);
    return `${parsed.origin}${parsed.pathname.replace(/\/+$/, "")}`;
  });

/** SMART v1/v2 system scopes and the like: `system/*.read system/Appointment.cruds`. */
const Scope = z
  .string()
  .min(1)
  .max(2000)
  .regex(
    /^[A-Za-z0-9_*./:?=&|,-]+( [A-Za-z0-9_*./:?=&|,-]+)*$/,
    "space-separated scope tokens (letters, digits and _ * . / : ? = & | , -)",
  );

export const SourceAuthSchema = z
  .discriminatedUnion("type", [
    z.strictObject({ type: z.literal("none") }),
    z.strictObject({ type: z.literal("static_bearer") }),
    z.strictObject({
      type: z.literal("smart_backend"),
      client_id: z
        .string()
        .min(1)
        .max(200)
        .regex(/^[A-Za-z0-9._:@/+=-]+$/, "letters, digits and . _ : @ / + = -"),
      token_url: FhirUrl.optional().meta({
        description: "Discovered from `[base]/.well-known/smart-configuration` when absent",
      }),
      scope: Scope,
      alg: z.enum(SIGNING_ALGORITHMS),
      kid: z
        .string()
        .min(1)
        .max(200)
        .regex(/^[A-Za-z0-9._:@/+=-]+$/, "letters, digits and . _ : @ / + = -")
        .optional()
        .meta({ description: "The registered key's id; else the JWK's own kid, else its thumbprint" }),
    }),
  ])
  .meta({ id: "SourceAuth" });

/** RFC 6750 `b64token`: what a bearer token may contain. */
const BearerToken = z
  .string()
  .min(8)
  .max(4096)
  .regex(/^[A-Za-z0-9\-._~+/]+=*$/, "not a bearer token (RFC 6750 characters)");

const WebhookSecret = z
  .string()
  .min(24)
  .max(512)
  .regex(/^[A-Za-z0-9\-._~+/]+=*$/, "letters, digits and - . _ ~ + / =, at least 24");

/** Write-only credentials, each checked against the source's auth type and kind. */
export const SourceSecretsInput = z
  .strictObject({
    bearer_token: BearerToken.optional().meta({ description: "For static_bearer auth" }),
    private_key: z.string().min(1).max(16_384).optional().meta({
      description: "For smart_backend auth: a PKCS#8 PEM or a private JWK (as JSON text), for auth.alg",
    }),
    webhook_secret: WebhookSecret.optional().meta({
      description: "For fhir_webhook sources: generated when absent, and shown once",
    }),
  })
  .meta({ id: "SourceSecretsInput" });

const HourMinute = z.string().regex(/^([01]\d|2[0-3]):[0-5]\d$/, "HH:MM, 24-hour");

export const BusinessHoursSchema = z
  .strictObject({
    timezone: TimeZone,
    days: z
      .array(z.number().int().min(1).max(7))
      .min(1)
      .max(7)
      .refine((days) => new Set(days).size === days.length, "days repeat")
      .transform((days) => [...days].sort((a, b) => a - b))
      .meta({ description: "ISO weekdays, 1 = Monday … 7 = Sunday" }),
    start: HourMinute,
    end: HourMinute,
  })
  .refine((hours) => hours.start < hours.end, { message: "start must be before end", path: ["end"] })
  .meta({ id: "BusinessHours", description: "Polls run only inside these hours" });

const ResourceTypes = z
  .array(z.enum(INBOUND_RESOURCE_TYPES))
  .min(1)
  .max(INBOUND_RESOURCE_TYPES.length)
  .refine((types) => new Set(types).size === types.length, "resource types repeat");

const PollInterval = z.number().int().min(60).max(86_400);

export const DataSourceCreate = z
  .strictObject({
    name: DisplayName,
    type: z.enum(DATA_SOURCE_TYPES),
    base_url: FhirUrl.meta({ description: "The FHIR R4 base, e.g. https://ehr.example.com/fhir/R4" }),
    source_system: z
      .string()
      .min(1)
      .max(64)
      .regex(/^[a-z0-9_.-]+$/, "lowercase letters, digits and _ . -")
      .default("ehr"),
    auth: SourceAuthSchema,
    secrets: SourceSecretsInput.default({}),
    resource_types: ResourceTypes.default([...INBOUND_RESOURCE_TYPES]),
    poll_interval_seconds: PollInterval.default(300),
    business_hours: BusinessHoursSchema.nullable().default(null),
    writeback: z.boolean().default(false),
  })
  .meta({ id: "DataSourceCreate" });

/** Each field given replaces the stored one; a secret given replaces that secret only. */
export const DataSourceUpdate = z
  .strictObject({
    name: DisplayName,
    base_url: DataSourceCreate.shape.base_url,
    source_system: DataSourceCreate.shape.source_system.unwrap(),
    auth: SourceAuthSchema,
    secrets: SourceSecretsInput,
    resource_types: ResourceTypes,
    poll_interval_seconds: PollInterval,
    business_hours: BusinessHoursSchema.nullable(),
    writeback: z.boolean(),
  })
  .partial()
  .refine((v) => Object.keys(v).length > 0, "nothing to update")
  .meta({ id: "DataSourceUpdate" });

export const DataSourceSchema = z
  .object({
    id: ResourceId,
    workspace_id: WorkspaceId,
    name: z.string(),
    type: z.enum(DATA_SOURCE_TYPES),
    base_url: z.string(),
    source_system: z.string(),
    auth: SourceAuthSchema,
    has_bearer_token: z.boolean(),
    has_private_key: z.boolean(),
    has_webhook_secret: z.boolean(),
    webhook_url: z
      .string()
      .nullable()
      .meta({ description: "For fhir_webhook sources: where the EHR sends notifications" }),
    resource_types: z.array(z.enum(INBOUND_RESOURCE_TYPES)),
    poll_interval_seconds: z.number().int(),
    business_hours: BusinessHoursSchema.nullable(),
    writeback: z.boolean(),
    enabled: z.boolean(),
    status: z.enum(["idle", "polling", "error"]),
    last_error: z.string().nullable(),
    last_poll_at: Timestamp.nullable(),
    last_success_at: Timestamp.nullable(),
    last_notification_at: Timestamp.nullable(),
    created_at: Timestamp,
    updated_at: Timestamp,
  })
  .meta({ id: "DataSource" });
export type DataSourceView = z.infer<typeof DataSourceSchema>;

/** The one answer that carries a webhook secret: after create (fhir_webhook) and after a rotation. */
export const DataSourceWithSecret = DataSourceSchema.extend({
  webhook_secret: z
    .string()
    .optional()
    .meta({ description: "Shown once: configure the EHR's Subscription header with it" }),
}).meta({ id: "DataSourceWithSecret" });

export const ConnectionTestSchema = z
  .object({
    ok: z.literal(true),
    fhir_version: z.string().nullable(),
    software: z.string().nullable().meta({ description: "CapabilityStatement.software name and version" }),
    latency_ms: z.number().int().meta({ description: "Of the CapabilityStatement request" }),
    auth_verified: z.boolean().meta({
      description: "An authenticated search on the first resource type answered (a count, no data)",
    }),
  })
  .meta({ id: "ConnectionTest" });

export const SyncRequested = z
  .object({ job_id: z.string(), data_source_id: ResourceId })
  .meta({ id: "SyncRequested" });
