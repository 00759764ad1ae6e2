/**
 * The audit chain as evidence: tampering with any row in D1, or removing one, is reported by
 * `/audit/verify` at the row where the chain breaks; concurrent writers never fork the chain.
 */
import { env } from "cloudflare:workers";
import { and, eq } from "drizzle-orm";
import { beforeAll, describe, expect, it } from "vitest";
import { auditContentOf, GENESIS_HASH, hashAuditRow } from "../../shared/audit/chain";
import { auditLog } from "../../workers/db/schema";
import { auditRows, db } from "../helpers/db";
import { api } from "../helpers/http";
import { createWorkspace, insertService, type TestWorkspace } from "../helpers/workspace";

const verify = async (ws: TestWorkspace) =>
  (await api("GET", `/v1/${ws.id}/audit/verify`, { key: ws.keys.admin })).body;

/** A workspace whose chain holds `writes` service updates, made through the API. */
async function workspaceWithHistory(writes: number): Promise<TestWorkspace> {
  const ws = await createWorkspace();
  const id = await insertService(ws.id);
  for (let i = 0; i < writes; i++) {
    const res = await api("PATCH", `/v1/${ws.id}/services/${id}`, {
      key: ws.keys.owner,
      body: { description: `revision ${i}` },
    });
    expect(res.status).toBe(200);
  }
  expect(await verify(ws)).toMatchObject({ intact: true, checked: writes, last_seq: writes });
  return ws;
}

const tamper = (ws: TestWorkspace, seq: number, set: string, ...values: unknown[]) =>
  env.DB.prepare(`UPDATE audit_log SET ${set} WHERE workspace_id = ? AND seq = ?`)
    .bind(...values, ws.id, seq)
    .run();

describe("tampering with the audit log in D1", () => {
  it.each([
    ["details", "details = ?", '{"description":"forged"}'],
    ["action", "action = ?", "service.viewed"],
    ["actor", "actor_id = ?", "key_someoneelse000"],
    ["time", "created_at = ?", "2020-01-01T00:00:00.000Z"],
    ["target", "target_id = ?", "svc_another0000000"],
  ])("is reported at the changed row when its %s is rewritten", async (_, set, value) => {
    const ws = await workspaceWithHistory(8);
    await tamper(ws, 5, set, value);
    expect(await verify(ws)).toEqual({
      intact: false,
      checked: 4,
      last_seq: null,
      broken_at_seq: 5,
      reason: "hash_mismatch",
    });
  });

  it("is reported when a row's hash is recomputed to match its forged content: the next link breaks", async () => {
    const ws = await workspaceWithHistory(6);
    const rows = await auditRows(ws.id);
    const forged = { ...rows[2]!, action: "service.viewed" };
    const hash = await hashAuditRow(auditContentOf(forged), forged.prevHash);
    await tamper(ws, 3, "action = ?, hash = ?", forged.action, hash);
    expect(await verify(ws)).toMatchObject({ intact: false, broken_at_seq: 4, reason: "prev_hash_mismatch" });
  });

  it("is reported as a sequence gap when a middle row is deleted", async () => {
    const ws = await workspaceWithHistory(6);
    await env.DB.prepare("DELETE FROM audit_log WHERE workspace_id = ? AND seq = 3").bind(ws.id).run();
    expect(await verify(ws)).toEqual({
      intact: false,
      checked: 2,
      last_seq: null,
      broken_at_seq: 4,
      reason: "sequence_gap",
    });
  });

  it("is reported when rows are swapped", async () => {
    const ws = await workspaceWithHistory(5);
    await env.DB.batch([
      env.DB.prepare("UPDATE audit_log SET seq = -1 WHERE workspace_id = ? AND seq = 2").bind(ws.id),
      env.DB.prepare("UPDATE audit_log SET seq = 2 WHERE workspace_id = ? AND seq = 3").bind(ws.id),
      env.DB.prepare("UPDATE audit_log SET seq = 3 WHERE workspace_id = ? AND seq = -1").bind(ws.id),
    ]);
    expect(await verify(ws)).toMatchObject({ intact: false, broken_at_seq: 2 });
  });

  it("in another workspace's chain does not affect this one", async () => {
    const [mine, theirs] = await Promise.all([workspaceWithHistory(3), workspaceWithHistory(3)]);
    await tamper(theirs, 2, "details = ?", "{}");
    expect(await verify(mine)).toMatchObject({ intact: true, checked: 3 });
    expect(await verify(theirs)).toMatchObject({ intact: false, broken_at_seq: 2 });
  });
});

