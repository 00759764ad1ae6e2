/**
 * Intent matching for the local engine: the caller's words against each intent's examples (content
 * tokens, normalized similarity), best score above a threshold wins. Intents named like yes/no
 * (`yes`, `confirm`, `affirm`, `no`, `deny`, `decline`) also match the yes/no extractor, so "yep" and
 * "that's right" need no examples of their own. Tokenized examples are cached per intent object.
 */
import type { IntentExamples } from "../calls/context-graph";
import { extractYesNo } from "./extract";
import { contentTokens, similarity } from "./text";

export const DEFAULT_INTENT_THRESHOLD = 0.5;

const YES_INTENTS = new Set(["yes", "confirm", "affirm", "agree", "accept"]);
const NO_INTENTS = new Set(["no", "deny", "decline", "reject", "refuse"]);

const tokenized = new WeakMap<IntentExamples, string[][]>();

function examplesOf(intent: IntentExamples): string[][] {
  let tokens = tokenized.get(intent);
  if (!tokens) {
    tokens = intent.examples.map((e) => contentTokens(e));
    tokenized.set(intent, tokens);
  }
  return tokens;
}

export interface IntentMatch {
  name: string;
  score: number;
}

/** The best-matching intent of `intents` for `utterance`, or null below `threshold`. */
export function matchIntent(
  utterance: string,
  intents: readonly IntentExamples[],
  threshold = DEFAULT_INTENT_THRESHOLD,
): IntentMatch | null {
  if (intents.length === 0 || utterance.trim().length === 0) return null;
  const words = new Set(contentTokens(utterance));
  let best: IntentMatch | null = null;
  let yesNo: "yes" | "no" | null | undefined;
  for (const intent of intents) {
    let score = 0;
    for (const example of examplesOf(intent)) {
      const s = similarity(words, example);
      if (s > score) score = s;
    }
    if (YES_INTENTS.has(intent.name) || NO_INTENTS.has(intent.name)) {
      if (yesNo === undefined) yesNo = extractYesNo(utterance);
      if (
        (yesNo === "yes" && YES_INTENTS.has(intent.name)) ||
        (yesNo === "no" && NO_INTENTS.has(intent.name))
      )
        score = Math.max(score, 0.9);
    }
    if (score >= threshold && (!best || score > best.score))
      best = { name: intent.name, score: Math.round(score * 1000) / 1000 };
  }
  return best;
}
