/**
 * `CallSession`: one object per one live call (id = call id): turns, context-graph state, risk timeline, operator participants.
 * Declared with SQLite storage; its behaviour arrives with the issue that owns it (see ARCHITECTURE.md).
 */
import { DurableObject } from "cloudflare:workers";
import { migrate } from "./sql-migrations";

const SCHEMA: readonly string[] = ["CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)"];

export class CallSession extends DurableObject<Env> {
  readonly #schemaVersion: number;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.#schemaVersion = migrate(ctx.storage.sql, SCHEMA);
  }

  /** Liveness and storage schema version, for health checks. */
  async describe(): Promise<{ kind: "CallSession"; schemaVersion: number }> {
    return { kind: "CallSession", schemaVersion: this.#schemaVersion };
  }
}
