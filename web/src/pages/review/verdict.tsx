/** The automated judge's verdict in plain words, for the person deciding. */
import { describeValue } from "../../components/fact-format";
import { formatConfidence, sourceLabel } from "../../components/world-badges";
import { titleCase } from "../../format";
import type { ReviewDiff } from "../../types";

type Verdict = NonNullable<ReviewDiff["verdict"]>;

export function verdictSummary(verdict: Verdict, pending: boolean): string {
  if (verdict.verified && !pending) {
    return "Verified automatically: the caller said it and nothing on record contradicted it.";
  }
  if (verdict.verified) {
    return "Verified automatically: the caller said it and nothing on record contradicts it. It counts at 0.85 for now; approving makes it 0.95, enough to be written back to the EHR.";
  }
  if (verdict.contradicts)
    return "Not verified: it disagrees with what the record already holds with more confidence.";
  if (!verdict.supported) return "Not verified: the caller's own words don't contain it.";
  return "Not verified.";
}

/** One sentence per reason code; a code this dashboard does not know yet is shown as its words. */
export function verdictReasons(diff: ReviewDiff): string[] {
  const verdict = diff.verdict;
  if (!verdict) return [];
  const path = diff.item.path;
  return verdict.reasons.map((reason) => {
    switch (reason) {
      case "supported_by_caller":
        return diff.evidence?.caller_words
          ? `The caller said it in their own words: “${diff.evidence.caller_words}”.`
          : "The caller said it in their own words.";
      case "not_in_caller_words":
        return "The caller never said it in so many words: the agent may have inferred, misheard or suggested it.";
      case "contradicts_higher_confidence_fact": {
        const c = verdict.contradicts;
        return c
          ? `It contradicts the record, which says ${describeValue(path, c.value)} (${sourceLabel(c.source)}, confidence ${formatConfidence(c.confidence)}).`
          : "It contradicts a fact held with more confidence.";
      }
      default:
        return `${titleCase(reason)}.`;
    }
  });
}

export const PRIORITY_HINTS = {
  high: "Allergies, medications and safety, and clinical facts that contradict the record.",
  medium: "Conditions, coverage and possible duplicate records.",
  low: "Demographics, contact details and preferences.",
} as const;
