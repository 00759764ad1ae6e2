/**
 * One call as an operator works it: the live transcript (caller, agent, operator by name), the risk and
 * emotion timelines, the briefing, hidden guidance for the agent, and the controls: take over / hand
 * back, say to the caller while in control, transfer (after the agent's goodbye), wrap up. Every action
 * is a request to the API, which audits it; the listen socket then reports what changed.
 */
import type { ComponentChildren } from "preact";
import { useEffect, useId, useRef, useState } from "preact/hooks";
import { api, workspacePath } from "../../api";
import { Dialog } from "../../components/dialog";
import { ErrorNotice } from "../../components/error-notice";
import { Loading } from "../../components/loading";
import { formatDateTime } from "../../format";
import { Link } from "../../router";
import type { LiveControl, Operator, QueueEntry, Wrapup } from "../../types";
import { stateLabel } from "../calls/shared";
import { BriefingPanel } from "./briefing";
import { CallAudioPlayer } from "./call-audio";
import { callerLabel, EmotionBadge, EscalationBadge, operatorName, ReasonBadges, RiskBadge } from "./shared";
import { EmotionChart, RiskChart } from "./timeline-chart";
import { type ListenState, type LiveCall, useLiveCall } from "./use-live-call";

/** The API's `WRAPUP_OUTCOMES`, labelled (zod stays out of the bundle). */
const OUTCOMES = [
  ["resolved", "Resolved"],
  ["callback_scheduled", "Call back scheduled"],
  ["transferred", "Transferred"],
  ["unresolved", "Unresolved"],
] as const satisfies readonly (readonly [Wrapup["outcome"], string])[];

const LISTEN_LABELS: Record<ListenState, string> = {
  connecting: "Connecting…",
  listening: "Listening",
  reconnecting: "Reconnecting…",
  ended: "Call ended",
  failed: "Not connected",
};

/** Posts one action on the call; tracks which is in flight and the last failure. */
function useActions(workspaceId: string, callId: string, live: LiveCall) {
  const [busy, setBusy] = useState<string | null>(null);
  const [error, setError] = useState<{ action: string; error: unknown } | null>(null);
  // One action at a time; buttons stay enabled (a disabled button drops focus), a second click waits its turn.
  const inFlight = useRef(false);
  const run = async <T,>(action: string, body?: unknown): Promise<T | null> => {
    if (inFlight.current) return null;
    inFlight.current = true;
    setBusy(action);
    setError(null);
    try {
      const answer = await api.post<T>(workspacePath(workspaceId, "calls", callId, action), body);
      const control = answer as Partial<LiveControl> | null;
      if (control && typeof control.mode === "string" && typeof control.call_id === "string") {
        live.applyControl(control as LiveControl);
      }
      return answer;
    } catch (failure) {
      setError({ action, error: failure });
      return null;
    } finally {
      inFlight.current = false;
      setBusy(null);
    }
  };
  return { busy, error, run, clearError: () => setError(null) };
}

const ACTION_TITLES: Record<string, string> = {
  takeover: "Could not take over",
  handback: "Could not hand back",
  say: "The caller did not hear that",
  guidance: "The guidance was not sent",
  transfer: "Could not transfer the call",
  wrapup: "Could not wrap up",
};

/**
 * A one-line text box that sends on Enter (it is a form). It stays enabled while sending, so focus stays
 * in it for the next line; the text is kept when sending fails.
 */
