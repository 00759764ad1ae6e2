/**
 * What the scheduling modules share: the scheduling source, input parsing, reads of one Slot or
 * Appointment, and the small readings of an Appointment (its slot, patient, hold expiry, who owns it) down
 * to the view the API answers with.
 */
import type { Appointment, CodeableConcept, Extension, Slot } from "@medplum/fhirtypes";
import type { z } from "zod";
import { sha256Hex } from "../../shared/encoding";
import type { ScheduledAppointment } from "../../shared/schemas/scheduling";
import { ApiError, notFound } from "../errors";
import type { FhirClient } from "./client";
import type { DataSource, FhirBundle, FhirResource } from "./contracts";
import { writebackSink } from "./sources";
import { readIfExists } from "./upstream";

export const APPOINTMENT_SYSTEM = "https://switchboard.health/appointment";
/** When a hold lapses: an extension on the pending Appointment, so the sweep needs nothing but the EHR. */
export const HOLD_EXPIRES_URL = "https://switchboard.health/fhir/StructureDefinition/hold-expires-at";
/** Why Switchboard cancelled an appointment; `rolled-back` marks one it may take up again on a retry. */
export const CANCELLATION_SYSTEM = "https://switchboard.health/appointment-cancellation";
const APPOINTMENT_REASON_SYSTEM = "http://terminology.hl7.org/CodeSystem/v2-0276";
const APPOINTMENT_REASON_CODES = new Set(["CHECKUP", "EMERGENCY", "FOLLOWUP", "ROUTINE", "WALKIN"]);
/** Statuses that occupy a slot and can still be moved or cancelled. */
export const ACTIVE = new Set(["pending", "booked"]);

/** The scheduling source: the workspace's writeback sink (`writebackSink` in sources.ts), else 409. */
export async function requireSink(env: Env, workspaceId: string): Promise<DataSource> {
  const sink = await writebackSink(env, workspaceId);
  if (!sink)
    throw new ApiError(
      "conflict",
      "No EHR scheduling source configured: enable a fhir_store data source with writeback on",
    );
  return sink;
}

/** The module's input, parsed again (the call engine calls in without the API's validation). */
export function parse<S extends z.ZodType>(schema: S, input: unknown): z.output<S> {
  const parsed = schema.safeParse(input);
  if (parsed.success) return parsed.data;
  const issues = parsed.error.issues.map((i) => ({ path: i.path.map(String).join("."), message: i.message }));
  throw new ApiError("validation_failed", `Invalid input: ${issues[0]?.message ?? "invalid"}`, { issues });
}

export async function readSlot(client: FhirClient, id: string): Promise<Slot> {
  const slot = (await readIfExists(client, "Slot", id)) as unknown as Slot | null;
  if (!slot) throw notFound("Slot");
  if (!slot.start || !slot.end) throw new ApiError("upstream_error", "The EHR's Slot has no start or end");
  return slot;
}

/** `what` names it in the 404: "Appointment", or "Hold" when the caller named a hold. */
export async function readAppointment(client: FhirClient, id: string, what: string): Promise<Appointment> {
  const resource = await readIfExists(client, "Appointment", id);
  if (!resource) throw notFound(what);
  return asAppointment(resource);
}

/** Our FHIR types are the R4 ones (@medplum/fhirtypes); the client speaks the looser `FhirResource`. */
export const asResource = (resource: Appointment) => resource as unknown as FhirResource;

export function asAppointment(resource: FhirResource): Appointment {
  const appointment = resource as unknown as Appointment;
  if (typeof appointment.status !== "string" || !Array.isArray(appointment.participant))
    throw new ApiError(
      "upstream_error",
      "The EHR answered with an Appointment that has no status or participants",
    );
  return appointment;
}

export function resourcesOf<T>(bundle: FhirBundle, type: string): T[] {
  return (bundle.entry ?? [])
    .map((e) => e.resource)
    .filter((r): r is FhirResource => r?.resourceType === type && typeof r.id === "string") as unknown as T[];
}

