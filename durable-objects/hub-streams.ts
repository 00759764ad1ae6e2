/**
 * The WorkspaceHub's open event streams: one native pipe (`IdentityTransformStream`) per subscriber,
 * fed from memory. Each published event is encoded once and queued on every stream that wants its
 * type; a stream has one write in flight at a time (a write settles when the client's side took it),
 * and what arrives meanwhile goes out as one chunk after it. So a slow consumer's backlog stays here,
 * where it is bounded: past `maxBacklog` events its oldest are dropped and one `overflow` event says
 * what was lost. A heartbeat comment goes to idle streams (proxies keep them open), which also bounds
 * how long an abandoned stream is kept: a cancelled pipe fails its next write (an event or the
 * heartbeat), and the subscriber leaves the set.
 */

import { utf8 } from "../shared/encoding";
import {
  controlFrame,
  eventFrame,
  HEARTBEAT_FRAME,
  type OverflowData,
  retryFrame,
} from "../shared/events/sse";
import type { WorkspaceEvent, WorkspaceEventType } from "../shared/events/workspace-events";

/** A heartbeat comment this often on every open stream. */
export const HEARTBEAT_MS = 30_000;
/** Events queued for one stream before its oldest are dropped (a slow consumer). */
export const MAX_BACKLOG = 1000;

export interface StreamTuning {
  heartbeatMs: number;
  maxBacklog: number;
}

interface Pending {
  /** `event` frames count against the backlog; `notice` (retry, overflow) and `heartbeat` do not. */
  kind: "event" | "notice" | "heartbeat";
  /** The event's id (events only). */
  id: number | null;
  frame: string;
}

const notice = (frame: string): Pending => ({ kind: "notice", id: null, frame });

class Subscriber {
  readonly stream: ReadableStream<Uint8Array>;
  readonly #writer: WritableStreamDefaultWriter<ArrayBufferView>;
  #pending: Pending[] = [];
  #events = 0;
  /** One write in flight at a time: what arrives meanwhile waits in `#pending`, where it can be trimmed. */
  #writing = false;
  #endWhenDrained = false;
  #closed = false;
  /** The newest event id handed to the stream for this client. */
  #lastSent: number;
  readonly #onClose: (s: Subscriber) => void;

  constructor(
    readonly types: ReadonlySet<WorkspaceEventType> | null,
    lastId: number,
    onClose: (s: Subscriber) => void,
    /** The signed-in user holding the stream (null: an API key). */
    readonly userId: string | null = null,
  ) {
    this.#lastSent = lastId;
    this.#onClose = onClose;
    // A native pipe: the runtime moves bytes to the client without calling back into JavaScript, and a
    // write settles once the other side took it, which is the backpressure the backlog is measured by.
    const pipe = new IdentityTransformStream();
    this.stream = pipe.readable;
    this.#writer = pipe.writable.getWriter();
    this.#writer.closed.catch(() => this.#gone());
  }

  get closed() {
    return this.#closed;
  }

  /** Events queued and not yet handed to the stream. */
  get backlog() {
    return this.#events;
  }

  wants(type: WorkspaceEventType) {
    return this.types === null || this.types.has(type);
  }

  push(item: Pending, maxBacklog = Number.POSITIVE_INFINITY): void {
    if (this.#closed) return;
    this.#pending.push(item);
    if (item.kind === "event" && ++this.#events > maxBacklog) this.#dropOldest(maxBacklog);
    this.#flush();
  }

  /** Idle streams only: one with frames waiting is not idle. */
  heartbeat(): void {
    if (this.#pending.length === 0 && !this.#writing) {
      this.push({ kind: "heartbeat", id: null, frame: HEARTBEAT_FRAME });
    }
  }

  /** Ends the stream once what is queued has been handed over (replay-only streams). */
  endWhenDrained(): void {
    this.#endWhenDrained = true;
    this.#flush();
  }

  /** Keeps the newest `maxBacklog` events, behind one overflow notice naming the gap. */
  #dropOldest(maxBacklog: number): void {
    const events = this.#pending.filter((p) => p.kind === "event").slice(-maxBacklog);
    const overflow: OverflowData = { oldest_id: events[0]?.id ?? null, requested_id: this.#lastSent };
    // The retry line stays if it has not gone out yet; an earlier overflow notice is replaced by this one.
    const retry = this.#pending.filter((p) => p.kind === "notice" && p.frame.startsWith("retry:"));
    this.#pending = [...retry, notice(controlFrame("overflow", { ...overflow })), ...events];
    this.#events = events.length;
  }

  /** Writes everything queued as one chunk, unless a write is still in flight (then after it). */
  #flush(): void {
    if (this.#closed || this.#writing) return;
    if (this.#pending.length === 0) {
      if (this.#endWhenDrained) {
        this.#closed = true;
        this.#writer.close().catch(() => {});
      }
      return;
    }
    let text = "";
    for (const item of this.#pending) {
      text += item.frame;
      if (item.id !== null) this.#lastSent = item.id;
    }
    this.#pending = [];
    this.#events = 0;
    this.#writing = true;
    this.#writer.write(utf8.encode(text)).then(
      () => {
        this.#writing = false;
        this.#flush();
      },
      () => this.#gone(),
    );
  }

  /** The client went away (the stream was cancelled): nothing more goes to it. */
  #gone(): void {
    this.#closed = true;
    this.#pending = [];
    this.#events = 0;
    this.#onClose(this);
  }
}