describe("a long chain", () => {
  let ws: TestWorkspace;
  const LENGTH = 1_203;

  /** Written straight to D1 (hashed like the Worker does), so the verifier's paging is exercised quickly. */
  beforeAll(async () => {
    ws = await createWorkspace();
    let prevHash = GENESIS_HASH;
    const inserts: D1PreparedStatement[] = [];
    for (let seq = 1; seq <= LENGTH; seq++) {
      const content = {
        workspaceId: ws.id,
        seq,
        actorType: "system" as const,
        actorId: null,
        action: "test.filled",
        targetType: null,
        targetId: null,
        details: { n: seq },
        requestId: null,
        createdAt: new Date(Date.UTC(2026, 0, 1, 0, 0, seq)).toISOString(),
      };
      const hash = await hashAuditRow(content, prevHash);
      inserts.push(
        env.DB.prepare(
          "INSERT INTO audit_log (id, workspace_id, seq, actor_type, action, details, created_at, prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        ).bind(
          `aud_filled${seq}_${ws.id}`,
          ws.id,
          seq,
          content.actorType,
          content.action,
          JSON.stringify(content.details),
          content.createdAt,
          prevHash,
          hash,
        ),
      );
      prevHash = hash;
    }
    for (let i = 0; i < inserts.length; i += 200) await env.DB.batch(inserts.slice(i, i + 200));
  });

  it("verifies intact across pages, and keeps growing through the API", async () => {
    expect(await verify(ws)).toMatchObject({ intact: true, checked: LENGTH, last_seq: LENGTH });
    const res = await api("POST", `/v1/${ws.id}/services`, { key: ws.keys.owner, body: { name: "After" } });
    expect(res.status).toBe(201);
    expect(await verify(ws)).toMatchObject({ intact: true, checked: LENGTH + 1, last_seq: LENGTH + 1 });
  });

  it.each([1, 499, 500, 501, 1000, 1001, 1203])("finds a change at row %i", async (seq) => {
    const [row] = await db()
      .select({ details: auditLog.details })
      .from(auditLog)
      .where(and(eq(auditLog.workspaceId, ws.id), eq(auditLog.seq, seq)));
    await tamper(ws, seq, "details = ?", '{"n":0}');
    try {
      expect(await verify(ws)).toMatchObject({ intact: false, checked: seq - 1, broken_at_seq: seq });
    } finally {
      await tamper(ws, seq, "details = ?", JSON.stringify(row!.details));
    }
    expect(await verify(ws)).toMatchObject({ intact: true });
  });
});

describe("concurrent writes", () => {
  it("leave one intact chain with no duplicate or missing seq", async () => {
    const ws = await createWorkspace();
    const answers = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        api("POST", `/v1/${ws.id}/services`, { key: ws.keys.owner, body: { name: `Parallel ${i}` } }),
      ),
    );
    expect(answers.map((r) => r.status)).toEqual(Array(20).fill(201));
    const rows = await auditRows(ws.id);
    expect(rows.map((r) => r.seq)).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
    expect(new Set(rows.map((r) => r.targetId))).toEqual(new Set(answers.map((r) => r.body.id)));
    expect(await verify(ws)).toMatchObject({ intact: true, checked: 20, last_seq: 20 });
  });

  it("of different kinds, from keys and users at once, also keep the chain whole", async () => {
    const ws = await createWorkspace();
    const serviceIds = await Promise.all(Array.from({ length: 10 }, () => insertService(ws.id)));
    const writes = [
      ...serviceIds
        .slice(0, 5)
        .map((id) =>
          api("PATCH", `/v1/${ws.id}/services/${id}`, { key: ws.keys.admin, body: { description: "x" } }),
        ),
      ...serviceIds
        .slice(5)
        .map((id) => api("DELETE", `/v1/${ws.id}/services/${id}`, { key: ws.keys.owner })),
      ...Array.from({ length: 5 }, (_, i) =>
        api("POST", `/v1/${ws.id}/api-keys`, {
          key: ws.keys.owner,
          body: { name: `K ${i}`, role: "viewer" },
        }),
      ),
    ];
    const answers = await Promise.all(writes);
    for (const res of answers) expect(res.status).toBeLessThan(300);
    const rows = await auditRows(ws.id);
    expect(rows.map((r) => r.seq)).toEqual(Array.from({ length: rows.length }, (_, i) => i + 1));
    expect(await verify(ws)).toMatchObject({ intact: true, checked: rows.length });
  });
});
