/**
 * The projection, as properties over random event sets (fast-check): any arrival order, with any
 * re-deliveries, projects to the same state; the winner of each path is the best eligible candidate;
 * superseded and rejected candidates never win. Then the rules as examples a reviewer would recognize.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import type { FactValue } from "../../shared/world/events";
import {
  agentFacts,
  type FactCandidate,
  type ProjectableEvent,
  project,
} from "../../shared/world/projection";

const PATHS = [
  "demographics.given_name",
  "contact.phone",
  "allergies.latex",
  "allergies.penicillin",
  "medications.metformin",
  "safety.crisis",
] as const;
const IDS = Array.from({ length: 30 }, (_, i) => `evt_${String(i).padStart(2, "0")}`);
/** Few distinct instants and confidences, so ties (the hard part of a total order) are common. */
const INSTANTS = ["2026-01-01T00:00:00.000Z", "2026-01-02T00:00:00.000Z", "2026-01-03T12:00:00.000Z"];

const factValue: fc.Arbitrary<FactValue> = fc.oneof(
  fc.constantFrom("mild", "severe", "Maria", "+14155550123"),
  fc.integer({ min: 0, max: 9 }),
  fc.record({
    substance: fc.constantFrom("latex", "penicillin"),
    severity: fc.constantFrom("mild", "severe"),
  }),
);

const confidence = fc.oneof(
  fc.constantFrom(0, 0.2, 0.3, 0.5, 0.85, 0.9, 0.95, 1),
  fc.double({ min: 0, max: 1, noNaN: true }),
);

/** A set of events with distinct ids; `supersedes` may name any id, present or not (even its own). */
const eventSet: fc.Arbitrary<ProjectableEvent[]> = fc
  .uniqueArray(fc.constantFrom(...IDS), { minLength: 1, maxLength: 20 })
  .chain((ids) =>
    fc.tuple(
      ...ids.map((id) =>
        fc.record({
          id: fc.constant(id),
          eventType: fc.constant("demographics.recorded" as const),
          facts: fc
            .uniqueArray(fc.constantFrom(...PATHS), { minLength: 1, maxLength: 3 })
            .chain((paths) =>
              fc.tuple(...paths.map((path) => fc.record({ path: fc.constant(path), value: factValue }))),
            ),
          confidence,
          source: fc.constantFrom("ehr", "voice", "review", "system"),
          effectiveAt: fc.constantFrom(...INSTANTS),
          supersedes: fc.option(fc.constantFrom(...IDS), { nil: null, freq: 3 }),
        }),
      ),
    ),
  );

/** The events in a random order, with some of them delivered again. */
const arrival = (events: ProjectableEvent[]) =>
  fc.subarray(events).chain((again) =>
    fc.shuffledSubarray([...events, ...again], {
      minLength: events.length + again.length,
      maxLength: events.length + again.length,
    }),
  );

const eligible = (c: FactCandidate) => !c.superseded && c.confidence > 0;

describe("projection properties", () => {
  it("projects the same state whatever the arrival order and re-deliveries", () => {
    fc.assert(
      fc.property(
        eventSet.chain((events) => fc.tuple(fc.constant(events), arrival(events), arrival(events))),
        ([events, first, second]) => {
          const expected = project(events);
          expect(project(first)).toEqual(expected);
          expect(project(second)).toEqual(expected);
          expect(expected.eventCount).toBe(events.length);
        },
      ),
      { numRuns: 300 },
    );
  });

  it("each path's winner is the eligible candidate with the highest confidence, then the latest, then the largest id", () => {
    fc.assert(
      fc.property(eventSet, (events) => {
        const state = project(events);
        const superseded = new Set(events.map((e) => e.supersedes));
        for (const path of PATHS) {
          const candidates = events
            .filter((e) => e.facts.some((f) => f.path === path))
            .filter((e) => !superseded.has(e.id) && e.confidence > 0);
          const fact = state.facts[path];
          if (candidates.length === 0) {
            expect(fact).toBeUndefined();
            continue;
          }
          const best = [...candidates].sort(
            (a, b) =>
              b.confidence - a.confidence ||
              b.effectiveAt.localeCompare(a.effectiveAt) ||
              b.id.localeCompare(a.id),
          )[0]!;
          expect(fact?.eventId).toBe(best.id);
          expect(fact?.value).toEqual(best.facts.find((f) => f.path === path)!.value);
          expect(fact?.safetyCritical).toBe(path.startsWith("allergies.") || path.startsWith("safety."));
        }
      }),
      { numRuns: 300 },
    );
  });

  it("keeps every candidate in history, winner first, and never lets a superseded or rejected one win", () => {
    fc.assert(
      fc.property(eventSet, (events) => {
        const state = project(events);
        const factCount = events.reduce((n, e) => n + e.facts.length, 0);
        expect(Object.values(state.history).reduce((n, list) => n + list.length, 0)).toBe(factCount);
        for (const [path, candidates] of Object.entries(state.history)) {
          const winner = state.facts[path];
          if (winner) {
            expect(candidates[0]!.eventId).toBe(winner.eventId);
            expect(eligible(candidates[0]!)).toBe(true);
          } else {
            expect(candidates.some(eligible)).toBe(false);
          }
        }
        // The agent always hears of a safety-critical path, even one whose every candidate was rejected.
        const heard = agentFacts(state);
        for (const path of Object.keys(state.history)) {
          if (path.startsWith("allergies.") || path.startsWith("safety.")) expect(heard[path]).toBeDefined();
        }
      }),
      { numRuns: 300 },
    );
  });
});

