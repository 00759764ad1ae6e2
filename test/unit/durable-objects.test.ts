/**
 * The three Durable Object classes: each answers `describe()` through its stub, and keeps its SQLite
 * schema in `_schema` (steps applied once, surviving eviction).
 */
import { evictDurableObject, runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { migrate } from "../../durable-objects/sql-migrations";

const NAMESPACES = {
  CallSession: () => env.CALL_SESSION,
  WorkspaceHub: () => env.WORKSPACE_HUB,
  PatientModel: () => env.PATIENT_MODEL,
} as const;

const tablesOf = (sql: SqlStorage) =>
  sql
    .exec<{ name: string }>(
      "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE '\\_cf%' ESCAPE '\\' ORDER BY name",
    )
    .toArray()
    .map((r) => r.name);

describe.each(Object.entries(NAMESPACES))("%s", (kind, namespace) => {
  it("answers describe() through its stub", async () => {
    const stub = namespace().getByName(`describe-${crypto.randomUUID()}`);
    const description = await stub.describe();
    expect(description.kind).toBe(kind);
  });

  it("has its schema in SQLite storage: _schema with one version row, and meta", async () => {
    const stub = namespace().getByName(`schema-${crypto.randomUUID()}`);
    await stub.describe();
    const { tables, versions } = await runInDurableObject(stub, (_, state) => ({
      tables: tablesOf(state.storage.sql),
      versions: state.storage.sql.exec<{ version: number }>("SELECT version FROM _schema").toArray(),
    }));
    expect(tables).toEqual(expect.arrayContaining(["_schema", "meta"]));
    expect(versions).toHaveLength(1);
    expect(versions[0]!.version).toBeGreaterThanOrEqual(1);
  });

  it("comes back from eviction with its storage, without re-running its schema steps", async () => {
    const stub = namespace().getByName(`evict-${crypto.randomUUID()}`);
    await stub.describe();
    await runInDurableObject(stub, (_, state) => {
      state.storage.sql.exec("INSERT INTO meta (key, value) VALUES ('kept', 'yes')");
    });
    const before = await runInDurableObject(stub, (_, state) =>
      state.storage.sql.exec<{ version: number }>("SELECT version FROM _schema").one(),
    );
    await evictDurableObject(stub);
    expect((await stub.describe()).kind).toBe(kind);
    const after = await runInDurableObject(stub, (_, state) => ({
      schema: state.storage.sql.exec<{ version: number }>("SELECT version FROM _schema").toArray(),
      kept: state.storage.sql.exec<{ value: string }>("SELECT value FROM meta WHERE key = 'kept'").one()
        .value,
    }));
    expect(after).toEqual({ schema: [before], kept: "yes" });
  });
});

describe("migrate", () => {
  it("applies each new step once, in order, and records how many ran", async () => {
    const stub = env.CALL_SESSION.getByName(`migrate-${crypto.randomUUID()}`);
    const result = await runInDurableObject(stub, (_, state) => {
      const sql = state.storage.sql;
      const current = sql.exec<{ version: number }>("SELECT version FROM _schema").one().version;
      const existing = Array.from({ length: current }, () => "SELECT 1");
      const steps = [...existing, "CREATE TABLE extra (x INTEGER)", "INSERT INTO extra (x) VALUES (1)"];
      const first = migrate(sql, steps);
      const second = migrate(sql, steps);
      return {
        first,
        second,
        version: sql.exec<{ version: number }>("SELECT version FROM _schema").one().version,
        rows: sql.exec<{ n: number }>("SELECT count(*) AS n FROM extra").one().n,
        current,
      };
    });
    expect(result).toEqual({
      first: result.current + 2,
      second: result.current + 2,
      version: result.current + 2,
      rows: 1,
      current: result.current,
    });
  });
});
