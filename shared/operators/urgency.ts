/**
 * The operators' priority queue: how urgent a live call is, in 0..1, and why.
 *
 * urgency = min(1, 0.35·risk + 0.15·distress + 0.20·escalated + 0.15·wait + 0.05·loops + 0.10·safety)
 *
 * - risk: the call's latest risk score (0..1, shared/engine/risk.ts).
 * - distress: how negative the caller sounds, max(emotion score, −valence) in 0..1.
 * - escalated: 1 while the call is waiting for an operator or an operator is on it, else 0.
 * - wait: time waiting for a person, saturating at 5 minutes (0 when nobody is waited for).
 * - loops: the most times one state was re-entered, saturating at 3.
 * - safety: 1 when a safety rule fired (chest pain, crisis...); such a call never scores below 0.9.
 *
 * Ties break by escalated first, then the longest wait, then the oldest call. Reasons name what drives
 * the score, for the operator to read at a glance.
 */
export const URGENCY_WEIGHTS = {
  risk: 0.35,
  distress: 0.15,
  escalated: 0.2,
  wait: 0.15,
  loops: 0.05,
  safety: 0.1,
} as const;

/** A safety concern puts a call at least this high. */
export const SAFETY_FLOOR = 0.9;
/** Waiting this long for a person counts fully. */
export const WAIT_SATURATION_MS = 5 * 60_000;
export const LOOP_SATURATION = 3;

/** What the reasons' thresholds are. */
export const REASON_THRESHOLDS = {
  high_risk: 0.7,
  long_wait_ms: 2 * 60_000,
  negative_emotion: 0.6,
  looping: 2,
} as const;

export const PRIORITY_REASONS = [
  "safety_concern",
  "high_risk",
  "negative_emotion",
  "long_wait",
  "looping",
] as const;
export type PriorityReason = (typeof PRIORITY_REASONS)[number];

/** Where a call stands with the operators. */
export const ESCALATION_STATUSES = [
  "none",
  /** Asked for a person; nobody connected yet. */
  "waiting",
  /** An operator opened the call (listening or guiding). */
  "connected",
  /** An operator has taken over and speaks to the caller. */
  "operator_active",
  /** Nobody could take it: the service's fallback ran (forward, callback, or the agent went on). */
  "fallback",
] as const;
export type EscalationStatus = (typeof ESCALATION_STATUSES)[number];

/** What urgency reads from a call's live overlay. */
export interface UrgencyInput {
  risk_score: number;
  /** Distress 0..1 (shared/engine/risk.ts `languageEmotion`, smoothed). */
  emotion_score: number;
  /** −1 (negative) .. 1 (positive). */
  valence: number;
  escalation: EscalationStatus;
  /** When the call asked for a person (null when it has not). */
  escalated_at: string | null;
  /** The most times one context-graph state was re-entered. */
  loops: number;
  /** The safety category that fired, if any. */
  safety: string | null;
}

export interface Urgency {
  score: number;
  reasons: PriorityReason[];
  wait_ms: number;
}

const clamp01 = (n: number) => (Number.isFinite(n) ? Math.min(1, Math.max(0, n)) : 0);

/** Time waiting for a person: from escalation until an operator connects (0 otherwise). */
export function waitMs(input: Pick<UrgencyInput, "escalation" | "escalated_at">, now: number): number {
  if (input.escalation !== "waiting" || !input.escalated_at) return 0;
  const since = Date.parse(input.escalated_at);
  return Number.isFinite(since) ? Math.max(0, now - since) : 0;
}

export function urgency(input: UrgencyInput, now: number): Urgency {
  const wait = waitMs(input, now);
  const distress = clamp01(Math.max(input.emotion_score, -input.valence));
  const escalated = input.escalation === "none" || input.escalation === "fallback" ? 0 : 1;
  const w = URGENCY_WEIGHTS;
  let score =
    w.risk * clamp01(input.risk_score) +
    w.distress * distress +
    w.escalated * escalated +
    w.wait * clamp01(wait / WAIT_SATURATION_MS) +
    w.loops * clamp01(input.loops / LOOP_SATURATION) +
    w.safety * (input.safety ? 1 : 0);
  if (input.safety) score = Math.max(score, SAFETY_FLOOR);
  score = Math.round(clamp01(score) * 1000) / 1000;
  const reasons: PriorityReason[] = [];
  if (input.safety) reasons.push("safety_concern");
  if (input.risk_score >= REASON_THRESHOLDS.high_risk) reasons.push("high_risk");
  if (distress >= REASON_THRESHOLDS.negative_emotion) reasons.push("negative_emotion");
  if (wait >= REASON_THRESHOLDS.long_wait_ms) reasons.push("long_wait");
  if (input.loops >= REASON_THRESHOLDS.looping) reasons.push("looping");
  return { score, reasons, wait_ms: wait };
}

/** Queue order: most urgent first; ties by escalated, longest wait, oldest call. */
export function compareQueueEntries(
  a: { urgency: number; escalation: EscalationStatus; wait_ms: number; started_at: string },
  b: { urgency: number; escalation: EscalationStatus; wait_ms: number; started_at: string },
): number {
  const escalated = (e: EscalationStatus) => (e === "none" || e === "fallback" ? 0 : 1);
  return (
    b.urgency - a.urgency ||
    escalated(b.escalation) - escalated(a.escalation) ||
    b.wait_ms - a.wait_ms ||
    a.started_at.localeCompare(b.started_at)
  );
}
