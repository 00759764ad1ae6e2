/**
 * The deterministic briefing (shared/operators/briefing.ts), table-driven over the calls operators open:
 * chest pain, crisis, an unverified caller with a linked record, scheduling, a looping agent, an unknown
 * caller, a finished call; and the model path's pure halves: the request (no patient facts before
 * verification) and the reading of the answer (invalid → null, safety actions kept first).
 */
import { describe, expect, it } from "vitest";
import type { EnginePatient } from "../../../shared/engine/engine";
import { defaultOverlay } from "../../../shared/operators/active-calls";
import {
  type BriefingInput,
  briefingModelRequest,
  mergeModelBriefing,
  renderBriefing,
} from "../../../shared/operators/briefing";
import { BriefingSchema, type CallOverlay } from "../../../shared/schemas/operators";

const NOW = new Date("2026-12-02T10:05:00.000Z");
const STARTED = "2026-12-02T10:03:00.000Z";

function overlay(over: Partial<CallOverlay> = {}): CallOverlay {
  return {
    ...defaultOverlay("call_test", STARTED),
    service_id: "svc_test",
    transport: "conversation_relay",
    simulated: true,
    updated_at: NOW.toISOString(),
    state_id: "main_menu",
    turn_count: 6,
    emotion_score: 0.1,
    valence: 0.1,
    risk_score: 0.1,
    ...over,
  };
}

const PATIENT: EnginePatient = {
  entity_id: "ent_maria",
  identity: {
    display_name: "Maria Quill",
    preferred_name: null,
    birth_date: "1980-04-02",
    gender: "female",
    phone: "+14155550123",
    email: null,
    external_ids: [],
    verified: { name: true, birth_date: true, phone: true, email: false },
  },
  safety: [
    {
      path: "allergies.penicillin",
      value: { substance: "Penicillin", severity: "severe", reaction: "hives", status: "active" },
      confidence: 1,
      source: "ehr",
      verified: true,
    },
    {
      path: "safety.fall_risk",
      value: { indicator: "fall_risk", note: "uses a walker", active: true },
      confidence: 1,
      source: "ehr",
      verified: true,
    },
  ],
  medications: [{ value: { name: "Metformin", dose: "500 mg", frequency: "twice daily" }, confidence: 1 }],
  conditions: [{ value: { name: "Type 2 diabetes", status: "active" }, confidence: 1 }],
  coverage: [],
  preferences: {},
  open_tasks: [{ task_id: "t1", kind: "follow_up", due_at: "2026-12-05T15:00:00.000Z", note: "A1c review" }],
  recent_interactions: [
    {
      interaction_id: "call_earlier",
      channel: "voice",
      direction: "inbound",
      occurred_at: "2026-11-20T09:00:00.000Z",
      summary: "",
      topics: ["refill"],
    },
  ],
  patterns: null,
  patterns_computed_at: null,
  upcoming_appointments: [
    { start: "2026-12-10T09:00:00.000Z", description: "Annual physical", provider: "Dr. Lee" },
  ],
};

function input(over: Partial<BriefingInput> = {}): BriefingInput {
  return {
    callId: "call_test",
    now: NOW,
    overlay: overlay(),
    intent: null,
    turns: [],
    timeline: [],
    tools: [],
    patientEntityId: "ent_maria",
    verified: true,
    patient: PATIENT,
    guidancePending: 0,
    endedAt: null,
    ...over,
  };
}

const caller = (text: string) => ({ speaker: "caller" as const, text, at: NOW.toISOString() });

interface Case {
  name: string;
  input: BriefingInput;
  need: RegExp | null;
  firstAction: RegExp;
  actions?: RegExp[];
  notActions?: RegExp[];
  issues?: RegExp[];
  drivers?: RegExp[];
}

