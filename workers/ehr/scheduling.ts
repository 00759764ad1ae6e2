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
 * `patient` is a world entity id. Its FHIR Patient is the one its events name (`fhir_resource_type`
 * Patient from this source's `source_system`), else one its identifier facts name (confirmed by a read),
 * else a Patient created from the world model (name, birth date, gender, phone, email) with the
 * identifier `https://switchboard.health/patient|<entity id>` (conditional create), linked back to the
 * entity by an `identifier.recorded` event so the connector's next poll lands on the same entity.
 *
 * Idempotency. Every Appointment Switchboard creates has the identifier
 * `https://switchboard.health/appointment|<sha-256 of workspace + idempotency key>` and is created with
 * `If-None-Exist` on it, so a retried request finds the first appointment instead of making another.
 * Updates send `If-Match` with the version read; a 412 (changed meanwhile) re-reads and tries once more.
 * After the EHR write, D1 records it: one `sync_events` row per resource version written (status
 * `synced`) with its audit row, in one transaction (`context.record`), then the resource's world events
 * (source `ehr`, confidence 1.0, through mapping.ts) via `ingestEvents`, so the world model shows the
 * booking at once rather than after the next poll. If D1 fails after the EHR write, the request fails;
 * its retry (same idempotency key) finds the same appointment and records what is missing. A key
 * reused for another slot or patient, or whose appointment has since been cancelled, is a `conflict`.
 * A hold without a key gets one per patient and slot, so a retried hold is the same hold.
 *
 * Holds carry their expiry in the extension `HOLD_EXPIRES_URL`; `expireHolds` (every five minutes)
 * cancels the lapsed ones among the appointments the workspace's sync log shows it wrote in the last day.
 *
 * Preferences are read in the clinic's time zone: the workspace's `timezone` unless it is the default
 * `UTC` (which a clinic that never set one has), else the source's business-hours time zone, else
 * America/New_York. Visit types are matched against a Slot's `appointmentType` and `serviceType` (codes
 * or text, case-insensitive); a Slot that names neither accepts any visit type.
 *
 * `Appointment/$find` (IHE ITI-115, Argonaut) answers with proposed Appointments to `$hold`/`$book`
 * rather than Slots, a different booking flow: the server's CapabilityStatement is read once per source
 * and a server offering `$find` but no Slot search is refused with `not_implemented` instead of being
 * half-supported.
 */
import type {
  Appointment,
  AppointmentParticipant,
  CapabilityStatement,
  CapabilityStatementRestResourceOperation,
  CodeableConcept,
  Extension,
  Patient,
  Schedule,
  Slot,
} from "@medplum/fhirtypes";
import { and, desc, eq, gte, inArray, isNotNull, sql } from "drizzle-orm";
import type { z } from "zod";
import { sha256Hex } from "../../shared/encoding";
import { newId } from "../../shared/ids";
import {
  BookRequest,
  CancelRequest,
  FhirId,
  type FreeSlot,
  HoldRequest,
  RescheduleRequest,
  type ScheduledAppointment,
  SlotSearch,
} from "../../shared/schemas/scheduling";
import type { IngestEvent } from "../../shared/schemas/world";
import { bucketOf } from "../../shared/world/memory";
import { type AuditEntry, appendAudit } from "../db/audit";
import { type Db, database, type Statement } from "../db/client";
import { syncEvents, workspaces, worldEntities, worldEvents } from "../db/schema";
import { findEntity } from "../db/world";
import { ApiError, notFound } from "../errors";
import { type IngestActor, ingestEvents } from "../world/ingest";
import { entityState } from "../world/state";
import { type FhirClient, FhirError, fhirClient } from "./client";
import type { DataSource, FhirBundle, FhirResource } from "./contracts";
import { resourceToEvents } from "./mapping";
import { listEnabledSources, writebackSink } from "./sources";

export const APPOINTMENT_SYSTEM = "https://switchboard.health/appointment";
export const PATIENT_SYSTEM = "https://switchboard.health/patient";
/** When a hold lapses: an extension on the pending Appointment, so the sweep needs nothing but the EHR. */
export const HOLD_EXPIRES_URL = "https://switchboard.health/fhir/StructureDefinition/hold-expires-at";
/** Why Switchboard cancelled an appointment; `rolled-back` marks one it may take up again on a retry. */
const CANCELLATION_SYSTEM = "https://switchboard.health/appointment-cancellation";
const APPOINTMENT_REASON_SYSTEM = "http://terminology.hl7.org/CodeSystem/v2-0276";
const APPOINTMENT_REASON_CODES = new Set(["CHECKUP", "EMERGENCY", "FOLLOWUP", "ROUTINE", "WALKIN"]);
export const DEFAULT_TIME_ZONE = "America/New_York";

/** Statuses that occupy a slot and can still be moved or cancelled. */
const ACTIVE = new Set(["pending", "booked"]);
const NEXT_OPTIONS = 3;
/** Slot searches page by this many when preferences or a visit type filter the answers locally. */
const FILTERED_PAGE_SIZE = 100;
const MAX_PAGES = 5;
const SCHEDULE_TTL_MS = 5 * 60_000;
const CAPABILITY_TTL_MS = 60 * 60_000;
const SWEEP_BATCH = 50;
const SWEEP_LOOKBACK_MS = 24 * 60 * 60_000;
const SWEEP_MAX_CANDIDATES = 1000;
const SWEEP_CONCURRENCY = 4;

