/**
 * Surfaces as FHIR R4: a spec as a Questionnaire (for EHRs and form tools), a submitted surface's
 * answers as a QuestionnaireResponse (written back to the EHR), and a Questionnaire imported as a spec.
 *
 * Mapping (https://hl7.org/fhir/R4/questionnaire.html): linkId = field key, text = label; text→string,
 * textarea→text, date→date, phone/email→string, number→decimal, select→choice (answerOption
 * valueCoding code/display), multiselect→choice + repeats, checkbox→boolean, photo/file/signature→
 * attachment, heading/info→display. Sections are `group` items (linkId `section-N`, which no field key
 * can be). Prefill is `initial`, or `answerOption.initialSelected` for choices (que-11 forbids both).
 * Validation uses the core extensions (minLength, regex, minValue/maxValue, mimeType, maxSize,
 * entryFormat for the placeholder) and `maxLength`. What FHIR has no element for (the exact field type
 * where the FHIR type is shared, description, sensitive, consent text, target, `today` date bounds)
 * travels in extensions under `https://switchboard.health/fhir/StructureDefinition/surface-*`, so a spec
 * survives the round trip.
 *
 * Conditions become `enableWhen` + `enableBehavior`: `in` is several `=` under `any`, `not_in` several
 * `!=` under `all`, and nested all/any flatten while every level has the same behaviour. A condition
 * that does not flatten (`any` of `all`s…) has no enableWhen form: the item carries it whole in the
 * `surface-condition` extension instead (other consumers then show the item always: the documented
 * limit), and the import reads it back.
 */
import type {
  Attachment,
  Coding,
  Extension,
  Questionnaire,
  QuestionnaireItem,
  QuestionnaireItemAnswerOption,
  QuestionnaireItemEnableWhen,
  QuestionnaireItemInitial,
  QuestionnaireResponse,
  QuestionnaireResponseItem,
  QuestionnaireResponseItemAnswer,
} from "@medplum/fhirtypes";
import {
  type Answers,
  type AnswerValue,
  type Comparison,
  type Condition,
  type Field,
  type FieldInput,
  type FieldType,
  isInput,
  SurfaceSpec,
  type SurfaceSpecInput,
} from "./spec";
import { isAnswered, type SpecProblem, specProblems, visibleFields } from "./validate";

const NS = "https://switchboard.health/fhir/StructureDefinition";
export const SURFACE_EXTENSIONS = {
  fieldType: `${NS}/surface-field-type`,
  description: `${NS}/surface-description`,
  sensitive: `${NS}/surface-sensitive`,
  consentText: `${NS}/surface-consent-text`,
  target: `${NS}/surface-target`,
  condition: `${NS}/surface-condition`,
  minDate: `${NS}/surface-min-date`,
  maxDate: `${NS}/surface-max-date`,
} as const;
const CORE = {
  minLength: "http://hl7.org/fhir/StructureDefinition/minLength",
  regex: "http://hl7.org/fhir/StructureDefinition/regex",
  minValue: "http://hl7.org/fhir/StructureDefinition/minValue",
  maxValue: "http://hl7.org/fhir/StructureDefinition/maxValue",
  mimeType: "http://hl7.org/fhir/StructureDefinition/mimeType",
  maxSize: "http://hl7.org/fhir/StructureDefinition/maxSize",
  entryFormat: "http://hl7.org/fhir/StructureDefinition/entryFormat",
} as const;

type ItemType = QuestionnaireItem["type"];
const ITEM_TYPE: Record<FieldType, ItemType> = {
  text: "string",
  textarea: "text",
  date: "date",
  phone: "string",
  email: "string",
  number: "decimal",
  select: "choice",
  multiselect: "choice",
  checkbox: "boolean",
  photo: "attachment",
  signature: "attachment",
  file: "attachment",
  heading: "display",
  info: "display",
};
/** Field types whose FHIR type is shared with another: the import needs the extension to tell them apart. */
const SHARED_TYPE: readonly FieldType[] = ["phone", "email", "photo", "signature", "heading"];

