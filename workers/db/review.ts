/**
 * Review-queue data access. Items are created by the verification pipeline and entity resolution
 * (`workers/world/review-items.ts`); here they are listed, counted, claimed and decided. State changes are
 * statements guarded by the state they expect, followed by `abortUnlessChanged`: a writer that lost a race
 * rolls back its whole batch (audit row included) instead of recording a decision that did not happen.
 */
import {
  and,
  asc,
  count,
  desc,
  eq,
  gt,
  gte,
  inArray,
  isNotNull,
  isNull,
  lt,
  lte,
  or,
  sql,
} from "drizzle-orm";
import type { Db, Statement } from "./client";
import { reviewItems } from "./schema";

export type ReviewItemRow = typeof reviewItems.$inferSelect;
export type ReviewStatus = ReviewItemRow["status"];
export type ReviewKind = ReviewItemRow["kind"];

/** A claim lapses after this long; the item is then free for anyone to claim or decide. */
export const CLAIM_TTL_MS = 30 * 60_000;

export const DECIDED_STATUSES = ["approved", "corrected", "rejected"] as const;

/** Claims made at or before this instant have lapsed. */
export function claimCutoff(now: Date): string {
  return new Date(now.getTime() - CLAIM_TTL_MS).toISOString();
}

export function findReviewItem(db: Db, workspaceId: string, id: string) {
  return db.query.reviewItems.findFirst({
    where: and(eq(reviewItems.workspaceId, workspaceId), eq(reviewItems.id, id)),
  });
}

export interface ReviewFilter {
  status: ReviewStatus;
  priority?: number | undefined;
  kind?: ReviewKind | undefined;
  domain?: string | undefined;
  entityId?: string | undefined;
  /** true: held by a live claim; false: unclaimed or the claim lapsed. */
  claimed?: boolean | undefined;
  /** Only items held by this principal's live claim. */
  claimedBy?: string | undefined;
}

/** A keyset position in queue order: (priority, created_at, id) of the last row seen. */
export type QueueKey = [priority: number, createdAt: string, id: string];

export async function listReviewItems(
  db: Db,
  workspaceId: string,
  f: ReviewFilter,
  now: Date,
  page: { limit: number; offset: number; after?: QueueKey | undefined },
) {
  const cutoff = claimCutoff(now);
  const live = and(isNotNull(reviewItems.claimedBy), gt(reviewItems.claimedAt, cutoff));
  const where = and(
    eq(reviewItems.workspaceId, workspaceId),
    eq(reviewItems.status, f.status),
    f.priority !== undefined ? eq(reviewItems.priority, f.priority) : undefined,
    f.kind ? eq(reviewItems.kind, f.kind) : undefined,
    f.domain ? eq(reviewItems.domain, f.domain) : undefined,
    f.entityId ? eq(reviewItems.entityId, f.entityId) : undefined,
    f.claimed === true ? live : undefined,
    f.claimed === false ? or(isNull(reviewItems.claimedBy), lte(reviewItems.claimedAt, cutoff)) : undefined,
    f.claimedBy ? and(eq(reviewItems.claimedBy, f.claimedBy), live) : undefined,
  );
  const after = page.after;
  const pageWhere = after
    ? and(
        where,
        or(
          lt(reviewItems.priority, after[0]),
          and(eq(reviewItems.priority, after[0]), gt(reviewItems.createdAt, after[1])),
          and(
            eq(reviewItems.priority, after[0]),
            eq(reviewItems.createdAt, after[1]),
            gt(reviewItems.id, after[2]),
          ),
        ),
      )
    : where;
  const [rows, total] = await Promise.all([
    db
      .select()
      .from(reviewItems)
      .where(pageWhere)
      .orderBy(desc(reviewItems.priority), asc(reviewItems.createdAt), asc(reviewItems.id))
      .limit(page.limit)
      .offset(after ? 0 : page.offset),
    db.$count(reviewItems, where),
  ]);
  return { rows, total };
}

