import { useEffect, useRef } from "preact/hooks";
import { describeValue, factTitle } from "../../components/fact-format";
import { PriorityBadge } from "../../components/world-badges";
import { formatDateTime, formatRelative } from "../../format";
import { Link } from "../../router";
import { useSession } from "../../session";
import type { ReviewQueueItem } from "../../types";
import { claimIsLive } from "./detail";

export const itemTitle = (item: ReviewQueueItem) =>
  item.path ? factTitle(item.path, item.proposed_value) : "Possible duplicate record";

/**
 * The queue in priority order. A row opens its item (click, or the title link); operators get a
 * checkbox per row for batch decisions. The open row is marked for sight and for screen readers.
 */
export function QueueTable({
  items,
  currentId,
  hrefFor,
  selectable,
  selected,
  onToggle,
  onToggleAll,
  onOpen,
  busy,
  decided,
}: {
  items: ReviewQueueItem[];
  currentId: string | null;
  hrefFor(id: string): string;
  selectable: boolean;
  selected: ReadonlySet<string>;
  onToggle(id: string): void;
  onToggleAll(select: boolean): void;
  onOpen(id: string): void;
  busy: boolean;
  /** A view of decided items: when, instead of who holds the claim. */
  decided: boolean;
}) {
  const { session } = useSession();
  const all = useRef<HTMLInputElement>(null);
  const pending = items.filter((i) => i.status === "pending");
  const selectedHere = pending.filter((i) => selected.has(i.id)).length;
  useEffect(() => {
    if (all.current) all.current.indeterminate = selectedHere > 0 && selectedHere < pending.length;
  }, [selectedHere, pending.length]);

  // Keep the open row in view as J and K move through the queue.
  useEffect(() => {
    if (!currentId) return;
    document.getElementById(`queue-row-${currentId}`)?.scrollIntoView({ block: "nearest" });
  }, [currentId]);

  const now = Date.now();
  return (
    <div class="table-scroll">
      <table class="table queue-table" aria-label="Review queue" aria-busy={busy}>
        <thead>
          <tr>
            {selectable && (
              <th scope="col" class="select-cell">
                <input
                  ref={all}
                  type="checkbox"
                  aria-label="Select every pending item shown"
                  checked={pending.length > 0 && selectedHere === pending.length}
                  disabled={pending.length === 0}
                  onChange={(e) => onToggleAll(e.currentTarget.checked)}
                />
              </th>
            )}
            <th scope="col">Priority</th>
            <th scope="col">Item</th>
            <th scope="col" class="wide-only">
              Proposed
            </th>
            <th scope="col">{decided ? "Decided" : "Claim"}</th>
          </tr>
        </thead>
        <tbody>
          {items.map((item) => {
            const title = itemTitle(item);
            const patient = item.entity_display_name ?? "Unnamed record";
            const live = claimIsLive(item, now);
            const claim = !live ? null : item.claimed_by === session.user.id ? "You" : "Someone else";
            const current = item.id === currentId;
            return (
              <tr
                key={item.id}
                id={`queue-row-${item.id}`}
                class={`queue-row${current ? " current" : ""}${selected.has(item.id) ? " selected" : ""}`}
                aria-current={current ? "true" : undefined}
                onClick={(e) => {
                  if ((e.target as HTMLElement).closest("a, button, input, label")) return;
                  onOpen(item.id);
                }}
              >
                {selectable && (
                  <td class="select-cell">
                    {item.status === "pending" && (
                      <input
                        type="checkbox"
                        aria-label={`Select ${title} for ${patient}`}
                        checked={selected.has(item.id)}
                        onChange={() => onToggle(item.id)}
                      />
                    )}
                  </td>
                )}
                <td>
                  <PriorityBadge priority={item.priority} />
                </td>
                <td class="primary-cell">
                  <Link href={hrefFor(item.id)} class="cell-title">
                    {title}
                  </Link>
                  <span class="cell-sub">
                    {patient} ·{" "}
                    <time dateTime={item.created_at} title={`Queued ${formatDateTime(item.created_at)}`}>
                      {formatRelative(item.created_at, now)}
                    </time>
                  </span>
                </td>
                <td class="wide-only proposed-cell">
                  {item.kind === "entity_match"
                    ? "Same patient as another record?"
                    : describeValue(item.path, item.proposed_value)}
                </td>
                <td class="nowrap">
                  {decided ? (
                    item.decided_at && (
                      <time dateTime={item.decided_at} title={formatDateTime(item.decided_at)}>
                        {formatRelative(item.decided_at, now)}
                      </time>
                    )
                  ) : claim ? (
                    <span class={`badge claim${claim === "You" ? " mine" : ""}`}>{claim}</span>
                  ) : (
                    <span class="muted">—</span>
                  )}
                </td>
              </tr>
            );
          })}
        </tbody>
      </table>
    </div>
  );
}
