/**
 * What a reviewer does to a review item: claim it, release it, decide it. A fact decision never edits an
 * event: it records a new one (source `review`) superseding the head of the proposal's chain, at the
 * confidence of its kind (approve 0.95, correct 1.0, reject 0.0), so history keeps every candidate and
 * the projection shows the decision. An approved entity match merges the pair; a rejected one leaves
 * them apart. Each action commits with its audit row and is announced as `review.submitted` (ids only).
 */
import { type Role, roleAtLeast } from "../../shared/auth/roles";
import { utf8 } from "../../shared/encoding";
import { MAX_EVENT_DATA_BYTES } from "../../shared/schemas/world";
import { type ConfidenceBasis, confidenceFor } from "../../shared/world/confidence";
import { type EntityType, type EventType, parseEventData } from "../../shared/world/events";
import { type AuditEntry, appendAudit } from "../db/audit";
import { type Db, database, type Statement } from "../db/client";
import {
  claimCutoff,
  claimStatements,
  decideStatements,
  findReviewItem,
  type ReviewItemRow,
  unclaimStatements,
} from "../db/review";
import { findEntities, findEntity, findEvent } from "../db/world";
import { ApiError, notFound } from "../errors";
import { publish } from "../events";
import { ingestEvents, mergeOrder, mergeStatements, reprojectMerged, worldSettings } from "./ingest";
import {
  type EntityMatchPayload,
  type FactReviewPayload,
  openReviewPayload,
  type ReviewPayload,
  sealReviewPayload,
} from "./review-items";

/** Who acts: the id recorded as `claimed_by` / `decided_by`, and the role that may override claims. */
export interface Reviewer {
  kind: "user" | "api_key";
  id: string;
  role: Role;
  requestId: string | null;
}

export type ReviewAction = "claim" | "unclaim" | "approve" | "correct" | "reject";

export type ReviewDecision =
  | { action: "approve" }
  /** The corrected event data, or just the new value at the item's path. */
  | { action: "correct"; data?: unknown; value?: unknown }
  | { action: "reject"; reason: string };

/** A decided item's payload also keeps a rejection's reason: free text, so sealed with the rest. */
export type DecidedPayload = ReviewPayload & { rejection_reason?: string };

const OUTCOME = { approve: "approved", correct: "corrected", reject: "rejected" } as const;
const BASIS: Record<ReviewDecision["action"], ConfidenceBasis> = {
  approve: "review_approve",
  correct: "review_correct",
  reject: "review_reject",
};

/** Admins and owners may release or decide over someone else's claim. */
const overridesClaims = (reviewer: Reviewer) => roleAtLeast(reviewer.role, "admin");

function claimedByOther(item: ReviewItemRow, reviewer: Reviewer, now: Date): boolean {
  return (
    item.claimedBy !== null &&
    item.claimedBy !== reviewer.id &&
    item.claimedAt !== null &&
    item.claimedAt > claimCutoff(now)
  );
}

function decidedConflict(item: ReviewItemRow): ApiError | null {
  return item.status === "pending"
    ? null
    : new ApiError("conflict", `The review item is already ${item.status}`, { status: item.status });
}

/** Why `reviewer` cannot claim or decide `item` now, or null when they can. */
function conflictOf(item: ReviewItemRow, reviewer: Reviewer, now: Date, mayOverride: boolean) {
  const decided = decidedConflict(item);
  if (decided) return decided;
  if (!mayOverride && claimedByOther(item, reviewer, now)) {
    return new ApiError("conflict", "The review item is claimed by someone else", {
      claimed_by: item.claimedBy,
      claimed_at: item.claimedAt,
    });
  }
  return null;
}

async function requireItem(db: Db, workspaceId: string, id: string): Promise<ReviewItemRow> {
  const item = await findReviewItem(db, workspaceId, id);
  if (!item) throw notFound("Review item");
  return item;
}

function auditEntry(
  workspaceId: string,
  reviewer: Reviewer,
  action: string,
  item: ReviewItemRow,
  details: Record<string, unknown> = {},
): AuditEntry {
  return {
    workspaceId,
    actorType: reviewer.kind,
    actorId: reviewer.id,
    requestId: reviewer.requestId,
    action,
    targetType: "review_item",
    targetId: item.id,
    details: { kind: item.kind, entity_id: item.entityId, path: item.path, ...details },
  };
}

/**
 * Commits guarded statements with their audit row. When the guard fails (the item changed since it was
 * read), the batch rolls back and the caller learns why from the item as it is now.
 */
async function commit(
  db: Db,
  entry: AuditEntry,
  statements: Statement[],
  explain: (fresh: ReviewItemRow) => ApiError | null,
): Promise<void> {
  try {
    await appendAudit(db, entry, statements);
  } catch (err) {
    const fresh = await findReviewItem(db, entry.workspaceId, entry.targetId!);
    const conflict = fresh ? explain(fresh) : null;
    throw conflict ?? err;
  }
}

