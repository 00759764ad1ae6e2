import { useState } from "preact/hooks";
import { roleAtLeast } from "../../../../shared/auth/roles";
import { api, workspacePath } from "../../api";
import { Dialog } from "../../components/dialog";
import { ErrorNotice } from "../../components/error-notice";
import { Loading } from "../../components/loading";
import { formatDateTime, formatPhone, titleCase } from "../../format";
import { useResource } from "../../hooks";
import { useSession } from "../../session";
import {
  type CallDetail,
  type CallEvent,
  formatCallDuration,
  type RecordingUrl,
  SimulatedBadge,
  StatusPill,
  stateLabel,
} from "./shared";

/** Seconds into the call, "+0:12", for each timeline entry. */
function offset(startedAt: string, at: string): string {
  const seconds = Math.max(0, Math.round((Date.parse(at) - Date.parse(startedAt)) / 1000));
  return `+${formatCallDuration(seconds)}`;
}

const KIND_LABELS: Record<string, string> = {
  "provider.voice": "Call received",
  "provider.status": "Status",
  "provider.recording": "Recording",
  turn: "Turn",
  state: "State",
  tool: "Tool call",
  escalation: "Escalation",
};

const kindLabel = (kind: string) => KIND_LABELS[kind] ?? titleCase(kind.replace(/\./g, " "));

/** An event's data as short "key value" pairs: ids and codes only, as the API stores them. */
function describe(event: CallEvent): string {
  return Object.entries(event.data)
    .filter(([, v]) => v !== null && v !== undefined && typeof v !== "object")
    .map(([k, v]) => `${k.replace(/_/g, " ")}: ${String(v)}`)
    .join(" · ");
}

function Recording({ call }: { call: CallDetail }) {
  const { workspace } = useSession();
  const [link, setLink] = useState<RecordingUrl | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const recording = call.recording;
  if (!recording) return <p class="muted">No recording for this call.</p>;
  const facts = [
    recording.status && `Status ${recording.status}`,
    recording.duration_seconds !== null && `${formatCallDuration(recording.duration_seconds)} long`,
    recording.channels !== null && `${recording.channels} channel${recording.channels === 1 ? "" : "s"}`,
  ].filter(Boolean);
  const canPlay = roleAtLeast(workspace.role, "operator");
  const fetchLink = async () => {
    setBusy(true);
    setError(null);
    try {
      setLink(await api.post<RecordingUrl>(workspacePath(workspace.id, "calls", call.id, "recording-url")));
    } catch (failure) {
      setError(failure);
    } finally {
      setBusy(false);
    }
  };
  return (
    <div class="call-recording">
      <p>{facts.join(" · ") || "Recording metadata only."}</p>
      {!recording.available ? (
        <p class="muted">The audio is not stored yet.</p>
      ) : !canPlay ? (
        <p class="muted">Playing recordings needs the Operator role.</p>
      ) : link ? (
        <>
          {/* biome-ignore lint/a11y/useMediaCaption: call audio has no captions; the timeline is its text */}
          <audio controls src={link.path} preload="none" />
          <p class="muted small-text">This link stops working at {formatDateTime(link.expires_at)}.</p>
        </>
      ) : (
        <button type="button" class="button secondary small" onClick={fetchLink} disabled={busy}>
          {busy ? "Preparing…" : "Play recording"}
        </button>
      )}
      {error !== null && <ErrorNotice error={error} title="Could not prepare the recording" />}
    </div>
  );
}

/** One call: what happened, its timeline (turns, states, tools, escalations), and its recording. */
export function CallDetailDialog({ callId, onClose }: { callId: string; onClose(): void }) {
  const { workspace } = useSession();
  const detail = useResource<CallDetail>(workspacePath(workspace.id, "calls", callId));
  const call = detail.data;
  return (
    <Dialog title="Call" onClose={onClose}>
      {detail.error ? (
        <ErrorNotice error={detail.error} title="Could not load this call" onRetry={detail.reload} />
      ) : !call ? (
        <Loading label="Loading the call" />
      ) : (
        <div class="call-detail">
          <dl class="details">
            <dt>Started</dt>
            <dd>{formatDateTime(call.started_at)}</dd>
            <dt>Status</dt>
            <dd>
              <StatusPill status={call.status} />
              {call.escalated && <span class="badge priority-high call-escalated">Escalated</span>}
            </dd>
            <dt>Caller</dt>
            <dd>
              {call.caller ?? "Unknown"}
              {call.simulated && (
                <>
                  {" "}
                  <SimulatedBadge />
                </>
              )}
            </dd>
            <dt>Line</dt>
            <dd>
              {call.service?.name ?? "No service"} · {formatPhone(call.to_number)}
            </dd>
            <dt>Channel</dt>
            <dd>
              {call.channel === "sms" ? "Text conversation" : "Voice call"}, {call.direction}
              {call.channel === "voice" && call.transport ? ` (${call.transport.replace(/_/g, " ")})` : ""}
            </dd>
            <dt>Duration</dt>
            <dd>{formatCallDuration(call.duration_seconds)}</dd>
            <dt>Final state</dt>
            <dd>{stateLabel(call.final_state)}</dd>
            <dt>Quality</dt>
            <dd>{call.quality_score === null ? "Not scored yet" : call.quality_score.toFixed(2)}</dd>
          </dl>

          <h3>Timeline</h3>
          {call.timeline.length === 0 ? (
            <p class="muted">No events recorded for this call.</p>
          ) : (
            <ol class="call-timeline" aria-label="Timeline">
              {call.timeline.map((event) => (
                <li key={event.id} class={`call-event kind-${event.kind}`}>
                  <time dateTime={event.at} title={formatDateTime(event.at)} class="muted">
                    {offset(call.started_at, event.at)}
                  </time>{" "}
                  <strong>{kindLabel(event.kind)}</strong> <span>{describe(event)}</span>
                </li>
              ))}
            </ol>
          )}
          <p class="muted small-text">
            {call.turns.length} turns · {call.states.length} state changes · {call.tools.length} tool calls ·{" "}
            {call.escalations.length} escalations
          </p>

          <h3>Recording</h3>
          <Recording call={call} />
        </div>
      )}
    </Dialog>
  );
}
