/** Loading the review queue (keyset pages), and telling the rest of the dashboard when it changed. */
import { useCallback, useEffect, useRef, useState } from "preact/hooks";
import { api } from "../../api";
import type { ListPage, ReviewQueueItem } from "../../types";

export const QUEUE_PAGE_SIZE = 50;

/** Dispatched on `window` after a claim or a decision, so counts elsewhere (the navigation) refresh. */
export const REVIEW_CHANGED = "switchboard:review-changed";

export function announceReviewChanged(): void {
  window.dispatchEvent(new Event(REVIEW_CHANGED));
}

export interface Queue {
  items: ReviewQueueItem[];
  total: number;
  error: unknown;
  loading: boolean;
  /** True once the first answer for the current URL arrived. */
  loaded: boolean;
  hasMore: boolean;
  loadMore(): void;
  /** Fetches the first page again, keeping what is shown until the answer arrives. */
  reload(): void;
}

/** `url` is the list endpoint with its filters; pages follow `continuation_token`. */
export function useQueue(url: string): Queue {
  const [state, setState] = useState<{
    items: ReviewQueueItem[];
    total: number;
    token: string | null;
    error: unknown;
    loading: boolean;
    loadedUrl: string | null;
  }>({ items: [], total: 0, token: null, error: undefined, loading: true, loadedUrl: null });
  const [generation, setGeneration] = useState(0);
  const controller = useRef<AbortController | null>(null);

  const fetchPage = useCallback(
    (after: string | null) => {
      controller.current?.abort();
      const current = new AbortController();
      controller.current = current;
      setState((s) => ({ ...s, loading: true, error: undefined }));
      const separator = url.includes("?") ? "&" : "?";
      const pageUrl = `${url}${separator}limit=${QUEUE_PAGE_SIZE}${after ? `&continuation_token=${encodeURIComponent(after)}` : ""}`;
      api.get<ListPage<ReviewQueueItem>>(pageUrl, { signal: current.signal }).then(
        (page) => {
          // An answer for a list the page has since left (the body may finish arriving after an abort).
          if (current.signal.aborted) return;
          setState((s) => ({
            items: after ? [...s.items, ...page.results] : page.results,
            total: page.total,
            token: page.continuation_token,
            error: undefined,
            loading: false,
            loadedUrl: url,
          }));
        },
        (error: unknown) => {
          if (!current.signal.aborted) setState((s) => ({ ...s, error, loading: false }));
        },
      );
    },
    [url],
  );

  useEffect(() => {
    fetchPage(null);
    return () => controller.current?.abort();
  }, [fetchPage, generation]);

  return {
    items: state.items,
    total: state.total,
    error: state.error,
    loading: state.loading,
    loaded: state.loadedUrl === url,
    hasMore: state.token !== null,
    loadMore: () => fetchPage(state.token),
    reload: useCallback(() => setGeneration((g) => g + 1), []),
  };
}
