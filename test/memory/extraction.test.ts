/**
 * Memory L1, pure: the deterministic extractor reads the caller's words into candidate facts, in the
 * shape `POST /world/extractions` takes; topics for the interaction event; and the checks a model's
 * answer must pass before it is believed.
 */
import { describe, expect, it } from "vitest";
import { EVENT_TYPES, parseEventData } from "../../shared/world/events";
import {
  extractCandidates,
  MODEL_OUTPUT_JSON_SCHEMA,
  modelExtractionInput,
  parseModelExtraction,
  topicsOf,
} from "../../shared/world/memory-extraction";

const said = (text: string) => extractCandidates([{ speaker: "caller", text }]);
const data = (text: string) => said(text).map((c) => [c.event_type, c.data]);

describe("extractCandidates", () => {
  it.each([
    [
      "I'm allergic to penicillin and sulfa drugs.",
      [
        ["allergy.recorded", { substance: "Penicillin", status: "active" }],
        ["allergy.recorded", { substance: "Sulfa drugs", status: "active" }],
      ],
    ],
    [
      "I'm allergic to latex, it gives me hives",
      [["allergy.recorded", { substance: "Latex", status: "active", reaction: "hives" }]],
    ],
    [
      "I have a severe peanut allergy, I carry an EpiPen",
      [["allergy.recorded", { substance: "Peanut", status: "active", severity: "severe" }]],
    ],
    ["I'm not allergic to anything", []],
    ["No known allergies", []],
    ["I don't have an allergy to shellfish", []],
    [
      "I need a refill of my metformin 500 mg twice a day",
      [
        [
          "medication.recorded",
          { name: "Metformin", status: "active", dose: "500 mg", frequency: "twice daily" },
        ],
      ],
    ],
    [
      "I stopped taking lisinopril last month",
      [["medication.recorded", { name: "Lisinopril", status: "stopped" }]],
    ],
    [
      "I take Zoloft and Lipitor",
      [
        ["medication.recorded", { name: "Sertraline", status: "active" }],
        ["medication.recorded", { name: "Atorvastatin", status: "active" }],
      ],
    ],
    [
      "Please text me, mornings are better",
      [
        ["preference.recorded", { channel: "sms" }],
        ["preference.recorded", { contact_time: "morning" }],
      ],
    ],
    ["Can you send me an email instead?", [["preference.recorded", { channel: "email" }]]],
    ["Evenings work best for me", [["preference.recorded", { contact_time: "evening" }]]],
    ["Afternoons don't work for me", []],
    ["I have a morning appointment tomorrow", []],
    ["Do not contact me again", [["preference.recorded", { do_not_contact: true }]]],
    ["I prefer Spanish please", [["preference.recorded", { language: "es" }]]],
    ["I'd like to book a checkup", []],
  ])("%s", (text, expected) => {
    expect(data(text)).toEqual(expected);
  });

  it("ignores what the agent says: only the caller's words are evidence", () => {
    expect(
      extractCandidates([
        { speaker: "agent", text: "Are you allergic to penicillin? Do you take metformin?" },
        { speaker: "operator", text: "Text me the chart." },
        { speaker: "caller", text: "I'm not sure." },
      ]),
    ).toEqual([]);
  });

  it("marks a fact the agent read back and the caller affirmed as agent_confirmed", () => {
    const facts = extractCandidates([
      { speaker: "caller", text: "I'm allergic to codeine. I also take amlodipine." },
      { speaker: "agent", text: "Just to confirm, you're allergic to codeine?" },
      { speaker: "caller", text: "Yes, that's right." },
    ]);
    expect(facts.map((f) => [f.data.substance ?? f.data.name, f.basis])).toEqual([
      ["Codeine", "agent_confirmed"],
      ["Amlodipine", "agent_mentioned"],
    ]);
  });

  it("keeps one candidate per fact path, the latest mention", () => {
    const facts = extractCandidates([
      { speaker: "caller", text: "I take metformin." },
      { speaker: "caller", text: "Actually I stopped taking metformin." },
    ]);
    expect(facts).toEqual([
      {
        event_type: "medication.recorded",
        data: { name: "Metformin", status: "stopped" },
        basis: "agent_mentioned",
      },
    ]);
  });

  it("only ever proposes data valid for its event type", () => {
    const facts = extractCandidates([
      {
        speaker: "caller",
        text: "I'm allergic to bee stings, latex and eggs. I take insulin at bedtime and albuterol as needed. Text me in the evening, en español.",
      },
    ]);
    expect(facts.length).toBeGreaterThanOrEqual(7);
    for (const f of facts)
      expect(parseEventData(f.event_type, "patient", f.data).ok, JSON.stringify(f)).toBe(true);
  });
});

describe("topicsOf", () => {
  it("finds the topics of the caller's words", () => {
    expect(
      topicsOf([
        { speaker: "agent", text: "Is this about your bill?" },
        { speaker: "caller", text: "I ran out of my pills and need to reschedule my appointment." },
      ]),
    ).toEqual(["medication_refill", "appointment_scheduling"]);
  });
});

describe("model output", () => {
  it("asks for JSON constrained to the extraction schema, with the transcript as data", () => {
    const input = modelExtractionInput([{ speaker: "caller", text: "I'm allergic to latex" }]);
    expect(input.messages[0]!.role).toBe("system");
    expect(JSON.parse(input.messages[1]!.content)).toEqual([
      { speaker: "caller", text: "I'm allergic to latex" },
    ]);
    expect(input.response_format).toEqual({ type: "json_schema", json_schema: MODEL_OUTPUT_JSON_SCHEMA });
    expect(Object.keys((MODEL_OUTPUT_JSON_SCHEMA as { properties: object }).properties)).toEqual(["facts"]);
  });

  it("accepts an object or a JSON string, and drops facts whose data is invalid", () => {
    const facts = [
      { event_type: "allergy.recorded", data: { substance: "Latex" }, basis: "agent_mentioned" },
      { event_type: "medication.recorded", data: { dose: "5 mg" }, basis: "agent_mentioned" },
      { event_type: "preference.recorded", data: { channel: "pigeon" }, basis: "agent_inferred" },
    ];
    const expected = [
      {
        event_type: "allergy.recorded",
        data: { substance: "Latex", status: "active" },
        basis: "agent_mentioned",
      },
    ];
    expect(parseModelExtraction({ response: { facts } })).toEqual(expected);
    expect(parseModelExtraction({ response: `\`\`\`json\n${JSON.stringify({ facts })}\n\`\`\`` })).toEqual(
      expected,
    );
  });

  it.each([
    ["not JSON", { response: "Sure! The patient is allergic to latex." }],
    ["the wrong envelope", { response: { allergies: ["latex"] } }],
    [
      "an event type it may not propose",
      { response: { facts: [{ event_type: "demographics.recorded", data: {}, basis: "agent_mentioned" }] } },
    ],
    [
      "a basis above what a conversation can give",
      {
        response: {
          facts: [{ event_type: "allergy.recorded", data: { substance: "Latex" }, basis: "authoritative" }],
        },
      },
    ],
    ["nothing", null],
  ])("refuses %s (the caller falls back to the local extractor)", (_, output) => {
    expect(parseModelExtraction(output)).toBeNull();
  });

  it("proposes only event types that exist", () => {
    const schema = MODEL_OUTPUT_JSON_SCHEMA as unknown as {
      properties: { facts: { items: { properties: { event_type: { enum: string[] } } } } };
    };
    for (const type of schema.properties.facts.items.properties.event_type.enum)
      expect(EVENT_TYPES).toHaveProperty([type]);
  });
});
