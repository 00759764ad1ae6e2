import { workspacePath } from "../api";
import { PageHeader } from "../components/page-header";
import { PagedListView } from "../components/paged-list-view";
import { SelectFilter } from "../components/select-filter";
import { apiUrl, withQuery } from "../components/url-query";
import { formatDateTime, formatPhone, formatRelative } from "../format";
import { useDocumentTitle, usePagedList } from "../hooks";
import { Link, navigate, useLocation } from "../router";
import { useSession } from "../session";
import { CallDetailDialog } from "./calls/detail";
import {
  type CallSummary,
  channelLabel,
  formatCallDuration,
  SimulatedBadge,
  StatusPill,
  stateLabel,
  statusLabel,
} from "./calls/shared";

const PAGE = 25;
const STATUSES = ["completed", "in-progress", "ringing", "no-answer", "busy", "failed", "canceled"];

/** Recent calls and text sessions, newest first, with filters and each call's timeline. */
export function CallsPage() {
  const { workspace } = useSession();
  useDocumentTitle("Calls", workspace.name);
  const { query } = useLocation();
  const status = query.get("status") ?? "";
  const direction = query.get("direction") ?? "";
  const callId = query.get("call");
  const list = usePagedList<CallSummary>(
    apiUrl(workspacePath(workspace.id, "calls"), { status, direction }),
    PAGE,
  );
  const setFilter = (key: string, value: string) =>
    navigate(withQuery("/calls", query, { [key]: value, call: null }), { replace: true });
  const filtered = Boolean(status || direction);
  const now = Date.now();

  return (
    <>
      <PageHeader
        title="Calls"
        description="Calls and text conversations the agent answered, newest first. Open one for its timeline and recording."
      />
      <fieldset class="filters">
        <legend class="visually-hidden">Filters</legend>
        <SelectFilter
          label="Status"
          value={status}
          any="Any status"
          options={STATUSES.map((s) => ({ value: s, label: statusLabel(s) }))}
          onChange={(v) => setFilter("status", v)}
        />
        <SelectFilter
          label="Direction"
          value={direction}
          any="Inbound and outbound"
          options={[
            { value: "inbound", label: "Inbound" },
            { value: "outbound", label: "Outbound" },
          ]}
          onChange={(v) => setFilter("direction", v)}
        />
      </fieldset>

      <PagedListView
        list={list}
        plural="calls"
        singular="call"
        filtered={filtered}
        resetHref="/calls"
        emptyTitle="No calls yet"
        empty={
          <>
            <p>
              Live calls appear here once telephony is connected. Each call shows its service, caller, status
              and how it ended; open one for its timeline and recording.
            </p>
            <p>
              The numbers that ring through are listed in <Link href="/settings">Settings</Link>.
            </p>
          </>
        }
      >
        {() => (
          <div class="table-scroll">
            <table class="table calls-table" aria-label="Calls" aria-busy={list.loading}>
              <thead>
                <tr>
                  <th scope="col">Time</th>
                  <th scope="col">Service</th>
                  <th scope="col">Caller</th>
                  <th scope="col">Status</th>
                  <th scope="col" class="numeric">
                    Duration
                  </th>
                  <th scope="col">Final state</th>
                  <th scope="col">Escalated</th>
                </tr>
              </thead>
              <tbody>
                {list.items.map((call) => (
                  <tr key={call.id} data-call-id={call.id}>
                    <td class="primary-cell nowrap">
                      <Link href={withQuery("/calls", query, { call: call.id })} class="cell-title">
                        <time dateTime={call.started_at} title={formatDateTime(call.started_at)}>
                          {formatRelative(call.started_at, now)}
                        </time>
                      </Link>
                      <span class="cell-sub">
                        {channelLabel(call.channel)} · {call.direction} · {formatPhone(call.to_number)}
                      </span>
                    </td>
                    <td>{call.service?.name ?? <span class="muted">—</span>}</td>
                    <td>
                      {call.caller ?? <span class="muted">Unknown</span>}
                      {call.simulated && (
                        <>
                          {" "}
                          <SimulatedBadge />
                        </>
                      )}
                    </td>
                    <td>
                      <StatusPill status={call.status} />
                    </td>
                    <td class="numeric">{formatCallDuration(call.duration_seconds)}</td>
                    <td>{stateLabel(call.final_state)}</td>
                    <td>
                      {call.escalated ? (
                        <span class="badge priority-high">Escalated</span>
                      ) : (
                        <span class="muted">No</span>
                      )}
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        )}
      </PagedListView>
      {callId && (
        <CallDetailDialog
          callId={callId}
          onClose={() => navigate(withQuery("/calls", query, { call: null }), { replace: true })}
        />
      )}
    </>
  );
}
