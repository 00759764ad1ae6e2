/**
 * The event stream's wire format: Server-Sent Events as the WHATWG HTML standard defines them
 * (`text/event-stream`, UTF-8, fields `id`/`event`/`data`/`retry`, a line starting with `:` is a
 * comment, a blank line dispatches). Our data is one line of JSON: JSON escapes CR and LF, so a
 * payload can never end a field or an event early.
 */
import type { WorkspaceEvent } from "./workspace-events";

export const EVENT_STREAM_TYPE = "text/event-stream";

/** How long a client waits before reconnecting (the `retry` field, first line of every stream). */
export const RECONNECT_MS = 3000;

/** Sent as the stream's first line: how long to wait before reconnecting. */
export const retryFrame = (ms = RECONNECT_MS) => `retry: ${ms}\n\n`;

/** A comment line: ignored by clients, keeps proxies and idle timeouts from closing the stream. */
export const HEARTBEAT_FRAME = ": heartbeat\n\n";

/** One workspace event: its id (what `Last-Event-ID` sends back), its type, and the whole event as data. */
export function eventFrame(event: WorkspaceEvent): string {
  const payload = { id: event.id, type: event.type, at: event.at, data: event.data };
  return `id: ${event.id}\nevent: ${event.type}\ndata: ${JSON.stringify(payload)}\n\n`;
}

/**
 * What the stream says about itself (no `id`, so the client's last event id stays on the last real
 * event): `overflow` when events were lost to it, `error` when the stream cannot be served.
 */
export type ControlEventType = "overflow" | "error";

export function controlFrame(type: ControlEventType, data: Record<string, unknown>): string {
  return `event: ${type}\ndata: ${JSON.stringify(data)}\n\n`;
}

/** What an `overflow` event carries: events after `requested_id` and before `oldest_id` were lost. */
export interface OverflowData {
  /** The first event the stream still has and sends next (null when it has none). */
  oldest_id: number | null;
  /** The last event the client had: `Last-Event-ID` on replay, the last one sent for a slow consumer. */
  requested_id: number;
}
