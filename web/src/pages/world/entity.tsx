import { useEffect } from "preact/hooks";
import { isApiError, workspacePath } from "../../api";
import { EmptyState } from "../../components/empty-state";
import { ErrorNotice } from "../../components/error-notice";
import { factLabel, notableStatus, word } from "../../components/fact-format";
import { Loading } from "../../components/loading";
import { PageHeader } from "../../components/page-header";
import { TabPanel, Tabs } from "../../components/tabs";
import { apiUrl, withQuery } from "../../components/url-query";
import { ConfidenceBadge, SourceBadge } from "../../components/world-badges";
import { formatDateTime, formatRelative } from "../../format";
import { useDocumentTitle, useResource } from "../../hooks";
import { Link, navigate, useLocation } from "../../router";
import { useSession } from "../../session";
import type { EntityDetail, Fact, ListPage, Provenance, ReviewQueueItem } from "../../types";
import { FactsPanel } from "./facts";
import { HistoryPanel } from "./history";
import { MemoryPanel } from "./memory";
import { EntityName } from "./merges";
import { ProvenancePanel } from "./provenance";
import { searchHref } from "./search";

type Tab = "facts" | "memory" | "provenance" | "history";
const TAB_IDS: Tab[] = ["facts", "memory", "provenance", "history"];

/** One record of the world model: its facts, the agent's memory of it, where each fact came from. */
export function EntityPage({ id }: { id: string }) {
  const { workspace } = useSession();
  // A neutral title: browser history and tab strips are no place for a patient's name.
  useDocumentTitle("Record", "World", workspace.name);
  const { query } = useLocation();
  const entity = useResource<EntityDetail>(workspacePath(workspace.id, "world", "entities", id));
  const provenance = useResource<Provenance>(
    workspacePath(workspace.id, "world", "entities", id, "provenance"),
  );
  const pending = useResource<ListPage<ReviewQueueItem>>(
    apiUrl(workspacePath(workspace.id, "review"), { entity_id: id, limit: 100 }),
  );

  // Arriving from a link, focus went nowhere while the record loaded: give it to the record's heading.
  const loaded = entity.data !== undefined;
  useEffect(() => {
    if (loaded && (document.activeElement === document.body || document.activeElement === null)) {
      document.getElementById("page-title")?.focus();
    }
  }, [loaded]);

  const back = (
    <Link href={searchHref()} class="back-link">
      <span aria-hidden="true">← </span>Back to search
    </Link>
  );

  if (entity.error !== undefined && !entity.data) {
    const missing = isApiError(entity.error, "not_found");
    return (
      <>
        {back}
        <PageHeader title={missing ? "Record not found" : "World"} />
        {missing ? (
          <EmptyState title="There is no such record in this workspace">
            <p>It may have been removed, or the link belongs to another workspace.</p>
          </EmptyState>
        ) : (
          <ErrorNotice error={entity.error} title="Couldn't load this record" onRetry={entity.reload} />
        )}
      </>
    );
  }
  if (!entity.data) {
    return (
      <>
        {back}
        <Loading label="Loading the record…" />
      </>
    );
  }

  const record = entity.data;
  const isPatient = record.entity_type === "patient";
  const tabs = TAB_IDS.filter((t) => t !== "memory" || isPatient);
  const requested = query.get("tab") as Tab | null;
  const tab: Tab = requested && tabs.includes(requested) ? requested : "facts";
  const pendingItems = pending.data?.results ?? [];
  const pendingFacts = pendingItems.filter((i) => i.kind === "fact");
  const pendingMatches = pendingItems.filter((i) => i.kind === "entity_match");
  const mergedFrom = (provenance.data?.merge_history ?? []).filter((e) => e.to_id === record.id);
  const select = (next: Tab) =>
    navigate(withQuery(`/world/${encodeURIComponent(id)}`, query, { tab: next === "facts" ? null : next }), {
      replace: true,
    });

  return (
    <>
      {back}
      <PageHeader
        title={record.display_name ?? "Unnamed record"}
        description={
          <span class="entity-meta">
            <span>{word(record.entity_type)}</span>
            <span>
              First recorded from <SourceBadge source={record.source} />
            </span>
            <span>
              {record.event_count} {record.event_count === 1 ? "event" : "events"}
            </span>
            {record.last_event_at && (
              <span>
                Updated{" "}
                <time dateTime={record.last_event_at} title={formatDateTime(record.last_event_at)}>
                  {formatRelative(record.last_event_at)}
                </time>
              </span>
            )}
          </span>
        }
        actions={
          pending.data && pending.data.total > 0 ? (
            <Link href={`/review?entity_id=${encodeURIComponent(record.id)}`} class="button secondary">
              Review {pending.data.total} pending
            </Link>
          ) : undefined
        }
      />

      {record.merged_into && (
        <div class="notice warning" role="note">
          <p class="notice-title">This record was merged</p>
          <p>
            It is the same patient as <EntityName id={record.merged_into} />, which is the record kept. The
            facts below are the merged record's.
          </p>
        </div>
      )}
      {pendingMatches.map((item) => (
        <div class="notice warning" role="note" key={item.id}>
          <p class="notice-title">Possible duplicate</p>
          <p>
            Another record matches this one closely but not certainly. A reviewer decides whether they are the
            same patient.{" "}
            <Link href={`/review?item=${encodeURIComponent(item.id)}`}>Open the review item</Link>
          </p>
        </div>
      ))}
      {pendingFacts.length > 0 && (
        <div class="notice info" role="note">
          <p>
            {pendingFacts.length === 1
              ? "1 fact from a conversation awaits review"
              : `${pendingFacts.length} facts from conversations await review`}
            : until a person approves them they are not written back to the EHR.{" "}
            <Link href={`/review?entity_id=${encodeURIComponent(record.id)}`}>Review them</Link>
          </p>
        </div>
      )}
      {mergedFrom.length > 0 && (
        <p class="muted">
          Includes {mergedFrom.length === 1 ? "1 merged record" : `${mergedFrom.length} merged records`}; see{" "}
          <a
            href={`?tab=provenance`}
            onClick={(e) => {
              e.preventDefault();
              select("provenance");
            }}
          >
            Provenance
          </a>
          .
        </p>
      )}

      {isPatient && <SafetyStrip facts={record.facts} />}

      <div class="section entity-tabs">
        <Tabs
          label="Record views"
          idPrefix="entity"
          tabs={tabs.map((t) => ({ id: t, label: TAB_LABELS[t] }))}
          selected={tab}
          onSelect={select}
        />
        <TabPanel idPrefix="entity" selected={tab}>
          {tab === "facts" && (
            <FactsPanel facts={record.facts} pending={pendingFacts} isPatient={isPatient} />
          )}
          {tab === "memory" && <MemoryPanel entityId={record.merged_into ?? record.id} />}
          {tab === "provenance" && <ProvenancePanel provenance={provenance} entityId={record.id} />}
          {tab === "history" && <HistoryPanel entityId={record.id} />}
        </TabPanel>
      </div>
    </>
  );
}

