/**
 * One request's Appointment writes against the scheduling source: a new Appointment drafted from its
 * Slot's Schedule, created once per idempotency key, and moved between states with `If-Match`.
 *
 * Idempotency. Every Appointment Switchboard creates has the identifier
 * `https://switchboard.health/appointment|<sha-256 of workspace + idempotency key>` and is created with
 * `If-None-Exist` on it, so a retried request finds the first appointment instead of making another.
 * Updates send `If-Match` with the version read; a 412 (changed meanwhile) re-reads and tries once more.
 * A 409 from the EHR means the slot is held by someone else.
 */
import type { Appointment, AppointmentParticipant, Slot } from "@medplum/fhirtypes";
import { ApiError } from "../errors";
import { type FhirClient, FhirError } from "./client";
import type { FhirResource } from "./contracts";
import { bookingPatient, entityOfPatient } from "./patients";
import { type SchedulingContext, SyncRecorder } from "./scheduling-record";
import { type SlotTaken, scheduleById, slotTaken } from "./scheduling-slots";
import {
  ACTIVE,
  APPOINTMENT_SYSTEM,
  asAppointment,
  asResource,
  CANCELLATION_SYSTEM,
  cancellationCode,
  HOLD_EXPIRES_URL,
  identifierValue,
  ownedBySwitchboard,
  readAppointment,
  referenceId,
  requireSink,
  resourcesOf,
  visitTypeConcept,
  withoutCancellation,
} from "./scheduling-support";
import { connect, fhir, upstream } from "./upstream";

/** A 409 on an update: the slots it would take are held by someone else. */
class SlotConflict extends Error {}

export interface DraftInput {
  status: "pending" | "booked";
  slot: Slot;
  patientId: string;
  visitType?: string | undefined;
  holdExpiresAt?: string;
}

/** An appointment as a write left it, and whether this call created it. */
export interface Placed {
  appointment: Appointment;
  created: boolean;
}

/** A session on the workspace's scheduling source (409 when it has none). */
export async function openSession(
  env: Env,
  workspaceId: string,
  context: SchedulingContext,
): Promise<SchedulingSession> {
  const sink = await requireSink(env, workspaceId);
  const client = await connect(env, sink, context.clientOptions);
  return new SchedulingSession(new SyncRecorder(env, workspaceId, sink, context), client);
}

export class SchedulingSession {
  constructor(
    /** Where D1 records this session's writes. */
    readonly log: SyncRecorder,
    readonly client: FhirClient,
  ) {}

  /** The FHIR Patient to book a world entity with, created in the EHR when it has none (patients.ts). */
  patientFor(entityId: string): Promise<{ entityId: string; fhirId: string }> {
    return bookingPatient(this.log, this.client, entityId);
  }

  /** The world entity of a FHIR Patient, if one is known (for the sync log and the answer). */
  entityOfPatient(patientId: string | null): Promise<string | null> {
    return entityOfPatient(this.log.db, this.log.workspaceId, patientId);
  }

  /** The answer when `slot` was taken: the next free slots of its schedule. */
  slotTaken(slot: Slot): Promise<SlotTaken> {
    return slotTaken(this.client, this.log.sink, slot);
  }

  /** A new Appointment for `slot`, its practitioner and location taken from the slot's Schedule. */
  async draft(input: DraftInput): Promise<Appointment> {
    const scheduleId = referenceId(input.slot.schedule?.reference, "Schedule");
    const schedule = scheduleId ? await scheduleById(this.client, this.log.sink, scheduleId) : null;
    const participantStatus: AppointmentParticipant["status"] =
      input.status === "booked" ? "accepted" : "tentative";
    const participant: AppointmentParticipant[] = [
      { actor: { reference: `Patient/${input.patientId}` }, required: "required", status: "accepted" },
      ...(schedule?.practitionerId
        ? [
            {
              actor: {
                reference: `Practitioner/${schedule.practitionerId}`,
                ...(schedule.practitionerName ? { display: schedule.practitionerName } : {}),
              },
              required: "required" as const,
              status: participantStatus,
            },
          ]
        : []),
      ...(schedule?.locationId
        ? [
            {
              actor: { reference: `Location/${schedule.locationId}` },
              required: "required" as const,
              status: participantStatus,
            },
          ]
        : []),
    ];
    return {
      resourceType: "Appointment",
      status: input.status,
      ...(input.holdExpiresAt
        ? { extension: [{ url: HOLD_EXPIRES_URL, valueInstant: input.holdExpiresAt }] }
        : {}),
      ...(input.visitType ? { appointmentType: visitTypeConcept(input.visitType) } : {}),
      start: input.slot.start,
      end: input.slot.end,
      created: new Date().toISOString(),
      slot: [{ reference: `Slot/${input.slot.id}` }],
      participant,
    };
  }

