import type { z } from "zod";
import type { GateDecisionSchema } from "../../../../shared/schemas/surface-settings";
import { workspacePath } from "../../api";
import { ErrorNotice } from "../../components/error-notice";
import { Loading } from "../../components/loading";
import { Section } from "../../components/section";
import { formatDateTime, formatRelative } from "../../format";
import { useResource } from "../../hooks";
import { useSession } from "../../session";
import type { ListPage } from "../../types";
import { channelLabel, formatSpan, percent, type SurfaceAnalytics } from "./shared";

type GateDecision = z.infer<typeof GateDecisionSchema>;

/** Completion by channel as bars (native meters, so screen readers hear the share too). */
function ByChannel({ data }: { data: SurfaceAnalytics }) {
  if (data.by_channel.length === 0) return <p class="muted">No surfaces were sent in these 30 days.</p>;
  return (
    <div class="table-scroll">
      <table class="table" aria-label="Completion by channel">
        <thead>
          <tr>
            <th scope="col">Channel</th>
            <th scope="col">Completed</th>
            <th scope="col" class="numeric">
              Sent
            </th>
            <th scope="col" class="numeric">
              Rate
            </th>
          </tr>
        </thead>
        <tbody>
          {data.by_channel.map((row) => (
            <tr key={row.channel} data-channel={row.channel}>
              <td>{channelLabel(row.channel)}</td>
              <td>
                <meter
                  min={0}
                  max={1}
                  low={0.34}
                  high={0.67}
                  optimum={1}
                  value={row.completion_rate ?? 0}
                  aria-label={`${channelLabel(row.channel)} completion`}
                >
                  {percent(row.completion_rate)}
                </meter>{" "}
                {row.completed}
              </td>
              <td class="numeric">{row.total}</td>
              <td class="numeric">{percent(row.completion_rate)}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

function TimeToComplete({ data }: { data: SurfaceAnalytics }) {
  const rows = [
    { label: "From sending the link", d: data.time_to_complete.from_delivered },
    { label: "From creating the surface", d: data.time_to_complete.from_created },
  ];
  return (
    <div class="table-scroll">
      <table class="table" aria-label="Time to complete">
        <thead>
          <tr>
            <th scope="col">Measured</th>
            <th scope="col" class="numeric">
              Median
            </th>
            <th scope="col" class="numeric">
              90th percentile
            </th>
            <th scope="col" class="numeric">
              Completed
            </th>
          </tr>
        </thead>
        <tbody>
          {rows.map(({ label, d }) => (
            <tr key={label}>
              <td>{label}</td>
              <td class="numeric">{formatSpan(d.median_seconds)}</td>
              <td class="numeric">{formatSpan(d.p90_seconds)}</td>
              <td class="numeric">{d.count}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

function Abandonment({ data }: { data: SurfaceAnalytics }) {
  if (data.abandonment.length === 0) return <p class="muted">No unfinished surface was left part-way.</p>;
  return (
    <div class="table-scroll">
      <table class="table" aria-label="Where patients stop">
        <thead>
          <tr>
            <th scope="col">Surface</th>
            <th scope="col">Last field saved</th>
            <th scope="col" class="numeric">
              Left unfinished
            </th>
          </tr>
        </thead>
        <tbody>
          {data.abandonment.map((row) => (
            <tr key={`${row.title}/${row.template_id}/${row.field_key}`}>
              <td>{row.title}</td>
              <td>
                {row.field_key ? (
                  <code>{row.field_key}</code>
                ) : (
                  <span class="muted">Opened, nothing saved</span>
                )}
              </td>
              <td class="numeric">{row.count}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

function GateDecisions() {
  const { workspace } = useSession();
  const list = useResource<ListPage<GateDecision>>(
    `${workspacePath(workspace.id, "surfaces", "gate-decisions")}?limit=10`,
  );
  if (list.error)
    return <ErrorNotice error={list.error} title="Could not load gate decisions" onRetry={list.reload} />;
  if (!list.data) return <Loading label="Loading gate decisions" />;
  if (list.data.results.length === 0) return <p class="muted">No outreach was gated yet.</p>;
  const now = Date.now();
  return (
    <div class="table-scroll">
      <table class="table" aria-label="Gate decisions">
        <thead>
          <tr>
            <th scope="col">When</th>
            <th scope="col">Patient</th>
            <th scope="col">Decision</th>
            <th scope="col">Reason</th>
          </tr>
        </thead>
        <tbody>
          {list.data.results.map((d) => (
            <tr key={d.id}>
              <td class="nowrap">
                <time dateTime={d.at} title={formatDateTime(d.at)}>
                  {formatRelative(d.at, now)}
                </time>
              </td>
              <td>
                <code>{d.entity_id}</code>
              </td>
              <td>
                <span
                  class={`badge ${d.decision === "allow" ? "status-approved" : d.decision === "verbal" ? "status-pending" : "status-rejected"}`}
                >
                  {d.decision === "allow" ? "Sent" : d.decision === "verbal" ? "Ask on a call" : "Held back"}
                </span>
              </td>
              <td>{d.reason}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

/** The last 30 days: completion by channel, time to complete, where patients stop, and gate decisions. */
export function SurfaceAnalyticsSections() {
  const { workspace } = useSession();
  const figures = useResource<SurfaceAnalytics>(workspacePath(workspace.id, "surfaces", "analytics"));
  const data = figures.data;
  return (
    <>
      <Section
        id="surface-analytics"
        title="Last 30 days"
        description={
          data
            ? `${data.total} surfaces sent, ${data.completed} completed (${percent(data.total ? data.completed / data.total : null)}).`
            : undefined
        }
      >
        {figures.error ? (
          <ErrorNotice
            error={figures.error}
            title="Could not load surface analytics"
            onRetry={figures.reload}
          />
        ) : !data ? (
          <Loading label="Loading surface analytics" />
        ) : (
          <div class="surface-analytics">
            <h3>Completion by channel</h3>
            <ByChannel data={data} />
            <h3>Time to complete</h3>
            <TimeToComplete data={data} />
            <h3>Where patients stop</h3>
            <Abandonment data={data} />
          </div>
        )}
      </Section>
      <Section
        id="gate-decisions"
        title="Outreach gates"
        description="Why the latest surfaces were sent, held back or left for a call."
      >
        <GateDecisions />
      </Section>
    </>
  );
}
