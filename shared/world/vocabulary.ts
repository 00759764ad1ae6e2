/**
 * The world model's entity types and sources, with no dependencies: the dashboard imports these
 * without pulling zod into its bundle. `events.ts` builds the schemas on them.
 */
export const ENTITY_TYPES = [
  "patient",
  "practitioner",
  "location",
  "appointment",
  "schedule",
  "slot",
  "coverage",
  "medication",
  "allergy",
  "condition",
  "outbound_task",
  "surface",
] as const;
export type EntityType = (typeof ENTITY_TYPES)[number];

export const SOURCES = [
  "ehr",
  "fhir_store",
  "voice",
  "sms",
  "surface",
  "operator",
  "review",
  "api",
  "system",
] as const;
export type Source = (typeof SOURCES)[number];
