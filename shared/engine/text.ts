/**
 * Text primitives shared by the local engine's matchers: one normalization, one tokenizer, one
 * similarity. Everything here is allocation-light because it runs on every turn of every call.
 */

/** Lower case, ASCII apostrophes, punctuation to spaces, collapsed whitespace. */
export function normalize(text: string): string {
  return text
    .toLowerCase()
    .replace(/[\u2018\u2019]/g, "'")
    .replace(/[^a-z0-9'\s]/g, " ")
    .replace(/\s+/g, " ")
    .trim();
}

/** Words that carry no intent on their own; dropped before comparing utterances. */
export const STOPWORDS: ReadonlySet<string> = new Set(
  (
    "a an the i i'm im me my we our you your it it's its is am are was were be been to of in on at for " +
    "and or but so just um uh like please could would can will do does did have has had that this " +
    "there here with about from as up out some any get got want wanted wanna need let's okay ok hi hello " +
    "yeah well oh hey"
  ).split(" "),
);

/** Cheap suffix stripping so "appointments"/"appointment" and "booking"/"book" meet. */
export function stem(word: string): string {
  if (word.length > 5 && word.endsWith("ing")) return word.slice(0, -3);
  if (word.length > 4 && word.endsWith("ed")) return word.slice(0, -2);
  if (word.length > 3 && word.endsWith("es") && !word.endsWith("ses")) return word.slice(0, -2);
  if (word.length > 3 && word.endsWith("s") && !word.endsWith("ss")) return word.slice(0, -1);
  return word;
}

/** Content tokens: normalized, stopwords removed, stemmed. */
export function contentTokens(text: string): string[] {
  const out: string[] = [];
  for (const word of normalize(text).split(" ")) {
    if (word.length === 0 || STOPWORDS.has(word)) continue;
    out.push(stem(word.replace(/'/g, "")));
  }
  return out;
}

/**
 * Similarity of an utterance to an example in 0..1: the share of the example's content tokens found
 * in the utterance, blended with Dice overlap so a long rambling utterance still matches a short
 * example but an example sharing one common word with it does not score high.
 */
export function similarity(utterance: ReadonlySet<string>, example: readonly string[]): number {
  if (example.length === 0 || utterance.size === 0) return 0;
  const unique = new Set(example);
  let shared = 0;
  for (const token of unique) if (utterance.has(token)) shared++;
  const coverage = shared / unique.size;
  const dice = (2 * shared) / (unique.size + utterance.size);
  return 0.7 * coverage + 0.3 * dice;
}

/** True when `phrase` (already normalized) occurs in `text` (already normalized) on word boundaries. */
export function containsPhrase(text: string, phrase: string): boolean {
  if (phrase.length === 0) return false;
  let from = 0;
  for (;;) {
    const at = text.indexOf(phrase, from);
    if (at < 0) return false;
    const before = at === 0 || text[at - 1] === " ";
    const end = at + phrase.length;
    const after = end === text.length || text[end] === " ";
    if (before && after) return true;
    from = at + 1;
  }
}
