import { EmptyState } from "../../components/empty-state";
import {
  describeValue,
  type FactGroup,
  factDetail,
  factLabel,
  groupByPath,
  notableStatus,
} from "../../components/fact-format";
import { ConfidenceBadge, SafetyBadge, SourceBadge } from "../../components/world-badges";
import { formatDate, formatDateTime } from "../../format";
import { Link } from "../../router";
import type { Fact, ReviewQueueItem } from "../../types";

const ALLERGIES: FactGroup = {
  id: "allergies",
  title: "Allergies",
  singular: "Allergy",
  prefix: "allergies",
  safety: true,
};

/**
 * The record's current facts, grouped, allergies and safety flags first and marked. Each value carries
 * its confidence and source; a fact with a proposal waiting for review links to it.
 */
export function FactsPanel({
  facts,
  pending,
  isPatient,
}: {
  facts: Fact[];
  pending: ReviewQueueItem[];
  isPatient: boolean;
}) {
  if (facts.length === 0) {
    return (
      <EmptyState title="No facts yet" compact>
        <p>Facts appear as the EHR, calls, forms and reviewers record them.</p>
      </EmptyState>
    );
  }
  const groups = groupByPath(facts);
  // A patient always shows the allergy section: "none recorded" is itself worth seeing.
  if (isPatient && !groups.some((g) => g.group.id === "allergies")) {
    groups.unshift({ group: ALLERGIES, items: [] });
  }
  const pendingByPath = new Map(pending.filter((p) => p.path).map((p) => [p.path!, p]));
  return (
    <div class="fact-groups">
      <p class="muted small-text legend">
        Confidence, 0 to 1: <span class="legend-dot high" aria-hidden="true" />
        0.90 or more can be written back to the EHR · <span class="legend-dot medium" aria-hidden="true" />
        0.50 or more is verified or confirmed · <span class="legend-dot low" aria-hidden="true" />
        less is unconfirmed.
      </p>
      {groups.map(({ group, items }) => (
        <section key={group.id} class={`fact-group${group.safety ? " safety" : ""}`} aria-label={group.title}>
          <h2 id={`facts-${group.id}`}>
            {group.safety && <SafetyIcon />}
            {group.title}
            <span class="count">{items.length}</span>
          </h2>
          {items.length === 0 ? (
            <p class="muted">No allergies recorded.</p>
          ) : (
            <table class="fact-table" aria-labelledby={`facts-${group.id}`}>
              <thead class="visually-hidden">
                <tr>
                  <th scope="col">Fact</th>
                  <th scope="col">Value</th>
                  <th scope="col">Confidence</th>
                  <th scope="col">Source</th>
                  <th scope="col">As of</th>
                </tr>
              </thead>
              <tbody>
                {items.map((fact) => (
                  <FactRow key={fact.path} fact={fact} pending={pendingByPath.get(fact.path)} />
                ))}
              </tbody>
            </table>
          )}
        </section>
      ))}
    </div>
  );
}

function FactRow({ fact, pending }: { fact: Fact; pending: ReviewQueueItem | undefined }) {
  const status = notableStatus(fact.value);
  return (
    <tr class={status ? "inactive" : undefined} data-path={fact.path}>
      <th scope="row" class="fact-cell fact-label">
        {factLabel(fact.path, fact.value)}
        {fact.safety_critical && !status && <SafetyBadge />}
      </th>
      <td class="fact-cell fact-value">
        {factDetail(fact.path, fact.value)}
        {status && <span class="badge">{status}</span>}
        {pending && (
          <Link href={`/review?item=${encodeURIComponent(pending.id)}`} class="badge pending-link">
            {sameValue(pending.proposed_value, fact.value)
              ? "Awaiting review"
              : `Change proposed: ${describeValue(fact.path, pending.proposed_value)}`}
          </Link>
        )}
      </td>
      <td class="fact-cell fact-confidence">
        <ConfidenceBadge confidence={fact.confidence} />
      </td>
      <td class="fact-cell fact-source">
        <SourceBadge source={fact.source} />
      </td>
      <td class="fact-cell fact-time nowrap muted">
        <time dateTime={fact.effective_at} title={formatDateTime(fact.effective_at)}>
          {formatDate(fact.effective_at)}
        </time>
      </td>
    </tr>
  );
}

const sameValue = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);

export function SafetyIcon() {
  return (
    <svg
      class="icon safety-icon"
      viewBox="0 0 16 16"
      width="16"
      height="16"
      aria-hidden="true"
      focusable="false"
    >
      <path d="M8 1.5 15 14H1z" fill="currentColor" />
      <path d="M8 6v4M8 11.75v.5" stroke="var(--surface)" stroke-width="1.6" stroke-linecap="round" />
    </svg>
  );
}
