/**
 * World-model fixtures: a fresh workspace (a member and a key per role, from `test/helpers`), patients
 * ingested the way an EHR connector would, extractions submitted the way a call's post-processing would,
 * and readers for what a request must or must not have written.
 */
import { env } from "cloudflare:workers";
import { expect } from "vitest";
import { apiKeyHint, generateApiKey, hashApiKey } from "../../shared/auth/api-key";
import { ROLES, type Role } from "../../shared/auth/roles";
import type { WorkspaceEvent } from "../../shared/events/workspace-events";
import { newId } from "../../shared/ids";
import { workspaceHub } from "../../workers/events";
import { type ApiResponse, api } from "../helpers/http";
import { unique } from "../helpers/workspace";

/** A workspace with an API key per role (no users: the world API is driven by keys here). */
export interface WorldWorkspace {
  id: string;
  keys: Record<Role, string>;
  keyIds: Record<Role, string>;
}

// Response bodies are checked by assertions, not by the compiler (as in test/helpers/http.ts).
// biome-ignore lint/suspicious/noExplicitAny: see above
type Json = any;

export interface WorldFixture {
  ws: WorldWorkspace;
  /** A request to `/v1/{ws}{path}` with the API key of `role`. */
  call: (role: Role, method: string, path: string, body?: unknown) => Promise<ApiResponse<Json>>;
}

/** A fresh workspace and its keys, written in one D1 batch (these suites make one per test). */
export async function worldWorkspace(): Promise<WorldFixture> {
  const id = `w-${unique()}`;
  const keys = {} as Record<Role, string>;
  const keyIds = {} as Record<Role, string>;
  const statements = [
    env.DB.prepare("INSERT INTO workspaces (id, name) VALUES (?, ?)").bind(id, `World ${id}`),
  ];
  for (const role of ROLES) {
    keys[role] = generateApiKey();
    keyIds[role] = newId("key");
    statements.push(
      env.DB.prepare(
        "INSERT INTO api_keys (id, workspace_id, name, role, key_hash, key_hint) VALUES (?, ?, ?, ?, ?, ?)",
      ).bind(keyIds[role], id, `${role} key`, role, await hashApiKey(keys[role]), apiKeyHint(keys[role])),
    );
  }
  await env.DB.batch(statements);
  const ws = { id, keys, keyIds };
  return {
    ws,
    call: (role, method, path, body) =>
      api(method, `/v1/${id}${path}`, { key: keys[role], ...(body !== undefined ? { body } : {}) }),
  };
}

export interface PatientSeed {
  given_name?: string;
  family_name?: string;
  birth_date?: string;
  phone?: string;
  email?: string;
  /** Extra `data` for allergy events from the EHR, e.g. `{ substance: "Penicillin", severity: "severe" }`. */
  allergies?: Record<string, unknown>[];
  external_id?: string;
}

/** Ingests a patient from the EHR (authoritative, 1.0); returns its entity id. */
export async function ingestPatient(f: WorldFixture, seed: PatientSeed = {}): Promise<string> {
  const externalId = seed.external_id ?? `ehr:Patient:${unique()}`;
  const entity = { entity_type: "patient", external_id: externalId };
  const key = (what: string) => `${externalId}:${what}`;
  const demographics = {
    given_name: seed.given_name ?? "Maria",
    family_name: seed.family_name ?? `Lopez${unique().slice(0, 4)}`,
    birth_date: seed.birth_date ?? "1980-04-02",
  };
  const contact = {
    ...(seed.phone ? { phone: seed.phone } : {}),
    ...(seed.email ? { email: seed.email } : {}),
  };
  const events = [
    {
      idempotency_key: key("demo"),
      entity,
      event_type: "demographics.recorded",
      data: demographics,
      source: "ehr",
    },
    ...(Object.keys(contact).length > 0
      ? [
          {
            idempotency_key: key("contact"),
            entity,
            event_type: "contact.recorded",
            data: contact,
            source: "ehr",
          },
        ]
      : []),
    ...(seed.allergies ?? []).map((data, i) => ({
      idempotency_key: key(`allergy-${i}`),
      entity,
      event_type: "allergy.recorded",
      data,
      source: "ehr",
    })),
  ];
  const res = await f.call("operator", "POST", "/world/events", { events });
  expect(res.status, res.text).toBe(200);
  return res.body.results[0].entity_id;
}

export interface ExtractedFactInput {
  event_type: string;
  data: unknown;
  basis?: "agent_confirmed" | "agent_mentioned" | "agent_inferred" | "surface_submission";
}

