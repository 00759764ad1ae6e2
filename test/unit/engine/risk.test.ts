import { describe, expect, it } from "vitest";
import {
  assessRisk,
  DEFAULT_RISK_THRESHOLDS,
  durationRisk,
  emotionTier,
  languageEmotion,
  loopRisk,
  riskLevel,
  smoothEmotion,
  thresholdsFor,
} from "../../../shared/engine/risk";

describe("composite risk", () => {
  it("weights emotion 40%, loops 30%, duration 30%", () => {
    expect(assessRisk({ emotion: 1, loops: 0, duration: 0 }).score).toBe(0.4);
    expect(assessRisk({ emotion: 0, loops: 1, duration: 0 }).score).toBe(0.3);
    expect(assessRisk({ emotion: 0, loops: 0, duration: 1 }).score).toBe(0.3);
    expect(assessRisk({ emotion: 1, loops: 1, duration: 1 }).score).toBe(1);
    expect(assessRisk({ emotion: 0.5, loops: 0.5, duration: 0.5 }).score).toBe(0.5);
  });

  it("clamps components to 0..1", () => {
    expect(assessRisk({ emotion: 3, loops: -1, duration: 0 })).toMatchObject({
      score: 0.4,
      components: { emotion: 1, loops: 0, duration: 0 },
    });
  });

  it.each([
    [0, "normal"],
    [0.29, "normal"],
    [0.3, "monitor"],
    [0.49, "monitor"],
    [0.5, "alert"],
    [0.69, "alert"],
    [0.7, "escalate"],
    [1, "escalate"],
  ])("level at %s is %s (default thresholds)", (score, level) => {
    expect(riskLevel(score)).toBe(level);
  });

  it("takes service thresholds and a state's escalate override", () => {
    const service = thresholdsFor({ monitor: 0.2, escalate: 0.9 }, undefined);
    expect(service).toEqual({ monitor: 0.2, alert: 0.5, escalate: 0.9 });
    expect(riskLevel(0.8, service)).toBe("alert");
    expect(riskLevel(0.6, thresholdsFor({ escalate: 0.9 }, 0.6))).toBe("escalate");
    expect(thresholdsFor(undefined, undefined)).toEqual(DEFAULT_RISK_THRESHOLDS);
  });

  it("loop and duration components", () => {
    expect(loopRisk(0, 3)).toBe(0);
    expect(loopRisk(2, 4)).toBe(0.5);
    expect(loopRisk(9, 3)).toBe(1);
    expect(durationRisk(120)).toBe(0);
    expect(durationRisk(900)).toBe(0.5);
    expect(durationRisk(3600)).toBe(1);
  });
});

describe("language emotion (AFINN lexicon)", () => {
  it.each([
    ["I'd like to book a checkup", "calm"],
    ["thanks, that's great", "calm"],
    ["I'm a bit worried about my results", "concerned"],
    ["I'm so scared and worried", "distressed"],
    ["this is ridiculous, I'm angry and frustrated, this is the worst", "distressed"],
  ])("%j reads %s", (text, tier) => {
    expect(emotionTier(languageEmotion(text))).toBe(tier);
  });

  it("flips negated words", () => {
    expect(languageEmotion("I'm not worried")).toBeLessThan(languageEmotion("I'm worried"));
    expect(languageEmotion("not good at all")).toBeGreaterThan(0);
  });

  it("lets distress linger across turns", () => {
    expect(smoothEmotion(0.8, 0)).toBeCloseTo(0.56, 5);
    expect(smoothEmotion(0.2, 0.7)).toBe(0.7);
  });
});
