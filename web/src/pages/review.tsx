import { useEffect, useId, useRef, useState } from "preact/hooks";
import { roleAtLeast } from "../../../shared/auth/roles";
import { workspacePath } from "../api";
import { Dialog } from "../components/dialog";
import { EmptyState } from "../components/empty-state";
import { ErrorNotice } from "../components/error-notice";
import { Loading } from "../components/loading";
import { PageHeader } from "../components/page-header";
import { LoadMore } from "../components/section";
import { apiUrl, withQuery } from "../components/url-query";
import { ROLE_LABELS } from "../format";
import { useDocumentTitle, useResource } from "../hooks";
import { Link, navigate, useLocation } from "../router";
import { useSession } from "../session";
import type { ReviewStats, ReviewStatus } from "../types";
import { BatchBar, batchMessage } from "./review/batch";
import { type DetailHandle, ReviewDetail } from "./review/detail";
import { announceReviewChanged, useQueue } from "./review/queue-data";
import { itemTitle, QueueTable } from "./review/queue-table";
import { ReviewStatsBar } from "./review/stats";
import { EntityName } from "./world/merges";

type View = "pending" | "mine" | Exclude<ReviewStatus, "pending">;

const VIEWS: { id: View; label: string; operatorOnly?: boolean }[] = [
  { id: "pending", label: "Pending" },
  { id: "mine", label: "My claims", operatorOnly: true },
  { id: "approved", label: "Approved" },
  { id: "corrected", label: "Corrected" },
  { id: "rejected", label: "Rejected" },
];

const DOMAINS = [
  ["allergy", "Allergies"],
  ["safety", "Safety flags"],
  ["medication", "Medications"],
  ["condition", "Conditions"],
  ["coverage", "Coverage"],
  ["demographics", "Demographics"],
  ["contact", "Contact details"],
  ["preference", "Preferences"],
  ["identity", "Duplicate records"],
  ["task", "Tasks"],
  ["interaction", "Interactions"],
] as const;

const OUTCOME_WORDS = { approved: "Approved", corrected: "Corrected", rejected: "Rejected" } as const;

/** Only fields where typing a letter means text, not a shortcut. */
function typingIn(target: EventTarget | null): boolean {
  if (!(target instanceof HTMLElement)) return false;
  if (target.isContentEditable || target.closest("textarea, select, dialog")) return true;
  return (
    target instanceof HTMLInputElement && !["checkbox", "radio", "button", "submit"].includes(target.type)
  );
}

/**
 * The review queue: statistics, views (pending, my claims, decided), filters, the queue in priority
 * order beside the open item, batch decisions and keyboard shortcuts. Viewers read everything and are
 * offered no action.
 */
