/**
 * Scheduling for the agent: free slots, holds, bookings, reschedules and cancellations in the clinic's
 * EHR (the workspace's writeback sink, `writebackSink` in sources.ts), over plain FHIR R4 REST: Slots
 * are searched, an Appointment that references a Slot holds it (`pending`) or books it (`booked`), and
 * the EHR marks the Slot busy or frees it. The EHR is the judge of conflicts, so of two bookings of one
 * slot exactly one wins, and the other is answered with the next free slots, never a double booking.
 *
 * The module's API (inputs as in shared/schemas/scheduling.ts; every function throws `ApiError`:
 * `conflict` when no scheduling source is configured, `upstream_error` when the EHR fails or does not
 * answer, `not_found` for an unknown slot, appointment or patient):
 *
 *   findSlots(env, workspaceId, SlotSearch) → FreeSlot[]
 *     SlotSearch = { practitioner_id?, location_id?, visit_type?, start_after (ISO), end_before?,
 *                    preferences?: { days_of_week?: number[] (ISO, 1 = Monday); time_of_day?:
 *                    "morning" | "afternoon" | "evening" | "any" }, limit (default 5, at most 50) }
 *     FreeSlot   = { slot_id, start, end, practitioner_id, practitioner_name, location_id, schedule_id }
 *   holdSlot(env, workspaceId, { slot_id, patient, visit_type?, hold_minutes = 10, idempotency_key? },
 *            context?) → BookingOutcome                                       (Appointment `pending`)
 *   bookAppointment(env, workspaceId, { hold_id | slot_id, patient, visit_type?, idempotency_key },
 *                   context?) → BookingOutcome                                (Appointment `booked`)
 *   rescheduleAppointment(env, workspaceId, { appointment_id, new_slot_id, idempotency_key }, context?)
 *     → RescheduleOutcome
 *   cancelAppointment(env, workspaceId, { appointment_id, reason }, context?) → ScheduledAppointment
 *   expireHolds(env, at) → number                                  (the cron: cancels lapsed holds)
 *
 *   BookingOutcome    = { ok: true, created, appointment: ScheduledAppointment } | SlotTaken
 *   RescheduleOutcome = { ok: true, created, appointment, previous } | SlotTaken
 *   SlotTaken         = { ok: false, reason: "slot_taken", next_options: FreeSlot[] (up to 3, same schedule) }
 *
 * `patient` is a world entity id. Its FHIR Patient is found as writeback finds it (patients.ts): the one
 * its events from this source's `source_system` name, else one its identifier facts record for that
 * system (confirmed by a read), else a Patient created from the world model (name, birth date, gender,
 * phone, email) with the identifier `https://switchboard.health/patient|<entity id>` (conditional
 * create), linked back to the entity by an `identifier.recorded` event so the connector's next poll
 * lands on the same entity.
 *
 * `context` says who acts and how D1 records a write (`SchedulingContext`); its `clientOptions` reach the
 * FHIR client. Appointments are created once per idempotency key and updated with `If-Match` (a 412
 * re-reads and tries once more): scheduling-session.ts.
 *
 * After the EHR write, D1 records it (scheduling-record.ts): a `synced` sync event per resource version
 * written, with its audit row, in one transaction (`context.record`), then its world events, so the world
 * model shows the booking at once rather than after the next poll. If D1 fails after the EHR write, the
 * request fails; its retry (same idempotency key) finds the same appointment and records what is missing.
 *
 * The modules behind this entry point:
 *
 * | module                       | owns                                                                |
 * | ---------------------------- | ------------------------------------------------------------------- |
 * | `scheduling-slots.ts`        | slot search, next options, the Schedule and capability caches       |
 * | `scheduling-appointments.ts` | hold, book, reschedule, cancel                                      |
 * | `scheduling-session.ts`      | one request's Appointment writes: draft, create once, If-Match      |
 * | `scheduling-record.ts`       | D1's record of the EHR writes (sync log, audit, world events)       |
 * | `scheduling-support.ts`      | the scheduling source, parsing, reading one Slot or Appointment     |
 * | `hold-sweep.ts`              | the cron that cancels lapsed holds                                  |
 * | `patients.ts`                | an entity's FHIR Patient (shared with writeback), created on booking |
 * | `upstream.ts`                | the EHR's failures as the API's `upstream_error`                    |
 */

export { expireHolds } from "./hold-sweep";
export { type Upcoming, upcomingAppointments } from "./patient-appointments";
export { PATIENT_SYSTEM } from "./patients";
export {
  type BookingOutcome,
  bookAppointment,
  cancelAppointment,
  holdSlot,
  type RescheduleOutcome,
  rescheduleAppointment,
} from "./scheduling-appointments";
export type { SchedulingAuditEvent, SchedulingContext } from "./scheduling-record";
export {
  clinicTimeZone,
  DEFAULT_TIME_ZONE,
  findSlots,
  type SlotTaken,
  searchSlots,
} from "./scheduling-slots";
export { APPOINTMENT_SYSTEM, appointmentView, HOLD_EXPIRES_URL } from "./scheduling-support";
