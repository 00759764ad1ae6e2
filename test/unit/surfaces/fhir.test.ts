/** Surfaces as FHIR R4: spec → Questionnaire → spec, answers → QuestionnaireResponse (validated as R4). */
import { indexStructureDefinitionBundle, OperationOutcomeError, validateResource } from "@medplum/core";
import type { OperationOutcomeIssue, Questionnaire, QuestionnaireItem } from "@medplum/fhirtypes";
import { describe, expect, it } from "vitest";
import {
  fromQuestionnaire,
  SURFACE_EXTENSIONS,
  toQuestionnaire,
  toQuestionnaireResponse,
} from "../../../shared/surfaces/fhir";
import { type Answers, SurfaceSpec, type SurfaceSpecInput } from "../../../shared/surfaces/spec";
import { specProblems } from "../../../shared/surfaces/validate";
import { loadR4Definitions, validateFhirResource } from "../../../workers/ehr/validate";
import { QUESTIONNAIRE_DEFINITION } from "./questionnaire-definition";

/** R4 errors in a Questionnaire (the Worker's validator does not know the type; the tests index it). */
function questionnaireErrors(q: Questionnaire): string[] {
  loadR4Definitions();
  indexStructureDefinitionBundle([QUESTIONNAIRE_DEFINITION]);
  let issues: OperationOutcomeIssue[];
  try {
    issues = validateResource(q);
  } catch (err) {
    if (!(err instanceof OperationOutcomeError)) throw err;
    issues = err.outcome.issue ?? [];
  }
  return issues
    .filter((i) => i.severity === "error" || i.severity === "fatal")
    .map((i) => `${i.expression?.[0]}: ${i.details?.text}`);
}

const f = (key: string, field_type: string, extra: Record<string, unknown> = {}) =>
  ({ key, label: `Label ${key}`, field_type, ...extra }) as SurfaceSpecInput["fields"][number];

const SPEC = SurfaceSpec.parse({
  title: "New patient intake",
  description: "A few things we still need",
  sections: [
    {
      title: "About you",
      description: "Basics",
      field_keys: ["intro", "name", "notes", "dob", "phone", "email", "visits", "reason", "smoker"],
    },
    {
      title: "Smoking",
      field_keys: ["kinds", "packs_note", "card", "signature", "letter", "consent"],
      condition: { field: "smoker", op: "=", value: true },
    },
  ],
  fields: [
    f("intro", "heading", { description: "Please read" }),
    f("name", "text", {
      placeholder: "Full name",
      validation: { min_length: 2, max_length: 80, pattern: "[^0-9]+" },
      prefill_value: "Jane",
      sensitive: true,
      target: { event_type: "demographics.recorded", data_key: "given_name" },
    }),
    f("notes", "textarea", { required: false }),
    f("dob", "date", {
      validation: { min_date: "1900-01-01", max_date: "today" },
      prefill_value: "1980-03-05",
    }),
    f("phone", "phone", { target: { event_type: "contact.recorded", data_key: "phone" } }),
    f("email", "email", { required: false }),
    f("visits", "number", { validation: { min: 0, max: 50 }, prefill_value: 2 }),
    f("reason", "select", {
      options: [
        { value: "checkup", label: "Checkup" },
        { value: "pain", label: "Pain" },
      ],
      prefill_value: "pain",
    }),
    f("smoker", "checkbox", { required: false, prefill_value: false }),
    f("kinds", "multiselect", {
      options: [
        { value: "cig", label: "Cigarettes" },
        { value: "vape", label: "Vapes" },
        { value: "pipe", label: "Pipe" },
      ],
      prefill_value: ["cig", "vape"],
      condition: { field: "reason", op: "in", value: ["pain", "checkup"] },
    }),
    f("packs_note", "info", {
      condition: {
        all: [
          { field: "visits", op: ">", value: 3 },
          { field: "kinds", op: "exists" },
          { field: "reason", op: "not_in", value: ["pain", "checkup"] },
        ],
      },
    }),
    f("card", "photo", {
      validation: { accept: ["image/jpeg", "image/png"], max_bytes: 5_000_000 },
      condition: {
        any: [
          {
            all: [
              { field: "visits", op: "<", value: 2 },
              { field: "reason", op: "=", value: "pain" },
            ],
          },
          { field: "dob", op: ">", value: "2000-01-01" },
        ],
      },
    }),
    f("signature", "signature", { required: false }),
    f("letter", "file", { required: false }),
    f("consent", "checkbox", { consent_text: "I agree to the terms" }),
  ],
});

const ANSWERS: Answers = {
  name: "Jane Doe",
  dob: "1980-03-05",
  phone: "+12015550123",
  email: "jane@example.com",
  visits: 4,
  reason: "pain",
  smoker: true,
  kinds: ["cig", "pipe"],
  card: { upload: "ws_1/srf_1/card", content_type: "image/jpeg", bytes: 123456 },
  consent: true,
};

