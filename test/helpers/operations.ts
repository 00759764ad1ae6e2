/**
 * For `/v1` operations, a request that succeeds for any caller at or above the operation's minimum role,
 * with what it needs created first, and the audit rows a successful write must leave. Suites enumerate
 * operations from the OpenAPI document and look them up here: an operation with a fixture gets the
 * strict checks (exact success status, audit rows, every field fuzzed); every operation of the resources
 * in FIXTURE_REQUIRED_TAGS must have one. Adding a `/v1` route? Add its fixture here.
 */
import { env } from "cloudflare:workers";
import { and, eq } from "drizzle-orm";
import { inject } from "vitest";
import { CALL_ID_HEADER, TRANSPORT_HEADER } from "../../durable-objects/call-session";
import { INQUIRIES_GRAPH } from "../../scripts/demo-graphs";
import { newId } from "../../shared/ids";
import { SurfaceSpec } from "../../shared/surfaces/spec";
import { callSession } from "../../workers/calls/session-client";
import { sealFromNumber } from "../../workers/db/calls";
import {
  calls,
  contextGraphs,
  dataSources,
  gapRequirements,
  knowledgeEntries,
  operators,
  services,
  syncEvents,
} from "../../workers/db/schema";
import { sealSecrets } from "../../workers/ehr/sources";
import { create as createSurface } from "../../workers/surfaces/service";
import { queueMessage } from "../../workers/telephony/messaging";
import { insertDataSource } from "./data-sources";
import { db } from "./db";
import { api } from "./http";
import { concretePath, type Operation } from "./openapi";
import {
  insertApiKey,
  insertMember,
  insertPhoneNumber,
  insertService,
  insertUser,
  type TestWorkspace,
  unique,
  uniquePhoneNumber,
} from "./workspace";

export interface ExpectedAudit {
  action: string;
  targetType: string;
  /** The target's id, or how to read it from the response body; when absent, the body's `id`. */
  targetId?: string | ((body: ResponseBody) => string);
  /** Written by the system on the caller's behalf (no actor id), rather than by the caller. */
  bySystem?: boolean;
}

// biome-ignore lint/suspicious/noExplicitAny: response bodies are read by the fixtures that know their shape
type ResponseBody = any;

export interface PreparedRequest {
  path: string;
  body?: unknown;
  status: number;
  /** The audit rows the request appends, in order: none for a read, exactly one for a plain write. */
  audit?: ExpectedAudit[];
}

/** A service with version 1 of the demo inquiries graph, written straight to D1 (active unless told). */
export async function insertGraphVersion(ws: { id: string }, options: { active?: boolean } = {}) {
  const serviceId = await insertService(ws.id);
  const id = newId("cg");
  await db()
    .insert(contextGraphs)
    .values({
      id,
      workspaceId: ws.id,
      serviceId,
      version: 1,
      graph: INQUIRIES_GRAPH as Record<string, unknown>,
    });
  if (options.active ?? true) {
    await db()
      .update(services)
      .set({ contextGraphId: id })
      .where(and(eq(services.workspaceId, ws.id), eq(services.id, serviceId)));
  }
  return { id, serviceId };
}

/** A service with one knowledge entry, written straight to D1. */
export async function insertKnowledge(ws: { id: string }) {
  const serviceId = await insertService(ws.id);
  const id = newId("kn");
  await db()
    .insert(knowledgeEntries)
    .values({
      id,
      workspaceId: ws.id,
      serviceId,
      kind: "hours",
      title: "Opening hours",
      body: "Weekdays 9 to 5.",
      keywords: ["hours"],
    });
  return { id, serviceId };
}

/** A finished inbound call written straight to D1 (its caller's number sealed as the webhook seals it). */
export async function insertCall(
  ws: { id: string },
  overrides: Partial<typeof calls.$inferInsert> & { from?: string } = {},
) {
  const { from = "+12125550177", ...row } = overrides;
  const id = row.id ?? newId("call");
  const startedAt = row.startedAt ?? new Date().toISOString();
  await db()
    .insert(calls)
    .values({
      id,
      workspaceId: ws.id,
      channel: "voice",
      direction: "inbound",
      providerSid: `CA${unique()}${unique()}`,
      toNumber: "+14155550100",
      fromNumberEnc: await sealFromNumber(env.ENCRYPTION_KEY, ws.id, id, from),
      status: "completed",
      statusRank: 4,
      durationSeconds: 60,
      answeredAt: startedAt,
      ...row,
      startedAt,
    });
  return id;
}

/** A gap requirement (upcoming appointments, coverage, by SMS), written straight to D1. */
export async function insertGapRequirement(ws: { id: string }): Promise<string> {
  const id = `gap_${unique()}${unique()}`;
  await db()
    .insert(gapRequirements)
    .values({
      id,
      workspaceId: ws.id,
      name: `Coverage ${unique()}`,
      trigger: "upcoming_appointment",
      lookaheadHours: 72,
      requiredPaths: ["coverage"],
      channel: "sms",
      priority: "medium",
    });
  return id;
}

/**
 * `userId` registered as an operator of the workspace, written straight to D1 (offline, no audit row); a
 * user already registered keeps their row. The user should be a member with the operator role or above.
 */
export async function registerOperator(
  ws: { id: string },
  userId: string,
  fields: { type?: "clinical" | "administrative" | "crisis_counselor"; skills?: string[] } = {},
): Promise<string> {
  await db()
    .insert(operators)
    .values({ workspaceId: ws.id, userId, type: fields.type ?? "clinical", skills: fields.skills ?? [] })
    .onConflictDoNothing();
  return userId;
}

/** A new member with the operator role, registered as an operator. */
export const newOperator = async (ws: { id: string }) =>
  registerOperator(ws, (await insertMember(ws.id, "operator")).id);

/** The operator id the live-call fixtures connect with (straight to the session: no row, no audit). */
const FIXTURE_LISTENER = "fixture-listener";
/** The live fixture calls' sockets, held for the file's lifetime (a socket that closes ends its call). */
const liveFixtureSockets: WebSocket[] = [];
/** One line (service with a graph, and its number) per workspace serves all its live fixture calls. */
const liveFixtureLines = new Map<
  string,
  Promise<{ serviceId: string; number: { id: string; e164: string } }>
>();

/**
 * A live call for the live-call actions (their session must hold the call): a simulated ConversationRelay
 * call, its row written straight to D1 and its socket opened on the session as the simulator's route opens
 * it, greeted, with an operator connected. Connected, the session never hangs up for silence (it says a
 * hold line now and then), so the call writes nothing to D1 until an action ends it.
 */
