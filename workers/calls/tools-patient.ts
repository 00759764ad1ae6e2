/**
 * The agent's patient tools: `verify_identity` (name + birth date, and the caller's phone, resolved in the
 * world model's identifier index as `POST /world/entities/resolve` does), `patient_context` (L3 memory
 * and upcoming appointments), `record_fact` (what the caller states → the verification pipeline, which
 * queues it for review) and `record_promise` (a callback task on the patient). Data handed back to the
 * engine on failure names a reason, never the patient's details.
 */

import { canonicalJson } from "../../shared/audit/chain";
import { blindIndex } from "../../shared/crypto/blind-index";
import { sha256Hex } from "../../shared/encoding";
import type { EnginePatient } from "../../shared/engine/engine";
import { TranscriptTurnSchema } from "../../shared/schemas/world";
import { PATH_FIELDS } from "../../shared/surfaces/from-paths";
import { SurfaceSpec } from "../../shared/surfaces/spec";
import { normalizeE164 } from "../../shared/tenancy/phone";
import { EVENT_TYPE_NAMES, type EventType } from "../../shared/world/events";
import { identifierKeys, type MatchKind, rankCandidates } from "../../shared/world/resolution";
import { database } from "../db/client";
import { findEntities, findIdentifierHits } from "../db/world";
import { upcomingAppointments } from "../ehr/scheduling";
import { ApiError } from "../errors";
import { targetedFacts } from "../surfaces/service";
import { ingestEvents } from "../world/ingest";
import { patientMemory } from "../world/memory";
import { submitExtractions } from "../world/verification";
import type { ToolContext, ToolOutcomeOf } from "./tools";

type Args = Record<string, unknown>;

/** A name + birth date match (0.9) is the least that verifies a caller. */
export const VERIFY_MIN_CONFIDENCE = 0.9;

const ISO_DATE = /^\d{4}-\d{2}-\d{2}$/;

/** Every way to read "Mary Ann van Dyke" as given + family name. */
function nameSplits(name: string): { given_name: string; family_name: string }[] {
  const tokens = name.trim().split(/\s+/).filter(Boolean).slice(0, 6);
  const splits: { given_name: string; family_name: string }[] = [];
  for (let i = 1; i < tokens.length; i++)
    splits.push({ given_name: tokens.slice(0, i).join(" "), family_name: tokens.slice(i).join(" ") });
  if (tokens.length > 2) splits.push({ given_name: tokens[0]!, family_name: tokens.at(-1)! });
  return splits;
}

/** Candidates (canonical patient entities) for the details, best first, as the resolve route ranks them. */
async function resolvePatient(
  env: Env,
  workspaceId: string,
  details: { name: string; birthDate: string; phone: string | null },
) {
  const keys = [
    ...nameSplits(details.name).flatMap((s) => identifierKeys({ ...s, birth_date: details.birthDate })),
    ...(details.phone ? identifierKeys({ phone: details.phone }) : []),
  ];
  const hashed = await Promise.all(
    keys.map(async (k) => ({
      kind: k.kind,
      valueHash: await blindIndex(env.ENCRYPTION_KEY, workspaceId, k.kind, k.value),
    })),
  );
  const db = database(env.DB);
  const hits = await findIdentifierHits(db, workspaceId, hashed);
  const entities = new Map(
    (await findEntities(db, workspaceId, [...new Set(hits.map((h) => h.entityId))]))
      .filter((e) => e.entityType === "patient")
      .map((e) => [e.id, e]),
  );
  // A merged entity's hits count for the entity it was merged into.
  return rankCandidates(
    hits
      .filter((h) => entities.has(h.entityId))
      .map((h) => ({
        entityId: entities.get(h.entityId)!.mergedInto ?? h.entityId,
        kind: h.kind as MatchKind,
      })),
  );
}

export interface PatientOutcome extends ToolOutcomeOf {
  patientEntityId?: string;
  patient?: EnginePatient;
}

/**
 * Verifies the caller: exactly one patient must match the name and birth date (the caller's phone only
 * adds confidence, or picks between two patients of the same name and birth date).
 */
