/**
 * `WorkspaceHub`: one object per workspace. It keeps
 * - the workspace's recent events in a bounded, persistent ring buffer with monotonic ids (what a
 *   reconnecting stream replays from: at least REPLAY_WINDOW_MS, at most REPLAY_MAX_EVENTS);
 * - the active-call set, moved by the events it publishes (shared/operators/active-calls.ts), each call's
 *   overlay and its verified caller's name (which only the queue shows, and only here) in SQLite, so the
 *   queue survives eviction; the queue's urgency is computed when read, since waiting time moves;
 * - the open event streams (durable-objects/hub-streams.ts), in memory: `fetch()` serves
 *   `GET https://workspace-hub/stream` as Server-Sent Events;
 * - the stream tickets already used, until they expire.
 * Its alarm sweeps calls nobody has updated for STALE_CALL_MS (a session that died without `call.ended`).
 */
import { DurableObject } from "cloudflare:workers";
import { EVENT_STREAM_TYPE, type OverflowData } from "../shared/events/sse";
import {
  WorkspaceEventInput as EventSchema,
  WORKSPACE_EVENT_TYPES,
  type WorkspaceEvent,
  type WorkspaceEventInput,
  type WorkspaceEventType,
} from "../shared/events/workspace-events";
import { callIdOf, overlayAfter } from "../shared/operators/active-calls";
import { compareQueueEntries, urgency } from "../shared/operators/urgency";
import { type CallOverlay, CallOverlaySchema, type QueueEntry } from "../shared/schemas/operators";
import { appendAudit } from "../workers/db/audit";
import { database } from "../workers/db/client";
import { findOperator, setOperatorStatus } from "../workers/db/operators";
import { HubStreams, type StreamTuning } from "./hub-streams";
import { migrate } from "./sql-migrations";

const SCHEMA: readonly string[] = [
  "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
  "CREATE TABLE events (id INTEGER PRIMARY KEY AUTOINCREMENT, type TEXT NOT NULL, data TEXT NOT NULL, at TEXT NOT NULL)",
  // One row per call the hub has heard of; `ended_at` set once it ended (kept a while, so a second
  // `call.ended` is recognised). `touched_at`: when the hub last heard of it (ms), for the stale sweep.
  "CREATE TABLE calls (call_id TEXT PRIMARY KEY, overlay TEXT NOT NULL, caller_name TEXT, touched_at INTEGER NOT NULL, ended_at INTEGER)",
  "CREATE TABLE used_tickets (jti TEXT PRIMARY KEY, expires_at INTEGER NOT NULL)",
  // Signed-in users whose last event stream closed, since when (ms): an operator gone this long is offline.
  "CREATE TABLE absent (user_id TEXT PRIMARY KEY, since INTEGER NOT NULL)",
];

/** The buffer keeps at least this long of history, and at most this many events. */
export const REPLAY_WINDOW_MS = 10 * 60_000;
export const REPLAY_MAX_EVENTS = 5000;
/** A live call nobody has updated for this long is dropped from the queue (its session is gone). */
export const STALE_CALL_MS = 35 * 60_000;
/** How long an ended call is remembered (a late second `call.ended` is not broadcast again). */
export const ENDED_CALL_MEMORY_MS = 60 * 60_000;
/** How often the alarm sweeps while there is anything to sweep. */
export const SWEEP_INTERVAL_MS = 5 * 60_000;

/**
 * An operator who is online (or busy) and whose last event stream (the Operators page) closed this long ago
 * is set offline, so escalations stop waiting for someone who left. Longer than a network blip; a closed
 * stream is noticed at its next write (the 30 s heartbeat at the latest).
 */
export const PRESENCE_GRACE_MS = 60_000;

/** What only the hub is told, beside an event: the verified caller's display name (PHI, never in events). */
export interface PublishExtra {
  caller_name?: string | null;
}

export interface QueueSnapshot {
  results: QueueEntry[];
  last_event_id: number;
  generated_at: string;
}

interface EventRecord {
  id: number;
  type: string;
  data: string;
  at: string;
  [key: string]: SqlStorageValue;
}

interface CallRecord {
  call_id: string;
  overlay: string;
  caller_name: string | null;
  touched_at: number;
  ended_at: number | null;
  [key: string]: SqlStorageValue;
}

const errorName = (err: unknown) => (err instanceof Error ? err.name : "Error");

const toEvent = (r: EventRecord): WorkspaceEvent => ({
  id: r.id,
  type: r.type as WorkspaceEventType,
  data: JSON.parse(r.data),
  at: r.at,
});