const sectionLinkId = (index: number) => `section-${index + 1}`;

// ---------------------------------------------------------------------------------------------------
// Spec → Questionnaire

export function toQuestionnaire(
  spec: SurfaceSpec,
  options: { id: string; url?: string; status?: Questionnaire["status"] },
): Questionnaire {
  const byKey = new Map(spec.fields.map((f) => [f.key, f]));
  const items: QuestionnaireItem[] = [];
  if (spec.sections.length === 0) items.push(...spec.fields.map((f) => fieldItem(f, byKey)));
  else {
    const placed = new Set<string>();
    spec.sections.forEach((section, s) => {
      const children = section.field_keys.flatMap((key) => {
        const field = byKey.get(key);
        if (!field || placed.has(key)) return [];
        placed.add(key);
        return [fieldItem(field, byKey)];
      });
      if (children.length === 0) return; // que-1: a group needs items
      const { conditionExtension, ...when } = enableWhenOf(section.condition, byKey);
      items.push({
        linkId: sectionLinkId(s),
        text: section.title,
        type: "group",
        ...extensions([
          section.description !== undefined && {
            url: SURFACE_EXTENSIONS.description,
            valueString: section.description,
          },
          conditionExtension,
        ]),
        ...when,
        item: children,
      });
    });
    // Fields in no section (an invalid spec) still appear, after the groups.
    for (const field of spec.fields) if (!placed.has(field.key)) items.push(fieldItem(field, byKey));
  }
  return {
    resourceType: "Questionnaire",
    id: options.id,
    ...(options.url !== undefined ? { url: options.url } : {}),
    status: options.status ?? "active",
    title: spec.title,
    ...(spec.description !== undefined ? { description: spec.description } : {}),
    item: items,
  };
}

function fieldItem(field: Field, byKey: Map<string, Field>): QuestionnaireItem {
  const type = ITEM_TYPE[field.field_type];
  const v = field.validation ?? {};
  const input = isInput(field);
  const { conditionExtension, ...when } = enableWhenOf(field.condition, byKey);
  const item: QuestionnaireItem = {
    linkId: field.key,
    text: field.label,
    type,
    ...extensions([
      SHARED_TYPE.includes(field.field_type) && {
        url: SURFACE_EXTENSIONS.fieldType,
        valueCode: field.field_type,
      },
      field.description !== undefined && {
        url: SURFACE_EXTENSIONS.description,
        valueString: field.description,
      },
      input && field.sensitive && { url: SURFACE_EXTENSIONS.sensitive, valueBoolean: true },
      field.consent_text !== undefined && {
        url: SURFACE_EXTENSIONS.consentText,
        valueString: field.consent_text,
      },
      field.target !== undefined && {
        url: SURFACE_EXTENSIONS.target,
        valueString: JSON.stringify(field.target),
      },
      field.placeholder !== undefined && { url: CORE.entryFormat, valueString: field.placeholder },
      v.min_length !== undefined && { url: CORE.minLength, valueInteger: v.min_length },
      v.pattern !== undefined && { url: CORE.regex, valueString: v.pattern },
      v.min !== undefined && { url: CORE.minValue, valueDecimal: v.min },
      v.max !== undefined && { url: CORE.maxValue, valueDecimal: v.max },
      v.min_date === "today" && { url: SURFACE_EXTENSIONS.minDate, valueCode: "today" },
      v.min_date !== undefined && v.min_date !== "today" && { url: CORE.minValue, valueDate: v.min_date },
      v.max_date === "today" && { url: SURFACE_EXTENSIONS.maxDate, valueCode: "today" },
      v.max_date !== undefined && v.max_date !== "today" && { url: CORE.maxValue, valueDate: v.max_date },
      ...(v.accept ?? []).map((mime) => ({ url: CORE.mimeType, valueCode: mime })),
      v.max_bytes !== undefined && { url: CORE.maxSize, valueDecimal: v.max_bytes },
      conditionExtension,
    ]),
    ...when,
  };
  if (!input) return item;
  item.required = field.required;
  if (field.field_type === "multiselect") item.repeats = true;
  if (v.max_length !== undefined && (type === "string" || type === "text")) item.maxLength = v.max_length;
  if (field.options) {
    const selected = new Set(
      Array.isArray(field.prefill_value) ? field.prefill_value : [String(field.prefill_value ?? "")],
    );
    item.answerOption = field.options.map(
      (o): QuestionnaireItemAnswerOption => ({
        valueCoding: { code: o.value, display: o.label },
        ...(field.prefill_value !== undefined && selected.has(o.value) ? { initialSelected: true } : {}),
      }),
    );
  } else if (field.prefill_value !== undefined) {
    const initial = initialOf(field, field.prefill_value);
    if (initial) item.initial = [initial];
  }
  return item;
}

