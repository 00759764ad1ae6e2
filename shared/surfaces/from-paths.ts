/**
 * A surface for exactly what a record lacks: world-model paths (`contact.email`, `coverage`,
 * `allergies`…) → the fields that collect them, each with its `target`. The agent's `create_surface`
 * tool and the gap scanner both build specs here, so a missing item is asked for the same way everywhere.
 */
import type { FieldInput, SurfaceSpec, SurfaceSpecInput } from "./spec";
import { SurfaceSpec as SurfaceSpecSchema } from "./spec";

const contact = (data_key: string) => ({ event_type: "contact.recorded" as const, data_key });

/** Fields per known path (a path names a fact, or a prefix of facts: `coverage` = any coverage). */
export const PATH_FIELDS: Record<string, FieldInput[]> = {
  "contact.email": [{ key: "email", label: "Email address", field_type: "email", target: contact("email") }],
  "contact.phone": [
    { key: "mobile_phone", label: "Mobile phone number", field_type: "phone", target: contact("phone") },
  ],
  "contact.address": [
    { key: "address_line", label: "Street address", field_type: "text", target: contact("address.line") },
    { key: "address_city", label: "City", field_type: "text", target: contact("address.city") },
    {
      key: "address_state",
      label: "State",
      field_type: "text",
      required: false,
      target: contact("address.state"),
    },
    {
      key: "address_postal_code",
      label: "ZIP code",
      field_type: "text",
      validation: { pattern: "[0-9]{5}(-[0-9]{4})?" },
      target: contact("address.postal_code"),
    },
  ],
  "demographics.birth_date": [
    {
      key: "birth_date",
      label: "Date of birth",
      field_type: "date",
      validation: { max_date: "today" },
      target: { event_type: "demographics.recorded", data_key: "birth_date" },
    },
  ],
  coverage: [
    { key: "insurance_heading", label: "Insurance", field_type: "heading" },
    {
      key: "insurance_payer",
      label: "Insurance company",
      field_type: "text",
      target: { event_type: "coverage.recorded", data_key: "payer" },
    },
    {
      key: "insurance_member_id",
      label: "Member ID",
      field_type: "text",
      sensitive: true,
      target: { event_type: "coverage.recorded", data_key: "member_id" },
    },
    {
      key: "insurance_group_number",
      label: "Group number",
      field_type: "text",
      required: false,
      target: { event_type: "coverage.recorded", data_key: "group_number" },
    },
    { key: "insurance_card_front", label: "Photo of the front of your insurance card", field_type: "photo" },
    {
      key: "insurance_card_back",
      label: "Photo of the back of your insurance card",
      field_type: "photo",
      required: false,
    },
  ],
  allergies: [
    {
      key: "has_allergies",
      label: "Do you have any allergies to medications, foods or latex?",
      field_type: "select",
      options: [
        { value: "yes", label: "Yes" },
        { value: "no", label: "No" },
      ],
    },
    {
      key: "allergy_substance",
      label: "What are you allergic to?",
      field_type: "text",
      condition: { field: "has_allergies", op: "=", value: "yes" },
      target: { event_type: "allergy.recorded", data_key: "substance" },
    },
    {
      key: "allergy_reaction",
      label: "What happens when you are exposed?",
      field_type: "textarea",
      required: false,
      condition: { field: "has_allergies", op: "=", value: "yes" },
      target: { event_type: "allergy.recorded", data_key: "reaction" },
    },
  ],
  medications: [
    {
      key: "medication_name",
      label: "A medication you take regularly (leave empty if none)",
      field_type: "text",
      required: false,
      target: { event_type: "medication.recorded", data_key: "name" },
    },
    {
      key: "medication_dose",
      label: "Its dose",
      field_type: "text",
      required: false,
      condition: { field: "medication_name", op: "exists" },
      target: { event_type: "medication.recorded", data_key: "dose" },
    },
  ],
  "preferences.channel": [
    {
      key: "preferred_channel",
      label: "How should we contact you?",
      field_type: "select",
      options: [
        { value: "sms", label: "Text message" },
        { value: "email", label: "Email" },
        { value: "voice", label: "Phone call" },
      ],
      target: { event_type: "preference.recorded", data_key: "channel" },
    },
  ],
};

/** The known path a required path falls under (`coverage.aetna` → `coverage`), or null. */
export function knownPath(path: string): string | null {
  if (PATH_FIELDS[path]) return path;
  const root = path.split(".")[0]!;
  return PATH_FIELDS[root] ? root : null;
}

/** Which of `required` the facts lack: a path is present when a fact is at it or below it. */
export function missingPaths(factPaths: Iterable<string>, required: readonly string[]): string[] {
  const held = [...factPaths];
  return required.filter((p) => !held.some((h) => h === p || h.startsWith(`${p}.`)));
}

/** A spec asking for `paths` (unknown ones skipped); null when none is known. */
export function specForPaths(
  paths: readonly string[],
  options: { title?: string; description?: string } = {},
): SurfaceSpec | null {
  const known = [...new Set(paths.map(knownPath).filter((p): p is string => p !== null))];
  if (known.length === 0) return null;
  const input: SurfaceSpecInput = {
    title: options.title ?? "A few details for your visit",
    description:
      options.description ??
      "Please check or fill in these details before your visit. It takes about a minute.",
    fields: known.flatMap((p) => PATH_FIELDS[p]!),
  };
  return SurfaceSpecSchema.parse(input);
}