export interface SlotTaken {
  ok: false;
  reason: "slot_taken";
  next_options: FreeSlot[];
}
export type BookingOutcome = { ok: true; created: boolean; appointment: ScheduledAppointment } | SlotTaken;
export type RescheduleOutcome =
  | { ok: true; created: boolean; appointment: ScheduledAppointment; previous: ScheduledAppointment }
  | SlotTaken;

export interface SchedulingAuditEvent {
  action: string;
  targetType: string;
  targetId: string;
  details?: Record<string, unknown>;
}

/**
 * Who acts, and how D1 records a write. The API passes `record: (event, statements) => audited(c, ...)`
 * and its request id; the call engine may pass nothing, and the write is audited as the system's.
 */
export interface SchedulingContext {
  actor?: IngestActor;
  record?: (event: SchedulingAuditEvent, statements: Statement[]) => Promise<unknown>;
}

// ---- finding slots --------------------------------------------------------------------------------------

export async function findSlots(env: Env, workspaceId: string, query: SlotSearch): Promise<FreeSlot[]> {
  return (await searchSlots(env, workspaceId, query)).slots;
}

/** `findSlots`, with the clinic time zone the preferences were read in (the API shows it). */
export async function searchSlots(
  env: Env,
  workspaceId: string,
  query: SlotSearch,
): Promise<{ slots: FreeSlot[]; timeZone: string }> {
  const q = parse(SlotSearch, query);
  const sink = await requireSink(env, workspaceId);
  const client = await connect(env, sink);
  await requireSlotSearch(client, sink);
  const [schedules, timeZone] = await Promise.all([
    schedulesFor(client, sink, q),
    clinicTimeZone(env, workspaceId, sink),
  ]);
  const from = new Date(Math.max(Date.parse(q.start_after), Date.now())).toISOString();
  const until = q.end_before ? new Date(q.end_before).toISOString() : undefined;
  if (schedules.length === 0 || (until && until <= from)) return { slots: [], timeZone };

  const wanted = slotFilter(q.preferences ?? {}, q.visit_type, timeZone, until);
  const filtered = Boolean(q.visit_type || q.preferences?.days_of_week || q.preferences?.time_of_day);
  const byId = new Map(schedules.map((s) => [s.id, s]));
  const found: FreeSlot[] = [];
  let bundle: FhirBundle | null = await fhir(() =>
    client.search("Slot", {
      schedule: schedules.map((s) => `Schedule/${s.id}`).join(","),
      status: "free",
      start: [`ge${from}`, ...(until ? [`lt${until}`] : [])],
      _sort: "start",
      _count: String(filtered ? FILTERED_PAGE_SIZE : q.limit),
    }),
  );
  for (let page = 1; bundle && found.length < q.limit; page++) {
    for (const slot of resourcesOf<Slot>(bundle, "Slot")) {
      const schedule = byId.get(referenceId(slot.schedule?.reference, "Schedule") ?? "");
      if (!schedule || slot.status !== "free" || !wanted(slot)) continue;
      found.push(freeSlot(slot, schedule));
      if (found.length === q.limit) break;
    }
    const next: string | undefined = bundle.link?.find((l) => l.relation === "next")?.url;
    bundle = next && page < MAX_PAGES ? await fhir(() => client.page(next)) : null;
  }
  return { slots: found, timeZone };
}

/** The clinic's time zone, in which slot preferences are read (see the module header). */
export async function clinicTimeZone(
  env: Env,
  workspaceId: string,
  source: DataSource | null,
): Promise<string> {
  const [row] = await database(env.DB)
    .select({ timezone: workspaces.timezone })
    .from(workspaces)
    .where(eq(workspaces.id, workspaceId));
  for (const zone of [row?.timezone === "UTC" ? undefined : row?.timezone, source?.businessHours?.timezone]) {
    if (zone && isTimeZone(zone)) return zone;
  }
  return DEFAULT_TIME_ZONE;
}

function slotFilter(
  preferences: NonNullable<z.output<typeof SlotSearch>["preferences"]>,
  visitType: string | undefined,
  timeZone: string,
  until: string | undefined,
): (slot: Slot) => boolean {
  const days = preferences.days_of_week ? new Set(preferences.days_of_week) : null;
  const timeOfDay =
    preferences.time_of_day && preferences.time_of_day !== "any" ? preferences.time_of_day : null;
  const format = new Intl.DateTimeFormat("en-US", {
    timeZone,
    weekday: "short",
    hour: "numeric",
    hourCycle: "h23",
  });
  return (slot) => {
    if (!slot.start || !slot.end) return false;
    if (until && new Date(slot.end).toISOString() > until) return false;
    if (visitType && !acceptsVisitType(slot, visitType)) return false;
    if (!days && !timeOfDay) return true;
    const parts = format.formatToParts(new Date(slot.start));
    const weekday = ISO_WEEKDAYS[parts.find((p) => p.type === "weekday")?.value ?? ""] ?? 0;
    const hour = Number(parts.find((p) => p.type === "hour")?.value) % 24;
    return (!days || days.has(weekday)) && (!timeOfDay || bucketOf(hour) === timeOfDay);
  };
}

const ISO_WEEKDAYS: Record<string, number> = { Mon: 1, Tue: 2, Wed: 3, Thu: 4, Fri: 5, Sat: 6, Sun: 7 };

