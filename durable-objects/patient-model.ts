/**
 * `PatientModel`: one object per patient entity. It keeps the patient's events (a copy of D1's, which
 * stay the system of record) in its SQLite storage and serves the projection of them, computed by the
 * same pure `project()` the tests prove deterministic. A cold object checks its copy against D1 and
 * rebuilds from D1 when they differ, so an eviction, a lost write or a fresh object loses nothing.
 */
import { DurableObject } from "cloudflare:workers";
import type { Fact } from "../shared/world/events";
import { type IdentitySummary, identityOf } from "../shared/world/identity";
import { type EntityState, type ProjectableEvent, project } from "../shared/world/projection";
import { database } from "../workers/db/client";
import { countEntityEvents, listEntityEvents } from "../workers/db/world";
import { toProjectable } from "../workers/world/codec";
import { migrate } from "./sql-migrations";

const SCHEMA: readonly string[] = [
  "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
  `CREATE TABLE events (
     id TEXT PRIMARY KEY, event_type TEXT NOT NULL, facts TEXT NOT NULL, confidence REAL NOT NULL,
     source TEXT NOT NULL, effective_at TEXT NOT NULL, supersedes TEXT)`,
];

export interface EntityRef {
  workspaceId: string;
  entityId: string;
}

interface EventRecord {
  id: string;
  event_type: string;
  facts: string;
  confidence: number;
  source: string;
  effective_at: string;
  supersedes: string | null;
  [key: string]: SqlStorageValue;
}

/**
 * The object's RPC surface. Callers use this rather than the inferred stub type, which TypeScript cannot
 * compute for the recursive fact values.
 */
export interface PatientModelRpc {
  apply(ref: EntityRef, events: ProjectableEvent[]): Promise<IdentitySummary>;
  state(ref: EntityRef): Promise<EntityState>;
  rebuild(ref: EntityRef): Promise<EntityState>;
  describe(): Promise<{ kind: "PatientModel"; events: number }>;
}

export class PatientModel extends DurableObject<Env> implements PatientModelRpc {
  readonly #sql: SqlStorage;
  #state: EntityState | null = null;
  #verified = false;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.#sql = ctx.storage.sql;
    migrate(this.#sql, SCHEMA);
  }

  /** Stores new events (ignoring ones already held) and returns the updated identity. */
  async apply(ref: EntityRef, events: ProjectableEvent[]): Promise<IdentitySummary> {
    this.#bind(ref);
    // Store first: the events are already in D1, so checking before storing would always find the copy
    // behind and reload everything a new patient was just handed.
    this.#store(events);
    this.#state = null;
    await this.#ensureCurrent(ref);
    return identityOf(this.#project());
  }

  async state(ref: EntityRef): Promise<EntityState> {
    this.#bind(ref);
    await this.#ensureCurrent(ref);
    return this.#project();
  }

  /** Throws the local copy away and reloads every event from D1. */
  async rebuild(ref: EntityRef): Promise<EntityState> {
    this.#bind(ref);
    await this.#reloadFromD1(ref);
    return this.#project();
  }

  async describe(): Promise<{ kind: "PatientModel"; events: number }> {
    const row = this.#sql.exec<{ n: number }>("SELECT count(*) AS n FROM events").one();
    return { kind: "PatientModel", events: row.n };
  }

  /** One object serves one entity: the first reference is recorded and every later one must match. */
  #bind(ref: EntityRef): void {
    const key = `${ref.workspaceId}/${ref.entityId}`;
    const bound = this.#sql
      .exec<{ value: string }>("SELECT value FROM meta WHERE key = 'entity'")
      .toArray()[0];
    if (!bound) this.#sql.exec("INSERT INTO meta (key, value) VALUES ('entity', ?)", key);
    else if (bound.value !== key) throw new Error("PatientModel addressed with another entity's reference");
  }

  async #ensureCurrent(ref: EntityRef): Promise<void> {
    if (this.#verified) return;
    const local = this.#sql.exec<{ n: number }>("SELECT count(*) AS n FROM events").one().n;
    const remote = await countEntityEvents(database(this.env.DB), ref.workspaceId, ref.entityId);
    if (local !== remote) await this.#reloadFromD1(ref);
    this.#verified = true;
  }

  async #reloadFromD1(ref: EntityRef): Promise<void> {
    const rows = await listEntityEvents(database(this.env.DB), ref.workspaceId, ref.entityId);
    const events = await Promise.all(rows.map((row) => toProjectable(this.env, row)));
    this.ctx.storage.transactionSync(() => {
      this.#sql.exec("DELETE FROM events");
      this.#store(events);
    });
    this.#state = project(events);
  }

  #store(events: ProjectableEvent[]): void {
    for (const e of events) {
      this.#sql.exec(
        "INSERT OR IGNORE INTO events (id, event_type, facts, confidence, source, effective_at, supersedes) VALUES (?, ?, ?, ?, ?, ?, ?)",
        e.id,
        e.eventType,
        JSON.stringify(e.facts),
        e.confidence,
        e.source,
        e.effectiveAt,
        e.supersedes,
      );
    }
  }

  #project(): EntityState {
    if (!this.#state) {
      const rows = this.#sql.exec<EventRecord>("SELECT * FROM events").toArray();
      this.#state = project(
        rows.map((r) => ({
          id: r.id,
          eventType: r.event_type as ProjectableEvent["eventType"],
          facts: JSON.parse(r.facts) as Fact[],
          confidence: r.confidence,
          source: r.source,
          effectiveAt: r.effective_at,
          supersedes: r.supersedes,
        })),
      );
    }
    return this.#state;
  }
}
