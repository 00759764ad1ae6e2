/**
 * The automated review judge, deterministic by default. For a fact extracted from a conversation it
 * asks: did the caller literally say it (in their own turns, not the agent's), and does it contradict a
 * fact we hold with higher confidence? Verified facts are promoted to `judge_verified` confidence;
 * everything goes to the human review queue with a priority (clinical before demographics), and nothing
 * reaches the EHR until a person approves it.
 */
import type { FactValue } from "./events";
import { isSafetyCritical } from "./events";
import type { ProjectedFact } from "./projection";

export interface TranscriptTurn {
  speaker: "caller" | "agent" | "operator";
  text: string;
}

export interface ExtractedFact {
  path: string;
  value: FactValue;
}

export type ReviewPriority = "high" | "medium" | "low";

export interface JudgeVerdict {
  supported: boolean;
  /** The words of the caller that support the value, when found. */
  evidence: string | null;
  contradicts: { value: FactValue; confidence: number; source: string } | null;
  verified: boolean;
  priority: ReviewPriority;
  reasons: string[];
}

export function priorityFor(path: string): ReviewPriority {
  if (isSafetyCritical(path) || path.startsWith("medications.")) return "high";
  if (path.startsWith("conditions.") || path.startsWith("coverage.")) return "medium";
  return "low";
}

const normalize = (text: string) =>
  text
    .normalize("NFKD")
    .replace(/[\u0300-\u036f]/g, "")
    .toLowerCase()
    .replace(/[^a-z0-9@.+]+/g, " ")
    // A full stop ends a word ("latex."); only dots inside one (an email, a dose) are kept.
    .replace(/\.(?![a-z0-9])/g, " ")
    .trim();

/** The words a value would be said with: strings as they are, objects by their leading text fields. */
export function spokenForms(value: FactValue): string[] {
  if (value === null || typeof value === "boolean") return [];
  if (typeof value === "number") return [String(value)];
  if (typeof value === "string") {
    const forms = [value];
    const phone = /^\+1(\d{3})(\d{3})(\d{4})$/.exec(value);
    if (phone) forms.push(`${phone[1]} ${phone[2]} ${phone[3]}`, `${phone[1]}${phone[2]}${phone[3]}`);
    const date = /^(\d{4})-(\d{2})-(\d{2})$/.exec(value);
    if (date) {
      const month = new Date(`${value}T00:00:00Z`).toLocaleString("en-US", {
        month: "long",
        timeZone: "UTC",
      });
      forms.push(
        `${month} ${Number(date[3])} ${date[1]}`,
        `${Number(date[2])} ${Number(date[3])} ${date[1]}`,
      );
    }
    return forms;
  }
  if (Array.isArray(value)) return value.flatMap(spokenForms);
  const leading = ["substance", "name", "payer", "member_id"].find((k) => typeof value[k] === "string");
  return leading ? spokenForms(value[leading]!) : [];
}

function sameValue(a: FactValue, b: FactValue): boolean {
  if (
    typeof a === "object" &&
    a !== null &&
    typeof b === "object" &&
    b !== null &&
    !Array.isArray(a) &&
    !Array.isArray(b)
  ) {
    // Objects (an allergy, a medication) are the same fact when their leading fields agree.
    const keys = ["substance", "name", "payer", "member_id", "status", "severity", "dose"].filter(
      (k) => k in a && k in b,
    );
    return keys.every((k) => normalize(String(a[k])) === normalize(String(b[k])));
  }
  return normalize(JSON.stringify(a)) === normalize(JSON.stringify(b));
}

export function judge(
  fact: ExtractedFact,
  turns: TranscriptTurn[],
  current: ProjectedFact | undefined,
): JudgeVerdict {
  const callerText = ` ${normalize(
    turns
      .filter((t) => t.speaker === "caller")
      .map((t) => t.text)
      .join(" "),
  )} `;
  const forms = spokenForms(fact.value)
    .map(normalize)
    .filter((f) => f.length > 0);
  const found = forms.find((f) => callerText.includes(` ${f} `));
  const reasons: string[] = [];
  if (!found) reasons.push("not_in_caller_words");
  const contradicts =
    current && current.confidence > 0.5 && !sameValue(current.value, fact.value)
      ? { value: current.value, confidence: current.confidence, source: current.source }
      : null;
  if (contradicts) reasons.push("contradicts_higher_confidence_fact");
  const verified = Boolean(found) && !contradicts;
  if (verified) reasons.push("supported_by_caller");
  const base = priorityFor(fact.path);
  return {
    supported: Boolean(found),
    evidence: found ?? null,
    contradicts,
    verified,
    // A contradiction of a clinical fact is the most urgent thing a reviewer can look at.
    priority: contradicts && base !== "low" ? "high" : base,
    reasons,
  };
}