function initialOf(
  field: Field,
  value: NonNullable<Field["prefill_value"]>,
): QuestionnaireItemInitial | null {
  switch (ITEM_TYPE[field.field_type]) {
    case "string":
    case "text":
      return typeof value === "string" ? { valueString: value } : null;
    case "date":
      return typeof value === "string" ? { valueDate: value } : null;
    case "decimal":
      return typeof value === "number" ? { valueDecimal: value } : null;
    case "boolean":
      return typeof value === "boolean" ? { valueBoolean: value } : null;
    default:
      return null;
  }
}

function extensions(list: (Extension | false | undefined)[]): { extension?: Extension[] } {
  const present = list.filter((e): e is Extension => Boolean(e));
  return present.length > 0 ? { extension: present } : {};
}

/** enableWhen + enableBehavior when the condition flattens to one level, else the whole condition as an extension. */
function enableWhenOf(
  condition: Condition | undefined,
  byKey: Map<string, Field>,
): {
  enableWhen?: QuestionnaireItemEnableWhen[];
  enableBehavior?: "all" | "any";
  conditionExtension?: Extension;
} {
  if (!condition) return {};
  const flat = flatten(condition, byKey);
  if (!flat)
    return {
      conditionExtension: { url: SURFACE_EXTENSIONS.condition, valueString: JSON.stringify(condition) },
    };
  return {
    enableWhen: flat.items,
    ...(flat.items.length > 1 ? { enableBehavior: flat.behavior ?? "all" } : {}),
  };
}

interface Flat {
  behavior: "all" | "any" | null;
  items: QuestionnaireItemEnableWhen[];
}

function flatten(condition: Condition, byKey: Map<string, Field>): Flat | null {
  if ("all" in condition || "any" in condition) {
    const behavior = "all" in condition ? "all" : "any";
    const items: QuestionnaireItemEnableWhen[] = [];
    for (const child of "all" in condition ? condition.all : condition.any) {
      const flat = flatten(child, byKey);
      if (!flat || (flat.behavior !== null && flat.behavior !== behavior)) return null;
      items.push(...flat.items);
    }
    return { behavior: items.length > 1 ? behavior : null, items };
  }
  const field = byKey.get(condition.field);
  const { op, value } = condition;
  if (op === "exists")
    return {
      behavior: null,
      items: [{ question: condition.field, operator: "exists", answerBoolean: true }],
    };
  if (op === "in" || op === "not_in") {
    const values = Array.isArray(value) ? value : value === undefined ? [] : [value];
    if (values.length === 0) return null;
    const operator = op === "in" ? "=" : "!=";
    return {
      behavior: values.length > 1 ? (op === "in" ? "any" : "all") : null,
      items: values.map((v) => ({ question: condition.field, operator, ...answerOf(field, v) })),
    };
  }
  if (value === undefined || Array.isArray(value)) return null;
  return { behavior: null, items: [{ question: condition.field, operator: op, ...answerOf(field, value) }] };
}

