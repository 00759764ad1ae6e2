/**
 * The operator side of a `CallSession`: who controls what the caller hears (the agent or an operator),
 * where the call stands with the operators (waiting, connected, operator active, fallback), the per-turn
 * risk and emotion points, and the listen sockets operators watch the call through.
 *
 * Everything lives in the session's SQLite storage (the `meta` row `control`, the `points` table, the
 * `operator_user_id` column of `turns`), so an evicted session comes back in the same mode. Listen sockets
 * are hibernatable WebSockets tagged `listener`; they get `ListenFrame`s (shared/operators/live.ts) and
 * never a frame meant for Twilio.
 */
import { emotionTier } from "../shared/engine/risk";
import type { ListenFrame, LiveControl, LivePoint, LiveTurn, Speaker } from "../shared/operators/live";
import type { EscalationStatus } from "../shared/operators/urgency";
import type { CallOverlay } from "../shared/schemas/operators";

/** The header the Worker's listen route names the (authenticated) operator with. */
export const OPERATOR_HEADER = "X-Switchboard-Operator";
/** The tag of operators' listen sockets. */
export const LISTENER_TAG = "listener";

/** How long a call waits for an operator to connect before the service's fallback runs. */
export const OPERATOR_WAIT_MS = 2 * 60_000;
let operatorWaitMs = OPERATOR_WAIT_MS;
/** For tests: shortens the operator-wait limit (pass nothing to restore it). */
export function setOperatorWaitLimit(ms?: number) {
  operatorWaitMs = ms ?? OPERATOR_WAIT_MS;
}
export const operatorWaitLimit = () => operatorWaitMs;

/** While the caller waits for a person, the agent says a short hold line this often (when nobody speaks). */
export const HOLD_LINE_INTERVAL_MS = 30_000;

/** What the agent says in the operators' moments (plain sentences: spoken, synthesized or texted). */
export const LINES = {
  hold: "Thanks for holding. A member of our team will be with you shortly.",
  reentry: "Thanks for holding. Is there anything else I can help you with?",
  transfer: "I'm transferring you to our clinic line now. Please hold.",
  /** Nobody can take the call and the service keeps the agent going. */
  continue:
    "Everyone on our team is busy right now, so someone will call you back as soon as possible. I can keep helping you in the meantime.",
  /** The wait for an operator ran out: before a forward. */
  forwardAfterWait: "I'm sorry for the wait. I'm forwarding your call to our team now.",
  /** The wait ran out: before the call back is promised (the handoff says it, then hangs up). */
  callbackAfterWait: "I'm sorry for the wait. Nobody from our team can come to the phone right now.",
} as const;

/** The service's fallback when no operator can take an escalation (`EscalationRules.fallback`). */
export type Fallback = "forward" | "callback" | "continue";

/** The fallback that runs for `rules`: a forward without a number to forward to is a call back. */
export function fallbackOf(rules: { fallback: Fallback; fallback_number: string | null }): Fallback {
  return rules.fallback === "forward" && !rules.fallback_number ? "callback" : rules.fallback;
}

/** Where the call stands with the operators; stored as the `control` meta row. */
export interface OperatorControl {
  mode: "agent" | "operator";
  /** The operator in control (mode `operator`), else the last one who connected. */
  operatorUserId: string | null;
  escalation: EscalationStatus;
  escalatedAt: string | null;
  /** The fallback that ran, when nobody could take the call. */
  fallback: Fallback | null;
  /** Operators who opened the call. */
  connected: string[];
  /** When the operator in control took over (for the timeline's active time). */
  takeoverAt: string | null;
  /** A transfer waiting for the agent's announcement to finish. */
  transferTo: string | null;
}

export const INITIAL_CONTROL: OperatorControl = {
  mode: "agent",
  operatorUserId: null,
  escalation: "none",
  escalatedAt: null,
  fallback: null,
  connected: [],
  takeoverAt: null,
  transferTo: null,
};

