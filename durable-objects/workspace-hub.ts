/**
 * `WorkspaceHub`: one object per one workspace: the active-call priority queue and the live event fan-out to dashboards.
 * Declared with SQLite storage; its behaviour arrives with the issue that owns it (see ARCHITECTURE.md).
 */
import { DurableObject } from "cloudflare:workers";
import { migrate } from "./sql-migrations";

const SCHEMA: readonly string[] = ["CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)"];

export class WorkspaceHub extends DurableObject<Env> {
  readonly #schemaVersion: number;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.#schemaVersion = migrate(ctx.storage.sql, SCHEMA);
  }

  /** Liveness and storage schema version, for health checks. */
  async describe(): Promise<{ kind: "WorkspaceHub"; schemaVersion: number }> {
    return { kind: "WorkspaceHub", schemaVersion: this.#schemaVersion };
  }
}
