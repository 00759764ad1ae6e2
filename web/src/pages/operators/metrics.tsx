/** A strip of the last day's operator figures (`GET /v1/{ws}/operators/metrics?window=24h`). */
import { useId } from "preact/hooks";
import { ErrorNotice } from "../../components/error-notice";
import type { Resource } from "../../hooks";
import type { Operator, OperatorMetrics } from "../../types";
import { formatMedian } from "./shared";

export function MetricsStrip({
  metrics,
  operators,
  withSimulated,
  onSimulated,
}: {
  metrics: Resource<OperatorMetrics>;
  operators: readonly Operator[];
  /** Count calls placed with the phone simulator too (left out by default). */
  withSimulated: boolean;
  onSimulated(on: boolean): void;
}) {
  const id = useId();
  if (metrics.error && !metrics.data) {
    return (
      <ErrorNotice error={metrics.error} title="Could not load operator metrics" onRetry={metrics.reload} />
    );
  }
  const totals = metrics.data?.totals;
  const onDuty = operators.filter((o) => o.status !== "offline").length;
  const online = operators.filter((o) => o.status === "online").length;
  const value = (n: number | undefined) => (n === undefined ? "…" : String(n));
  return (
    <div class="ops-figures">
      <dl class="ops-metrics" aria-label="Operator figures, last 24 hours" aria-busy={metrics.loading}>
        <div class="ops-metric">
          <dt>On duty</dt>
          <dd>
            {onDuty}
            <span class="ops-metric-sub">{online} free</span>
          </dd>
        </div>
        <div class="ops-metric">
          <dt>Escalated</dt>
          <dd>{value(totals?.escalations)}</dd>
        </div>
        <div class="ops-metric">
          <dt>Connected</dt>
          <dd>{value(totals?.connected)}</dd>
        </div>
        <div class="ops-metric">
          <dt>Time to connect</dt>
          <dd>{totals ? formatMedian(totals.median_time_to_connect_ms) : "…"}</dd>
        </div>
        <div class="ops-metric">
          <dt>Resolved</dt>
          <dd>{value(totals?.resolutions)}</dd>
        </div>
      </dl>
      <div class="ops-figures-footer">
        <span class="muted small-text">Last 24 hours; time to connect is the median.</span>
        <label class="checkbox" for={id}>
          <input
            id={id}
            type="checkbox"
            checked={withSimulated}
            onChange={(e) => onSimulated(e.currentTarget.checked)}
          />
          Include simulated calls
        </label>
      </div>
    </div>
  );
}