export function ReviewPage() {
  const { workspace } = useSession();
  useDocumentTitle("Review", workspace.name);
  const canAct = roleAtLeast(workspace.role, "operator");
  const { query } = useLocation();
  const requested = query.get("view") as View | null;
  const view: View = VIEWS.some((v) => v.id === requested && (canAct || !v.operatorOnly))
    ? requested!
    : "pending";
  const priority = query.get("priority") ?? "";
  const kind = query.get("kind") ?? "";
  const domain = query.get("domain") ?? "";
  const claim = query.get("claim") ?? "";
  const entityId = query.get("entity_id") ?? "";
  const itemId = query.get("item");
  const filtered =
    view !== "mine" && (priority || kind || domain || entityId || (view === "pending" && claim));

  const listUrl =
    view === "mine"
      ? workspacePath(workspace.id, "review", "my-queue")
      : apiUrl(workspacePath(workspace.id, "review"), {
          status: view,
          priority,
          kind,
          domain,
          entity_id: entityId,
          claimed: view === "pending" && claim ? String(claim === "claimed") : null,
        });
  const queue = useQueue(listUrl);
  const stats = useResource<ReviewStats>(workspacePath(workspace.id, "review", "stats"));

  const [selected, setSelected] = useState<ReadonlySet<string>>(new Set());
  useEffect(() => setSelected(new Set()), [listUrl]);
  const [message, setMessage] = useState<{ text: string; tone: "success" | "warning" } | null>(null);
  const [focusDetail, setFocusDetail] = useState(false);
  const [help, setHelp] = useState(false);
  const handle = useRef<DetailHandle | null>(null);
  const detailRegion = useRef<HTMLElement>(null);

  // What the Pending tab counts: the list shown when it is open (with its filters), else the whole queue.
  const pendingCount = view === "pending" && queue.loaded ? queue.total : (stats.data?.queue_depth ?? null);

  const hrefFor = (id: string | null) => withQuery("/review", query, { item: id });
  const open = (id: string | null, replace = false) => {
    setFocusDetail(false);
    navigate(hrefFor(id), { replace });
  };

  // On a wide screen the queue and the item sit side by side: open the first item straight away.
  const first = queue.items[0]?.id;
  useEffect(() => {
    // Not while the queue reloads after a decision: its first row may be the item just decided.
    if (itemId || !queue.loaded || queue.loading || !first) return;
    // Nor once the address moved on (Back) since this render: replacing it would undo that.
    if (location.search.replace(/^\?/, "") !== query.toString()) return;
    if (window.matchMedia("(min-width: 1100px)").matches) navigate(hrefFor(first), { replace: true });
  });

  const refresh = () => {
    queue.reload();
    stats.reload();
    announceReviewChanged();
  };

  const onDecided = (id: string, outcome: keyof typeof OUTCOME_WORDS) => {
    const items = queue.items;
    const index = items.findIndex((i) => i.id === id);
    const decided = items[index];
    const next = items[index + 1] ?? items[index - 1] ?? null;
    const active = document.activeElement;
    setFocusDetail(active === document.body || Boolean(active && detailRegion.current?.contains(active)));
    // Move on to the next item, unless the reviewer already went elsewhere while this one was saved.
    const live = new URLSearchParams(location.search);
    if (live.get("item") === id) {
      navigate(withQuery("/review", live, { item: next && next.id !== id ? next.id : null }), {
        replace: true,
      });
    }
    setSelected((s) => {
      const rest = new Set(s);
      rest.delete(id);
      return rest;
    });
    setMessage({
      tone: "success",
      text: `${OUTCOME_WORDS[outcome]}: ${decided ? `${itemTitle(decided)} for ${decided.entity_display_name ?? "an unnamed record"}` : "the item"}.`,
    });
    refresh();
  };

  // The latest state for the shortcut handler, which is registered once.
  const latest = useRef({ items: queue.items, itemId, canAct });
  latest.current = { items: queue.items, itemId, canAct };
  useEffect(() => {
    const onKeyDown = (event: KeyboardEvent) => {
      if (event.defaultPrevented || event.ctrlKey || event.metaKey || event.altKey) return;
      if (typingIn(event.target) || document.querySelector("dialog[open]")) return;
      const { items, itemId: current, canAct: acting } = latest.current;
      const index = items.findIndex((i) => i.id === current);
      const move = (step: number) => {
        const target = items[index === -1 ? 0 : Math.min(items.length - 1, Math.max(0, index + step))];
        if (target && target.id !== current) {
          setFocusDetail(false);
          navigate(withQuery("/review", new URLSearchParams(location.search), { item: target.id }), {
            replace: true,
          });
        }
      };
      switch (event.key) {
        case "j":
          move(1);
          break;
        case "k":
          move(-1);
          break;
        case "?":
          setHelp((h) => !h);
          break;
        case "a":
          handle.current?.approve();
          break;
        case "c":
          handle.current?.correct();
          break;
        case "r":
          handle.current?.reject();
          break;
        case "l":
          handle.current?.claim();
          break;
        case "x":
          if (!acting || !current || items[index]?.status !== "pending") return;
          setSelected((s) => {
            const next = new Set(s);
            if (!next.delete(current)) next.add(current);
            return next;
          });
          break;
        default:
          return;
      }
      event.preventDefault();
    };
    document.addEventListener("keydown", onKeyDown);
    return () => document.removeEventListener("keydown", onKeyDown);
  }, []);

  const setFilter = (key: string, value: string) =>
    navigate(withQuery("/review", query, { [key]: value, item: null }), { replace: true });
  const ids = { priority: useId(), kind: useId(), domain: useId(), claim: useId() };

  return (
    <>
      <PageHeader
        title="Review"
        description="Facts learned in conversations that need a person before they count, and possible duplicate records. Highest priority first, then oldest."
        actions={
          <button
            type="button"
            class="button ghost small shortcuts-button"
            onClick={() => setHelp(true)}
            aria-keyshortcuts="?"
          >
            Keyboard shortcuts
          </button>
        }
      />
      <div class={`review-overview${itemId ? " has-item" : ""}`}>
        <ReviewStatsBar stats={stats} />
        {!canAct && (
          <p class="note">
            You can read the queue and every item's evidence. Claiming and deciding items needs the Operator
            role; your role here is {ROLE_LABELS[workspace.role]}.
          </p>
        )}

        <nav class="view-tabs" aria-label="Queue views">
          {VIEWS.filter((v) => canAct || !v.operatorOnly).map((v) => (
            <Link
              key={v.id}
              href={
                v.id === "pending"
                  ? withQuery("/review", query, { view: null, item: null })
                  : withQuery("/review", query, { view: v.id, item: null })
              }
              class="view-tab"
              aria-current={view === v.id ? "page" : undefined}
            >
              {v.label}
              {v.id === "pending" && pendingCount !== null && <span class="count">{pendingCount}</span>}
            </Link>
          ))}
        </nav>

        {view !== "mine" && (
          <fieldset class="filters">
            <legend class="visually-hidden">Filters</legend>
            <div class="field">
              <label for={ids.priority}>Priority</label>
              <select
                id={ids.priority}
                value={priority}
                onChange={(e) => setFilter("priority", e.currentTarget.value)}
              >
                <option value="">Any priority</option>
                <option value="high">High</option>
                <option value="medium">Medium</option>
                <option value="low">Low</option>
              </select>
            </div>
            <div class="field">
              <label for={ids.kind}>Kind</label>
              <select id={ids.kind} value={kind} onChange={(e) => setFilter("kind", e.currentTarget.value)}>
                <option value="">Facts and duplicates</option>
                <option value="fact">Facts</option>
                <option value="entity_match">Possible duplicates</option>
              </select>
            </div>
            <div class="field">
              <label for={ids.domain}>About</label>
              <select
                id={ids.domain}
                value={domain}
                onChange={(e) => setFilter("domain", e.currentTarget.value)}
              >
                <option value="">Anything</option>
                {DOMAINS.map(([value, label]) => (
                  <option key={value} value={value}>
                    {label}
                  </option>
                ))}
              </select>
            </div>
            {view === "pending" && (
              <div class="field">
                <label for={ids.claim}>Claim</label>
                <select
                  id={ids.claim}
                  value={claim}
                  onChange={(e) => setFilter("claim", e.currentTarget.value)}
                >
                  <option value="">Claimed or not</option>
                  <option value="free">Unclaimed</option>
                  <option value="claimed">Claimed</option>
                </select>
              </div>
            )}
            {entityId && (
              <p class="filter-chip">
                <span>
                  Patient: <EntityName id={entityId} showId={false} />
                </span>
                <button
                  type="button"
                  class="button ghost small"
                  aria-label="Show every patient"
                  onClick={() => setFilter("entity_id", "")}
                >
                  ×
                </button>
              </p>
            )}
          </fieldset>
        )}

        {canAct && selected.size > 0 && (
          <BatchBar
            ids={[...selected]}
            onClear={() => setSelected(new Set())}
            onDone={(result, action) => {
              setSelected(new Set());
              setMessage({
                tone: result.failed > 0 ? "warning" : "success",
                text: batchMessage(result, action),
              });
              const live = new URLSearchParams(location.search);
              const shown = live.get("item");
              if (shown && result.results.some((r) => r.id === shown && r.ok)) {
                navigate(withQuery("/review", live, { item: null }), { replace: true });
              }
              refresh();
            }}
          />
        )}
      </div>
      <div class="review-message" role="status">
        {message && (
          <p class={`notice ${message.tone}`}>
            {message.text}{" "}
            <button type="button" class="button ghost small" onClick={() => setMessage(null)}>
              Dismiss
            </button>
          </p>
        )}
      </div>

      <div class={`review-layout${itemId ? " has-item" : ""}`}>
        <section class="section review-list" aria-label="Queue">
          {queue.error !== undefined && (
            <ErrorNotice error={queue.error} title="Couldn't load the queue" onRetry={queue.reload} />
          )}
          {!queue.loaded && queue.error === undefined && queue.items.length === 0 && <Loading />}
          {queue.loaded && queue.items.length === 0 && (
            <EmptyState title={emptyTitle(view, Boolean(filtered), entityId !== "")} compact>
              <p>{emptyBody(view, Boolean(filtered), entityId !== "")}</p>
              {filtered && (
                <p>
                  <Link
                    href={withQuery("/review", new URLSearchParams(), {
                      view: view === "pending" ? null : view,
                    })}
                  >
                    Clear the filters
                  </Link>
                </p>
              )}
            </EmptyState>
          )}
          {queue.items.length > 0 && (
            <QueueTable
              items={queue.items}
              currentId={itemId}
              hrefFor={hrefFor}
              selectable={canAct && view !== "approved" && view !== "corrected" && view !== "rejected"}
              selected={selected}
              onToggle={(id) =>
                setSelected((s) => {
                  const next = new Set(s);
                  if (!next.delete(id)) next.add(id);
                  return next;
                })
              }
              onToggleAll={(on) =>
                setSelected(
                  on
                    ? new Set(queue.items.filter((i) => i.status === "pending").map((i) => i.id))
                    : new Set(),
                )
              }
              onOpen={(id) => open(id)}
              busy={queue.loading}
              decided={view !== "pending" && view !== "mine"}
            />
          )}
          {queue.hasMore && (
            <LoadMore
              shown={queue.items.length}
              total={queue.total}
              loading={queue.loading}
              onLoadMore={queue.loadMore}
            />
          )}
        </section>
        <section class="section review-detail" aria-label="Open item" ref={detailRegion}>
          {itemId ? (
            <>
              <Link href={hrefFor(null)} class="back-link narrow-only">
                <span aria-hidden="true">← </span>Back to the queue
              </Link>
              <ReviewDetail
                key={itemId}
                id={itemId}
                handle={handle}
                focusOnLoad={focusDetail}
                onDecided={onDecided}
                onClaimChanged={(text) => {
                  setMessage({ tone: "success", text });
                  refresh();
                }}
              />
            </>
          ) : (
            <EmptyState title="No item open" compact>
              <p>
                Choose an item in the queue{queue.items.length > 0 ? ", or press J to open the first" : ""}.
              </p>
            </EmptyState>
          )}
        </section>
      </div>
      {help && <ShortcutsDialog canAct={canAct} onClose={() => setHelp(false)} />}
    </>
  );
}