export class WorkspaceHub extends DurableObject<Env> {
  readonly #sql: SqlStorage;
  readonly #streams = new HubStreams((userId, present) => this.#presence(userId, present));
  #presenceGraceMs = PRESENCE_GRACE_MS;
  /** Whether an alarm is known to be set (checked in storage once per instance). */
  #alarmKnown = false;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.#sql = ctx.storage.sql;
    migrate(this.#sql, SCHEMA);
  }

  /**
   * Appends an event (persisted before anyone is told), moves the active-call set, and sends it to
   * every open stream. A second `call.ended` for a call is not recorded again: null.
   */
  async publish(input: WorkspaceEventInput, extra: PublishExtra = {}): Promise<WorkspaceEvent | null> {
    const parsed = EventSchema.parse(input);
    const callId = callIdOf(parsed.data);
    const call = callId ? this.#call(callId) : null;
    if (parsed.type === "call.ended" && call?.ended_at != null) return null;
    const at = new Date().toISOString();
    const row = this.#sql
      .exec<{ id: number }>(
        "INSERT INTO events (type, data, at) VALUES (?, ?, ?) RETURNING id",
        parsed.type,
        JSON.stringify(parsed.data),
        at,
      )
      .one();
    const event: WorkspaceEvent = { id: row.id, type: parsed.type, data: parsed.data, at };
    if (callId) this.#track(callId, call, event, extra);
    this.#trim();
    this.#streams.broadcast(event);
    await this.#ensureAlarm();
    return event;
  }

  /**
   * Events after `lastId`, oldest first. `complete` is false when some were already dropped from the
   * buffer, so the client knows to refetch state instead of trusting the replay.
   */
  async since(lastId: number, limit = 1000): Promise<{ events: WorkspaceEvent[]; complete: boolean }> {
    const rows = this.#sql
      .exec<EventRecord>("SELECT * FROM events WHERE id > ? ORDER BY id LIMIT ?", lastId, limit)
      .toArray();
    return { events: rows.map(toEvent), complete: this.#gap(lastId) === null };
  }

  /**
   * The live calls, most urgent first (urgency computed now: waiting time moves). Not named `queue`:
   * that name is the runtime's Queue consumer handler, which RPC does not reach.
   */
  async liveQueue(): Promise<QueueSnapshot> {
    const now = Date.now();
    const rows = this.#sql.exec<CallRecord>("SELECT * FROM calls WHERE ended_at IS NULL").toArray();
    const results = rows.map((r): QueueEntry => {
      const overlay = CallOverlaySchema.parse(JSON.parse(r.overlay));
      const u = urgency(overlay, now);
      return {
        ...overlay,
        caller_name: r.caller_name,
        urgency: u.score,
        priority_reasons: u.reasons,
        wait_ms: Math.round(u.wait_ms),
      };
    });
    results.sort(compareQueueEntries);
    return { results, last_event_id: this.#newestId() ?? 0, generated_at: new Date(now).toISOString() };
  }

  /**
   * Records a stream ticket's `jti` as used. False when it already was (a ticket opens one stream).
   * Rows are kept until the ticket would have expired anyway.
   */
  async redeemTicket(jti: string, expiresAt: number): Promise<boolean> {
    const now = Date.now();
    this.#sql.exec("DELETE FROM used_tickets WHERE expires_at < ?", now);
    const inserted = this.#sql
      .exec(
        "INSERT INTO used_tickets (jti, expires_at) VALUES (?, ?) ON CONFLICT DO NOTHING RETURNING jti",
        jti,
        expiresAt,
      )
      .toArray();
    await this.#ensureAlarm();
    return inserted.length === 1;
  }

  /** Server-Sent Events: `GET https://workspace-hub/stream?last_event_id=&types=&replay_only=` (the Worker checked who asks). */
  override async fetch(request: Request): Promise<Response> {
    const url = new URL(request.url);
    if (request.method !== "GET" || url.pathname !== "/stream") return new Response(null, { status: 404 });
    const lastParam = url.searchParams.get("last_event_id");
    const requested = lastParam === null ? null : Number(lastParam);
    if (requested !== null && !(Number.isSafeInteger(requested) && requested >= 0)) {
      return new Response(null, { status: 400 });
    }
    const typesParam = url.searchParams.get("types");
    const types = typesParam
      ? new Set(
          typesParam
            .split(",")
            .filter((t): t is WorkspaceEventType => (WORKSPACE_EVENT_TYPES as readonly string[]).includes(t)),
        )
      : null;
    // Without a last id the stream starts now; with one, it replays everything after it.
    const lastId = requested ?? this.#newestId() ?? 0;
    const replay =
      requested === null
        ? []
        : this.#sql
            .exec<EventRecord>("SELECT * FROM events WHERE id > ? ORDER BY id", requested)
            .toArray()
            .map(toEvent);
    const workspaceId = url.searchParams.get("workspace");
    if (workspaceId)
      this.#sql.exec("INSERT OR IGNORE INTO meta (key, value) VALUES ('workspace_id', ?)", workspaceId);
    const body = this.#streams.open({
      lastId,
      replay,
      overflow: requested === null ? null : this.#gap(requested),
      types,
      replayOnly: url.searchParams.get("replay_only") === "true",
      userId: url.searchParams.get("user"),
    });
    return new Response(body, {
      headers: { "Content-Type": EVENT_STREAM_TYPE, "Cache-Control": "no-store" },
    });
  }