/** The typed enableWhen answer for a literal compared with `field`'s answers. */
function answerOf(
  field: Field | undefined,
  value: string | number | boolean,
): Partial<QuestionnaireItemEnableWhen> {
  switch (field ? ITEM_TYPE[field.field_type] : undefined) {
    case "choice":
      return { answerCoding: { code: String(value) } };
    case "boolean":
      if (typeof value === "boolean") return { answerBoolean: value };
      break;
    case "decimal":
      if (typeof value === "number") return { answerDecimal: value };
      break;
    case "date":
      if (typeof value === "string") return { answerDate: value };
      break;
  }
  if (typeof value === "number") return { answerDecimal: value };
  if (typeof value === "boolean") return { answerBoolean: value };
  return { answerString: value };
}

// ---------------------------------------------------------------------------------------------------
// Answers → QuestionnaireResponse

/**
 * The answers of the visible fields as a completed QuestionnaireResponse (grouped as the Questionnaire
 * is). Uploads are attachments whose `url` is the R2 key. Unanswered and hidden fields are left out.
 */
export function toQuestionnaireResponse(
  spec: SurfaceSpec,
  answers: Answers,
  options: { questionnaire: string; subject: { reference: string }; authored: string },
): QuestionnaireResponse {
  const visible = new Set(visibleFields(spec, answers).map((f) => f.key));
  const answered = (field: Field) =>
    isInput(field) && visible.has(field.key) && isAnswered(answers[field.key]);
  const responseItem = (field: Field): QuestionnaireResponseItem => ({
    linkId: field.key,
    text: field.label,
    answer: answerValues(field, answers[field.key]!),
  });
  const byKey = new Map(spec.fields.map((f) => [f.key, f]));
  const items: QuestionnaireResponseItem[] = [];
  if (spec.sections.length === 0) items.push(...spec.fields.filter(answered).map(responseItem));
  else {
    const placed = new Set<string>();
    spec.sections.forEach((section, s) => {
      const children = section.field_keys.flatMap((key) => {
        const field = byKey.get(key);
        if (!field || placed.has(key)) return [];
        placed.add(key);
        return answered(field) ? [responseItem(field)] : [];
      });
      if (children.length > 0) items.push({ linkId: sectionLinkId(s), text: section.title, item: children });
    });
  }
  return {
    resourceType: "QuestionnaireResponse",
    questionnaire: options.questionnaire,
    status: "completed",
    subject: options.subject,
    authored: options.authored,
    ...(items.length > 0 ? { item: items } : {}),
  };
}

function answerValues(field: Field, value: AnswerValue): QuestionnaireResponseItemAnswer[] {
  const coding = (code: string): Coding => {
    const option = field.options?.find((o) => o.value === code);
    return { code, ...(option ? { display: option.label } : {}) };
  };
  if (typeof value === "object" && !Array.isArray(value)) {
    const attachment: Attachment = { contentType: value.content_type, size: value.bytes, url: value.upload };
    return [{ valueAttachment: attachment }];
  }
  if (Array.isArray(value)) return value.map((code) => ({ valueCoding: coding(code) }));
  switch (ITEM_TYPE[field.field_type]) {
    case "choice":
      return [{ valueCoding: coding(String(value)) }];
    case "date":
      return [{ valueDate: String(value) }];
    case "decimal":
      return typeof value === "number" ? [{ valueDecimal: value }] : [{ valueString: String(value) }];
    case "boolean":
      return [{ valueBoolean: value === true }];
    default:
      return [{ valueString: String(value) }];
  }
}

// ---------------------------------------------------------------------------------------------------
// Questionnaire → spec

const KEY = /^[a-z][a-z0-9_]{0,63}$/;

/**
 * Imports a Questionnaire as a spec. Top-level groups become sections (deeper groups are flattened into
 * theirs, with a problem); unsupported item types (dateTime, time, url, reference, quantity,
 * open-choice, answerValueSet choices) are left out with a problem each; linkIds that are not valid
 * keys are renamed. `spec` is null when no valid spec comes out (the problems say why); otherwise
 * `problems` also holds the spec's own (`specProblems`).
 */
