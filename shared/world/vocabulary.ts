/**
 * The world model's entity types, sources and appointment statuses, with no dependencies: the dashboard imports these
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

/** An appointment's status: FHIR R4's `Appointment.status` codes, as the EHR records and receives them. */
export const APPOINTMENT_STATUSES = [
  "proposed",
  "pending",
  "booked",
  "arrived",
  "fulfilled",
  "cancelled",
  "noshow",
  "checked-in",
  "waitlist",
] as const;
export type AppointmentStatus = (typeof APPOINTMENT_STATUSES)[number];
