import { useEffect, useId, useRef, useState } from "preact/hooks";
import { ENTITY_TYPES, SOURCES } from "../../../../shared/world/vocabulary";
import { workspacePath } from "../../api";
import { EmptyState } from "../../components/empty-state";
import { ErrorNotice } from "../../components/error-notice";
import { word } from "../../components/fact-format";
import { Loading } from "../../components/loading";
import { PageHeader } from "../../components/page-header";
import { apiUrl, withQuery } from "../../components/url-query";
import { ConfidenceBadge, SourceBadge, sourceLabel } from "../../components/world-badges";
import { formatDateTime, formatRelative } from "../../format";
import { useDocumentTitle, useResource } from "../../hooks";
import { Link, navigate, useLocation } from "../../router";
import { useSession } from "../../session";
import type { EntitySearchResult, EntitySummary, ListPage } from "../../types";
import { MergedRecords } from "./merges";

const PAGE_SIZE = 25;
/** Typing settles for this long before the search runs. */
const DEBOUNCE_MS = 250;

const CONFIDENCE_FLOORS = [
  { value: "", label: "Any confidence" },
  { value: "0.5", label: "0.50 or more" },
  { value: "0.9", label: "0.90 or more" },
];

let lastSearch = "/world";

/** The search as it was left, for the patient page's "Back to search". */
export function searchHref(): string {
  return lastSearch;
}

/** Search terms the API will use: words of two letters or more (shorter ones match everything). */
const usableQuery = (text: string) => /[\p{L}\p{N}]{2}/u.test(text);

/** Search the world model by name, with type, source and confidence filters; paged 25 at a time. */
export function WorldSearchPage() {
  const { workspace } = useSession();
  useDocumentTitle("World", workspace.name);
  const { path, query } = useLocation();
  const q = query.get("q") ?? "";
  const type = query.get("type") ?? "";
  const source = query.get("source") ?? "";
  const floor = query.get("confidence") ?? "";
  const page = Math.max(1, Math.floor(Number(query.get("page"))) || 1);
  const filtered = q !== "" || type !== "" || source !== "" || floor !== "";

  useEffect(() => {
    lastSearch = path + location.search;
  }, [path, query]);

  const [text, setText] = useState(q);
  // The last query this page put in the address: any other change (Back, a link) resets the box.
  const pushed = useRef(q);
  useEffect(() => {
    if (q !== pushed.current) {
      pushed.current = q;
      setText(q);
    }
  }, [q]);
  useEffect(() => {
    const wanted = usableQuery(text) ? text.trim() : "";
    if (wanted === q) return;
    const timer = setTimeout(() => {
      pushed.current = wanted;
      navigate(withQuery("/world", new URLSearchParams(location.search), { q: wanted, page: null }), {
        replace: true,
      });
    }, DEBOUNCE_MS);
    return () => clearTimeout(timer);
  }, [text, q]);

  const setFilter = (key: string, value: string) =>
    navigate(withQuery("/world", query, { [key]: value, page: null }), { replace: true });

  const results = useResource<EntitySearchResult>(
    apiUrl(workspacePath(workspace.id, "world", "entities"), {
      q,
      entity_type: type,
      source,
      confidence_min: floor,
      limit: PAGE_SIZE,
      offset: (page - 1) * PAGE_SIZE,
    }),
  );
  const duplicates = useResource<ListPage<unknown>>(
    apiUrl(workspacePath(workspace.id, "review"), { kind: "entity_match", limit: 1 }),
  );

  const ids = { q: useId(), hint: useId(), type: useId(), source: useId(), floor: useId() };
  const firstResult = useRef<HTMLTableSectionElement>(null);
  const data = results.data;
  const total = data?.total ?? 0;
  const first = total === 0 ? 0 : (page - 1) * PAGE_SIZE + 1;
  const last = Math.min(total, page * PAGE_SIZE);
  const typing = (usableQuery(text) ? text.trim() : "") !== q;
  const terms = q
    .toLowerCase()
    .split(/[^\p{L}\p{N}]+/u)
    .filter((t) => t.length >= 2);

  return (
    <>
      <PageHeader
        title="World"
        description="What Switchboard knows about patients, providers and appointments, and where it learned it."
      />
      <section class="section" aria-label="Search the world model">
        <search>
          <form class="search-bar" onSubmit={(e) => e.preventDefault()}>
            <div class="field search-field">
              <label for={ids.q}>Search by name</label>
              <input
                id={ids.q}
                type="search"
                value={text}
                placeholder="Maria, or mar lo"
                autoComplete="off"
                spellcheck={false}
                aria-describedby={ids.hint}
                onInput={(e) => setText(e.currentTarget.value)}
                onKeyDown={(e) => {
                  if (e.key === "ArrowDown") {
                    e.preventDefault();
                    firstResult.current?.querySelector<HTMLAnchorElement>("a")?.focus();
                  }
                }}
              />
              <p class="hint" id={ids.hint}>
                {text.trim() !== "" && !usableQuery(text)
                  ? "Keep typing: a search needs at least two letters."
                  : "Matches the start of any word of a name; every word you type must match."}
              </p>
            </div>
            <div class="field">
              <label for={ids.type}>Type</label>
              <select id={ids.type} value={type} onChange={(e) => setFilter("type", e.currentTarget.value)}>
                <option value="">All types</option>
                {ENTITY_TYPES.map((t) => (
                  <option key={t} value={t}>
                    {word(t)}
                  </option>
                ))}
              </select>
            </div>
            <div class="field">
              <label for={ids.source}>Source</label>
              <select
                id={ids.source}
                value={source}
                onChange={(e) => setFilter("source", e.currentTarget.value)}
              >
                <option value="">Any source</option>
                {SOURCES.map((s) => (
                  <option key={s} value={s}>
                    {sourceLabel(s)}
                  </option>
                ))}
              </select>
            </div>
            <div class="field">
              <label for={ids.floor}>Confidence</label>
              <select
                id={ids.floor}
                value={floor}
                onChange={(e) => setFilter("confidence", e.currentTarget.value)}
              >
                {CONFIDENCE_FLOORS.map((f) => (
                  <option key={f.value} value={f.value}>
                    {f.label}
                  </option>
                ))}
              </select>
            </div>
          </form>
        </search>

        <div class="results-bar">
          <p class="muted" role="status" aria-live="polite">
            {results.loading || typing
              ? "Searching…"
              : data
                ? total === 0
                  ? "No matches"
                  : total <= PAGE_SIZE && page === 1
                    ? `${total} ${total === 1 ? "record" : "records"}`
                    : `${first}–${last} of ${total} records`
                : ""}
          </p>
          {filtered && (
            <button
              type="button"
              class="button ghost small"
              onClick={() => {
                setText("");
                pushed.current = "";
                navigate("/world", { replace: true });
              }}
            >
              Clear search and filters
            </button>
          )}
        </div>

        {results.error !== undefined && (
          <ErrorNotice
            error={results.error}
            title="Couldn't search the world model"
            onRetry={results.reload}
          />
        )}
        {!data && results.loading && <Loading />}
        {data && total === 0 && !results.loading && (
          <EmptyState title={filtered ? "Nothing matches" : "Nothing learned yet"} compact={filtered}>
            {filtered ? (
              <p>
                No record {q ? <>has a name starting with “{q}”</> : "matches these filters"}
                {q && (type || source || floor) ? " with these filters" : ""}. Check the spelling, or clear
                the filters.
              </p>
            ) : (
              <p>
                The world model fills in as calls are handled and data sources are connected. Each fact will
                show its source and confidence, and facts awaiting verification will be listed for review.
              </p>
            )}
          </EmptyState>
        )}
        {data && data.results.length > 0 && (
          <div class="table-scroll">
            <table class="table results-table" aria-label="Search results" aria-busy={results.loading}>
              <thead>
                <tr>
                  <th scope="col">Name</th>
                  <th scope="col" class="wide-only">
                    Type
                  </th>
                  <th scope="col">Source</th>
                  <th scope="col">Confidence</th>
                  <th scope="col" class="wide-only">
                    Last updated
                  </th>
                </tr>
              </thead>
              <tbody ref={firstResult}>
                {data.results.map((entity) => (
                  <ResultRow key={entity.id} entity={entity} terms={terms} />
                ))}
              </tbody>
            </table>
          </div>
        )}
        {data && total > PAGE_SIZE && (
          <nav class="pager" aria-label="Result pages">
            <button
              type="button"
              class="button secondary small"
              disabled={page <= 1}
              onClick={() =>
                navigate(withQuery("/world", query, { page: page > 2 ? String(page - 1) : null }))
              }
            >
              Previous
            </button>
            <span class="muted">
              Page {page} of {Math.ceil(total / PAGE_SIZE)}
            </span>
            <button
              type="button"
              class="button secondary small"
              disabled={last >= total}
              onClick={() => navigate(withQuery("/world", query, { page: String(page + 1) }))}
            >
              Next
            </button>
          </nav>
        )}
      </section>
      <MergedRecords pendingMatches={duplicates.data?.total ?? 0} />
    </>
  );
}

