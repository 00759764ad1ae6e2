/**
 * Entity resolution: which existing entity a set of identifying details most likely names. Each kind of
 * match carries evidence of its own strength (a shared family phone is weak, an EHR id is conclusive);
 * several matches combine as independent evidence: 1 - Π(1 - s).
 */
import { factKey } from "./events";

export const MATCH_KINDS = ["external_id", "name_dob", "email", "phone"] as const;
export type MatchKind = (typeof MATCH_KINDS)[number];

export const MATCH_STRENGTH: Record<MatchKind, number> = {
  external_id: 1.0,
  name_dob: 0.9,
  email: 0.8,
  phone: 0.7,
};

export interface IdentifyingDetails {
  phone?: string | undefined;
  email?: string | undefined;
  given_name?: string | undefined;
  family_name?: string | undefined;
  birth_date?: string | undefined;
  external_id?: string | undefined;
}

/** The normalized lookup keys for a set of details; what the identifier index stores (hashed). */
export function identifierKeys(details: IdentifyingDetails): { kind: MatchKind; value: string }[] {
  const keys: { kind: MatchKind; value: string }[] = [];
  if (details.external_id) keys.push({ kind: "external_id", value: details.external_id.trim() });
  if (details.phone) keys.push({ kind: "phone", value: details.phone.trim() });
  if (details.email) keys.push({ kind: "email", value: details.email.trim().toLowerCase() });
  if (details.family_name && details.given_name && details.birth_date) {
    keys.push({
      kind: "name_dob",
      value: `${factKey(details.family_name)}|${factKey(details.given_name)}|${details.birth_date}`,
    });
  }
  return keys;
}

/** Name tokens for prefix search: `Mary-Ann O'Neil` → mary, ann, oneil, and their prefixes of 2+ letters. */
export function searchTerms(displayName: string, maxPrefix = 12): string[] {
  const tokens = displayName
    .normalize("NFKD")
    .replace(/[\u0300-\u036f]/g, "")
    .toLowerCase()
    .replace(/'/g, "")
    .split(/[^a-z0-9]+/)
    .filter((t) => t.length >= 2);
  const terms = new Set<string>();
  for (const token of tokens) {
    for (let n = 2; n <= Math.min(token.length, maxPrefix); n++) terms.add(token.slice(0, n));
  }
  return [...terms];
}

/** The search terms of a query: each token's prefix, capped like the index. */
export function queryTerms(query: string, maxPrefix = 12): string[] {
  return query
    .normalize("NFKD")
    .replace(/[\u0300-\u036f]/g, "")
    .toLowerCase()
    .replace(/'/g, "")
    .split(/[^a-z0-9]+/)
    .filter((t) => t.length >= 2)
    .map((t) => t.slice(0, maxPrefix));
}

export function matchConfidence(kinds: Iterable<MatchKind>): number {
  let miss = 1;
  for (const kind of new Set(kinds)) miss *= 1 - MATCH_STRENGTH[kind];
  return Math.round((1 - miss) * 1000) / 1000;
}

export interface Candidate {
  entityId: string;
  matchedOn: MatchKind[];
  matchConfidence: number;
}

/** Groups index hits by entity and ranks them: highest confidence first, then entity id. */
export function rankCandidates(hits: { entityId: string; kind: MatchKind }[]): Candidate[] {
  const byEntity = new Map<string, Set<MatchKind>>();
  for (const hit of hits) {
    const kinds = byEntity.get(hit.entityId) ?? new Set<MatchKind>();
    kinds.add(hit.kind);
    byEntity.set(hit.entityId, kinds);
  }
  return [...byEntity]
    .map(([entityId, kinds]) => ({
      entityId,
      matchedOn: MATCH_KINDS.filter((k) => kinds.has(k)),
      matchConfidence: matchConfidence(kinds),
    }))
    .sort((a, b) => b.matchConfidence - a.matchConfidence || (a.entityId < b.entityId ? -1 : 1));
}