export async function verifyIdentity(env: Env, context: ToolContext, args: Args): Promise<PatientOutcome> {
  const name =
    typeof args.name === "string" ? args.name : typeof args.full_name === "string" ? args.full_name : "";
  const birthDate =
    typeof args.birth_date === "string" && ISO_DATE.test(args.birth_date) ? args.birth_date : "";
  if (nameSplits(name).length === 0 || !birthDate)
    return { outcome: "none", data: { reason: "missing_details" } };
  const phone = context.callerPhone ? normalizeE164(context.callerPhone) : null;
  const candidates = (await resolvePatient(env, context.workspaceId, { name, birthDate, phone })).filter(
    (c) => c.matchedOn.includes("name_dob") && c.matchConfidence >= VERIFY_MIN_CONFIDENCE,
  );
  const best = candidates[0];
  const runnerUp = candidates[1];
  if (!best) return { outcome: "none", data: { reason: "no_match" } };
  if (runnerUp && runnerUp.matchConfidence >= best.matchConfidence)
    return { outcome: "none", data: { reason: "ambiguous" } };
  const patient = await contextOf(env, { ...context, patientEntityId: best.entityId });
  return {
    outcome: "ok",
    data: {
      patient_entity_id: best.entityId,
      match_confidence: best.matchConfidence,
      matched_on: best.matchedOn,
    },
    patientEntityId: best.entityId,
    ...(patient ? { patient } : {}),
  };
}

/** L3 memory plus upcoming appointments; null when the entity is not a patient (any more). */
async function contextOf(env: Env, context: ToolContext): Promise<EnginePatient | null> {
  if (!context.patientEntityId) return null;
  let memory: EnginePatient;
  try {
    memory = await patientMemory(env, context.workspaceId, context.patientEntityId);
  } catch (err) {
    if (err instanceof ApiError && err.code === "not_found") return null;
    throw err;
  }
  let upcoming: Awaited<ReturnType<typeof upcomingAppointments>> = [];
  try {
    upcoming = await upcomingAppointments(env, context.workspaceId, context.patientEntityId, context.now);
  } catch {
    // The EHR's appointments add to the context; the memory stands without them.
    upcoming = [];
  }
  return {
    ...memory,
    upcoming_appointments: upcoming.map(({ appointment_id: _id, ...a }) => a),
  };
}

/**
 * The patient's context. `ok` when they have an upcoming appointment, `none` when they have none (the
 * graphs route "which appointment?" on it) or no patient is known; the memory comes with both.
 */
export async function patientContext(env: Env, context: ToolContext): Promise<PatientOutcome> {
  const patient = await contextOf(env, context);
  if (!patient) return { outcome: "none", data: { reason: "no_patient" } };
  const count = patient.upcoming_appointments?.length ?? 0;
  return {
    outcome: count > 0 ? "ok" : "none",
    data: { upcoming_appointments: count },
    patient,
  };
}

const EVENT_TYPES = new Set<string>(EVENT_TYPE_NAMES);
const PHONE_FIELD = /phone|number/i;

/** The facts in the args: explicit `facts` / `event_type` + `data`, else a phone number the caller gave. */
function factsOf(args: Args): { event_type: EventType; data: unknown }[] {
  const explicit = Array.isArray(args.facts) ? args.facts : args.event_type ? [args] : [];
  const facts = explicit.flatMap((f) => {
    const fact = f as { event_type?: unknown; data?: unknown };
    return typeof fact.event_type === "string" && EVENT_TYPES.has(fact.event_type)
      ? [{ event_type: fact.event_type as EventType, data: fact.data }]
      : [];
  });
  if (facts.length > 0) return facts.slice(0, 50);
  // Answers collected on the call under a form field's key (a form asked verbally) become the same
  // events the form would have made: one mapping of fields to the world model for both.
  const spoken = verbalAnswers(args);
  if (spoken.length > 0) return spoken;
  for (const [field, value] of Object.entries(args)) {
    if (!PHONE_FIELD.test(field) || typeof value !== "string") continue;
    const phone = normalizeE164(value);
    if (phone) return [{ event_type: "contact.recorded", data: { phone } }];
  }
  return [];
}