  /**
   * Creates `draft` once per idempotency key (If-None-Exist on its identifier). Null when the slot is
   * taken (409). With `revive`, an appointment of this key that Switchboard withdrew during a failed
   * reschedule is booked again rather than answered as cancelled.
   */
  async place(draft: Appointment, key: string, options: { revive?: boolean } = {}): Promise<Placed | null> {
    const value = await identifierValue(this.log.workspaceId, key);
    const resource: Appointment = { ...draft, identifier: [{ system: APPOINTMENT_SYSTEM, value }] };
    let result: { status: number; resource: FhirResource };
    try {
      result = await this.client.create(asResource(resource), {
        ifNoneExist: `identifier=${APPOINTMENT_SYSTEM}|${value}`,
      });
    } catch (err) {
      if (err instanceof FhirError && err.status === 409) return null;
      throw upstream(err);
    }
    const appointment = asAppointment(result.resource);
    const withdrawn = (a: Appointment) => a.status === "cancelled" && cancellationCode(a) === "rolled-back";
    if (options.revive && withdrawn(appointment)) {
      const revived = await this.#updateUnlessTaken(appointment, (current) =>
        withdrawn(current)
          ? { ...withoutCancellation(current), status: draft.status, participant: draft.participant }
          : null,
      );
      return revived && { appointment: revived, created: false };
    }
    return { appointment, created: result.status === 201 };
  }

  /** The appointment made with this idempotency key, if there is one. */
  async findByKey(key: string): Promise<Placed | null> {
    const value = await identifierValue(this.log.workspaceId, key);
    const bundle = await fhir(() =>
      this.client.search("Appointment", { identifier: `${APPOINTMENT_SYSTEM}|${value}` }),
    );
    const [appointment] = resourcesOf<Appointment>(bundle, "Appointment");
    return appointment ? { appointment, created: false } : null;
  }

  /**
   * Turns a pending hold into a booking (If-Match): the booking as it stands if it already is one, null
   * if the hold lapsed or its slot went to someone else meanwhile. `changed`: whether this call booked it.
   */
  async confirmHold(
    hold: Appointment,
    visitType: string | undefined,
  ): Promise<{ appointment: Appointment; changed: boolean } | null> {
    const result = await this.#updateUnlessTaken(hold, (current) =>
      current.status !== "pending"
        ? null
        : {
            ...current,
            status: "booked",
            extension: (current.extension ?? []).filter((e) => e.url !== HOLD_EXPIRES_URL),
            ...(visitType ? { appointmentType: visitTypeConcept(visitType) } : {}),
            participant: current.participant.map((p) => ({ ...p, status: "accepted" as const })),
          },
    );
    if (!result || result.status === "cancelled") return null;
    if (result.status === "booked")
      return { appointment: result, changed: result.meta?.versionId !== hold.meta?.versionId };
    throw new ApiError("conflict", `This hold is ${result.status} and cannot be booked`, {
      status: result.status,
    });
  }

  /** The patient's pending hold of `slotId`, if one stands (so booking by slot id takes it up). */
  async pendingHoldOf(patientId: string, slotId: string): Promise<Appointment | null> {
    const bundle = await fhir(() =>
      this.client.search("Appointment", {
        slot: `Slot/${slotId}`,
        patient: `Patient/${patientId}`,
        status: "pending",
      }),
    );
    return resourcesOf<Appointment>(bundle, "Appointment").find(ownedBySwitchboard) ?? null;
  }

  /**
   * Cancels `appointment` (If-Match; on 412 re-reads and tries once more, if the newer version `still`
   * should be cancelled). Answers the appointment as it ends up: one already cancelled, or one that
   * moved on meanwhile, comes back unchanged.
   */
  cancel(
    appointment: Appointment,
    reason: { code: string; text: string },
    still: (a: Appointment) => boolean = (a) => ACTIVE.has(a.status),
  ): Promise<Appointment> {
    return this.update(appointment, (current) =>
      current.status === "cancelled" || !still(current)
        ? null
        : {
            ...current,
            status: "cancelled",
            cancelationReason: {
              coding: [{ system: CANCELLATION_SYSTEM, code: reason.code }],
              text: reason.text,
            },
          },
    );
  }

  /** Best effort: a new booking that cannot stand (its reschedule failed halfway) is cancelled again. */
  async withdraw(appointment: Appointment): Promise<void> {
    try {
      await this.cancel(appointment, {
        code: "rolled-back",
        text: "Withdrawn: the reschedule it was part of did not complete",
      });
    } catch {
      console.error(
        JSON.stringify({
          level: "error",
          event: "scheduling.withdraw_failed",
          workspaceId: this.log.workspaceId,
          appointmentId: appointment.id,
        }),
      );
    }
  }

  /**
   * PUT with If-Match; a 412 re-reads once and applies `change` to the newer version. `change` answers
   * null when there is nothing (more) to do, and the appointment comes back as it stands.
   */
  async update(
    appointment: Appointment,
    change: (current: Appointment) => Appointment | null,
  ): Promise<Appointment> {
    let current = appointment;
    for (let attempt = 1; ; attempt++) {
      const next = change(current);
      if (!next) return current;
      try {
        const result = await this.client.update(asResource(next), {
          ifMatch: current.meta?.versionId ?? "",
        });
        return asAppointment(result.resource);
      } catch (err) {
        if (err instanceof FhirError && err.status === 409) throw new SlotConflict();
        if (err instanceof FhirError && err.status === 412 && attempt === 1) {
          current = await readAppointment(this.client, current.id!, "Appointment");
          continue;
        }
        throw upstream(err);
      }
    }
  }

  /** `update`, null when the slots it would take are held by someone else. */
  async #updateUnlessTaken(
    appointment: Appointment,
    change: (current: Appointment) => Appointment | null,
  ): Promise<Appointment | null> {
    try {
      return await this.update(appointment, change);
    } catch (err) {
      if (err instanceof SlotConflict) return null;
      throw err;
    }
  }
}
