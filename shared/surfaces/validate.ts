/**
 * The rules of a surface beyond its shape (./spec.ts): every reason a spec is invalid (`specProblems`,
 * all at once so the API can answer 422 with the lot), what a condition says about the current answers
 * (`evaluate`, `visibleFields`, `sectionsOf`), whether one answer is acceptable (`validateAnswer`), how
 * far a patient has got (`progress`), and the smaller spec of what is still missing (`reshapeSpec`).
 *
 * Order: a condition may only name a field shown before the one it guards (no forward or cyclic
 * references), so visibility is one pass in display order (declared sections, then the order of their
 * `field_keys`; without sections, the order of `fields`).
 *
 * Messages for patients say what to enter and never echo what they entered.
 */
import { z } from "zod";
import { normalizeE164 } from "../tenancy/phone";
import { EVENT_TYPES } from "../world/events";
import {
  type Answers,
  type AnswerValue,
  type Comparison,
  type Condition,
  type Field,
  type FieldType,
  isInput,
  isUpload,
  type SurfaceSpec,
} from "./spec";

export interface SpecProblem {
  path: string;
  message: string;
}

/** The largest upload, and what each upload type accepts unless its validation says otherwise. */
export const MAX_UPLOAD_BYTES = 10 * 1024 * 1024;
export const DEFAULT_ACCEPT: Record<"photo" | "signature" | "file", string[]> = {
  photo: ["image/jpeg", "image/png", "image/webp", "image/heic"],
  signature: ["image/png"],
  file: ["application/pdf", "image/jpeg", "image/png", "image/webp", "image/heic"],
};
/** Longest text when the field sets no `max_length`. */
const DEFAULT_MAX_LENGTH = { text: 1000, textarea: 10_000 } as const;

type ValidationKey = keyof NonNullable<Field["validation"]>;

/** Which validation keys each field type takes. */
const VALIDATION_KEYS: Record<FieldType, readonly ValidationKey[]> = {
  text: ["min_length", "max_length", "pattern"],
  textarea: ["min_length", "max_length", "pattern"],
  email: ["max_length"],
  phone: [],
  date: ["min_date", "max_date"],
  number: ["min", "max"],
  select: [],
  multiselect: [],
  checkbox: [],
  photo: ["accept", "max_bytes"],
  signature: ["accept", "max_bytes"],
  file: ["accept", "max_bytes"],
  heading: [],
  info: [],
};

