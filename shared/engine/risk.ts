/**
 * Per-turn risk (issue 5, item 8): a composite of language emotion (40%), looping (30%) and call
 * duration (30%) in 0..1, mapped to levels normal / monitor / alert / escalate (0.3 / 0.5 / 0.7 by
 * default, per service, the escalate threshold overridable per state). Emotion comes from the AFINN
 * lexicon of the `sentiment` package (its public API: importing its JSON lexicon directly breaks tsx,
 * whose JSON-to-ESM transform chokes on AFINN keys such as "await").
 */
import Sentiment from "sentiment";
import type { EmotionTier } from "../calls/context-graph";

export const RISK_WEIGHTS = { emotion: 0.4, loops: 0.3, duration: 0.3 } as const;

export type RiskLevel = "normal" | "monitor" | "alert" | "escalate";

/** Lower bounds of the levels above normal. */
export interface RiskThresholds {
  monitor: number;
  alert: number;
  escalate: number;
}

export const DEFAULT_RISK_THRESHOLDS: RiskThresholds = { monitor: 0.3, alert: 0.5, escalate: 0.7 };

export interface RiskAssessment {
  score: number;
  level: RiskLevel;
  components: { emotion: number; loops: number; duration: number };
}

const analyzer = new Sentiment();

/** Words that make what follows stronger. */
const INTENSIFIERS = new Set(["very", "really", "so", "extremely", "terribly", "incredibly", "super"]);

/**
 * Medical-distress words AFINN lacks or underweights. `sentiment` merges extras into its shared English
 * lexicon; these are constant, so merging them again on every call changes nothing.
 */
// biome-ignore format: a word list
const DISTRESS_EXTRAS: Record<string, number> = {
  bleeding: -3, unbearable: -4, excruciating: -4, agony: -4, panicking: -3, panic: -3, dizzy: -2,
  vomiting: -2, fever: -1, swollen: -2, swelling: -2, crying: -2, emergency: -3, suicidal: -5,
  hopeless: -3, severe: -3, awful: -3, no: 0,
};

/**
 * Language emotion of one utterance in 0..1 (0 calm, 1 very distressed): AFINN negative weight
 * (flipped after a negator by `sentiment`), times 1.5 when an intensifier is present, minus half the
 * positive weight, squashed so two strong negative words already read as concerned.
 */
export function languageEmotion(text: string): number {
  if (text.trim().length === 0) return 0;
  const result = analyzer.analyze(text, { extras: DISTRESS_EXTRAS });
  let negative = 0;
  let positive = 0;
  for (const item of result.calculation) {
    for (const score of Object.values(item)) {
      if (score < 0) negative -= score;
      else positive += score;
    }
  }
  if (result.tokens.some((t) => INTENSIFIERS.has(t))) negative *= 1.5;
  const raw = Math.max(0, negative - positive / 2);
  return 1 - Math.exp(-raw / 6);
}

/**
 * Valence of one utterance in −1..1 (negative .. positive): the same analyzer's net AFINN score, with
 * the distress words, squashed by tanh(score / 5) so one strong word reads about ±0.5 and a few saturate.
 * Unlike `languageEmotion` it keeps the positive side: a caller who relaxes shows on the operators' chart.
 */
export function languageValence(text: string): number {
  if (text.trim().length === 0) return 0;
  const { score } = analyzer.analyze(text, { extras: DISTRESS_EXTRAS });
  return Math.round(Math.tanh(score / 5) * 1000) / 1000;
}

/** calm < 0.3 ≤ concerned < 0.6 ≤ distressed. */
export function emotionTier(score: number): EmotionTier {
  if (score >= 0.6) return "distressed";
  if (score >= 0.3) return "concerned";
  return "calm";
}

/** Distress lingers: this turn's score, or the last one decayed, whichever is higher. */
export function smoothEmotion(previous: number, current: number): number {
  return Math.max(current, previous * 0.7);
}

/** Duration risk: nothing for the first 5 minutes, rising to 1 at 25 minutes. */
export function durationRisk(
  elapsedSeconds: number,
  options = { graceSeconds: 300, fullSeconds: 1500 },
): number {
  if (elapsedSeconds <= options.graceSeconds) return 0;
  return Math.min(1, (elapsedSeconds - options.graceSeconds) / (options.fullSeconds - options.graceSeconds));
}

/** Loop risk: turns without progress in the current state over the state's allowance. */
export function loopRisk(loops: number, maxLoops: number): number {
  return Math.min(1, Math.max(0, loops) / Math.max(1, maxLoops));
}

export function riskLevel(score: number, thresholds: RiskThresholds = DEFAULT_RISK_THRESHOLDS): RiskLevel {
  if (score >= thresholds.escalate) return "escalate";
  if (score >= thresholds.alert) return "alert";
  if (score >= thresholds.monitor) return "monitor";
  return "normal";
}

/** The composite, rounded to 3 places so logs and tests read cleanly. */
export function assessRisk(
  components: { emotion: number; loops: number; duration: number },
  thresholds: RiskThresholds = DEFAULT_RISK_THRESHOLDS,
): RiskAssessment {
  const clamp = (x: number) => Math.min(1, Math.max(0, x));
  const c = {
    emotion: clamp(components.emotion),
    loops: clamp(components.loops),
    duration: clamp(components.duration),
  };
  const score =
    Math.round(
      (RISK_WEIGHTS.emotion * c.emotion + RISK_WEIGHTS.loops * c.loops + RISK_WEIGHTS.duration * c.duration) *
        1000,
    ) / 1000;
  return { score, level: riskLevel(score, thresholds), components: c };
}

/** Service thresholds with a state's escalate override applied. */
export function thresholdsFor(
  service: Partial<RiskThresholds> | undefined,
  stateEscalate: number | undefined,
): RiskThresholds {
  const t = { ...DEFAULT_RISK_THRESHOLDS, ...service };
  if (stateEscalate !== undefined) t.escalate = stateEscalate;
  return t;
}
