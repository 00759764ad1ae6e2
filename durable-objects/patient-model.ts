/**
 * `PatientModel`: one object per one patient entity: the event-sourced projection of what is known about them.
 * Declared with SQLite storage; its behaviour arrives with the issue that owns it (see ARCHITECTURE.md).
 */
import { DurableObject } from "cloudflare:workers";
import { migrate } from "./sql-migrations";

const SCHEMA: readonly string[] = ["CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)"];

export class PatientModel extends DurableObject<Env> {
  readonly #schemaVersion: number;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.#schemaVersion = migrate(ctx.storage.sql, SCHEMA);
  }

  /** Liveness and storage schema version, for health checks. */
  async describe(): Promise<{ kind: "PatientModel"; schemaVersion: number }> {
    return { kind: "PatientModel", schemaVersion: this.#schemaVersion };
  }
}
