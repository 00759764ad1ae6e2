import { useState } from "preact/hooks";
import { workspacePath } from "../../api";
import { ErrorNotice } from "../../components/error-notice";
import { apiUrl } from "../../components/url-query";
import { formatConfidence } from "../../components/world-badges";
import { formatDateTime, formatRelative } from "../../format";
import { useResource } from "../../hooks";
import { Link } from "../../router";
import { useSession } from "../../session";
import type { Edge, EntitySummary } from "../../types";

const MERGES_SHOWN = 20;

/**
 * Records that entity resolution merged (weakest match first, the ones worth a second look), and how
 * many possible duplicates wait for a person. Collapsed until asked for: names cost a request each.
 */
export function MergedRecords({ pendingMatches }: { pendingMatches: number }) {
  const { workspace } = useSession();
  const [open, setOpen] = useState(false);
  const merges = useResource<{ results: Edge[]; total: number }>(
    apiUrl(workspacePath(workspace.id, "world", "entities", "duplicates"), { limit: MERGES_SHOWN }),
  );
  const total = merges.data?.total ?? 0;
  if (total === 0 && pendingMatches === 0) return null;
  return (
    <section class="section" aria-labelledby="duplicates-title">
      <div class="section-header">
        <div>
          <h2 id="duplicates-title">Duplicate records</h2>
          <p class="section-description">
            {total > 0 && (
              <>
                {total} {total === 1 ? "record was" : "records were"} merged into another with a strong match.{" "}
              </>
            )}
            {pendingMatches > 0 && (
              <Link href="/review?kind=entity_match">
                {pendingMatches} possible {pendingMatches === 1 ? "duplicate waits" : "duplicates wait"} for
                review
              </Link>
            )}
          </p>
        </div>
      </div>
      {total > 0 && (
        <details class="disclosure" onToggle={(e) => setOpen(e.currentTarget.open)}>
          <summary>Show merged records</summary>
          {open &&
            (merges.error !== undefined ? (
              <ErrorNotice error={merges.error} title="Couldn't load merges" onRetry={merges.reload} />
            ) : (
              <ul class="merge-list">
                {merges.data?.results.map((edge) => (
                  <li key={edge.id}>
                    <MergeLine edge={edge} />
                  </li>
                ))}
              </ul>
            ))}
          {open && total > MERGES_SHOWN && (
            <p class="muted small-text">
              Showing the {MERGES_SHOWN} weakest matches of {total}.
            </p>
          )}
        </details>
      )}
    </section>
  );
}

/** "Rosa Martinez (ent_…) → Rosa Martinez, match 0.97, automatic, 2 days ago". */
export function MergeLine({ edge, current }: { edge: Edge; current?: string }) {
  return (
    <span class="merge-line">
      {edge.from_id === current ? "This record" : <EntityName id={edge.from_id} />}
      <span aria-hidden="true"> → </span>
      <span class="visually-hidden"> merged into </span>
      {edge.to_id === current ? "this record" : <EntityName id={edge.to_id} />}
      <span class="muted">
        {" "}
        · match {formatConfidence(edge.confidence)} ·{" "}
        {edge.source === "review" ? "approved by a reviewer" : "automatic"} ·{" "}
        <time dateTime={edge.created_at} title={formatDateTime(edge.created_at)}>
          {formatRelative(edge.created_at)}
        </time>
      </span>
    </span>
  );
}

/** A record's name, linked to it; its id while the name loads (or if it can't). */
export function EntityName({ id, showId = true }: { id: string; showId?: boolean }) {
  const { workspace } = useSession();
  const entity = useResource<EntitySummary>(workspacePath(workspace.id, "world", "entities", id));
  if (entity.loading && !entity.data) return <span class="muted mono small-text">{id}</span>;
  return (
    <Link href={`/world/${encodeURIComponent(id)}`}>
      {entity.data?.display_name ?? "Unnamed record"}
      {showId && <span class="muted mono small-text"> {id}</span>}
    </Link>
  );
}