export function fromQuestionnaire(q: Questionnaire): { spec: SurfaceSpec | null; problems: SpecProblem[] } {
  const problems: SpecProblem[] = [];
  const keys = new Map<string, string>(); // linkId → key
  const used = new Set<string>();
  const keyFor = (linkId: string, at: string): string => {
    const existing = keys.get(linkId);
    if (existing) return existing;
    let key = linkId;
    if (!KEY.test(key) || used.has(key)) {
      const base =
        (/^[a-z]/.test(linkId.toLowerCase()) ? "" : "q_") + linkId.toLowerCase().replace(/[^a-z0-9_]/g, "_");
      key = base.slice(0, 60);
      for (let n = 2; used.has(key); n++) key = `${base.slice(0, 58)}_${n}`;
      problems.push({ path: `${at}.linkId`, message: "Not a valid field key: renamed" });
    }
    keys.set(linkId, key);
    used.add(key);
    return key;
  };

  // First pass: keys for every question, so conditions can name later ones.
  const walk = (items: QuestionnaireItem[] | undefined, at: string) =>
    items?.forEach((item, i) => {
      if (item.type === "group") walk(item.item, `${at}[${i}].item`);
      else if (SUPPORTED.includes(item.type) && item.answerValueSet === undefined)
        keyFor(item.linkId, `${at}[${i}]`);
    });
  walk(q.item, "item");

  const fields: FieldInput[] = [];
  const sections: SurfaceSpecInput["sections"] = [];
  const convert = (item: QuestionnaireItem, at: string): FieldInput | null => {
    const field = importField(item, at, keys, problems);
    if (field) fields.push(field);
    return field;
  };
  const collect = (items: QuestionnaireItem[] | undefined, at: string, into: string[]) =>
    items?.forEach((child, j) => {
      const where = `${at}[${j}]`;
      if (child.type === "group") {
        problems.push({
          path: where,
          message: "Nested groups are not supported: their items join the section",
        });
        collect(child.item, `${where}.item`, into);
      } else {
        const field = convert(child, where);
        if (field) into.push(field.key);
      }
    });

  q.item?.forEach((item, i) => {
    const at = `item[${i}]`;
    if (item.type !== "group") {
      convert(item, at);
      return;
    }
    const fieldKeys: string[] = [];
    collect(item.item, `${at}.item`, fieldKeys);
    if (fieldKeys.length === 0) return;
    const condition = importCondition(item, at, keys, problems);
    const description = readExtension(item, SURFACE_EXTENSIONS.description)?.valueString;
    sections?.push({
      title: labelOf(item.text ?? `Section ${i + 1}`),
      ...(description !== undefined ? { description } : {}),
      field_keys: fieldKeys,
      ...(condition ? { condition } : {}),
    });
  });
  // Top-level questions beside groups: each becomes a section of its own, in place, so none is lost.
  if (sections && sections.length > 0) {
    const inSection = new Set(sections.flatMap((s) => s.field_keys));
    for (const field of fields)
      if (!inSection.has(field.key)) sections.push({ title: labelOf(field.label), field_keys: [field.key] });
  }

  const parsed = SurfaceSpec.safeParse({
    title: labelOf(q.title ?? q.name ?? "Questionnaire"),
    ...(q.description !== undefined ? { description: q.description.slice(0, 2000) } : {}),
    sections,
    fields,
  });
  if (!parsed.success) {
    for (const issue of parsed.error.issues)
      problems.push({ path: issue.path.join("."), message: issue.message });
    return { spec: null, problems };
  }
  return { spec: parsed.data, problems: [...problems, ...specProblems(parsed.data)] };
}

const SUPPORTED: readonly ItemType[] = [
  "string",
  "text",
  "date",
  "decimal",
  "integer",
  "choice",
  "boolean",
  "attachment",
  "display",
];

