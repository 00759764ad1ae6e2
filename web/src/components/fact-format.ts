/**
 * How world-model facts read to a person: the groups a clinician scans (allergies and safety first),
 * a label per fact (`allergies.penicillin` → "Penicillin"), and values in words (phone numbers, dates,
 * languages, an allergy's reaction and severity). Used by the World and Review pages alike.
 */
import { formatDateTime, formatPhone, titleCase } from "../format";

export interface FactGroup {
  id: string;
  /** Heading of the group on the patient page. */
  title: string;
  /** One fact of the group, in the review queue: "Allergy · Latex". */
  singular: string;
  /** The first segment of the paths it holds. */
  prefix: string;
  safety?: boolean;
}

/** In display order: what could hurt the patient first, then who they are, then the rest. */
export const FACT_GROUPS: FactGroup[] = [
  { id: "allergies", title: "Allergies", singular: "Allergy", prefix: "allergies", safety: true },
  { id: "safety", title: "Safety flags", singular: "Safety flag", prefix: "safety", safety: true },
  { id: "demographics", title: "Demographics", singular: "Demographics", prefix: "demographics" },
  { id: "contact", title: "Contact", singular: "Contact", prefix: "contact" },
  { id: "preferences", title: "Preferences", singular: "Preference", prefix: "preferences" },
  { id: "medications", title: "Medications", singular: "Medication", prefix: "medications" },
  { id: "conditions", title: "Conditions", singular: "Condition", prefix: "conditions" },
  { id: "coverage", title: "Coverage", singular: "Coverage", prefix: "coverage" },
  { id: "interactions", title: "Interactions", singular: "Interaction", prefix: "interactions" },
  { id: "tasks", title: "Tasks", singular: "Task", prefix: "tasks" },
  { id: "identifiers", title: "Identifiers", singular: "Identifier", prefix: "identifiers" },
  { id: "appointment", title: "Appointment", singular: "Appointment", prefix: "appointment" },
  { id: "profile", title: "Profile", singular: "Profile", prefix: "profile" },
];

const OTHER: FactGroup = { id: "other", title: "Other facts", singular: "Fact", prefix: "" };

export function groupOf(path: string): FactGroup {
  const prefix = path.split(".")[0];
  return FACT_GROUPS.find((g) => g.prefix === prefix) ?? OTHER;
}

/** Facts (or anything with a path) in display groups; only groups that have something. */
export function groupByPath<T extends { path: string }>(items: T[]): { group: FactGroup; items: T[] }[] {
  const byGroup = new Map<string, { group: FactGroup; items: T[] }>();
  for (const item of items) {
    const group = groupOf(item.path);
    const entry = byGroup.get(group.id) ?? { group, items: [] };
    entry.items.push(item);
    byGroup.set(group.id, entry);
  }
  return [...FACT_GROUPS, OTHER].flatMap((g) => {
    const entry = byGroup.get(g.id);
    return entry ? [{ ...entry, items: entry.items.sort(compareFacts) }] : [];
  });
}

/** Identity fields in the order a person reads them; list items alphabetically; interactions newest first. */
const FIELD_ORDER = [
  "given_name",
  "family_name",
  "preferred_name",
  "birth_date",
  "gender",
  "language",
  "phone",
  "email",
  "address",
  "channel",
  "contact_time",
  "do_not_contact",
];

function compareFacts(a: { path: string; value?: unknown }, b: { path: string; value?: unknown }): number {
  const [fa, fb] = [fieldOf(a.path), fieldOf(b.path)];
  const [ia, ib] = [FIELD_ORDER.indexOf(fa), FIELD_ORDER.indexOf(fb)];
  if (ia !== -1 || ib !== -1) return (ia === -1 ? 99 : ia) - (ib === -1 ? 99 : ib);
  if (a.path.startsWith("interactions.")) {
    return String(record(b.value)?.occurred_at ?? "").localeCompare(
      String(record(a.value)?.occurred_at ?? ""),
    );
  }
  return factLabel(a.path, a.value).localeCompare(factLabel(b.path, b.value));
}

const fieldOf = (path: string) => path.slice(path.indexOf(".") + 1);