/** Collected values whose names are form field keys with a target (`insurance_payer`…), as events. */
function verbalAnswers(args: Args): { event_type: EventType; data: unknown }[] {
  const fields = Object.values(PATH_FIELDS)
    .flat()
    .filter((f) => f.target && typeof args[f.key] === "string" && (args[f.key] as string).trim());
  if (fields.length === 0) return [];
  const spec = SurfaceSpec.parse({ title: "Asked on the call", fields });
  const answers = Object.fromEntries(
    fields.map((f) => [f.key, (args[f.key] as string).trim().slice(0, 200)]),
  );
  return targetedFacts(spec, answers).map((g) => ({ event_type: g.event_type, data: g.data }));
}

/**
 * A fact the caller stated, into the verification pipeline (the call is the interaction): it enters at
 * the caller-stated confidence (`agent_confirmed` when the engine says it was read back), the judge
 * checks it against the transcript, and it waits in the review queue.
 */
export async function recordFact(env: Env, context: ToolContext, args: Args): Promise<ToolOutcomeOf> {
  if (!context.patientEntityId) return { outcome: "none", data: { reason: "no_patient" } };
  const facts = factsOf(args);
  if (facts.length === 0) return { outcome: "none", data: { reason: "no_fact" } };
  const transcript = (context.transcript ?? [])
    .slice(-200)
    .map((t) => TranscriptTurnSchema.safeParse({ speaker: t.speaker, text: t.text.slice(0, 4000) }))
    .flatMap((r) => (r.success ? [r.data] : []));
  const basis = args.confirmed === true ? "agent_confirmed" : "agent_mentioned";
  try {
    const result = await submitExtractions(
      env,
      context.workspaceId,
      {
        entity_id: context.patientEntityId,
        interaction_id: context.callId,
        channel: "voice",
        transcript,
        facts: facts.map((f) => ({ ...f, basis })),
      },
      { actorType: "system", actorId: null, requestId: context.callId },
    );
    return {
      outcome: "ok",
      data: {
        recorded: result.results.length,
        review_item_ids: result.results.map((r) => r.review_item_id).filter(Boolean),
      },
    };
  } catch (err) {
    // Invalid facts are the engine's mistake, not a failure of the pipeline: nothing was stored.
    if (err instanceof ApiError && (err.code === "unprocessable" || err.code === "not_found"))
      return { outcome: "error", data: { reason: err.code === "not_found" ? "no_patient" : "invalid_fact" } };
    throw err;
  }
}

const isInstant = (v: unknown): v is string => typeof v === "string" && !Number.isNaN(Date.parse(v));

/** When the promise is due: `due_at`, else a date/time the caller gave, else the same time tomorrow. */
function dueAt(args: Args, now: Date): string {
  if (isInstant(args.due_at)) return new Date(args.due_at).toISOString();
  for (const v of Object.values(args)) {
    const instant = (v as { instant?: unknown } | null)?.instant;
    if (typeof v === "object" && v !== null && isInstant(instant) && Date.parse(instant) > now.getTime())
      return new Date(instant).toISOString();
  }
  return new Date(now.getTime() + 24 * 3_600_000).toISOString();
}

/**
 * A promise made to the caller ("we'll call you back tomorrow at 10") as a `task.recorded` event on the
 * patient (`kind: callback`). Keyed by the call and its turn (or, without one, what was promised), so a
 * retried turn records it once.
 */
export async function recordPromise(env: Env, context: ToolContext, args: Args): Promise<ToolOutcomeOf> {
  if (!context.patientEntityId) return { outcome: "none", data: { reason: "no_patient" } };
  const due = dueAt(args, context.now);
  const digest = (await sha256Hex(canonicalJson({ args, turn: context.turn ?? null } as never))).slice(0, 16);
  const taskId = `${context.callId}-${context.turn ?? digest}`.slice(0, 64);
  const note = typeof args.note === "string" ? args.note.slice(0, 1000) : "Call back promised on a call";
  const outcome = await ingestEvents(
    env,
    context.workspaceId,
    [
      {
        idempotency_key: `call:${context.callId}:promise:${context.turn ?? digest}`,
        entity_id: context.patientEntityId,
        event_type: "task.recorded",
        data: { task_id: taskId, kind: "callback", due_at: due, status: "open", note },
        source: "voice",
        produced_by: `call:${context.callId}`.slice(0, 100),
      },
    ],
    { actorType: "system", actorId: null, requestId: context.callId },
  );
  const result = outcome.results[0]!;
  return {
    outcome: "ok",
    data: { task_id: taskId, due_at: due, event_id: result.event_id, status: result.status },
  };
}