function importField(
  item: QuestionnaireItem,
  at: string,
  keys: Map<string, string>,
  problems: SpecProblem[],
): FieldInput | null {
  if (!SUPPORTED.includes(item.type)) {
    problems.push({ path: `${at}.type`, message: `Item type ${item.type} is not supported: left out` });
    return null;
  }
  if (item.answerValueSet !== undefined) {
    problems.push({ path: `${at}.answerValueSet`, message: "Value set choices are not supported: left out" });
    return null;
  }
  if (item.item && item.item.length > 0)
    problems.push({
      path: `${at}.item`,
      message: "Items nested under a question are not supported: left out",
    });
  const declared = readExtension(item, SURFACE_EXTENSIONS.fieldType)?.valueCode as FieldType | undefined;
  const fieldType = resolveType(item, declared);
  const ext = (url: string) => readExtension(item, url);
  const exts = (url: string) => (item.extension ?? []).filter((e) => e.url === url);
  const field: FieldInput = {
    key: keys.get(item.linkId)!,
    label: labelOf(item.text ?? item.linkId),
    field_type: fieldType,
  };
  // Display fields keep the schema's default (their `required` means nothing).
  if (isInput({ field_type: fieldType })) field.required = item.required === true;
  const description = ext(SURFACE_EXTENSIONS.description)?.valueString;
  if (description !== undefined) field.description = description;
  if (ext(SURFACE_EXTENSIONS.sensitive)?.valueBoolean) field.sensitive = true;
  const consent = ext(SURFACE_EXTENSIONS.consentText)?.valueString;
  if (consent !== undefined) field.consent_text = consent;
  const placeholder = ext(CORE.entryFormat)?.valueString;
  if (placeholder !== undefined) field.placeholder = placeholder;
  const target = ext(SURFACE_EXTENSIONS.target)?.valueString;
  if (target !== undefined) {
    try {
      field.target = JSON.parse(target);
    } catch {
      problems.push({ path: `${at}.extension`, message: "The surface target is not valid JSON: left out" });
    }
  }

  const validation: NonNullable<FieldInput["validation"]> = {};
  if (item.maxLength !== undefined) validation.max_length = item.maxLength;
  const minLength = ext(CORE.minLength)?.valueInteger;
  if (minLength !== undefined) validation.min_length = minLength;
  const regex = ext(CORE.regex)?.valueString;
  if (regex !== undefined) validation.pattern = regex;
  const min = ext(CORE.minValue);
  const max = ext(CORE.maxValue);
  if (min?.valueDecimal !== undefined || min?.valueInteger !== undefined)
    validation.min = min.valueDecimal ?? min.valueInteger;
  if (max?.valueDecimal !== undefined || max?.valueInteger !== undefined)
    validation.max = max.valueDecimal ?? max.valueInteger;
  if (min?.valueDate !== undefined) validation.min_date = min.valueDate;
  if (max?.valueDate !== undefined) validation.max_date = max.valueDate;
  if (ext(SURFACE_EXTENSIONS.minDate)?.valueCode === "today") validation.min_date = "today";
  if (ext(SURFACE_EXTENSIONS.maxDate)?.valueCode === "today") validation.max_date = "today";
  const accept = exts(CORE.mimeType).flatMap((e) => (e.valueCode ? [e.valueCode] : []));
  if (accept.length > 0) validation.accept = accept;
  const maxSize = ext(CORE.maxSize)?.valueDecimal;
  if (maxSize !== undefined) validation.max_bytes = maxSize;
  if (Object.keys(validation).length > 0) field.validation = validation;

  if (item.answerOption) {
    const options: { value: string; label: string }[] = [];
    const selected: string[] = [];
    item.answerOption.forEach((o, j) => {
      const value =
        o.valueCoding?.code ??
        o.valueString ??
        (o.valueInteger !== undefined ? String(o.valueInteger) : undefined);
      if (value === undefined) {
        problems.push({
          path: `${at}.answerOption[${j}]`,
          message: "Only coding, string and integer options are supported: left out",
        });
        return;
      }
      options.push({ value, label: labelOf(o.valueCoding?.display ?? value) });
      if (o.initialSelected) selected.push(value);
    });
    field.options = options;
    if (selected.length > 0) field.prefill_value = fieldType === "multiselect" ? selected : selected[0];
  } else if (item.initial && item.initial.length > 0) {
    const i = item.initial[0]!;
    const value = i.valueString ?? i.valueDate ?? i.valueDecimal ?? i.valueInteger ?? i.valueBoolean;
    if (value !== undefined) field.prefill_value = value;
  }
  const condition = importCondition(item, at, keys, problems);
  if (condition) field.condition = condition;
  return field;
}

