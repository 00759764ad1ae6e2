/**
 * Knowledge lookup for the local engine: a caller's question against the service's curated entries,
 * by keyword phrases (strong) and title words (weaker). No match means the engine does not know, and
 * a question it does not know is escalated, never guessed.
 */
import type { KnowledgeEntry } from "./engine";
import { containsPhrase, contentTokens, normalize } from "./text";

export interface KnowledgeMatch {
  entry: KnowledgeEntry;
  score: number;
}

const QUESTION_START =
  /^(what|what's|whats|when|where|which|who|whom|whose|why|how|is|are|am|can|could|do|does|did|will|would|should|may|might|have|has)\b/;
const QUESTION_INSIDE =
  /\b(tell me|i want to know|i'd like to know|wondering|do you know|can you tell|question about|question)\b/;

/** Whether the caller is asking something (a question mark, a question word first, "I was wondering…"). */
export function isQuestion(utterance: string): boolean {
  // "Hello?" or "Um?" asks nothing.
  if (contentTokens(utterance).length === 0) return false;
  if (utterance.includes("?")) return true;
  const text = normalize(utterance).replace(/^(so|and|um|uh|hi|hello|yeah|oh|also|okay|ok|well)\s+/, "");
  return QUESTION_START.test(text) || QUESTION_INSIDE.test(text);
}

/**
 * Topics an entry must name itself to answer: a question about results, prescriptions or money is not
 * answered by an entry that merely shares "blood test" with it.
 */
const SPECIFIC_TOPICS = new Set(
  (
    "result diagnos prescription refill dose dosage bill billing charge cost price refund referral " +
    "record lab test_result"
  ).split(" "),
);

function topicsMissing(words: ReadonlySet<string>, entry: KnowledgeEntry): boolean {
  let text: string | null = null;
  for (const word of words) {
    const topic = [...SPECIFIC_TOPICS].find((t) => word.startsWith(t));
    if (!topic) continue;
    text ??= normalize(`${entry.title} ${entry.keywords.join(" ")} ${entry.body}`);
    if (!text.includes(topic)) return true;
  }
  return false;
}

/** The best entry for `utterance`: each keyword phrase found counts 1, title-word coverage up to 1. */
export function searchKnowledge(
  utterance: string,
  entries: readonly KnowledgeEntry[],
  threshold = 0.6,
): KnowledgeMatch | null {
  if (entries.length === 0) return null;
  const text = normalize(utterance);
  const words = new Set(contentTokens(utterance));
  let best: KnowledgeMatch | null = null;
  for (const entry of entries) {
    let score = 0;
    for (const keyword of entry.keywords) if (containsPhrase(text, normalize(keyword))) score += 1;
    const title = contentTokens(entry.title);
    if (title.length > 0) score += title.filter((t) => words.has(t)).length / title.length;
    if (score >= threshold && (!best || score > best.score) && !topicsMissing(words, entry))
      best = { entry, score };
  }
  return best;
}
