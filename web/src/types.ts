/**
 * The API's shapes as the dashboard sees them, inferred from the shared zod schemas. Type-only imports:
 * zod itself never reaches the bundle.
 */
import type { z } from "zod";
import type { ErrorBody } from "../../shared/api/errors";
import type {
  ApiKeyCreated,
  ApiKeySchema,
  AuditEntrySchema,
  MemberSchema,
  SessionSchema,
} from "../../shared/schemas/identity";
import type {
  BriefingSchema,
  CallOverlaySchema,
  LiveControlSchema,
  OperatorMetricsSchema,
  OperatorSchema,
  QueueEntrySchema,
  QueueSchema,
  WrapupSchema,
} from "../../shared/schemas/operators";
import type { PhoneNumberSchema, ServiceSchema, WorkspaceSchema } from "../../shared/schemas/tenancy";
import type {
  EdgeSchema,
  EntityDetailSchema,
  EntitySearchResult as EntitySearchResultSchema,
  EntitySummarySchema,
  FactSchema,
} from "../../shared/schemas/world";
import type { EntityType as WorldEntityType, Source as WorldSource } from "../../shared/world/events";
import type { PatientMemorySchema } from "../../shared/world/memory";

export type { ErrorCode } from "../../shared/api/errors";
export type { Role } from "../../shared/auth/roles";

export type Session = z.infer<typeof SessionSchema>;
export type SessionWorkspace = Session["workspaces"][number];
export type Workspace = z.infer<typeof WorkspaceSchema>;
export type Service = z.infer<typeof ServiceSchema>;
export type PhoneNumber = z.infer<typeof PhoneNumberSchema>;
export type Member = z.infer<typeof MemberSchema>;
export type ApiKey = z.infer<typeof ApiKeySchema>;
export type NewApiKey = z.infer<typeof ApiKeyCreated>;
export type ApiErrorBody = ErrorBody;
export type AuditEntry = z.infer<typeof AuditEntrySchema>;

// ---------- Operators ----------

export type { WorkspaceEvent, WorkspaceEventType } from "../../shared/events/workspace-events";
export type { ListenFrame, LivePoint, LiveTurn, LiveView } from "../../shared/operators/live";
export type Operator = z.infer<typeof OperatorSchema>;
export type CallOverlay = z.infer<typeof CallOverlaySchema>;
export type QueueEntry = z.infer<typeof QueueEntrySchema>;
export type Queue = z.infer<typeof QueueSchema>;
export type Briefing = z.infer<typeof BriefingSchema>;
export type LiveControl = z.infer<typeof LiveControlSchema>;
export type Wrapup = z.infer<typeof WrapupSchema>;
export type OperatorMetrics = z.infer<typeof OperatorMetricsSchema>;

// ---------- World model ----------

export type EntityType = WorldEntityType;
export type Source = WorldSource;
export type Fact = z.infer<typeof FactSchema>;
export type Edge = z.infer<typeof EdgeSchema>;
export type EntitySummary = z.infer<typeof EntitySummarySchema>;
export type EntityDetail = z.infer<typeof EntityDetailSchema>;
export type EntitySearchResult = z.infer<typeof EntitySearchResultSchema>;
export type PatientMemory = z.infer<typeof PatientMemorySchema>;

/**
 * The shapes below mirror schemas that live beside their routes in `workers/api/world.ts`,
 * `workers/api/memory.ts` and `workers/api/review.ts` (not in `shared/schemas/`), so they cannot be
 * inferred here without pulling Worker types into the dashboard. Keep them in step with those files.
 */

/** `GET /world/entities/{id}/provenance`: every candidate per path, winner first. */
export interface Provenance {
  entity_id: string;
  sources: { source: string; source_system: string | null; events: number }[];
  confidence_history: { path: string; candidates: (Fact & { superseded: boolean })[] }[];
  merge_history: Edge[];
}

/** `GET /world/entities/{id}/lineage`: provenance, writeback and reviews. */
export interface Lineage extends Provenance {
  outbound: {
    event_id: string;
    event_type: string;
    sync_status: string;
    fhir_resource_type: string | null;
  }[];
  reviews: {
    id: string;
    path: string | null;
    status: string;
    priority: number;
    created_at: string;
    decided_at: string | null;
  }[];
  audit: { seq: number; action: string; actor_type: string; created_at: string }[];
}

/** `GET /world/entities/{id}/memory/interactions/{interaction_id}`, the parts the dashboard reads. */
export interface InteractionMemories {
  interaction_id: string;
  interaction: Record<string, unknown> | null;
  transcript: { speaker: "caller" | "agent" | "operator"; text: string; at: string }[] | null;
}

export type ReviewPriority = "high" | "medium" | "low";
export type ReviewStatus = "pending" | "approved" | "corrected" | "rejected";
export type ReviewKind = "fact" | "entity_match";

export interface ReviewItem {
  id: string;
  kind: ReviewKind;
  entity_id: string;
  subject_id: string;
  path: string | null;
  domain: string;
  priority: ReviewPriority;
  status: ReviewStatus;
  claimed_by: string | null;
  claimed_at: string | null;
  claim_expires_at: string | null;
  decided_by: string | null;
  decided_at: string | null;
  decision_event_id: string | null;
  created_at: string;
}

export interface ReviewQueueItem extends ReviewItem {
  entity_display_name: string | null;
  proposed_value: unknown;
  candidate_id: string | null;
}

interface EntityRef {
  id: string;
  entity_type: string;
  display_name: string | null;
  merged_into: string | null;
}

/** `GET /review/{id}`: proposed vs current vs evidence, and the judge's verdict. */
export interface ReviewDiff {
  item: ReviewItem;
  entity: EntityRef;
  proposed: { event_type: string; data: unknown; value: unknown } | null;
  current: {
    value: unknown;
    confidence: number;
    source: string;
    effective_at: string;
    event_id: string;
    from_this_proposal: boolean;
  } | null;
  verdict: {
    supported: boolean;
    verified: boolean;
    priority: ReviewPriority;
    reasons: string[];
    contradicts: { value: unknown; confidence: number; source: string } | null;
  } | null;
  evidence: { caller_words: string | null; interaction_id: string | null; extracted_event_id: string } | null;
  candidate: (EntityRef & { match_confidence: number; matched_on: string[] }) | null;
  rejection_reason: string | null;
}

export interface ReviewStats {
  queue_depth: number;
  pending_by_priority: Record<ReviewPriority, number>;
  last_7_days: {
    since: string;
    approved: number;
    corrected: number;
    rejected: number;
    average_review_seconds: number | null;
  };
}

export interface ReviewBatchResult {
  results: {
    id: string;
    ok: boolean;
    status: ReviewStatus | null;
    error: { code: string; message: string } | null;
  }[];
  succeeded: number;
  failed: number;
}

/** Every list endpoint answers this page shape (`listOf` in shared/schemas/common.ts). */
export interface ListPage<T> {
  results: T[];
  total: number;
  continuation_token: string | null;
}
