/**
 * The live priority queue (`GET /v1/{ws}/queue`), refetched when the event stream says something changed.
 * Bursts of events (a turn publishes `call.updated`, an action an `operator.*` too) make one request.
 */
import { useCallback, useEffect, useRef, useState } from "preact/hooks";
import { api, workspacePath } from "../../api";
import type { Queue } from "../../types";

/** How long a burst of events may last before the queue is fetched once for all of it. */
export const REFETCH_DEBOUNCE_MS = 250;

export interface LiveQueue {
  queue: Queue | undefined;
  /** When the current answer arrived (ms), to tick wait times forward from the server's `wait_ms`. */
  fetchedAt: number;
  error: unknown;
  loading: boolean;
  /** Fetch again soon (debounced). */
  refetch(): void;
}

export function useQueue(workspaceId: string, enabled: boolean): LiveQueue {
  const [state, setState] = useState<{ queue?: Queue; fetchedAt: number; error?: unknown; loading: boolean }>(
    {
      fetchedAt: 0,
      loading: enabled,
    },
  );
  const timer = useRef<number | null>(null);
  const controller = useRef<AbortController | null>(null);

  const fetchNow = useCallback(() => {
    if (!enabled) return;
    controller.current?.abort();
    const current = new AbortController();
    controller.current = current;
    setState((s) => ({ ...s, loading: true }));
    api.get<Queue>(workspacePath(workspaceId, "queue"), { signal: current.signal }).then(
      (queue) => {
        if (!current.signal.aborted) setState({ queue, fetchedAt: Date.now(), loading: false });
      },
      (error: unknown) => {
        if (!current.signal.aborted) setState((s) => ({ ...s, error, loading: false }));
      },
    );
  }, [workspaceId, enabled]);

  const refetch = useCallback(() => {
    if (timer.current !== null) window.clearTimeout(timer.current);
    timer.current = window.setTimeout(() => {
      timer.current = null;
      fetchNow();
    }, REFETCH_DEBOUNCE_MS);
  }, [fetchNow]);

  useEffect(() => {
    fetchNow();
    return () => {
      controller.current?.abort();
      if (timer.current !== null) window.clearTimeout(timer.current);
    };
  }, [fetchNow]);

  return {
    queue: state.queue,
    fetchedAt: state.fetchedAt,
    error: state.error,
    loading: state.loading,
    refetch,
  };
}
