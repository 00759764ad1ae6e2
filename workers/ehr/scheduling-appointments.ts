/**
 * Holding, booking, rescheduling and cancelling an appointment for a world entity, in the EHR first and
 * then in D1 (scheduling-record.ts). The EHR is the judge of conflicts, so of two bookings of one slot
 * exactly one wins, and the other is answered with the next free slots, never a double booking.
 *
 * A key reused for another slot or patient, or whose appointment has since been cancelled, is a
 * `conflict`. A hold without a key gets one per patient and slot, so a retried hold is the same hold.
 */
import type { Appointment } from "@medplum/fhirtypes";
import type { z } from "zod";
import {
  BookRequest,
  CancelRequest,
  FhirId,
  HoldRequest,
  RescheduleRequest,
  type ScheduledAppointment,
} from "../../shared/schemas/scheduling";
import { ApiError } from "../errors";
import type { SchedulingContext } from "./scheduling-record";
import { openSession, type SchedulingSession } from "./scheduling-session";
import type { SlotTaken } from "./scheduling-slots";
import {
  ACTIVE,
  appointmentView,
  cancellationCode,
  holdExpiry,
  parse,
  participantId,
  readAppointment,
  readSlot,
  requireActive,
  requireSameRequest,
  slotOf,
  visitTypeOf,
} from "./scheduling-support";

export type BookingOutcome = { ok: true; created: boolean; appointment: ScheduledAppointment } | SlotTaken;
export type RescheduleOutcome =
  | { ok: true; created: boolean; appointment: ScheduledAppointment; previous: ScheduledAppointment }
  | SlotTaken;

export async function holdSlot(
  env: Env,
  workspaceId: string,
  input: HoldRequest,
  context: SchedulingContext = {},
): Promise<BookingOutcome> {
  const h = parse(HoldRequest, input);
  const session = await openSession(env, workspaceId, context);
  const [slot, patient] = await Promise.all([
    readSlot(session.client, h.slot_id),
    session.patientFor(h.patient),
  ]);
  const expiresAt = new Date(Date.now() + h.hold_minutes * 60_000).toISOString();
  const draft = await session.draft({
    status: "pending",
    slot,
    patientId: patient.fhirId,
    visitType: h.visit_type,
    holdExpiresAt: expiresAt,
  });
  const key = h.idempotency_key ?? `hold:${h.slot_id}:${h.patient}`;
  let placed = await session.place(draft, key);
  // The default key names one hold per patient and slot; once that hold lapsed or was released, a new
  // hold of the same slot is a new appointment (an explicit key keeps its first answer instead).
  if (placed && !h.idempotency_key && placed.appointment.status === "cancelled")
    placed = await session.place(draft, `${key}:${crypto.randomUUID()}`);
  if (!placed) return session.slotTaken(slot);
  const appointment = placed.appointment;
  requireSameRequest(appointment, slot.id!, patient.fhirId);
  await session.log.record([{ resource: appointment, entityId: patient.entityId }], {
    action: "scheduling.slot_held",
    targetType: "appointment",
    targetId: appointment.id!,
    details: { slot_id: h.slot_id, status: appointment.status, hold_expires_at: holdExpiry(appointment) },
  });
  return { ok: true, created: placed.created, appointment: appointmentView(appointment, patient.entityId) };
}

export async function bookAppointment(
  env: Env,
  workspaceId: string,
  input: BookRequest,
  context: SchedulingContext = {},
): Promise<BookingOutcome> {
  const b = parse(BookRequest, input);
  const session = await openSession(env, workspaceId, context);
  // The reads that do not depend on each other go out together.
  const [patient, hold, slotGiven] = await Promise.all([
    session.patientFor(b.patient),
    b.hold_id ? readAppointment(session.client, b.hold_id, "Hold") : null,
    b.slot_id ? readSlot(session.client, b.slot_id) : null,
  ]);
  let slotId = b.slot_id;
  if (hold) {
    if (participantId(hold, "Patient") !== patient.fhirId)
      throw new ApiError("conflict", "This hold is for another patient", { hold_id: b.hold_id });
    const confirmed = await session.confirmHold(hold, b.visit_type);
    if (confirmed)
      return booked(session, confirmed.appointment, patient.entityId, confirmed.changed, {
        hold_id: b.hold_id,
      });
    // The hold lapsed (or was released): book its slot outright if it is still free.
    slotId = slotOf(hold) ?? undefined;
    if (!slotId) throw new ApiError("conflict", "This hold has lapsed and names no slot to book");
  }
  const slot = slotGiven ?? (await readSlot(session.client, slotId!));
  const draft = await session.draft({
    status: "booked",
    slot,
    patientId: patient.fhirId,
    visitType: b.visit_type,
  });
  const placed = await session.place(draft, b.idempotency_key, { revive: true });
  if (!placed) {
    // The patient's own hold on this slot is no rival: book it.
    const own = await session.pendingHoldOf(patient.fhirId, slot.id!);
    const confirmed = own ? await session.confirmHold(own, b.visit_type) : null;
    if (confirmed)
      return booked(session, confirmed.appointment, patient.entityId, confirmed.changed, {
        hold_id: own!.id,
      });
    return session.slotTaken(slot);
  }
  requireSameRequest(placed.appointment, slot.id!, patient.fhirId);
  requireActive(placed.appointment);
  return booked(session, placed.appointment, patient.entityId, placed.created);
}

