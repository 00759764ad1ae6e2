import { useState } from "preact/hooks";
import { ErrorNotice } from "../../components/error-notice";
import { describeValue, factTitle, groupByPath } from "../../components/fact-format";
import { Loading } from "../../components/loading";
import { ConfidenceBadge, SourceBadge } from "../../components/world-badges";
import { formatDateTime } from "../../format";
import type { Resource } from "../../hooks";
import type { Provenance } from "../../types";
import { MergeLine } from "./merges";

type Candidate = Provenance["confidence_history"][number]["candidates"][number];
type CandidateStatus = "current" | "superseded" | "rejected" | "outranked";

/** Candidates come winner first; only an eligible winner is the value in use. */
function statusOf(candidate: Candidate, index: number): CandidateStatus {
  if (candidate.superseded) return "superseded";
  if (candidate.confidence === 0) return "rejected";
  return index === 0 ? "current" : "outranked";
}

const STATUS_WORDS: Record<CandidateStatus, string> = {
  current: "In use",
  superseded: "Superseded",
  rejected: "Rejected",
  outranked: "Outranked",
};

/**
 * Where each fact came from: the sources behind the record, the merges that joined it, and for every
 * path each value ever recorded, with its confidence, source and time, marked in use, superseded,
 * rejected or outranked.
 */
export function ProvenancePanel({
  provenance,
  entityId,
}: {
  provenance: Resource<Provenance>;
  entityId: string;
}) {
  const [contestedOnly, setContestedOnly] = useState(false);
  if (provenance.error !== undefined && !provenance.data) {
    return (
      <ErrorNotice error={provenance.error} title="Couldn't load provenance" onRetry={provenance.reload} />
    );
  }
  if (!provenance.data) return <Loading />;
  const { sources, merge_history, confidence_history } = provenance.data;
  const paths = confidence_history.filter((h) => !contestedOnly || h.candidates.length > 1);
  const contested = confidence_history.filter((h) => h.candidates.length > 1).length;

  return (
    <div class="provenance">
      <div class="provenance-summary">
        <section aria-labelledby="prov-sources">
          <h2 id="prov-sources">Sources</h2>
          <ul class="plain-list">
            {sources.map((s) => (
              <li key={`${s.source}|${s.source_system}`}>
                <SourceBadge source={s.source} />
                {s.source_system && <span class="mono small-text"> {s.source_system}</span>}
                <span class="muted">
                  {" "}
                  · {s.events} {s.events === 1 ? "event" : "events"}
                </span>
              </li>
            ))}
          </ul>
        </section>
        <section aria-labelledby="prov-merges">
          <h2 id="prov-merges">Merge history</h2>
          {merge_history.length === 0 ? (
            <p class="muted">Never merged with another record.</p>
          ) : (
            <ul class="plain-list">
              {merge_history.map((edge) => (
                <li key={edge.id}>
                  <MergeLine edge={edge} current={entityId} />
                </li>
              ))}
            </ul>
          )}
        </section>
      </div>

      <section aria-labelledby="prov-facts">
        <div class="section-header">
          <div>
            <h2 id="prov-facts">Every value recorded, per fact</h2>
            <p class="section-description">
              The value in use comes first. <em>Superseded</em>: replaced by a later decision on the same
              proposal. <em>Rejected</em>: a reviewer said it is wrong. <em>Outranked</em>: a value with
              higher confidence is in use.
            </p>
          </div>
          <label class="checkbox">
            <input
              type="checkbox"
              checked={contestedOnly}
              onChange={(e) => setContestedOnly(e.currentTarget.checked)}
            />
            Only facts with more than one value ({contested})
          </label>
        </div>
        {paths.length === 0 ? (
          <p class="muted">Every fact has a single value.</p>
        ) : (
          <div class="table-scroll">
            <table class="table prov-table" aria-labelledby="prov-facts">
              <thead>
                <tr>
                  <th scope="col">Value</th>
                  <th scope="col">Confidence</th>
                  <th scope="col">Source</th>
                  <th scope="col">Effective</th>
                  <th scope="col">Status</th>
                </tr>
              </thead>
              {groupByPath(paths).flatMap(({ items }) =>
                items.map(({ path, candidates }) => (
                  <tbody key={path} aria-label={factTitle(path, candidates[0]?.value)}>
                    <tr class="prov-path-row">
                      <th scope="rowgroup" colSpan={5} class="prov-path-title">
                        {factTitle(path, candidates[0]?.value)}{" "}
                        <span class="mono small-text muted">{path}</span>
                      </th>
                    </tr>
                    {candidates.map((c, i) => {
                      const status = statusOf(c, i);
                      return (
                        <tr key={c.event_id} class={`candidate-${status}`}>
                          <td class="candidate-value">{describeValue(path, c.value)}</td>
                          <td>
                            <ConfidenceBadge confidence={c.confidence} />
                          </td>
                          <td>
                            <SourceBadge source={c.source} />
                          </td>
                          <td class="nowrap">
                            <time dateTime={c.effective_at}>{formatDateTime(c.effective_at)}</time>
                          </td>
                          <td>
                            <span class={`badge candidate-status status-${status}`}>
                              {STATUS_WORDS[status]}
                            </span>
                          </td>
                        </tr>
                      );
                    })}
                  </tbody>
                )),
              )}
            </table>
          </div>
        )}
      </section>
    </div>
  );
}
