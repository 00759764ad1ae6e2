/**
 * The briefing an operator reads on opening a call: gathers what the call's session and the world model
 * know, renders it deterministically (shared/operators/briefing.ts), and, when the Workers AI binding is
 * there, has the chat model write the narrative parts within a short budget; anything wrong with the
 * model's answer (error, slow, invalid) leaves the rendered briefing, and `source` says which it is.
 *
 * Inputs: a live call's `CallSession.liveView()`; for a call whose session is over (or never started),
 * its record: the D1 call row and timeline, and the sealed transcript in R2 (the session clears turn
 * text once the call ends). The patient: L3 memory (`patientMemory`) and upcoming appointments from the
 * EHR (bounded: the briefing never waits long for them). Logs carry ids and codes only.
 */

import type { EnginePatient } from "../../shared/engine/engine";
import { engineName } from "../../shared/engine/select";
import { DEFAULT_CHAT_MODEL } from "../../shared/engine/workers-ai-engine";
import {
  type BriefingInput,
  briefingModelRequest,
  mergeModelBriefing,
  renderBriefing,
} from "../../shared/operators/briefing";
import type { LiveTurn, LiveView } from "../../shared/operators/live";
import type { Briefing, CallOverlay } from "../../shared/schemas/operators";
import { callSession } from "../calls/session-client";
import { type CallRow, listCallEvents } from "../db/calls";
import { database } from "../db/client";
import { upcomingAppointments } from "../ehr/scheduling";
import { ApiError } from "../errors";
import { getTranscript, patientMemory } from "../world/memory";

/** The whole briefing answers within this (the issue asks for under 1 s locally). */
export const BRIEFING_DEADLINE_MS = 950;
/** The model gets at most this much of it. */
export const BRIEFING_MODEL_BUDGET_MS = 800;
/** Below this much time left, the model is not asked at all. */
const MIN_MODEL_MS = 150;
/** The EHR's appointments add to the briefing; past this they are left out. */
const APPOINTMENTS_BUDGET_MS = 300;

let aiOverride: Pick<Ai, "run"> | undefined;
/** Tests only: a chat binding to use instead of env.AI (pass nothing to restore). */
export function setBriefingAi(ai?: Pick<Ai, "run">): void {
  aiOverride = ai;
}

/** The model binding the briefing uses, chosen the way calls choose their engine (`AGENT_ENGINE=local` pins rules). */
function briefingAi(env: Env): Pick<Ai, "run"> | null {
  const ai = aiOverride ?? env.AI;
  return ai && engineName({ AI: ai, AGENT_ENGINE: env.AGENT_ENGINE }) === "workers-ai" ? ai : null;
}

function log(event: string, fields: Record<string, string | number>) {
  console.warn(JSON.stringify({ level: "warn", event, ...fields }));
}

/** Resolves to `fallback` when `promise` takes longer than `ms` (the promise is left to settle alone). */
function within<T>(promise: Promise<T>, ms: number, fallback: T): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  return Promise.race([
    promise,
    new Promise<T>((resolve) => {
      timer = setTimeout(() => resolve(fallback), Math.max(0, ms));
    }),
  ]).finally(() => clearTimeout(timer));
}

// ---------------------------------------------------------------------------------------------------------
// Inputs

type CallInput = Omit<BriefingInput, "patient" | "now">;

function fromLiveView(view: LiveView): CallInput {
  return {
    callId: view.overlay.call_id,
    overlay: view.overlay,
    intent: view.intent,
    turns: view.turns,
    timeline: view.timeline,
    tools: view.tools,
    patientEntityId: view.patient_entity_id,
    verified: view.verified,
    guidancePending: view.guidance_pending,
    endedAt: view.ended_at,
  };
}

const str = (v: unknown) => (typeof v === "string" ? v : null);
const num = (v: unknown) => (typeof v === "number" && Number.isFinite(v) ? v : null);
const RISK_LEVELS = new Set(["normal", "monitor", "alert", "escalate"]);

/**
 * A call from its record: the D1 row and the session's timeline written there when it ended, the
 * transcript from R2, and the session's own overlay when it still has one.
 */