const CHOICE_TYPES: readonly FieldType[] = ["select", "multiselect"];
const ISO_DATE = /^\d{4}-\d{2}-\d{2}$/;
const MIME = /^[a-z0-9][a-z0-9!#$&^_.+-]*\/(\*|[a-z0-9][a-z0-9!#$&^_.+-]*)$/i;

// ---------------------------------------------------------------------------------------------------
// specProblems

/**
 * Every problem of a parsed spec, with paths like `fields[3].options`. An empty list means the spec is
 * valid. (A display field's `required` is not checked: the schema defaults it to true; display fields
 * are never required, whatever it says.)
 */
export function specProblems(spec: SurfaceSpec): SpecProblem[] {
  const problems: SpecProblem[] = [];
  const add = (path: string, message: string) => problems.push({ path, message });
  const byKey = new Map<string, Field>();
  spec.fields.forEach((field, i) => {
    if (byKey.has(field.key)) add(`fields[${i}].key`, "Duplicate field key");
    else byKey.set(field.key, field);
  });

  // Sections: known keys, each field in at most one, every input field in one.
  const sectionOf = new Map<string, number>();
  spec.sections.forEach((section, s) => {
    section.field_keys.forEach((key, k) => {
      const at = `sections[${s}].field_keys[${k}]`;
      if (!byKey.has(key)) add(at, "Names no field of this spec");
      else if (sectionOf.has(key)) add(at, "The field is already in another section");
      else sectionOf.set(key, s);
    });
  });
  if (spec.sections.length > 0)
    spec.fields.forEach((field, i) => {
      if (isInput(field) && !sectionOf.has(field.key)) add(`fields[${i}]`, "Not in any section");
    });

  const position = displayPositions(spec);
  spec.sections.forEach((section, s) => {
    if (!section.condition) return;
    const firstOwn = Math.min(
      ...section.field_keys.map((key) => position.get(key) ?? Number.POSITIVE_INFINITY),
    );
    conditionProblems(section.condition, `sections[${s}].condition`, byKey, add, (ref, at) => {
      if (sectionOf.get(ref) === s) add(at, "Refers to a field of the same section");
      else if ((position.get(ref) ?? Number.POSITIVE_INFINITY) >= firstOwn)
        add(at, "Refers to a field shown after this section");
    });
  });

  spec.fields.forEach((field, i) => {
    const at = `fields[${i}]`;
    const input = isInput(field);
    if (field.condition)
      conditionProblems(field.condition, `${at}.condition`, byKey, add, (ref, where) => {
        if (ref === field.key) add(where, "Refers to the field itself");
        else if (
          (position.get(ref) ?? Number.POSITIVE_INFINITY) >=
          (position.get(field.key) ?? Number.POSITIVE_INFINITY)
        )
          add(where, "Refers to a field shown after this one");
      });

    // Options
    if (CHOICE_TYPES.includes(field.field_type)) {
      if (!field.options || field.options.length === 0) add(`${at}.options`, "A choice needs options");
      const seen = new Set<string>();
      field.options?.forEach((option, o) => {
        if (seen.has(option.value)) add(`${at}.options[${o}].value`, "Duplicate option value");
        seen.add(option.value);
      });
    } else if (field.options !== undefined) add(`${at}.options`, "Only select and multiselect take options");

    if (field.consent_text !== undefined && field.field_type !== "checkbox")
      add(`${at}.consent_text`, "Only a checkbox takes consent text");

    if (!input) {
      if (field.validation !== undefined) add(`${at}.validation`, "A display field takes no validation");
      if (field.target !== undefined) add(`${at}.target`, "A display field takes no target");
      if (field.prefill_value !== undefined) add(`${at}.prefill_value`, "A display field takes no value");
    } else {
      validationProblems(field, at, add);
      prefillProblems(field, at, add);
      if (field.target) targetProblems(field, at, add);
    }
  });
  return problems;
}

/** Display order: section by section when sections exist (fields in none come last), else array order. */
function displayPositions(spec: SurfaceSpec): Map<string, number> {
  const position = new Map<string, number>();
  if (spec.sections.length === 0) {
    for (const [i, f] of spec.fields.entries()) position.set(f.key, i);
  } else {
    let n = 0;
    for (const section of spec.sections)
      for (const key of section.field_keys) if (!position.has(key)) position.set(key, n++);
    for (const f of spec.fields) if (!position.has(f.key)) position.set(f.key, n++);
  }
  return position;
}

function conditionProblems(
  condition: Condition,
  at: string,
  byKey: Map<string, Field>,
  add: (path: string, message: string) => void,
  checkOrder: (ref: string, at: string) => void,
): void {
  if ("all" in condition || "any" in condition) {
    const [kind, list] = "all" in condition ? ["all", condition.all] : ["any", condition.any];
    list.forEach((child, i) => {
      conditionProblems(child, `${at}.${kind}[${i}]`, byKey, add, checkOrder);
    });
    return;
  }
  const ref = byKey.get(condition.field);
  if (!ref) add(`${at}.field`, "Names no field of this spec");
  else if (!isInput(ref)) add(`${at}.field`, "Refers to a display field, which has no answer");
  else checkOrder(condition.field, `${at}.field`);
  const { op, value } = condition;
  if (op === "in" || op === "not_in") {
    if (!Array.isArray(value) || value.length === 0) add(`${at}.value`, `${op} needs a list of values`);
  } else if (op === "exists") {
    if (value !== undefined) add(`${at}.value`, "exists takes no value");
  } else if (op === ">" || op === "<") {
    if (!(typeof value === "number" || (typeof value === "string" && isIsoDate(value))))
      add(`${at}.value`, `${op} needs a number or a date (YYYY-MM-DD)`);
  } else if (value === undefined || Array.isArray(value)) add(`${at}.value`, `${op} needs one value`);
}

function validationProblems(field: Field, at: string, add: (path: string, message: string) => void) {
  const v = field.validation;
  if (!v) return;
  const allowed = VALIDATION_KEYS[field.field_type];
  for (const key of Object.keys(v) as ValidationKey[])
    if (v[key] !== undefined && !allowed.includes(key))
      add(`${at}.validation.${key}`, `A ${field.field_type} field does not take ${key}`);
  if (v.min_length !== undefined && v.max_length !== undefined && v.min_length > v.max_length)
    add(`${at}.validation`, "min_length is greater than max_length");
  if (v.min !== undefined && v.max !== undefined && v.min > v.max)
    add(`${at}.validation`, "min is greater than max");
  if (
    v.min_date !== undefined &&
    v.max_date !== undefined &&
    v.min_date !== "today" &&
    v.max_date !== "today" &&
    v.min_date > v.max_date
  )
    add(`${at}.validation`, "min_date is after max_date");
  if (v.pattern !== undefined && compilePattern(v.pattern) === null)
    add(`${at}.validation.pattern`, "Not a valid regular expression");
  v.accept?.forEach((type, i) => {
    if (!MIME.test(type)) add(`${at}.validation.accept[${i}]`, "Not a MIME type (type/subtype or type/*)");
  });
}

function prefillProblems(field: Field, at: string, add: (path: string, message: string) => void) {
  const value = field.prefill_value;
  if (value === undefined) return;
  const where = `${at}.prefill_value`;
  switch (field.field_type) {
    case "text":
    case "textarea":
    case "phone":
    case "email":
      if (typeof value !== "string") add(where, "Needs a string");
      return;
    case "date":
      if (typeof value !== "string" || !isIsoDate(value)) add(where, "Needs a date (YYYY-MM-DD)");
      return;
    case "number":
      if (typeof value !== "number") add(where, "Needs a number");
      return;
    case "checkbox":
      if (typeof value !== "boolean") add(where, "Needs true or false");
      return;
    case "select":
      if (typeof value !== "string" || !field.options?.some((o) => o.value === value))
        add(where, "Needs one of the option values");
      return;
    case "multiselect":
      if (!Array.isArray(value) || value.some((v) => !field.options?.some((o) => o.value === v)))
        add(where, "Needs a list of option values");
      return;
    default:
      add(where, "An upload cannot be prefilled");
  }
}

function targetProblems(field: Field, at: string, add: (path: string, message: string) => void) {
  const target = field.target;
  if (!target) return;
  if (isUpload(field)) {
    add(`${at}.target`, "An upload cannot fill the world model");
    return;
  }
  const keys = dataKeys(EVENT_TYPES[target.event_type].data);
  // A nested key (`address.city`) is checked by its first part; the event's own schema checks the rest on submit.
  if (!keys.has(target.data_key.split(".")[0]!))
    add(`${at}.target.data_key`, `${target.event_type} has no data key of that name`);
  for (const key of Object.keys(target.with ?? {})) {
    if (!keys.has(key)) add(`${at}.target.with.${key}`, `${target.event_type} has no data key of that name`);
    else if (key === target.data_key)
      add(`${at}.target.with.${key}`, "Repeats the data key the answer fills");
  }
}

/** The top-level keys of an event's data schema (objects, through pipes, unions and wrappers). */
function dataKeys(schema: z.ZodType): Set<string> {
  const keys = new Set<string>();
  const visit = (s: z.core.$ZodType | undefined) => {
    if (!s) return;
    const def = s._zod.def as unknown as Record<string, unknown> & { type: string };
    if (s instanceof z.ZodObject) for (const key of Object.keys(s.shape)) keys.add(key);
    else if (def.type === "pipe") visit(def.in as z.core.$ZodType);
    else if (def.type === "union") for (const o of def.options as z.core.$ZodType[]) visit(o);
    else if ("innerType" in def) visit(def.innerType as z.core.$ZodType);
  };
  visit(schema);
  return keys;
}

function compilePattern(pattern: string): RegExp | null {
  try {
    return new RegExp(`^(?:${pattern})$`, "u");
  } catch {
    return null;
  }
}

/** A real calendar date as `YYYY-MM-DD`. */
export function isIsoDate(value: string): boolean {
  if (!ISO_DATE.test(value)) return false;
  const date = new Date(`${value}T00:00:00Z`);
  return !Number.isNaN(date.getTime()) && date.toISOString().slice(0, 10) === value;
}

// ---------------------------------------------------------------------------------------------------
// Conditions and visibility

/** Answered and not empty: a non-blank string, a non-empty list, any number, boolean or upload. */
export function isAnswered(value: AnswerValue | undefined): boolean {
  if (value === undefined || value === null) return false;
  if (typeof value === "string") return value.trim().length > 0;
  if (Array.isArray(value)) return value.length > 0;
  return true;
}

/**
 * Whether `condition` holds for `answers` (no condition holds). Like FHIR's enableWhen, a comparison on
 * an unanswered field is false for every operator but `exists` (so `!=` and `not_in` wait for an
 * answer). A multiselect answer matches `=` / `in` when it contains the value / one of the values, and
 * `!=` / `not_in` when it contains none. `>` and `<` compare numbers, or ISO dates as strings.
 */
export function evaluate(condition: Condition | undefined, answers: Answers): boolean {
  if (condition === undefined) return true;
  if ("all" in condition) return condition.all.every((c) => evaluate(c, answers));
  if ("any" in condition) return condition.any.some((c) => evaluate(c, answers));
  return compare(condition, answers[condition.field]);
}

function compare(c: Comparison, answer: AnswerValue | undefined): boolean {
  const answered = isAnswered(answer);
  if (c.op === "exists") return answered;
  if (!answered || answer === undefined) return false;
  if (typeof answer === "object" && !Array.isArray(answer)) return false; // an upload: only `exists`
  const given = Array.isArray(answer) ? answer : [answer];
  const values = Array.isArray(c.value) ? c.value : c.value === undefined ? [] : [c.value];
  const matchesAny = given.some((a) => values.some((v) => same(a, v)));
  switch (c.op) {
    case "=":
    case "in":
      return matchesAny;
    case "!=":
    case "not_in":
      return !matchesAny;
    case ">":
    case "<": {
      const v = values[0];
      const a = given[0];
      if (v === undefined || a === undefined || given.length !== 1) return false;
      const order = ordering(a, v);
      return order !== null && (c.op === ">" ? order > 0 : order < 0);
    }
  }
}

type Scalar = string | number | boolean;

/** Equality across the types a form and a spec use (`5` = `"5"`, `true` = `"true"`). */
function same(a: Scalar, b: Scalar): boolean {
  if (typeof a === typeof b) return a === b;
  if (typeof a === "number" || typeof b === "number") {
    const x = Number(a);
    const y = Number(b);
    return typeof a !== "boolean" && typeof b !== "boolean" && Number.isFinite(x) && x === y;
  }
  return String(a) === String(b);
}

function ordering(a: Scalar, b: Scalar): number | null {
  if (typeof a === "string" && typeof b === "string" && isIsoDate(a) && isIsoDate(b))
    return a < b ? -1 : a > b ? 1 : 0;
  const x = typeof a === "number" ? a : typeof a === "string" && a.trim() !== "" ? Number(a) : Number.NaN;
  const y = typeof b === "number" ? b : Number.NaN;
  if (!Number.isFinite(x) || !Number.isFinite(y)) return null;
  return x - y;
}

/** A wizard page. */
export interface Page {
  title: string;
  description?: string;
  condition?: Condition;
  fields: Field[];
}

/** The wizard's pages: the declared sections (fields in none are on no page), or one page of all fields. */
export function sectionsOf(spec: SurfaceSpec): Page[] {
  if (spec.sections.length === 0)
    return [
      {
        title: spec.title,
        ...(spec.description !== undefined ? { description: spec.description } : {}),
        fields: spec.fields,
      },
    ];
  const byKey = new Map(spec.fields.map((f) => [f.key, f]));
  const placed = new Set<string>();
  return spec.sections.map((section) => ({
    title: section.title,
    ...(section.description !== undefined ? { description: section.description } : {}),
    ...(section.condition !== undefined ? { condition: section.condition } : {}),
    fields: section.field_keys.flatMap((key) => {
      const field = byKey.get(key);
      if (!field || placed.has(key)) return [];
      placed.add(key);
      return [field];
    }),
  }));
}

/**
 * The fields shown for these answers, in display order: a field is hidden by its own condition or its
 * section's, and a hidden field's answer counts as no answer for the conditions after it.
 */
export function visibleFields(spec: SurfaceSpec, answers: Answers): Field[] {
  return visibleAnswers(spec, answers).fields;
}

/** The visible fields, and the answers that count (those of visible fields only). */
function visibleAnswers(spec: SurfaceSpec, answers: Answers): { fields: Field[]; counted: Answers } {
  const counted: Answers = {};
  const fields: Field[] = [];
  for (const page of sectionsOf(spec)) {
    if (!evaluate(page.condition, counted)) continue;
    for (const field of page.fields) {
      if (!evaluate(field.condition, counted)) continue;
      fields.push(field);
      const answer = answers[field.key];
      if (isInput(field) && answer !== undefined) counted[field.key] = answer;
    }
  }
  return { fields, counted };
}

// ---------------------------------------------------------------------------------------------------
// Answers

export type AnswerCheck = { ok: true; value: AnswerValue } | { ok: false; message: string };

const bad = (message: string): AnswerCheck => ({ ok: false, message });

/**
 * Checks and normalizes one raw answer (from a form post or JSON) for `field`; `today` is the
 * workspace's date (`YYYY-MM-DD`) for `today` bounds. An empty answer to an optional field is ok and
 * comes back empty (`""`, `[]`, or `false` for a checkbox): `isAnswered` tells the service to treat it
 * as cleared.
 */
export function validateAnswer(field: Field, raw: unknown, today: string): AnswerCheck {
  if (!isInput(field)) return bad("This is not a question");
  const v = field.validation ?? {};
  if (field.field_type === "checkbox") {
    const ticked = raw === true || raw === "on" || raw === "true";
    const unticked = raw === false || raw === "false" || raw === undefined || raw === null || raw === "";
    if (!ticked && !unticked) return bad("Tick the box or leave it empty");
    if (!ticked && field.required) return bad("Tick the box to continue");
    return { ok: true, value: ticked };
  }
  if (isEmptyRaw(raw)) {
    if (field.required) return bad("This question needs an answer");
    return { ok: true, value: field.field_type === "multiselect" ? [] : "" };
  }
  switch (field.field_type) {
    case "text":
    case "textarea": {
      if (typeof raw !== "string" && typeof raw !== "number") return bad("Enter some text");
      const text = normalizeText(String(raw), field.field_type === "textarea");
      if (text === null) return bad("Remove the special characters from your answer");
      const max = v.max_length ?? DEFAULT_MAX_LENGTH[field.field_type];
      if ([...text].length > max) return bad(`Keep your answer under ${max + 1} characters`);
      if (v.min_length !== undefined && [...text].length < v.min_length)
        return bad(`Enter at least ${v.min_length} characters`);
      if (v.pattern !== undefined) {
        const re = compilePattern(v.pattern);
        if (re && !re.test(text)) return bad("Check the format of your answer");
      }
      return { ok: true, value: text };
    }
    case "date": {
      const text = typeof raw === "string" ? raw.trim() : "";
      if (!isIsoDate(text)) return bad("Enter a date like 1980-03-05");
      const min = v.min_date === "today" ? today : v.min_date;
      const max = v.max_date === "today" ? today : v.max_date;
      if (min !== undefined && text < min)
        return bad(v.min_date === "today" ? "Enter today or a later date" : `Enter ${min} or a later date`);
      if (max !== undefined && text > max)
        return bad(
          v.max_date === "today" ? "Enter today or an earlier date" : `Enter ${max} or an earlier date`,
        );
      return { ok: true, value: text };
    }
    case "phone": {
      const e164 = typeof raw === "string" ? normalizeE164(raw) : null;
      return e164 ? { ok: true, value: e164 } : bad("Enter a phone number like (415) 555-0123");
    }
    case "email": {
      const text = typeof raw === "string" ? raw.trim() : "";
      const max = Math.min(v.max_length ?? 254, 254);
      if (text.length > max || !z.email().safeParse(text).success)
        return bad("Enter an email address like name@example.com");
      return { ok: true, value: text };
    }
    case "number": {
      const n = typeof raw === "number" ? raw : typeof raw === "string" ? Number(raw.trim()) : Number.NaN;
      if (!Number.isFinite(n)) return bad("Enter a number");
      if (v.min !== undefined && n < v.min) return bad(`Enter ${v.min} or more`);
      if (v.max !== undefined && n > v.max) return bad(`Enter ${v.max} or less`);
      return { ok: true, value: n };
    }
    case "select": {
      const options = field.options ?? [];
      if (typeof raw !== "string" || !options.some((o) => o.value === raw))
        return bad("Choose one of the options");
      return { ok: true, value: raw };
    }
    case "multiselect": {
      const options = field.options ?? [];
      const has = (value: string) => options.some((o) => o.value === value);
      let chosen: unknown[];
      if (Array.isArray(raw)) chosen = raw;
      else if (typeof raw === "string") chosen = has(raw) ? [raw] : raw.split(",").map((s) => s.trim());
      else return bad("Choose from the options");
      if (!chosen.every((c) => typeof c === "string" && has(c))) return bad("Choose from the options");
      const picked = options.map((o) => o.value).filter((value) => chosen.includes(value));
      if (picked.length === 0 && field.required) return bad("Choose at least one option");
      return { ok: true, value: picked };
    }
    case "photo":
    case "signature":
    case "file":
      return validateUpload(field.field_type, raw, v.accept, v.max_bytes);
    default:
      return bad("This is not a question");
  }
}

function validateUpload(
  type: "photo" | "signature" | "file",
  raw: unknown,
  accept: string[] | undefined,
  maxBytes: number | undefined,
): AnswerCheck {
  const what = { photo: "a photo", signature: "your signature", file: "a file" }[type];
  if (typeof raw !== "object" || raw === null || Array.isArray(raw)) return bad(`Upload ${what}`);
  const { upload, content_type: contentType, bytes } = raw as Record<string, unknown>;
  if (typeof upload !== "string" || upload.length === 0 || upload.length > 512) return bad(`Upload ${what}`);
  if (typeof bytes !== "number" || !Number.isInteger(bytes) || bytes < 0) return bad(`Upload ${what}`);
  if (bytes === 0) return bad("The file is empty: upload it again");
  const limit = Math.min(maxBytes ?? MAX_UPLOAD_BYTES, MAX_UPLOAD_BYTES);
  if (bytes > limit) return bad(`The file is too large: the limit is ${formatBytes(limit)}`);
  const types = accept && accept.length > 0 ? accept : DEFAULT_ACCEPT[type];
  const mime = typeof contentType === "string" ? contentType.split(";")[0]!.trim().toLowerCase() : "";
  if (!types.some((t) => mimeMatches(t.toLowerCase(), mime)))
    return bad(`This type of file is not accepted: use ${describeTypes(types)}`);
  return { ok: true, value: { upload, content_type: mime, bytes } };
}

function mimeMatches(pattern: string, mime: string): boolean {
  if (!MIME.test(mime)) return false;
  if (pattern.endsWith("/*")) return mime.startsWith(pattern.slice(0, -1));
  return pattern === mime;
}

function describeTypes(types: string[]): string {
  const names = types.map((t) =>
    t.endsWith("/*") ? `any ${t.slice(0, -2)}` : (t.split("/")[1] ?? t).toUpperCase(),
  );
  return names.length > 1 ? `${names.slice(0, -1).join(", ")} or ${names.at(-1)}` : names[0]!;
}

function formatBytes(bytes: number): string {
  return bytes >= 1024 * 1024
    ? `${Math.floor(bytes / (1024 * 1024))} MB`
    : `${Math.max(1, Math.floor(bytes / 1024))} KB`;
}

function isEmptyRaw(raw: unknown): boolean {
  return (
    raw === undefined ||
    raw === null ||
    (typeof raw === "string" && raw.trim() === "") ||
    (Array.isArray(raw) && raw.length === 0)
  );
}

/** Trimmed text; single-line fields fold whitespace runs; null when it holds other control characters. */
function normalizeText(text: string, multiline: boolean): string | null {
  const unified = text.replace(/\r\n?/g, "\n");
  if (/\p{Cc}/u.test(unified.replace(/[\n\t]/g, ""))) return null;
  const trimmed = unified.trim();
  return multiline ? trimmed : trimmed.replace(/\s+/g, " ");
}

// ---------------------------------------------------------------------------------------------------
// Progress and reshape

export interface Progress {
  /** Visible required input fields that hold an answer (a required checkbox counts when ticked). */
  answered: number;
  required: number;
  complete: boolean;
  /** Keys of the visible required fields still without one, in display order. */
  missing: string[];
}

export function progress(spec: SurfaceSpec, answers: Answers): Progress {
  const { fields } = visibleAnswers(spec, answers);
  const required = fields.filter((f) => isInput(f) && f.required);
  const missing = required.filter((f) => !filled(f, answers[f.key])).map((f) => f.key);
  return {
    answered: required.length - missing.length,
    required: required.length,
    complete: missing.length === 0,
    missing,
  };
}

/** Filled: answered, and for a required checkbox ticked (an optional one left unticked is an answer). */
const filled = (field: Field, value: AnswerValue | undefined) =>
  field.field_type === "checkbox"
    ? field.required
      ? value === true
      : typeof value === "boolean"
    : isAnswered(value);

/**
 * A follow-up spec of what is still unfilled, or null when nothing is. Kept: the input fields without an
 * answer (hidden ones too, since later answers may show them), and the headings and info of the
 * sections that still have input fields (without sections: of the run up to the next heading).
 *
 * Conditions are partially evaluated: a comparison on a field that was answered (so removed) is decided
 * with the answers as they count now (hidden fields' answers do not), and the rest stays. A condition
 * that comes out true is dropped; a field or section whose condition comes out false is dropped, since
 * nothing left could show it.
 */
export function reshapeSpec(spec: SurfaceSpec, answers: Answers): SurfaceSpec | null {
  const { counted } = visibleAnswers(spec, answers);
  const removed = new Set(
    spec.fields.filter((f) => isInput(f) && filled(f, answers[f.key])).map((f) => f.key),
  );
  const simplify = (c: Condition | undefined) => (c === undefined ? true : partial(c, removed, counted));

  const keep = new Map<string, Field>();
  for (const field of spec.fields) {
    if (isInput(field) && removed.has(field.key)) continue;
    const condition = simplify(field.condition);
    if (condition === false) continue;
    const { condition: _old, ...rest } = field;
    keep.set(field.key, condition === true ? rest : { ...rest, condition });
  }

  if (spec.sections.length === 0) {
    // Display fields belong to the run of fields up to the next heading.
    const fields: Field[] = [];
    let pending: Field[] = [];
    for (const field of spec.fields) {
      if (field.field_type === "heading") pending = [];
      const kept = keep.get(field.key);
      if (!kept) continue;
      if (!isInput(kept)) pending.push(kept);
      else {
        fields.push(...pending, kept);
        pending = [];
      }
    }
    if (!fields.some(isInput)) return null;
    return { ...spec, fields };
  }

  const sections: SurfaceSpec["sections"] = [];
  const inSection = new Set<string>();
  for (const section of spec.sections) {
    const condition = simplify(section.condition);
    if (condition === false) continue;
    const keys = section.field_keys.filter((k) => keep.has(k));
    if (!keys.some((k) => isInput(keep.get(k)!))) continue;
    const { condition: _old, ...rest } = section;
    sections.push(
      condition === true ? { ...rest, field_keys: keys } : { ...rest, field_keys: keys, condition },
    );
    for (const k of keys) inSection.add(k);
  }
  const fields = spec.fields.filter((f) => inSection.has(f.key)).map((f) => keep.get(f.key)!);
  if (!fields.some(isInput)) return null;
  return { ...spec, sections, fields };
}

/** A condition with the comparisons on `removed` fields decided: true, false, or what remains. */
function partial(c: Condition, removed: Set<string>, answers: Answers): Condition | boolean {
  if ("all" in c || "any" in c) {
    const isAll = "all" in c;
    const rest: Condition[] = [];
    for (const child of isAll ? c.all : c.any) {
      const p = partial(child, removed, answers);
      if (p === !isAll) return !isAll; // false in all, true in any decides it
      if (p !== isAll) rest.push(p as Condition);
    }
    if (rest.length === 0) return isAll;
    if (rest.length === 1) return rest[0]!;
    // Deciding comparisons only removes levels, so what remains is as deep as `c` at most.
    return (isAll ? { all: rest } : { any: rest }) as Condition;
  }
  return removed.has(c.field) ? evaluate(c, answers) : c;
}
