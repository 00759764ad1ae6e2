import type { ComponentChildren } from "preact";
import type { PagedList } from "../hooks";
import { Link } from "../router";
import { EmptyState } from "./empty-state";
import { ErrorNotice } from "./error-notice";
import { Loading } from "./loading";
import { LoadMore } from "./section";

/**
 * The states of a paged list, in one place: an error with a retry, loading, "nothing matches these
 * filters" with a way back, the page's own empty state, or the rows (`children`) with "Show more".
 */
export function PagedListView<T>({
  list,
  plural,
  singular,
  filtered,
  resetHref,
  emptyTitle,
  empty,
  children,
}: {
  list: PagedList<T>;
  /** "calls" */
  plural: string;
  /** "call" */
  singular: string;
  filtered: boolean;
  /** Where "Show every …" goes (the page without filters). */
  resetHref: string;
  emptyTitle: string;
  /** What the empty page says when nothing exists yet. */
  empty: ComponentChildren;
  children: (items: T[]) => ComponentChildren;
}) {
  if (list.error)
    return <ErrorNotice error={list.error} title={`Could not load ${plural}`} onRetry={list.reload} />;
  if (!list.loaded) return <Loading label={`Loading ${plural}`} />;
  if (list.items.length === 0)
    return filtered ? (
      <EmptyState title={`No ${plural} match these filters`}>
        <p>
          <Link href={resetHref}>Show every {singular}</Link>
        </p>
      </EmptyState>
    ) : (
      <EmptyState title={emptyTitle}>{empty}</EmptyState>
    );
  return (
    <>
      {children(list.items)}
      {list.hasMore && (
        <LoadMore
          shown={list.items.length}
          total={list.total}
          loading={list.loading}
          onLoadMore={list.loadMore}
        />
      )}
    </>
  );
}
