/**
 * The outbox: every message sent to patients (a call's replies, the agent's texts, surface links), newest
 * first, with its channel, purpose and status. A development deployment also shows the recipient and the
 * text, since its local adapters send nothing anywhere else. Operators only (the API refuses viewers).
 */
import type { z } from "zod";
import { roleAtLeast } from "../../../shared/auth/roles";
import type { DeliverySchema } from "../../../shared/schemas/deliveries";
import { workspacePath } from "../api";
import { EmptyState } from "../components/empty-state";
import { ErrorNotice } from "../components/error-notice";
import { Loading } from "../components/loading";
import { PageHeader } from "../components/page-header";
import { LoadMore } from "../components/section";
import { SelectFilter } from "../components/select-filter";
import { apiUrl, withQuery } from "../components/url-query";
import { formatDateTime, formatRelative } from "../format";
import { useDocumentTitle, usePagedList } from "../hooks";
import { Link, navigate, useLocation } from "../router";
import { useSession } from "../session";

type Delivery = z.infer<typeof DeliverySchema>;

const PAGE = 25;
const CHANNELS: Record<string, string> = { sms: "SMS", whatsapp: "WhatsApp", email: "Email" };
const PURPOSES: Record<string, string> = {
  call_reply: "Call reply",
  tool_sms: "Agent text",
  surface_link: "Form link",
};
const STATUS_TONE: Record<string, string> = {
  sent: "status-active",
  pending: "priority-medium",
  failed: "priority-high",
};

export function OutboxPage() {
  const { workspace } = useSession();
  useDocumentTitle("Outbox", workspace.name);
  const { query } = useLocation();
  const channel = query.get("channel") ?? "";
  const status = query.get("status") ?? "";
  const allowed = roleAtLeast(workspace.role, "operator");
  const list = usePagedList<Delivery>(
    allowed ? apiUrl(workspacePath(workspace.id, "deliveries"), { channel, status }) : null,
    PAGE,
  );
  const setFilter = (key: string, value: string) =>
    navigate(withQuery("/outbox", query, { [key]: value }), { replace: true });
  const now = Date.now();

  return (
    <>
      <PageHeader
        title="Outbox"
        description="Messages sent to patients: call replies, the agent's texts and form links, newest first."
      />
      {!allowed ? (
        <EmptyState title="Operators only">
          <p>The outbox lists messages to patients; ask an admin for the operator role to see it.</p>
        </EmptyState>
      ) : (
        <>
          <fieldset class="filters">
            <legend class="visually-hidden">Filters</legend>
            <SelectFilter
              label="Channel"
              value={channel}
              any="Any channel"
              options={Object.entries(CHANNELS).map(([value, label]) => ({ value, label }))}
              onChange={(v) => setFilter("channel", v)}
            />
            <SelectFilter
              label="Status"
              value={status}
              any="Any status"
              options={[
                { value: "pending", label: "Pending" },
                { value: "sent", label: "Sent" },
                { value: "failed", label: "Failed" },
              ]}
              onChange={(v) => setFilter("status", v)}
            />
          </fieldset>
          {list.error ? (
            <ErrorNotice error={list.error} title="Could not load the outbox" onRetry={list.reload} />
          ) : !list.loaded ? (
            <Loading label="Loading the outbox" />
          ) : list.items.length === 0 ? (
            <EmptyState title={channel || status ? "No messages match these filters" : "Nothing sent yet"}>
              {channel || status ? (
                <p>
                  <Link href="/outbox">Show every message</Link>
                </p>
              ) : (
                <p>Replies to text conversations, the agent's texts and form links appear here.</p>
              )}
            </EmptyState>
          ) : (
            <>
              <div class="table-scroll">
                <table class="table" aria-label="Outbox" aria-busy={list.loading}>
                  <thead>
                    <tr>
                      <th scope="col">Time</th>
                      <th scope="col">Channel</th>
                      <th scope="col">Purpose</th>
                      <th scope="col">Status</th>
                      <th scope="col">Message</th>
                    </tr>
                  </thead>
                  <tbody>
                    {list.items.map((d) => (
                      <tr key={d.id} data-delivery-id={d.id}>
                        <td class="nowrap">
                          <time dateTime={d.created_at} title={formatDateTime(d.created_at)}>
                            {formatRelative(d.created_at, now)}
                          </time>
                          {d.call_id && (
                            <span class="cell-sub">
                              <Link href={`/calls?call=${d.call_id}`}>Open the call</Link>
                            </span>
                          )}
                        </td>
                        <td>{CHANNELS[d.channel] ?? d.channel}</td>
                        <td>{PURPOSES[d.purpose] ?? d.purpose}</td>
                        <td>
                          <span class={`badge ${STATUS_TONE[d.status] ?? ""}`}>{d.status}</span>
                          <span class="cell-sub">
                            {d.provider === "local" ? "recorded only" : d.provider}
                            {d.error_code ? ` · error ${d.error_code}` : ""}
                          </span>
                        </td>
                        <td>
                          {d.message ? (
                            <>
                              <span class="cell-sub">To {d.message.to}</span>
                              <span>{d.message.body}</span>
                            </>
                          ) : (
                            <span class="muted">Not shown outside development</span>
                          )}
                        </td>
                      </tr>
                    ))}
                  </tbody>
                </table>
              </div>
              {list.hasMore && (
                <LoadMore
                  shown={list.items.length}
                  total={list.total}
                  loading={list.loading}
                  onLoadMore={list.loadMore}
                />
              )}
            </>
          )}
        </>
      )}
    </>
  );
}
