/**
 * The operators' command center, what they use all day: their own status, the live priority queue (kept
 * current by the workspace's event stream), a small strip of the day's figures, and the call they opened
 * (`/operators?call=<id>`): live transcript, timelines, briefing, guidance and the controls.
 */
import { useCallback, useEffect, useRef, useState } from "preact/hooks";
import { roleAtLeast } from "../../../shared/auth/roles";
import { workspacePath } from "../api";
import { PageHeader } from "../components/page-header";
import { apiUrl, withQuery } from "../components/url-query";
import { ROLE_LABELS } from "../format";
import { useDocumentTitle, useResource } from "../hooks";
import { navigate, useLocation } from "../router";
import { useSession } from "../session";
import type { OperatorMetrics, WorkspaceEvent } from "../types";
import { type UnansweredAlert, UnansweredAlerts, unansweredAlert, withAlert } from "./operators/alerts";
import { CallView } from "./operators/call-view";
import { MetricsStrip } from "./operators/metrics";
import { MyStatus, useOperators } from "./operators/my-status";
import { QueueList } from "./operators/queue";
import { type StreamState, useEventStream } from "./operators/use-event-stream";
import { REFETCH_DEBOUNCE_MS, useQueue } from "./operators/use-queue";

const STREAM_LABELS: Record<StreamState, string> = {
  connecting: "Connecting…",
  live: "Live",
  reconnecting: "Reconnecting…",
  closed: "Disconnected",
};

/** Calls `fn` once after a burst of calls has settled. */
function useDebounced(fn: () => void, ms: number): () => void {
  const timer = useRef<number | null>(null);
  const latest = useRef(fn);
  latest.current = fn;
  useEffect(
    () => () => {
      if (timer.current !== null) window.clearTimeout(timer.current);
    },
    [],
  );
  return useCallback(() => {
    if (timer.current !== null) window.clearTimeout(timer.current);
    timer.current = window.setTimeout(() => {
      timer.current = null;
      latest.current();
    }, ms);
  }, [ms]);
}

function StreamStatus({ state, onRetry }: { state: StreamState; onRetry(): void }) {
  return (
    <div class="ops-stream">
      <span class={`ops-stream-state stream-${state}`} role="status" data-testid="stream-state">
        <span class="ops-stream-dot" aria-hidden="true" />
        {STREAM_LABELS[state]}
      </span>
      {state === "closed" && (
        <button type="button" class="button secondary small" onClick={onRetry}>
          Reconnect
        </button>
      )}
    </div>
  );
}

export function OperatorsPage() {
  const { workspace, session } = useSession();
  useDocumentTitle("Operators", workspace.name);
  const { query } = useLocation();
  const callId = query.get("call");
  const canWork = roleAtLeast(workspace.role, "operator");

  const operators = useOperators(workspace.id);
  const queue = useQueue(workspace.id, canWork);
  const withSimulated = query.get("simulated") === "1";
  const metrics = useResource<OperatorMetrics>(
    apiUrl(workspacePath(workspace.id, "operators", "metrics"), {
      window: "24h",
      include_simulated: withSimulated ? "true" : null,
    }),
  );
  const reloadOperators = useDebounced(operators.reload, REFETCH_DEBOUNCE_MS);
  const reloadMetrics = useDebounced(metrics.reload, 1000);

  const [alerts, setAlerts] = useState<UnansweredAlert[]>([]);
  const stream = useEventStream(workspace.id, {
    onEvent(event: WorkspaceEvent) {
      const alert = unansweredAlert(event);
      if (alert) {
        setAlerts((current) => withAlert(current, alert));
        return;
      }
      queue.refetch();
      if (event.type === "operator.status") reloadOperators();
      if (
        event.type === "operator.wrapup" ||
        event.type === "call.escalated" ||
        event.type === "operator.joined"
      ) {
        reloadMetrics();
      }
    },
    // (Re)opened, or events were lost: whatever the page shows may be stale.
    onStale() {
      queue.refetch();
      reloadOperators();
      reloadMetrics();
    },
  });

  // Opening another call moves focus to it (not on the first render: a reload keeps the page's own focus).
  const previousCall = useRef(callId);
  useEffect(() => {
    if (previousCall.current === callId) return;
    previousCall.current = callId;
    if (callId) document.getElementById("ops-call-title")?.focus();
  }, [callId]);

  const closeHref = withQuery("/operators", query, { call: null });
  const entry = callId ? queue.queue?.results.find((e) => e.call_id === callId) : undefined;

  return (
    <>
      <PageHeader
        title="Operators"
        description="Live calls most urgent first; open one to listen, guide the agent or take over."
        actions={<StreamStatus state={stream.state} onRetry={stream.retry} />}
      />
      <div class="ops-top">
        <MyStatus
          workspaceId={workspace.id}
          userId={session.user.id}
          canRegister={canWork}
          list={operators}
        />
        <MetricsStrip
          metrics={metrics}
          operators={operators.operators}
          withSimulated={withSimulated}
          onSimulated={(on) =>
            navigate(withQuery("/operators", query, { simulated: on ? "1" : null }), { replace: true })
          }
        />
      </div>
      {canWork && (
        <UnansweredAlerts
          alerts={alerts}
          callHref={(id) => withQuery("/operators", query, { call: id })}
          onDismiss={(id) => setAlerts((current) => current.filter((a) => a.id !== id))}
        />
      )}
      <div class={callId ? "ops-layout with-call" : "ops-layout"}>
        <section class="ops-queue-panel" aria-labelledby="ops-queue-title">
          <h2 id="ops-queue-title" class="ops-section-title">
            Queue
            {canWork && queue.queue && <span class="count">{queue.queue.results.length}</span>}
          </h2>
          {canWork ? (
            <QueueList live={queue} selectedId={callId} />
          ) : (
            <div class="notice info" role="status">
              <p class="notice-title">The live queue needs the Operator role</p>
              <p>
                It names verified callers. Your role here is {ROLE_LABELS[workspace.role]}: the figures above
                are yours to see.
              </p>
            </div>
          )}
        </section>
        {callId &&
          (canWork ? (
            <CallView
              key={callId}
              workspaceId={workspace.id}
              callId={callId}
              me={session.user.id}
              operators={operators.operators}
              entry={entry}
              closeHref={closeHref}
            />
          ) : (
            <div class="notice info" role="status">
              <p class="notice-title">Opening a call needs the Operator role</p>
              <p>
                Listening, guiding and taking over are for operators. Your role here is{" "}
                {ROLE_LABELS[workspace.role]}.
              </p>
            </div>
          ))}
      </div>
    </>
  );
}
