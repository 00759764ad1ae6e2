/**
 * Fixtures for the inbound connector's suites: data sources written straight to D1 (secrets sealed the
 * way workers/ehr/sources.ts seals them), the shared FHIR sandbox as the clinic's EHR, FHIR resources
 * with fresh ids, notifications sent to the webhook receiver, and counts of what a workspace holds.
 */
import { env } from "cloudflare:workers";
import { inject } from "vitest";
import { newId } from "../../shared/ids";
import type { BusinessHours, FhirResource, InboundResourceType } from "../../workers/ehr/contracts";
import { sealSecrets } from "../../workers/ehr/sources";
import { type ApiResponse, api } from "../helpers/http";
import { unique } from "../helpers/workspace";

export const ehr = () => inject("ehrSandbox");

/** Long enough for the admin API's rules (24+ characters of the token alphabet). */
export const webhookSecret = () => `whsec-${unique()}${unique()}${unique()}`;

export interface SourceOptions {
  type?: "fhir_store" | "fhir_webhook";
  baseUrl?: string;
  resourceTypes?: InboundResourceType[];
  webhookSecret?: string | null;
  /** What the source presents to the EHR (default: the sandbox's static token). */
  bearerToken?: string;
  enabled?: boolean;
  cursors?: Record<string, { last_updated: string }>;
  businessHours?: BusinessHours | null;
  pollIntervalSeconds?: number;
  status?: "idle" | "polling" | "error";
  lastPollStartedAt?: string | null;
  lastPollAt?: string | null;
  lastEventNumber?: number | null;
  sourceSystem?: string;
}

