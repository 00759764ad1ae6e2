/** The audit hash chain, pure: canonical JSON, hashing, and each way verification can fail. */
import { describe, expect, it } from "vitest";
import {
  type AuditContent,
  type AuditLink,
  auditContentOf,
  canonicalJson,
  GENESIS_HASH,
  hashAuditRow,
  verifyChain,
} from "../../shared/audit/chain";

describe("canonicalJson", () => {
  it("sorts keys at every depth and keeps array order", () => {
    expect(canonicalJson({ b: 1, a: { d: [3, { z: 1, y: 2 }], c: null } })).toBe(
      '{"a":{"c":null,"d":[3,{"y":2,"z":1}]},"b":1}',
    );
  });

  it("gives the same text for the same content however it was built", () => {
    const one = { workspace: "w", seq: 1, details: { role: "admin", fields: ["name"] } };
    const two = { details: { fields: ["name"], role: "admin" }, seq: 1, workspace: "w" };
    expect(canonicalJson(one)).toBe(canonicalJson(two));
  });

  it("drops undefined members and writes undefined as null", () => {
    expect(canonicalJson({ a: undefined, b: 1 })).toBe('{"b":1}');
    expect(canonicalJson(undefined)).toBe("null");
  });

  it("escapes strings as JSON does, so no value can forge structure", () => {
    expect(canonicalJson({ 'a","b': '"}' })).toBe('{"a\\",\\"b":"\\"}"}');
  });
});

function content(seq: number, overrides: Partial<AuditContent> = {}): AuditContent {
  return {
    workspaceId: "ws",
    seq,
    actorType: "user",
    actorId: "usr_1",
    action: "service.created",
    targetType: "service",
    targetId: `svc_${seq}`,
    details: { n: seq },
    requestId: `req_${seq}`,
    createdAt: new Date(Date.UTC(2026, 0, 1, 0, 0, seq)).toISOString(),
    ...overrides,
  };
}

async function chain(length: number): Promise<AuditLink[]> {
  const rows: AuditLink[] = [];
  let prevHash = GENESIS_HASH;
  for (let seq = 1; seq <= length; seq++) {
    const c = content(seq);
    const hash = await hashAuditRow(c, prevHash);
    rows.push({ ...c, prevHash, hash });
    prevHash = hash;
  }
  return rows;
}

describe("hashAuditRow", () => {
  it("is a hex SHA-256 that depends on the content and on the previous hash", async () => {
    const h = await hashAuditRow(content(1), GENESIS_HASH);
    expect(h).toMatch(/^[0-9a-f]{64}$/);
    expect(await hashAuditRow(content(1), GENESIS_HASH)).toBe(h);
    expect(await hashAuditRow(content(1, { action: "service.deleted" }), GENESIS_HASH)).not.toBe(h);
    expect(await hashAuditRow(content(1), "1".repeat(64))).not.toBe(h);
  });

  it("hashes only the audited fields: a row's id or stored hash does not change it", async () => {
    const [row] = await chain(1);
    const withExtras = { ...row!, id: "aud_x" } as AuditLink & { id: string };
    expect(await hashAuditRow(auditContentOf(withExtras), GENESIS_HASH)).toBe(row!.hash);
  });
});

describe("verifyChain", () => {
  it("accepts an intact chain and reports its end", async () => {
    const rows = await chain(5);
    expect(await verifyChain(rows)).toEqual({
      intact: true,
      checked: 5,
      lastSeq: 5,
      lastHash: rows[4]!.hash,
    });
  });

  it("accepts an empty chain", async () => {
    expect(await verifyChain([])).toEqual({
      intact: true,
      checked: 0,
      lastSeq: null,
      lastHash: GENESIS_HASH,
    });
  });

  it("continues from a given start (how the Worker verifies page by page)", async () => {
    const rows = await chain(6);
    const verdict = await verifyChain(rows.slice(3), { prevHash: rows[2]!.hash, prevSeq: 3 });
    expect(verdict).toMatchObject({ intact: true, checked: 3, lastSeq: 6 });
  });

  it.each([
    ["action", { action: "service.viewed" }],
    ["details", { details: { n: 999 } }],
    ["actor", { actorId: "usr_2" }],
    ["time", { createdAt: "2020-01-01T00:00:00.000Z" }],
    ["request id", { requestId: null }],
  ])("reports hash_mismatch at a row whose %s changed", async (_, change) => {
    const rows = await chain(5);
    rows[2] = { ...rows[2]!, ...change };
    expect(await verifyChain(rows)).toEqual({
      intact: false,
      checked: 2,
      brokenAtSeq: 3,
      reason: "hash_mismatch",
    });
  });

  it("reports prev_hash_mismatch after a row rewritten with a fresh hash", async () => {
    const rows = await chain(5);
    const forged = content(3, { action: "service.viewed" });
    rows[2] = { ...forged, prevHash: rows[1]!.hash, hash: await hashAuditRow(forged, rows[1]!.hash) };
    expect(await verifyChain(rows)).toEqual({
      intact: false,
      checked: 3,
      brokenAtSeq: 4,
      reason: "prev_hash_mismatch",
    });
  });

  it("reports sequence_gap for a removed row, a duplicated row and a chain not starting at 1", async () => {
    const rows = await chain(5);
    expect(await verifyChain([rows[0]!, rows[1]!, rows[3]!, rows[4]!])).toMatchObject({
      intact: false,
      brokenAtSeq: 4,
      reason: "sequence_gap",
    });
    expect(await verifyChain([rows[0]!, rows[1]!, rows[1]!])).toMatchObject({
      brokenAtSeq: 2,
      reason: "sequence_gap",
    });
    expect(await verifyChain(rows.slice(1))).toMatchObject({ brokenAtSeq: 2, reason: "sequence_gap" });
  });

  it("reports a chain that does not start from the genesis hash", async () => {
    const rows = await chain(3);
    rows[0] = { ...rows[0]!, prevHash: "f".repeat(64) };
    expect(await verifyChain(rows)).toMatchObject({ brokenAtSeq: 1, reason: "prev_hash_mismatch" });
  });
});
