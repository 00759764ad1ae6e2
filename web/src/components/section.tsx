import type { ComponentChildren } from "preact";

/** A titled block of a page, linkable by its id (`/settings#api-keys`). */
export function Section({
  id,
  title,
  count,
  description,
  actions,
  children,
}: {
  id: string;
  title: string;
  count?: number | undefined;
  description?: ComponentChildren;
  actions?: ComponentChildren;
  children: ComponentChildren;
}) {
  const headingId = `${id}-title`;
  return (
    <section id={id} class="section" aria-labelledby={headingId}>
      <div class="section-header">
        <div>
          <h2 id={headingId} tabIndex={-1}>
            {title}
            {count !== undefined && <span class="count">{count}</span>}
          </h2>
          {description && <p class="section-description">{description}</p>}
        </div>
        {actions && <div class="section-actions">{actions}</div>}
      </div>
      {children}
    </section>
  );
}

/** "Showing 100 of 240" and a button for the next page. */
export function LoadMore({
  shown,
  total,
  loading,
  onLoadMore,
}: {
  shown: number;
  total: number;
  loading: boolean;
  onLoadMore(): void;
}) {
  return (
    <div class="load-more">
      <span class="muted">
        Showing {shown} of {total}
      </span>
      <button type="button" class="button secondary small" onClick={onLoadMore} disabled={loading}>
        {loading ? "Loading…" : "Show more"}
      </button>
    </div>
  );
}