/** `Practitioner/pr-chen` (or an absolute URL ending so) → `pr-chen`, when it names `type`. */
export function referenceId(reference: string | undefined, type: string): string | null {
  const match = reference
    ? /(?:^|\/)([A-Z][A-Za-z]+)\/([A-Za-z0-9.-]{1,64})(?:\/_history\/[^/]+)?$/.exec(reference)
    : null;
  return match && match[1] === type ? match[2]! : null;
}

export function participantId(appointment: Appointment, type: string): string | null {
  for (const p of appointment.participant) {
    const id = referenceId(p.actor?.reference, type);
    if (id) return id;
  }
  return null;
}

export const slotOf = (appointment: Appointment) => referenceId(appointment.slot?.[0]?.reference, "Slot");

export const holdExpiry = (appointment: Appointment): string | null =>
  appointment.extension?.find((e: Extension) => e.url === HOLD_EXPIRES_URL)?.valueInstant ?? null;

export const cancellationCode = (appointment: Appointment) =>
  appointment.cancelationReason?.coding?.find((c) => c.system === CANCELLATION_SYSTEM)?.code ?? null;

export const ownedBySwitchboard = (appointment: Appointment) =>
  (appointment.identifier ?? []).some((i) => i.system === APPOINTMENT_SYSTEM);

/** An idempotency key answers for one request: reused for another slot or patient, it is refused. */
export function requireSameRequest(appointment: Appointment, slotId: string, patientId: string): void {
  if (slotOf(appointment) !== slotId || participantId(appointment, "Patient") !== patientId)
    throw new ApiError(
      "conflict",
      "This idempotency key was used for another slot or patient: use a new key",
      { appointment_id: appointment.id },
    );
}

/** Only pending and booked appointments can be booked, moved or cancelled (or: it must be `expected`). */
export function requireActive(appointment: Appointment, expected?: string): void {
  if (expected ? appointment.status === expected : ACTIVE.has(appointment.status)) return;
  throw new ApiError(
    "conflict",
    appointment.status === "cancelled"
      ? "The appointment made with this idempotency key has since been cancelled: use a new key"
      : `An appointment that is ${appointment.status} cannot be changed`,
    { appointment_id: appointment.id, status: appointment.status },
  );
}

export function withoutCancellation(appointment: Appointment): Appointment {
  const { cancelationReason: _dropped, ...rest } = appointment;
  return rest;
}

export function visitTypeConcept(visitType: string): CodeableConcept {
  const code = visitType.trim().toUpperCase();
  return {
    ...(APPOINTMENT_REASON_CODES.has(code) ? { coding: [{ system: APPOINTMENT_REASON_SYSTEM, code }] } : {}),
    text: visitType,
  };
}

export function visitTypeOf(appointment: Appointment): string | null {
  const concept = appointment.appointmentType;
  return concept?.text ?? concept?.coding?.[0]?.code ?? null;
}

/** The identifier value for a request's idempotency key: scoped to the workspace, opaque to the EHR. */
export async function identifierValue(workspaceId: string, key: string): Promise<string> {
  return (await sha256Hex(`${workspaceId}\n${key}`)).slice(0, 40);
}

export function appointmentView(
  appointment: Appointment,
  patientEntityId: string | null,
): ScheduledAppointment {
  return {
    appointment_id: appointment.id!,
    status: appointment.status,
    start: appointment.start ? new Date(appointment.start).toISOString() : null,
    end: appointment.end ? new Date(appointment.end).toISOString() : null,
    slot_id: slotOf(appointment),
    practitioner_id: participantId(appointment, "Practitioner"),
    location_id: participantId(appointment, "Location"),
    patient_id: participantId(appointment, "Patient"),
    patient_entity_id: patientEntityId,
    visit_type: visitTypeOf(appointment),
    hold_expires_at: appointment.status === "pending" ? holdExpiry(appointment) : null,
    version: appointment.meta?.versionId ?? null,
  };
}
