/**
 * Putting work in front of a person: uncertain entity matches and facts the judge could not settle (or
 * that need approval before writeback). Payloads are PHI and stored encrypted; the queue is ordered by
 * priority (3 high: allergies, medications, safety; 2 medium; 1 low), then age.
 */
import { decryptField, encryptField } from "../../shared/crypto/encryption";
import { newId } from "../../shared/ids";
import { REVIEW_STATS_WINDOW_DAYS, type ReviewStats } from "../../shared/schemas/review";
import type { FactValue } from "../../shared/world/events";
import type { Candidate } from "../../shared/world/resolution";
import type { JudgeVerdict, ReviewPriority } from "../../shared/world/verification";
import type { Db } from "../db/client";
import { reviewStats } from "../db/review";
import { reviewItems } from "../db/schema";

export const PRIORITY_RANK: Record<ReviewPriority, number> = { high: 3, medium: 2, low: 1 };

const PRIORITY_NAME = new Map(
  Object.entries(PRIORITY_RANK).map(([name, rank]) => [rank, name as ReviewPriority]),
);

/** A stored priority's name; anything unknown reads as low. */
export const priorityName = (rank: number): ReviewPriority => PRIORITY_NAME.get(rank) ?? "low";

export interface FactReviewPayload {
  kind: "fact";
  path: string;
  proposed_value: FactValue;
  event_type: string;
  event_data: unknown;
  verdict: JudgeVerdict;
  interaction_id: string | null;
  /** The judge's promotion of the extracted event, when it verified it: the head a decision supersedes. */
  promoted_event_id: string | null;
}

export interface EntityMatchPayload {
  kind: "entity_match";
  candidate_id: string;
  match_confidence: number;
  matched_on: string[];
}

export type ReviewPayload = FactReviewPayload | EntityMatchPayload;

export function sealReviewPayload(
  env: Env,
  workspaceId: string,
  id: string,
  payload: ReviewPayload,
): Promise<string> {
  return encryptField(env.ENCRYPTION_KEY, workspaceId, `review_items.payload:${id}`, JSON.stringify(payload));
}

export async function openReviewPayload(
  env: Env,
  row: { workspaceId: string; id: string; payloadEnc: string },
): Promise<ReviewPayload> {
  return JSON.parse(
    await decryptField(env.ENCRYPTION_KEY, row.workspaceId, `review_items.payload:${row.id}`, row.payloadEnc),
  );
}

/** Queues "are these two the same entity?"; returns false when that pair is already queued. */
export async function queueEntityMatchReview(
  env: Env,
  db: Db,
  workspaceId: string,
  entityId: string,
  candidate: Candidate,
): Promise<boolean> {
  const id = newId("rev");
  const [a, b] = [entityId, candidate.entityId].sort();
  const inserted = await db
    .insert(reviewItems)
    .values({
      id,
      workspaceId,
      kind: "entity_match",
      entityId,
      subjectId: `${a}~${b}`,
      path: null,
      domain: "identity",
      payloadEnc: await sealReviewPayload(env, workspaceId, id, {
        kind: "entity_match",
        candidate_id: candidate.entityId,
        match_confidence: candidate.matchConfidence,
        matched_on: candidate.matchedOn,
      }),
      priority: PRIORITY_RANK.medium,
    })
    .onConflictDoNothing()
    .returning({ id: reviewItems.id });
  return inserted.length > 0;
}

/** The statement that queues a fact for review (run in the caller's batch, with its audit row). */
export async function factReviewInsert(
  env: Env,
  db: Db,
  workspaceId: string,
  item: { entityId: string; eventId: string; domain: string; payload: FactReviewPayload },
) {
  const id = newId("rev");
  return {
    id,
    statement: db
      .insert(reviewItems)
      .values({
        id,
        workspaceId,
        kind: "fact",
        entityId: item.entityId,
        subjectId: item.eventId,
        path: item.payload.path,
        domain: item.domain,
        payloadEnc: await sealReviewPayload(env, workspaceId, id, item.payload),
        priority: PRIORITY_RANK[item.payload.verdict.priority],
      })
      .onConflictDoNothing(),
  };
}

/**
 * The queue's depth by priority, and the decisions of the last `REVIEW_STATS_WINDOW_DAYS` days by outcome
 * with their mean time from queued to decided: what `GET /review/stats` and `GET /pipeline/review` answer.
 */
export async function reviewStatsOf(db: Db, workspaceId: string, now = Date.now()): Promise<ReviewStats> {
  const since = new Date(now - REVIEW_STATS_WINDOW_DAYS * 86_400_000).toISOString();
  const { pending, decided } = await reviewStats(db, workspaceId, since);
  const byPriority = { high: 0, medium: 0, low: 0 };
  for (const p of pending) byPriority[priorityName(p.priority)] += p.n;
  const outcomes = { approved: 0, corrected: 0, rejected: 0 };
  let seconds = 0;
  for (const d of decided) {
    if (d.status === "pending") continue;
    outcomes[d.status] += d.n;
    seconds += Number(d.seconds);
  }
  const decisions = outcomes.approved + outcomes.corrected + outcomes.rejected;
  return {
    queue_depth: byPriority.high + byPriority.medium + byPriority.low,
    pending_by_priority: byPriority,
    last_7_days: {
      since,
      ...outcomes,
      average_review_seconds: decisions > 0 ? Math.round((seconds / decisions) * 10) / 10 : null,
    },
  };
}
