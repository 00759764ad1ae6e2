/**
 * Proactive safety rules: language that escalates a call at once, whatever the risk score. One list per
 * category, matched on word boundaries after normalization; a simple negation just before a phrase
 * ("no chest pain", "I don't have trouble breathing", "not bleeding") keeps it from firing. Crisis
 * language is never negated away by a bare "not" further back: only the words right before it count.
 */
import { normalize } from "./text";

export type SafetyCategory =
  | "crisis"
  | "chest_pain"
  | "stroke"
  | "severe_bleeding"
  | "breathing"
  | "anaphylaxis"
  | "unresponsive"
  | "urgent_pivot";

// biome-ignore format: phrase lists
export const SAFETY_PHRASES: Record<Exclude<SafetyCategory, "urgent_pivot">, readonly string[]> = {
  crisis: [
    "kill myself", "killing myself", "end my life", "ending my life", "take my own life", "want to die",
    "wanna die", "suicide", "suicidal", "hurt myself", "hurting myself", "harm myself", "self harm",
    "cut myself", "cutting myself", "don't want to live", "dont want to live", "no reason to live",
    "better off dead", "overdose", "overdosed", "took all my pills", "end it all",
  ],
  chest_pain: [
    "chest pain", "chest pains", "pain in my chest", "chest hurts", "chest is hurting", "chest pressure",
    "pressure in my chest", "chest tightness", "tightness in my chest", "tight chest", "chest feels tight",
    "heart attack", "crushing pain",
  ],
  stroke: [
    "stroke", "face is drooping", "face drooping", "drooping face", "slurred speech", "slurring my words",
    "slurring his words", "slurring her words", "can't move my arm", "cant move my arm", "numb on one side",
    "one side of my body", "sudden weakness", "can't lift my arm", "cant lift my arm", "sudden confusion",
    "worst headache of my life",
  ],
  severe_bleeding: [
    "won't stop bleeding", "wont stop bleeding", "can't stop the bleeding", "cant stop the bleeding",
    "bleeding heavily", "heavy bleeding", "severe bleeding", "bleeding a lot", "lots of blood",
    "a lot of blood", "losing a lot of blood", "coughing up blood", "vomiting blood", "throwing up blood",
    "blood everywhere",
  ],
  breathing: [
    "can't breathe", "cant breathe", "cannot breathe", "can't catch my breath", "trouble breathing",
    "difficulty breathing", "hard to breathe", "struggling to breathe", "short of breath",
    "shortness of breath", "not breathing", "stopped breathing", "choking", "gasping",
  ],
  anaphylaxis: [
    "anaphylaxis", "anaphylactic", "throat is closing", "throat closing", "throat is swelling",
    "throat swelling", "tongue is swelling", "tongue swelling", "lips are swelling", "used my epipen",
    "need my epipen", "epi pen", "severe allergic reaction",
  ],
  unresponsive: [
    "unresponsive", "passed out", "won't wake up", "wont wake up", "unconscious", "having a seizure",
    "seizing", "fainted",
  ],
};

/** Words that, right before a phrase, deny it. */
// biome-ignore format: phrase lists
const NEGATION_LEADS = [
  "no", "not", "never", "without", "denies", "deny", "don't have", "dont have", "do not have",
  "don't have any", "not having", "not having any", "no more", "haven't had", "havent had", "free of",
  "isn't", "there's no", "no sign of", "no signs of", "not experiencing", "not any",
];

/** Words that turn a calm call urgent ("actually it's getting really bad"). */
// biome-ignore format: phrase lists
export const URGENCY_PHRASES: readonly string[] = [
  "emergency", "urgent", "right now", "getting worse", "much worse", "really bad", "severe",
  "unbearable", "worst pain", "call 911", "ambulance", "immediately", "can't take it", "scared",
  "terrified", "something is wrong", "something's wrong", "really sick",
];

function negatedBefore(text: string, at: number): boolean {
  const before = text.slice(Math.max(0, at - 80), at).trim();
  if (before.length === 0) return false;
  const tail = before.split(" ").slice(-3);
  for (let n = 1; n <= tail.length; n++) {
    const lead = tail.slice(tail.length - n).join(" ");
    if (NEGATION_LEADS.includes(lead)) return true;
  }
  // "no chest pain or trouble breathing": a negation earlier in the same list.
  return /\b(no|not|never|without|denies|don't|dont|haven't|havent)\b(?:(?!\b(but|though|however)\b).)*\b(or|nor)\s*$/.test(
    before,
  );
}

function findPhrase(text: string, phrase: string): boolean {
  let from = 0;
  for (;;) {
    const at = text.indexOf(phrase, from);
    if (at < 0) return false;
    const end = at + phrase.length;
    const bounded = (at === 0 || text[at - 1] === " ") && (end === text.length || text[end] === " ");
    if (bounded && !negatedBefore(text, at)) return true;
    from = at + 1;
  }
}

export interface SafetyHit {
  category: SafetyCategory;
  phrase: string;
}

/** The first red flag in `utterance`, crisis first, or null. */
export function redFlag(utterance: string): SafetyHit | null {
  const text = normalize(utterance);
  if (text.length === 0) return null;
  for (const [category, phrases] of Object.entries(SAFETY_PHRASES) as [SafetyCategory, readonly string[]][]) {
    for (const phrase of phrases) if (findPhrase(text, phrase)) return { category, phrase };
  }
  return null;
}

/** True when `utterance` carries urgency language that is not negated ("it's not urgent" is not). */
export function isUrgent(utterance: string): boolean {
  const text = normalize(utterance);
  return URGENCY_PHRASES.some((phrase) => findPhrase(text, phrase));
}

/**
 * A casual-to-urgent pivot: the caller's earlier turns (at least two) carried no urgency, and this one
 * does. Catches "oh and by the way, the pain is getting really bad" in an otherwise routine booking.
 */
export function urgentPivot(previousCallerTurns: readonly string[], utterance: string): boolean {
  if (previousCallerTurns.length < 2 || !isUrgent(utterance)) return false;
  return !previousCallerTurns.some((t) => isUrgent(t));
}

/** Every proactive rule at once: a red flag, else a pivot. */
export function safetyCheck(utterance: string, previousCallerTurns: readonly string[]): SafetyHit | null {
  const hit = redFlag(utterance);
  if (hit) return hit;
  if (urgentPivot(previousCallerTurns, utterance)) return { category: "urgent_pivot", phrase: "urgency" };
  return null;
}
