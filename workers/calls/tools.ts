/**
 * The tools the agent calls during a call (`TOOL_NAMES`), behind one entry point for the CallSession:
 * `executeTools(env, context, calls)` runs the engine's `tool_calls` one after the other (a booking may
 * follow the slot search of the same turn) and answers a `ToolExecution` per call, in order. A tool's own
 * failure never throws: it is outcome `error` (failed, refused) or `none` (ran, found nothing) with a
 * `reason` in `data`. Each execution is measured and logged as one JSON line of ids, tool, outcome and
 * latency; never arguments or data (PHI).
 *
 * | tool | does | module |
 * | --- | --- | --- |
 * | `verify_identity` | name + birth date (+ caller phone) → exactly one patient, at ≥ 0.9 | tools-patient.ts |
 * | `patient_context` | L3 memory + upcoming appointments (`none` when there are none) | tools-patient.ts |
 * | `find_slots` | free slots around the preferred time, as offers `{ id, label, start }` | tools-scheduling.ts |
 * | `book_appointment` / `reschedule_appointment` / `cancel_appointment` | through the EHR, once per call and slot | tools-scheduling.ts |
 * | `record_fact` | the verification pipeline, the call as the interaction | tools-patient.ts |
 * | `record_promise` | a `task.recorded` callback on the patient | tools-patient.ts |
 * | `escalate` / `transfer` / `end_call` | tell the session what to do | here |
 * | `send_sms` | a text to the caller from the clinic number, through the Messaging adapter's queue | here |
 * | `create_surface` / `deliver_surface` / `check_surface_status` / `list_surfaces` | forms for what the record lacks | tools-surfaces.ts |
 */
import type { ToolName } from "../../shared/calls/context-graph";
import type { EnginePatient, HistoryTurn, ToolCall, ToolResult } from "../../shared/engine/engine";
import { normalizeE164 } from "../../shared/tenancy/phone";
import { ApiError } from "../errors";
import { queueSms } from "../telephony/messaging";
import { patientContext, recordFact, recordPromise, verifyIdentity } from "./tools-patient";
import { bookTool, cancelTool, findSlotsTool, rescheduleTool } from "./tools-scheduling";
import {
  checkSurfaceStatusTool,
  createSurfaceTool,
  deliverSurfaceTool,
  listSurfacesTool,
} from "./tools-surfaces";

export interface ToolContext {
  workspaceId: string;
  callId: string;
  serviceId: string;
  /** The caller's number (E.164), when known. */
  callerPhone: string | null;
  /** The clinic number the caller reached (texts come from it), when known. */
  serviceNumber?: string | null;
  /** The verified (or caller-id matched) patient, when known. */
  patientEntityId: string | null;
  now: Date;
  /** The clinic's IANA zone; offered slots are labelled in it. */
  timeZone: string;
  /** The engine turn the calls come from: makes retried writes of one turn land once. Optional. */
  turn?: number;
  /** Recent turns of the call, for the judge of `record_fact` (it checks facts against the caller's words). */
  transcript?: HistoryTurn[];
}

export interface ToolExecution {
  result: ToolResult;
  latency_ms: number;
  /** Set by verify_identity on success. */
  patientEntityId?: string;
  /** Set by patient_context / verify_identity. */
  patient?: EnginePatient;
  escalation?: { reason: string };
  transfer?: { to: string };
  end?: boolean;
}

/** What a tool answers before it is measured. */
export interface ToolOutcomeOf {
  outcome: ToolResult["outcome"];
  data?: Record<string, unknown>;
}

type Handled = ToolOutcomeOf & Omit<ToolExecution, "result" | "latency_ms">;

type Args = Record<string, unknown>;

const HANDLERS: Record<ToolName, (env: Env, context: ToolContext, args: Args) => Promise<Handled>> = {
  verify_identity: verifyIdentity,
  patient_context: (env, context) => patientContext(env, context),
  find_slots: findSlotsTool,
  book_appointment: bookTool,
  reschedule_appointment: rescheduleTool,
  cancel_appointment: cancelTool,
  record_fact: recordFact,
  record_promise: recordPromise,
  send_sms: sendSms,
  create_surface: createSurfaceTool,
  deliver_surface: deliverSurfaceTool,
  check_surface_status: checkSurfaceStatusTool,
  list_surfaces: (env, context) => listSurfacesTool(env, context),
  escalate: async (_env, _context, args) => {
    const reason = typeof args.reason === "string" && args.reason ? args.reason.slice(0, 200) : "requested";
    return { outcome: "ok", data: { reason }, escalation: { reason } };
  },
  transfer: async (_env, _context, args) => {
    const to = typeof args.to === "string" ? normalizeE164(args.to) : null;
    if (!to) return { outcome: "error", data: { reason: "invalid_number" } };
    return { outcome: "ok", data: { to }, transfer: { to } };
  },
  end_call: async () => ({ outcome: "ok", end: true }),
  // The engine answers from knowledge itself; a session that is asked anyway has nothing to add.
  answer_from_knowledge: async () => ({ outcome: "none", data: { reason: "answered_by_engine" } }),
};

