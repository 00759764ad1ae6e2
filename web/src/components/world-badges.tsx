/**
 * Badges for world-model facts and review items. Colour is never the only signal: each badge shows its
 * number or word, and screen readers hear what it means ("Confidence 0.95, high").
 */
import type { ReviewPriority } from "../types";
import { word } from "./fact-format";

export type ConfidenceLevel = "high" | "medium" | "low" | "rejected";

/**
 * High from 0.9 (the default writeback threshold: a person approved it, or the system of record said
 * so), medium from 0.5 (verified by the judge, or confirmed by the caller), low below, and 0 rejected.
 */
export function confidenceLevel(confidence: number): ConfidenceLevel {
  if (confidence >= 0.9) return "high";
  if (confidence >= 0.5) return "medium";
  if (confidence > 0) return "low";
  return "rejected";
}

const LEVEL_WORDS: Record<ConfidenceLevel, string> = {
  high: "high",
  medium: "medium",
  low: "low",
  rejected: "rejected",
};

export const formatConfidence = (confidence: number) => confidence.toFixed(2);

export function ConfidenceBadge({ confidence }: { confidence: number }) {
  const level = confidenceLevel(confidence);
  const number = formatConfidence(confidence);
  return (
    <span
      class={`badge confidence confidence-${level}`}
      title={`Confidence ${number} (${LEVEL_WORDS[level]})`}
      data-confidence={number}
    >
      <span class="visually-hidden">Confidence </span>
      {number}
      <span class="visually-hidden">, {LEVEL_WORDS[level]}</span>
    </span>
  );
}

const SOURCE_WORDS: Record<string, string> = {
  ehr: "EHR",
  fhir_store: "FHIR store",
  voice: "Voice call",
  sms: "SMS",
  surface: "Form",
  operator: "Operator",
  review: "Review",
  api: "API",
  system: "Judge",
};

const SOURCE_HINTS: Record<string, string> = {
  ehr: "From the EHR, the system of record",
  fhir_store: "From the FHIR store",
  voice: "Extracted from a voice call",
  sms: "Extracted from an SMS conversation",
  surface: "Submitted on a form sent to the patient",
  operator: "Entered by an operator",
  review: "Decided by a reviewer",
  api: "Sent through the API",
  system: "Recorded by Switchboard (the verification judge or a merge)",
};

export const sourceLabel = (source: string) => SOURCE_WORDS[source] ?? word(source);

export function SourceBadge({ source }: { source: string }) {
  return (
    <span class={`badge source source-${source}`} title={SOURCE_HINTS[source]}>
      <span class="visually-hidden">Source: </span>
      {sourceLabel(source)}
    </span>
  );
}

export function PriorityBadge({ priority }: { priority: ReviewPriority }) {
  return (
    <span class={`badge priority priority-${priority}`}>
      {word(priority)}
      <span class="visually-hidden"> priority</span>
    </span>
  );
}

export function SafetyBadge() {
  return (
    <span class="badge safety-critical" title="Always given to the agent, whatever its confidence">
      <svg viewBox="0 0 16 16" width="12" height="12" aria-hidden="true" focusable="false">
        <path d="M8 1.5 15 14H1z" fill="currentColor" />
        <path d="M8 6v4M8 11.75v.5" stroke="var(--surface)" stroke-width="1.6" stroke-linecap="round" />
      </svg>
      Safety-critical
    </span>
  );
}
