/**
 * The operators' priority formula (shared/operators/urgency.ts): each term's weight, every priority
 * reason at its threshold, the safety floor, waiting time saturating, and the queue's order and ties.
 */
import { describe, expect, it } from "vitest";
import {
  compareQueueEntries,
  type EscalationStatus,
  LOOP_SATURATION,
  REASON_THRESHOLDS,
  SAFETY_FLOOR,
  URGENCY_WEIGHTS,
  type UrgencyInput,
  urgency,
  WAIT_SATURATION_MS,
  waitMs,
} from "../../../shared/operators/urgency";

const NOW = Date.parse("2026-12-02T10:00:00.000Z");
const ago = (ms: number) => new Date(NOW - ms).toISOString();

const calm: UrgencyInput = {
  risk_score: 0,
  emotion_score: 0,
  valence: 0,
  escalation: "none",
  escalated_at: null,
  loops: 0,
  safety: null,
};

describe("urgency", () => {
  it.each<[string, Partial<UrgencyInput>, number]>([
    ["a calm call", {}, 0],
    ["risk alone", { risk_score: 0.5 }, URGENCY_WEIGHTS.risk * 0.5],
    ["distress from emotion", { emotion_score: 0.4 }, URGENCY_WEIGHTS.distress * 0.4],
    ["distress from negative valence", { valence: -0.8 }, URGENCY_WEIGHTS.distress * 0.8],
    ["positive valence is no distress", { valence: 0.9 }, 0],
    ["connected to an operator", { escalation: "connected" }, URGENCY_WEIGHTS.escalated],
    ["an operator in control", { escalation: "operator_active" }, URGENCY_WEIGHTS.escalated],
    ["a fallback is not waiting for anyone", { escalation: "fallback", escalated_at: ago(60_000) }, 0],
    ["one loop", { loops: 1 }, URGENCY_WEIGHTS.loops / LOOP_SATURATION],
    ["loops saturate", { loops: 10 }, URGENCY_WEIGHTS.loops],
    [
      "waiting half the saturation",
      { escalation: "waiting", escalated_at: ago(WAIT_SATURATION_MS / 2) },
      URGENCY_WEIGHTS.escalated + URGENCY_WEIGHTS.wait * 0.5,
    ],
    [
      "everything at once, capped at 1",
      {
        risk_score: 1,
        emotion_score: 1,
        escalation: "waiting",
        escalated_at: ago(WAIT_SATURATION_MS),
        loops: 3,
        safety: "crisis",
      },
      1,
    ],
    ["out-of-range inputs are clamped", { risk_score: 7, emotion_score: Number.NaN }, URGENCY_WEIGHTS.risk],
  ])("%s", (_, input, expected) => {
    expect(urgency({ ...calm, ...input }, NOW).score).toBeCloseTo(expected, 3);
  });

  it("puts any call with a safety concern at or above the floor", () => {
    const result = urgency({ ...calm, safety: "chest_pain" }, NOW);
    expect(result.score).toBe(SAFETY_FLOOR);
    expect(result.reasons).toEqual(["safety_concern"]);
    expect(
      urgency(
        {
          ...calm,
          safety: "crisis",
          risk_score: 1,
          emotion_score: 1,
          escalation: "waiting",
          escalated_at: ago(WAIT_SATURATION_MS),
        },
        NOW,
      ).score,
    ).toBeGreaterThan(SAFETY_FLOOR);
  });

  it("saturates waiting time at five minutes, and counts it only while waiting", () => {
    const waiting = (ms: number, escalation: EscalationStatus = "waiting") =>
      urgency({ ...calm, escalation, escalated_at: ago(ms) }, NOW);
    expect(waiting(WAIT_SATURATION_MS).score).toBe(waiting(WAIT_SATURATION_MS * 4).score);
    expect(waiting(WAIT_SATURATION_MS - 60_000).score).toBeLessThan(waiting(WAIT_SATURATION_MS).score);
    expect(waiting(WAIT_SATURATION_MS * 4).wait_ms).toBe(WAIT_SATURATION_MS * 4);
    expect(waiting(60_000, "connected").wait_ms).toBe(0);
    expect(waitMs({ escalation: "waiting", escalated_at: null }, NOW)).toBe(0);
    expect(waitMs({ escalation: "waiting", escalated_at: "not a time" }, NOW)).toBe(0);
    expect(waitMs({ escalation: "waiting", escalated_at: new Date(NOW + 5000).toISOString() }, NOW)).toBe(0);
  });

  it.each<[string, Partial<UrgencyInput>, string[]]>([
    ["safety_concern", { safety: "crisis" }, ["safety_concern"]],
    ["high_risk at its threshold", { risk_score: REASON_THRESHOLDS.high_risk }, ["high_risk"]],
    ["no high_risk just below", { risk_score: REASON_THRESHOLDS.high_risk - 0.01 }, []],
    [
      "negative_emotion from emotion",
      { emotion_score: REASON_THRESHOLDS.negative_emotion },
      ["negative_emotion"],
    ],
    ["negative_emotion from valence", { valence: -REASON_THRESHOLDS.negative_emotion }, ["negative_emotion"]],
    [
      "long_wait at two minutes",
      { escalation: "waiting", escalated_at: ago(REASON_THRESHOLDS.long_wait_ms) },
      ["long_wait"],
    ],
    [
      "no long_wait before",
      { escalation: "waiting", escalated_at: ago(REASON_THRESHOLDS.long_wait_ms - 1000) },
      [],
    ],
    ["looping at two", { loops: REASON_THRESHOLDS.looping }, ["looping"]],
    [
      "all of them, in a fixed order",
      {
        safety: "crisis",
        risk_score: 0.9,
        emotion_score: 0.9,
        escalation: "waiting",
        escalated_at: ago(600_000),
        loops: 5,
      },
      ["safety_concern", "high_risk", "negative_emotion", "long_wait", "looping"],
    ],
  ])("reason: %s", (_, input, reasons) => {
    expect(urgency({ ...calm, ...input }, NOW).reasons).toEqual(reasons);
  });
});

describe("compareQueueEntries", () => {
  const entry = (
    fields: Partial<{ urgency: number; escalation: EscalationStatus; wait_ms: number; started_at: string }>,
  ) => ({
    urgency: 0.5,
    escalation: "none" as EscalationStatus,
    wait_ms: 0,
    started_at: ago(0),
    ...fields,
  });

  it.each([
    [
      "more urgent first",
      entry({ urgency: 0.9 }),
      entry({ urgency: 0.2, escalation: "waiting", wait_ms: 9e5 }),
    ],
    [
      "at equal urgency, escalated first",
      entry({ escalation: "connected" }),
      entry({ escalation: "fallback" }),
    ],
    [
      "then the longest wait",
      entry({ escalation: "waiting", wait_ms: 60_000 }),
      entry({ escalation: "waiting", wait_ms: 30_000 }),
    ],
    ["then the oldest call", entry({ started_at: ago(60_000) }), entry({ started_at: ago(1000) })],
  ])("%s", (_, first, second) => {
    expect([second, first].sort(compareQueueEntries)).toEqual([first, second]);
    expect(compareQueueEntries(first, second)).toBeLessThan(0);
  });

  it("is 0 for identical entries (a stable sort keeps their order)", () => {
    expect(compareQueueEntries(entry({}), entry({}))).toBe(0);
  });
});