  /** For tests and benchmarks: a shorter heartbeat or a smaller slow-consumer backlog, for this instance. */
  async tuneStreams(tuning: Partial<StreamTuning>): Promise<StreamTuning> {
    return this.#streams.tune(tuning);
  }

  /** For tests: how long a user's streams may stay closed before an online operator is set offline. */
  async tunePresence(graceMs: number): Promise<void> {
    this.#presenceGraceMs = graceMs;
  }

  /** A user's first stream opened (they are here), or their last one closed (note since when). */
  #presence(userId: string, present: boolean): void {
    if (present) {
      this.#sql.exec("DELETE FROM absent WHERE user_id = ?", userId);
      return;
    }
    const at = Date.now();
    this.#sql.exec("INSERT OR REPLACE INTO absent (user_id, since) VALUES (?, ?)", userId, at);
    this.ctx.waitUntil(this.#alarmBy(at + this.#presenceGraceMs));
  }

  /**
   * Operators whose streams have all been closed for the grace period: online or busy → offline, with an
   * audit row (by the system) and an `operator.status` event. Anyone who came back, or was not an operator
   * on duty, is just forgotten.
   */
  async #sweepAbsent(now: number): Promise<void> {
    const gone = this.#sql
      .exec<{ user_id: string }>("SELECT user_id FROM absent WHERE since <= ?", now - this.#presenceGraceMs)
      .toArray();
    const workspaceId = this.#sql
      .exec<{ value: string }>("SELECT value FROM meta WHERE key = 'workspace_id'")
      .toArray()[0]?.value;
    for (const { user_id } of gone) {
      this.#sql.exec("DELETE FROM absent WHERE user_id = ?", user_id);
      if (!workspaceId) continue;
      const db = database(this.env.DB);
      const operator = await findOperator(db, workspaceId, user_id);
      if (!operator || operator.status === "offline") continue;
      await appendAudit(
        db,
        {
          workspaceId,
          actorType: "system",
          actorId: null,
          action: "operator.status_set",
          targetType: "operator",
          targetId: user_id,
          details: { from: operator.status, to: "offline", reason: "disconnected" },
        },
        [setOperatorStatus(db, workspaceId, user_id, "offline")],
      );
      await this.publish({
        type: "operator.status",
        data: { operator_user_id: user_id, status: "offline", reason: "disconnected" },
      });
    }
  }