function emptyTitle(view: View, filtered: boolean, onePatient: boolean): string {
  if (onePatient && view === "pending") return "Nothing waiting for review for this patient";
  if (filtered) return "No items match these filters";
  if (view === "pending") return "Nothing waiting for review";
  if (view === "mine") return "You hold no claims";
  return `Nothing ${view} yet`;
}

function emptyBody(view: View, filtered: boolean, onePatient: boolean): string {
  if (onePatient && view === "pending") {
    return "Everything learned about this patient has been decided. Other filters, or other patients, may still have items.";
  }
  if (filtered) return "Try another priority, kind or subject, or clear the filters.";
  if (view === "pending") {
    return "Facts learned in calls and messages that need a person, and possible duplicate records, appear here as they arrive.";
  }
  if (view === "mine") return "Claim an item to keep it yours for 30 minutes while you look into it.";
  return "Decisions of this kind appear here once reviewers make them.";
}

function ShortcutsDialog({ canAct, onClose }: { canAct: boolean; onClose(): void }) {
  const keys: [string, string][] = [
    ["J", "Open the next item"],
    ["K", "Open the previous item"],
    ...(canAct
      ? ([
          ["A", "Approve the open item"],
          ["C", "Correct it (edit the value)"],
          ["R", "Reject it (with a reason)"],
          ["L", "Claim it, or release your claim"],
          ["X", "Select it for a batch decision"],
        ] as [string, string][])
      : []),
    ["?", "Show or hide these shortcuts"],
    ["Esc", "Close a form or this list"],
  ];
  return (
    <Dialog title="Keyboard shortcuts" onClose={onClose} size="small">
      <dl class="shortcuts">
        {keys.map(([key, what]) => (
          <div key={key}>
            <dt>
              <kbd>{key}</kbd>
            </dt>
            <dd>{what}</dd>
          </div>
        ))}
      </dl>
      <p class="muted small-text">Shortcuts are off while you type in a field.</p>
      <div class="dialog-actions">
        <button type="button" class="button" onClick={onClose}>
          Close
        </button>
      </div>
    </Dialog>
  );
}
