/**
 * How the WorkspaceHub's active-call set follows the event stream: each event about a call moves its
 * live overlay. `call.updated` from the CallSession carries the whole overlay; other publishers (the
 * telephony status callback, older sessions) carry a few fields, which are merged one by one, so a
 * partial or malformed field never wipes what is known. Pure: the hub persists what this returns.
 */
import { type CallOverlay, CallOverlaySchema } from "../schemas/operators";

export interface CallEvent {
  type: string;
  at: string;
  data: Record<string, unknown>;
}

/** The call an event is about, when it names one. */
export function callIdOf(data: Record<string, unknown>): string | null {
  const id = data.call_id;
  return typeof id === "string" && id.length > 0 && id.length <= 64 ? id : null;
}

/** A call the hub has just heard of: with the agent, nothing scored yet. */
export function defaultOverlay(callId: string, at: string): CallOverlay {
  return {
    call_id: callId,
    service_id: null,
    transport: null,
    simulated: false,
    started_at: at,
    updated_at: at,
    state_id: null,
    turn_count: 0,
    emotion: "calm",
    emotion_score: 0,
    valence: 0,
    risk_score: 0,
    risk_level: "normal",
    escalation: "none",
    escalated_at: null,
    escalation_reason: null,
    loops: 0,
    safety: null,
    mode: "agent",
    operator_user_id: null,
    patient_verified: false,
  };
}

const FIELDS = CallOverlaySchema.shape;
type Field = keyof typeof FIELDS;

/** The fields of `data` that are valid overlay fields (each checked on its own). */
export function overlayFields(data: Record<string, unknown>): Partial<CallOverlay> {
  const out: Record<string, unknown> = {};
  for (const key of Object.keys(FIELDS) as Field[]) {
    if (!(key in data) || key === "call_id") continue;
    const parsed = FIELDS[key].safeParse(data[key]);
    if (parsed.success) out[key] = parsed.data;
  }
  return out as Partial<CallOverlay>;
}

const operatorOf = (data: Record<string, unknown>) =>
  typeof data.operator_user_id === "string" ? data.operator_user_id : null;

/**
 * The overlay after `event` (for a call that is live: the hub ignores events about ended calls).
 * `current` is null for a call the hub has not seen: `call.started` and `call.updated` add it, other
 * events about an unknown call add it too (the hub may have missed the start), from their own fields.
 */
export function overlayAfter(current: CallOverlay | null, event: CallEvent, callId: string): CallOverlay {
  const base = current ?? defaultOverlay(callId, event.at);
  const touched = { ...base, updated_at: event.at };
  const { data } = event;
  switch (event.type) {
    case "call.started":
    case "call.updated": {
      const fields = overlayFields(data);
      return {
        ...touched,
        ...fields,
        call_id: callId,
        started_at: current?.started_at ?? fields.started_at ?? event.at,
      };
    }
    case "call.escalated": {
      const reason = typeof data.reason === "string" ? data.reason.slice(0, 64) : base.escalation_reason;
      if (data.routed === "fallback") {
        return {
          ...touched,
          escalation: "fallback",
          escalated_at: base.escalated_at ?? event.at,
          escalation_reason: reason,
        };
      }
      const withOperator = base.escalation === "connected" || base.escalation === "operator_active";
      return {
        ...touched,
        escalation: withOperator ? base.escalation : "waiting",
        escalated_at: base.escalated_at ?? event.at,
        escalation_reason: reason,
      };
    }
    case "operator.joined":
      return {
        ...touched,
        escalation: base.escalation === "operator_active" ? "operator_active" : "connected",
        operator_user_id: operatorOf(data) ?? base.operator_user_id,
      };
    case "operator.takeover":
      return {
        ...touched,
        mode: "operator",
        escalation: "operator_active",
        operator_user_id: operatorOf(data) ?? base.operator_user_id,
      };
    case "operator.handback":
      return { ...touched, mode: "agent", escalation: "connected" };
    case "operator.left": {
      const leaving = operatorOf(data);
      if (leaving && base.operator_user_id && leaving !== base.operator_user_id) return touched;
      // Nobody on it any more: still waiting for a person if it had asked for one.
      const escalation = base.escalation === "fallback" ? "fallback" : base.escalated_at ? "waiting" : "none";
      return { ...touched, mode: "agent", operator_user_id: null, escalation };
    }
    default:
      return touched;
  }
}
