/**
 * `/v1/{workspace_id}/review/...`: the human review queue. Facts the verification judge could not settle
 * (or that need a person before writeback) and uncertain entity matches wait here, highest priority and
 * oldest first. Viewers read; operators claim and decide. Decisions become world events
 * (`workers/world/review-actions.ts`), never edits.
 */
import type { Context } from "hono";
import { z } from "zod";
import { utf8 } from "../../shared/encoding";
import {
  ErrorBodySchema,
  listOf,
  PageQuery,
  ResourceId,
  Timestamp,
  WorkspaceItemParams,
  WorkspaceParams,
} from "../../shared/schemas/common";
import { ReviewStatsSchema } from "../../shared/schemas/review";
import { MAX_EVENT_DATA_BYTES } from "../../shared/schemas/world";
import type { ReviewPriority } from "../../shared/world/verification";
import { database } from "../db/client";
import {
  CLAIM_TTL_MS,
  DECIDED_STATUSES,
  findReviewItem,
  listReviewItems,
  type QueueKey,
  type ReviewFilter,
  type ReviewItemRow,
} from "../db/review";
import { findEntities, findEntity } from "../db/world";
import type { AppEnv } from "../env";
import { ApiError, notFound } from "../errors";
import { openDisplayName } from "../world/codec";
import {
  claimReviewItem,
  type DecidedPayload,
  decideReviewItem,
  type ReviewDecision,
  type Reviewer,
  unclaimReviewItem,
} from "../world/review-actions";
import { openReviewPayload, PRIORITY_RANK, priorityName, reviewStatsOf } from "../world/review-items";
import { entityState } from "../world/state";
import { decodeToken, encodeToken } from "./pagination";
import { jsonBody, jsonResponse, router, workspaceRoute } from "./router";

const tags = ["Review"];

const PRIORITIES = ["high", "medium", "low"] as const satisfies readonly ReviewPriority[];
const STATUSES = ["pending", ...DECIDED_STATUSES] as const;
const KINDS = ["fact", "entity_match"] as const;
const BATCH_MAX = 100;

const ReviewItemSchema = z
  .object({
    id: z.string(),
    kind: z.enum(KINDS),
    entity_id: z.string(),
    subject_id: z
      .string()
      .meta({ description: "The proposed event (fact) or the entity pair (entity_match)" }),
    path: z.string().nullable(),
    domain: z.string(),
    priority: z.enum(PRIORITIES),
    status: z.enum(STATUSES),
    claimed_by: z.string().nullable().meta({ description: "A user or API key id" }),
    claimed_at: Timestamp.nullable(),
    claim_expires_at: Timestamp.nullable(),
    decided_by: z.string().nullable(),
    decided_at: Timestamp.nullable(),
    decision_event_id: z.string().nullable(),
    created_at: Timestamp,
  })
  .meta({ id: "ReviewItem" });

const ReviewQueueItemSchema = ReviewItemSchema.extend({
  entity_display_name: z.string().nullable(),
  proposed_value: z.unknown().meta({ description: "The proposed fact value (null for entity matches)" }),
  candidate_id: z.string().nullable().meta({ description: "The other entity of an entity match" }),
}).meta({ id: "ReviewQueueItem" });

const ReviewQueue = listOf(ReviewQueueItemSchema, "ReviewQueue");

const EntityRefSchema = z.object({
  id: z.string(),
  entity_type: z.string(),
  display_name: z.string().nullable(),
  merged_into: z.string().nullable(),
});