  /** Makes sure the alarm rings by `at` (an earlier one stands). */
  async #alarmBy(at: number): Promise<void> {
    const current = await this.ctx.storage.getAlarm();
    if (current === null || current > at) await this.ctx.storage.setAlarm(at);
    this.#alarmKnown = true;
  }

  async describe(): Promise<{
    kind: "WorkspaceHub";
    buffered: number;
    active_calls: number;
    streams: number;
  }> {
    return {
      kind: "WorkspaceHub",
      buffered: this.#sql.exec<{ n: number }>("SELECT count(*) AS n FROM events").one().n,
      active_calls: this.#sql
        .exec<{ n: number }>("SELECT count(*) AS n FROM calls WHERE ended_at IS NULL")
        .one().n,
      streams: this.#streams.size,
    };
  }

  /** Drops stale calls (announcing `call.ended` with reason `stale`), forgets old ended calls and tickets. */
  override async alarm(): Promise<void> {
    this.#alarmKnown = false;
    const now = Date.now();
    const stale = this.#sql
      .exec<{ call_id: string }>(
        "SELECT call_id FROM calls WHERE ended_at IS NULL AND touched_at < ?",
        now - STALE_CALL_MS,
      )
      .toArray();
    for (const { call_id } of stale) {
      await this.publish({ type: "call.ended", data: { call_id, reason: "stale" } });
    }
    this.#sql.exec(
      "DELETE FROM calls WHERE ended_at IS NOT NULL AND ended_at < ?",
      now - ENDED_CALL_MEMORY_MS,
    );
    this.#sql.exec("DELETE FROM used_tickets WHERE expires_at < ?", now);
    try {
      await this.#sweepAbsent(now);
    } catch (err) {
      // D1 unreachable: the rows stay, the next alarm tries again.
      console.error(
        JSON.stringify({ level: "error", event: "hub.presence_sweep_failed", error: errorName(err) }),
      );
    }
    await this.#ensureAlarm();
    const absent = this.#sql
      .exec<{ since: number | null }>("SELECT min(since) AS since FROM absent")
      .one().since;
    if (absent !== null) await this.#alarmBy(Math.max(now + 1000, absent + this.#presenceGraceMs));
  }

  #call(callId: string): CallRecord | null {
    return this.#sql.exec<CallRecord>("SELECT * FROM calls WHERE call_id = ?", callId).toArray()[0] ?? null;
  }

  /** Moves the active-call set for an event about `callId` (events about an ended call change nothing). */
  #track(callId: string, call: CallRecord | null, event: WorkspaceEvent, extra: PublishExtra): void {
    const now = Date.now();
    if (call?.ended_at != null) return;
    if (event.type === "call.ended") {
      // The name goes with the call: nothing identifying is kept once it is over.
      this.#sql.exec(
        `INSERT INTO calls (call_id, overlay, caller_name, touched_at, ended_at) VALUES (?, ?, NULL, ?, ?)
         ON CONFLICT (call_id) DO UPDATE SET caller_name = NULL, touched_at = excluded.touched_at, ended_at = excluded.ended_at`,
        callId,
        call?.overlay ?? "{}",
        now,
        now,
      );
      return;
    }
    const current = call ? CallOverlaySchema.safeParse(JSON.parse(call.overlay)) : null;
    const overlay: CallOverlay = overlayAfter(current?.success ? current.data : null, event, callId);
    const name = extra.caller_name === undefined ? (call?.caller_name ?? null) : extra.caller_name;
    this.#sql.exec(
      `INSERT INTO calls (call_id, overlay, caller_name, touched_at, ended_at) VALUES (?, ?, ?, ?, NULL)
       ON CONFLICT (call_id) DO UPDATE SET overlay = excluded.overlay, caller_name = excluded.caller_name, touched_at = excluded.touched_at`,
      callId,
      JSON.stringify(overlay),
      typeof name === "string" ? name.slice(0, 200) : null,
      now,
    );
  }

  #newestId(): number | null {
    return this.#sql.exec<{ id: number | null }>("SELECT max(id) AS id FROM events").one().id;
  }

  /** What a replay from `lastId` misses: null when the buffer still holds everything after it. */
  #gap(lastId: number): OverflowData | null {
    const { oldest, newest } = this.#sql
      .exec<{ oldest: number | null; newest: number | null }>(
        "SELECT min(id) AS oldest, max(id) AS newest FROM events",
      )
      .one();
    if (oldest === null || newest === null)
      return lastId > 0 ? { oldest_id: null, requested_id: lastId } : null;
    // Older than the buffer, or newer than anything it holds (the client's id is not from this buffer).
    if (lastId < oldest - 1 || lastId > newest) return { oldest_id: oldest, requested_id: lastId };
    return null;
  }

  #trim(): void {
    const cutoff = new Date(Date.now() - REPLAY_WINDOW_MS).toISOString();
    this.#sql.exec(
      "DELETE FROM events WHERE id <= (SELECT max(id) FROM events) - ? AND at < ?",
      REPLAY_MAX_EVENTS,
      cutoff,
    );
  }

  async #ensureAlarm(): Promise<void> {
    if (this.#alarmKnown) return;
    const pending = this.#sql
      .exec<{ n: number }>("SELECT (SELECT count(*) FROM calls) + (SELECT count(*) FROM used_tickets) AS n")
      .one().n;
    if (pending === 0) return;
    if ((await this.ctx.storage.getAlarm()) === null) {
      await this.ctx.storage.setAlarm(Date.now() + SWEEP_INTERVAL_MS);
    }
    this.#alarmKnown = true;
  }
}
