/**
 * Schema migrations for a Durable Object's SQLite storage, run in the constructor (synchronously, so
 * no request can see an old schema). Each step runs once; the applied count is kept in `_schema`.
 */
export function migrate(sql: SqlStorage, steps: readonly string[]): number {
  sql.exec("CREATE TABLE IF NOT EXISTS _schema (version INTEGER NOT NULL)");
  const row = sql.exec<{ version: number }>("SELECT version FROM _schema").toArray()[0];
  const applied = row?.version ?? 0;
  if (!row) sql.exec("INSERT INTO _schema (version) VALUES (0)");
  for (let i = applied; i < steps.length; i++) {
    sql.exec(steps[i]!);
    sql.exec("UPDATE _schema SET version = ?", i + 1);
  }
  return steps.length;
}