const ReviewDiffSchema = z
  .object({
    item: ReviewItemSchema,
    entity: EntityRefSchema,
    proposed: z
      .object({ event_type: z.string(), data: z.unknown(), value: z.unknown() })
      .nullable()
      .meta({ description: "The proposed fact (null for entity matches)" }),
    current: z
      .object({
        value: z.unknown(),
        confidence: z.number(),
        source: z.string(),
        effective_at: Timestamp,
        event_id: z.string(),
        from_this_proposal: z
          .boolean()
          .meta({ description: "The projected value is this proposal's own (or its decision's)" }),
      })
      .nullable()
      .meta({ description: "The entity's projected value at the path now" }),
    verdict: z
      .object({
        supported: z.boolean(),
        verified: z.boolean(),
        priority: z.enum(PRIORITIES),
        reasons: z.array(z.string()),
        contradicts: z.object({ value: z.unknown(), confidence: z.number(), source: z.string() }).nullable(),
      })
      .nullable(),
    evidence: z
      .object({
        caller_words: z.string().nullable(),
        interaction_id: z.string().nullable(),
        extracted_event_id: z.string(),
      })
      .nullable(),
    candidate: EntityRefSchema.extend({
      match_confidence: z.number(),
      matched_on: z.array(z.string()),
    })
      .nullable()
      .meta({ description: "The other entity of an entity match" }),
    rejection_reason: z.string().nullable(),
  })
  .meta({ id: "ReviewDiff" });

const ReviewListQuery = PageQuery.extend({
  status: z.enum(STATUSES).default("pending"),
  priority: z.enum(PRIORITIES).optional(),
  kind: z.enum(KINDS).optional(),
  domain: z
    .string()
    .regex(/^[a-z_]{1,40}$/)
    .optional(),
  entity_id: ResourceId.optional(),
  claimed: z
    .enum(["true", "false"])
    .transform((v) => v === "true")
    .optional()
    .meta({ description: "true: held by a live claim; false: free to claim" }),
});

const Reason = z.string().trim().min(1).max(1000);

const CorrectBody = z
  .strictObject({
    data: z.unknown().optional().meta({ description: "The corrected event data" }),
    value: z.unknown().optional().meta({ description: "Or: the corrected value at the item's path" }),
  })
  .refine((b) => (b.data === undefined) !== (b.value === undefined), "give exactly one of data or value")
  .refine(
    (b) => utf8.encode(JSON.stringify(b.data ?? b.value ?? null)).byteLength <= MAX_EVENT_DATA_BYTES,
    `the correction is larger than ${MAX_EVENT_DATA_BYTES} bytes`,
  );

const RejectBody = z.strictObject({ reason: Reason });

const BatchIds = z
  .array(ResourceId)
  .min(1)
  .max(BATCH_MAX)
  .refine((ids) => new Set(ids).size === ids.length, "ids must not repeat");

const BatchBody = z.discriminatedUnion("action", [
  z.strictObject({ action: z.literal("approve"), ids: BatchIds }),
  z.strictObject({ action: z.literal("reject"), ids: BatchIds, reason: Reason }),
]);

const BatchResult = z
  .object({
    results: z.array(
      z.object({
        id: z.string(),
        ok: z.boolean(),
        status: z.enum(STATUSES).nullable().meta({ description: "The item's status after the action" }),
        error: z.object({ code: z.string(), message: z.string() }).nullable(),
      }),
    ),
    succeeded: z.number().int(),
    failed: z.number().int(),
  })
  .meta({ id: "ReviewBatchResult" });

function reviewerOf(c: Context<AppEnv>): Reviewer {
  const principal = c.get("principal");
  return {
    kind: principal.kind,
    id: principal.kind === "user" ? principal.userId : principal.keyId,
    role: c.get("access").role,
    requestId: c.get("requestId"),
  };
}

function itemView(row: ReviewItemRow): z.infer<typeof ReviewItemSchema> {
  return {
    id: row.id,
    kind: row.kind,
    entity_id: row.entityId,
    subject_id: row.subjectId,
    path: row.path,
    domain: row.domain,
    priority: priorityName(row.priority),
    status: row.status,
    claimed_by: row.claimedBy,
    claimed_at: row.claimedAt,
    claim_expires_at: row.claimedAt ? new Date(Date.parse(row.claimedAt) + CLAIM_TTL_MS).toISOString() : null,
    decided_by: row.decidedBy,
    decided_at: row.decidedAt,
    decision_event_id: row.decisionEventId,
    created_at: row.createdAt,
  };
}