/** A data source of `workspaceId` reading the shared sandbox with its static token; returns its id. */
export async function insertSource(workspaceId: string, options: SourceOptions = {}): Promise<string> {
  const id = newId("ds");
  const secrets = await sealSecrets(env, workspaceId, id, {
    bearer_token: options.bearerToken ?? ehr().staticToken,
    ...(options.webhookSecret ? { webhook_secret: options.webhookSecret } : {}),
  });
  await env.DB.prepare(
    `INSERT INTO data_sources (id, workspace_id, name, type, base_url, source_system, auth, secrets_enc,
       resource_types, poll_interval_seconds, business_hours, enabled, status, cursors,
       last_poll_started_at, last_poll_at, last_event_number)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
  )
    .bind(
      id,
      workspaceId,
      `EHR ${unique()}`,
      options.type ?? "fhir_store",
      options.baseUrl ?? ehr().fhirBaseUrl,
      options.sourceSystem ?? "ehr",
      JSON.stringify({ type: "static_bearer" }),
      secrets,
      JSON.stringify(options.resourceTypes ?? ["Patient"]),
      options.pollIntervalSeconds ?? 300,
      options.businessHours ? JSON.stringify(options.businessHours) : null,
      options.enabled === false ? 0 : 1,
      options.status ?? "idle",
      JSON.stringify(options.cursors ?? {}),
      options.lastPollStartedAt ?? null,
      options.lastPollAt ?? null,
      options.lastEventNumber ?? null,
    )
    .run();
  return id;
}

export interface SourceState {
  status: string;
  last_error: string | null;
  cursors: Record<string, { last_updated: string }>;
  last_event_number: number | null;
  last_poll_started_at: string | null;
  last_poll_at: string | null;
  last_success_at: string | null;
  last_notification_at: string | null;
}

export async function sourceState(id: string): Promise<SourceState> {
  const row = await env.DB.prepare(
    `SELECT status, last_error, cursors, last_event_number, last_poll_started_at, last_poll_at,
       last_success_at, last_notification_at FROM data_sources WHERE id = ?`,
  )
    .bind(id)
    .first<SourceState & { cursors: string }>();
  if (!row) throw new Error(`no data source ${id}`);
  return { ...row, cursors: JSON.parse(row.cursors) };
}

/** What a delivery may write, per workspace: nothing of it may change when a delivery is a duplicate. */
export async function inboundCounts(workspaceId: string) {
  const tables = ["world_events", "world_entities", "source_events", "audit_log"] as const;
  const results = await env.DB.batch(
    tables.map((t) =>
      env.DB.prepare(`SELECT count(*) AS n FROM ${t} WHERE workspace_id = ?`).bind(workspaceId),
    ),
  );
  return Object.fromEntries(tables.map((t, i) => [t, (results[i]!.results[0] as { n: number }).n])) as Record<
    (typeof tables)[number],
    number
  >;
}

export interface SourceEventRow {
  channel: string;
  resource_type: string;
  resource_id: string;
  version_key: string;
  status: string;
  error: string | null;
  events_stored: number;
  entity_id: string | null;
}

export async function sourceEvents(workspaceId: string, dataSourceId: string): Promise<SourceEventRow[]> {
  const { results } = await env.DB.prepare(
    `SELECT channel, resource_type, resource_id, version_key, status, error, events_stored, entity_id
       FROM source_events WHERE workspace_id = ? AND data_source_id = ? ORDER BY received_at, rowid`,
  )
    .bind(workspaceId, dataSourceId)
    .all<SourceEventRow>();
  return results;
}

/** The entity a source's external id names (`ehr:Patient:<id>`), through the world API. */
export async function entityByExternalId(
  workspaceId: string,
  key: string,
  externalId: string,
): Promise<string | null> {
  const res = await api("POST", `/v1/${workspaceId}/world/entities/resolve`, {
    key,
    body: { entity_type: "patient", external_id: externalId },
  });
  if (res.status !== 200) throw new Error(`resolve answered ${res.status}: ${res.text}`);
  const exact = res.body.candidates.find((c: { matched_on: string[] }) =>
    c.matched_on.includes("external_id"),
  );
  return exact?.entity_id ?? null;
}

// ---------------------------------------------------------------------------------------------------------
// FHIR resources

/** Letters only: a fresh surname keeps identity resolution from merging patients of different tests. */
export const surname = () => `Z${unique().replace(/\d/g, (d) => "abcdefghij"[Number(d)]!)}`;

export function patient(overrides: Partial<FhirResource> = {}): FhirResource {
  return {
    resourceType: "Patient",
    id: `p-${unique()}`,
    meta: { versionId: "1", lastUpdated: "2026-11-20T10:00:00.000Z" },
    name: [{ use: "official", family: surname(), given: ["Ada"] }],
    gender: "female",
    birthDate: "1984-03-12",
    ...overrides,
  };
}

export function allergy(patientId: string, substance = "Penicillin"): FhirResource {
  return {
    resourceType: "AllergyIntolerance",
    id: `a-${unique()}`,
    meta: { versionId: "1", lastUpdated: "2026-11-20T10:00:00.000Z" },
    clinicalStatus: {
      coding: [
        { system: "http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical", code: "active" },
      ],
    },
    verificationStatus: {
      coding: [
        {
          system: "http://terminology.hl7.org/CodeSystem/allergyintolerance-verification",
          code: "confirmed",
        },
      ],
    },
    code: { text: substance },
    patient: { reference: `Patient/${patientId}` },
  };
}

/** Wrong types and a missing required element: what the validator must refuse. */
export const invalidPatient = (): FhirResource => ({
  resourceType: "Patient",
  id: `bad-${unique()}`,
  meta: { versionId: "1" },
  birthDate: 19840312,
  gender: "sometimes",
  name: [{ family: ["Qxvwz", "Jkqpv"] }],
});

// ---------------------------------------------------------------------------------------------------------
// The sandbox

const sandboxHeaders = () => ({
  Authorization: `Bearer ${ehr().staticToken}`,
  "Content-Type": "application/fhir+json",
  Accept: "application/fhir+json",
});

/** Creates (POST) or updates (PUT, when the resource has an id) a resource in the sandbox. */
export async function sandboxWrite(resource: FhirResource): Promise<FhirResource> {
  const url = resource.id
    ? `${ehr().fhirBaseUrl}/${resource.resourceType}/${resource.id}`
    : `${ehr().fhirBaseUrl}/${resource.resourceType}`;
  const res = await fetch(url, {
    method: resource.id ? "PUT" : "POST",
    headers: sandboxHeaders(),
    body: JSON.stringify(resource),
  });
  const body = (await res.json()) as FhirResource;
  if (res.status >= 300) throw new Error(`sandbox answered ${res.status}: ${JSON.stringify(body)}`);
  return body;
}

export async function sandboxRead(type: string, id: string): Promise<FhirResource> {
  const res = await fetch(`${ehr().fhirBaseUrl}/${type}/${id}`, { headers: sandboxHeaders() });
  if (res.status !== 200) throw new Error(`sandbox answered ${res.status}`);
  return (await res.json()) as FhirResource;
}

/** A new patient in the sandbox (no id given: the sandbox assigns one). */
export function sandboxPatient(family = surname()): Promise<FhirResource> {
  return sandboxWrite({
    resourceType: "Patient",
    name: [{ use: "official", family, given: ["Rosa"] }],
    gender: "female",
    birthDate: "1979-06-01",
  });
}

// ---------------------------------------------------------------------------------------------------------
// The webhook receiver

export interface WebhookOptions {
  secret?: string;
  /** Sign the body with this secret instead of sending it as a bearer token. */
  signWith?: string;
  contentType?: string;
  method?: "POST" | "PUT";
  /** Appended to the endpoint, as servers that PUT to `[endpoint]/[type]/[id]` do. */
  suffix?: string;
  headers?: Record<string, string>;
}

export async function hmacHex(secret: string, body: string): Promise<string> {
  const key = await crypto.subtle.importKey(
    "raw",
    new TextEncoder().encode(secret),
    { name: "HMAC", hash: "SHA-256" },
    false,
    ["sign"],
  );
  const mac = await crypto.subtle.sign("HMAC", key, new TextEncoder().encode(body));
  return [...new Uint8Array(mac)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

/** Sends a notification the way the sandbox (or another EHR) does: the body as is, the headers given. */
export async function notify(
  workspaceId: string,
  dataSourceId: string,
  body: unknown,
  options: WebhookOptions = {},
): Promise<ApiResponse<Record<string, unknown>>> {
  const raw = body === undefined ? "" : typeof body === "string" ? body : JSON.stringify(body);
  const headers: Record<string, string> = { ...options.headers };
  if (options.secret) headers.Authorization = `Bearer ${options.secret}`;
  if (options.signWith) headers["X-Switchboard-Signature"] = `sha256=${await hmacHex(options.signWith, raw)}`;
  if (raw) headers["Content-Type"] = options.contentType ?? "application/fhir+json";
  return api(
    options.method ?? "POST",
    `/webhooks/fhir/${workspaceId}/${dataSourceId}${options.suffix ?? ""}`,
    {
      headers,
      ...(raw ? { raw } : {}),
    },
  );
}

/** A Subscriptions Backport IG R4 notification Bundle (history, a SubscriptionStatus Parameters first). */
export function backportNotification(options: {
  type: "handshake" | "heartbeat" | "event-notification" | "query-status";
  eventsSinceStart?: number;
  events?: { number: number; focus?: string }[];
  resources?: FhirResource[];
  /** Event numbers as integers (later IG versions) instead of strings (STU 1.1). */
  integers?: boolean;
}): Record<string, unknown> {
  const number = (n: number) => (options.integers ? { valueUnsignedInt: n } : { valueString: String(n) });
  const parameter: Record<string, unknown>[] = [
    { name: "subscription", valueReference: { reference: "https://ehr.example/fhir/Subscription/sub-1" } },
    { name: "topic", valueCanonical: "http://example.org/SubscriptionTopic/patient-change" },
    { name: "status", valueCode: options.type === "handshake" ? "requested" : "active" },
    { name: "type", valueCode: options.type },
  ];
  if (options.eventsSinceStart !== undefined)
    parameter.push({ name: "events-since-subscription-start", ...number(options.eventsSinceStart) });
  for (const event of options.events ?? [])
    parameter.push({
      name: "notification-event",
      part: [
        { name: "event-number", ...number(event.number) },
        { name: "timestamp", valueInstant: "2026-11-20T10:00:00.000Z" },
        ...(event.focus ? [{ name: "focus", valueReference: { reference: event.focus } }] : []),
      ],
    });
  const statusId = crypto.randomUUID();
  return {
    resourceType: "Bundle",
    id: crypto.randomUUID(),
    type: "history",
    timestamp: "2026-11-20T10:00:00.000Z",
    entry: [
      {
        fullUrl: `urn:uuid:${statusId}`,
        resource: {
          resourceType: "Parameters",
          id: statusId,
          meta: {
            profile: [
              "http://hl7.org/fhir/uv/subscriptions-backport/StructureDefinition/backport-subscription-status-r4",
            ],
          },
          parameter,
        },
        request: { method: "GET", url: "https://ehr.example/fhir/Subscription/sub-1/$status" },
        response: { status: "200" },
      },
      ...(options.resources ?? []).map((r) => ({
        fullUrl: `https://ehr.example/fhir/${r.resourceType}/${r.id}`,
        resource: r,
        request: { method: "PUT", url: `${r.resourceType}/${r.id}` },
        response: { status: "200" },
      })),
    ],
  };
}

/** An event notification carrying `resource` as event `number` (of as many since the subscription began). */
export const resourceNotification = (resource: FhirResource, number: number) =>
  backportNotification({
    type: "event-notification",
    eventsSinceStart: number,
    events: [{ number, focus: `${resource.resourceType}/${resource.id}` }],
    resources: [resource],
  });