export async function liveFixtureCall(ws: TestWorkspace): Promise<string> {
  if (!liveFixtureLines.has(ws.id))
    liveFixtureLines.set(
      ws.id,
      insertGraphVersion(ws).then(async ({ serviceId }) => ({
        serviceId,
        number: await insertPhoneNumber(ws.id, serviceId),
      })),
    );
  const { serviceId, number } = await liveFixtureLines.get(ws.id)!;
  const from = uniquePhoneNumber();
  const providerSid = `SIM${unique()}${unique()}`;
  const callId = await insertCall(ws, {
    serviceId,
    phoneNumberId: number.id,
    toNumber: number.e164,
    from,
    provider: "simulator",
    providerSid,
    transport: "conversation_relay",
    status: "in-progress",
    statusRank: 3,
    durationSeconds: null,
  });
  const upgrade = await callSession(env, callId).fetch("https://call-session/socket", {
    headers: { Upgrade: "websocket", [CALL_ID_HEADER]: callId, [TRANSPORT_HEADER]: "conversation_relay" },
  });
  const socket = upgrade.webSocket;
  if (!socket) throw new Error(`the call's socket did not open: ${upgrade.status}`);
  socket.accept();
  liveFixtureSockets.push(socket);
  const greeted = new Promise<void>((resolve) =>
    socket.addEventListener("message", (e) => {
      if ((JSON.parse(e.data as string) as { last?: boolean }).last === true) resolve();
    }),
  );
  socket.send(JSON.stringify({ type: "setup", callSid: providerSid, from, to: number.e164 }));
  await greeted;
  await callSession(env, callId).connectOperator({ operator: FIXTURE_LISTENER });
  return callId;
}

/** Every fixture succeeds for any role at or above the operation's `x-min-role`. */
type Prepare = (ws: TestWorkspace) => Promise<PreparedRequest>;

const base = (ws: TestWorkspace) => `/v1/${ws.id}`;

/** Letters only, for names: a fresh surname keeps identity resolution from merging fixture patients. */
const surname = () => `Q${unique().replace(/\d/g, (d) => "ghijklmnop"[Number(d)]!)}`;

export const patientEvent = () => ({
  idempotency_key: `evt-${unique()}`,
  entity: { entity_type: "patient", external_id: `ehr:Patient:${unique()}` },
  event_type: "demographics.recorded",
  data: { given_name: "Maria", family_name: surname() },
  source: "ehr",
});

/** A patient entity, made the only way world state is written: an ingested event. */
export async function ingestPatient(ws: TestWorkspace): Promise<string> {
  const res = await api("POST", `${base(ws)}/world/events`, {
    key: ws.keys.owner,
    body: { events: [patientEvent()] },
  });
  if (res.status !== 200) throw new Error(`ingest failed: ${res.text}`);
  return res.body.results[0].entity_id;
}

/**
 * A data source on the test FHIR sandbox with its static token, written straight to D1 (sealed secrets,
 * no audit row). It reads Locations only, so a sync it is given stays small.
 */
export async function insertSandboxSource(
  ws: { id: string },
  fields: { type?: "fhir_store" | "fhir_webhook"; enabled?: boolean; lastPollStartedAt?: string } = {},
): Promise<string> {
  const ehr = inject("ehrSandbox");
  const id = newId("ds");
  const type = fields.type ?? "fhir_store";
  const secrets = {
    bearer_token: ehr.staticToken,
    ...(type === "fhir_webhook" ? { webhook_secret: `whsec-${unique()}${unique()}${unique()}` } : {}),
  };
  return insertDataSource(ws.id, {
    id,
    name: `Sandbox ${unique()}`,
    type,
    baseUrl: ehr.fhirBaseUrl,
    auth: { type: "static_bearer" },
    secretsEnc: await sealSecrets(env, ws.id, id, secrets),
    resourceTypes: ["Location"],
    enabled: fields.enabled ?? true,
    lastPollStartedAt: fields.lastPollStartedAt ?? null,
  });
}

/**
 * Scheduling fixtures book in the shared EHR sandbox with pr-lindqvist from 2027-01-11
 * (test/ehr/scheduling.test.ts books pr-chen). The workspace's scheduling source is the sandbox, with
 * writeback on; it is never due for a poll during a run.
 */
export async function ensureSchedulingSource(ws: { id: string }): Promise<void> {
  const ehr = inject("ehrSandbox");
  const id = newId("ds");
  const now = new Date().toISOString();
  await db()
    .insert(dataSources)
    .values({
      id,
      workspaceId: ws.id,
      name: "EHR sandbox (scheduling)",
      type: "fhir_store",
      baseUrl: ehr.fhirBaseUrl,
      sourceSystem: "ehr",
      auth: { type: "static_bearer" },
      secretsEnc: await sealSecrets(env, ws.id, id, { bearer_token: ehr.staticToken }),
      resourceTypes: ["Appointment"],
      pollIntervalSeconds: 86_400,
      writeback: true,
      lastPollAt: now,
      lastSuccessAt: now,
    })
    .onConflictDoNothing();
}

/** A patient entity whose events name the sandbox's `Patient/<fhirId>` (so no EHR record is created). */
export async function ehrLinkedPatient(ws: TestWorkspace, fhirId = "demo-010"): Promise<string> {
  const res = await api("POST", `${base(ws)}/world/events`, {
    key: ws.keys.owner,
    body: {
      events: [
        {
          ...patientEvent(),
          source_system: "ehr",
          fhir_resource_type: "Patient",
          fhir_resource_id: fhirId,
        },
      ],
    },
  });
  if (res.status !== 200) throw new Error(`ingest failed: ${res.text}`);
  return res.body.results[0].entity_id;
}

/** The first free pr-lindqvist slot of the fixtures' weeks. */
async function freeFixtureSlot(ws: TestWorkspace): Promise<string> {
  await ensureSchedulingSource(ws);
  const query =
    "practitioner_id=pr-lindqvist&start_after=2027-01-11T00:00:00Z&end_before=2027-01-30T00:00:00Z&limit=1";
  const res = await api("GET", `${base(ws)}/scheduling/slots?${query}`, { key: ws.keys.owner });
  if (res.status !== 200 || !res.body.results[0]) throw new Error(`no free fixture slot: ${res.text}`);
  return res.body.results[0].slot_id;
}

/** A booked appointment of a fresh patient, through the API. */
async function bookedAppointment(ws: TestWorkspace): Promise<string> {
  const body = {
    slot_id: await freeFixtureSlot(ws),
    patient: await ehrLinkedPatient(ws),
    idempotency_key: `fixture-${unique()}`,
  };
  const res = await api("POST", `${base(ws)}/scheduling/appointments`, { key: ws.keys.owner, body });
  if (res.status !== 201) throw new Error(`booking failed: ${res.text}`);
  return res.body.appointment_id;
}