async function queueView(env: Env, workspaceId: string, rows: ReviewItemRow[]) {
  const entities = new Map(
    (await findEntities(database(env.DB), workspaceId, [...new Set(rows.map((r) => r.entityId))])).map(
      (e) => [e.id, e],
    ),
  );
  return Promise.all(
    rows.map(async (row): Promise<z.infer<typeof ReviewQueueItemSchema>> => {
      const payload = await openReviewPayload(env, row);
      const entity = entities.get(row.entityId);
      return {
        ...itemView(row),
        entity_display_name: entity
          ? await openDisplayName(env, workspaceId, entity.id, entity.displayNameEnc)
          : null,
        proposed_value: payload.kind === "fact" ? payload.proposed_value : null,
        candidate_id: payload.kind === "entity_match" ? payload.candidate_id : null,
      };
    }),
  );
}

/** Reads the keyset token of a previous page: the (priority, created_at, id) of its last row. */
function queueKey(token: string | undefined): QueueKey | undefined {
  if (!token) return undefined;
  const key = decodeToken(token);
  if (
    key.length !== 3 ||
    typeof key[0] !== "number" ||
    typeof key[1] !== "string" ||
    typeof key[2] !== "string"
  ) {
    throw new ApiError("invalid_continuation_token", "The continuation_token is not one this API issued");
  }
  return [key[0], key[1], key[2]];
}

async function queuePage(
  c: Context<AppEnv>,
  workspaceId: string,
  filter: ReviewFilter,
  page: z.infer<typeof PageQuery>,
) {
  const { rows, total } = await listReviewItems(database(c.env.DB), workspaceId, filter, new Date(), {
    limit: page.limit,
    offset: page.offset,
    after: queueKey(page.continuation_token),
  });
  const last = rows.at(-1);
  return {
    results: await queueView(c.env, workspaceId, rows),
    total,
    continuation_token:
      rows.length === page.limit && last ? encodeToken([last.priority, last.createdAt, last.id]) : null,
  };
}

async function entityRef(env: Env, workspaceId: string, id: string) {
  const row = await findEntity(database(env.DB), workspaceId, id);
  return {
    row,
    ref: {
      id,
      entity_type: row?.entityType ?? "patient",
      display_name: row ? await openDisplayName(env, workspaceId, row.id, row.displayNameEnc) : null,
      merged_into: row?.mergedInto ?? null,
    },
  };
}

async function diffView(
  env: Env,
  workspaceId: string,
  item: ReviewItemRow,
): Promise<z.infer<typeof ReviewDiffSchema>> {
  const payload: DecidedPayload = await openReviewPayload(env, item);
  const { row, ref } = await entityRef(env, workspaceId, item.entityId);
  const base = {
    item: itemView(item),
    entity: ref,
    rejection_reason: payload.rejection_reason ?? null,
  };
  if (payload.kind === "entity_match") {
    const candidate = await entityRef(env, workspaceId, payload.candidate_id);
    return {
      ...base,
      proposed: null,
      current: null,
      verdict: null,
      evidence: null,
      candidate: {
        ...candidate.ref,
        match_confidence: payload.match_confidence,
        matched_on: payload.matched_on,
      },
    };
  }
  const state = row
    ? await entityState(env, workspaceId, { id: row.mergedInto ?? row.id, entityType: row.entityType })
    : null;
  const current = state?.facts[payload.path];
  const ownEvents = new Set([item.subjectId, payload.promoted_event_id, item.decisionEventId]);
  const { verdict } = payload;
  return {
    ...base,
    proposed: { event_type: payload.event_type, data: payload.event_data, value: payload.proposed_value },
    current: current
      ? {
          value: current.value,
          confidence: current.confidence,
          source: current.source,
          effective_at: current.effectiveAt,
          event_id: current.eventId,
          from_this_proposal: ownEvents.has(current.eventId),
        }
      : null,
    verdict: {
      supported: verdict.supported,
      verified: verdict.verified,
      priority: verdict.priority,
      reasons: verdict.reasons,
      contradicts: verdict.contradicts,
    },
    evidence: {
      caller_words: verdict.evidence,
      interaction_id: payload.interaction_id,
      extracted_event_id: item.subjectId,
    },
    candidate: null,
  };
}

