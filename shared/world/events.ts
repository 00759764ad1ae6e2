/**
 * The world model's vocabulary. Nothing writes patient state directly: every channel records an event
 * (with a source and a confidence), and an entity's state is the projection of its events. Each event
 * type has a zod schema for its `data` and a function that turns the data into facts at paths such as
 * `demographics.birth_date` or `allergies.penicillin`.
 */
import { z } from "zod";

import { APPOINTMENT_STATUSES, ENTITY_TYPES, type EntityType } from "./vocabulary";

export {
  APPOINTMENT_STATUSES,
  type AppointmentStatus,
  ENTITY_TYPES,
  type EntityType,
  SOURCES,
  type Source,
} from "./vocabulary";

export type FactValue = string | number | boolean | null | { [key: string]: FactValue } | FactValue[];

export interface Fact {
  path: string;
  value: FactValue;
}

/** `Penicillin G` → `penicillin-g`: the key of a list item in a fact path. */
export function factKey(text: string): string {
  return (
    text
      .normalize("NFKD")
      .replace(/[\u0300-\u036f]/g, "")
      .toLowerCase()
      .replace(/[^a-z0-9]+/g, "-")
      .replace(/^-|-$/g, "")
      .slice(0, 64) || "unnamed"
  );
}

const Text = z.string().trim().min(1).max(500);
const IsoDate = z.iso.date();
const IsoDateTime = z.iso.datetime({ offset: true });
const E164 = z.string().regex(/^\+[1-9]\d{6,14}$/, "E.164 phone number");

const Address = z.strictObject({
  line: Text,
  city: Text,
  state: z.string().max(50).optional(),
  postal_code: z.string().max(20).optional(),
  country: z.string().length(2).default("US"),
});

/** Keep only the keys whose value was given, as facts under `prefix`. */
function fieldsAsFacts(prefix: string, data: Record<string, unknown>): Fact[] {
  return Object.entries(data)
    .filter(([, v]) => v !== undefined)
    .map(([k, v]) => ({ path: `${prefix}.${k}`, value: v as FactValue }));
}

function definition<S extends z.ZodType, const D extends string>(
  domain: D,
  entityTypes: readonly EntityType[],
  data: S,
  facts: (data: z.infer<S>) => Fact[],
  options: { safetyCritical?: boolean } = {},
) {
  return { domain, entityTypes, data, facts, safetyCritical: options.safetyCritical ?? false };
}