function ResultRow({ entity, terms }: { entity: EntitySummary; terms: string[] }) {
  const name = entity.display_name ?? "Unnamed record";
  return (
    <tr>
      <td class="primary-cell">
        <Link href={`/world/${encodeURIComponent(entity.id)}`} class="cell-title">
          <Highlighted text={name} terms={terms} />
        </Link>
        <span class="cell-sub">
          {entity.event_count} {entity.event_count === 1 ? "event" : "events"}
        </span>
      </td>
      <td class="wide-only">{word(entity.entity_type)}</td>
      <td>
        <SourceBadge source={entity.source} />
      </td>
      <td>
        <ConfidenceBadge confidence={entity.confidence} />
      </td>
      <td class="nowrap wide-only">
        {entity.last_event_at ? (
          <time dateTime={entity.last_event_at} title={formatDateTime(entity.last_event_at)}>
            {formatRelative(entity.last_event_at)}
          </time>
        ) : (
          <span class="muted">Never</span>
        )}
      </td>
    </tr>
  );
}

/** The name with the start of each word the search matched marked. */
function Highlighted({ text, terms }: { text: string; terms: string[] }) {
  if (terms.length === 0) return <>{text}</>;
  const fold = (s: string) =>
    s
      .normalize("NFKD")
      .replace(/[\u0300-\u036f]/g, "")
      .toLowerCase();
  return (
    <>
      {text.split(/(\s+)/).map((part, i) => {
        const term = terms.find((t) => fold(part).startsWith(t));
        if (!term) return part;
        // Folding can change length (accents): mark as many characters as the term has.
        return (
          <span key={i}>
            <mark>{part.slice(0, term.length)}</mark>
            {part.slice(term.length)}
          </span>
        );
      })}
    </>
  );
}
