/**
 * Scheduling through the clinic's EHR as the API accepts and shows it (`/v1/{ws}/scheduling/...`), and
 * as the call engine passes it to `workers/ehr/scheduling.ts`. Slots and appointments are named by their
 * FHIR ids in the EHR; the patient by their world entity id. Free text is limited to what a visit type
 * or a cancellation reason needs, so no markup or statement separator reaches the EHR.
 */
import { z } from "zod";
import { ResourceId, Timestamp, WorkspaceId } from "./common";

/** A FHIR logical id (R4 `id`: 1-64 of A-Z a-z 0-9 - .). */
export const FhirId = z
  .string()
  .regex(/^[A-Za-z0-9.-]{1,64}$/, "a FHIR id: 1 to 64 letters, digits, '-' and '.'");

const ShortText = (max: number) =>
  z
    .string()
    .trim()
    .min(1)
    .max(max)
    .regex(
      /^[\p{L}\p{M}\p{N} .,'&()/#:+_!?-]+$/u,
      "may contain letters, digits, spaces and . , ' & ( ) / # : + _ ! ? -",
    );

/** What kind of visit: a v2-0276 code (`ROUTINE`, `FOLLOWUP`, ...) or the clinic's own words. */
export const VisitType = ShortText(100).meta({ example: "FOLLOWUP" });

/** Chosen by the caller; the same key makes a retried request the same booking. */
export const IdempotencyKey = z
  .string()
  .regex(/^[A-Za-z0-9][A-Za-z0-9._:-]{0,199}$/, "1 to 200 letters, digits and . _ : -")
  .meta({ example: "call_7Yx2:book:1" });

const Instant = z.iso.datetime({ offset: true });

export const TIMES_OF_DAY = ["morning", "afternoon", "evening", "any"] as const;

export const SlotPreferences = z.strictObject({
  days_of_week: z
    .array(z.number().int().min(1).max(7))
    .min(1)
    .max(7)
    .optional()
    .meta({ description: "ISO weekdays in the clinic's time zone, 1 = Monday … 7 = Sunday" }),
  time_of_day: z.enum(TIMES_OF_DAY).optional().meta({
    description:
      "By the slot's start in the clinic's time zone: morning 05-12, afternoon 12-17, evening 17-22",
  }),
});
export type SlotPreferences = z.infer<typeof SlotPreferences>;

export const MAX_SLOTS = 50;

/** What `findSlots` takes. */
export const SlotSearch = z.strictObject({
  practitioner_id: FhirId.optional(),
  location_id: FhirId.optional(),
  visit_type: VisitType.optional(),
  start_after: Instant.meta({ description: "Slots starting at or after this instant (never in the past)" }),
  end_before: Instant.optional().meta({ description: "Slots ending at or before this instant" }),
  preferences: SlotPreferences.optional(),
  limit: z.number().int().min(1).max(MAX_SLOTS).default(5),
});
export type SlotSearch = z.input<typeof SlotSearch>;

/** The same, as a query string: `days_of_week=1,3,5&time_of_day=morning` (see `slotSearchOf`). */
export const SlotQuery = z.object({
  practitioner_id: FhirId.optional(),
  location_id: FhirId.optional(),
  visit_type: VisitType.optional(),
  start_after: Instant.meta({ description: "Slots starting at or after this instant (never in the past)" }),
  end_before: Instant.optional().meta({ description: "Slots ending at or before this instant" }),
  days_of_week: z
    .string()
    .regex(/^[1-7](,[1-7]){0,6}$/, "comma-separated ISO weekdays, 1 = Monday … 7 = Sunday")
    .optional()
    .meta({ example: "1,3,5" }),
  time_of_day: z.enum(TIMES_OF_DAY).optional(),
  limit: z.coerce.number().int().min(1).max(MAX_SLOTS).default(5),
});

export function slotSearchOf(query: z.infer<typeof SlotQuery>): SlotSearch {
  const { days_of_week, time_of_day, ...rest } = query;
  const days = days_of_week ? [...new Set(days_of_week.split(",").map(Number))] : undefined;
  return {
    ...rest,
    ...(days || time_of_day
      ? { preferences: { ...(days ? { days_of_week: days } : {}), ...(time_of_day ? { time_of_day } : {}) } }
      : {}),
  };
}

export const FreeSlotSchema = z
  .object({
    slot_id: z.string(),
    start: Timestamp,
    end: Timestamp,
    practitioner_id: z.string().nullable(),
    practitioner_name: z.string().nullable(),
    location_id: z.string().nullable(),
    schedule_id: z.string(),
  })
  .meta({ id: "FreeSlot" });
export type FreeSlot = z.infer<typeof FreeSlotSchema>;

export const SlotList = z
  .object({
    results: z.array(FreeSlotSchema),
    time_zone: z.string().meta({ description: "The clinic's time zone, in which preferences were read" }),
  })
  .meta({ id: "SlotList" });

export const HoldRequest = z.strictObject({
  slot_id: FhirId,
  patient: ResourceId.meta({ description: "The patient's world entity id" }),
  visit_type: VisitType.optional(),
  hold_minutes: z.number().int().min(1).max(60).default(10),
  idempotency_key: IdempotencyKey.optional().meta({
    description: "Default: one hold per patient and slot, so a retried hold is the same hold",
  }),
});
export type HoldRequest = z.input<typeof HoldRequest>;

export const BookRequest = z
  .strictObject({
    hold_id: FhirId.optional().meta({ description: "A hold's appointment_id; or give slot_id" }),
    slot_id: FhirId.optional(),
    patient: ResourceId.meta({ description: "The patient's world entity id" }),
    visit_type: VisitType.optional(),
    idempotency_key: IdempotencyKey,
  })
  .refine(
    (b) => (b.hold_id === undefined) !== (b.slot_id === undefined),
    "give exactly one of hold_id or slot_id",
  );
export type BookRequest = z.input<typeof BookRequest>;

export const RescheduleRequest = z.strictObject({
  new_slot_id: FhirId,
  idempotency_key: IdempotencyKey,
});

export const CancelRequest = z.strictObject({
  reason: ShortText(200).meta({ example: "Patient asked to cancel" }),
});

export const AppointmentParams = z.object({ workspace_id: WorkspaceId, appointment_id: FhirId });

export const ScheduledAppointmentSchema = z
  .object({
    appointment_id: z.string(),
    status: z
      .string()
      .meta({ description: "FHIR Appointment.status: pending (a hold), booked, cancelled, ..." }),
    start: Timestamp.nullable(),
    end: Timestamp.nullable(),
    slot_id: z.string().nullable(),
    practitioner_id: z.string().nullable(),
    location_id: z.string().nullable(),
    patient_id: z.string().nullable().meta({ description: "The FHIR Patient id in the EHR" }),
    patient_entity_id: z.string().nullable(),
    visit_type: z.string().nullable(),
    hold_expires_at: Timestamp.nullable(),
    version: z.string().nullable(),
  })
  .meta({ id: "ScheduledAppointment" });
export type ScheduledAppointment = z.infer<typeof ScheduledAppointmentSchema>;

export const RescheduleResult = z
  .object({ appointment: ScheduledAppointmentSchema, previous: ScheduledAppointmentSchema })
  .meta({ id: "RescheduleResult" });

/** `details` of the 409 a taken slot gets: the next free slots of the same schedule. */
export const SlotTakenDetails = z
  .object({ reason: z.literal("slot_taken"), next_options: z.array(FreeSlotSchema) })
  .meta({ id: "SlotTakenDetails" });