function acceptsVisitType(slot: Slot, visitType: string): boolean {
  const concepts = [...(slot.appointmentType ? [slot.appointmentType] : []), ...(slot.serviceType ?? [])];
  if (concepts.length === 0) return true;
  const wanted = visitType.trim().toLowerCase();
  return concepts.some(
    (c) =>
      c.text?.trim().toLowerCase() === wanted ||
      (c.coding ?? []).some(
        (coding) => coding.code?.toLowerCase() === wanted || coding.display?.trim().toLowerCase() === wanted,
      ),
  );
}

function isTimeZone(zone: string): boolean {
  try {
    new Intl.DateTimeFormat("en-US", { timeZone: zone });
    return true;
  } catch {
    return false;
  }
}

// ---- holding and booking --------------------------------------------------------------------------------

export async function holdSlot(
  env: Env,
  workspaceId: string,
  input: HoldRequest,
  context: SchedulingContext = {},
): Promise<BookingOutcome> {
  const h = parse(HoldRequest, input);
  const session = await open(env, workspaceId, context);
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
  await session.recordWrites([{ resource: appointment, entityId: patient.entityId }], {
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
  const session = await open(env, workspaceId, context);
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
      return session.booked(
        confirmed.appointment,
        patient.entityId,
        { hold_id: b.hold_id },
        confirmed.changed,
      );
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
      return session.booked(confirmed.appointment, patient.entityId, { hold_id: own!.id }, confirmed.changed);
    return session.slotTaken(slot);
  }
  requireSameRequest(placed.appointment, slot.id!, patient.fhirId);
  requireActive(placed.appointment);
  return session.booked(placed.appointment, patient.entityId, {}, placed.created);
}

// ---- rescheduling and cancelling ------------------------------------------------------------------------

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
  const { appointment_id, ...request } = input;
  const r = parse(RescheduleRequest, request);
  const appointmentId = parse(FhirId, appointment_id);
  const session = await open(env, workspaceId, context);
  const old = await readAppointment(session.client, appointmentId, "Appointment");
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
  await session.recordWrites(
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
  const { appointment_id, ...request } = input;
  const c = parse(CancelRequest, request);
  const appointmentId = parse(FhirId, appointment_id);
  const session = await open(env, workspaceId, context);
  const current = await readAppointment(session.client, appointmentId, "Appointment");
  const entityId = await session.entityOfPatient(participantId(current, "Patient"));
  if (current.status === "cancelled") return appointmentView(current, entityId);
  requireActive(current);
  const cancelled = await session.cancel(current, { code: "requested", text: c.reason });
  requireActive(cancelled, "cancelled");
  await session.recordWrites([{ resource: cancelled, entityId }], {
    action: "scheduling.appointment_cancelled",
    targetType: "appointment",
    targetId: cancelled.id!,
    details: { slot_id: slotOf(cancelled) },
  });
  return appointmentView(cancelled, entityId);
}

// ---- the hold sweep (cron) ------------------------------------------------------------------------------

/**
 * Cancels the lapsed holds of every workspace with a scheduling source; the EHR frees their slots. The
 * candidates are the appointments the workspace's own sync log shows Switchboard wrote lately (a hold
 * lives at most an hour; a day covers an EHR that was down meanwhile), asked for by `_id` and
 * `status=pending`: a workspace with no recent scheduling costs no EHR call, and one never touches
 * another's appointments on a shared EHR. A hold booked meanwhile is left alone (If-Match). One
 * workspace's EHR failing does not stop the others. Returns how many holds were released.
 */
export async function expireHolds(env: Env, at: Date): Promise<number> {
  const sinks = new Map<string, DataSource>();
  for (const source of await listEnabledSources(env, "fhir_store"))
    if (source.writeback && !sinks.has(source.workspaceId)) sinks.set(source.workspaceId, source);
  const db = database(env.DB);
  const since = new Date(at.getTime() - SWEEP_LOOKBACK_MS).toISOString();
  let released = 0;
  const queue = [...sinks.values()];
  const sweep = async (sink: DataSource) => {
    const recent = await db
      .selectDistinct({ id: syncEvents.fhirResourceId })
      .from(syncEvents)
      .where(
        and(
          eq(syncEvents.workspaceId, sink.workspaceId),
          eq(syncEvents.status, "synced"),
          gte(syncEvents.createdAt, since),
          eq(syncEvents.kind, "appointment"),
          isNotNull(syncEvents.fhirResourceId),
        ),
      )
      .limit(SWEEP_MAX_CANDIDATES);
    const ids = recent.map((r) => r.id!).filter((id) => /^[A-Za-z0-9.-]{1,64}$/.test(id));
    if (ids.length === 0) return;
    const session = new Session(env, sink.workspaceId, sink, await connect(env, sink), {});
    for (let i = 0; i < ids.length; i += SWEEP_BATCH) {
      const bundle = await fhir(() =>
        session.client.search("Appointment", {
          _id: ids.slice(i, i + SWEEP_BATCH).join(","),
          status: "pending",
          _count: String(SWEEP_BATCH),
        }),
      );
      for (const hold of resourcesOf<Appointment>(bundle, "Appointment")) {
        const expiry = holdExpiry(hold);
        if (!expiry || Date.parse(expiry) > at.getTime() || !ownedBySwitchboard(hold)) continue;
        const cancelled = await session.cancel(
          hold,
          { code: "hold-expired", text: "Hold expired" },
          (a) => a.status === "pending",
        );
        if (cancelled.status !== "cancelled") continue;
        const entityId = await session.entityOfPatient(participantId(cancelled, "Patient"));
        await session.recordWrites([{ resource: cancelled, entityId }], {
          action: "scheduling.hold_expired",
          targetType: "appointment",
          targetId: cancelled.id!,
          details: { slot_id: slotOf(cancelled) },
        });
        released++;
      }
    }
  };
  // A few workspaces at a time: a cron invocation has a budget of subrequests and connections.
  const workers = Array.from({ length: Math.min(SWEEP_CONCURRENCY, queue.length) }, async () => {
    for (let sink = queue.shift(); sink; sink = queue.shift()) {
      try {
        await sweep(sink);
      } catch (err) {
        console.error(
          JSON.stringify({
            level: "error",
            event: "scheduling.hold_sweep_failed",
            workspaceId: sink.workspaceId,
            error: err instanceof ApiError ? err.message : err instanceof Error ? err.name : "Error",
          }),
        );
      }
    }
  });
  await Promise.all(workers);
  return released;
}

// ---- one request's work against the EHR ----------------------------------------------------------------

async function open(env: Env, workspaceId: string, context: SchedulingContext): Promise<Session> {
  const sink = await requireSink(env, workspaceId);
  return new Session(env, workspaceId, sink, await connect(env, sink), context);
}

interface DraftInput {
  status: "pending" | "booked";
  slot: Slot;
  patientId: string;
  visitType?: string | undefined;
  holdExpiresAt?: string;
}

class Session {
  readonly db: Db;

  constructor(
    readonly env: Env,
    readonly workspaceId: string,
    readonly sink: DataSource,
    readonly client: FhirClient,
    readonly context: SchedulingContext,
  ) {
    this.db = database(env.DB);
  }

  /** A new Appointment for `slot`, its practitioner and location taken from the slot's Schedule. */
  async draft(input: DraftInput): Promise<Appointment> {
    const scheduleId = referenceId(input.slot.schedule?.reference, "Schedule");
    const schedule = scheduleId ? await scheduleById(this.client, this.sink, scheduleId) : null;
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
  async place(
    draft: Appointment,
    key: string,
    options: { revive?: boolean } = {},
  ): Promise<{ appointment: Appointment; created: boolean } | null> {
    const value = await identifierValue(this.workspaceId, key);
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
    if (
      options.revive &&
      appointment.status === "cancelled" &&
      cancellationCode(appointment) === "rolled-back"
    ) {
      try {
        const revived = await this.update(appointment, (current) =>
          current.status === "cancelled" && cancellationCode(current) === "rolled-back"
            ? { ...withoutCancellation(current), status: draft.status, participant: draft.participant }
            : null,
        );
        return { appointment: revived, created: false };
      } catch (err) {
        if (err instanceof SlotConflict) return null;
        throw err;
      }
    }
    return { appointment, created: result.status === 201 };
  }

  /** The appointment made with this idempotency key, if there is one. */
  async findByKey(key: string): Promise<{ appointment: Appointment; created: boolean } | null> {
    const value = await identifierValue(this.workspaceId, key);
    const bundle = await fhir(() =>
      this.client.search("Appointment", { identifier: `${APPOINTMENT_SYSTEM}|${value}` }),
    );
    const [appointment] = resourcesOf<Appointment>(bundle, "Appointment");
    return appointment ? { appointment, created: false } : null;
  }

  /**
   * Turns a pending hold into a booking (If-Match): the booking as it stands if it already is one, null
   * if the hold lapsed or its slot went to someone else meanwhile.
   */
  async confirmHold(
    hold: Appointment,
    visitType: string | undefined,
  ): Promise<{ appointment: Appointment; changed: boolean } | null> {
    let result: Appointment;
    try {
      result = await this.update(hold, (current) =>
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
    } catch (err) {
      if (err instanceof SlotConflict) return null;
      throw err;
    }
    if (result.status === "booked")
      return { appointment: result, changed: result.meta?.versionId !== hold.meta?.versionId };
    if (result.status === "cancelled") return null;
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
          workspaceId: this.workspaceId,
          appointmentId: appointment.id,
        }),
      );
    }
  }

  /** PUT with If-Match; a 412 re-reads once and applies `change` to the newer version. */
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

  async booked(
    appointment: Appointment,
    entityId: string | null,
    details: Record<string, unknown>,
    created: boolean,
  ): Promise<BookingOutcome> {
    await this.recordWrites([{ resource: appointment, entityId }], {
      action: "scheduling.appointment_booked",
      targetType: "appointment",
      targetId: appointment.id!,
      details: { slot_id: slotOf(appointment), ...details },
    });
    return { ok: true, created, appointment: appointmentView(appointment, entityId) };
  }

  async slotTaken(slot: Slot): Promise<SlotTaken> {
    const scheduleId = referenceId(slot.schedule?.reference, "Schedule");
    const schedule = scheduleId ? await scheduleById(this.client, this.sink, scheduleId) : null;
    if (!schedule || !slot.start) return { ok: false, reason: "slot_taken", next_options: [] };
    const bundle = await fhir(() =>
      this.client.search("Slot", {
        schedule: `Schedule/${schedule.id}`,
        status: "free",
        start: `gt${new Date(slot.start!).toISOString()}`,
        _sort: "start",
        _count: String(NEXT_OPTIONS),
      }),
    );
    const next = resourcesOf<Slot>(bundle, "Slot")
      .filter((s) => s.status === "free" && s.id !== slot.id)
      .slice(0, NEXT_OPTIONS)
      .map((s) => freeSlot(s, schedule));
    return { ok: false, reason: "slot_taken", next_options: next };
  }

  /**
   * D1's record of resource versions written to the EHR: a `sync_events` row each, with the audit row,
   * in one transaction; versions recorded before (a retried request) are skipped. Then their world events.
   */
  async recordWrites(
    writes: { resource: FhirResource | Appointment | Patient; entityId: string | null }[],
    event: SchedulingAuditEvent,
    options: { ingest?: boolean } = {},
  ): Promise<void> {
    const at = new Date().toISOString();
    const rows = writes.map(({ resource, entityId }) => ({
      id: newId("syn"),
      workspaceId: this.workspaceId,
      dataSourceId: this.sink.id,
      kind: resource.resourceType === "Appointment" ? "appointment" : "patient",
      entityId,
      sourceSystem: this.sink.sourceSystem,
      fhirResourceType: resource.resourceType,
      fhirResourceId: resource.id ?? null,
      status: "synced" as const,
      attempts: 1,
      idempotencyKey: `scheduling:${resource.resourceType}/${resource.id}/_history/${resource.meta?.versionId ?? "0"}`,
      createdAt: at,
      updatedAt: at,
      syncedAt: at,
    }));
    const recorded = new Set(
      (
        await this.db
          .select({ key: syncEvents.idempotencyKey })
          .from(syncEvents)
          .where(
            and(
              eq(syncEvents.workspaceId, this.workspaceId),
              inArray(
                syncEvents.idempotencyKey,
                rows.map((r) => r.idempotencyKey),
              ),
            ),
          )
      ).map((r) => r.key),
    );
    const fresh = rows.filter((r) => !recorded.has(r.idempotencyKey));
    if (fresh.length > 0) {
      const statements = fresh.map((row) => this.db.insert(syncEvents).values(row).onConflictDoNothing());
      const record =
        this.context.record ??
        ((e: SchedulingAuditEvent, s: Statement[]) =>
          appendAudit(this.db, { workspaceId: this.workspaceId, ...this.systemActor(), ...e }, s));
      await record(event, statements);
    }
    if (options.ingest !== false) await this.ingest(writes.map((w) => asResource(w.resource)));
  }

  /** The EHR's answer as world events (mapping.ts), so the world model shows it before the next poll. */
  async ingest(resources: FhirResource[]): Promise<void> {
    const events: IngestEvent[] = [];
    for (const resource of resources) {
      const mapped = resourceToEvents(resource as FhirResource, this.sink);
      if (mapped.ok) events.push(...mapped.events);
    }
    if (events.length === 0) return;
    try {
      await ingestEvents(this.env, this.workspaceId, events, this.systemActor());
    } catch (err) {
      // The EHR holds the booking and the sync log records it; the next poll brings the world event.
      console.warn(
        JSON.stringify({
          level: "warn",
          event: "scheduling.world_ingest_failed",
          workspaceId: this.workspaceId,
          error: err instanceof ApiError ? err.code : err instanceof Error ? err.name : "Error",
        }),
      );
    }
  }

  /** World events that follow from the EHR's answer are the system's, on the request that caused them. */
  systemActor(): Pick<AuditEntry, "actorType" | "actorId" | "requestId"> {
    return { actorType: "system", actorId: null, requestId: this.context.actor?.requestId ?? null };
  }

  /** The entity whose events name this FHIR Patient, if any (for the sync log and the answer). */
  async entityOfPatient(patientId: string | null): Promise<string | null> {
    if (!patientId) return null;
    const [row] = await this.db
      .select({ entityId: worldEvents.entityId, mergedInto: worldEntities.mergedInto })
      .from(worldEvents)
      .innerJoin(
        worldEntities,
        and(
          eq(worldEntities.workspaceId, worldEvents.workspaceId),
          eq(worldEntities.id, worldEvents.entityId),
        ),
      )
      .where(
        and(
          eq(worldEvents.workspaceId, this.workspaceId),
          eq(worldEvents.fhirResourceType, "Patient"),
          eq(worldEvents.fhirResourceId, patientId),
        ),
      )
      .orderBy(desc(worldEvents.ingestedAt))
      .limit(1);
    return row ? (row.mergedInto ?? row.entityId) : null;
  }

  /** The FHIR Patient of a world entity (see the module header), created in the EHR when it has none. */
  async patientFor(entityId: string): Promise<{ entityId: string; fhirId: string }> {
    const found = await findEntity(this.db, this.workspaceId, entityId);
    const entity = found?.mergedInto ? await findEntity(this.db, this.workspaceId, found.mergedInto) : found;
    if (!entity) throw notFound("Patient");
    if (entity.entityType !== "patient")
      throw new ApiError("unprocessable", "patient must name a patient entity", {
        entity_type: entity.entityType,
      });

    const named = await this.db
      .selectDistinct({ fhirId: worldEvents.fhirResourceId, sourceSystem: worldEvents.sourceSystem })
      .from(worldEvents)
      .where(
        and(
          eq(worldEvents.workspaceId, this.workspaceId),
          sql`${worldEvents.entityId} IN (SELECT ${entity.id} UNION ALL SELECT id FROM ${worldEntities} WHERE ${worldEntities.workspaceId} = ${this.workspaceId} AND ${worldEntities.mergedInto} = ${entity.id})`,
          eq(worldEvents.fhirResourceType, "Patient"),
          isNotNull(worldEvents.fhirResourceId),
        ),
      )
      .limit(20);
    const trusted = named.find((n) => n.sourceSystem === this.sink.sourceSystem && n.fhirId);
    if (trusted?.fhirId) return { entityId: entity.id, fhirId: trusted.fhirId };

    // Ids from other systems' events or from identifier facts: used only once the EHR confirms them.
    const state = await entityState(this.env, this.workspaceId, { id: entity.id, entityType: "patient" });
    const fromFacts = Object.entries(state.facts)
      .filter(([path]) => path.startsWith("identifiers."))
      .map(([, fact]) =>
        typeof fact.value === "string"
          ? /^[a-z0-9_.-]+:Patient:([A-Za-z0-9.-]{1,64})$/.exec(fact.value)?.[1]
          : undefined,
      );
    const candidates = [
      ...new Set([...named.map((n) => n.fhirId), ...fromFacts].filter((id): id is string => Boolean(id))),
    ];
    for (const id of candidates) {
      try {
        await this.client.read("Patient", id);
        return { entityId: entity.id, fhirId: id };
      } catch (err) {
        if (err instanceof FhirError && (err.status === 404 || err.status === 410)) continue;
        throw upstream(err);
      }
    }
    return { entityId: entity.id, fhirId: await this.createPatient(entity.id, state.facts) };
  }

  async createPatient(entityId: string, facts: Record<string, { value: unknown }>): Promise<string> {
    const text = (path: string) =>
      typeof facts[path]?.value === "string" ? (facts[path]!.value as string) : undefined;
    const given = text("demographics.given_name");
    const family = text("demographics.family_name");
    const phone = text("contact.phone");
    const email = text("contact.email");
    const gender = text("demographics.gender") as Patient["gender"];
    const patient: Patient = {
      resourceType: "Patient",
      identifier: [{ system: PATIENT_SYSTEM, value: entityId }],
      ...(given || family
        ? { name: [{ use: "official", ...(family ? { family } : {}), ...(given ? { given: [given] } : {}) }] }
        : {}),
      ...(text("demographics.birth_date") ? { birthDate: text("demographics.birth_date") } : {}),
      ...(gender ? { gender } : {}),
      ...(phone || email
        ? {
            telecom: [
              ...(phone ? [{ system: "phone" as const, value: phone, use: "mobile" as const }] : []),
              ...(email ? [{ system: "email" as const, value: email }] : []),
            ],
          }
        : {}),
    };
    let created: FhirResource;
    try {
      created = (
        await this.client.create(asResource(patient), {
          ifNoneExist: `identifier=${PATIENT_SYSTEM}|${entityId}`,
        })
      ).resource;
    } catch (err) {
      throw upstream(err);
    }
    const fhirId = created.id!;
    // Not mapped into world events: the EHR's copy holds only what the world model gave it, and must
    // not come back as facts the EHR confirmed.
    await this.recordWrites(
      [{ resource: created, entityId }],
      {
        action: "scheduling.patient_created",
        targetType: "entity",
        targetId: entityId,
        details: { fhir_resource_id: fhirId },
      },
      { ingest: false },
    );
    // The link back: the identifier fact makes `<source system>:Patient:<id>` this entity's external id.
    if (/^[a-z0-9_.-]+$/.test(this.sink.sourceSystem)) {
      await ingestEvents(
        this.env,
        this.workspaceId,
        [
          {
            idempotency_key: `scheduling:patient-link:${entityId}:${fhirId}`,
            entity_id: entityId,
            event_type: "identifier.recorded",
            data: { system: `${this.sink.sourceSystem}:Patient`, value: fhirId },
            source: "ehr",
            confidence: 1,
            source_system: this.sink.sourceSystem,
            fhir_resource_type: "Patient",
            fhir_resource_id: fhirId,
          },
        ],
        this.systemActor(),
      );
    }
    return fhirId;
  }
}

