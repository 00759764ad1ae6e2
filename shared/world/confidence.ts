/**
 * How much a fact is believed, by where it came from. Defaults below; a workspace can override any of
 * them (and the writeback threshold) in its world settings.
 */
import { z } from "zod";

export const CONFIDENCE_BASES = [
  "authoritative",
  "review_correct",
  "review_approve",
  "clinician_edit",
  "judge_verified",
  "agent_confirmed",
  "agent_mentioned",
  "agent_inferred",
  "surface_submission",
  "review_reject",
] as const;
export type ConfidenceBasis = (typeof CONFIDENCE_BASES)[number];

export const DEFAULT_CONFIDENCE: Record<ConfidenceBasis, number> = {
  /** EHR, FHIR store, API: the system of record said so. */
  authoritative: 1.0,
  /** A reviewer entered the right value (a new event that supersedes the proposal). */
  review_correct: 1.0,
  review_approve: 0.95,
  clinician_edit: 0.9,
  /** The automated judge found it in the caller's own words, uncontradicted; a person still approves writeback. */
  judge_verified: 0.85,
  /** The agent captured it and the caller confirmed it when read back. */
  agent_confirmed: 0.5,
  agent_mentioned: 0.3,
  agent_inferred: 0.2,
  surface_submission: 0.5,
  review_reject: 0.0,
};

/** Facts at or above this confidence may be written back to the EHR. */
export const DEFAULT_WRITEBACK_THRESHOLD = 0.9;

export const WorldSettings = z.strictObject({
  confidence: z.partialRecord(z.enum(CONFIDENCE_BASES), z.number().min(0).max(1)).default({}),
  writeback_threshold: z.number().min(0).max(1).default(DEFAULT_WRITEBACK_THRESHOLD),
  /** Entity-resolution matches at or above this merge automatically; between `review_min` and it, a person decides. */
  auto_merge_threshold: z.number().min(0).max(1).default(0.95),
  review_min_match: z.number().min(0).max(1).default(0.6),
});
export type WorldSettings = z.infer<typeof WorldSettings>;

/** A change to the settings: only the fields given (no defaults, so nothing unsent is reset). */
export const WorldSettingsPatch = z
  .strictObject({
    confidence: z.partialRecord(z.enum(CONFIDENCE_BASES), z.number().min(0).max(1)).optional(),
    writeback_threshold: z.number().min(0).max(1).optional(),
    auto_merge_threshold: z.number().min(0).max(1).optional(),
    review_min_match: z.number().min(0).max(1).optional(),
  })
  .refine((v) => Object.keys(v).length > 0, "nothing to update");

export function confidenceFor(basis: ConfidenceBasis, settings?: Pick<WorldSettings, "confidence">): number {
  return settings?.confidence[basis] ?? DEFAULT_CONFIDENCE[basis];
}
