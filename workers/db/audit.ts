/**
 * The audit log's data access. `appendAudit` writes the audited change and its audit row in one D1
 * transaction, so a change is never stored without its record (or the reverse). The chain head is read,
 * the new row hashed onto it, and the UNIQUE (workspace_id, seq) index makes a concurrent writer lose
 * and retry instead of forking the chain.
 */
import { and, asc, desc, eq, gt, gte, lte, type SQL } from "drizzle-orm";
import {
  type AuditContent,
  type ChainVerdict,
  GENESIS_HASH,
  hashAuditRow,
  verifyChain,
} from "../../shared/audit/chain";
import { newId } from "../../shared/ids";
import { ApiError, isUniqueViolation } from "../errors";
import type { Db, Statement } from "./client";
import { auditLog } from "./schema";

export const ACCOUNT_CHAIN = "_account";

export interface AuditEntry {
  workspaceId: string;
  actorType: AuditContent["actorType"];
  actorId: string | null;
  action: string;
  targetType?: string | null;
  targetId?: string | null;
  /** Ids and field names only: never PHI, secrets or free text a patient wrote. */
  details?: Record<string, unknown>;
  requestId?: string | null;
}

/**
 * Writers that lose the race for the next `seq` retry on the new head after a short random pause, so a
 * burst of writes to one workspace spreads out instead of colliding in lockstep.
 */
const MAX_ATTEMPTS = 40;
const retryPause = (attempt: number) =>
  new Promise((resolve) => setTimeout(resolve, Math.random() * Math.min(100, 2 ** attempt)));

/** Runs `changes` and appends the audit row in one transaction; returns the changes' results. */
export async function appendAudit(db: Db, entry: AuditEntry, changes: Statement[] = []): Promise<unknown[]> {
  for (let attempt = 1; ; attempt++) {
    const [head] = await db
      .select({ seq: auditLog.seq, hash: auditLog.hash })
      .from(auditLog)
      .where(eq(auditLog.workspaceId, entry.workspaceId))
      .orderBy(desc(auditLog.seq))
      .limit(1);
    const content: AuditContent = {
      workspaceId: entry.workspaceId,
      seq: (head?.seq ?? 0) + 1,
      actorType: entry.actorType,
      actorId: entry.actorId,
      action: entry.action,
      targetType: entry.targetType ?? null,
      targetId: entry.targetId ?? null,
      details: entry.details ?? {},
      requestId: entry.requestId ?? null,
      createdAt: new Date().toISOString(),
    };
    const prevHash = head?.hash ?? GENESIS_HASH;
    const hash = await hashAuditRow(content, prevHash);
    const insert = db.insert(auditLog).values({ id: newId("aud"), ...content, prevHash, hash });
    try {
      const results = await db.batch([insert, ...changes]);
      return results.slice(1);
    } catch (err) {
      if (!isUniqueViolation(err, "audit_log")) throw err;
      if (attempt >= MAX_ATTEMPTS) {
        throw new ApiError("service_unavailable", "The audit log is busy: retry the request", null, {
          "Retry-After": "1",
        });
      }
      await retryPause(attempt);
    }
  }
}

export interface AuditFilter {
  action?: string;
  actorId?: string;
  targetType?: string;
  targetId?: string;
  since?: string;
  until?: string;
  afterSeq?: number;
}

function auditWhere(workspaceId: string, f: AuditFilter): SQL {
  const clauses: (SQL | undefined)[] = [
    eq(auditLog.workspaceId, workspaceId),
    f.action ? eq(auditLog.action, f.action) : undefined,
    f.actorId ? eq(auditLog.actorId, f.actorId) : undefined,
    f.targetType ? eq(auditLog.targetType, f.targetType) : undefined,
    f.targetId ? eq(auditLog.targetId, f.targetId) : undefined,
    f.since ? gte(auditLog.createdAt, f.since) : undefined,
    f.until ? lte(auditLog.createdAt, f.until) : undefined,
  ];
  return and(...clauses)!;
}

/** Newest first: `afterSeq` here means "older than", for keyset paging down the log. */
export async function listAudit(db: Db, workspaceId: string, f: AuditFilter, limit: number, offset: number) {
  const where = auditWhere(workspaceId, f);
  const pageWhere = f.afterSeq !== undefined ? and(where, lte(auditLog.seq, f.afterSeq - 1)) : where;
  const [rows, total] = await Promise.all([
    db.select().from(auditLog).where(pageWhere).orderBy(desc(auditLog.seq)).limit(limit).offset(offset),
    db.$count(auditLog, where),
  ]);
  return { rows, total };
}

/** Recomputes the workspace's whole chain, a page at a time, and reports the first broken link. */
export async function verifyAuditChain(db: Db, workspaceId: string): Promise<ChainVerdict> {
  const PAGE = 500;
  let start = { prevHash: GENESIS_HASH, prevSeq: 0 };
  let checked = 0;
  for (;;) {
    const rows = await db
      .select()
      .from(auditLog)
      .where(and(eq(auditLog.workspaceId, workspaceId), gt(auditLog.seq, start.prevSeq)))
      .orderBy(asc(auditLog.seq))
      .limit(PAGE);
    const verdict = await verifyChain(rows, start);
    if (!verdict.intact) return { ...verdict, checked: checked + verdict.checked };
    checked += verdict.checked;
    if (rows.length < PAGE)
      return { ...verdict, checked, lastSeq: checked > 0 ? (verdict.lastSeq ?? start.prevSeq) : null };
    start = { prevHash: verdict.lastHash, prevSeq: verdict.lastSeq! };
  }
}
