import type { OfferedOption } from "../../shared/engine/engine";
import type { ExtractedDateTime } from "../../shared/engine/extract";
import { speakDateTime } from "../../shared/engine/templates";
import { FhirId, type FreeSlot, type SlotSearch } from "../../shared/schemas/scheduling";
import {
  bookAppointment,
  cancelAppointment,
  findSlots,
  rescheduleAppointment,
  type SchedulingContext,
  upcomingAppointments,
} from "../ehr/scheduling";
import type { ToolContext, ToolOutcomeOf } from "./tools";

/** Options offered to the caller at once (the engine reads at most five). */
const OFFERED = 3;
const HOUR = 3_600_000;
const DAY = 24 * HOUR;
/** When nothing is free on the day asked for, the search widens to the next days. */
const WIDER_DAYS = 7;

type Args = Record<string, unknown>;

const isOption = (v: unknown): v is OfferedOption =>
  typeof v === "object" && v !== null && typeof (v as OfferedOption).id === "string";

const isDateTime = (v: unknown): v is ExtractedDateTime =>
  typeof v === "object" &&
  v !== null &&
  typeof (v as ExtractedDateTime).instant === "string" &&
  typeof (v as ExtractedDateTime).date === "string";

const fhirId = (v: unknown): string | null =>
  typeof v === "string" && FhirId.safeParse(v).success ? v : null;

/** How the actor of this call's EHR writes is recorded: the system, on the call's behalf. */
export const schedulingContext = (context: ToolContext): SchedulingContext => ({
  actor: { actorType: "system", actorId: null, requestId: context.callId },
});

/** What a slot is called out loud: "Tuesday, January 26 at 10:00 AM with Dr. Amara Okafor". */
export function slotLabel(slot: Pick<FreeSlot, "start" | "practitioner_name">, timeZone: string): string {
  const when = speakDateTime(slot.start, timeZone);
  return slot.practitioner_name ? `${when} with ${slot.practitioner_name}` : when;
}

const offersOf = (slots: FreeSlot[], timeZone: string): OfferedOption[] =>
  slots.slice(0, OFFERED).map((s) => ({ id: s.slot_id, label: slotLabel(s, timeZone), start: s.start }));

/** The option the caller chose: `slot_id`, `selected_option`, `slot`, or any offered option among the args. */
function chosenOption(args: Args): { id: string; label?: string } | null {
  const direct = fhirId(args.slot_id);
  if (direct) return { id: direct };
  for (const v of [args.selected_option, args.slot, ...Object.values(args)]) {
    if (isOption(v) && fhirId(v.id)) return { id: v.id, ...(v.label ? { label: v.label } : {}) };
  }
  return null;
}

/** The preferred time among the args: `preferred_time`, else the first date/time value. */
function preferredTime(args: Args): ExtractedDateTime | null {
  if (isDateTime(args.preferred_time)) return args.preferred_time;
  return Object.values(args).find(isDateTime) ?? null;
}

export async function findSlotsTool(env: Env, context: ToolContext, args: Args): Promise<ToolOutcomeOf> {
  const now = context.now.getTime();
  const preferred = preferredTime(args);
  const base: SlotSearch = {
    limit: OFFERED,
    start_after: new Date(now).toISOString(),
    ...(fhirId(args.practitioner_id) ? { practitioner_id: fhirId(args.practitioner_id)! } : {}),
    ...(fhirId(args.location_id) ? { location_id: fhirId(args.location_id)! } : {}),
  };
  const timeOfDay = preferred?.part_of_day ?? undefined;
  const searches: SlotSearch[] = [];
  if (preferred) {
    const at = Date.parse(preferred.instant);
    // The local day asked for (its weekday, within a day and a half of the instant), from the hour
    // asked for when there is one (half an hour earlier), else from the day's start.
    const from = Math.max(now, preferred.time ? at - HOUR / 2 : at - 12 * HOUR);
    const isoWeekday = preferred.weekday === 0 ? 7 : preferred.weekday;
    searches.push({
      ...base,
      start_after: new Date(from).toISOString(),
      end_before: new Date(Math.max(from, at) + 36 * HOUR).toISOString(),
      preferences: { days_of_week: [isoWeekday], ...(timeOfDay ? { time_of_day: timeOfDay } : {}) },
    });
    searches.push({
      ...base,
      start_after: new Date(from).toISOString(),
      end_before: new Date(Math.max(from, at) + WIDER_DAYS * DAY).toISOString(),
      ...(timeOfDay ? { preferences: { time_of_day: timeOfDay } } : {}),
    });
  } else {
    searches.push({ ...base, end_before: new Date(now + WIDER_DAYS * DAY).toISOString() });
  }
  for (const search of searches) {
    const slots = await findSlots(env, context.workspaceId, search);
    if (slots.length > 0) return { outcome: "ok", data: { options: offersOf(slots, context.timeZone) } };
  }
  return { outcome: "none", data: { options: [], reason: "no_free_slots" } };
}