const event = (
  e: Partial<ProjectableEvent> & Pick<ProjectableEvent, "id" | "facts" | "confidence">,
): ProjectableEvent => ({
  eventType: "allergy.recorded",
  source: "ehr",
  effectiveAt: INSTANTS[0]!,
  supersedes: null,
  ...e,
});
const penicillin = (severity: string) => [
  { path: "allergies.penicillin", value: { substance: "penicillin", severity } },
];

describe("conflict resolution", () => {
  it("the more confident source wins, even when the other is newer", () => {
    const state = project([
      event({ id: "evt_ehr", facts: penicillin("severe"), confidence: 1, source: "ehr" }),
      event({
        id: "evt_call",
        facts: penicillin("mild"),
        confidence: 0.5,
        source: "voice",
        effectiveAt: INSTANTS[2]!,
      }),
    ]);
    expect(state.facts["allergies.penicillin"]).toMatchObject({
      value: { severity: "severe" },
      source: "ehr",
      confidence: 1,
    });
    expect(state.history["allergies.penicillin"]!.map((c) => c.eventId)).toEqual(["evt_ehr", "evt_call"]);
  });

  it("at equal confidence the later fact wins, and at an equal instant the larger id", () => {
    const later = project([
      event({ id: "evt_b", facts: penicillin("mild"), confidence: 0.9 }),
      event({ id: "evt_a", facts: penicillin("severe"), confidence: 0.9, effectiveAt: INSTANTS[1]! }),
    ]);
    expect(later.facts["allergies.penicillin"]?.eventId).toBe("evt_a");
    const tie = project([
      event({ id: "evt_a", facts: penicillin("mild"), confidence: 0.9 }),
      event({ id: "evt_b", facts: penicillin("severe"), confidence: 0.9 }),
    ]);
    expect(tie.facts["allergies.penicillin"]?.eventId).toBe("evt_b");
  });
});

describe("supersession", () => {
  it("a reviewer's correction replaces what it supersedes, even an equally confident, newer EHR fact", () => {
    const state = project([
      event({ id: "evt_ehr", facts: penicillin("severe"), confidence: 1, effectiveAt: INSTANTS[2]! }),
      event({
        id: "evt_fix",
        facts: penicillin("moderate"),
        confidence: 1,
        source: "review",
        supersedes: "evt_ehr",
      }),
    ]);
    expect(state.facts["allergies.penicillin"]).toMatchObject({ eventId: "evt_fix", source: "review" });
    expect(state.history["allergies.penicillin"]![1]).toMatchObject({ eventId: "evt_ehr", superseded: true });
  });

  it("a rejection (confidence 0) superseding the proposal leaves no value, yet the agent still hears of it", () => {
    const state = project([
      event({ id: "evt_said", facts: penicillin("mild"), confidence: 0.5, source: "voice" }),
      event({
        id: "evt_judge",
        facts: penicillin("mild"),
        confidence: 0.85,
        source: "system",
        supersedes: "evt_said",
      }),
      event({
        id: "evt_reject",
        facts: penicillin("mild"),
        confidence: 0,
        source: "review",
        supersedes: "evt_judge",
      }),
    ]);
    expect(state.facts["allergies.penicillin"]).toBeUndefined();
    expect(agentFacts(state)["allergies.penicillin"]).toMatchObject({ safetyCritical: true });
  });
});