const FIELD_LABELS: Record<string, string> = {
  given_name: "Given name",
  family_name: "Family name",
  preferred_name: "Preferred name",
  birth_date: "Date of birth",
  gender: "Gender",
  language: "Language",
  phone: "Phone",
  email: "Email",
  address: "Address",
  channel: "Preferred channel",
  contact_time: "Best time to reach",
  do_not_contact: "Do not contact",
  visit_type: "Visit type",
  patient_id: "Patient",
  practitioner_id: "Practitioner",
  location_id: "Location",
};

const WORDS: Record<string, string> = {
  sms: "SMS",
  whatsapp: "WhatsApp",
  voice: "Voice",
  email: "Email",
  ehr: "EHR",
  api: "API",
  follow_up: "Follow-up",
  "on-hold": "On hold",
  "entered-in-error": "Entered in error",
  noshow: "No-show",
  "checked-in": "Checked in",
  in_person: "In person",
};

/** An enum-like value in words: `sms` → "SMS", `follow_up` → "Follow-up". */
export function word(value: string): string {
  return WORDS[value] ?? titleCase(value.replace(/-/g, " "));
}

function record(value: unknown): Record<string, unknown> | null {
  return typeof value === "object" && value !== null && !Array.isArray(value)
    ? (value as Record<string, unknown>)
    : null;
}

const text = (value: unknown): string | null => (typeof value === "string" && value !== "" ? value : null);

/** The name of one fact within its group: "Date of birth", "Penicillin", "Aetna", "Fall risk". */
export function factLabel(path: string, value?: unknown): string {
  const group = groupOf(path);
  const field = fieldOf(path);
  const v = record(value);
  switch (group.id) {
    case "allergies":
      return text(v?.substance) ?? titleCase(field.replace(/-/g, " "));
    case "medications":
    case "conditions":
      return text(v?.name) ?? titleCase(field.replace(/-/g, " "));
    case "coverage":
      return text(v?.payer) ?? titleCase(field.replace(/-/g, " "));
    case "safety":
      return word(text(v?.indicator) ?? field);
    case "interactions":
      return text(v?.occurred_at) ? formatDateTime(v!.occurred_at as string) : field;
    case "tasks":
      return text(v?.kind) ? word(v!.kind as string) : field;
    case "identifiers":
      return field.startsWith("ehr-patient.")
        ? "EHR patient id"
        : titleCase(field.split(".")[0]!.replace(/-/g, " "));
    default:
      return FIELD_LABELS[field] ?? titleCase(field.replace(/[-.]/g, " "));
  }
}

/** "Allergy · Latex": a fact named with its group, for lists that mix groups. */
export function factTitle(path: string, value?: unknown): string {
  const group = groupOf(path);
  const label = factLabel(path, value);
  return group.id === "other" ? label : `${group.singular} · ${label}`;
}

const dateOnly = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeZone: "UTC" });
let languageNames: Intl.DisplayNames | null = null;

/** A calendar date (no time zone to shift it): "Sep 24, 2003". */
export function formatCalendarDate(iso: string): string {
  const date = new Date(`${iso}T00:00:00Z`);
  return Number.isNaN(date.getTime()) ? iso : dateOnly.format(date);
}

function languageName(code: string): string {
  try {
    languageNames ??= new Intl.DisplayNames(undefined, { type: "language" });
    return languageNames.of(code) ?? code;
  } catch {
    return code;
  }
}

/** One scalar in words: phones formatted, dates in the viewer's locale, languages named, enums in words. */
export function scalarText(value: unknown, field = ""): string {
  if (value === null || value === undefined) return "—";
  if (typeof value === "boolean") return value ? "Yes" : "No";
  if (typeof value === "number") return String(value);
  if (typeof value !== "string") return compactText(value);
  if (/^\+[1-9]\d{6,14}$/.test(value)) return formatPhone(value);
  if (/^\d{4}-\d{2}-\d{2}$/.test(value)) return formatCalendarDate(value);
  if (/^\d{4}-\d{2}-\d{2}T/.test(value)) return formatDateTime(value);
  if (field === "language" && /^[a-z]{2,3}(-[A-Za-z]{2,4})?$/.test(value)) return languageName(value);
  if (["gender", "channel", "contact_time", "kind", "status", "severity", "direction"].includes(field)) {
    return word(value);
  }
  return value;
}