async function booked(
  session: SchedulingSession,
  appointment: Appointment,
  entityId: string | null,
  created: boolean,
  details: Record<string, unknown> = {},
): Promise<BookingOutcome> {
  await session.log.record([{ resource: appointment, entityId }], {
    action: "scheduling.appointment_booked",
    targetType: "appointment",
    targetId: appointment.id!,
    details: { slot_id: slotOf(appointment), ...details },
  });
  return { ok: true, created, appointment: appointmentView(appointment, entityId) };
}

/** A request about one existing appointment: its input parsed, a session, and the appointment as read. */
async function openAppointment<S extends z.ZodType>(
  env: Env,
  workspaceId: string,
  schema: S,
  input: { appointment_id: string },
  context: SchedulingContext,
) {
  const { appointment_id, ...request } = input;
  const parsed = parse(schema, request);
  const appointmentId = parse(FhirId, appointment_id);
  const session = await openSession(env, workspaceId, context);
  const appointment = await readAppointment(session.client, appointmentId, "Appointment");
  return { request: parsed, appointmentId, session, appointment };
}

/**
 * Books the new slot first, then cancels the old appointment: the patient is never left with nothing.
 * If the EHR will not cancel the old one, the new one is withdrawn (cancelled with the `rolled-back`
 * reason, which a retry with the same key takes up again), so the patient never holds two either.
 */
export async function rescheduleAppointment(
  env: Env,
  workspaceId: string,
  input: z.input<typeof RescheduleRequest> & { appointment_id: string },
  context: SchedulingContext = {},
): Promise<RescheduleOutcome> {
  const opened = await openAppointment(env, workspaceId, RescheduleRequest, input, context);
  const { request: r, appointmentId, session, appointment: old } = opened;
  // A cancelled one may be this request's own earlier, completed attempt: the retry finds the new one.
  const retried = old.status === "cancelled" && cancellationCode(old) === "rescheduled";
  if (!ACTIVE.has(old.status) && !retried)
    throw new ApiError("conflict", `An appointment that is ${old.status} cannot be rescheduled`, {
      status: old.status,
    });
  const patientId = participantId(old, "Patient");
  if (!patientId) throw new ApiError("unprocessable", "This appointment names no patient to move");
  const slot = await readSlot(session.client, r.new_slot_id);
  if (slotOf(old) === slot.id)
    throw new ApiError("unprocessable", "The appointment is already in that slot", { slot_id: slot.id });
  const draft = await session.draft({
    status: "booked",
    slot,
    patientId,
    visitType: visitTypeOf(old) ?? undefined,
  });
  // Moved already: only this request's own retry may go on, to the replacement it made; anything else
  // would book a second appointment beside that replacement.
  const placed = retried
    ? await session.findByKey(r.idempotency_key)
    : await session.place(draft, r.idempotency_key, { revive: true });
  if (retried && !placed)
    throw new ApiError("conflict", "This appointment was already rescheduled: reschedule its replacement", {
      status: old.status,
    });
  if (!placed) return session.slotTaken(slot);
  requireSameRequest(placed.appointment, slot.id!, patientId);
  requireActive(placed.appointment);

  let released: Appointment;
  try {
    released = await session.cancel(old, { code: "rescheduled", text: "Rescheduled" });
  } catch (err) {
    await session.withdraw(placed.appointment);
    if (err instanceof ApiError && err.code !== "upstream_error") throw err;
    throw new ApiError(
      "upstream_error",
      "The EHR did not release the previous appointment, so the new booking was withdrawn: nothing changed. Retry with the same idempotency key.",
      { appointment_id: appointmentId },
    );
  }
  if (released.status !== "cancelled") {
    // It moved on meanwhile (arrived, fulfilled...): the new booking must not stand beside it.
    await session.withdraw(placed.appointment);
    throw new ApiError("conflict", `An appointment that is ${released.status} cannot be rescheduled`, {
      status: released.status,
    });
  }
  const entityId = await session.entityOfPatient(patientId);
  await session.log.record(
    [
      { resource: placed.appointment, entityId },
      { resource: released, entityId },
    ],
    {
      action: "scheduling.appointment_rescheduled",
      targetType: "appointment",
      targetId: placed.appointment.id!,
      details: { previous_appointment_id: appointmentId, slot_id: slot.id },
    },
  );
  return {
    ok: true,
    created: placed.created,
    appointment: appointmentView(placed.appointment, entityId),
    previous: appointmentView(released, entityId),
  };
}

export async function cancelAppointment(
  env: Env,
  workspaceId: string,
  input: z.input<typeof CancelRequest> & { appointment_id: string },
  context: SchedulingContext = {},
): Promise<ScheduledAppointment> {
  const opened = await openAppointment(env, workspaceId, CancelRequest, input, context);
  const { request: c, session, appointment: current } = opened;
  const entityId = await session.entityOfPatient(participantId(current, "Patient"));
  if (current.status === "cancelled") return appointmentView(current, entityId);
  requireActive(current);
  const cancelled = await session.cancel(current, { code: "requested", text: c.reason });
  requireActive(cancelled, "cancelled");
  await session.log.record([{ resource: cancelled, entityId }], {
    action: "scheduling.appointment_cancelled",
    targetType: "appointment",
    targetId: cancelled.id!,
    details: { slot_id: slotOf(cancelled) },
  });
  return appointmentView(cancelled, entityId);
}
