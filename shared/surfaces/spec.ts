/**
 * A surface's spec: the form the agent (or the gap scanner, or an operator) builds for exactly what is
 * missing, rendered for the patient at `/s/{token}`. Pure zod, shared by the API, the page renderer, the
 * agent's tools and the FHIR Questionnaire mapping.
 *
 * Shape only here; the cross-field rules (unique keys, conditions naming fields that exist, options on
 * choice fields, sections naming fields that exist…) are `specProblems()` in ./validate.ts, which reports
 * every problem at once (the API answers 422 with all of them).
 */
import { z } from "zod";
import { EVENT_TYPE_NAMES } from "../world/events";

/** The 12 input types, and the two display-only ones. */
export const INPUT_TYPES = [
  "text",
  "textarea",
  "date",
  "phone",
  "email",
  "number",
  "select",
  "multiselect",
  "checkbox",
  "photo",
  "signature",
  "file",
] as const;
export const DISPLAY_TYPES = ["heading", "info"] as const;
export const FIELD_TYPES = [...INPUT_TYPES, ...DISPLAY_TYPES] as const;
export type FieldType = (typeof FIELD_TYPES)[number];
export type InputType = (typeof INPUT_TYPES)[number];

/** Fields whose answer is a file in R2 (the answer holds its key, type and size). */
export const UPLOAD_TYPES = ["photo", "signature", "file"] as const satisfies readonly InputType[];

const Key = z
  .string()
  .regex(/^[a-z][a-z0-9_]{0,63}$/, "lowercase letters, digits and _, starting with a letter");
const Label = z
  .string()
  .trim()
  .min(1)
  .max(300)
  .regex(/^[^\p{Cc}]*$/u, "no control characters");
const Prose = z
  .string()
  .trim()
  .max(2000)
  .regex(/^[^\p{Cc}]*$/u, "no control characters");

/** A literal a condition compares with. */
const ConditionValue = z.union([z.string().max(500), z.number(), z.boolean()]);

/** One comparison on another field's current answer. */
export const Comparison = z.strictObject({
  field: Key,
  op: z.enum(["=", "!=", "in", "not_in", "exists", ">", "<"]),
  /** A literal for `=`, `!=`, `>`, `<`; a list for `in` / `not_in`; absent for `exists`. */
  value: z.union([ConditionValue, z.array(ConditionValue).max(100)]).optional(),
});
export type Comparison = z.infer<typeof Comparison>;

/**
 * Show when: a comparison, or all / any of several, nested two levels (all of: a comparison or any of
 * comparisons; and the reverse). Not recursive, so the OpenAPI document can name every shape.
 */
const Inner = z.union([
  Comparison,
  z.strictObject({ all: z.array(Comparison).min(1).max(20) }),
  z.strictObject({ any: z.array(Comparison).min(1).max(20) }),
]);
export const Condition = z
  .union([
    Comparison,
    z.strictObject({ all: z.array(Inner).min(1).max(20) }),
    z.strictObject({ any: z.array(Inner).min(1).max(20) }),
  ])
  .meta({ id: "SurfaceCondition" });
export type Condition = z.infer<typeof Condition>;

export const FieldOption = z.strictObject({
  value: z.string().trim().min(1).max(200),
  label: Label,
});

/** Where an answer goes in the world model: an event type and the key of its data the answer fills. */
export const FieldTarget = z.strictObject({
  event_type: z.enum(EVENT_TYPE_NAMES),
  /**
   * The data key the answer fills (`phone` of `contact.recorded`), or one nested key (`address.city`).
   * Answers with the same event type and `with` make one event (a payer and a member id: one coverage).
   */
  data_key: z.string().regex(/^[a-z][a-z0-9_]{0,63}(\.[a-z][a-z0-9_]{0,63})?$/),
  /** Constant data the event needs besides the answer (`{ kind: "primary" }`). */
  with: z.record(z.string(), z.union([z.string().max(200), z.number(), z.boolean()])).optional(),
});
export type FieldTarget = z.infer<typeof FieldTarget>;

