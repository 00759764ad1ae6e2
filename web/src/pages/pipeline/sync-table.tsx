import { useState } from "preact/hooks";
import type { z } from "zod";
import { roleAtLeast } from "../../../../shared/auth/roles";
import type { SyncLogSchema, SyncRetryAllResult, SyncStatus } from "../../../../shared/schemas/sync";
import { api, workspacePath } from "../../api";
import { EmptyState } from "../../components/empty-state";
import { ErrorNotice } from "../../components/error-notice";
import { Loading } from "../../components/loading";
import { Section } from "../../components/section";
import { apiUrl } from "../../components/url-query";
import { formatDateTime, formatRelative, ROLE_LABELS, titleCase } from "../../format";
import { useResource } from "../../hooks";
import { Link } from "../../router";
import { useSession } from "../../session";
import { Pill } from "./health";

type SyncLog = z.infer<typeof SyncLogSchema>;
type SyncEvent = SyncLog["results"][number];

/** Rows fetched at first, and added by each "Show more", up to what the API gives in one page. */
const STEP = 50;
const MAX_ROWS = 200;

const STATUS_WORDS: Record<SyncStatus, { label: string; tone: "ok" | "warn" | "bad" | "info" | "muted" }> = {
  failed: { label: "Failed", tone: "bad" },
  pending: { label: "Pending", tone: "warn" },
  processing: { label: "Sending", tone: "info" },
  synced: { label: "Synced", tone: "ok" },
  not_applicable: { label: "Not applicable", tone: "muted" },
};

const KIND_WORDS: Record<string, string> = {
  questionnaire_response: "Form answers",
  communication: "Call summary",
  appointment: "Appointment change",
};

const kindLabel = (kind: string) => KIND_WORDS[kind] ?? titleCase(kind);

function RecordLink({ event }: { event: SyncEvent }) {
  return (
    <Link href={`/world/${encodeURIComponent(event.entity_id ?? "")}`}>
      {event.entity_display_name ?? "Unnamed record"}
    </Link>
  );
}

/**
 * The outbound sync log (`GET /world/sync`), newest first, filtered by status. Operators retry one
 * failed write or all of them; viewers are told why they cannot.
 */
