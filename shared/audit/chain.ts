/**
 * The audit log's hash chain. Each row hashes its own content together with the previous row's hash,
 * so changing, removing or reordering any row breaks every link after it. Pure: the Worker appends and
 * verifies with these functions, and so can anyone holding an export of the log.
 */
import { sha256Hex } from "../encoding";

export const GENESIS_HASH = "0".repeat(64);

export interface AuditContent {
  workspaceId: string;
  seq: number;
  actorType: "user" | "api_key" | "system" | "anonymous";
  actorId: string | null;
  action: string;
  targetType: string | null;
  targetId: string | null;
  details: Record<string, unknown>;
  requestId: string | null;
  createdAt: string;
}

export interface AuditLink extends AuditContent {
  prevHash: string;
  hash: string;
}

/** JSON with object keys sorted at every depth, so the same content always hashes the same. */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== "object") return JSON.stringify(value ?? null);
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(",")}]`;
  const entries = Object.entries(value as Record<string, unknown>)
    .filter(([, v]) => v !== undefined)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(",")}}`;
}

/** Exactly the fields that are hashed, whatever else a stored row carries (its id, say). */
export function auditContentOf(row: AuditContent): AuditContent {
  return {
    workspaceId: row.workspaceId,
    seq: row.seq,
    actorType: row.actorType,
    actorId: row.actorId,
    action: row.action,
    targetType: row.targetType,
    targetId: row.targetId,
    details: row.details,
    requestId: row.requestId,
    createdAt: row.createdAt,
  };
}

export function hashAuditRow(content: AuditContent, prevHash: string): Promise<string> {
  return sha256Hex(`${prevHash}\n${canonicalJson(content)}`);
}

export type ChainVerdict =
  | { intact: true; checked: number; lastSeq: number | null; lastHash: string }
  | {
      intact: false;
      checked: number;
      brokenAtSeq: number;
      reason: "hash_mismatch" | "prev_hash_mismatch" | "sequence_gap";
    };

/** Walks rows in sequence order from `prevHash`, reporting the first link that does not hold. */
export async function verifyChain(
  rows: Iterable<AuditLink>,
  start: { prevHash: string; prevSeq: number } = { prevHash: GENESIS_HASH, prevSeq: 0 },
): Promise<ChainVerdict> {
  let { prevHash, prevSeq } = start;
  let checked = 0;
  for (const row of rows) {
    if (row.seq !== prevSeq + 1)
      return { intact: false, checked, brokenAtSeq: row.seq, reason: "sequence_gap" };
    if (row.prevHash !== prevHash)
      return { intact: false, checked, brokenAtSeq: row.seq, reason: "prev_hash_mismatch" };
    if ((await hashAuditRow(auditContentOf(row), prevHash)) !== row.hash) {
      return { intact: false, checked, brokenAtSeq: row.seq, reason: "hash_mismatch" };
    }
    prevHash = row.hash;
    prevSeq = row.seq;
    checked++;
  }
  return { intact: true, checked, lastSeq: checked > 0 ? prevSeq : null, lastHash: prevHash };
}
