/**
 * Escalations nobody took, as the stream's `alert` events tell them: nobody of the routed kind was online,
 * or nobody connected within the operator wait, and the service's fallback ran. What a supervisor must
 * not miss; each can be dismissed (for this page only).
 */
import type { WorkspaceEvent } from "../../types";

export interface UnansweredAlert {
  id: number;
  at: string;
  kind: "no_operator_online" | "operator_wait_expired";
  callId: string;
  reason: string;
  fallback: string;
}

const KIND_LABELS: Record<UnansweredAlert["kind"], string> = {
  no_operator_online: "Nobody was online to take it",
  operator_wait_expired: "Nobody picked it up within two minutes",
};

const FALLBACK_LABELS: Record<string, string> = {
  forward: "The call was forwarded to the service's fallback number.",
  callback: "The caller was promised a call back.",
  continue: "The agent kept the call, promising a call back.",
};

/** How many alerts the page keeps (newest first). */
const KEPT = 5;

/** The alert an event carries, or null for any other event. */
export function unansweredAlert(event: WorkspaceEvent): UnansweredAlert | null {
  if (event.type !== "alert") return null;
  const { kind, call_id, reason, fallback } = event.data as Record<string, unknown>;
  if ((kind !== "no_operator_online" && kind !== "operator_wait_expired") || typeof call_id !== "string")
    return null;
  return {
    id: event.id,
    at: event.at,
    kind,
    callId: call_id,
    reason: typeof reason === "string" ? reason : "",
    fallback: typeof fallback === "string" ? fallback : "",
  };
}

/** Adds an alert once (a replayed event changes nothing), newest first. */
export function withAlert(alerts: UnansweredAlert[], alert: UnansweredAlert): UnansweredAlert[] {
  if (alerts.some((a) => a.id === alert.id)) return alerts;
  return [alert, ...alerts].slice(0, KEPT);
}

const reasonText = (reason: string) =>
  reason.startsWith("safety:")
    ? `Red flag: ${reason.slice(7).replace(/_/g, " ")}`
    : reason.replace(/_/g, " ");

export function UnansweredAlerts({
  alerts,
  callHref,
  onDismiss,
}: {
  alerts: UnansweredAlert[];
  callHref(callId: string): string;
  onDismiss(id: number): void;
}) {
  if (alerts.length === 0) return null;
  return (
    <section class="ops-alerts" aria-label="Unanswered escalations" aria-live="polite">
      {alerts.map((alert) => (
        <div key={alert.id} class="notice warning ops-alert" data-testid="unanswered-alert">
          <p class="notice-title">
            Escalation unanswered: {KIND_LABELS[alert.kind]} ({reasonText(alert.reason)})
          </p>
          <p>
            {FALLBACK_LABELS[alert.fallback] ?? "The service's fallback ran."}{" "}
            {new Date(alert.at).toLocaleTimeString()}
          </p>
          <div class="notice-footer">
            <a class="button secondary small" href={callHref(alert.callId)}>
              Open the call
            </a>
            <button type="button" class="button secondary small" onClick={() => onDismiss(alert.id)}>
              Dismiss
            </button>
          </div>
        </div>
      ))}
    </section>
  );
}
