/**
 * For `/v1` operations, a request that succeeds for any caller at or above the operation's minimum role,
 * with what it needs created first, and the audit rows a successful write must leave. Suites enumerate
 * operations from the OpenAPI document and look them up here: an operation with a fixture gets the
 * strict checks (exact success status, audit rows, every field fuzzed); every operation of the resources
 * in FIXTURE_REQUIRED_TAGS must have one. Adding a `/v1` route? Add its fixture here.
 */
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

  "GET /v1/{workspace_id}/audit": async (ws) => ({ path: `${base(ws)}/audit`, status: 200 }),
  "GET /v1/{workspace_id}/audit/verify": async (ws) => ({ path: `${base(ws)}/audit/verify`, status: 200 }),
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