/** Runs one item's action for a batch: its own change is atomic, its failure is reported, not thrown. */
async function batchOutcome(id: string, run: () => Promise<ReviewItemRow>, requestId: string) {
  try {
    const row = await run();
    return { id, ok: true, status: row.status, error: null };
  } catch (err) {
    if (err instanceof ApiError) {
      return { id, ok: false, status: null, error: { code: err.code, message: err.message } };
    }
    console.error(
      JSON.stringify({ level: "error", requestId, event: "review.batch_item_failed", review_item_id: id }),
    );
    return { id, ok: false, status: null, error: { code: "internal_error", message: "Internal error" } };
  }
}

const conflictResponse = (description: string) => jsonResponse(ErrorBodySchema, description);

const decisionResponses = {
  200: jsonResponse(ReviewItemSchema, "The decided item"),
  409: conflictResponse("Already decided, or claimed by someone else"),
  422: conflictResponse("A correction that does not fit the item"),
};

export const reviewApi = router()
  .openapi(
    workspaceRoute("viewer", {
      method: "get",
      path: "/v1/{workspace_id}/review",
      tags,
      summary: "The review queue, highest priority and oldest first",
      request: { params: WorkspaceParams, query: ReviewListQuery },
      responses: { 200: jsonResponse(ReviewQueue, "Review items") },
    }),
    async (c) => {
      const { workspace_id } = c.req.valid("param");
      const q = c.req.valid("query");
      const filter: ReviewFilter = {
        status: q.status,
        priority: q.priority ? PRIORITY_RANK[q.priority] : undefined,
        kind: q.kind,
        domain: q.domain,
        entityId: q.entity_id,
        claimed: q.claimed,
      };
      return c.json(await queuePage(c, workspace_id, filter, q), 200);
    },
  )
  .openapi(
    workspaceRoute("viewer", {
      method: "get",
      path: "/v1/{workspace_id}/review/my-queue",
      tags,
      summary: "Pending items the caller holds a live claim on",
      request: { params: WorkspaceParams, query: PageQuery },
      responses: { 200: jsonResponse(ReviewQueue, "Review items") },
    }),
    async (c) => {
      const { workspace_id } = c.req.valid("param");
      const filter: ReviewFilter = { status: "pending", claimedBy: reviewerOf(c).id };
      return c.json(await queuePage(c, workspace_id, filter, c.req.valid("query")), 200);
    },
  )
  .openapi(
    workspaceRoute("viewer", {
      method: "get",
      path: "/v1/{workspace_id}/review/stats",
      tags,
      summary: "Queue depth, and decisions over the last 7 days",
      request: { params: WorkspaceParams },
      responses: { 200: jsonResponse(ReviewStatsSchema, "Review statistics") },
    }),
    async (c) => {
      const { workspace_id } = c.req.valid("param");
      return c.json(await reviewStatsOf(database(c.env.DB), workspace_id), 200);
    },
  )
  .openapi(
    workspaceRoute("operator", {
      method: "post",
      path: "/v1/{workspace_id}/review/batch",
      tags,
      summary: "Approve or reject up to 100 items",
      description:
        "Each id is processed like the single action and atomically on its own; one failing id does not " +
        "stop the others. The answer reports every id's outcome.",
      request: { params: WorkspaceParams, body: jsonBody(BatchBody) },
      responses: { 200: jsonResponse(BatchResult, "Per-id outcomes") },
    }),
    async (c) => {
      const { workspace_id } = c.req.valid("param");
      const body = c.req.valid("json");
      const reviewer = reviewerOf(c);
      const decision: ReviewDecision =
        body.action === "approve" ? { action: "approve" } : { action: "reject", reason: body.reason };
      const results = [];
      // One at a time: every decision appends to the workspace's audit chain anyway.
      for (const id of body.ids) {
        results.push(
          await batchOutcome(
            id,
            () => decideReviewItem(c.env, workspace_id, id, decision, reviewer),
            c.get("requestId"),
          ),
        );
      }
      const succeeded = results.filter((r) => r.ok).length;
      return c.json({ results, succeeded, failed: results.length - succeeded }, 200);
    },
  )
  .openapi(
    workspaceRoute("viewer", {
      method: "get",
      path: "/v1/{workspace_id}/review/{id}",
      tags,
      summary: "A review item: proposed value, current value, the judge's verdict and evidence",
      request: { params: WorkspaceItemParams },
      responses: { 200: jsonResponse(ReviewDiffSchema, "The item and its diff") },
    }),
    async (c) => {
      const { workspace_id, id } = c.req.valid("param");
      const item = await findReviewItem(database(c.env.DB), workspace_id, id);
      if (!item) throw notFound("Review item");
      return c.json(await diffView(c.env, workspace_id, item), 200);
    },
  )
  .openapi(
    workspaceRoute("operator", {
      method: "post",
      path: "/v1/{workspace_id}/review/{id}/claim",
      tags,
      summary: "Claim an item for 30 minutes (re-claiming refreshes the claim)",
      request: { params: WorkspaceItemParams },
      responses: {
        200: jsonResponse(ReviewItemSchema, "The claimed item"),
        409: conflictResponse("Decided, or claimed by someone else"),
      },
    }),
    async (c) => {
      const { workspace_id, id } = c.req.valid("param");
      return c.json(itemView(await claimReviewItem(c.env, workspace_id, id, reviewerOf(c))), 200);
    },
  )
  .openapi(
    workspaceRoute("operator", {
      method: "post",
      path: "/v1/{workspace_id}/review/{id}/unclaim",
      tags,
      summary: "Release a claim (the claimer, or an admin)",
      request: { params: WorkspaceItemParams },
      responses: {
        200: jsonResponse(ReviewItemSchema, "The released item"),
        409: conflictResponse("Decided, or not claimed"),
      },
    }),
    async (c) => {
      const { workspace_id, id } = c.req.valid("param");
      return c.json(itemView(await unclaimReviewItem(c.env, workspace_id, id, reviewerOf(c))), 200);
    },
  )
  .openapi(
    workspaceRoute("operator", {
      method: "post",
      path: "/v1/{workspace_id}/review/{id}/approve",
      tags,
      summary: "Approve: a fact is recorded at review_approve confidence (0.95); an entity match is merged",
      request: { params: WorkspaceItemParams },
      responses: decisionResponses,
    }),
    async (c) => {
      const { workspace_id, id } = c.req.valid("param");
      const item = await decideReviewItem(c.env, workspace_id, id, { action: "approve" }, reviewerOf(c));
      return c.json(itemView(item), 200);
    },
  )
  .openapi(
    workspaceRoute("operator", {
      method: "post",
      path: "/v1/{workspace_id}/review/{id}/correct",
      tags,
      summary: "Correct a fact: the reviewer's value is recorded at review_correct confidence (1.0)",
      description:
        "Send the corrected event `data`, or just the `value` at the item's path. It must describe the same " +
        "path. Entity matches cannot be corrected (422).",
      request: { params: WorkspaceItemParams, body: jsonBody(CorrectBody) },
      responses: decisionResponses,
    }),
    async (c) => {
      const { workspace_id, id } = c.req.valid("param");
      const correction = c.req.valid("json");
      const item = await decideReviewItem(
        c.env,
        workspace_id,
        id,
        { action: "correct", data: correction.data, value: correction.value },
        reviewerOf(c),
      );
      return c.json(itemView(item), 200);
    },
  )
  .openapi(
    workspaceRoute("operator", {
      method: "post",
      path: "/v1/{workspace_id}/review/{id}/reject",
      tags,
      summary: "Reject, with a reason: a fact is recorded at confidence 0 and never written back",
      request: { params: WorkspaceItemParams, body: jsonBody(RejectBody) },
      responses: decisionResponses,
    }),
    async (c) => {
      const { workspace_id, id } = c.req.valid("param");
      const { reason } = c.req.valid("json");
      const item = await decideReviewItem(
        c.env,
        workspace_id,
        id,
        { action: "reject", reason },
        reviewerOf(c),
      );
      return c.json(itemView(item), 200);
    },
  );