const CASES: Case[] = [
  {
    name: "chest pain",
    input: input({
      overlay: overlay({
        risk_score: 0.95,
        risk_level: "escalate",
        escalation: "waiting",
        escalated_at: "2026-12-02T10:04:30.000Z",
        escalation_reason: "safety:chest_pain",
        safety: "chest_pain",
        emotion: "distressed",
        emotion_score: 0.8,
        valence: -0.7,
        state_id: "escalate_to_staff",
      }),
      turns: [caller("I'm having chest pain right now and my arm feels numb")],
      timeline: [{ risk_score: 0.1 }, { risk_score: 0.95 }],
    }),
    need: /Reported chest pain/,
    firstAction: /^Take over now and assess the symptoms \(chest pain\).*911.*emergency department/,
    actions: [/Acknowledge/],
    notActions: [/Verify identity/, /988/],
    issues: [/^Safety: chest pain/, /Waiting for an operator/, /Flag on record: fall risk/],
    drivers: [/Safety rule fired: chest pain/, /distressed/, /Negative tone/, /Risk rising: 0.10 → 0.95/],
  },
  {
    name: "crisis",
    input: input({
      overlay: overlay({
        risk_score: 0.9,
        risk_level: "escalate",
        escalation: "waiting",
        escalation_reason: "safety:crisis",
        safety: "crisis",
        emotion: "distressed",
        emotion_score: 0.9,
      }),
      verified: false,
      turns: [caller("I don't want to be here anymore")],
    }),
    need: /crisis language/,
    firstAction: /^Take over now: stay with the caller.*988 Suicide & Crisis Lifeline.*911/,
    // Safety first, then verification.
    actions: [/Verify identity first/],
    drivers: [/Safety rule fired: crisis/],
  },
  {
    name: "unverified caller with a linked record",
    input: input({ verified: false, intent: "billing", turns: [caller("I have a question about my bill")] }),
    need: /billing question/,
    firstAction: /^Verify identity first \(full name and date of birth\)/,
    actions: [/Route to billing/],
    issues: [/Identity not verified: the record is linked by phone number only/],
  },
  {
    name: "scheduling",
    input: input({
      intent: "reschedule",
      overlay: overlay({ state_id: "select_appointment" }),
      turns: [caller("I need to move my appointment next week")],
    }),
    need: /Reschedule an appointment/,
    firstAction: /^Offer open slots/,
    actions: [/Confirm which upcoming appointment/],
    notActions: [/Verify identity/, /911/],
  },
  {
    name: "looping",
    input: input({
      overlay: overlay({
        loops: 3,
        risk_score: 0.55,
        risk_level: "alert",
        emotion: "concerned",
        emotion_score: 0.5,
      }),
      turns: [caller("No, that's not what I said"), caller("I already told you that")],
    }),
    need: /In their words: "I already told you that"/,
    firstAction: /^Take over: the agent is going in circles/,
    actions: [/Acknowledge/],
    issues: [/looping \(a step repeated 3 times\)/],
    drivers: [/Going in circles: a step repeated 3 times/],
  },
  {
    name: "unknown caller",
    input: input({ patientEntityId: null, patient: null, verified: false, turns: [] }),
    need: null,
    firstAction: /^Ask for the caller's full name and date of birth/,
    issues: [/Unknown caller/],
    drivers: [/Risk normal \(0.10\): nothing stands out/],
  },
  {
    name: "a finished call",
    input: input({ endedAt: "2026-12-02T10:04:00.000Z", intent: "book" }),
    need: /Book an appointment/,
    firstAction: /^Wrap up with the outcome and notes/,
    notActions: [/Offer open slots/],
    issues: [/The call has ended/],
  },
];

