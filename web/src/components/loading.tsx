/** A quiet, announced loading line. */
export function Loading({ label = "Loading…" }: { label?: string }) {
  return (
    <p class="loading" role="status">
      <span class="spinner" aria-hidden="true" />
      {label}
    </p>
  );
}