export const EVENT_TYPES = {
  "demographics.recorded": definition(
    "demographics",
    ["patient", "practitioner"],
    z
      .strictObject({
        given_name: Text.optional(),
        family_name: Text.optional(),
        preferred_name: Text.optional(),
        birth_date: IsoDate.optional(),
        gender: z.enum(["female", "male", "other", "unknown"]).optional(),
        language: z.string().max(20).optional(),
      })
      .refine((d) => Object.keys(d).length > 0, "at least one field"),
    (d) => fieldsAsFacts("demographics", d),
  ),
  "contact.recorded": definition(
    "contact",
    ["patient", "practitioner", "location"],
    z
      .strictObject({
        phone: E164.optional(),
        email: z.email().max(254).optional(),
        address: Address.optional(),
      })
      .refine((d) => Object.keys(d).length > 0, "at least one field"),
    (d) => fieldsAsFacts("contact", d),
  ),
  "preference.recorded": definition(
    "preference",
    ["patient"],
    z
      .strictObject({
        channel: z.enum(["voice", "sms", "email", "whatsapp"]).optional(),
        contact_time: z.enum(["morning", "afternoon", "evening", "any"]).optional(),
        language: z.string().max(20).optional(),
        do_not_contact: z.boolean().optional(),
      })
      .refine((d) => Object.keys(d).length > 0, "at least one field"),
    (d) => fieldsAsFacts("preferences", d),
  ),
  "identifier.recorded": definition(
    "identity",
    ENTITY_TYPES,
    z.strictObject({
      system: z.string().regex(/^[a-z0-9_.-]+:[A-Za-z]+$/, "source:ResourceType"),
      value: z.string().min(1).max(200),
    }),
    // Keyed by system and value: an entity can hold several ids of one system (a merged duplicate's, say).
    (d) => [
      { path: `identifiers.${factKey(d.system)}.${factKey(d.value)}`, value: `${d.system}:${d.value}` },
    ],
  ),
  "allergy.recorded": definition(
    "allergy",
    ["patient"],
    z.strictObject({
      substance: Text,
      reaction: Text.optional(),
      severity: z.enum(["mild", "moderate", "severe"]).optional(),
      status: z.enum(["active", "inactive", "resolved", "entered-in-error"]).default("active"),
      code: z.string().max(100).optional(),
    }),
    (d) => [{ path: `allergies.${factKey(d.substance)}`, value: d as FactValue }],
    { safetyCritical: true },
  ),
  "medication.recorded": definition(
    "medication",
    ["patient"],
    z.strictObject({
      name: Text,
      dose: z.string().max(100).optional(),
      frequency: z.string().max(100).optional(),
      status: z
        .enum(["active", "completed", "stopped", "on-hold", "entered-in-error", "unknown"])
        .default("active"),
      code: z.string().max(100).optional(),
    }),
    (d) => [{ path: `medications.${factKey(d.name)}`, value: d as FactValue }],
  ),
  "condition.recorded": definition(
    "condition",
    ["patient"],
    z.strictObject({
      name: Text,
      status: z
        .enum(["active", "recurrence", "relapse", "inactive", "remission", "resolved"])
        .default("active"),
      code: z.string().max(100).optional(),
    }),
    (d) => [{ path: `conditions.${factKey(d.name)}`, value: d as FactValue }],
  ),
  "coverage.recorded": definition(
    "coverage",
    ["patient"],
    z.strictObject({
      payer: Text,
      member_id: z.string().min(1).max(64),
      group_number: z.string().max(64).optional(),
      status: z.enum(["active", "cancelled", "draft", "entered-in-error"]).default("active"),
      /** Photos of the insurance card the patient sent (R2 objects), reviewed with the coverage. */
      attachments: z
        .array(
          z.strictObject({
            upload: z.string().min(1).max(300),
            content_type: z.string().max(100),
            bytes: z.number().int().min(0),
          }),
        )
        .max(4)
        .optional(),
    }),
    (d) => [{ path: `coverage.${factKey(d.payer)}`, value: d as FactValue }],
  ),
  "safety.flagged": definition(
    "safety",
    ["patient"],
    z.strictObject({
      indicator: z.enum(["crisis", "self_harm", "adverse_reaction", "fall_risk", "abuse", "other"]),
      note: z.string().max(1000).default(""),
      active: z.boolean().default(true),
    }),
    (d) => [{ path: `safety.${d.indicator}`, value: d as FactValue }],
    { safetyCritical: true },
  ),
  "appointment.recorded": definition(
    "appointment",
    ["appointment"],
    z.strictObject({
      status: z.enum(APPOINTMENT_STATUSES),
      start: IsoDateTime,
      end: IsoDateTime.optional(),
      patient_id: z.string().max(64).optional(),
      practitioner_id: z.string().max(64).optional(),
      location_id: z.string().max(64).optional(),
      visit_type: z.string().max(100).optional(),
    }),
    (d) => fieldsAsFacts("appointment", d),
  ),
  /** A bookable time on a schedule, as the EHR has it (FHIR Slot); `schedule_id` is `Schedule/<id>`. */
  "slot.recorded": definition(
    "slot",
    ["slot"],
    z.strictObject({
      schedule_id: z.string().max(80).optional(),
      status: z.enum(["busy", "free", "busy-unavailable", "busy-tentative", "entered-in-error"]),
      start: IsoDateTime,
      end: IsoDateTime,
    }),
    (d) => fieldsAsFacts("slot", d),
  ),
  "profile.recorded": definition(
    "profile",
    ["practitioner", "location", "schedule", "slot"],
    z
      .strictObject({
        name: Text.optional(),
        specialty: z.string().max(100).optional(),
        description: z.string().max(1000).optional(),
        active: z.boolean().optional(),
      })
      .refine((d) => Object.keys(d).length > 0, "at least one field"),
    (d) => fieldsAsFacts("profile", d),
  ),
  "interaction.recorded": definition(
    "interaction",
    ["patient"],
    z.strictObject({
      interaction_id: z.string().min(1).max(64),
      channel: z.enum(["voice", "sms", "email", "whatsapp", "web", "in_person"]),
      direction: z.enum(["inbound", "outbound"]),
      occurred_at: IsoDateTime,
      summary: z.string().max(2000).default(""),
      topics: z.array(z.string().max(60)).max(20).default([]),
    }),
    (d) => [{ path: `interactions.${factKey(d.interaction_id)}`, value: d as FactValue }],
  ),
  "task.recorded": definition(
    "task",
    ["patient", "outbound_task"],
    z.strictObject({
      task_id: z.string().min(1).max(64),
      kind: z.enum(["callback", "reminder", "follow_up", "outreach"]),
      due_at: IsoDateTime,
      status: z.enum(["open", "done", "cancelled"]).default("open"),
      note: z.string().max(1000).default(""),
    }),
    (d) => [{ path: `tasks.${factKey(d.task_id)}`, value: d as FactValue }],
  ),
  // A surface's lifecycle on its patient: one fact per surface (`surfaces.<id>`), its latest state.
  "surface.created": surfaceTransition("created"),
  "surface.delivered": surfaceTransition("delivered"),
  "surface.opened": surfaceTransition("opened"),
  "surface.field_saved": surfaceTransition("partial"),
  "surface.submitted": surfaceTransition("completed"),
  "surface.expired": surfaceTransition("expired"),
  "surface.archived": surfaceTransition("archived"),
} as const;