describe("renderBriefing", () => {
  it.each(CASES)("$name", (c) => {
    const briefing = renderBriefing(c.input);
    expect(BriefingSchema.parse(briefing)).toEqual(briefing);
    expect(briefing.source).toBe("rules");
    if (c.need) expect(briefing.situation.caller_need).toMatch(c.need);
    else expect(briefing.situation.caller_need).toBeNull();
    expect(briefing.recommended_actions[0]).toMatch(c.firstAction);
    for (const a of c.actions ?? [])
      expect(
        briefing.recommended_actions.some((x) => a.test(x)),
        String(a),
      ).toBe(true);
    for (const a of c.notActions ?? [])
      expect(
        briefing.recommended_actions.some((x) => a.test(x)),
        String(a),
      ).toBe(false);
    for (const i of c.issues ?? [])
      expect(
        briefing.key_issues.some((x) => i.test(x)),
        String(i),
      ).toBe(true);
    for (const d of c.drivers ?? [])
      expect(
        briefing.risk.drivers.some((x) => d.test(x)),
        String(d),
      ).toBe(true);
    expect(briefing.risk.score).toBe(c.input.overlay.risk_score);
    expect(briefing.risk.level).toBe(c.input.overlay.risk_level);
  });

  it("situation: where the call stands, and the caller's last words", () => {
    const b = renderBriefing(input({ intent: "book", turns: [caller("Can I come in Tuesday?")] }));
    expect(b.situation).toMatchObject({ duration_seconds: 120, turn_count: 6, state_id: "main_menu" });
    expect(b.situation.summary).toBe(
      'Maria Quill (verified): Book an appointment. 6 caller turns in 2m, at "main menu", agent in control. Last said: "Can I come in Tuesday?"',
    );
  });

  it("patient context from the memory: age, care plan, medications, allergies, appointments, prior calls", () => {
    const b = renderBriefing(input());
    expect(b.patient).toEqual({
      entity_id: "ent_maria",
      verified: true,
      name: "Maria Quill",
      birth_date: "1980-04-02",
      age: 46,
      sex: "female",
      prior_calls: 1,
      care_plan: ["Type 2 diabetes (active)", "follow up due 2026-12-05T15:00:00.000Z: A1c review"],
      recent_labs: [],
      medications: ["Metformin 500 mg twice daily"],
      allergies: ["Penicillin (severe, hives)"],
      upcoming_appointments: ["2026-12-10T09:00:00.000Z · Annual physical · Dr. Lee"],
    });
    expect(b.prior_interactions).toEqual([
      { at: "2026-11-20T09:00:00.000Z", channel: "voice", summary: "inbound voice: refill" },
    ]);
  });

  it("shows the linked record before verification, marked unverified", () => {
    const b = renderBriefing(input({ verified: false }));
    expect(b.patient).toMatchObject({ verified: false, name: "Maria Quill" });
    expect(b.situation.summary).toMatch(/^Maria Quill \(linked record, not verified\)/);
  });

  it("a linked record that could not be read still names the entity", () => {
    const b = renderBriefing(input({ patient: null }));
    expect(b.patient).toMatchObject({ entity_id: "ent_maria", name: null, medications: [], prior_calls: 0 });
  });

  it("cuts long caller lines", () => {
    const b = renderBriefing(
      input({ patientEntityId: null, patient: null, turns: [caller("word ".repeat(100))] }),
    );
    expect(b.situation.caller_need!.length).toBeLessThan(230);
    expect(b.situation.caller_need).toMatch(/…"$/);
  });
});

describe("the model path", () => {
  const chestPain = CASES[0]!.input;

  it("asks in JSON mode, with patient facts only once the caller is verified", () => {
    const verified = briefingModelRequest(chestPain, renderBriefing(chestPain));
    expect(verified.response_format.type).toBe("json_schema");
    expect(verified.messages.map((m) => m.role)).toEqual(["system", "user"]);
    const facts = JSON.parse(verified.messages[1]!.content);
    expect(facts.patient.allergies).toEqual(["Penicillin (severe, hives)"]);
    expect(facts.recent_turns.at(-1).text).toMatch(/chest pain/);
    expect(facts.baseline.recommended_actions[0]).toMatch(/^Take over now/);

    const unverified = { ...chestPain, verified: false };
    const request = briefingModelRequest(unverified, renderBriefing(unverified));
    const body = request.messages.map((m) => m.content).join("\n");
    expect(body).not.toContain("Maria");
    expect(body).not.toContain("Penicillin");
    expect(body).not.toContain("1980");
    expect(JSON.parse(request.messages[1]!.content).caller_identity).toBe("not verified");
  });

  const answer = {
    summary: "The caller reports chest pain and arm numbness; the call escalated and waits.",
    caller_need: "Urgent help with chest pain",
    risk_drivers: ["Chest pain with arm numbness"],
    key_issues: ["Possible cardiac event"],
    recommended_actions: ["Ask about onset and severity"],
  };

  it.each([
    ["an object (JSON mode)", { response: answer }],
    ["a JSON string", { response: JSON.stringify(answer) }],
    ["a fenced JSON string", { response: `\`\`\`json\n${JSON.stringify(answer)}\n\`\`\`` }],
  ])("merges a valid answer given as %s, keeping the emergency action first", (_name, raw) => {
    const rules = renderBriefing(chestPain);
    const merged = mergeModelBriefing(raw, rules)!;
    expect(merged.source).toBe("model");
    expect(merged.situation).toMatchObject({
      summary: answer.summary,
      caller_need: answer.caller_need,
      turn_count: 6,
    });
    expect(merged.recommended_actions).toEqual([
      rules.recommended_actions[0],
      "Ask about onset and severity",
    ]);
    expect(merged.patient).toEqual(rules.patient);
    expect(merged.risk).toMatchObject({ score: 0.95, level: "escalate", drivers: answer.risk_drivers });
  });

  it.each([
    ["not JSON", { response: "Here is your briefing: the caller has chest pain." }],
    ["missing keys", { response: JSON.stringify({ summary: "x" }) }],
    ["extra keys", { response: JSON.stringify({ ...answer, patient: { name: "Someone" } }) }],
    ["no actions", { response: JSON.stringify({ ...answer, recommended_actions: [] }) }],
    ["wrong types", { response: JSON.stringify({ ...answer, key_issues: "many" }) }],
    ["nothing", null],
  ])("refuses %s", (_name, raw) => {
    expect(mergeModelBriefing(raw, renderBriefing(chestPain))).toBeNull();
  });
});