function SendBox({
  inputId,
  label,
  placeholder,
  button,
  disabled,
  maxLength,
  onSend,
  hint,
}: {
  inputId?: string;
  label: string;
  placeholder: string;
  button: string;
  /** Nothing can be sent (the call is over). */
  disabled: boolean;
  maxLength: number;
  onSend(text: string): Promise<boolean>;
  hint?: ComponentChildren;
}) {
  const [draft, setDraft] = useState("");
  const [sending, setSending] = useState(false);
  const generated = useId();
  const id = inputId ?? generated;
  const submit = async (event: Event) => {
    event.preventDefault();
    const text = draft.trim();
    if (!text || disabled || sending) return;
    setSending(true);
    try {
      // Clear what was sent, not what was typed since.
      if (await onSend(text)) setDraft((current) => (current.trim() === text ? "" : current));
    } finally {
      setSending(false);
    }
  };
  return (
    <form class="ops-send" onSubmit={submit}>
      <label for={id}>{label}</label>
      <div class="ops-send-row">
        <input
          id={id}
          type="text"
          value={draft}
          placeholder={placeholder}
          autocomplete="off"
          maxLength={maxLength}
          disabled={disabled}
          aria-describedby={hint ? `${id}-hint` : undefined}
          onInput={(e) => setDraft(e.currentTarget.value)}
        />
        <button type="submit" class="button" disabled={disabled || sending || !draft.trim()}>
          {sending ? "Sending…" : button}
        </button>
      </div>
      {hint && (
        <p id={`${id}-hint`} class="hint">
          {hint}
        </p>
      )}
    </form>
  );
}

function Transcript({
  live,
  operators,
  audio,
}: {
  live: LiveCall;
  operators: readonly Operator[];
  audio: ComponentChildren;
}) {
  const log = useRef<HTMLDivElement>(null);
  const turns = live.data?.turns ?? [];
  useEffect(() => {
    log.current?.scrollTo({ top: log.current.scrollHeight });
  }, [turns.length]);
  const speaker = (turn: (typeof turns)[number]) =>
    turn.speaker === "caller"
      ? "Caller"
      : turn.speaker === "agent"
        ? "Agent"
        : operatorName(operators, turn.operator_user_id);
  return (
    <section class="ops-panel ops-transcript" aria-labelledby="ops-transcript-title">
      <div class="ops-panel-header">
        <h2 id="ops-transcript-title" class="ops-panel-title">
          Live transcript
        </h2>
        {audio}
        <span class="muted small-text">
          {turns.length} line{turns.length === 1 ? "" : "s"}
        </span>
      </div>
      {/* biome-ignore lint/a11y/noNoninteractiveTabindex: the log scrolls, so keyboard users must reach it */}
      <div class="ops-lines" ref={log} role="log" aria-live="polite" aria-label="Transcript" tabIndex={0}>
        {turns.length === 0 && (
          <p class="muted">{live.data ? "Nothing said yet." : "Waiting for the call's transcript…"}</p>
        )}
        <ol class="ops-lines-list">
          {turns.map((turn) => (
            <li key={turn.seq} class={`ops-line ${turn.speaker}`} data-speaker={turn.speaker}>
              <span class="ops-line-speaker">{speaker(turn)}</span>
              <time dateTime={turn.at} title={formatDateTime(turn.at)} class="ops-line-time muted">
                {new Date(turn.at).toLocaleTimeString(undefined, { timeStyle: "medium" })}
              </time>
              <p class="ops-line-text">{turn.text}</p>
            </li>
          ))}
        </ol>
      </div>
    </section>
  );
}

function TransferDialog({
  busy,
  error,
  onClose,
  onTransfer,
}: {
  busy: boolean;
  error: unknown;
  onClose(): void;
  onTransfer(to: string, announcement: string): Promise<void>;
}) {
  const [to, setTo] = useState("");
  const [announcement, setAnnouncement] = useState("");
  const ids = { to: useId(), announcement: useId() };
  const valid = /^\+[1-9]\d{6,14}$/.test(to.trim());
  return (
    <Dialog title="Transfer the call" onClose={onClose} size="small">
      <form
        class="form"
        onSubmit={(e) => {
          e.preventDefault();
          if (valid) void onTransfer(to.trim(), announcement.trim());
        }}
      >
        <p>
          The agent says the announcement to the caller, then the call moves to the number once its goodbye
          has finished.
        </p>
        <div class="field">
          <label for={ids.to}>Clinic line</label>
          <input
            id={ids.to}
            type="tel"
            value={to}
            placeholder="+14155550123"
            autocomplete="off"
            required
            aria-invalid={to.trim() !== "" && !valid}
            aria-describedby={`${ids.to}-hint`}
            onInput={(e) => setTo(e.currentTarget.value)}
          />
          <p id={`${ids.to}-hint`} class="hint">
            In international format, starting with +.
          </p>
        </div>
        <div class="field">
          <label for={ids.announcement}>Announcement (optional)</label>
          <textarea
            id={ids.announcement}
            rows={2}
            maxLength={1000}
            value={announcement}
            placeholder="I'm transferring you to our clinic line now. Please hold."
            onInput={(e) => setAnnouncement(e.currentTarget.value)}
          />
        </div>
        {error !== null && <ErrorNotice error={error} title={ACTION_TITLES.transfer} />}
        <div class="dialog-actions">
          <button type="button" class="button secondary" onClick={onClose}>
            Cancel
          </button>
          <button type="submit" class="button danger" disabled={!valid || busy}>
            {busy ? "Transferring…" : "Transfer the call"}
          </button>
        </div>
      </form>
    </Dialog>
  );
}