/**
 * Fails its batch when the statement before it changed no row. SQLite has no RAISE outside triggers;
 * `json()` of text that is not JSON is the portable way to make a statement fail on demand.
 */
export function abortUnlessChanged(db: Db): Statement {
  return db.run(sql`SELECT CASE WHEN changes() = 0 THEN json('review item changed concurrently') END`);
}

/** Pending, and free for `by`: unclaimed, claimed by `by`, or the claim lapsed. */
function freeFor(by: string, cutoff: string) {
  return and(
    eq(reviewItems.status, "pending"),
    or(isNull(reviewItems.claimedBy), eq(reviewItems.claimedBy, by), lte(reviewItems.claimedAt, cutoff)),
  );
}

export function claimStatements(
  db: Db,
  workspaceId: string,
  id: string,
  claim: { by: string; at: string; cutoff: string },
): Statement[] {
  return [
    db
      .update(reviewItems)
      .set({ claimedBy: claim.by, claimedAt: claim.at })
      .where(
        and(
          eq(reviewItems.workspaceId, workspaceId),
          eq(reviewItems.id, id),
          freeFor(claim.by, claim.cutoff),
        ),
      ),
    abortUnlessChanged(db),
  ];
}

/** Releases the claim held by `heldBy` (the claim as it was read, so a newer claim is not released). */
export function unclaimStatements(db: Db, workspaceId: string, id: string, heldBy: string): Statement[] {
  return [
    db
      .update(reviewItems)
      .set({ claimedBy: null, claimedAt: null })
      .where(
        and(
          eq(reviewItems.workspaceId, workspaceId),
          eq(reviewItems.id, id),
          eq(reviewItems.status, "pending"),
          eq(reviewItems.claimedBy, heldBy),
        ),
      ),
    abortUnlessChanged(db),
  ];
}

export interface Decision {
  status: (typeof DECIDED_STATUSES)[number];
  by: string;
  at: string;
  eventId: string | null;
  /** The payload re-sealed with the decision's notes, when it has any. */
  payloadEnc?: string | undefined;
  /** Set unless the decider may override another's claim: the claim must be theirs, absent or lapsed. */
  claimCutoff: string | null;
}

export function decideStatements(db: Db, workspaceId: string, id: string, d: Decision): Statement[] {
  return [
    db
      .update(reviewItems)
      .set({
        status: d.status,
        decidedBy: d.by,
        decidedAt: d.at,
        decisionEventId: d.eventId,
        ...(d.payloadEnc ? { payloadEnc: d.payloadEnc } : {}),
      })
      .where(
        and(
          eq(reviewItems.workspaceId, workspaceId),
          eq(reviewItems.id, id),
          d.claimCutoff === null ? eq(reviewItems.status, "pending") : freeFor(d.by, d.claimCutoff),
        ),
      ),
    abortUnlessChanged(db),
  ];
}

/** Queue depth by priority, and decisions since `since` by outcome with their total time to decision. */
export async function reviewStats(db: Db, workspaceId: string, since: string) {
  const [pending, decided] = await Promise.all([
    db
      .select({ priority: reviewItems.priority, n: count() })
      .from(reviewItems)
      .where(and(eq(reviewItems.workspaceId, workspaceId), eq(reviewItems.status, "pending")))
      .groupBy(reviewItems.priority),
    db
      .select({
        status: reviewItems.status,
        n: count(),
        /** Seconds from queued to decided, summed (the caller averages over every outcome). */
        seconds: sql<number>`coalesce(sum((julianday(${reviewItems.decidedAt}) - julianday(${reviewItems.createdAt})) * 86400), 0)`,
      })
      .from(reviewItems)
      .where(
        and(
          eq(reviewItems.workspaceId, workspaceId),
          gte(reviewItems.decidedAt, since),
          inArray(reviewItems.status, [...DECIDED_STATUSES]),
        ),
      )
      .groupBy(reviewItems.status),
  ]);
  return { pending, decided };
}
