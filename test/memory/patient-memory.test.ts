/**
 * Memory L3, pure: what the compact patient model keeps from a projected state, and what it leaves out.
 */
import { expect, it } from "vitest";
import { type EventType, parseEventData } from "../../shared/world/events";
import { buildPatientMemory, computePatterns } from "../../shared/world/memory";
import { type ProjectableEvent, project } from "../../shared/world/projection";

let n = 0;
function event(
  eventType: EventType,
  data: unknown,
  confidence: number,
  extra: Partial<ProjectableEvent> = {},
): ProjectableEvent {
  const parsed = parseEventData(eventType, "patient", data);
  if (!parsed.ok) throw new Error(JSON.stringify(parsed.issues));
  n++;
  return {
    id: `evt_${String(n).padStart(4, "0")}`,
    eventType,
    facts: parsed.facts,
    confidence,
    source: confidence >= 1 ? "ehr" : "voice",
    effectiveAt: `2026-11-01T10:00:${String(n % 60).padStart(2, "0")}.000Z`,
    supersedes: null,
    ...extra,
  };
}

const none = { patterns: computePatterns([], [], { timeZone: "UTC" }), computedAt: null };

it("keeps a safety fact a reviewer rejected, and every allergy whatever its confidence", () => {
  const reported = event("allergy.recorded", { substance: "Latex" }, 0.3);
  const state = project([
    event("demographics.recorded", { given_name: "Ana", family_name: "Ruiz", birth_date: "1980-04-02" }, 1),
    reported,
    event("allergy.recorded", { substance: "Latex" }, 0, { source: "review", supersedes: reported.id }),
    event("allergy.recorded", { substance: "Penicillin", severity: "severe" }, 0.2),
    event("safety.flagged", { indicator: "fall_risk" }, 1),
  ]);
  const memory = buildPatientMemory("ent_1", state, none);
  expect(memory.safety.map((s) => [s.path, s.confidence, s.verified])).toEqual([
    // Rejected: it stays in front of the agent at confidence 0, as something once reported.
    ["allergies.latex", 0, false],
    ["allergies.penicillin", 0.2, false],
    ["safety.fall_risk", 1, true],
  ]);
});

it("keeps active medications above the agent's floor, and identity verified only at verified confidence", () => {
  const state = project([
    event("demographics.recorded", { given_name: "Ana", family_name: "Ruiz" }, 1),
    event("demographics.recorded", { birth_date: "1980-04-02" }, 0.5),
    event("contact.recorded", { phone: "+12125550147" }, 0.85),
    event("medication.recorded", { name: "Metformin", dose: "500 mg" }, 1),
    event("medication.recorded", { name: "Lisinopril", status: "stopped" }, 1),
    event("medication.recorded", { name: "Aspirin" }, 0.2),
    event("coverage.recorded", { payer: "Aetna", member_id: "AET1", status: "cancelled" }, 1),
    event("preference.recorded", { channel: "sms", do_not_contact: false }, 0.5),
  ]);
  const memory = buildPatientMemory("ent_1", state, none);
  expect(memory.identity).toMatchObject({
    display_name: "Ana Ruiz",
    birth_date: "1980-04-02",
    phone: "+12125550147",
    email: null,
    verified: { name: true, birth_date: false, phone: true, email: false },
  });
  expect(memory.medications).toEqual([
    { value: { name: "Metformin", dose: "500 mg", status: "active" }, confidence: 1 },
  ]);
  expect(memory.coverage).toEqual([]);
  expect(memory.preferences).toEqual({
    channel: { value: "sms", confidence: 0.5 },
    do_not_contact: { value: false, confidence: 0.5 },
  });
  // A workspace that trusts less: the phone at 0.85 is no longer verified.
  expect(buildPatientMemory("ent_1", state, none, { verifiedConfidence: 0.9 }).identity.verified.phone).toBe(
    false,
  );
});