/** A 409 on an update: the slots it would take are held by someone else. */
class SlotConflict extends Error {}

// ---- the EHR's schedules, cached per isolate ------------------------------------------------------------

interface ScheduleInfo {
  id: string;
  practitionerId: string | null;
  practitionerName: string | null;
  locationId: string | null;
}

class TtlCache<V> {
  readonly #entries = new Map<string, { until: number; value: Promise<V> }>();
  constructor(
    readonly ttlMs: number,
    readonly max = 500,
  ) {}

  /** The cached value, else `load()`'s (shared by concurrent callers; a failure is not kept). */
  get(key: string, load: () => Promise<V>): Promise<V> {
    const hit = this.#entries.get(key);
    if (hit && hit.until > Date.now()) return hit.value;
    if (this.#entries.size >= this.max) this.#entries.delete(this.#entries.keys().next().value!);
    const value = load();
    this.#entries.set(key, { until: Date.now() + this.ttlMs, value });
    value.catch(() => this.#entries.delete(key));
    return value;
  }
}

const scheduleLists = new TtlCache<ScheduleInfo[]>(SCHEDULE_TTL_MS);
const schedulesById = new TtlCache<ScheduleInfo>(SCHEDULE_TTL_MS, 2000);
const capabilities = new TtlCache<{ slotSearch: boolean; findOperation: boolean }>(CAPABILITY_TTL_MS);

/** Cache keys name the source and its base URL, so an edited source does not read another server's. */
const sourceKey = (source: DataSource) => `${source.id}|${source.baseUrl}`;

/** The active Schedules of a practitioner and/or location (`Schedule?actor=...`), or all active ones. */
function schedulesFor(
  client: FhirClient,
  source: DataSource,
  q: { practitioner_id?: string | undefined; location_id?: string | undefined },
): Promise<ScheduleInfo[]> {
  const actor = q.practitioner_id
    ? `Practitioner/${q.practitioner_id}`
    : q.location_id
      ? `Location/${q.location_id}`
      : null;
  return scheduleLists
    .get(`${sourceKey(source)}|${actor ?? "*"}`, async () => {
      let bundle: FhirBundle | null = await fhir(() =>
        client.search("Schedule", { ...(actor ? { actor } : { active: "true" }), _count: "200" }),
      );
      const found: ScheduleInfo[] = [];
      for (let page = 1; bundle; page++) {
        for (const schedule of resourcesOf<Schedule>(bundle, "Schedule"))
          if (schedule.active !== false) found.push(scheduleInfo(schedule));
        const next: string | undefined = bundle.link?.find((l) => l.relation === "next")?.url;
        bundle = next && page < MAX_PAGES ? await fhir(() => client.page(next)) : null;
      }
      for (const info of found) void schedulesById.get(`${sourceKey(source)}|${info.id}`, async () => info);
      return found;
    })
    .then((list) => list.filter((s) => !q.location_id || s.locationId === q.location_id));
}

function scheduleById(client: FhirClient, source: DataSource, id: string): Promise<ScheduleInfo> {
  return schedulesById.get(`${sourceKey(source)}|${id}`, async () => {
    try {
      return scheduleInfo((await client.read("Schedule", id)) as unknown as Schedule);
    } catch (err) {
      throw upstream(err);
    }
  });
}

function scheduleInfo(schedule: Schedule): ScheduleInfo {
  const practitioner = schedule.actor.find((a) => referenceId(a.reference, "Practitioner"));
  const location = schedule.actor.find((a) => referenceId(a.reference, "Location"));
  return {
    id: schedule.id!,
    practitionerId: referenceId(practitioner?.reference, "Practitioner"),
    practitionerName: practitioner?.display ?? null,
    locationId: referenceId(location?.reference, "Location"),
  };
}

/**
 * Whether the server offers Slot search, read once per source from `[base]/metadata`. A server that
 * publishes no resource list (or no CapabilityStatement) is tried anyway.
 */
async function requireSlotSearch(client: FhirClient, source: DataSource): Promise<void> {
  const found = await capabilities.get(sourceKey(source), async () => {
    let statement: CapabilityStatement | null = null;
    try {
      const res = await client.request("GET", "metadata");
      if (res.ok) statement = (await res.json()) as CapabilityStatement;
      else await res.body?.cancel();
    } catch {
      // Unknown: assume the plain REST API and let the searches tell.
    }
    const resources = statement?.rest?.flatMap((r) => r.resource ?? []) ?? [];
    if (resources.length === 0) return { slotSearch: true, findOperation: false };
    const slot = resources.find((r) => r.type === "Slot");
    const isFind = (op: CapabilityStatementRestResourceOperation) =>
      op.name === "find" || op.name === "$find" || /appointment-find/i.test(op.definition ?? "");
    return {
      slotSearch: Boolean(slot?.interaction?.some((i) => i.code === "search-type")),
      findOperation:
        resources.some((r) => r.type === "Appointment" && (r.operation ?? []).some(isFind)) ||
        (statement?.rest ?? []).some((r) => (r.operation ?? []).some(isFind)),
    };
  });
  if (found.slotSearch) return;
  throw new ApiError(
    "not_implemented",
    found.findOperation
      ? "This EHR offers scheduling through Appointment/$find (proposed appointments to $hold and $book), which Switchboard does not support yet: it books against Slots"
      : "This EHR does not offer Slot search, which Switchboard's scheduling needs",
  );
}

// ---- plumbing -------------------------------------------------------------------------------------------

async function requireSink(env: Env, workspaceId: string): Promise<DataSource> {
  const sink = await writebackSink(env, workspaceId);
  if (!sink)
    throw new ApiError(
      "conflict",
      "No EHR scheduling source configured: enable a fhir_store data source with writeback on",
    );
  return sink;
}

async function connect(env: Env, sink: DataSource): Promise<FhirClient> {
  try {
    return await fhirClient(env, sink);
  } catch (err) {
    throw upstream(err);
  }
}

/** Runs a FHIR read or search, turning its failure into the API's `upstream_error`. */
async function fhir<T>(call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (err) {
    throw upstream(err);
  }
}

/** A `FhirError` as the API's 502 (status and the server's diagnostics only; no PHI in either). */
function upstream(err: unknown): unknown {
  if (!(err instanceof FhirError)) return err;
  const message =
    err.status === 0
      ? "The EHR did not answer"
      : err.status === 401 || err.status === 403
        ? `The EHR refused Switchboard's credentials (HTTP ${err.status})`
        : `The EHR answered HTTP ${err.status}`;
  return new ApiError("upstream_error", message, {
    status: err.status,
    retryable: err.retryable,
    issues: err.issues,
  });
}

function parse<S extends z.ZodType>(schema: S, input: unknown): z.output<S> {
  const parsed = schema.safeParse(input);
  if (parsed.success) return parsed.data;
  const issues = parsed.error.issues.map((i) => ({ path: i.path.map(String).join("."), message: i.message }));
  throw new ApiError("validation_failed", `Invalid input: ${issues[0]?.message ?? "invalid"}`, { issues });
}

async function readSlot(client: FhirClient, id: string): Promise<Slot> {
  try {
    const slot = (await client.read("Slot", id)) as unknown as Slot;
    if (!slot.start || !slot.end) throw new ApiError("upstream_error", "The EHR's Slot has no start or end");
    return slot;
  } catch (err) {
    if (err instanceof FhirError && (err.status === 404 || err.status === 410)) throw notFound("Slot");
    throw upstream(err);
  }
}

async function readAppointment(client: FhirClient, id: string, what: string): Promise<Appointment> {
  try {
    return asAppointment(await client.read("Appointment", id));
  } catch (err) {
    if (err instanceof FhirError && (err.status === 404 || err.status === 410)) throw notFound(what);
    throw upstream(err);
  }
}

/** Our FHIR types are the R4 ones (@medplum/fhirtypes); the client speaks the looser `FhirResource`. */
const asResource = (resource: FhirResource | Appointment | Patient) => resource as unknown as FhirResource;

function asAppointment(resource: FhirResource): Appointment {
  const appointment = resource as unknown as Appointment;
  if (typeof appointment.status !== "string" || !Array.isArray(appointment.participant))
    throw new ApiError(
      "upstream_error",
      "The EHR answered with an Appointment that has no status or participants",
    );
  return appointment;
}

function resourcesOf<T>(bundle: FhirBundle, type: string): T[] {
  return (bundle.entry ?? [])
    .map((e) => e.resource)
    .filter((r): r is FhirResource => r?.resourceType === type && typeof r.id === "string") as unknown as T[];
}

/** `Practitioner/pr-chen` (or an absolute URL ending so) → `pr-chen`, when it names `type`. */
function referenceId(reference: string | undefined, type: string): string | null {
  const match = reference
    ? /(?:^|\/)([A-Z][A-Za-z]+)\/([A-Za-z0-9.-]{1,64})(?:\/_history\/[^/]+)?$/.exec(reference)
    : null;
  return match && match[1] === type ? match[2]! : null;
}

function participantId(appointment: Appointment, type: string): string | null {
  for (const p of appointment.participant) {
    const id = referenceId(p.actor?.reference, type);
    if (id) return id;
  }
  return null;
}

const slotOf = (appointment: Appointment) => referenceId(appointment.slot?.[0]?.reference, "Slot");

const holdExpiry = (appointment: Appointment): string | null =>
  appointment.extension?.find((e: Extension) => e.url === HOLD_EXPIRES_URL)?.valueInstant ?? null;

const cancellationCode = (appointment: Appointment) =>
  appointment.cancelationReason?.coding?.find((c) => c.system === CANCELLATION_SYSTEM)?.code ?? null;

const ownedBySwitchboard = (appointment: Appointment) =>
  (appointment.identifier ?? []).some((i) => i.system === APPOINTMENT_SYSTEM);

/** An idempotency key answers for one request: reused for another slot or patient, it is refused. */
function requireSameRequest(appointment: Appointment, slotId: string, patientId: string): void {
  if (slotOf(appointment) !== slotId || participantId(appointment, "Patient") !== patientId)
    throw new ApiError(
      "conflict",
      "This idempotency key was used for another slot or patient: use a new key",
      { appointment_id: appointment.id },
    );
}

/** Only pending and booked appointments can be booked, moved or cancelled (or: it must be `expected`). */
function requireActive(appointment: Appointment, expected?: string): void {
  if (expected ? appointment.status === expected : ACTIVE.has(appointment.status)) return;
  throw new ApiError(
    "conflict",
    appointment.status === "cancelled"
      ? "The appointment made with this idempotency key has since been cancelled: use a new key"
      : `An appointment that is ${appointment.status} cannot be changed`,
    { appointment_id: appointment.id, status: appointment.status },
  );
}

function withoutCancellation(appointment: Appointment): Appointment {
  const { cancelationReason: _dropped, ...rest } = appointment;
  return rest;
}

function visitTypeConcept(visitType: string): CodeableConcept {
  const code = visitType.trim().toUpperCase();
  return {
    ...(APPOINTMENT_REASON_CODES.has(code) ? { coding: [{ system: APPOINTMENT_REASON_SYSTEM, code }] } : {}),
    text: visitType,
  };
}

function visitTypeOf(appointment: Appointment): string | null {
  const concept = appointment.appointmentType;
  return concept?.text ?? concept?.coding?.[0]?.code ?? null;
}

/** The identifier value for a request's idempotency key: scoped to the workspace, opaque to the EHR. */
async function identifierValue(workspaceId: string, key: string): Promise<string> {
  return (await sha256Hex(`${workspaceId}\n${key}`)).slice(0, 40);
}

function freeSlot(slot: Slot, schedule: ScheduleInfo): FreeSlot {
  return {
    slot_id: slot.id!,
    start: new Date(slot.start).toISOString(),
    end: new Date(slot.end).toISOString(),
    practitioner_id: schedule.practitionerId,
    practitioner_name: schedule.practitionerName,
    location_id: schedule.locationId,
    schedule_id: schedule.id,
  };
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