async function announce(env: Env, workspaceId: string, item: ReviewItemRow, action: ReviewAction) {
  await publish(env, workspaceId, {
    type: "review.submitted",
    data: { review_item_id: item.id, action, entity_id: item.entityId, path: item.path },
  });
}

/** Takes the item for `reviewer` (refreshing their own claim); 409 while another's claim is live. */
export async function claimReviewItem(
  env: Env,
  workspaceId: string,
  id: string,
  reviewer: Reviewer,
): Promise<ReviewItemRow> {
  const db = database(env.DB);
  const item = await requireItem(db, workspaceId, id);
  const now = new Date();
  const conflict = conflictOf(item, reviewer, now, false);
  if (conflict) throw conflict;
  await commit(
    db,
    auditEntry(workspaceId, reviewer, "review.claimed", item),
    claimStatements(db, workspaceId, id, {
      by: reviewer.id,
      at: now.toISOString(),
      cutoff: claimCutoff(now),
    }),
    (fresh) => conflictOf(fresh, reviewer, new Date(), false),
  );
  await announce(env, workspaceId, item, "claim");
  return requireItem(db, workspaceId, id);
}

/** Releases the claim: the claimer may, and so may an admin or owner. */
export async function unclaimReviewItem(
  env: Env,
  workspaceId: string,
  id: string,
  reviewer: Reviewer,
): Promise<ReviewItemRow> {
  const db = database(env.DB);
  const item = await requireItem(db, workspaceId, id);
  const decided = decidedConflict(item);
  if (decided) throw decided;
  const heldBy = item.claimedBy;
  if (heldBy === null) throw new ApiError("conflict", "The review item is not claimed");
  if (heldBy !== reviewer.id && !overridesClaims(reviewer)) {
    throw new ApiError("forbidden", "Only the reviewer who claimed the item, or an admin, can release it", {
      claimed_by: heldBy,
    });
  }
  await commit(
    db,
    auditEntry(workspaceId, reviewer, "review.unclaimed", item, { claimed_by: heldBy }),
    unclaimStatements(db, workspaceId, id, heldBy),
    (fresh) =>
      decidedConflict(fresh) ??
      (fresh.claimedBy !== heldBy ? new ApiError("conflict", "The claim changed meanwhile") : null),
  );
  await announce(env, workspaceId, item, "unclaim");
  return requireItem(db, workspaceId, id);
}

/** Approves, corrects or rejects the item; 409 once it is decided or while another's claim is live. */
export async function decideReviewItem(
  env: Env,
  workspaceId: string,
  id: string,
  decision: ReviewDecision,
  reviewer: Reviewer,
): Promise<ReviewItemRow> {
  const db = database(env.DB);
  const item = await requireItem(db, workspaceId, id);
  const mayOverride = overridesClaims(reviewer);
  const conflict = conflictOf(item, reviewer, new Date(), mayOverride);
  if (conflict) throw conflict;
  const payload: DecidedPayload = await openReviewPayload(env, item);
  const decided =
    payload.kind === "fact"
      ? await factDecision(env, db, workspaceId, item, payload, decision, reviewer)
      : await matchDecision(db, workspaceId, item, payload, decision);

  const now = new Date();
  const status = OUTCOME[decision.action];
  const withReason: DecidedPayload | null =
    decision.action === "reject" ? { ...payload, rejection_reason: decision.reason } : null;
  const payloadEnc = withReason ? await sealReviewPayload(env, workspaceId, item.id, withReason) : undefined;
  await commit(
    db,
    auditEntry(workspaceId, reviewer, `review.${status}`, item, {
      decision_event_id: decided.eventId,
      ...(decided.merge ? { merged: decided.merge.merge, into: decided.merge.keep } : {}),
    }),
    [
      ...decideStatements(db, workspaceId, id, {
        status,
        by: reviewer.id,
        at: now.toISOString(),
        eventId: decided.eventId,
        payloadEnc,
        claimCutoff: mayOverride ? null : claimCutoff(now),
      }),
      ...decided.statements,
    ],
    (fresh) => conflictOf(fresh, reviewer, new Date(), mayOverride),
  );
  if (decided.merge) await reprojectMerged(env, workspaceId, decided.merge.keep, decided.merge.entityType);
  await announce(env, workspaceId, item, decision.action);
  return requireItem(db, workspaceId, id);
}

interface Decided {
  eventId: string | null;
  /** Changes that commit with the item's new status. */
  statements: Statement[];
  merge?: { keep: string; merge: string; entityType: string };
}