const find = (items: QuestionnaireItem[] | undefined, linkId: string): QuestionnaireItem | undefined => {
  for (const item of items ?? []) {
    if (item.linkId === linkId) return item;
    const inner = find(item.item, linkId);
    if (inner) return inner;
  }
  return undefined;
};

describe("toQuestionnaire", () => {
  it("starts from a valid spec", () => {
    expect(specProblems(SPEC)).toEqual([]);
  });

  const q = toQuestionnaire(SPEC, { id: "srf-1", url: "https://switchboard.health/surface/srf-1" });

  it("maps sections to groups and field types to item types", () => {
    expect(q).toMatchObject({
      resourceType: "Questionnaire",
      id: "srf-1",
      status: "active",
      title: "New patient intake",
    });
    expect(q.item!.map((i) => [i.linkId, i.type])).toEqual([
      ["section-1", "group"],
      ["section-2", "group"],
    ]);
    const types = Object.fromEntries(SPEC.fields.map((field) => [field.key, find(q.item, field.key)!.type]));
    expect(types).toEqual({
      intro: "display",
      name: "string",
      notes: "text",
      dob: "date",
      phone: "string",
      email: "string",
      visits: "decimal",
      reason: "choice",
      smoker: "boolean",
      kinds: "choice",
      packs_note: "display",
      card: "attachment",
      signature: "attachment",
      letter: "attachment",
      consent: "boolean",
    });
    expect(find(q.item, "kinds")!.repeats).toBe(true);
    expect(find(q.item, "reason")!.repeats).toBeUndefined();
    expect(find(q.item, "intro")!.required).toBeUndefined();
    expect(find(q.item, "notes")!.required).toBe(false);
    expect(find(q.item, "name")!.required).toBe(true);
    expect(find(q.item, "name")!.maxLength).toBe(80);
  });

  it("maps options, prefill and conditions", () => {
    expect(find(q.item, "reason")!.answerOption).toEqual([
      { valueCoding: { code: "checkup", display: "Checkup" } },
      { valueCoding: { code: "pain", display: "Pain" }, initialSelected: true },
    ]);
    expect(find(q.item, "reason")!.initial).toBeUndefined(); // que-11
    expect(find(q.item, "name")!.initial).toEqual([{ valueString: "Jane" }]);
    expect(find(q.item, "dob")!.initial).toEqual([{ valueDate: "1980-03-05" }]);
    expect(find(q.item, "visits")!.initial).toEqual([{ valueDecimal: 2 }]);
    expect(find(q.item, "smoker")!.initial).toEqual([{ valueBoolean: false }]);
    expect(q.item![1]!.enableWhen).toEqual([{ question: "smoker", operator: "=", answerBoolean: true }]);
    expect(q.item![1]!.enableBehavior).toBeUndefined();
    expect(find(q.item, "kinds")).toMatchObject({
      enableBehavior: "any",
      enableWhen: [
        { question: "reason", operator: "=", answerCoding: { code: "pain" } },
        { question: "reason", operator: "=", answerCoding: { code: "checkup" } },
      ],
    });
    expect(find(q.item, "packs_note")).toMatchObject({
      enableBehavior: "all",
      enableWhen: [
        { question: "visits", operator: ">", answerDecimal: 3 },
        { question: "kinds", operator: "exists", answerBoolean: true },
        { question: "reason", operator: "!=", answerCoding: { code: "pain" } },
        { question: "reason", operator: "!=", answerCoding: { code: "checkup" } },
      ],
    });
    // any of an all does not flatten: carried whole in the extension.
    const card = find(q.item, "card")!;
    expect(card.enableWhen).toBeUndefined();
    expect(
      JSON.parse(card.extension!.find((e) => e.url === SURFACE_EXTENSIONS.condition)!.valueString!),
    ).toEqual(SPEC.fields.find((x) => x.key === "card")!.condition);
  });

  it("is a valid R4 Questionnaire", () => {
    expect(questionnaireErrors(q)).toEqual([]);
  });

  it("is refused by the Questionnaire validator when broken (the check can fail)", () => {
    const broken = structuredClone(q);
    broken.item![0]!.item![0]!.required = true; // que-6: a display item cannot be required
    expect(questionnaireErrors(broken)).toEqual([expect.stringContaining("que-6")]);
  });

  it("round-trips to the same spec", () => {
    const back = fromQuestionnaire(q);
    expect(back.problems).toEqual([]);
    expect(back.spec).toEqual(SPEC);
  });

  it("round-trips a spec without sections", () => {
    const flat = SurfaceSpec.parse({
      title: "Quick",
      fields: [f("a", "text"), f("b", "number", { condition: { field: "a", op: "!=", value: "x" } })],
    });
    const back = fromQuestionnaire(toQuestionnaire(flat, { id: "q" }));
    expect(back).toEqual({ spec: flat, problems: [] });
  });
});

