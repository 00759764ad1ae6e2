import type { ComponentChildren } from "preact";

/** What a page or table shows when there is honestly nothing to show yet. */
export function EmptyState({
  title,
  children,
  compact = false,
}: {
  title: string;
  children?: ComponentChildren;
  compact?: boolean;
}) {
  return (
    <div class={compact ? "empty-state compact" : "empty-state"}>
      <p class="empty-title">{title}</p>
      {children && <div class="empty-body">{children}</div>}
    </div>
  );
}
