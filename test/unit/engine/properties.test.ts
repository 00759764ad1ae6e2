/** Properties of the LocalEngine over arbitrary caller input: it never throws and never leaks PHI. */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { initialEngineState } from "../../../shared/engine/engine";
import { respondLocally } from "../../../shared/engine/local-engine";
import { revealPatient } from "../../../shared/engine/templates";
import { graph, KNOWLEDGE, NOW, PATIENT, PERSONA, PHI_STRINGS, TIME_ZONE } from "./fixtures";

const g = graph();
const STATES = Object.keys(g.states).filter((id) => g.states[id]?.type !== "terminal");

const phrases = fc.constantFrom(
  "yes",
  "no",
  "the second one",
  "my name is Jane Doe",
  "March 5 1980",
  "February 30 1980",
  "next Tuesday at 3",
  "when is my appointment?",
  "what are your hours?",
  "book an appointment",
  "I'm so worried",
  "talk to a person",
  "415-555-0132",
  "",
);
const utterance = fc.oneof(
  fc.string({ maxLength: 120 }),
  phrases,
  fc.array(phrases, { maxLength: 4 }).map((p) => p.join(" ")),
);

describe("LocalEngine properties", () => {
  it("the PHI gate opens only for a verified caller", () => {
    expect(revealPatient(PATIENT, false)).toBeNull();
    expect(revealPatient(null, true)).toBeNull();
    expect(revealPatient(PATIENT, true)?.first_name).toBe("Janie");
  });

  it("answers any input in any state without throwing, and never speaks PHI to an unverified caller", () => {
    fc.assert(
      fc.property(
        fc.constantFrom(...STATES),
        fc.array(utterance, { minLength: 1, maxLength: 6 }),
        (start, said) => {
          let state = { ...initialEngineState(g, { returning: true, now: NOW }), state_id: start };
          for (const text of said) {
            const out = respondLocally({
              graph: g,
              state,
              utterance: text,
              heard: "",
              history: [],
              knowledge: KNOWLEDGE,
              patient: PATIENT,
              identity_verified: false,
              guidance: [],
              persona: PERSONA,
              now: NOW,
              time_zone: TIME_ZONE,
            });
            for (const phi of PHI_STRINGS) expect(out.reply).not.toContain(phi);
            expect(out.risk.score).toBeGreaterThanOrEqual(0);
            expect(out.risk.score).toBeLessThanOrEqual(1);
            expect(g.states[out.next_state]).toBeDefined();
            state = out.state;
          }
        },
      ),
      { numRuns: 300 },
    );
  });
});
