/**
 * The live priority queue: every active call, most urgent first, as the hub orders it. Each entry is a
 * link that opens the call (`/operators?call=<id>`), so the queue is a list of links in the Tab order.
 */
import { useEffect, useState } from "preact/hooks";
import { EmptyState } from "../../components/empty-state";
import { ErrorNotice } from "../../components/error-notice";
import { Loading } from "../../components/loading";
import { withQuery } from "../../components/url-query";
import { Link, useLocation } from "../../router";
import type { QueueEntry } from "../../types";
import { stateLabel } from "../calls/shared";
import {
  callerLabel,
  EmotionBadge,
  EscalationBadge,
  formatClock,
  ReasonBadges,
  RiskBadge,
  UrgencyBar,
} from "./shared";
import type { LiveQueue } from "./use-queue";

/** Re-renders every second while `active`, for the ticking wait times. */
function useTick(active: boolean): number {
  const [now, setNow] = useState(Date.now);
  useEffect(() => {
    if (!active) return;
    const timer = window.setInterval(() => setNow(Date.now()), 1000);
    return () => window.clearInterval(timer);
  }, [active]);
  return now;
}

/** Time waiting for a person: the server's figure moved on by the time since it answered. */
function waitNow(entry: QueueEntry, fetchedAt: number, now: number): number {
  return entry.escalation === "waiting" ? entry.wait_ms + Math.max(0, now - fetchedAt) : entry.wait_ms;
}

function QueueItem({
  entry,
  fetchedAt,
  now,
  selected,
}: {
  entry: QueueEntry;
  fetchedAt: number;
  now: number;
  selected: boolean;
}) {
  const { query } = useLocation();
  const waiting = entry.escalation === "waiting";
  const wait = waitNow(entry, fetchedAt, now);
  return (
    <li
      class={`ops-queue-item${selected ? " selected" : ""}${waiting ? " waiting" : ""}`}
      data-call-id={entry.call_id}
    >
      <div class="ops-queue-top">
        <Link
          href={withQuery("/operators", query, { call: entry.call_id })}
          class="cell-title ops-queue-link"
          aria-current={selected ? "page" : undefined}
        >
          {callerLabel(entry.caller_name)}
        </Link>
        <UrgencyBar value={entry.urgency} />
      </div>
      <ReasonBadges reasons={entry.priority_reasons} />
      <div class="ops-queue-facts">
        <EscalationBadge status={entry.escalation} />
        <RiskBadge level={entry.risk_level} score={entry.risk_score} />
        <EmotionBadge emotion={entry.emotion} />
      </div>
      <p class="ops-queue-meta muted small-text">
        <span class="ops-state">{stateLabel(entry.state_id)}</span>
        {" · "}
        {entry.turn_count} turn{entry.turn_count === 1 ? "" : "s"}
        {" · "}
        {waiting || wait > 0 ? (
          <span class={waiting ? "ops-wait waiting" : "ops-wait"} data-testid="wait">
            waiting {formatClock(wait)}
          </span>
        ) : (
          <span>on the line {formatClock(now - Date.parse(entry.started_at))}</span>
        )}
        {entry.simulated && " · simulated"}
      </p>
    </li>
  );
}

export function QueueList({ live, selectedId }: { live: LiveQueue; selectedId: string | null }) {
  const entries = live.queue?.results ?? [];
  const now = useTick(entries.length > 0);
  if (!live.queue) {
    if (live.error) {
      return <ErrorNotice error={live.error} title="Could not load the queue" onRetry={live.refetch} />;
    }
    return <Loading label="Loading the queue" />;
  }
  return (
    <>
      {live.error !== undefined && live.error !== null && (
        <ErrorNotice error={live.error} title="The queue may be out of date" onRetry={live.refetch} />
      )}
      {entries.length === 0 ? (
        <EmptyState title="No live calls right now" compact>
          <p>
            Calls appear here the moment they start, most urgent first: those asking for a person, at risk or
            distressed rise to the top.
          </p>
        </EmptyState>
      ) : (
        <ol class="ops-queue" aria-label="Live calls, most urgent first" aria-busy={live.loading}>
          {entries.map((entry) => (
            <QueueItem
              key={entry.call_id}
              entry={entry}
              fetchedAt={live.fetchedAt}
              now={now}
              selected={entry.call_id === selectedId}
            />
          ))}
        </ol>
      )}
    </>
  );
}