function WrapupDialog({
  busy,
  error,
  onClose,
  onWrapup,
}: {
  busy: boolean;
  error: unknown;
  onClose(): void;
  onWrapup(outcome: Wrapup["outcome"], notes: string): Promise<void>;
}) {
  const [outcome, setOutcome] = useState<Wrapup["outcome"]>("resolved");
  const [notes, setNotes] = useState("");
  const ids = { outcome: useId(), notes: useId() };
  const form = useRef<HTMLFormElement>(null);
  return (
    <Dialog title="Wrap up the call" onClose={onClose} size="small">
      <form
        ref={form}
        class="form"
        onSubmit={(e) => {
          e.preventDefault();
          void onWrapup(outcome, notes.trim());
        }}
      >
        <div class="field">
          <label for={ids.outcome}>Outcome</label>
          <select
            id={ids.outcome}
            value={outcome}
            onChange={(e) => setOutcome(e.currentTarget.value as Wrapup["outcome"])}
          >
            {OUTCOMES.map(([value, label]) => (
              <option key={value} value={value}>
                {label}
              </option>
            ))}
          </select>
        </div>
        <div class="field">
          <label for={ids.notes}>Notes</label>
          <textarea
            id={ids.notes}
            rows={4}
            maxLength={4000}
            value={notes}
            aria-describedby={`${ids.notes}-hint`}
            onInput={(e) => setNotes(e.currentTarget.value)}
            onKeyDown={(e) => {
              if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) {
                e.preventDefault();
                form.current?.requestSubmit();
              }
            }}
          />
          <p id={`${ids.notes}-hint`} class="hint">
            Kept sealed with the call. Ctrl+Enter saves.
          </p>
        </div>
        {error !== null && <ErrorNotice error={error} title={ACTION_TITLES.wrapup} />}
        <div class="dialog-actions">
          <button type="button" class="button secondary" onClick={onClose}>
            Cancel
          </button>
          <button type="submit" class="button" disabled={busy}>
            {busy ? "Saving…" : "Wrap up"}
          </button>
        </div>
      </form>
    </Dialog>
  );
}

