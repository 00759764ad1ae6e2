/** Reading D1 directly: the state a failed request must leave untouched, and the audit chain. */
import { env } from "cloudflare:workers";
import { asc, eq } from "drizzle-orm";
import { sha256Hex } from "../../shared/encoding";
import { database } from "../../workers/db/client";
import { auditLog } from "../../workers/db/schema";

export const db = () => database(env.DB);

/** Every table the migrations made: a new table is covered without anyone listing it here. */
export async function tableNames(): Promise<string[]> {
  const { results } = await env.DB.prepare(
    "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND name NOT LIKE '_cf_%' AND name != 'd1_migrations' ORDER BY name",
  ).all<{ name: string }>();
  return results.map((r) => r.name);
}

/** Columns a read may change on its own: an API key's `last_used_at` is refreshed in the background. */
const VOLATILE_COLUMNS: Record<string, string[]> = { api_keys: ["last_used_at"] };

export type DatabaseState = Record<string, { rows: number; digest: string }>;

/** Row count and a digest of the contents of every table, to compare before and after a request. */
export async function databaseState(): Promise<DatabaseState> {
  const tables = await tableNames();
  const results = await env.DB.batch(
    tables.map((table) => env.DB.prepare(`SELECT * FROM "${table}" ORDER BY rowid`)),
  );
  const entries = await Promise.all(
    tables.map(async (table, i) => {
      const rows = (results[i]?.results ?? []) as Record<string, unknown>[];
      for (const row of rows) for (const column of VOLATILE_COLUMNS[table] ?? []) delete row[column];
      return [table, { rows: rows.length, digest: await sha256Hex(JSON.stringify(rows)) }] as const;
    }),
  );
  return Object.fromEntries(entries);
}

/** A workspace's audit chain, oldest first. */
export function auditRows(workspaceId: string) {
  return db().select().from(auditLog).where(eq(auditLog.workspaceId, workspaceId)).orderBy(asc(auditLog.seq));
}
