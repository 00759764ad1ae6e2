import { ErrorNotice } from "../../components/error-notice";
import type { Resource } from "../../hooks";
import type { ReviewStats } from "../../types";

/** "42 s", "4 min", "2.5 h", "3 days". */
export function formatSeconds(seconds: number): string {
  if (seconds < 90) return `${Math.round(seconds)} s`;
  if (seconds < 90 * 60) return `${Math.round(seconds / 60)} min`;
  if (seconds < 36 * 3600) return `${Math.round((seconds / 3600) * 10) / 10} h`;
  return `${Math.round(seconds / 86400)} days`;
}

/** Queue depth by priority and the last seven days' decisions, above the queue. */
export function ReviewStatsBar({ stats }: { stats: Resource<ReviewStats> }) {
  if (stats.error !== undefined && !stats.data) {
    return (
      <ErrorNotice error={stats.error} title="Couldn't load the queue statistics" onRetry={stats.reload} />
    );
  }
  const s = stats.data;
  const week = s?.last_7_days;
  const decided = week ? week.approved + week.corrected + week.rejected : 0;
  return (
    <section class="stats" aria-label="Review statistics" aria-busy={!s}>
      <div class="stat">
        <span class="stat-label">Pending</span>
        <span class="stat-value" data-testid="stat-pending">
          {s ? s.queue_depth : "–"}
        </span>
        {s && (
          <span class="stat-sub">
            <span class="dot high" aria-hidden="true" />
            {s.pending_by_priority.high} high · <span class="dot medium" aria-hidden="true" />
            {s.pending_by_priority.medium} medium · <span class="dot low" aria-hidden="true" />
            {s.pending_by_priority.low} low
          </span>
        )}
      </div>
      <div class="stat">
        <span class="stat-label">Decided, last 7 days</span>
        <span class="stat-value" data-testid="stat-decided">
          {week ? decided : "–"}
        </span>
        {week && (
          <span class="stat-sub">
            {week.approved} approved · {week.corrected} corrected · {week.rejected} rejected
          </span>
        )}
      </div>
      <div class="stat">
        <span class="stat-label">Average time to decision</span>
        <span class="stat-value">
          {week?.average_review_seconds != null ? formatSeconds(week.average_review_seconds) : "–"}
        </span>
        <span class="stat-sub">
          {week && decided === 0 ? "No decisions this week" : "From queued to decided"}
        </span>
      </div>
    </section>
  );
}
