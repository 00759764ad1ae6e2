/** The live side of a simulated call: the conversation as chat bubbles, and what the session reports. */
import { useEffect, useId, useRef, useState } from "preact/hooks";
import { Link } from "../../router";
import { stateLabel } from "../calls/shared";
import { type CallEnding, type SimulatedCall, splitHeard } from "./use-simulated-call";

const RISK_TONE: Record<string, string> = {
  normal: "status-active",
  monitor: "priority-medium",
  alert: "priority-high",
  escalate: "priority-high",
};

function endingText(ending: CallEnding): string {
  if (ending.by === "caller") return "You hung up.";
  if (ending.by === "connection") return "The connection closed.";
  const reason = ending.reason ?? "completed";
  if (reason === "transfer") return `The agent transferred the call${ending.to ? ` to ${ending.to}` : ""}.`;
  if (reason.startsWith("escalation")) return `The agent handed the call to an operator (${reason}).`;
  if (reason === "unavailable") return "This line could not take the call (no service or context graph).";
  return `The agent ended the call (${reason}).`;
}

export function Conversation({ call }: { call: SimulatedCall }) {
  const [draft, setDraft] = useState("");
  const inputId = useId();
  const log = useRef<HTMLDivElement>(null);
  const live = call.phase === "live";

  useEffect(() => {
    log.current?.scrollTo({ top: log.current.scrollHeight });
  }, [call.bubbles]);

  const send = (e: Event) => {
    e.preventDefault();
    if (!draft.trim()) return;
    call.say(draft);
    setDraft("");
  };

  return (
    <section class="sim-chat" aria-label="Conversation">
      <div class="sim-log" ref={log} role="log" aria-live="polite" aria-label="Conversation transcript">
        {call.phase === "connecting" && <p class="muted">Connecting to the agent…</p>}
        {live && call.bubbles.length === 0 && <p class="muted">Ringing… the agent answers in a moment.</p>}
        {call.bubbles.map((bubble) => {
          const { heard, rest } = splitHeard(bubble);
          return (
            <div key={bubble.id} class={`sim-bubble ${bubble.speaker}`} data-speaker={bubble.speaker}>
              <span class="visually-hidden">{bubble.speaker === "agent" ? "Agent: " : "You: "}</span>
              {heard}
              {rest && <span class={bubble.interrupted ? "sim-unheard cut" : "sim-unheard"}>{rest}</span>}
              {bubble.interrupted && <span class="sim-note">interrupted</span>}
            </div>
          );
        })}
      </div>
      {call.ending ? (
        <div class="notice info" role="status">
          <p class="notice-title">Call ended</p>
          <p>{endingText(call.ending)}</p>
          <div class="notice-footer">
            <button type="button" class="button" onClick={call.reset}>
              New call
            </button>
            {call.callId && (
              <Link href={`/calls?call=${encodeURIComponent(call.callId)}`}>Open in Calls</Link>
            )}
          </div>
        </div>
      ) : (
        <form class="sim-composer" onSubmit={send}>
          <label for={inputId} class="visually-hidden">
            What you say
          </label>
          <input
            id={inputId}
            type="text"
            value={draft}
            placeholder={live ? "Say something to the agent…" : "Waiting for the call…"}
            autocomplete="off"
            maxLength={1000}
            disabled={!live}
            onInput={(e) => setDraft(e.currentTarget.value)}
          />
          <button type="submit" class="button" disabled={!live || !draft.trim()}>
            Send
          </button>
          <button
            type="button"
            class="button secondary"
            disabled={!call.agentSpeaking}
            onClick={call.interrupt}
            title="Talk over the agent: it keeps only what you heard"
          >
            Interrupt
          </button>
          <button type="button" class="button danger" onClick={call.hangUp}>
            End call
          </button>
        </form>
      )}
    </section>
  );
}

export function SessionPanel({ call }: { call: SimulatedCall }) {
  const d = call.debug;
  return (
    <aside class="sim-state" aria-label="Live call state">
      <dl class="sim-facts">
        <dt>Call</dt>
        <dd>
          {call.phase === "ended" ? "Ended" : call.phase === "live" ? "Live" : "Connecting"}
          {call.callId && <span class="mono muted small-text"> {call.callId}</span>}
        </dd>
        <dt>State</dt>
        <dd data-testid="sim-state">{d ? stateLabel(d.state_id) : "—"}</dd>
        <dt>Risk</dt>
        <dd data-testid="sim-risk">
          {d ? (
            <>
              <span class={`badge ${RISK_TONE[d.risk.level] ?? ""}`}>{d.risk.level}</span>{" "}
              <span class="muted small-text">{d.risk.score.toFixed(2)}</span>
            </>
          ) : (
            "—"
          )}
        </dd>
        <dt>Intent</dt>
        <dd>{d?.intent ? stateLabel(d.intent) : "—"}</dd>
        <dt>Caller</dt>
        <dd>
          {d ? (
            <>
              {d.patient_known ? "Recognised by number" : "Unknown number"}
              {" · "}
              {d.identity_verified ? "identity verified" : "not verified"}
            </>
          ) : (
            "—"
          )}
        </dd>
        {d?.escalation && (
          <>
            <dt>Escalation</dt>
            <dd class="mono">{d.escalation}</dd>
          </>
        )}
        <dt>Turns</dt>
        <dd>{call.turns}</dd>
      </dl>
      <h2 class="sim-subtitle">Tool calls</h2>
      {call.tools.length === 0 ? (
        <p class="muted small-text">No tool calls yet.</p>
      ) : (
        <ol class="sim-tools" aria-label="Tool calls">
          {call.tools.map((tool, i) => (
            <li key={`${tool.turn}-${i}`}>
              <span class="mono">{tool.name}</span>{" "}
              <span
                class={`badge ${tool.outcome === "ok" ? "status-active" : tool.outcome === "error" ? "priority-high" : ""}`}
              >
                {tool.outcome}
              </span>{" "}
              <span class="muted small-text">
                turn {tool.turn} · {tool.latency_ms} ms
              </span>
            </li>
          ))}
        </ol>
      )}
    </aside>
  );
}
