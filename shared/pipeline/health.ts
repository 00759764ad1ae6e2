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
import type { DEGRADED_REASONS, PipelineHealth } from "../schemas/pipeline";

/** A pending write-back older than this means the writeback loop is not keeping up. */
export const WRITEBACK_STALL_SECONDS = 15 * 60;
/** A polling source is overdue after this many of its intervals without a poll. */
export const OVERDUE_INTERVALS = 2;

/** The business-hours gate as stored on a data source (see `BusinessHours` in workers/ehr/contracts.ts). */
export interface BusinessHoursGate {
  timezone: string;
  /** ISO weekdays, 1 = Monday … 7 = Sunday. */
  days: number[];
  /** `HH:MM`, 24-hour. */
  start: string;
  end: string;
}

/** What the rules need of a source. */
export interface SourceFacts {
  id: string;
  name: string;
  type: "fhir_store" | "fhir_webhook";
  enabled: boolean;
  status: string;
  pollIntervalSeconds: number;
  businessHours: BusinessHoursGate | null;
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

const WEEKDAYS: Record<string, number> = { Mon: 1, Tue: 2, Wed: 3, Thu: 4, Fri: 5, Sat: 6, Sun: 7 };

const minutesOf = (hhmm: string) => {
  const [h, m] = hhmm.split(":").map(Number);
  return (h ?? 0) * 60 + (m ?? 0);
};

/** The local weekday and minute of the day at `at` in `timezone`. */
function localClock(timezone: string, at: Date): { weekday: number; minute: number } {
  const parts = new Intl.DateTimeFormat("en-US", {
    timeZone: timezone,
    weekday: "short",
    hour: "2-digit",
    minute: "2-digit",
    hourCycle: "h23",
  }).formatToParts(at);
  const part = (type: string) => parts.find((p) => p.type === type)?.value ?? "";
  return {
    weekday: WEEKDAYS[part("weekday")] ?? 1,
    minute: Number(part("hour")) * 60 + Number(part("minute")),
  };
}

/**
 * When the business-hours window that contains `at` opened, or null when `at` is outside business
 * hours. A window whose end is before its start runs overnight and belongs to the day it opened. A gate
 * that cannot be read (unknown time zone) counts as always open, so it never hides an overdue source.
 */
export function openedAt(gate: BusinessHoursGate, at: Date): Date | null {
  let clock: { weekday: number; minute: number };
  try {
    clock = localClock(gate.timezone, at);
  } catch {
    return new Date(0);
  }
  const start = minutesOf(gate.start);
  const end = minutesOf(gate.end);
  // Back to the window's first minute: whole minutes ago, less the seconds already into this minute.
  const since = (minutes: number) =>
    new Date(at.getTime() - minutes * 60_000 - at.getUTCSeconds() * 1000 - at.getUTCMilliseconds());
  if (start < end) {
    const open = gate.days.includes(clock.weekday) && clock.minute >= start && clock.minute < end;
    return open ? since(clock.minute - start) : null;
  }
  if (clock.minute >= start && gate.days.includes(clock.weekday)) return since(clock.minute - start);
  const yesterday = clock.weekday === 1 ? 7 : clock.weekday - 1;
  if (clock.minute < end && gate.days.includes(yesterday)) return since(clock.minute + 1440 - start);
  return null;
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
