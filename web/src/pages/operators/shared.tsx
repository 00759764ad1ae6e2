/** Words and badges the queue and the call view share: urgency, reasons, risk, emotion, escalation. */
import type { EscalationStatus, PriorityReason } from "../../../../shared/operators/urgency";
import type { CallOverlay, Operator } from "../../types";

export const REASON_LABELS: Record<PriorityReason, string> = {
  safety_concern: "Safety concern",
  high_risk: "High risk",
  negative_emotion: "Distressed",
  long_wait: "Long wait",
  looping: "Going in circles",
};

export const ESCALATION_LABELS: Record<EscalationStatus, string> = {
  none: "With the agent",
  waiting: "Waiting for an operator",
  connected: "Operator connected",
  operator_active: "Operator speaking",
  fallback: "Fallback ran",
};

const ESCALATION_TONE: Record<EscalationStatus, string> = {
  none: "",
  waiting: "priority-high",
  connected: "priority-medium",
  operator_active: "status-active",
  fallback: "status-revoked",
};

const RISK_TONE: Record<CallOverlay["risk_level"], string> = {
  normal: "status-active",
  monitor: "priority-low",
  alert: "priority-medium",
  escalate: "priority-high",
};

const EMOTION_LABELS: Record<CallOverlay["emotion"], string> = {
  calm: "Calm",
  concerned: "Concerned",
  distressed: "Distressed",
};

export function ReasonBadges({ reasons }: { reasons: readonly PriorityReason[] }) {
  if (reasons.length === 0) return null;
  return (
    <ul class="ops-reasons" aria-label="Priority reasons">
      {reasons.map((reason) => (
        <li key={reason} class={`badge flat reason-${reason}`} data-reason={reason}>
          {REASON_LABELS[reason]}
        </li>
      ))}
    </ul>
  );
}

export function RiskBadge({ level, score }: { level: CallOverlay["risk_level"]; score: number }) {
  return (
    <span class={`badge flat ${RISK_TONE[level]}`} title={`Risk score ${score.toFixed(2)}`}>
      Risk {level}
    </span>
  );
}

export function EmotionBadge({ emotion }: { emotion: CallOverlay["emotion"] }) {
  return <span class={`badge flat emotion-${emotion}`}>{EMOTION_LABELS[emotion]}</span>;
}

export function EscalationBadge({ status }: { status: EscalationStatus }) {
  return (
    <span class={`badge flat ${ESCALATION_TONE[status]}`} data-escalation={status}>
      {ESCALATION_LABELS[status]}
    </span>
  );
}

/** Urgency 0..1 as a bar and its number. */
export function UrgencyBar({ value }: { value: number }) {
  const percent = Math.round(Math.min(1, Math.max(0, value)) * 100);
  const tone = value >= 0.75 ? "high" : value >= 0.4 ? "medium" : "low";
  return (
    <span class={`urgency urgency-${tone}`} title="Urgency, 0 to 1">
      <span class="urgency-track" aria-hidden="true">
        <span class="urgency-fill" style={{ width: `${percent}%` }} />
      </span>
      <span class="urgency-value">
        <span class="visually-hidden">Urgency </span>
        {value.toFixed(2)}
      </span>
    </span>
  );
}

/** "0:07", "3:12", "1:02:09": time waiting or on the call. */
export function formatClock(ms: number): string {
  const total = Math.max(0, Math.floor(ms / 1000));
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = String(total % 60).padStart(2, "0");
  return h > 0 ? `${h}:${String(m).padStart(2, "0")}:${s}` : `${m}:${s}`;
}

/** A median in ms as "42 s" or "3.5 min"; "—" when there is none yet. */
export function formatMedian(ms: number | null): string {
  if (ms === null) return "—";
  if (ms < 60_000) return `${Math.round(ms / 1000)} s`;
  return `${(ms / 60_000).toFixed(1)} min`;
}

export const callerLabel = (name: string | null) => name ?? "Unknown caller";

/** How the transcript names an operator: by name when the workspace lists them. */
export function operatorName(operators: readonly Operator[], userId: string | null | undefined): string {
  const found = userId ? operators.find((o) => o.user_id === userId) : undefined;
  return found ? `Operator ${found.name}` : "Operator";
}
