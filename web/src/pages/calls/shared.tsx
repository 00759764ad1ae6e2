/** What the calls table and the call detail both show: types, the status pill, the simulated badge, durations. */
import type { z } from "zod";
import type {
  CallDetailSchema,
  CallSummarySchema,
  RecordingUrlSchema,
} from "../../../../shared/schemas/calls";

export type CallSummary = z.infer<typeof CallSummarySchema>;
export type CallDetail = z.infer<typeof CallDetailSchema>;
export type CallEvent = CallDetail["timeline"][number];
export type RecordingUrl = z.infer<typeof RecordingUrlSchema>;

const STATUS_WORDS: Record<string, string> = {
  queued: "Queued",
  initiated: "Starting",
  ringing: "Ringing",
  "in-progress": "In progress",
  completed: "Completed",
  busy: "Busy",
  failed: "Failed",
  "no-answer": "No answer",
  canceled: "Canceled",
};

/** Each status reuses a badge tone: done (green), live (amber), did not connect (red), waiting (grey). */
const STATUS_TONE: Record<string, string> = {
  completed: "status-active",
  "in-progress": "priority-medium",
  ringing: "priority-medium",
  busy: "priority-high",
  failed: "priority-high",
  "no-answer": "priority-high",
  canceled: "status-revoked",
};

export const statusLabel = (status: string) => STATUS_WORDS[status] ?? status;

export function StatusPill({ status }: { status: string }) {
  return <span class={`badge call-status ${STATUS_TONE[status] ?? ""}`}>{statusLabel(status)}</span>;
}

/** Marks a call placed with the phone simulator, so a test call is never read as a patient's. */
export function SimulatedBadge() {
  return (
    <span class="badge source call-simulated" title="Placed with the phone simulator, not a real caller">
      Simulated
    </span>
  );
}

/** "Call" or "Text" (an SMS session is a text conversation, not a call). */
export const channelLabel = (channel: CallSummary["channel"]) => (channel === "sms" ? "Text" : "Call");

/** "0:42", "12:05", "1:02:09". */
export function formatCallDuration(seconds: number | null): string {
  if (seconds === null) return "—";
  const h = Math.floor(seconds / 3600);
  const m = Math.floor((seconds % 3600) / 60);
  const s = String(seconds % 60).padStart(2, "0");
  return h > 0 ? `${h}:${String(m).padStart(2, "0")}:${s}` : `${m}:${s}`;
}

/** A context-graph state id (`collect_dob`) as words. */
export const stateLabel = (state: string | null) => (state ? state.replace(/_/g, " ") : "—");