function addressText(v: Record<string, unknown>): string {
  const cityLine = [text(v.city), [text(v.state), text(v.postal_code)].filter(Boolean).join(" ")]
    .filter(Boolean)
    .join(", ");
  return [text(v.line), cityLine, v.country && v.country !== "US" ? String(v.country) : null]
    .filter(Boolean)
    .join(", ");
}

/** Any object as "key: value · key: value", for shapes this module does not know. */
function compactText(value: unknown): string {
  if (Array.isArray(value)) return value.map((v) => scalarText(v)).join(", ");
  const v = record(value);
  if (!v) return String(value);
  return Object.entries(v)
    .filter(([, x]) => x !== undefined && x !== null && x !== "")
    .map(([k, x]) => `${FIELD_LABELS[k] ?? titleCase(k)}: ${scalarText(x, k)}`)
    .join(" · ");
}

/** Statuses that mean a list fact no longer applies; shown beside the value. */
export const INACTIVE_STATUSES = new Set([
  "inactive",
  "resolved",
  "stopped",
  "completed",
  "cancelled",
  "entered-in-error",
  "done",
  "remission",
  "on-hold",
]);

/** The status of a list fact (allergy, medication, task…) when it is not the ordinary active one. */
export function notableStatus(value: unknown): string | null {
  const v = record(value);
  if (!v) return null;
  if (v.active === false) return "Inactive";
  const status = text(v.status);
  return status && INACTIVE_STATUSES.has(status) ? word(status) : null;
}

/** The parts of a list fact's details, in reading order; empty when the fact says no more than its name. */
function detailParts(groupId: string, v: Record<string, unknown>): string[] {
  const parts: (string | null | undefined | false)[] = (() => {
    switch (groupId) {
      case "allergies":
        return [text(v.reaction), text(v.severity) && word(v.severity as string)];
      case "medications":
        return [text(v.dose), text(v.frequency)];
      case "conditions":
        return [word(text(v.status) ?? "active"), text(v.code) && `Code ${v.code}`];
      case "coverage":
        return [
          text(v.member_id) && `Member ${v.member_id}`,
          text(v.group_number) && `Group ${v.group_number}`,
        ];
      case "safety":
        return [text(v.note), v.active === false ? "Inactive" : "Active"];
      case "interactions":
        return [
          [text(v.channel) && word(v.channel as string), text(v.direction)].filter(Boolean).join(", "),
          text(v.summary),
          Array.isArray(v.topics) && v.topics.length > 0 && v.topics.map((t) => word(String(t))).join(", "),
        ];
      case "tasks":
        return [
          text(v.due_at) && `Due ${formatDateTime(v.due_at as string)}`,
          text(v.note),
          text(v.status) && word(v.status as string),
        ];
      default:
        return [];
    }
  })();
  return parts.filter((p): p is string => typeof p === "string" && p !== "");
}

const LIST_GROUPS = new Set([
  "allergies",
  "medications",
  "conditions",
  "coverage",
  "safety",
  "interactions",
  "tasks",
]);

/** What is still unknown about a list fact that names nothing else: "Reaction not recorded". */
const UNSAID: Record<string, string> = {
  allergies: "Reaction not recorded",
  medications: "Dose not recorded",
};

/** The details of a fact beside its label: "hives · Severe", "500 mg · twice daily", "Member AET1 · Group G2". */
export function factDetail(path: string, value: unknown): string {
  const group = groupOf(path);
  const v = record(value);
  const field = fieldOf(path);
  if (!v) return scalarText(value, field);
  if (LIST_GROUPS.has(group.id)) return detailParts(group.id, v).join(" · ") || UNSAID[group.id] || "—";
  if (field === "address" || ("line" in v && "city" in v)) return addressText(v);
  return compactText(v);
}

/** One line for a value anywhere (queue rows, verdicts): "Latex — rash · Severe", "SMS", "Sep 24, 2003". */
export function describeValue(path: string | null, value: unknown): string {
  if (!path) return compactText(value);
  const v = record(value);
  const group = groupOf(path);
  if (v && LIST_GROUPS.has(group.id) && group.id !== "interactions" && group.id !== "tasks") {
    const parts = detailParts(group.id, v);
    return parts.length > 0 ? `${factLabel(path, value)} — ${parts.join(" · ")}` : factLabel(path, value);
  }
  if (v && group.id === "tasks") return `${factLabel(path, value)} — ${factDetail(path, value)}`;
  return factDetail(path, value);
}
