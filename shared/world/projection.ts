/**
 * The projection of an entity's events into its current state. For each fact path the winner is the
 * candidate with the highest confidence; ties go to the latest `effective_at`, then to the larger event
 * id, so the result is a total order: the same set of events projects to the same state in any arrival
 * order. An event named in another's `supersedes` leaves the contest (its values stay in history), and
 * a candidate at confidence 0 never wins (a rejected proposal is history, not state).
 */
import { type EventType, type Fact, type FactValue, isSafetyCritical } from "./events";

export interface ProjectableEvent {
  id: string;
  eventType: EventType;
  facts: Fact[];
  confidence: number;
  source: string;
  effectiveAt: string;
  supersedes: string | null;
}

export interface FactCandidate {
  value: FactValue;
  confidence: number;
  source: string;
  effectiveAt: string;
  eventId: string;
  superseded: boolean;
}

export interface ProjectedFact extends Omit<FactCandidate, "superseded"> {
  safetyCritical: boolean;
}

export interface EntityState {
  facts: Record<string, ProjectedFact>;
  /** Every candidate per path, winner first, including superseded and rejected ones. */
  history: Record<string, FactCandidate[]>;
  eventCount: number;
  lastEffectiveAt: string | null;
}

/** Negative when `a` beats `b`. */
export function compareCandidates(a: FactCandidate, b: FactCandidate): number {
  const eligibleA = !a.superseded && a.confidence > 0;
  const eligibleB = !b.superseded && b.confidence > 0;
  if (eligibleA !== eligibleB) return eligibleA ? -1 : 1;
  if (a.confidence !== b.confidence) return b.confidence - a.confidence;
  if (a.effectiveAt !== b.effectiveAt) return a.effectiveAt < b.effectiveAt ? 1 : -1;
  return a.eventId < b.eventId ? 1 : a.eventId > b.eventId ? -1 : 0;
}

export function project(events: Iterable<ProjectableEvent>): EntityState {
  const all = [...events];
  const superseded = new Set(all.map((e) => e.supersedes).filter((id): id is string => id !== null));
  const history: Record<string, FactCandidate[]> = {};
  let lastEffectiveAt: string | null = null;
  const seen = new Set<string>();
  for (const event of all) {
    if (seen.has(event.id)) continue;
    seen.add(event.id);
    if (lastEffectiveAt === null || event.effectiveAt > lastEffectiveAt) lastEffectiveAt = event.effectiveAt;
    for (const fact of event.facts) {
      history[fact.path] ??= [];
      history[fact.path]!.push({
        value: fact.value,
        confidence: event.confidence,
        source: event.source,
        effectiveAt: event.effectiveAt,
        eventId: event.id,
        superseded: superseded.has(event.id),
      });
    }
  }
  const facts: Record<string, ProjectedFact> = {};
  const sortedHistory: Record<string, FactCandidate[]> = {};
  for (const path of Object.keys(history).sort()) {
    const candidates = history[path]!.sort(compareCandidates);
    sortedHistory[path] = candidates;
    const winner = candidates[0]!;
    if (!winner.superseded && winner.confidence > 0) {
      const { superseded: _s, ...fact } = winner;
      facts[path] = { ...fact, safetyCritical: isSafetyCritical(path) };
    }
  }
  return { facts, history: sortedHistory, eventCount: seen.size, lastEffectiveAt };
}

/** The facts handed to the agent: everything at or above `minConfidence`, and safety facts always. */
export function agentFacts(state: EntityState, minConfidence = 0.3): Record<string, ProjectedFact> {
  const out: Record<string, ProjectedFact> = {};
  for (const [path, fact] of Object.entries(state.facts)) {
    if (fact.safetyCritical || fact.confidence >= minConfidence) out[path] = fact;
  }
  // A safety fact whose every candidate was rejected still warns the agent that it was once reported.
  for (const [path, candidates] of Object.entries(state.history)) {
    if (isSafetyCritical(path) && !out[path]) {
      const reported = candidates.find((c) => !c.superseded) ?? candidates[0]!;
      out[path] = { ...reported, safetyCritical: true };
    }
  }
  return out;
}