/** What a new stream starts with. */
export interface StreamStart {
  /** Events after this id are replayed. */
  lastId: number;
  /** Events to replay, oldest first (already filtered by nothing: the subscriber filters by type). */
  replay: WorkspaceEvent[];
  /** Set when `lastId` is older than the buffer (or newer than anything it holds). */
  overflow: OverflowData | null;
  types: ReadonlySet<WorkspaceEventType> | null;
  /** Replay, then end the stream (clients that poll). */
  replayOnly: boolean;
  /** The signed-in user holding it: a user's open streams are their presence. */
  userId?: string | null;
}

/** Told when a user's first stream opens (`true`) and when their last one closes (`false`). */
export type PresenceListener = (userId: string, present: boolean) => void;

export class HubStreams {
  readonly #subscribers = new Set<Subscriber>();
  /** Open streams per signed-in user. */
  readonly #present = new Map<string, number>();
  readonly #onPresence: PresenceListener;

  constructor(onPresence: PresenceListener = () => {}) {
    this.#onPresence = onPresence;
  }
  #timer: ReturnType<typeof setInterval> | null = null;
  #tuning: StreamTuning = { heartbeatMs: HEARTBEAT_MS, maxBacklog: MAX_BACKLOG };

  get size() {
    return this.#subscribers.size;
  }

  /** For tests and benchmarks: a shorter heartbeat, a smaller backlog (this instance only). */
  tune(tuning: Partial<StreamTuning>): StreamTuning {
    this.#tuning = { ...this.#tuning, ...tuning };
    this.#stopTimer();
    if (this.#subscribers.size > 0) this.#startTimer();
    return this.#tuning;
  }

  /** Opens a stream: the retry line, the overflow notice if any, the replay, then live events. */
  open(start: StreamStart): ReadableStream<Uint8Array> {
    const user = start.replayOnly ? null : (start.userId ?? null);
    const subscriber = new Subscriber(start.types, start.lastId, (s) => this.#remove(s), user);
    subscriber.push(notice(retryFrame()));
    if (start.overflow) subscriber.push(notice(controlFrame("overflow", { ...start.overflow })));
    for (const event of start.replay) {
      if (subscriber.wants(event.type))
        subscriber.push({ kind: "event", id: event.id, frame: eventFrame(event) });
    }
    if (start.replayOnly) {
      subscriber.endWhenDrained();
      return subscriber.stream;
    }
    this.#subscribers.add(subscriber);
    if (user) {
      const open = (this.#present.get(user) ?? 0) + 1;
      this.#present.set(user, open);
      if (open === 1) this.#onPresence(user, true);
    }
    if (this.#timer === null) this.#startTimer();
    return subscriber.stream;
  }

  /** Queues `event` on every stream that wants it (encoded once). */
  broadcast(event: WorkspaceEvent): void {
    if (this.#subscribers.size === 0) return;
    const item: Pending = { kind: "event", id: event.id, frame: eventFrame(event) };
    for (const subscriber of this.#subscribers) {
      if (subscriber.closed) this.#remove(subscriber);
      else if (subscriber.wants(event.type)) subscriber.push(item, this.#tuning.maxBacklog);
    }
  }

  /** The largest backlog among open streams (for `describe()`). */
  maxBacklog(): number {
    let max = 0;
    for (const s of this.#subscribers) max = Math.max(max, s.backlog);
    return max;
  }

  #remove(subscriber: Subscriber): void {
    if (!this.#subscribers.delete(subscriber)) return;
    const user = subscriber.userId;
    if (user) {
      const open = (this.#present.get(user) ?? 1) - 1;
      if (open > 0) this.#present.set(user, open);
      else {
        this.#present.delete(user);
        this.#onPresence(user, false);
      }
    }
    if (this.#subscribers.size === 0) this.#stopTimer();
  }

  #startTimer(): void {
    this.#timer = setInterval(() => {
      for (const subscriber of this.#subscribers) {
        if (subscriber.closed) this.#remove(subscriber);
        else subscriber.heartbeat();
      }
    }, this.#tuning.heartbeatMs);
  }

  #stopTimer(): void {
    if (this.#timer !== null) clearInterval(this.#timer);
    this.#timer = null;
  }
}