function resolveType(item: QuestionnaireItem, declared: FieldType | undefined): FieldType {
  const fits = (t: FieldType) => ITEM_TYPE[t] === item.type || (item.type === "integer" && t === "number");
  if (declared && fits(declared)) return declared;
  switch (item.type) {
    case "string":
      return "text";
    case "text":
      return "textarea";
    case "date":
      return "date";
    case "decimal":
    case "integer":
      return "number";
    case "choice":
      return item.repeats ? "multiselect" : "select";
    case "boolean":
      return "checkbox";
    case "attachment":
      return "file";
    default:
      return "info";
  }
}

function importCondition(
  item: QuestionnaireItem,
  at: string,
  keys: Map<string, string>,
  problems: SpecProblem[],
): Condition | undefined {
  const whole = readExtension(item, SURFACE_EXTENSIONS.condition)?.valueString;
  if (whole !== undefined) {
    try {
      return JSON.parse(whole) as Condition;
    } catch {
      problems.push({
        path: `${at}.extension`,
        message: "The surface condition is not valid JSON: left out",
      });
    }
  }
  if (!item.enableWhen || item.enableWhen.length === 0) return undefined;
  const comparisons: Comparison[] = [];
  item.enableWhen.forEach((w, j) => {
    const field = keys.get(w.question);
    const where = `${at}.enableWhen[${j}]`;
    if (!field) {
      problems.push({ path: `${where}.question`, message: "Names no question of this questionnaire" });
      return;
    }
    if (w.operator === "exists") {
      if (w.answerBoolean === false)
        problems.push({ path: where, message: "exists = false is not supported: left out" });
      else comparisons.push({ field, op: "exists" });
      return;
    }
    if (w.operator === ">=" || w.operator === "<=") {
      problems.push({ path: `${where}.operator`, message: `${w.operator} is not supported: left out` });
      return;
    }
    const value =
      w.answerCoding?.code ??
      w.answerString ??
      w.answerDate ??
      w.answerDecimal ??
      w.answerInteger ??
      w.answerBoolean;
    if (value === undefined) {
      problems.push({ path: where, message: "This kind of answer is not supported: left out" });
      return;
    }
    comparisons.push({ field, op: w.operator, value });
  });
  if (comparisons.length === 0) return undefined;
  if (comparisons.length === 1) return comparisons[0];
  const any = item.enableBehavior === "any";
  // `in` / `not_in` come back from runs of `=` under any / `!=` under all on one question.
  const joined = any ? "=" : "!=";
  const grouped: Comparison[] = [];
  for (const c of comparisons) {
    const last = grouped.at(-1);
    const lastOp = last?.op === (any ? "in" : "not_in") ? joined : last?.op;
    if (last && c.op === joined && lastOp === joined && last.field === c.field) {
      const values = Array.isArray(last.value) ? last.value : [last.value as string | number | boolean];
      grouped[grouped.length - 1] = {
        field: c.field,
        op: any ? "in" : "not_in",
        value: [...values, c.value as string | number | boolean],
      };
    } else grouped.push(c);
  }
  if (grouped.length === 1) return grouped[0];
  return any ? { any: grouped } : { all: grouped };
}

function readExtension(item: { extension?: Extension[] }, url: string): Extension | undefined {
  return item.extension?.find((e) => e.url === url);
}

/** A label the spec accepts: no control characters, at most 300 characters, never empty. */
function labelOf(text: string): string {
  const clean = text
    .replace(/\p{Cc}+/gu, " ")
    .trim()
    .slice(0, 300)
    .trim();
  return clean.length > 0 ? clean : "Question";
}
