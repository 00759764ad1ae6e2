/**
 * `WorkspaceHub`: one object per workspace. Today it keeps the workspace's recent events in a bounded,
 * persistent ring buffer with monotonic ids (what a reconnecting stream replays from); the live call
 * queue and the fan-out to dashboards build on it.
 */
import { DurableObject } from "cloudflare:workers";
import {
  WorkspaceEventInput as EventSchema,
  type WorkspaceEvent,
  type WorkspaceEventInput,
} from "../shared/events/workspace-events";
import { migrate } from "./sql-migrations";

const SCHEMA: readonly string[] = [
  "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
  "CREATE TABLE events (id INTEGER PRIMARY KEY AUTOINCREMENT, type TEXT NOT NULL, data TEXT NOT NULL, at TEXT NOT NULL)",
];

/** The buffer keeps at least this long of history, and at most this many events. */
export const REPLAY_WINDOW_MS = 10 * 60_000;
export const REPLAY_MAX_EVENTS = 5000;

interface EventRecord {
  id: number;
  type: string;
  data: string;
  at: string;
  [key: string]: SqlStorageValue;
}

export class WorkspaceHub extends DurableObject<Env> {
  readonly #sql: SqlStorage;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.#sql = ctx.storage.sql;
    migrate(this.#sql, SCHEMA);
  }

  /** Appends an event (persisted before anyone is told) and returns it with its id. */
  async publish(input: WorkspaceEventInput): Promise<WorkspaceEvent> {
    const event = EventSchema.parse(input);
    const at = new Date().toISOString();
    const row = this.#sql
      .exec<{ id: number }>(
        "INSERT INTO events (type, data, at) VALUES (?, ?, ?) RETURNING id",
        event.type,
        JSON.stringify(event.data),
        at,
      )
      .one();
    this.#trim();
    return { id: row.id, type: event.type, data: event.data, at };
  }

  /**
   * Events after `lastId`, oldest first. `complete` is false when some were already dropped from the
   * buffer, so the client knows to refetch state instead of trusting the replay.
   */
  async since(lastId: number, limit = 1000): Promise<{ events: WorkspaceEvent[]; complete: boolean }> {
    const oldest = this.#sql.exec<{ id: number | null }>("SELECT min(id) AS id FROM events").one().id;
    const rows = this.#sql
      .exec<EventRecord>("SELECT * FROM events WHERE id > ? ORDER BY id LIMIT ?", lastId, limit)
      .toArray();
    return {
      events: rows.map((r) => ({
        id: r.id,
        type: r.type as WorkspaceEvent["type"],
        data: JSON.parse(r.data),
        at: r.at,
      })),
      complete: oldest === null || lastId >= oldest - 1,
    };
  }

  async describe(): Promise<{ kind: "WorkspaceHub"; buffered: number }> {
    return {
      kind: "WorkspaceHub",
      buffered: this.#sql.exec<{ n: number }>("SELECT count(*) AS n FROM events").one().n,
    };
  }

  #trim(): void {
    const cutoff = new Date(Date.now() - REPLAY_WINDOW_MS).toISOString();
    this.#sql.exec(
      "DELETE FROM events WHERE id <= (SELECT max(id) FROM events) - ? AND at < ?",
      REPLAY_MAX_EVENTS,
      cutoff,
    );
  }
}