export async function bookTool(env: Env, context: ToolContext, args: Args): Promise<ToolOutcomeOf> {
  if (!context.patientEntityId) return { outcome: "error", data: { reason: "patient_not_verified" } };
  const option = chosenOption(args);
  if (!option) return { outcome: "error", data: { reason: "no_slot_chosen" } };
  const visitType = typeof args.visit_type === "string" ? args.visit_type : undefined;
  const outcome = await bookAppointment(
    env,
    context.workspaceId,
    {
      slot_id: option.id,
      patient: context.patientEntityId,
      ...(visitType ? { visit_type: visitType } : {}),
      idempotency_key: `${context.callId}:book:${option.id}`,
    },
    schedulingContext(context),
  );
  if (!outcome.ok) return slotTakenResult(outcome.next_options, context);
  return { outcome: "ok", data: bookedData(outcome.appointment, context) };
}

export async function rescheduleTool(env: Env, context: ToolContext, args: Args): Promise<ToolOutcomeOf> {
  if (!context.patientEntityId) return { outcome: "error", data: { reason: "patient_not_verified" } };
  const option = chosenOption(args);
  if (!option) return { outcome: "error", data: { reason: "no_slot_chosen" } };
  const appointmentId = await targetAppointment(env, context, args);
  if (!appointmentId) return { outcome: "none", data: { reason: "no_upcoming_appointment" } };
  const outcome = await rescheduleAppointment(
    env,
    context.workspaceId,
    {
      appointment_id: appointmentId,
      new_slot_id: option.id,
      idempotency_key: `${context.callId}:reschedule:${appointmentId}:${option.id}`,
    },
    schedulingContext(context),
  );
  if (!outcome.ok) return slotTakenResult(outcome.next_options, context);
  return { outcome: "ok", data: bookedData(outcome.appointment, context) };
}

export async function cancelTool(env: Env, context: ToolContext, args: Args): Promise<ToolOutcomeOf> {
  if (!context.patientEntityId) return { outcome: "error", data: { reason: "patient_not_verified" } };
  const appointmentId = await targetAppointment(env, context, args);
  if (!appointmentId) return { outcome: "none", data: { reason: "no_upcoming_appointment" } };
  const cancelled = await cancelAppointment(
    env,
    context.workspaceId,
    { appointment_id: appointmentId, reason: "Patient asked to cancel by phone" },
    schedulingContext(context),
  );
  return { outcome: "ok", data: { appointment_id: cancelled.appointment_id, status: cancelled.status } };
}

function bookedData(
  appointment: { appointment_id: string; start: string | null },
  context: ToolContext,
): Record<string, unknown> {
  return {
    appointment_id: appointment.appointment_id,
    ...(appointment.start
      ? { start: appointment.start, label: speakDateTime(appointment.start, context.timeZone) }
      : {}),
  };
}

/** A taken slot: an error for the graph's exits, with the next free slots as new offers. */
function slotTakenResult(next: FreeSlot[], context: ToolContext): ToolOutcomeOf {
  return { outcome: "error", data: { reason: "slot_taken", options: offersOf(next, context.timeZone) } };
}

/**
 * Which appointment to move or cancel: the `appointment_id` the engine names (it must be one of this
 * patient's upcoming appointments), else the patient's next upcoming one.
 */
async function targetAppointment(env: Env, context: ToolContext, args: Args): Promise<string | null> {
  const upcoming = await upcomingAppointments(env, context.workspaceId, context.patientEntityId, context.now);
  const named = fhirId(args.appointment_id);
  if (named) return upcoming.some((a) => a.appointment_id === named) ? named : null;
  return upcoming[0]?.appointment_id ?? null;
}