/** A person is waited for, or on the call (listening, guiding or in control). */
export function operatorEngaged(control: OperatorControl): boolean {
  return (
    control.escalation === "waiting" ||
    control.escalation === "connected" ||
    control.escalation === "operator_active"
  );
}

/** An escalation is routed unless an earlier one is already waiting for, or with, an operator. */
export function routesEscalation(control: OperatorControl): boolean {
  return control.escalatedAt === null || !operatorEngaged(control);
}

/**
 * Silence never hangs up while an operator has the call, or an escalated call waits for or has one (the
 * agent says a hold line while it has the call). An operator only listening in to a call that never
 * escalated changes nothing.
 */
export function holdsOnSilence(control: OperatorControl): boolean {
  return control.mode === "operator" || (control.escalatedAt !== null && operatorEngaged(control));
}

/** The control state as the API and listeners see it (`over`: the session has finished). */
export function liveControl(callId: string, control: OperatorControl, over: boolean): LiveControl {
  return {
    call_id: callId,
    mode: control.mode,
    operator_user_id: control.operatorUserId,
    escalation: control.escalation,
    pending_transfer: control.transferTo !== null && !over,
  };
}

/** What the overlay reads besides the control state (all ids, codes and numbers). */
export interface OverlayInput {
  callId: string;
  serviceId: string | null;
  transport: string | null;
  simulated: boolean;
  startedAt: string;
  stateId: string | null;
  callerTurns: number;
  /** Smoothed language emotion 0..1 (the engine's `state.emotion`). */
  emotion: number;
  loops: Record<string, number>;
  latest: Pick<LivePoint, "risk_score" | "risk_level" | "valence"> | null;
  escalationReason: string | null;
  verified: boolean;
}

/** The call's live overlay (`call.updated`'s data, the queue entry's base). */
export function overlayOf(input: OverlayInput, control: OperatorControl, now = new Date()): CallOverlay {
  const emotion = Math.round(input.emotion * 1000) / 1000;
  return {
    call_id: input.callId,
    service_id: input.serviceId,
    transport: input.transport,
    simulated: input.simulated,
    started_at: input.startedAt,
    updated_at: now.toISOString(),
    state_id: input.stateId,
    turn_count: input.callerTurns,
    emotion: emotionTier(emotion),
    emotion_score: emotion,
    valence: input.latest?.valence ?? 0,
    ...clinicalRisk(
      { score: input.latest?.risk_score ?? 0, level: input.latest?.risk_level ?? "normal" },
      input.escalationReason,
    ),
    escalation: control.escalation,
    escalated_at: control.escalatedAt,
    escalation_reason: input.escalationReason,
    loops: Math.max(0, ...Object.values(input.loops)),
    safety: safetyOf(input.escalationReason),
    mode: control.mode,
    operator_user_id: control.operatorUserId,
    patient_verified: input.verified,
  };
}

/**
 * The risk an operator reads: the engine's conversational risk (emotion, loops, duration), except that a
 * red flag (a safety rule fired: chest pain, a crisis...) is the highest risk there is, whatever the tone.
 */
export function clinicalRisk(
  risk: { score: number; level: LivePoint["risk_level"] },
  escalationReason: string | null,
): { risk_score: number; risk_level: LivePoint["risk_level"] } {
  if (safetyOf(escalationReason)) return { risk_score: 1, risk_level: "escalate" };
  return { risk_score: risk.score, risk_level: risk.level };
}

/** The safety category an escalation reason names (`safety:chest_pain` → `chest_pain`), if any. */
export function safetyOf(reason: string | null): string | null {
  return reason?.startsWith("safety:") ? reason.slice("safety:".length) : null;
}

/**
 * The storage and sockets of the operator side. The session owns the meta table; this reads and writes
 * its `control` row, the points, and the turns' text for operators.
 */
export class OperatorDesk {
  readonly #ctx: DurableObjectState;

  constructor(ctx: DurableObjectState) {
    this.#ctx = ctx;
  }

