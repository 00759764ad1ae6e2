/**
 * What a `CallSession` loads when its call starts: the call row, its service and active context graph,
 * the knowledge, persona and clinic time zone the engine reads, and the returning caller's L3 context
 * (PHI, held only while the call lives). A call that cannot be taken says why, as a code.
 */
import { eq } from "drizzle-orm";
import type { EnginePatient } from "../shared/engine/engine";
import { Persona } from "../shared/schemas/tenancy";
import { findCallById, patientByPhoneHash } from "../workers/calls/session-client";
import { database } from "../workers/db/client";
import { loadActiveGraph, loadKnowledge } from "../workers/db/context-graphs";
import { workspaces } from "../workers/db/schema";
import { findService } from "../workers/db/tenancy";
import { resolveClinicTimeZone } from "../workers/ehr/scheduling-slots";
import { patientMemory } from "../workers/world/memory";
import { escalationRules } from "./call-escalation";
import { type CallContext, type CallMeta, errorName, log, type Transport } from "./call-state";

/** A call ready to start (its meta, context and caller), or why it cannot be taken. */
export type LoadedCall =
  | { ok: false; reason: "no_call" | "wrong_transport" | "no_graph" | "no_service" }
  | {
      ok: true;
      meta: CallMeta;
      context: CallContext;
      patient: EnginePatient | null;
      /** The dashboard's phone simulator (it gets `debug` frames; Twilio never does). */
      simulator: boolean;
      now: Date;
    };

/** Loads what the call `callId`, answered on `transport`, needs to start. */
export async function loadCall(
  env: Env,
  callId: string,
  transport: Transport,
  callSid: string | null,
): Promise<LoadedCall> {
  const db = database(env.DB);
  const call = await findCallById(db, callId);
  const service = call?.serviceId ? await findService(db, call.workspaceId, call.serviceId) : undefined;
  const active = call && service ? await loadActiveGraph(db, call.workspaceId, service.id) : null;
  // A call answered with one transport has no business on another's socket (the token names the call only).
  const reason = !call
    ? "no_call"
    : call.transport !== transport
      ? "wrong_transport"
      : !active
        ? "no_graph"
        : null;
  if (reason || !call || !service || !active) return { ok: false, reason: reason ?? "no_service" };
  const [knowledge, workspace] = await Promise.all([
    loadKnowledge(db, call.workspaceId, service.id),
    db.query.workspaces.findFirst({
      where: eq(workspaces.id, call.workspaceId),
      columns: { name: true, timezone: true },
    }),
  ]);
  const persona = Persona.safeParse(service.persona);
  const { agent_name, tone } = persona.success ? persona.data : Persona.parse({});
  const patientEntityId = call.fromNumberHash
    ? await patientByPhoneHash(db, call.workspaceId, call.fromNumberHash)
    : null;
  let patient: EnginePatient | null = null;
  if (patientEntityId) {
    try {
      patient = await patientMemory(env, call.workspaceId, patientEntityId);
    } catch (err) {
      log("warn", "call.patient_context_failed", { call_id: callId, error: errorName(err) });
    }
  }
  const now = new Date();
  const meta: CallMeta = {
    callId,
    workspaceId: call.workspaceId,
    serviceId: service.id,
    graphId: active.id,
    graphVersion: active.version,
    callSid: callSid ?? call.providerSid,
    transport,
    serviceNumber: call.toNumber,
    fromNumberEnc: call.fromNumberEnc,
    patientEntityId,
    verified: false,
    returning: patientEntityId !== null,
    startedAt: now.toISOString(),
    escalated: false,
    escalationReason: null,
  };
  const context: CallContext = {
    graph: active.graph,
    knowledge,
    persona: { name: agent_name, tone, clinic_name: workspace?.name ?? service.name },
    timeZone: resolveClinicTimeZone(workspace?.timezone),
    escalation: escalationRules(service.escalationRules),
  };
  return { ok: true, meta, context, patient, simulator: call.provider === "simulator", now };
}