const TAB_LABELS: Record<Tab, string> = {
  facts: "Facts",
  memory: "Memory",
  provenance: "Provenance",
  history: "History",
};

/** Allergies and safety flags on every tab, the way a chart shows its allergy banner. */
function SafetyStrip({ facts }: { facts: Fact[] }) {
  const safety = facts.filter((f) => f.safety_critical);
  const active = safety.filter((f) => !notableStatus(f.value));
  return (
    <section class={`safety-strip ${active.length > 0 ? "alert" : ""}`} aria-label="Allergies and safety">
      <strong>{active.length > 0 ? "Allergies and safety:" : "Allergies:"}</strong>{" "}
      {active.length === 0 ? (
        <span>None recorded. That is not the same as no known allergies: ask when it matters.</span>
      ) : (
        <ul>
          {active.map((f) => (
            <li key={f.path}>
              {factLabel(f.path, f.value)}
              {severityOf(f.value) && <span class="severity"> ({severityOf(f.value)})</span>}{" "}
              <ConfidenceBadge confidence={f.confidence} />
            </li>
          ))}
        </ul>
      )}
    </section>
  );
}

function severityOf(value: unknown): string | null {
  const severity = (value as { severity?: unknown } | null)?.severity;
  return typeof severity === "string" ? severity : null;
}