/** Records the decision event. Its idempotency key is the item's, so a repeated decision stores once. */
async function factDecision(
  env: Env,
  db: Db,
  workspaceId: string,
  item: ReviewItemRow,
  payload: FactReviewPayload,
  decision: ReviewDecision,
  reviewer: Reviewer,
): Promise<Decided> {
  const data =
    decision.action === "correct"
      ? await correctedData(db, workspaceId, item, payload, decision)
      : payload.event_data;
  const producedBy = `review:${decision.action}`;
  const settings = await worldSettings(db, workspaceId);
  const ingested = await ingestEvents(
    env,
    workspaceId,
    [
      {
        idempotency_key: `review:${item.id}`,
        entity_id: item.entityId,
        event_type: payload.event_type as EventType,
        data,
        confidence: confidenceFor(BASIS[decision.action], settings),
        source: "review",
        produced_by: producedBy,
        supersedes: payload.promoted_event_id ?? item.subjectId,
      },
    ],
    { actorType: reviewer.kind, actorId: reviewer.id, requestId: reviewer.requestId },
  );
  const result = ingested.results[0]!;
  if (result.status === "duplicate") {
    // A decision recorded by a request that did not finish: only the same kind of decision may complete it.
    const previous = await findEvent(db, workspaceId, result.event_id);
    if (previous?.producedBy !== producedBy) {
      throw new ApiError("conflict", "Another decision was already recorded for this review item", {
        decision_event_id: result.event_id,
      });
    }
  }
  return { eventId: result.event_id, statements: [] };
}

/**
 * The reviewer's correction as event data: `data` as given, or `value` placed at the item's path (the
 * whole data for list facts such as an allergy, one field of the proposal for field facts such as a birth
 * date). It must validate and describe the item's path, and no path the proposal did not.
 */
async function correctedData(
  db: Db,
  workspaceId: string,
  item: ReviewItemRow,
  payload: FactReviewPayload,
  decision: Extract<ReviewDecision, { action: "correct" }>,
): Promise<unknown> {
  const entity = await findEntity(db, workspaceId, item.entityId);
  const entityType = (entity?.entityType ?? "patient") as EntityType;
  const eventType = payload.event_type as EventType;
  const original = parseEventData(eventType, entityType, payload.event_data);
  const allowed = new Set([payload.path, ...(original.ok ? original.facts.map((f) => f.path) : [])]);
  const field = payload.path.split(".").at(-1)!;
  const candidates =
    decision.data !== undefined
      ? [decision.data]
      : [
          decision.value,
          typeof payload.event_data === "object" && payload.event_data !== null
            ? { ...payload.event_data, [field]: decision.value }
            : { [field]: decision.value },
        ];
  let issues: { path: string; message: string }[] = [];
  for (const candidate of candidates) {
    if (utf8.encode(JSON.stringify(candidate ?? null)).byteLength > MAX_EVENT_DATA_BYTES) {
      throw new ApiError("unprocessable", `The correction is larger than ${MAX_EVENT_DATA_BYTES} bytes`);
    }
    const parsed = parseEventData(eventType, entityType, candidate);
    if (!parsed.ok) {
      if (issues.length === 0) issues = parsed.issues;
      continue;
    }
    const paths = parsed.facts.map((f) => f.path);
    if (paths.includes(payload.path) && paths.every((p) => allowed.has(p))) return parsed.data;
    issues = [
      {
        path: decision.data !== undefined ? "data" : "value",
        message: `the correction must describe ${payload.path} (it describes ${paths.join(", ") || "nothing"})`,
      },
    ];
  }
  throw new ApiError("unprocessable", `The correction is not valid for ${payload.event_type}`, { issues });
}

/** Approving a match merges the two entities (the older stays canonical); rejecting changes nothing else. */
async function matchDecision(
  db: Db,
  workspaceId: string,
  item: ReviewItemRow,
  payload: EntityMatchPayload,
  decision: ReviewDecision,
): Promise<Decided> {
  if (decision.action === "correct") {
    throw new ApiError("unprocessable", "An entity match can be approved or rejected, not corrected");
  }
  if (decision.action === "reject") return { eventId: null, statements: [] };
  const pair = await findEntities(db, workspaceId, [item.entityId, payload.candidate_id]);
  // Either side may have been merged elsewhere since: merge where they now live.
  const canonicalIds = [...new Set(pair.map((e) => e.mergedInto ?? e.id))];
  const canonical = await findEntities(db, workspaceId, canonicalIds);
  if (canonical.length !== 2) return { eventId: null, statements: [] };
  const order = mergeOrder(canonical[0]!, canonical[1]!);
  return {
    eventId: null,
    statements: mergeStatements(db, workspaceId, order, {
      confidence: payload.match_confidence,
      source: "review",
      details: { matched_on: payload.matched_on, automatic: false, review_item_id: item.id },
    }),
    merge: { ...order, entityType: canonical[0]!.entityType },
  };
}
