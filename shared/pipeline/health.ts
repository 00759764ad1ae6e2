/**
 * The rules behind `GET /pipeline/status`, pure so they are tested without a runtime. They read only
 * what D1 holds about the connector (its sources' last polls, errors, the sync log), so they answer the
 * same whether the EHR is up or not: an EHR that is down shows as a source in `error` or overdue.
 *
 * - `unavailable`: no enabled source; nothing feeds the world model from an EHR.
 * - `degraded`: an enabled source in `error`; an enabled polling source overdue (its last poll, or its
 *   creation when it never polled, is older than twice its interval, counting only business hours when
 *   it has a gate); any failed write-back; or a write-back waiting for more than 15 minutes (a pending
 *   sync event, or a fact eligible for write-back that was not scheduled although a sink exists).
 * - `starting`: enabled sources, none of which has completed a poll or received a notification yet.
 * - `healthy`: none of the above.
 */
import { type BusinessHours, openedAt } from "../ehr/business-hours";
import type { DataSourceType } from "../ehr/vocabulary";
import type { DEGRADED_REASONS, PipelineHealth } from "../schemas/pipeline";

/** A pending write-back older than this means the writeback loop is not keeping up. */
export const WRITEBACK_STALL_SECONDS = 15 * 60;
/** A polling source is overdue after this many of its intervals without a poll. */
export const OVERDUE_INTERVALS = 2;

/** What the rules need of a source. */
export interface SourceFacts {
  id: string;
  name: string;
  type: DataSourceType;
  enabled: boolean;
  status: string;
  pollIntervalSeconds: number;
  businessHours: BusinessHours | null;
  lastPollAt: string | null;
  lastSuccessAt: string | null;
  lastNotificationAt: string | null;
  createdAt: string;
}

export interface Reason {
  code: (typeof DEGRADED_REASONS)[number];
  source_id: string | null;
  message: string;
}

/**
 * An enabled polling source is overdue when more than `OVERDUE_INTERVALS` intervals passed since its
 * last poll (or its creation, before the first poll). Behind a business-hours gate, time outside the
 * current window does not count: no source is overdue while closed, nor for last night's gap.
 */
export function isOverdue(source: SourceFacts, now: Date): boolean {
  if (!source.enabled || source.type !== "fhir_store") return false;
  let reference = Date.parse(source.lastPollAt ?? source.createdAt);
  if (source.businessHours) {
    const opened = openedAt(source.businessHours, now);
    if (!opened) return false;
    reference = Math.max(reference, opened.getTime());
  }
  return now.getTime() - reference > OVERDUE_INTERVALS * source.pollIntervalSeconds * 1000;
}

export function pipelineHealth(input: {
  sources: SourceFacts[];
  failedSyncs: number;
  /** The oldest write-back still waiting to be sent. */
  oldestPendingAt: string | null;
  now: Date;
}): { status: PipelineHealth; reasons: Reason[] } {
  const enabled = input.sources.filter((s) => s.enabled);
  if (enabled.length === 0) return { status: "unavailable", reasons: [] };
  const reasons: Reason[] = [];
  for (const source of enabled) {
    if (source.status === "error") {
      reasons.push({ code: "source_error", source_id: source.id, message: `${source.name} is in error` });
    } else if (isOverdue(source, input.now)) {
      reasons.push({
        code: "source_overdue",
        source_id: source.id,
        message: `${source.name} has not polled for more than ${OVERDUE_INTERVALS} intervals`,
      });
    }
  }
  if (input.failedSyncs > 0) {
    reasons.push({
      code: "sync_failed",
      source_id: null,
      message: `${input.failedSyncs} write-back${input.failedSyncs === 1 ? "" : "s"} failed`,
    });
  }
  if (
    input.oldestPendingAt &&
    input.now.getTime() - Date.parse(input.oldestPendingAt) > WRITEBACK_STALL_SECONDS * 1000
  ) {
    reasons.push({
      code: "writeback_stalled",
      source_id: null,
      message: `A write-back has been waiting for more than ${WRITEBACK_STALL_SECONDS / 60} minutes`,
    });
  }
  if (reasons.length > 0) return { status: "degraded", reasons };
  const started = enabled.some((s) => s.lastSuccessAt || s.lastNotificationAt || s.lastPollAt);
  return { status: started ? "healthy" : "starting", reasons };
}