/**
 * A surface transition's event: ids, counts and the channel only (answers are events of their own
 * types, through the verification pipeline). The fact is the surface's latest state on the patient.
 */
function surfaceTransition<const S extends string>(status: S) {
  return definition(
    "surface",
    ["patient"],
    z.strictObject({
      surface_id: z.string().min(1).max(64),
      title: z.string().max(300).optional(),
      channel: z.enum(["sms", "whatsapp", "email", "voice", "web"]).optional(),
      /** `surface.field_saved`: the field's key (never its value). */
      field_key: z.string().max(64).optional(),
      answered: z.number().int().min(0).optional(),
      required: z.number().int().min(0).optional(),
    }),
    (d) => [
      {
        path: `surfaces.${factKey(d.surface_id)}`,
        value: { status, ...d } as FactValue,
      },
    ],
  );
}

export type EventType = keyof typeof EVENT_TYPES;
export const EVENT_TYPE_NAMES = Object.keys(EVENT_TYPES) as [EventType, ...EventType[]];

/** Paths whose facts are always handed to the agent, whatever their confidence. */
export function isSafetyCritical(path: string): boolean {
  return path.startsWith("allergies.") || path.startsWith("safety.");
}

/** Validates `data` for its event type and entity type; returns the facts or the zod issues. */
export function parseEventData(
  eventType: EventType,
  entityType: EntityType,
  data: unknown,
): { ok: true; data: unknown; facts: Fact[] } | { ok: false; issues: { path: string; message: string }[] } {
  const def = EVENT_TYPES[eventType];
  if (!def.entityTypes.includes(entityType)) {
    return {
      ok: false,
      issues: [{ path: "entity_type", message: `${eventType} does not apply to ${entityType}` }],
    };
  }
  const parsed = def.data.safeParse(data);
  if (!parsed.success) {
    return {
      ok: false,
      issues: parsed.error.issues.map((i) => ({
        path: ["data", ...i.path.map(String)].join("."),
        message: i.message,
      })),
    };
  }
  return { ok: true, data: parsed.data, facts: (def.facts as (d: unknown) => Fact[])(parsed.data) };
}

/** The domain an event type belongs to (`allergy.recorded` → `allergy`). */
export function domainOf(eventType: EventType): string {
  return EVENT_TYPES[eventType].domain;
}