export function CallView({
  workspaceId,
  callId,
  me,
  operators,
  entry,
  closeHref,
}: {
  workspaceId: string;
  callId: string;
  me: string;
  operators: readonly Operator[];
  /** The call's row in the queue, while it is there (the caller's name, urgency, reasons). */
  entry: QueueEntry | undefined;
  closeHref: string;
}) {
  const player = useRef<CallAudioPlayer | null>(null);
  player.current ??= new CallAudioPlayer();
  const [playing, setPlaying] = useState(false);
  useEffect(() => () => player.current?.stop(), []);
  const live = useLiveCall(workspaceId, callId, (track, payload) => player.current?.push(track, payload));
  const actions = useActions(workspaceId, callId, live);
  const [dialog, setDialog] = useState<"transfer" | "wrapup" | null>(null);
  const [guidanceSent, setGuidanceSent] = useState<{ text: string; at: string }[]>([]);
  const [wrapped, setWrapped] = useState<Wrapup | null>(null);
  const data = live.data;
  const control = data?.control;
  const overlay = data?.overlay;
  const over = live.state === "ended" || data?.endedAt != null;
  const inControl = control?.mode === "operator" && control.operator_user_id === me;
  const someoneElse = control?.mode === "operator" && control.operator_user_id !== me;
  const ready = data !== null && !over;
  useEffect(() => {
    if (!over) return;
    player.current?.stop();
    setPlaying(false);
  }, [over]);

  // The control button swaps (Take over ⇄ Hand back): after the operator's own switch, focus goes where
  // they will act next (the say box, or the Take over button) instead of being lost with the old button.
  const focusAfterSwitch = useRef<"say" | "takeover" | null>(null);
  const takeOverButton = useRef<HTMLButtonElement>(null);
  useEffect(() => {
    const target = focusAfterSwitch.current;
    if (target === "say" && inControl) document.getElementById("ops-say")?.focus();
    else if (target === "takeover" && !inControl) takeOverButton.current?.focus();
    else return;
    focusAfterSwitch.current = null;
  }, [inControl]);
  const takeOver = async () => {
    focusAfterSwitch.current = "say";
    await actions.run<LiveControl>("takeover");
  };
  const handBack = async () => {
    focusAfterSwitch.current = "takeover";
    await actions.run<LiveControl>("handback");
  };

  return (
    <article class="ops-call" aria-labelledby="ops-call-title" data-call-id={callId}>
      <header class="ops-call-header">
        <div class="ops-call-heading">
          <h2 id="ops-call-title" class="ops-call-title" tabIndex={-1}>
            {callerLabel(entry?.caller_name ?? null)}
          </h2>
          <p class="muted small-text">
            <span class="mono">{callId}</span>
            {overlay &&
              ` · ${stateLabel(overlay.state_id)} · ${overlay.turn_count} turn${overlay.turn_count === 1 ? "" : "s"}`}
            {overlay?.simulated && " · simulated"}
          </p>
        </div>
        <span class={`ops-listen listen-${live.state}`} role="status" data-testid="listen-state">
          {LISTEN_LABELS[live.state]}
        </span>
        <Link href={closeHref} class="button ghost small">
          Close call
        </Link>
      </header>

      {overlay && (
        <div class="ops-call-badges">
          <EscalationBadge status={control?.escalation ?? overlay.escalation} />
          <RiskBadge level={overlay.risk_level} score={overlay.risk_score} />
          <EmotionBadge emotion={overlay.emotion} />
          {overlay.safety && (
            <span class="badge flat priority-high">Safety: {overlay.safety.replace(/_/g, " ")}</span>
          )}
          {data?.verified ? (
            <span class="badge flat verified">Identity verified</span>
          ) : (
            <span class="badge flat unverified">Not verified</span>
          )}
          {entry && <ReasonBadges reasons={entry.priority_reasons} />}
        </div>
      )}

      {live.connectError !== null && (
        <ErrorNotice error={live.connectError} title="Could not join the call as its operator" />
      )}
      {live.state === "failed" && (
        <ErrorNotice
          error={new Error("The live connection to this call could not be opened.")}
          title="Not listening"
          onRetry={live.retry}
        />
      )}

      <fieldset class="ops-controls">
        <legend class="visually-hidden">Call controls</legend>
        {inControl ? (
          <button type="button" class="button" onClick={handBack} disabled={!ready}>
            {actions.busy === "handback" ? "Handing back…" : "Hand back to the agent"}
          </button>
        ) : (
          <button
            ref={takeOverButton}
            type="button"
            class="button"
            onClick={takeOver}
            disabled={!ready || someoneElse}
          >
            {actions.busy === "takeover" ? "Taking over…" : "Take over"}
          </button>
        )}
        <button
          type="button"
          class="button secondary"
          onClick={() => setDialog("transfer")}
          disabled={!ready || control?.pending_transfer === true || actions.busy !== null}
        >
          Transfer…
        </button>
        <button
          type="button"
          class="button secondary"
          onClick={() => setDialog("wrapup")}
          disabled={data === null || wrapped !== null || actions.busy !== null}
        >
          Wrap up…
        </button>
        <span class="ops-mode muted small-text" data-testid="call-mode">
          {!control
            ? ""
            : over
              ? `The call has ended${data?.endedReason ? ` (${data.endedReason.replace(/_/g, " ")})` : ""}.`
              : control.pending_transfer
                ? "Transfer pending: after the agent's goodbye."
                : inControl
                  ? "You are speaking to the caller. The agent keeps following."
                  : someoneElse
                    ? `${operatorName(operators, control.operator_user_id)} is speaking to the caller.`
                    : "The agent is speaking to the caller."}
        </span>
      </fieldset>

      {actions.error && actions.error.action !== dialog && (
        <ErrorNotice
          error={actions.error.error}
          title={ACTION_TITLES[actions.error.action] ?? "That failed"}
        />
      )}
      {wrapped && (
        <div class="notice success" role="status">
          <p class="notice-title">Wrapped up</p>
          <p>
            Outcome: {OUTCOMES.find(([v]) => v === wrapped.outcome)?.[1] ?? wrapped.outcome}, at{" "}
            {formatDateTime(wrapped.wrapped_at)}.
          </p>
          <div class="notice-footer">
            <Link href={closeHref}>Back to the queue</Link>
          </div>
        </div>
      )}

      {!data && live.state !== "failed" ? (
        <Loading label="Joining the call" />
      ) : (
        <div class="ops-call-body">
          <div class="ops-call-main">
            <Transcript
              live={live}
              operators={operators}
              audio={
                live.hasAudio && !over ? (
                  <button
                    type="button"
                    class="button secondary small"
                    onClick={() => {
                      if (playing) player.current?.stop();
                      else player.current?.start();
                      setPlaying(!playing);
                    }}
                  >
                    {playing ? "Mute call audio" : "Play call audio"}
                  </button>
                ) : null
              }
            />
            {inControl && (
              <SendBox
                label="Say to the caller"
                placeholder="Type what the caller hears…"
                button="Say"
                maxLength={1000}
                inputId="ops-say"
                disabled={!ready}
                hint="Spoken in the call's voice (texted on a text conversation). Enter sends."
                onSend={async (text) => (await actions.run("say", { text })) !== null}
              />
            )}
            <SendBox
              label="Guidance for the agent"
              placeholder="Tell the agent what to do next…"
              button="Send guidance"
              maxLength={500}
              disabled={!ready}
              hint={
                guidanceSent.length > 0 ? (
                  <>
                    Sent: “{guidanceSent.at(-1)!.text}” · applies to the agent's next reply
                    {inControl ? " (after you hand back)" : ""}.
                  </>
                ) : (
                  'Hidden from the caller, worked into the agent\'s next reply; a "quoted sentence" is said as written. Enter sends.'
                )
              }
              onSend={async (text) => {
                const sent = (await actions.run("guidance", { text })) !== null;
                if (sent) setGuidanceSent((list) => [...list, { text, at: new Date().toISOString() }]);
                return sent;
              }}
            />
          </div>
          <div class="ops-call-side">
            <section class="ops-panel ops-timelines" aria-label="Risk and emotion over the call">
              <RiskChart timeline={data?.timeline ?? []} />
              <EmotionChart timeline={data?.timeline ?? []} />
            </section>
            <BriefingPanel workspaceId={workspaceId} callId={callId} />
          </div>
        </div>
      )}

      {dialog === "transfer" && (
        <TransferDialog
          busy={actions.busy === "transfer"}
          error={actions.error?.action === "transfer" ? actions.error.error : null}
          onClose={() => {
            actions.clearError();
            setDialog(null);
          }}
          onTransfer={async (to, announcement) => {
            const done = await actions.run<LiveControl>("transfer", {
              to,
              ...(announcement ? { announcement } : {}),
            });
            if (done) setDialog(null);
          }}
        />
      )}
      {dialog === "wrapup" && (
        <WrapupDialog
          busy={actions.busy === "wrapup"}
          error={actions.error?.action === "wrapup" ? actions.error.error : null}
          onClose={() => {
            actions.clearError();
            setDialog(null);
          }}
          onWrapup={async (outcome, notes) => {
            const done = await actions.run<Wrapup>("wrapup", { outcome, notes });
            if (done) {
              setWrapped(done);
              setDialog(null);
            }
          }}
        />
      )}
    </article>
  );
}