  get #sql() {
    return this.#ctx.storage.sql;
  }

  control(): OperatorControl {
    const row = this.#sql
      .exec<{ value: string }>("SELECT value FROM meta WHERE key = 'control'")
      .toArray()[0];
    return row
      ? { ...INITIAL_CONTROL, ...(JSON.parse(row.value) as Partial<OperatorControl>) }
      : INITIAL_CONTROL;
  }

  setControl(control: OperatorControl): OperatorControl {
    this.#sql.exec(
      "INSERT INTO meta (key, value) VALUES ('control', ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
      JSON.stringify(control),
    );
    return control;
  }

  update(change: Partial<OperatorControl>): OperatorControl {
    return this.setControl({ ...this.control(), ...change });
  }

  addPoint(point: LivePoint) {
    this.#sql.exec(
      `INSERT OR REPLACE INTO points (seq, at, risk_score, risk_level, emotion_score, valence)
       VALUES (?, ?, ?, ?, ?, ?)`,
      point.seq,
      point.at,
      point.risk_score,
      point.risk_level,
      point.emotion_score,
      point.valence,
    );
    this.tell({ type: "point", point });
  }

  /** The risk and emotion timeline, oldest first (or only the newest point). */
  points(options: { latest?: boolean } = {}): LivePoint[] {
    return this.#sql
      .exec<{
        seq: number;
        at: string;
        risk_score: number;
        risk_level: LivePoint["risk_level"];
        emotion_score: number;
        valence: number;
      }>(
        options.latest
          ? "SELECT seq, at, risk_score, risk_level, emotion_score, valence FROM points ORDER BY seq DESC LIMIT 1"
          : "SELECT seq, at, risk_score, risk_level, emotion_score, valence FROM points ORDER BY seq",
      )
      .toArray()
      .map((p) => ({ ...p }));
  }

  latestPoint(): LivePoint | null {
    return this.points({ latest: true })[0] ?? null;
  }

  /** The transcript so far, as operators read it (what was said: after a barge-in, what was heard). */
  turns(): LiveTurn[] {
    return this.#turnRows("text != '' ORDER BY seq");
  }

  /** One stored turn, told to the listeners. */
  tellTurn(seq: number) {
    if (this.listeners().length === 0) return;
    const [turn] = this.#turnRows("seq = ? AND text != ''", seq);
    if (turn) this.tell({ type: "turn", ...turn });
  }

  #turnRows(where: string, ...bindings: SqlStorageValue[]): LiveTurn[] {
    return this.#sql
      .exec<{
        seq: number;
        speaker: Speaker;
        text: string;
        heard: string | null;
        started_at: string;
        operator_user_id: string | null;
      }>(
        `SELECT seq, speaker, text, heard, started_at, operator_user_id FROM turns WHERE ${where}`,
        ...bindings,
      )
      .toArray()
      .map((t) => liveTurn(t));
  }

  listeners(): WebSocket[] {
    return this.#ctx.getWebSockets(LISTENER_TAG);
  }

  /** A frame to every listen socket but `except` (one that fails is closing: its close handler forgets it). */
  tell(frame: ListenFrame, except?: WebSocket) {
    const listeners = this.listeners().filter((ws) => ws !== except);
    if (listeners.length === 0) return;
    const text = JSON.stringify(frame);
    for (const ws of listeners) {
      try {
        ws.send(text);
      } catch {
        // Closing already.
      }
    }
  }

  /** Ends every listen socket with a last `ended` frame. */
  closeListeners(reason: string) {
    this.tell({ type: "ended", reason });
    for (const ws of this.listeners()) {
      try {
        ws.close(1000, "call ended");
      } catch {
        // Closed already.
      }
    }
  }
}

function liveTurn(t: {
  seq: number;
  speaker: Speaker;
  text: string;
  heard: string | null;
  started_at: string;
  operator_user_id: string | null;
}): LiveTurn {
  return {
    seq: t.seq,
    speaker: t.speaker,
    text: t.heard ?? t.text,
    at: t.started_at,
    ...(t.speaker === "operator" ? { operator_user_id: t.operator_user_id } : {}),
  };
}