const schedulingAudit = (
  ws: TestWorkspace,
  action: string,
  targetId: (body: ResponseBody) => string,
): ExpectedAudit[] => [
  { action, targetType: "appointment", targetId },
  // The EHR's answer, as world events (source ehr), on the same request.
  { action: "world.events_ingested", targetType: "world", targetId: ws.id, bySystem: true },
];

/**
 * A sync event of a fresh patient, written straight to D1. Retried ones stay in the workspace (which has
 * no writeback sink): they wait, pending, and no job runs in the background while these suites compare D1
 * before and after other requests.
 */
async function insertSyncEvent(ws: TestWorkspace, status: "synced" | "failed"): Promise<string> {
  const id = newId("syn");
  await db()
    .insert(syncEvents)
    .values({
      id,
      workspaceId: ws.id,
      kind: "allergy",
      entityId: await ingestPatient(ws),
      status,
      attempts: 1,
      error: status === "failed" ? "the EHR answered 400" : null,
      idempotencyKey: `fixture:${id}`,
    });
  return id;
}

/** A surface form: an email (prefilled from the record) and a free-text note. */
const SURFACE_SPEC = {
  title: "Contact update",
  fields: [
    {
      key: "email",
      label: "Email address",
      field_type: "email",
      target: { event_type: "contact.recorded", data_key: "email" },
    },
    { key: "notes", label: "Anything else?", field_type: "textarea", required: false },
  ],
};

/** A created surface for a new patient, made through the surface service; returns its id. */
export async function fixtureSurface(ws: TestWorkspace): Promise<string> {
  const surface = await createSurface(env, ws.id, {
    entityId: await ingestPatient(ws),
    spec: SurfaceSpec.parse(SURFACE_SPEC),
    channel: "sms",
    createdBy: { type: "api", id: "fixture" },
  });
  return surface.id;
}