export function SyncTable({ onChanged }: { onChanged(): void }) {
  const { workspace } = useSession();
  const canRetry = roleAtLeast(workspace.role, "operator");
  const [status, setStatus] = useState<SyncStatus | "">("");
  const [rows, setRows] = useState(STEP);
  const log = useResource<SyncLog>(
    apiUrl(workspacePath(workspace.id, "world", "sync"), { status, limit: rows }),
  );
  const failed = useResource<SyncLog>(
    canRetry ? apiUrl(workspacePath(workspace.id, "world", "sync"), { status: "failed", limit: 1 }) : null,
  );
  const [busy, setBusy] = useState<string | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [message, setMessage] = useState("");
  const failedCount = failed.data?.total ?? 0;

  const refresh = () => {
    log.reload();
    failed.reload();
    onChanged();
  };

  const retry = async (event: SyncEvent) => {
    setBusy(event.id);
    setError(null);
    setMessage("");
    try {
      await api.post(workspacePath(workspace.id, "world", "sync", "retry", event.id));
      setMessage(`${kindLabel(event.kind)} queued to be sent again.`);
      refresh();
    } catch (failure) {
      setError(failure);
    } finally {
      setBusy(null);
    }
  };

  const retryAll = async () => {
    setBusy("all");
    setError(null);
    setMessage("");
    try {
      const result = await api.post<z.infer<typeof SyncRetryAllResult>>(
        workspacePath(workspace.id, "world", "sync", "retry-all"),
      );
      setMessage(
        `${result.retried} failed write-back${result.retried === 1 ? "" : "s"} queued again` +
          (result.remaining > 0 ? `; ${result.remaining} left for another try.` : "."),
      );
      refresh();
    } catch (failure) {
      setError(failure);
    } finally {
      setBusy(null);
    }
  };

  const items = log.data?.results ?? [];
  const total = log.data?.total ?? 0;
  const now = Date.now();
  return (
    <Section
      id="outbound"
      title="Outbound sync"
      count={log.data ? total : undefined}
      description="What Switchboard writes back to the EHR: verified facts, form answers, call summaries and appointment changes."
      actions={
        <div class="sync-actions">
          <div class="field">
            <label for="sync-status">Status</label>
            <select
              id="sync-status"
              value={status}
              onChange={(e) => {
                setStatus(e.currentTarget.value as SyncStatus | "");
                setRows(STEP);
              }}
            >
              <option value="">All</option>
              {(Object.keys(STATUS_WORDS) as SyncStatus[]).map((s) => (
                <option key={s} value={s}>
                  {STATUS_WORDS[s].label}
                </option>
              ))}
            </select>
          </div>
          {canRetry && failedCount > 0 && (
            <button type="button" class="button" onClick={retryAll} disabled={busy !== null}>
              {busy === "all" ? "Retrying…" : `Retry all failed (${failedCount})`}
            </button>
          )}
        </div>
      }
    >
      {!canRetry && (
        <p class="note sync-role-note">
          Operators can retry failed write-backs. Your role here is {ROLE_LABELS[workspace.role]}.
        </p>
      )}
      <p class="visually-hidden" role="status">
        {message}
      </p>
      {message && <p class="notice info">{message}</p>}
      {error !== null && <ErrorNotice error={error} title="The retry did not go through" />}
      {log.error !== undefined && !log.data ? (
        <ErrorNotice error={log.error} title="Couldn't load the sync log" onRetry={log.reload} />
      ) : !log.data ? (
        <Loading />
      ) : items.length === 0 ? (
        <EmptyState
          compact
          title={
            status ? `No ${STATUS_WORDS[status].label.toLowerCase()} write-backs` : "Nothing written back yet"
          }
        >
          {!status && (
            <p>
              When a verified fact, a form's answers or a call summary is written to the EHR, each write shows
              here with its outcome.
            </p>
          )}
        </EmptyState>
      ) : (
        <>
          <div class="table-scroll">
            <table class="table sync-table" aria-label="Outbound sync log" aria-busy={log.loading}>
              <thead>
                <tr>
                  <th scope="col">Write</th>
                  <th scope="col" class="wide-only">
                    Record
                  </th>
                  <th scope="col">Status</th>
                  <th scope="col" class="numeric wide-only">
                    Attempts
                  </th>
                  <th scope="col" class="wide-only">
                    Updated
                  </th>
                  {canRetry && (
                    <th scope="col" class="actions">
                      <span class="visually-hidden">Actions</span>
                    </th>
                  )}
                </tr>
              </thead>
              <tbody>
                {items.map((event) => (
                  <tr key={event.id} data-status={event.status}>
                    <td class="primary-cell">
                      <span class="cell-title">{kindLabel(event.kind)}</span>
                      <span class="cell-sub mono">
                        {event.fhir_resource_type
                          ? `${event.fhir_resource_type}${event.fhir_resource_id ? `/${event.fhir_resource_id}` : ""}`
                          : "Not in the EHR yet"}
                      </span>
                      {event.entity_id && (
                        <span class="cell-sub narrow-only">
                          <RecordLink event={event} />
                        </span>
                      )}
                      {event.error && <span class="cell-sub sync-error">{event.error}</span>}
                    </td>
                    <td class="wide-only">
                      {event.entity_id ? <RecordLink event={event} /> : <span class="muted">—</span>}
                    </td>
                    <td>
                      <Pill {...STATUS_WORDS[event.status]} />
                    </td>
                    <td class="numeric wide-only">{event.attempts}</td>
                    <td class="wide-only nowrap">
                      <time dateTime={event.updated_at} title={formatDateTime(event.updated_at)}>
                        {formatRelative(event.updated_at, now)}
                      </time>
                    </td>
                    {canRetry && (
                      <td class="actions">
                        {event.status === "failed" && (
                          <button
                            type="button"
                            class="button secondary small"
                            onClick={() => retry(event)}
                            disabled={busy !== null}
                            aria-label={`Retry ${kindLabel(event.kind)}${event.entity_display_name ? ` for ${event.entity_display_name}` : ""}`}
                          >
                            {busy === event.id ? "Retrying…" : "Retry"}
                          </button>
                        )}
                      </td>
                    )}
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
          {items.length < total && (
            <div class="load-more">
              <span class="muted">
                Showing the newest {items.length} of {total}
              </span>
              {rows < MAX_ROWS ? (
                <button
                  type="button"
                  class="button secondary small"
                  onClick={() => setRows((r) => Math.min(MAX_ROWS, r + STEP))}
                  disabled={log.loading}
                >
                  {log.loading ? "Loading…" : "Show more"}
                </button>
              ) : (
                <span class="muted small-text">Filter by status to see older ones.</span>
              )}
            </div>
          )}
        </>
      )}
    </Section>
  );
}
