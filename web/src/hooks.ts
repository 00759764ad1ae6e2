/** Data loading for pages: one resource, or a list paged with the API's continuation tokens. */
import { useCallback, useEffect, useRef, useState } from "preact/hooks";
import { api } from "./api";
import type { ListPage } from "./types";

export interface Resource<T> {
  data: T | undefined;
  error: unknown;
  loading: boolean;
  reload(): void;
}

/** GETs `path` (skipped while null); a new path or `reload()` fetches again and cancels the previous. */
export function useResource<T>(path: string | null): Resource<T> {
  const [state, setState] = useState<{ data?: T; error?: unknown; loading: boolean }>({
    loading: path !== null,
  });
  const [generation, setGeneration] = useState(0);
  useEffect(() => {
    if (path === null) return;
    const controller = new AbortController();
    setState((s) => ({ data: s.data, loading: true }));
    api.get<T>(path, { signal: controller.signal }).then(
      (data) => setState({ data, loading: false }),
      (error: unknown) => {
        if (!controller.signal.aborted) setState({ error, loading: false });
      },
    );
    return () => controller.abort();
  }, [path, generation]);
  const reload = useCallback(() => setGeneration((g) => g + 1), []);
  return { data: state.data, error: state.error, loading: state.loading, reload };
}

export interface PagedList<T> {
  items: T[];
  total: number;
  error: unknown;
  loading: boolean;
  hasMore: boolean;
  /** Whether the items are those of the current path (false while a changed filter's first page loads). */
  loaded: boolean;
  loadMore(): void;
  reload(): void;
}

export const PAGE_SIZE = 100;

function pageUrl(path: string, token: string | null, pageSize: number): string {
  const query = new URLSearchParams({ limit: String(pageSize) });
  if (token) query.set("continuation_token", token);
  // The path may carry its own filters (`calls?status=completed`).
  return `${path}${path.includes("?") ? "&" : "?"}${query}`;
}

/** A list endpoint, first page on mount and whenever `path` changes; `loadMore()` appends the next page. */
export function usePagedList<T>(path: string | null, pageSize = PAGE_SIZE): PagedList<T> {
  const [items, setItems] = useState<T[]>([]);
  const [loadedPath, setLoadedPath] = useState<string | null>(null);
  const [total, setTotal] = useState(0);
  const [token, setToken] = useState<string | null>(null);
  const [error, setError] = useState<unknown>();
  const [loading, setLoading] = useState(path !== null);
  const [generation, setGeneration] = useState(0);
  const controller = useRef<AbortController | null>(null);

  const fetchPage = useCallback(
    (after: string | null) => {
      if (path === null) return;
      controller.current?.abort();
      const current = new AbortController();
      controller.current = current;
      setLoading(true);
      setError(undefined);
      api.get<ListPage<T>>(pageUrl(path, after, pageSize), { signal: current.signal }).then(
        (page) => {
          // An answer for a list the page has since left (the body may finish arriving after an abort).
          if (current.signal.aborted) return;
          setItems((previous) => (after ? [...previous, ...page.results] : page.results));
          setLoadedPath(path);
          setTotal(page.total);
          setToken(page.continuation_token);
          setLoading(false);
        },
        (failure: unknown) => {
          if (current.signal.aborted) return;
          setError(failure);
          setLoading(false);
        },
      );
    },
    [path, pageSize],
  );

  useEffect(() => {
    fetchPage(null);
    return () => controller.current?.abort();
  }, [fetchPage, generation]);

  return {
    items,
    total,
    error,
    loading,
    hasMore: token !== null,
    loaded: path !== null && loadedPath === path,
    loadMore: () => fetchPage(token),
    reload: useCallback(() => setGeneration((g) => g + 1), []),
  };
}

/** Every page of a short list (services), for lookups such as number → service name. */
export async function fetchAll<T>(path: string, signal?: AbortSignal, maxPages = 20): Promise<T[]> {
  const all: T[] = [];
  let token: string | null = null;
  for (let page = 0; page < maxPages; page++) {
    const result: ListPage<T> = await api.get<ListPage<T>>(pageUrl(path, token, PAGE_SIZE), { signal });
    all.push(...result.results);
    token = result.continuation_token;
    if (!token) break;
  }
  return all;
}

/** Keeps `document.title` in step with the page. */
export function useDocumentTitle(...parts: (string | undefined)[]): void {
  const title = [...parts.filter(Boolean), "Switchboard"].join(" · ");
  useEffect(() => {
    document.title = title;
  }, [title]);
}