export const SUCCESSFUL_REQUESTS: Record<string, Prepare> = {
  "GET /v1/{workspace_id}": async (ws) => ({ path: base(ws), status: 200 }),
  "PATCH /v1/{workspace_id}": async (ws) => ({
    path: base(ws),
    body: { name: `Clinic ${unique()}`, timezone: "Europe/Paris" },
    status: 200,
    audit: [{ action: "workspace.updated", targetType: "workspace", targetId: ws.id }],
  }),

  "GET /v1/{workspace_id}/services": async (ws) => ({ path: `${base(ws)}/services`, status: 200 }),
  "POST /v1/{workspace_id}/services": async (ws) => ({
    path: `${base(ws)}/services`,
    body: { name: `Scheduling ${unique()}`, description: "Books visits" },
    status: 201,
    audit: [{ action: "service.created", targetType: "service" }],
  }),
  "GET /v1/{workspace_id}/services/{id}": async (ws) => ({
    path: `${base(ws)}/services/${await insertService(ws.id)}`,
    status: 200,
  }),
  "PATCH /v1/{workspace_id}/services/{id}": async (ws) => {
    const id = await insertService(ws.id);
    return {
      path: `${base(ws)}/services/${id}`,
      body: { description: "Refills only" },
      status: 200,
      audit: [{ action: "service.updated", targetType: "service", targetId: id }],
    };
  },
  "DELETE /v1/{workspace_id}/services/{id}": async (ws) => {
    const id = await insertService(ws.id);
    return {
      path: `${base(ws)}/services/${id}`,
      status: 204,
      audit: [{ action: "service.deleted", targetType: "service", targetId: id }],
    };
  },

  "GET /v1/{workspace_id}/services/{service_id}/context-graphs": async (ws) => ({
    path: `${base(ws)}/services/${(await insertGraphVersion(ws)).serviceId}/context-graphs`,
    status: 200,
  }),
  "POST /v1/{workspace_id}/services/{service_id}/context-graphs": async (ws) => ({
    path: `${base(ws)}/services/${await insertService(ws.id)}/context-graphs`,
    body: { graph: INQUIRIES_GRAPH, note: "First version", activate: true },
    status: 201,
    audit: [{ action: "context_graph.created", targetType: "context_graph" }],
  }),
  "GET /v1/{workspace_id}/services/{service_id}/context-graphs/{version}": async (ws) => ({
    path: `${base(ws)}/services/${(await insertGraphVersion(ws)).serviceId}/context-graphs/1`,
    status: 200,
  }),
  "POST /v1/{workspace_id}/services/{service_id}/context-graphs/{version}/activate": async (ws) => {
    const graph = await insertGraphVersion(ws, { active: false });
    return {
      path: `${base(ws)}/services/${graph.serviceId}/context-graphs/1/activate`,
      status: 200,
      audit: [{ action: "context_graph.activated", targetType: "context_graph", targetId: graph.id }],
    };
  },
  "GET /v1/{workspace_id}/services/{service_id}/context-graph": async (ws) => ({
    path: `${base(ws)}/services/${(await insertGraphVersion(ws)).serviceId}/context-graph`,
    status: 200,
  }),

  "GET /v1/{workspace_id}/services/{service_id}/knowledge": async (ws) => ({
    path: `${base(ws)}/services/${(await insertKnowledge(ws)).serviceId}/knowledge`,
    status: 200,
  }),
  "POST /v1/{workspace_id}/services/{service_id}/knowledge": async (ws) => ({
    path: `${base(ws)}/services/${await insertService(ws.id)}/knowledge`,
    body: { kind: "hours", title: "Opening hours", body: "Weekdays 9 to 5.", keywords: ["hours", "open"] },
    status: 201,
    audit: [{ action: "knowledge.created", targetType: "knowledge_entry" }],
  }),
  "GET /v1/{workspace_id}/services/{service_id}/knowledge/{id}": async (ws) => {
    const entry = await insertKnowledge(ws);
    return { path: `${base(ws)}/services/${entry.serviceId}/knowledge/${entry.id}`, status: 200 };
  },
  "PATCH /v1/{workspace_id}/services/{service_id}/knowledge/{id}": async (ws) => {
    const entry = await insertKnowledge(ws);
    return {
      path: `${base(ws)}/services/${entry.serviceId}/knowledge/${entry.id}`,
      body: { body: "Weekdays 8 to 6." },
      status: 200,
      audit: [{ action: "knowledge.updated", targetType: "knowledge_entry", targetId: entry.id }],
    };
  },
  "DELETE /v1/{workspace_id}/services/{service_id}/knowledge/{id}": async (ws) => {
    const entry = await insertKnowledge(ws);
    return {
      path: `${base(ws)}/services/${entry.serviceId}/knowledge/${entry.id}`,
      status: 204,
      audit: [{ action: "knowledge.deleted", targetType: "knowledge_entry", targetId: entry.id }],
    };
  },

  "GET /v1/{workspace_id}/phone-numbers": async (ws) => ({ path: `${base(ws)}/phone-numbers`, status: 200 }),
  "POST /v1/{workspace_id}/phone-numbers": async (ws) => ({
    path: `${base(ws)}/phone-numbers`,
    body: { number: uniquePhoneNumber(), service_id: await insertService(ws.id), label: "Front desk" },
    status: 201,
    audit: [{ action: "phone_number.created", targetType: "phone_number" }],
  }),
  "GET /v1/{workspace_id}/phone-numbers/{id}": async (ws) => ({
    path: `${base(ws)}/phone-numbers/${(await insertPhoneNumber(ws.id)).id}`,
    status: 200,
  }),
  "PATCH /v1/{workspace_id}/phone-numbers/{id}": async (ws) => {
    const { id } = await insertPhoneNumber(ws.id);
    return {
      path: `${base(ws)}/phone-numbers/${id}`,
      body: { label: "After hours" },
      status: 200,
      audit: [{ action: "phone_number.updated", targetType: "phone_number", targetId: id }],
    };
  },
  "DELETE /v1/{workspace_id}/phone-numbers/{id}": async (ws) => {
    const { id } = await insertPhoneNumber(ws.id);
    return {
      path: `${base(ws)}/phone-numbers/${id}`,
      status: 204,
      audit: [{ action: "phone_number.deleted", targetType: "phone_number", targetId: id }],
    };
  },

  "GET /v1/{workspace_id}/users": async (ws) => ({ path: `${base(ws)}/users`, status: 200 }),
  // An existing account joining: no password to hash, so it stays cheap to run for every role.
  "POST /v1/{workspace_id}/users": async (ws) => {
    const user = await insertUser();
    return {
      path: `${base(ws)}/users`,
      body: { email: user.email, name: "Joining User", role: "viewer" },
      status: 201,
      audit: [{ action: "member.added", targetType: "user", targetId: user.id }],
    };
  },
  "GET /v1/{workspace_id}/users/{id}": async (ws) => ({
    path: `${base(ws)}/users/${ws.members.viewer.id}`,
    status: 200,
  }),
  "PATCH /v1/{workspace_id}/users/{id}": async (ws) => {
    const member = await insertMember(ws.id, "viewer");
    return {
      path: `${base(ws)}/users/${member.id}`,
      body: { role: "operator" },
      status: 200,
      audit: [{ action: "member.updated", targetType: "user", targetId: member.id }],
    };
  },
  "DELETE /v1/{workspace_id}/users/{id}": async (ws) => {
    const member = await insertMember(ws.id, "viewer");
    return {
      path: `${base(ws)}/users/${member.id}`,
      status: 204,
      audit: [{ action: "member.removed", targetType: "user", targetId: member.id }],
    };
  },

  "GET /v1/{workspace_id}/operators": async (ws) => ({ path: `${base(ws)}/operators`, status: 200 }),
  "POST /v1/{workspace_id}/operators": async (ws) => {
    const member = await insertMember(ws.id, "operator");
    return {
      path: `${base(ws)}/operators`,
      body: { user_id: member.id, type: "clinical", skills: ["triage", "spanish"] },
      status: 201,
      audit: [{ action: "operator.registered", targetType: "operator", targetId: member.id }],
    };
  },
  "GET /v1/{workspace_id}/operators/metrics": async (ws) => ({
    path: `${base(ws)}/operators/metrics?window=24h`,
    status: 200,
  }),
  "GET /v1/{workspace_id}/operators/{user_id}": async (ws) => ({
    path: `${base(ws)}/operators/${await newOperator(ws)}`,
    status: 200,
  }),
  "PATCH /v1/{workspace_id}/operators/{user_id}": async (ws) => {
    const id = await newOperator(ws);
    return {
      path: `${base(ws)}/operators/${id}`,
      body: { type: "administrative", skills: ["billing"] },
      status: 200,
      audit: [{ action: "operator.updated", targetType: "operator", targetId: id }],
    };
  },
  "DELETE /v1/{workspace_id}/operators/{user_id}": async (ws) => {
    const id = await newOperator(ws);
    return {
      path: `${base(ws)}/operators/${id}`,
      status: 204,
      audit: [{ action: "operator.removed", targetType: "operator", targetId: id }],
    };
  },
  // The workspace's operator-role member sets their own status (an admin or owner may set anyone's).
  "PUT /v1/{workspace_id}/operators/{user_id}/status": async (ws) => {
    const id = await registerOperator(ws, ws.members.operator.id);
    return {
      path: `${base(ws)}/operators/${id}/status`,
      body: { status: "online" },
      status: 200,
      audit: [{ action: "operator.status_set", targetType: "operator", targetId: id }],
    };
  },

  "GET /v1/{workspace_id}/api-keys": async (ws) => ({ path: `${base(ws)}/api-keys`, status: 200 }),
  "POST /v1/{workspace_id}/api-keys": async (ws) => ({
    path: `${base(ws)}/api-keys`,
    body: { name: "Reporting export", role: "viewer" },
    status: 201,
    audit: [{ action: "api_key.created", targetType: "api_key" }],
  }),
  "DELETE /v1/{workspace_id}/api-keys/{id}": async (ws) => {
    const { id } = await insertApiKey(ws.id, "viewer");
    return {
      path: `${base(ws)}/api-keys/${id}`,
      status: 204,
      audit: [{ action: "api_key.revoked", targetType: "api_key", targetId: id }],
    };
  },

  "GET /v1/{workspace_id}/world/entities": async (ws) => ({
    path: `${base(ws)}/world/entities`,
    status: 200,
  }),
  "GET /v1/{workspace_id}/world/search": async (ws) => ({
    path: `${base(ws)}/world/search?q=maria`,
    status: 200,
  }),
  "POST /v1/{workspace_id}/world/events": async (ws) => ({
    path: `${base(ws)}/world/events`,
    body: { events: [patientEvent()] },
    status: 200,
    audit: [{ action: "world.events_ingested", targetType: "world", targetId: ws.id }],
  }),
  "POST /v1/{workspace_id}/data-sources/{id}/bundle": async (ws) => {
    const id = await insertSandboxSource(ws, { type: "fhir_webhook" });
    return {
      path: `${base(ws)}/data-sources/${id}/bundle`,
      body: {
        resourceType: "Bundle",
        type: "collection",
        entry: [
          {
            fullUrl: `urn:uuid:${crypto.randomUUID()}`,
            resource: {
              resourceType: "Patient",
              id: `p-${unique()}`,
              name: [{ family: surname(), given: ["Ada"] }],
            },
          },
        ],
      },
      status: 200,
      audit: [
        { action: "world.events_ingested", targetType: "world", targetId: ws.id },
        { action: "data_source.bundle_imported", targetType: "data_source", targetId: id },
      ],
    };
  },
  "POST /v1/{workspace_id}/world/extractions": async (ws) => ({
    path: `${base(ws)}/world/extractions`,
    body: {
      entity_id: await ingestPatient(ws),
      interaction_id: `call-${unique()}`,
      channel: "voice",
      transcript: [{ speaker: "caller", text: "I'm allergic to latex" }],
      facts: [{ event_type: "allergy.recorded", data: { substance: "latex" }, basis: "agent_confirmed" }],
    },
    status: 200,
    // The extracted fact is ingested as the caller's event; the judge promotes it and records its verdict.
    audit: [
      { action: "world.events_ingested", targetType: "world", targetId: ws.id },
      { action: "world.events_ingested", targetType: "world", targetId: ws.id, bySystem: true },
      {
        action: "world.fact_judged",
        targetType: "event",
        targetId: (body) => body.results[0].extracted_event_id,
        bySystem: true,
      },
    ],
  }),
  // A POST that only reads.
  "POST /v1/{workspace_id}/world/entities/resolve": async (ws) => ({
    path: `${base(ws)}/world/entities/resolve`,
    body: { phone: "(201) 555-0123" },
    status: 200,
  }),
  "GET /v1/{workspace_id}/world/entities/duplicates": async (ws) => ({
    path: `${base(ws)}/world/entities/duplicates`,
    status: 200,
  }),
  "GET /v1/{workspace_id}/world/entities/{id}": async (ws) => ({
    path: `${base(ws)}/world/entities/${await ingestPatient(ws)}`,
    status: 200,
  }),
  "GET /v1/{workspace_id}/world/entities/{id}/graph": async (ws) => ({
    path: `${base(ws)}/world/entities/${await ingestPatient(ws)}/graph`,
    status: 200,
  }),
  "GET /v1/{workspace_id}/world/entities/{id}/provenance": async (ws) => ({
    path: `${base(ws)}/world/entities/${await ingestPatient(ws)}/provenance`,
    status: 200,
  }),
  "GET /v1/{workspace_id}/world/entities/{id}/lineage": async (ws) => ({
    path: `${base(ws)}/world/entities/${await ingestPatient(ws)}/lineage`,
    status: 200,
  }),
  "GET /v1/{workspace_id}/world/sync": async (ws) => {
    await insertSyncEvent(ws, "synced");
    return { path: `${base(ws)}/world/sync?status=synced&limit=10`, status: 200 };
  },
  "GET /v1/{workspace_id}/world/sync/{event_id}": async (ws) => ({
    path: `${base(ws)}/world/sync/${await insertSyncEvent(ws, "synced")}`,
    status: 200,
  }),
  "POST /v1/{workspace_id}/world/sync/retry/{event_id}": async (ws) => {
    const id = await insertSyncEvent(ws, "failed");
    return {
      path: `${base(ws)}/world/sync/retry/${id}`,
      status: 200,
      audit: [{ action: "sync.retried", targetType: "sync_event", targetId: id }],
    };
  },
  "POST /v1/{workspace_id}/world/sync/retry-all": async (ws) => {
    await insertSyncEvent(ws, "failed");
    return {
      path: `${base(ws)}/world/sync/retry-all`,
      status: 200,
      audit: [{ action: "sync.retried_all", targetType: "workspace", targetId: ws.id }],
    };
  },

  "GET /v1/{workspace_id}/pipeline/status": async (ws) => ({
    path: `${base(ws)}/pipeline/status`,
    status: 200,
  }),
  "GET /v1/{workspace_id}/pipeline/sources": async (ws) => ({
    path: `${base(ws)}/pipeline/sources`,
    status: 200,
  }),
  "GET /v1/{workspace_id}/pipeline/sources/{id}/history": async (ws) => ({
    path: `${base(ws)}/pipeline/sources/${await insertDataSource(ws.id)}/history?bucket=day`,
    status: 200,
  }),
  "GET /v1/{workspace_id}/pipeline/sources/{id}/events": async (ws) => ({
    path: `${base(ws)}/pipeline/sources/${await insertDataSource(ws.id)}/events?sort=status`,
    status: 200,
  }),
  "GET /v1/{workspace_id}/pipeline/outbound": async (ws) => ({
    path: `${base(ws)}/pipeline/outbound`,
    status: 200,
  }),
  "GET /v1/{workspace_id}/pipeline/outbound/{id}/log": async (ws) => ({
    path: `${base(ws)}/pipeline/outbound/${await insertDataSource(ws.id)}/log`,
    status: 200,
  }),
  "GET /v1/{workspace_id}/pipeline/entity-resolution": async (ws) => ({
    path: `${base(ws)}/pipeline/entity-resolution`,
    status: 200,
  }),
  "GET /v1/{workspace_id}/pipeline/review": async (ws) => ({
    path: `${base(ws)}/pipeline/review`,
    status: 200,
  }),
  "GET /v1/{workspace_id}/pipeline/throughput": async (ws) => ({
    path: `${base(ws)}/pipeline/throughput?bucket=hour`,
    status: 200,
  }),

  "GET /v1/{workspace_id}/data-sources": async (ws) => ({ path: `${base(ws)}/data-sources`, status: 200 }),
  "POST /v1/{workspace_id}/data-sources": async (ws) => ({
    path: `${base(ws)}/data-sources`,
    body: {
      name: `Clinic EHR ${unique()}`,
      type: "fhir_store",
      base_url: inject("ehrSandbox").fhirBaseUrl,
      auth: { type: "static_bearer" },
      secrets: { bearer_token: inject("ehrSandbox").staticToken },
      resource_types: ["Patient", "Appointment"],
      poll_interval_seconds: 600,
      business_hours: { timezone: "America/New_York", days: [1, 2, 3, 4, 5], start: "07:00", end: "19:00" },
      writeback: true,
    },
    status: 201,
    audit: [{ action: "data_source.created", targetType: "data_source" }],
  }),
  "GET /v1/{workspace_id}/data-sources/{id}": async (ws) => ({
    path: `${base(ws)}/data-sources/${await insertSandboxSource(ws)}`,
    status: 200,
  }),
  "PATCH /v1/{workspace_id}/data-sources/{id}": async (ws) => {
    const id = await insertSandboxSource(ws);
    return {
      path: `${base(ws)}/data-sources/${id}`,
      body: { name: `Renamed EHR ${unique()}`, poll_interval_seconds: 900 },
      status: 200,
      audit: [{ action: "data_source.updated", targetType: "data_source", targetId: id }],
    };
  },
  "DELETE /v1/{workspace_id}/data-sources/{id}": async (ws) => {
    const id = await insertSandboxSource(ws);
    return {
      path: `${base(ws)}/data-sources/${id}`,
      status: 204,
      audit: [{ action: "data_source.deleted", targetType: "data_source", targetId: id }],
    };
  },
  "POST /v1/{workspace_id}/data-sources/{id}/enable": async (ws) => {
    const id = await insertSandboxSource(ws, { enabled: false });
    return {
      path: `${base(ws)}/data-sources/${id}/enable`,
      status: 200,
      audit: [{ action: "data_source.enabled", targetType: "data_source", targetId: id }],
    };
  },
  "POST /v1/{workspace_id}/data-sources/{id}/disable": async (ws) => {
    const id = await insertSandboxSource(ws);
    return {
      path: `${base(ws)}/data-sources/${id}/disable`,
      status: 200,
      audit: [{ action: "data_source.disabled", targetType: "data_source", targetId: id }],
    };
  },
  "POST /v1/{workspace_id}/data-sources/{id}/sync": async (ws) => {
    // A poll of this source started after any request made now, so the queued job finds itself covered
    // and writes nothing in the background (these suites compare D1 before and after other requests).
    const inAnHour = new Date(Date.now() + 3_600_000).toISOString();
    const id = await insertSandboxSource(ws, { lastPollStartedAt: inAnHour });
    return {
      path: `${base(ws)}/data-sources/${id}/sync`,
      status: 202,
      audit: [{ action: "data_source.sync_requested", targetType: "data_source", targetId: id }],
    };
  },
  // A POST that only reads (from the EHR).
  "POST /v1/{workspace_id}/data-sources/{id}/test": async (ws) => ({
    path: `${base(ws)}/data-sources/${await insertSandboxSource(ws)}/test`,
    status: 200,
  }),
  "POST /v1/{workspace_id}/data-sources/{id}/rotate-webhook-secret": async (ws) => {
    const id = await insertSandboxSource(ws, { type: "fhir_webhook" });
    return {
      path: `${base(ws)}/data-sources/${id}/rotate-webhook-secret`,
      status: 200,
      audit: [{ action: "data_source.webhook_secret_rotated", targetType: "data_source", targetId: id }],
    };
  },

  "GET /v1/{workspace_id}/scheduling/slots": async (ws) => {
    await ensureSchedulingSource(ws);
    return {
      path: `${base(ws)}/scheduling/slots?practitioner_id=pr-lindqvist&start_after=2027-01-11T00:00:00Z&time_of_day=morning&limit=3`,
      status: 200,
    };
  },
  "POST /v1/{workspace_id}/scheduling/holds": async (ws) => ({
    path: `${base(ws)}/scheduling/holds`,
    body: { slot_id: await freeFixtureSlot(ws), patient: await ehrLinkedPatient(ws), visit_type: "ROUTINE" },
    status: 201,
    audit: schedulingAudit(ws, "scheduling.slot_held", (body) => body.appointment_id),
  }),
  "POST /v1/{workspace_id}/scheduling/appointments": async (ws) => ({
    path: `${base(ws)}/scheduling/appointments`,
    body: {
      slot_id: await freeFixtureSlot(ws),
      patient: await ehrLinkedPatient(ws),
      visit_type: "FOLLOWUP",
      idempotency_key: `fixture-${unique()}`,
    },
    status: 201,
    audit: schedulingAudit(ws, "scheduling.appointment_booked", (body) => body.appointment_id),
  }),
  "POST /v1/{workspace_id}/scheduling/appointments/{appointment_id}/reschedule": async (ws) => {
    const appointmentId = await bookedAppointment(ws);
    return {
      path: `${base(ws)}/scheduling/appointments/${appointmentId}/reschedule`,
      body: { new_slot_id: await freeFixtureSlot(ws), idempotency_key: `fixture-${unique()}` },
      status: 200,
      audit: schedulingAudit(
        ws,
        "scheduling.appointment_rescheduled",
        (body) => body.appointment.appointment_id,
      ),
    };
  },
  "POST /v1/{workspace_id}/scheduling/appointments/{appointment_id}/cancel": async (ws) => {
    const appointmentId = await bookedAppointment(ws);
    return {
      path: `${base(ws)}/scheduling/appointments/${appointmentId}/cancel`,
      body: { reason: "Patient asked to cancel" },
      status: 200,
      audit: schedulingAudit(ws, "scheduling.appointment_cancelled", () => appointmentId),
    };
  },

  "GET /v1/{workspace_id}/calls": async (ws) => {
    await insertCall(ws);
    return { path: `${base(ws)}/calls`, status: 200 };
  },
  "GET /v1/{workspace_id}/calls/volume": async (ws) => ({ path: `${base(ws)}/calls/volume`, status: 200 }),
  "GET /v1/{workspace_id}/deliveries": async (ws) => {
    await queueMessage(env, {
      workspaceId: ws.id,
      channel: "email",
      purpose: "surface_link",
      key: `fixture-${unique()}`,
      to: "patient@example.com",
      subject: "Intake",
      body: "Please complete your intake form",
    });
    return { path: `${base(ws)}/deliveries?channel=email`, status: 200 };
  },
  "GET /v1/{workspace_id}/calls/{id}": async (ws) => ({
    path: `${base(ws)}/calls/${await insertCall(ws)}`,
    status: 200,
  }),
  "POST /v1/{workspace_id}/calls/{id}/recording-url": async (ws) => {
    const id = await insertCall(ws);
    await env.FILES.put(`recordings/${ws.id}/${id}.wav`, new Uint8Array(44));
    return {
      path: `${base(ws)}/calls/${id}/recording-url`,
      status: 200,
      audit: [{ action: "call.recording_url_issued", targetType: "call", targetId: id }],
    };
  },
  "POST /v1/{workspace_id}/calls/{id}/guidance": async (ws) => {
    const id = await insertCall(ws, { status: "in-progress", statusRank: 3, durationSeconds: null });
    return {
      path: `${base(ws)}/calls/${id}/guidance`,
      body: { text: 'Say "The lab opens at nine."' },
      status: 202,
      audit: [{ action: "call.guidance_sent", targetType: "call", targetId: id }],
    };
  },
  // The stream replays and ends (`replay_only`), so suites that read bodies to the end do not hang on it.
  "GET /v1/{workspace_id}/events/stream": async (ws) => ({
    path: `${base(ws)}/events/stream?replay_only=true&last_event_id=0`,
    status: 200,
  }),
  "POST /v1/{workspace_id}/events/tickets": async (ws) => ({
    path: `${base(ws)}/events/tickets`,
    status: 201,
    audit: [
      {
        action: "events.ticket_issued",
        targetType: "event_stream_ticket",
        // The ticket's jti, from its (base64url JSON) payload.
        targetId: (body) =>
          JSON.parse(atob(body.ticket.split(".")[1].replaceAll("-", "+").replaceAll("_", "/"))).jti,
      },
    ],
  }),
  "GET /v1/{workspace_id}/queue": async (ws) => ({ path: `${base(ws)}/queue`, status: 200 }),
  "POST /v1/{workspace_id}/calls/{id}/connect": async (ws) => {
    const id = await liveFixtureCall(ws);
    return {
      path: `${base(ws)}/calls/${id}/connect`,
      status: 200,
      audit: [{ action: "call.operator_connected", targetType: "call", targetId: id }],
    };
  },
  // Users take over only as registered operators: every member of the workspace is registered.
  "POST /v1/{workspace_id}/calls/{id}/takeover": async (ws) => {
    for (const member of Object.values(ws.members)) await registerOperator(ws, member.id);
    const id = await liveFixtureCall(ws);
    return {
      path: `${base(ws)}/calls/${id}/takeover`,
      status: 200,
      audit: [{ action: "call.takeover", targetType: "call", targetId: id }],
    };
  },
  // Only the operator in control speaks, and a fixture cannot know who will send it: this one stands for
  // the refusal (the body is valid, the session answers "not in control"). test/operators/live-actions
  // covers the spoken path.
  "POST /v1/{workspace_id}/calls/{id}/say": async (ws) => {
    const id = await liveFixtureCall(ws);
    return {
      path: `${base(ws)}/calls/${id}/say`,
      body: { text: "Hi, this is Sam from the clinic." },
      status: 409,
    };
  },
  // Any operator hands a call back to the agent: here the fixture's own operator holds it.
  "POST /v1/{workspace_id}/calls/{id}/handback": async (ws) => {
    const id = await liveFixtureCall(ws);
    await callSession(env, id).takeover({ operator: FIXTURE_LISTENER });
    return {
      path: `${base(ws)}/calls/${id}/handback`,
      status: 200,
      audit: [{ action: "call.handback", targetType: "call", targetId: id }],
    };
  },
  "POST /v1/{workspace_id}/calls/{id}/transfer": async (ws) => {
    const id = await liveFixtureCall(ws);
    return {
      path: `${base(ws)}/calls/${id}/transfer`,
      body: { to: "+12125550100", announcement: "Let me put you through to the front desk." },
      status: 202,
      audit: [{ action: "call.transfer_requested", targetType: "call", targetId: id }],
    };
  },
  "POST /v1/{workspace_id}/calls/{id}/wrapup": async (ws) => {
    const id = await insertCall(ws);
    return {
      path: `${base(ws)}/calls/${id}/wrapup`,
      body: { outcome: "resolved", notes: "Rescheduled to next week." },
      status: 201,
      audit: [{ action: "call.wrapped_up", targetType: "call", targetId: id }],
    };
  },
  "GET /v1/{workspace_id}/calls/{id}/briefing": async (ws) => {
    const id = await insertCall(ws);
    return { path: `${base(ws)}/calls/${id}/briefing`, status: 200 };
  },
  "POST /v1/{workspace_id}/simulator/calls": async (ws) => {
    const { serviceId } = await insertGraphVersion(ws);
    const number = await insertPhoneNumber(ws.id, serviceId);
    return {
      path: `${base(ws)}/simulator/calls`,
      body: { to: number.e164, from: uniquePhoneNumber() },
      status: 201,
      audit: [{ action: "simulator.call_started", targetType: "call", targetId: (body) => body.call_id }],
    };
  },
  "GET /v1/{workspace_id}/audit": async (ws) => ({ path: `${base(ws)}/audit`, status: 200 }),
  "GET /v1/{workspace_id}/audit/verify": async (ws) => ({ path: `${base(ws)}/audit/verify`, status: 200 }),
  "GET /v1/{workspace_id}/surfaces/settings": async (ws) => ({
    path: `${base(ws)}/surfaces/settings`,
    status: 200,
  }),
  "PUT /v1/{workspace_id}/surfaces/settings": async (ws) => ({
    path: `${base(ws)}/surfaces/settings`,
    body: { gates: { cooldown_hours: 24, max_pending_per_patient: 2 } },
    status: 200,
    audit: [{ action: "surfaces.settings_updated", targetType: "workspace", targetId: ws.id }],
  }),
  "GET /v1/{workspace_id}/gap-requirements": async (ws) => {
    await insertGapRequirement(ws);
    return { path: `${base(ws)}/gap-requirements`, status: 200 };
  },
  "POST /v1/{workspace_id}/gap-requirements": async (ws) => ({
    path: `${base(ws)}/gap-requirements`,
    body: {
      name: "Insurance before the visit",
      trigger: "upcoming_appointment",
      lookahead_hours: 72,
      required_paths: ["coverage"],
      channel: "sms",
    },
    status: 201,
    audit: [{ action: "gap_requirement.created", targetType: "gap_requirement" }],
  }),
  "PATCH /v1/{workspace_id}/gap-requirements/{id}": async (ws) => {
    const id = await insertGapRequirement(ws);
    return {
      path: `${base(ws)}/gap-requirements/${id}`,
      body: { lookahead_hours: 24 },
      status: 200,
      audit: [{ action: "gap_requirement.updated", targetType: "gap_requirement", targetId: id }],
    };
  },
  "DELETE /v1/{workspace_id}/gap-requirements/{id}": async (ws) => {
    const id = await insertGapRequirement(ws);
    return {
      path: `${base(ws)}/gap-requirements/${id}`,
      status: 204,
      audit: [{ action: "gap_requirement.deleted", targetType: "gap_requirement", targetId: id }],
    };
  },
  "POST /v1/{workspace_id}/surfaces/scanner/preview": async (ws) => {
    await insertGapRequirement(ws);
    return { path: `${base(ws)}/surfaces/scanner/preview`, status: 200 };
  },
  "POST /v1/{workspace_id}/surfaces/scanner/run": async (ws) => {
    await insertGapRequirement(ws);
    return {
      path: `${base(ws)}/surfaces/scanner/run`,
      status: 200,
      audit: [{ action: "surfaces.scanner_run", targetType: "scanner_run", targetId: (body) => body.run_id }],
    };
  },
  "GET /v1/{workspace_id}/surfaces/gate-decisions": async (ws) => ({
    path: `${base(ws)}/surfaces/gate-decisions`,
    status: 200,
  }),
  "GET /v1/{workspace_id}/surfaces/analytics": async (ws) => ({
    path: `${base(ws)}/surfaces/analytics`,
    status: 200,
  }),
  "GET /v1/{workspace_id}/surfaces/analytics/patients/{entity_id}": async (ws) => ({
    path: `${base(ws)}/surfaces/analytics/patients/${await ingestPatient(ws)}`,
    status: 200,
  }),
  "GET /v1/{workspace_id}/surfaces": async (ws) => {
    await fixtureSurface(ws);
    return { path: `${base(ws)}/surfaces?status=created`, status: 200 };
  },
  "POST /v1/{workspace_id}/surfaces": async (ws) => ({
    path: `${base(ws)}/surfaces`,
    body: { entity_id: await ingestPatient(ws), spec: SURFACE_SPEC, channel: "sms", ttl_seconds: 86_400 },
    status: 201,
    audit: [
      { action: "surface.created", targetType: "surface" },
      { action: "world.events_ingested", targetType: "world", targetId: ws.id },
    ],
  }),
  "GET /v1/{workspace_id}/surfaces/{id}": async (ws) => ({
    path: `${base(ws)}/surfaces/${await fixtureSurface(ws)}`,
    status: 200,
  }),
  "PATCH /v1/{workspace_id}/surfaces/{id}": async (ws) => {
    const id = await fixtureSurface(ws);
    return {
      path: `${base(ws)}/surfaces/${id}`,
      body: { channel: "email", ttl_seconds: 7200 },
      status: 200,
      audit: [{ action: "surface.updated", targetType: "surface", targetId: id }],
    };
  },
  "POST /v1/{workspace_id}/surfaces/{id}/deliver": async (ws) => {
    const id = await fixtureSurface(ws);
    return {
      path: `${base(ws)}/surfaces/${id}/deliver`,
      body: { channel: "web" },
      status: 200,
      audit: [
        { action: "surface.delivered", targetType: "surface", targetId: id },
        { action: "world.events_ingested", targetType: "world", targetId: ws.id },
      ],
    };
  },
  "POST /v1/{workspace_id}/surfaces/{id}/archive": async (ws) => {
    const id = await fixtureSurface(ws);
    return {
      path: `${base(ws)}/surfaces/${id}/archive`,
      status: 200,
      audit: [
        { action: "surface.archived", targetType: "surface", targetId: id },
        { action: "world.events_ingested", targetType: "world", targetId: ws.id },
      ],
    };
  },
  "POST /v1/{workspace_id}/surfaces/{id}/reshape": async (ws) => ({
    path: `${base(ws)}/surfaces/${await fixtureSurface(ws)}/reshape`,
    body: { channel: "email" },
    status: 201,
    audit: [
      { action: "surface.created", targetType: "surface" },
      { action: "world.events_ingested", targetType: "world", targetId: ws.id },
    ],
  }),
  "POST /v1/{workspace_id}/surfaces/{id}/revoke": async (ws) => {
    const id = await fixtureSurface(ws);
    return {
      path: `${base(ws)}/surfaces/${id}/revoke`,
      status: 200,
      audit: [{ action: "surface.links_revoked", targetType: "surface", targetId: id }],
    };
  },
  "GET /v1/{workspace_id}/surfaces/{id}/questionnaire": async (ws) => ({
    path: `${base(ws)}/surfaces/${await fixtureSurface(ws)}/questionnaire`,
    status: 200,
  }),
  "GET /v1/{workspace_id}/surfaces/{id}/questionnaire-response": async (ws) => ({
    path: `${base(ws)}/surfaces/${await fixtureSurface(ws)}/questionnaire-response`,
    status: 200,
  }),
  "GET /v1/{workspace_id}/surface-templates": async (ws) => ({
    path: `${base(ws)}/surface-templates`,
    status: 200,
  }),
  "POST /v1/{workspace_id}/surface-templates": async (ws) => ({
    path: `${base(ws)}/surface-templates`,
    body: {
      name: `Intake ${unique()}`,
      kind: "intake",
      spec: SURFACE_SPEC,
      prefill_paths: { email: "contact.email" },
    },
    status: 201,
    audit: [{ action: "surface_template.created", targetType: "surface_template" }],
  }),
  "POST /v1/{workspace_id}/surface-templates/import": async (ws) => ({
    path: `${base(ws)}/surface-templates/import`,
    body: {
      name: `Imported ${unique()}`,
      kind: "screening",
      questionnaire: {
        resourceType: "Questionnaire",
        status: "active",
        title: "Screening",
        item: [{ linkId: "smoker", text: "Do you smoke?", type: "boolean", required: true }],
      },
    },
    status: 201,
    audit: [
      {
        action: "surface_template.imported",
        targetType: "surface_template",
        targetId: (body) => body.template.id,
      },
    ],
  }),
};