async function fromRecord(env: Env, call: CallRow, view: LiveView | null): Promise<CallInput> {
  const [events, transcript] = await Promise.all([
    listCallEvents(database(env.DB), call.workspaceId, call.id),
    getTranscript(env, call.workspaceId, call.id).catch(() => null),
  ]);
  const turnEvents = events.filter((e) => e.kind === "turn").map((e) => e.data);
  const tools = events
    .filter((e) => e.kind === "tool")
    .map((e) => ({ name: str(e.data.name) ?? "tool", outcome: str(e.data.outcome) ?? "unknown", at: e.at }));
  const escalation = events.find((e) => e.kind === "escalation");
  const scored = turnEvents.filter((t) => num(t.risk_score) !== null);
  const lastScored = scored.at(-1);
  const intent =
    [...turnEvents]
      .reverse()
      .map((t) => str(t.intent))
      .find((i) => i !== null) ?? null;
  const reason = escalation ? str(escalation.data.reason) : null;
  const level = str(lastScored?.risk_level);
  const overlay: CallOverlay = view?.overlay ?? {
    call_id: call.id,
    service_id: call.serviceId,
    transport: call.transport,
    simulated: call.provider === "simulator",
    started_at: call.startedAt,
    updated_at: call.updatedAt,
    state_id: call.finalState ?? str(turnEvents.at(-1)?.state_id),
    turn_count: turnEvents.filter((t) => t.speaker === "caller").length,
    emotion: "calm",
    emotion_score: 0,
    valence: 0,
    risk_score: num(lastScored?.risk_score) ?? 0,
    risk_level: level && RISK_LEVELS.has(level) ? (level as CallOverlay["risk_level"]) : "normal",
    escalation: call.escalated || escalation ? "waiting" : "none",
    escalated_at: escalation?.at ?? null,
    escalation_reason: reason,
    loops: 0,
    safety: reason?.startsWith("safety:") ? reason.slice(7) : null,
    mode: "agent",
    operator_user_id: null,
    patient_verified: tools.some((t) => t.name === "verify_identity" && t.outcome === "ok"),
  };
  const viewHasText = view?.turns.some((t) => t.text.trim() !== "") ?? false;
  const turns: Pick<LiveTurn, "speaker" | "text" | "at">[] =
    view && viewHasText ? view.turns : (transcript?.turns ?? []);
  return {
    callId: call.id,
    overlay,
    intent: view?.intent ?? intent,
    turns,
    timeline: view?.timeline ?? scored.map((t) => ({ risk_score: num(t.risk_score)! })),
    tools: view?.tools ?? tools,
    patientEntityId: view?.patient_entity_id ?? call.patientEntityId,
    verified: view?.verified ?? overlay.patient_verified,
    guidancePending: view?.guidance_pending ?? 0,
    endedAt: view?.ended_at ?? call.endedAt ?? (call.statusRank === 4 ? call.updatedAt : null),
  };
}

/** The linked patient's memory and upcoming appointments; null when the record cannot be read. */
async function patientContext(
  env: Env,
  workspaceId: string,
  entityId: string | null,
  now: Date,
): Promise<EnginePatient | null> {
  if (!entityId) return null;
  const [memory, upcoming] = await Promise.all([
    patientMemory(env, workspaceId, entityId).catch((err) => {
      if (!(err instanceof ApiError && err.code === "not_found"))
        log("briefing.patient_unreadable", { workspace_id: workspaceId, error: errorName(err) });
      return null;
    }),
    within(
      upcomingAppointments(env, workspaceId, entityId, now).catch(() => []),
      APPOINTMENTS_BUDGET_MS,
      [],
    ),
  ]);
  return memory
    ? { ...memory, upcoming_appointments: upcoming.map(({ appointment_id: _id, ...a }) => a) }
    : null;
}

const errorName = (err: unknown) => (err instanceof Error ? err.name : "Error");

// ---------------------------------------------------------------------------------------------------------
// The briefing

/** The rendered briefing, and the model's version of it when the binding answers well and in time. */
export async function buildBriefing(env: Env, call: CallRow): Promise<Briefing> {
  const started = Date.now();
  const view = await callSession(env, call.id).liveView();
  const input = view && !view.ended_at ? fromLiveView(view) : await fromRecord(env, call, view);
  const now = new Date();
  const patient = await patientContext(env, call.workspaceId, input.patientEntityId, now);
  const full: BriefingInput = { ...input, patient, now };
  const rules = renderBriefing(full);

  const ai = briefingAi(env);
  if (!ai) return rules;
  const budget = Math.min(BRIEFING_MODEL_BUDGET_MS, BRIEFING_DEADLINE_MS - (Date.now() - started));
  if (budget < MIN_MODEL_MS) {
    log("briefing.model_skipped", { call_id: call.id, reason: "no_time" });
    return rules;
  }
  const TIMEOUT = Symbol("timeout");
  let raw: unknown;
  try {
    // Every chat model of Workers AI takes this request shape; the literal only picks the binding's types.
    raw = await within<unknown>(
      ai.run(DEFAULT_CHAT_MODEL, briefingModelRequest(full, rules) as never),
      budget,
      TIMEOUT,
    );
  } catch {
    log("briefing.model_fallback", { call_id: call.id, reason: "model_error" });
    return rules;
  }
  if (raw === TIMEOUT) {
    log("briefing.model_fallback", { call_id: call.id, reason: "timeout" });
    return rules;
  }
  const merged = mergeModelBriefing(raw, rules);
  if (!merged) log("briefing.model_fallback", { call_id: call.id, reason: "invalid_output" });
  return merged ?? rules;
}