export const FieldValidation = z.strictObject({
  min_length: z.number().int().min(0).max(10_000).optional(),
  max_length: z.number().int().min(1).max(10_000).optional(),
  /** A regular expression the whole text must match (text, textarea). */
  pattern: z.string().max(200).optional(),
  min: z.number().optional(),
  max: z.number().optional(),
  /** Dates as ISO `YYYY-MM-DD`, or `today`. */
  min_date: z.union([z.iso.date(), z.literal("today")]).optional(),
  max_date: z.union([z.iso.date(), z.literal("today")]).optional(),
  /** Uploads: accepted MIME types (`image/*` allowed) and the largest size in bytes (≤ 10 MiB). */
  accept: z.array(z.string().max(100)).max(20).optional(),
  max_bytes: z
    .number()
    .int()
    .min(1)
    .max(10 * 1024 * 1024)
    .optional(),
});

export const Field = z.strictObject({
  key: Key,
  label: Label,
  field_type: z.enum(FIELD_TYPES),
  description: Prose.optional(),
  placeholder: z
    .string()
    .max(200)
    .regex(/^[^\p{Cc}]*$/u, "no control characters")
    .optional(),
  options: z.array(FieldOption).max(200).optional(),
  required: z.boolean().default(true),
  /** Shown masked once saved, never prefilled in the clear, never in analytics. */
  sensitive: z.boolean().default(false),
  validation: FieldValidation.optional(),
  /** Checkbox: the consent the patient agrees to by ticking it. */
  consent_text: Prose.optional(),
  /** What we already hold, shown for the patient to confirm or correct. */
  prefill_value: z
    .union([z.string().max(2000), z.number(), z.boolean(), z.array(z.string().max(200))])
    .optional(),
  condition: Condition.optional(),
  /** Where the answer goes in the world model; an answer without one stays on the surface. */
  target: FieldTarget.optional(),
});
export type Field = z.infer<typeof Field>;
export type FieldInput = z.input<typeof Field>;

export const Section = z.strictObject({
  title: Label,
  description: Prose.optional(),
  field_keys: z.array(Key).min(1).max(100),
  condition: Condition.optional(),
});
export type Section = z.infer<typeof Section>;

const Color = z.string().regex(/^#[0-9a-fA-F]{6}$/, "a #rrggbb color");

export const Branding = z.strictObject({
  /** An https image URL, or a `data:image/png;base64,…` of at most 20 KB. */
  logo_url: z
    .string()
    .max(28_000)
    .regex(/^(https:\/\/|data:image\/(png|svg\+xml|jpeg);base64,)/, "an https URL or a data: image")
    .optional(),
  primary_color: Color.default("#0f766e"),
  background_color: Color.default("#ffffff"),
  font: z.enum(["system", "serif", "rounded"]).default("system"),
});

export const Completion = z.strictObject({
  title: Label.default("Thank you"),
  message: Prose.default("Your answers were sent to the clinic. You can close this page."),
});

export const SurfaceSpec = z
  .strictObject({
    title: Label,
    description: Prose.optional(),
    /** Wizard pages; without any, all fields are one page. */
    sections: z.array(Section).max(30).default([]),
    fields: z.array(Field).min(1).max(100),
    branding: Branding.default(Branding.parse({})),
    completion: Completion.default(Completion.parse({})),
  })
  .meta({ id: "SurfaceSpec" });
export type SurfaceSpec = z.infer<typeof SurfaceSpec>;
export type SurfaceSpecInput = z.input<typeof SurfaceSpec>;

/** An answer as stored and as conditions read it. Uploads: `{ key, content_type, bytes }` of the R2 object. */
export type AnswerValue =
  | string
  | number
  | boolean
  | string[]
  | { upload: string; content_type: string; bytes: number };
export type Answers = Record<string, AnswerValue>;

export const isInput = (field: Pick<Field, "field_type">): boolean =>
  (INPUT_TYPES as readonly string[]).includes(field.field_type);
export const isUpload = (field: Pick<Field, "field_type">): boolean =>
  (UPLOAD_TYPES as readonly string[]).includes(field.field_type);