/**
 * The resources these suites own: each of their operations must have a fixture. Operations of other
 * resources without one still get every check that needs no valid request (401, 403, 413, 415, ...).
 */
export const FIXTURE_REQUIRED_TAGS = [
  "Workspaces",
  "Services",
  "Phone numbers",
  "Users",
  "API keys",
  "Audit",
  "Data sources",
  "Context graphs",
  "Knowledge",
  "Calls",
  "Simulator",
  "Operators",
];

export const hasFixture = (op: Operation) => op.id in SUCCESSFUL_REQUESTS;

/** The fixture's request when there is one, else a placeholder that gets as far as authorization. */
export async function anyRequest(
  op: Operation,
  ws: TestWorkspace,
): Promise<{ path: string; body?: unknown; status?: number }> {
  if (hasFixture(op)) return prepare(op.id, ws);
  return { path: concretePath(op, ws.id), body: op.hasBody ? {} : undefined };
}

/** The prepared request for `operationId`, or an error naming the operation that has no fixture. */
export function prepare(operationId: string, ws: TestWorkspace): Promise<PreparedRequest> {
  const fixture = SUCCESSFUL_REQUESTS[operationId];
  if (!fixture)
    throw new Error(
      `No successful request fixture for ${operationId}: add one to test/helpers/operations.ts`,
    );
  return fixture(ws);
}
