/**
 * The workspace's live event stream (`GET /v1/{ws}/events/stream`, Server-Sent Events) through the
 * browser's own EventSource: same origin, so the session cookie authenticates it. EventSource
 * reconnects by itself after a blip and sends `Last-Event-ID`, so the hub replays what was missed; this
 * hook only reports the connection's state and hands each event to `onEvent` (and opens a new stream,
 * backing off, when the server refused one: the browser gives up on those). An `overflow` event (the
 * replay buffer no longer reaches back far enough) and the hub's own `error` event ask the page to
 * refetch what it shows.
 */
import { useEffect, useRef, useState } from "preact/hooks";
import { workspacePath } from "../../api";
import type { WorkspaceEvent, WorkspaceEventType } from "../../types";

/** The events the Operators page reacts to (typed against the workspace's event union). */
export const OPERATOR_PAGE_EVENTS = [
  "call.started",
  "call.updated",
  "call.escalated",
  "call.ended",
  "operator.joined",
  "operator.left",
  "operator.guidance",
  "operator.takeover",
  "operator.handback",
  "operator.transfer",
  "operator.wrapup",
  "operator.status",
  "alert",
] as const satisfies readonly WorkspaceEventType[];

/** After a refusal: 2 s, 4 s, 8 s … at most 30 s before opening a new stream. */
const FIRST_RETRY_MS = 2_000;
const MAX_RETRY_MS = 30_000;

export type StreamState =
  /** Opening for the first time. */
  | "connecting"
  | "live"
  /** Lost; the browser is reconnecting (with Last-Event-ID). */
  | "reconnecting"
  /** The server refused the stream: EventSource does not retry those; this hook does, later. */
  | "closed";

export interface StreamHandlers {
  onEvent(event: WorkspaceEvent): void;
  /** Events were lost (overflow, hub error) or the stream (re)opened: what the page shows may be stale. */
  onStale(reason: "open" | "overflow" | "error"): void;
}

export interface EventStream {
  state: StreamState;
  /** Opens a fresh stream now, after the server refused one (`closed`). */
  retry(): void;
}

function parseEvent(data: string): WorkspaceEvent | null {
  try {
    const parsed = JSON.parse(data) as Partial<WorkspaceEvent>;
    if (typeof parsed.type !== "string" || typeof parsed.id !== "number") return null;
    return { id: parsed.id, type: parsed.type, at: String(parsed.at ?? ""), data: parsed.data ?? {} };
  } catch {
    return null;
  }
}

export function useEventStream(workspaceId: string, handlers: StreamHandlers): EventStream {
  const [state, setState] = useState<StreamState>("connecting");
  const [generation, setGeneration] = useState(0);
  // The latest handlers, so a re-render does not reopen the stream.
  const current = useRef(handlers);
  current.current = handlers;

  // Refusals in a row (the browser does not retry those itself): the next attempt waits longer.
  const refusals = useRef(0);
  const lastSeen = useRef<{ workspaceId: string; id: number } | null>(null);

  useEffect(() => {
    let timer: number | null = null;
    // Only what the page reacts to; a reconnect asks for the same types after its Last-Event-ID.
    const params = new URLSearchParams({ types: OPERATOR_PAGE_EVENTS.join(",") });
    // A new stream after a refusal resumes where the last one stopped (the browser's own reconnects
    // send Last-Event-ID, which takes precedence).
    if (lastSeen.current?.workspaceId === workspaceId)
      params.set("last_event_id", String(lastSeen.current.id));
    const source = new EventSource(`${workspacePath(workspaceId, "events", "stream")}?${params}`);
    setState("connecting");
    const onMessage = (message: MessageEvent<string>) => {
      const event = parseEvent(message.data);
      if (!event) return;
      lastSeen.current = { workspaceId, id: event.id };
      current.current.onEvent(event);
    };
    for (const type of OPERATOR_PAGE_EVENTS) source.addEventListener(type, onMessage);
    source.addEventListener("open", () => {
      refusals.current = 0;
      setState("live");
      current.current.onStale("open");
    });
    source.addEventListener("overflow", () => current.current.onStale("overflow"));
    source.addEventListener("error", (event) => {
      // The hub's own `event: error` arrives as a MessageEvent with data; a lost connection is a plain Event.
      if (event instanceof MessageEvent) {
        current.current.onStale("error");
        return;
      }
      if (source.readyState !== EventSource.CLOSED) {
        setState("reconnecting");
        return;
      }
      // Refused (the hub unavailable, a proxy's error page): try again later, backing off to 30 s.
      setState("closed");
      const delay = Math.min(MAX_RETRY_MS, FIRST_RETRY_MS * 2 ** refusals.current);
      refusals.current += 1;
      timer = window.setTimeout(() => setGeneration((g) => g + 1), delay);
    });
    return () => {
      if (timer !== null) window.clearTimeout(timer);
      source.close();
    };
  }, [workspaceId, generation]);

  return { state, retry: () => setGeneration((g) => g + 1) };
}
