import { useEffect, useState } from "preact/hooks";
import { api, workspacePath } from "../../api";
import { useSession } from "../../session";
import type { ReviewStats } from "../../types";
import { REVIEW_CHANGED } from "./queue-data";

const REFRESH_MS = 60_000;

/**
 * The number of pending review items beside "Review" in the navigation: one small stats request on
 * load, after every claim or decision made here, and once a minute. Nothing is shown when the queue is
 * empty or the count can't be had.
 */
export function ReviewNavCount() {
  const { workspace } = useSession();
  const [pending, setPending] = useState<number | null>(null);
  useEffect(() => {
    let controller: AbortController | null = null;
    const refresh = () => {
      if (document.hidden) return;
      controller?.abort();
      const current = new AbortController();
      controller = current;
      api.get<ReviewStats>(workspacePath(workspace.id, "review", "stats"), { signal: current.signal }).then(
        (stats) => setPending(stats.queue_depth),
        () => {
          if (!current.signal.aborted) setPending(null);
        },
      );
    };
    setPending(null);
    refresh();
    const timer = setInterval(refresh, REFRESH_MS);
    window.addEventListener(REVIEW_CHANGED, refresh);
    document.addEventListener("visibilitychange", refresh);
    return () => {
      controller?.abort();
      clearInterval(timer);
      window.removeEventListener(REVIEW_CHANGED, refresh);
      document.removeEventListener("visibilitychange", refresh);
    };
  }, [workspace.id]);
  if (!pending) return null;
  return (
    <span class="nav-count" data-testid="review-pending-count">
      <span class="visually-hidden">: </span>
      {pending > 999 ? "999+" : pending}
      <span class="visually-hidden"> pending</span>
    </span>
  );
}