export async function executeTools(
  env: Env,
  context: ToolContext,
  calls: ToolCall[],
): Promise<ToolExecution[]> {
  const executions: ToolExecution[] = [];
  let current = context;
  for (const call of calls) {
    const execution = await executeTool(env, current, call);
    // A patient verified by an earlier call of the same turn is the patient of the later ones.
    if (execution.patientEntityId) current = { ...current, patientEntityId: execution.patientEntityId };
    executions.push(execution);
  }
  return executions;
}

async function executeTool(env: Env, context: ToolContext, call: ToolCall): Promise<ToolExecution> {
  const started = performance.now();
  let handled: Handled;
  let failure: string | undefined;
  const handler = Object.hasOwn(HANDLERS, call.name) ? HANDLERS[call.name] : undefined;
  try {
    handled = handler
      ? await handler(env, context, isArgs(call.args) ? call.args : {})
      : { outcome: "error", data: { reason: "unknown_tool" } };
  } catch (err) {
    failure = err instanceof ApiError ? err.code : "internal_error";
    handled = { outcome: "error", data: { reason: reasonOf(err) } };
  }
  // performance.now() only advances on I/O in workerd: the latency of a call that did I/O.
  const latency = Math.round(performance.now() - started);
  const { outcome, data, ...effects } = handled;
  console.info(
    JSON.stringify({
      level: "info",
      event: "call.tool",
      workspace_id: context.workspaceId,
      call_id: context.callId,
      service_id: context.serviceId,
      ...(context.turn !== undefined ? { turn: context.turn } : {}),
      tool: call.name,
      outcome,
      ...(typeof data?.reason === "string" ? { reason: data.reason } : {}),
      ...(failure ? { error_code: failure } : {}),
      latency_ms: latency,
    }),
  );
  return {
    result: { name: call.name, outcome, ...(data !== undefined ? { data } : {}) },
    latency_ms: latency,
    ...effects,
  };
}

const isArgs = (v: unknown): v is Args => typeof v === "object" && v !== null && !Array.isArray(v);

/** A reason the engine and the logs may see: the error code, never a message that could hold details. */
function reasonOf(err: unknown): string {
  if (!(err instanceof ApiError)) return "internal_error";
  // scheduling.ts answers `conflict` when the workspace has no scheduling source.
  if (err.code === "conflict" && /scheduling source/i.test(err.message)) return "no_scheduling_source";
  if (err.code === "upstream_error") return "ehr_unavailable";
  return err.code;
}

/**
 * A text to the caller from the clinic number they reached: `body` as the engine wrote it, or for
 * `kind: "confirmation"` the appointment the caller chose (`selected_option.label`). Queued for the
 * Messaging adapter (sealed; sent by the `sms.send` job), once per call, turn and kind however often
 * the turn runs. Nothing to say, no number to send to, or no clinic number is `none` with the reason.
 */
async function sendSms(env: Env, context: ToolContext, args: Args): Promise<Handled> {
  const to = context.callerPhone ? normalizeE164(context.callerPhone) : null;
  if (!to) return { outcome: "none", data: { reason: "no_phone" } };
  const from = context.serviceNumber ? normalizeE164(context.serviceNumber) : null;
  if (!from) return { outcome: "none", data: { reason: "no_sender" } };
  const kind = typeof args.kind === "string" && /^[a-z_]{1,40}$/.test(args.kind) ? args.kind : "confirmation";
  const body = smsBody(kind, args);
  if (!body) return { outcome: "none", data: { reason: "nothing_to_send", kind } };
  await queueSms(env, {
    workspaceId: context.workspaceId,
    callId: context.callId,
    key: `${context.callId}:tool:${context.turn ?? "call"}:${kind}`,
    from,
    to,
    body,
  });
  return { outcome: "ok", data: { kind, queued: true } };
}

function smsBody(kind: string, args: Args): string | null {
  if (typeof args.body === "string" && args.body.trim()) return args.body.trim().slice(0, 1600);
  const option = args.selected_option as { label?: unknown } | undefined;
  if (kind === "confirmation" && typeof option?.label === "string")
    return `Your appointment is booked for ${option.label}. Reply to this message if you need to change it.`;
  return null;
}
