/**
 * The verification pipeline for facts extracted from a conversation (or a surface): each enters at its
 * basis confidence (0.5 or lower), the judge checks it against the caller's own words and what we
 * already hold, a verified fact is promoted to `judge_verified`, and every fact goes to the human review
 * queue with its verdict and evidence. Only a person's approval (0.95) or correction (1.0) reaches the
 * writeback threshold. Re-submitting the same interaction changes nothing (idempotency keys).
 */

import { canonicalJson } from "../../shared/audit/chain";
import { sha256Hex } from "../../shared/encoding";
import type { ExtractionRequest } from "../../shared/schemas/world";
import { confidenceFor } from "../../shared/world/confidence";
import { type EventType, parseEventData } from "../../shared/world/events";
import { judge } from "../../shared/world/verification";
import { appendAudit } from "../db/audit";
import { database } from "../db/client";
import { findEntity } from "../db/world";
import { ApiError } from "../errors";
import { type IngestActor, ingestEvents, worldSettings } from "./ingest";
import { factReviewInsert } from "./review-items";
import { entityState } from "./state";

const MAX_EXTRACTED_CONFIDENCE = 0.5;

export async function submitExtractions(
  env: Env,
  workspaceId: string,
  request: ExtractionRequest,
  actor: IngestActor,
) {
  const db = database(env.DB);
  const entity = await findEntity(db, workspaceId, request.entity_id);
  if (!entity) throw new ApiError("not_found", "Entity not found");
  const entityId = entity.mergedInto ?? entity.id;
  const settings = await worldSettings(db, workspaceId);
  const before = await entityState(env, workspaceId, { id: entityId, entityType: entity.entityType });

  const prepared = await Promise.all(
    request.facts.map(async (f, index) => {
      const parsed = parseEventData(f.event_type as EventType, entity.entityType as never, f.data);
      if (!parsed.ok) return { index, issues: parsed.issues };
      const digest = (await sha256Hex(canonicalJson(parsed.data))).slice(0, 24);
      return {
        index,
        fact: f,
        data: parsed.data,
        facts: parsed.facts,
        key: `extract:${request.interaction_id}:${f.event_type}:${digest}`,
      };
    }),
  );
  const issues = prepared.flatMap((p) =>
    "issues" in p ? p.issues!.map((i) => ({ index: p.index, ...i })) : [],
  );
  if (issues.length > 0)
    throw new ApiError("unprocessable", `${issues.length} invalid fact(s): nothing was stored`, { issues });
  const valid = prepared.filter((p): p is Extract<typeof p, { key: string }> => "key" in p);

  const extracted = await ingestEvents(
    env,
    workspaceId,
    valid.map((p) => ({
      idempotency_key: p.key,
      entity_id: entityId,
      event_type: p.fact.event_type,
      data: p.data,
      confidence: Math.min(MAX_EXTRACTED_CONFIDENCE, confidenceFor(p.fact.basis, settings)),
      source: request.channel,
      produced_by: `interaction:${request.interaction_id}`,
    })),
    actor,
  );

  const results = [];
  for (const [i, p] of valid.entries()) {
    const extractedEvent = extracted.results[i]!;
    const path = p.facts[0]?.path ?? p.fact.event_type;
    const verdict = judge({ path, value: p.facts[0]?.value ?? null }, request.transcript, before.facts[path]);
    let promotedEventId: string | null = null;
    if (verdict.verified) {
      const promoted = await ingestEvents(
        env,
        workspaceId,
        [
          {
            idempotency_key: `judge:${extractedEvent.event_id}`,
            entity_id: entityId,
            event_type: p.fact.event_type,
            data: p.data,
            confidence: confidenceFor("judge_verified", settings),
            source: "system",
            produced_by: "judge:deterministic",
            supersedes: extractedEvent.event_id,
          },
        ],
        { actorType: "system", actorId: null, requestId: actor.requestId ?? null },
      );
      promotedEventId = promoted.results[0]!.event_id;
    }
    let reviewItemId: string | null = null;
    if (extractedEvent.status === "stored") {
      const review = await factReviewInsert(env, db, workspaceId, {
        entityId,
        eventId: extractedEvent.event_id,
        domain: p.fact.event_type.split(".")[0]!,
        payload: {
          kind: "fact",
          path,
          proposed_value: p.facts[0]?.value ?? null,
          event_type: p.fact.event_type,
          event_data: p.data,
          verdict,
          interaction_id: request.interaction_id,
          promoted_event_id: promotedEventId,
        },
      });
      await appendAudit(
        db,
        {
          workspaceId,
          actorType: "system",
          actorId: null,
          requestId: actor.requestId ?? null,
          action: "world.fact_judged",
          targetType: "event",
          targetId: extractedEvent.event_id,
          details: {
            path,
            verified: verdict.verified,
            priority: verdict.priority,
            reasons: verdict.reasons,
            review_item_id: review.id,
          },
        },
        [review.statement],
      );
      reviewItemId = review.id;
    }
    results.push({
      path,
      extracted_event_id: extractedEvent.event_id,
      promoted_event_id: promotedEventId,
      review_item_id: reviewItemId,
      verified: verdict.verified,
      priority: verdict.priority,
      reasons: verdict.reasons,
    });
  }
  return { results };
}
