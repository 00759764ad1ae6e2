import { workspacePath } from "../../api";
import { ErrorNotice } from "../../components/error-notice";
import { factTitle, word } from "../../components/fact-format";
import { Loading } from "../../components/loading";
import { PriorityBadge } from "../../components/world-badges";
import { formatDateTime, formatRelative } from "../../format";
import { useResource } from "../../hooks";
import { Link } from "../../router";
import { useSession } from "../../session";
import type { Lineage, ReviewPriority } from "../../types";

const PRIORITY: Record<number, ReviewPriority> = { 3: "high", 2: "medium", 1: "low" };

/** Where the record's facts went and how they were decided: reviews, EHR writeback, the audit trail. */
export function HistoryPanel({ entityId }: { entityId: string }) {
  const { workspace } = useSession();
  const lineage = useResource<Lineage>(workspacePath(workspace.id, "world", "entities", entityId, "lineage"));
  if (lineage.error !== undefined && !lineage.data) {
    return <ErrorNotice error={lineage.error} title="Couldn't load the history" onRetry={lineage.reload} />;
  }
  if (!lineage.data) return <Loading />;
  const { reviews, outbound, audit } = lineage.data;
  return (
    <div class="history">
      <section aria-labelledby="history-reviews">
        <h2 id="history-reviews">Reviews</h2>
        {reviews.length === 0 ? (
          <p class="muted">Nothing about this record has been put in front of a reviewer.</p>
        ) : (
          <div class="table-scroll">
            <table class="table">
              <thead>
                <tr>
                  <th scope="col">Item</th>
                  <th scope="col">Priority</th>
                  <th scope="col">Status</th>
                  <th scope="col">Queued</th>
                  <th scope="col">Decided</th>
                </tr>
              </thead>
              <tbody>
                {reviews.map((r) => (
                  <tr key={r.id}>
                    <td>
                      <Link href={`/review?item=${encodeURIComponent(r.id)}`}>
                        {r.path ? factTitle(r.path) : "Possible duplicate"}
                      </Link>
                    </td>
                    <td>
                      <PriorityBadge priority={PRIORITY[r.priority] ?? "low"} />
                    </td>
                    <td>
                      <span class={`badge review-status status-${r.status}`}>{word(r.status)}</span>
                    </td>
                    <td class="nowrap">
                      <time dateTime={r.created_at} title={formatDateTime(r.created_at)}>
                        {formatRelative(r.created_at)}
                      </time>
                    </td>
                    <td class="nowrap">
                      {r.decided_at ? (
                        <time dateTime={r.decided_at} title={formatDateTime(r.decided_at)}>
                          {formatRelative(r.decided_at)}
                        </time>
                      ) : (
                        <span class="muted">Not yet</span>
                      )}
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        )}
      </section>

      <section aria-labelledby="history-writeback">
        <h2 id="history-writeback">Writeback to the EHR</h2>
        {outbound.length === 0 ? (
          <p class="muted">Nothing from this record is queued for, or has been written back to, the EHR.</p>
        ) : (
          <ul class="plain-list">
            {outbound.map((o) => (
              <li key={o.event_id}>
                {word(o.event_type.replace(".recorded", ""))}
                {o.fhir_resource_type && <span class="muted"> as {o.fhir_resource_type}</span>}{" "}
                <span class="badge">{word(o.sync_status)}</span>
              </li>
            ))}
          </ul>
        )}
      </section>

      <section aria-labelledby="history-audit">
        <h2 id="history-audit">Audit trail</h2>
        {audit.length === 0 ? (
          <p class="muted">No audit entries name this record directly.</p>
        ) : (
          <ul class="plain-list">
            {audit.map((a) => (
              <li key={a.seq}>
                <span class="mono small-text">{a.action}</span>
                <span class="muted">
                  {" "}
                  by{" "}
                  {a.actor_type === "api_key"
                    ? "an API key"
                    : a.actor_type === "user"
                      ? "a user"
                      : a.actor_type}{" "}
                  · <time dateTime={a.created_at}>{formatDateTime(a.created_at)}</time>
                </span>
              </li>
            ))}
          </ul>
        )}
      </section>
    </div>
  );
}