describe("fromQuestionnaire", () => {
  it("imports a foreign Questionnaire and reports what it cannot take", () => {
    const foreign: Questionnaire = {
      resourceType: "Questionnaire",
      status: "active",
      title: "Foreign",
      item: [
        { linkId: "1", text: "Age", type: "integer", required: true },
        { linkId: "When", text: "When", type: "dateTime" },
        { linkId: "color", text: "Color", type: "choice", answerValueSet: "http://example.org/vs" },
        {
          linkId: "fruit",
          text: "Fruit",
          type: "choice",
          answerOption: [{ valueString: "apple" }, { valueInteger: 3 }],
        },
        {
          linkId: "why",
          text: "Why",
          type: "string",
          enableWhen: [
            { question: "1", operator: ">=", answerInteger: 18 },
            { question: "fruit", operator: "=", answerString: "apple" },
          ],
          enableBehavior: "all",
        },
        {
          linkId: "ghost",
          text: "Ghost",
          type: "string",
          enableWhen: [{ question: "nowhere", operator: "exists", answerBoolean: true }],
        },
      ],
    };
    const { spec, problems } = fromQuestionnaire(foreign);
    expect(spec).not.toBeNull();
    expect(spec!.fields.map((x) => [x.key, x.field_type])).toEqual([
      ["q_1", "number"],
      ["fruit", "select"],
      ["why", "text"],
      ["ghost", "text"],
    ]);
    expect(spec!.fields[1]!.options).toEqual([
      { value: "apple", label: "apple" },
      { value: "3", label: "3" },
    ]);
    expect(spec!.fields[2]!.condition).toEqual({ field: "fruit", op: "=", value: "apple" });
    expect(spec!.fields[0]!.required).toBe(true);
    expect(spec!.fields[1]!.required).toBe(false);
    expect(problems.map((p) => p.path)).toEqual([
      "item[0].linkId",
      "item[1].type",
      "item[2].answerValueSet",
      "item[4].enableWhen[0].operator",
      "item[5].enableWhen[0].question",
    ]);
  });

  it("gives no spec when nothing is usable", () => {
    const { spec, problems } = fromQuestionnaire({
      resourceType: "Questionnaire",
      status: "draft",
      item: [{ linkId: "t", type: "time" }],
    });
    expect(spec).toBeNull();
    expect(problems.length).toBeGreaterThanOrEqual(2);
  });
});

describe("toQuestionnaireResponse", () => {
  const qr = toQuestionnaireResponse(SPEC, ANSWERS, {
    questionnaire: "https://switchboard.health/surface/srf-1",
    subject: { reference: "Patient/p1" },
    authored: "2024-05-10T12:00:00Z",
  });

  it("is a valid R4 QuestionnaireResponse", () => {
    const result = validateFhirResource(qr);
    expect(result).toEqual({ ok: true, resource: qr });
  });

  it("types each answer and leaves out hidden and unanswered fields", () => {
    expect(qr.status).toBe("completed");
    const answers = Object.fromEntries(
      qr.item!.flatMap((group) => group.item!.map((item) => [item.linkId, item.answer])),
    );
    expect(answers).toEqual({
      name: [{ valueString: "Jane Doe" }],
      dob: [{ valueDate: "1980-03-05" }],
      phone: [{ valueString: "+12015550123" }],
      email: [{ valueString: "jane@example.com" }],
      visits: [{ valueDecimal: 4 }],
      reason: [{ valueCoding: { code: "pain", display: "Pain" } }],
      smoker: [{ valueBoolean: true }],
      kinds: [
        { valueCoding: { code: "cig", display: "Cigarettes" } },
        { valueCoding: { code: "pipe", display: "Pipe" } },
      ],
      consent: [{ valueBoolean: true }],
    });
    // card: its condition (visits < 2 and pain, or born after 2000) is false, so its answer is left out.
    expect(JSON.stringify(qr)).not.toContain("ws_1/srf_1/card");
  });

  it("carries uploads as attachments", () => {
    const shown = toQuestionnaireResponse(
      SPEC,
      { ...ANSWERS, visits: 1 },
      { questionnaire: "q", subject: { reference: "Patient/p1" }, authored: "2024-05-10" },
    );
    const card = shown.item![1]!.item!.find((i) => i.linkId === "card")!;
    expect(card.answer).toEqual([
      { valueAttachment: { contentType: "image/jpeg", size: 123456, url: "ws_1/srf_1/card" } },
    ]);
    expect(validateFhirResource(shown).ok).toBe(true);
  });

  it("is refused by the validator when broken (the check can fail)", () => {
    const broken = { ...qr, status: "done" };
    expect(validateFhirResource(broken).ok).toBe(false);
  });
});
