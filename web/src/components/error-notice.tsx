import type { ComponentChildren } from "preact";
import { isApiError } from "../api";

/** What went wrong, in the API's words, with its request id for support and an optional retry. */
export function ErrorNotice({
  error,
  title = "Something went wrong",
  onRetry,
  children,
}: {
  error: unknown;
  title?: string;
  onRetry?: () => void;
  children?: ComponentChildren;
}) {
  const message = error instanceof Error ? error.message : "An unexpected error occurred.";
  const requestId = isApiError(error) ? error.requestId : null;
  return (
    <div class="notice error" role="alert">
      <p class="notice-title">{title}</p>
      <p>{message}</p>
      {children}
      {(onRetry || requestId) && (
        <div class="notice-footer">
          {onRetry && (
            <button type="button" class="button secondary small" onClick={onRetry}>
              Try again
            </button>
          )}
          {requestId && <span class="muted small-text">Reference {requestId}</span>}
        </div>
      )}
    </div>
  );
}
