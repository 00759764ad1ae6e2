/** The pipeline status rules: overdue sources and the overall verdict. */
import { describe, expect, it } from "vitest";
import { isOverdue, pipelineHealth, type SourceFacts } from "../../shared/pipeline/health";

const NOW = new Date("2027-01-04T18:00:00.000Z"); // a Monday, 13:00 in New York
const minutesAgo = (m: number, from = NOW) => new Date(from.getTime() - m * 60_000).toISOString();

function source(overrides: Partial<SourceFacts> = {}): SourceFacts {
  return {
    id: "ds_aaaaaaaaaaaa",
    name: "Main EHR",
    type: "fhir_store",
    enabled: true,
    status: "idle",
    pollIntervalSeconds: 300,
    businessHours: null,
    lastPollAt: minutesAgo(1),
    lastSuccessAt: minutesAgo(1),
    lastNotificationAt: null,
    createdAt: minutesAgo(600),
    ...overrides,
  };
}

describe("isOverdue", () => {
  it("is true after twice the poll interval without a poll, not before", () => {
    expect(isOverdue(source({ lastPollAt: minutesAgo(9) }), NOW)).toBe(false);
    expect(isOverdue(source({ lastPollAt: minutesAgo(11) }), NOW)).toBe(true);
    expect(isOverdue(source({ lastPollAt: minutesAgo(11), pollIntervalSeconds: 600 }), NOW)).toBe(false);
  });

  it("counts from creation for a source that never polled", () => {
    expect(isOverdue(source({ lastPollAt: null, createdAt: minutesAgo(4) }), NOW)).toBe(false);
    expect(isOverdue(source({ lastPollAt: null, createdAt: minutesAgo(11) }), NOW)).toBe(true);
  });

  it("never holds for disabled sources or webhook sources, which do not poll", () => {
    expect(isOverdue(source({ lastPollAt: minutesAgo(600), enabled: false }), NOW)).toBe(false);
    expect(isOverdue(source({ lastPollAt: minutesAgo(600), type: "fhir_webhook" }), NOW)).toBe(false);
  });

  it("ignores the time outside business hours", () => {
    const weekdaysNewYork = {
      timezone: "America/New_York",
      days: [1, 2, 3, 4, 5],
      start: "09:00",
      end: "17:00",
    };
    const gated = source({ businessHours: weekdaysNewYork, lastPollAt: "2027-01-01T21:55:00.000Z" });
    // Saturday: closed, so last Friday's poll is not late.
    expect(isOverdue(gated, new Date("2027-01-09T15:00:00.000Z"))).toBe(false);
    // Monday, 5 minutes after opening: within two intervals of opening.
    expect(isOverdue(gated, new Date("2027-01-04T14:05:00.000Z"))).toBe(false);
    // Monday, 11 minutes after opening with no poll since: overdue.
    expect(isOverdue(gated, new Date("2027-01-04T14:11:00.000Z"))).toBe(true);
  });
});

describe("pipelineHealth", () => {
  const healthy = { failedSyncs: 0, oldestPendingAt: null, now: NOW };

  it("is unavailable without an enabled source, whatever the disabled ones say", () => {
    expect(pipelineHealth({ ...healthy, sources: [] })).toEqual({ status: "unavailable", reasons: [] });
    const disabled = source({ enabled: false, status: "error" });
    expect(pipelineHealth({ ...healthy, sources: [disabled] }).status).toBe("unavailable");
  });

  it("is starting until an enabled source completes a poll or receives a notification", () => {
    const fresh = source({ lastPollAt: null, lastSuccessAt: null, createdAt: minutesAgo(2) });
    expect(pipelineHealth({ ...healthy, sources: [fresh] }).status).toBe("starting");
    const notified = source({
      type: "fhir_webhook",
      lastPollAt: null,
      lastSuccessAt: null,
      lastNotificationAt: minutesAgo(1),
    });
    expect(pipelineHealth({ ...healthy, sources: [fresh, notified] }).status).toBe("healthy");
  });

  it("is healthy when every enabled source is current and write-back keeps up", () => {
    expect(pipelineHealth({ ...healthy, sources: [source()], oldestPendingAt: minutesAgo(14) })).toEqual({
      status: "healthy",
      reasons: [],
    });
  });

  it("is degraded with a reason per problem", () => {
    const broken = source({ id: "ds_broken00000", name: "Down EHR", status: "error", lastPollAt: null });
    const late = source({ id: "ds_late0000000", name: "Late EHR", lastPollAt: minutesAgo(30) });
    const verdict = pipelineHealth({
      sources: [broken, late, source()],
      failedSyncs: 2,
      oldestPendingAt: minutesAgo(16),
      now: NOW,
    });
    expect(verdict.status).toBe("degraded");
    expect(verdict.reasons.map((r) => [r.code, r.source_id])).toEqual([
      ["source_error", "ds_broken00000"],
      ["source_overdue", "ds_late0000000"],
      ["sync_failed", null],
      ["writeback_stalled", null],
    ]);
    expect(verdict.reasons[2]!.message).toBe("2 write-backs failed");
  });

  it("says degraded, not starting, when a new source fails its first poll", () => {
    const failing = source({
      status: "error",
      lastPollAt: null,
      lastSuccessAt: null,
      createdAt: minutesAgo(1),
    });
    expect(pipelineHealth({ ...healthy, sources: [failing] }).status).toBe("degraded");
  });
});
