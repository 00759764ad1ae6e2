/**
 * `/v1/{workspace_id}/scheduling`: the agent's scheduling (workers/ehr/scheduling.ts) as an API, for
 * operators and integrations. Reads need a viewer, bookings an operator. Each write goes to the EHR
 * first and is then recorded in D1 with its audit row (`audited`); if D1 fails after the EHR answered,
 * the request fails and its retry with the same idempotency key finds the same appointment and records
 * it. No scheduling source configured is a 409 (configuration, not a missing feature); the EHR failing
 * or not answering is a 502 `upstream_error`; a slot taken meanwhile is a 409 whose details carry
 * `reason: "slot_taken"` and the next free slots.
 */
import type { Context } from "hono";
import { ErrorBodySchema, WorkspaceParams } from "../../shared/schemas/common";
import {
  AppointmentParams,
  BookRequest,
  CancelRequest,
  HoldRequest,
  RescheduleRequest,
  RescheduleResult,
  ScheduledAppointmentSchema,
  SlotList,
  SlotQuery,
  slotSearchOf,
} from "../../shared/schemas/scheduling";
import {
  bookAppointment,
  cancelAppointment,
  holdSlot,
  rescheduleAppointment,
  type SchedulingContext,
  type SlotTaken,
  searchSlots,
} from "../ehr/scheduling";
import type { AppEnv } from "../env";
import { ApiError } from "../errors";
import { actorOf, audited } from "./audited";
import { jsonBody, jsonResponse, router, workspaceRoute } from "./router";

const tags = ["Scheduling"];

const schedulingErrors = {
  409: jsonResponse(
    ErrorBodySchema,
    "No EHR scheduling source configured; or the slot was taken meanwhile (details: reason `slot_taken`, next_options)",
  ),
  502: jsonResponse(ErrorBodySchema, "The EHR failed or did not answer"),
} as const;

/** The request's principal audits the write; what follows from the EHR's answer is the system's. */
function context(c: Context<AppEnv>): SchedulingContext {
  return {
    actor: actorOf(c),
    record: (event, statements) => audited(c, event, statements),
  };
}

const slotTaken = (outcome: SlotTaken) =>
  new ApiError("conflict", "That slot was taken meanwhile: pick one of the next options", {
    reason: outcome.reason,
    next_options: outcome.next_options,
  });

export const schedulingApi = router()
  .openapi(
    workspaceRoute("viewer", {
      method: "get",
      path: "/v1/{workspace_id}/scheduling/slots",
      tags,
      summary: "Find free slots",
      description:
        "Free Slots in the EHR, soonest first, for a practitioner and/or location, a visit type and the patient's preferred days and time of day (read in the clinic's time zone, which the answer names).",
      request: { params: WorkspaceParams, query: SlotQuery },
      responses: { 200: jsonResponse(SlotList, "Free slots, soonest first"), ...schedulingErrors },
    }),
    async (c) => {
      const { workspace_id } = c.req.valid("param");
      const { slots, timeZone } = await searchSlots(c.env, workspace_id, slotSearchOf(c.req.valid("query")));
      return c.json({ results: slots, time_zone: timeZone }, 200);
    },
  )
  .openapi(
    workspaceRoute("operator", {
      method: "post",
      path: "/v1/{workspace_id}/scheduling/holds",
      tags,
      summary: "Hold a slot",
      description:
        "A pending Appointment that keeps the slot for `hold_minutes` while the booking is confirmed; lapsed holds are cancelled by a sweep every five minutes. The same patient and slot (or the same idempotency key) give the same hold.",
      request: { params: WorkspaceParams, body: jsonBody(HoldRequest) },
      responses: {
        201: jsonResponse(ScheduledAppointmentSchema, "The hold (a pending appointment)"),
        200: jsonResponse(ScheduledAppointmentSchema, "The hold made by an earlier identical request"),
        ...schedulingErrors,
      },
    }),
    async (c) => {
      const { workspace_id } = c.req.valid("param");
      const outcome = await holdSlot(c.env, workspace_id, c.req.valid("json"), context(c));
      if (!outcome.ok) throw slotTaken(outcome);
      return c.json(outcome.appointment, outcome.created ? 201 : 200);
    },
  )
  .openapi(
    workspaceRoute("operator", {
      method: "post",
      path: "/v1/{workspace_id}/scheduling/appointments",
      tags,
      summary: "Book an appointment",
      description:
        "Books a hold (`hold_id`) or a free slot (`slot_id`). The idempotency key makes a retried booking the same booking.",
      request: { params: WorkspaceParams, body: jsonBody(BookRequest) },
      responses: {
        201: jsonResponse(ScheduledAppointmentSchema, "The booked appointment"),
        200: jsonResponse(
          ScheduledAppointmentSchema,
          "The appointment booked by an earlier identical request",
        ),
        ...schedulingErrors,
      },
    }),
    async (c) => {
      const { workspace_id } = c.req.valid("param");
      const outcome = await bookAppointment(c.env, workspace_id, c.req.valid("json"), context(c));
      if (!outcome.ok) throw slotTaken(outcome);
      return c.json(outcome.appointment, outcome.created ? 201 : 200);
    },
  )
  .openapi(
    workspaceRoute("operator", {
      method: "post",
      path: "/v1/{workspace_id}/scheduling/appointments/{appointment_id}/reschedule",
      tags,
      summary: "Reschedule an appointment",
      description:
        "Books the new slot, then cancels the old appointment: the patient never ends up with none or with two.",
      request: { params: AppointmentParams, body: jsonBody(RescheduleRequest) },
      responses: {
        200: jsonResponse(RescheduleResult, "The new appointment and the cancelled one"),
        ...schedulingErrors,
      },
    }),
    async (c) => {
      const { workspace_id, appointment_id } = c.req.valid("param");
      const outcome = await rescheduleAppointment(
        c.env,
        workspace_id,
        { ...c.req.valid("json"), appointment_id },
        context(c),
      );
      if (!outcome.ok) throw slotTaken(outcome);
      return c.json({ appointment: outcome.appointment, previous: outcome.previous }, 200);
    },
  )
  .openapi(
    workspaceRoute("operator", {
      method: "post",
      path: "/v1/{workspace_id}/scheduling/appointments/{appointment_id}/cancel",
      tags,
      summary: "Cancel an appointment",
      description: "The EHR frees its slot. Cancelling a cancelled appointment changes nothing.",
      request: { params: AppointmentParams, body: jsonBody(CancelRequest) },
      responses: {
        200: jsonResponse(ScheduledAppointmentSchema, "The cancelled appointment"),
        ...schedulingErrors,
      },
    }),
    async (c) => {
      const { workspace_id, appointment_id } = c.req.valid("param");
      const appointment = await cancelAppointment(
        c.env,
        workspace_id,
        { ...c.req.valid("json"), appointment_id },
        context(c),
      );
      return c.json(appointment, 200);
    },
  );