export interface ExtractionVerdict {
  path: string;
  extracted_event_id: string;
  promoted_event_id: string | null;
  review_item_id: string | null;
  verified: boolean;
  priority: "high" | "medium" | "low";
  reasons: string[];
}

/** Submits facts from a call where the agent said `agentSaid` and the caller `callerSaid`; returns the verdicts. */
export async function extract(
  f: WorldFixture,
  entityId: string,
  callerSaid: string,
  facts: ExtractedFactInput[],
  agentSaid = "How can I help you today?",
): Promise<ExtractionVerdict[]> {
  const res = await f.call("operator", "POST", "/world/extractions", {
    entity_id: entityId,
    interaction_id: `call-${unique()}`,
    channel: "voice",
    transcript: [
      { speaker: "agent", text: agentSaid },
      { speaker: "caller", text: callerSaid },
    ],
    facts: facts.map((fact) => ({ basis: "agent_confirmed", ...fact })),
  });
  expect(res.status, res.text).toBe(200);
  return res.body.results;
}

/** One review item for a new patient: an allergy the caller stated (verified, high priority). */
export async function allergyReview(f: WorldFixture, substance = "latex") {
  const entityId = await ingestPatient(f);
  const [verdict] = await extract(f, entityId, `I'm allergic to ${substance}`, [
    { event_type: "allergy.recorded", data: { substance } },
  ]);
  return { entityId, verdict: verdict!, itemId: verdict!.review_item_id! };
}

/** Rows a workspace holds in the world tables (and its audit chain length). */
export async function worldCounts(workspaceId: string) {
  const tables = ["world_events", "world_entities", "world_edges", "review_items", "audit_log"] as const;
  const results = await env.DB.batch([
    ...tables.map((t) =>
      env.DB.prepare(`SELECT count(*) AS n FROM ${t} WHERE workspace_id = ?`).bind(workspaceId),
    ),
    env.DB.prepare(
      "SELECT count(*) AS n FROM entity_identifiers i JOIN world_entities e ON e.id = i.entity_id WHERE e.workspace_id = ?",
    ).bind(workspaceId),
  ]);
  const n = (i: number) => (results[i]!.results[0] as { n: number }).n;
  return {
    world_events: n(0),
    world_entities: n(1),
    world_edges: n(2),
    review_items: n(3),
    audit_log: n(4),
    entity_identifiers: n(5),
  };
}

export interface EventRow {
  id: string;
  entity_id: string;
  entity_type: string;
  event_type: string;
  confidence: number;
  source: string;
  supersedes: string | null;
  sync_status: string;
  produced_by: string | null;
  idempotency_key: string;
}

/** A stored event as D1 holds it (without its sealed data). */
export async function eventRow(workspaceId: string, where: { id?: string; idempotencyKey?: string }) {
  const [column, value] = where.id ? ["id", where.id] : ["idempotency_key", where.idempotencyKey];
  const rows = await env.DB.prepare(
    `SELECT id, entity_id, entity_type, event_type, confidence, source, supersedes, sync_status, produced_by, idempotency_key
       FROM world_events WHERE workspace_id = ? AND ${column} = ?`,
  )
    .bind(workspaceId, value)
    .all<EventRow>();
  return rows.results;
}

/** The review item as D1 holds it. */
export async function reviewRow(workspaceId: string, id: string) {
  return env.DB.prepare("SELECT * FROM review_items WHERE workspace_id = ? AND id = ?")
    .bind(workspaceId, id)
    .first<Record<string, unknown>>();
}

/** The audit rows of a workspace with this action, oldest first. */
export async function auditActions(workspaceId: string, action: string) {
  const rows = await env.DB.prepare(
    "SELECT action, actor_type, actor_id, target_type, target_id, details FROM audit_log WHERE workspace_id = ? AND action = ? ORDER BY seq",
  )
    .bind(workspaceId, action)
    .all<{ action: string; actor_id: string; target_id: string; details: string }>();
  return rows.results;
}

/** What the workspace's live stream published, oldest first. */
export async function published(workspaceId: string, type?: string) {
  // The stub's inferred type gives up on the events' free-form `data`; this is the hub's own return type.
  const { events } = (await workspaceHub(env, workspaceId).since(0)) as unknown as {
    events: WorkspaceEvent[];
  };
  return type ? events.filter((e) => e.type === type) : events;
}

/** A fact of an entity as the API shows it. */
export async function factAt(f: WorldFixture, entityId: string, path: string) {
  const res = await f.call("viewer", "GET", `/world/entities/${entityId}`);
  expect(res.status, res.text).toBe(200);
  return (
    res.body.facts as { path: string; value: unknown; confidence: number; source: string; event_id: string }[]
  ).find((fact) => fact.path === path);
}
