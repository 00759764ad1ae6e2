/**
 * The agent's tools (`executeTools`) against real data: a fresh workspace with patients ingested as the
 * EHR would, the world model's identifier index, the verification pipeline and the suite's FHIR sandbox.
 * This file books pr-okafor only, on 2027-01-25..29.
 */
import { env } from "cloudflare:workers";
import { and, eq } from "drizzle-orm";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import type { ToolCall } from "../../shared/engine/engine";
import type { ExtractedDateTime } from "../../shared/engine/extract";
import { newId } from "../../shared/ids";
import { factKey } from "../../shared/world/events";
import { executeTools, type ToolContext } from "../../workers/calls/tools";
import { calls, deliveries, worldEvents } from "../../workers/db/schema";
import { openDelivery } from "../../workers/telephony/messaging";
import { db } from "../helpers/db";
import { ensureSchedulingSource } from "../helpers/operations";
import { insertService, unique, uniquePhoneNumber } from "../helpers/workspace";
import { factAt, ingestPatient, reviewRow, type WorldFixture, worldWorkspace } from "../world/fixtures";

const ZONE = "America/New_York";
/** Letters only, so a name survives every normalization unchanged. */
const letters = () => unique().replace(/\d/g, (d) => "qrstuvwxyz"[Number(d)]!);

let f: WorldFixture;
let context: ToolContext;
let family: string;
let phone: string;
let patientId: string;
let logs: string[];

async function insertCall(workspaceId: string, serviceId: string): Promise<string> {
  const id = newId("call");
  await db()
    .insert(calls)
    .values({
      id,
      workspaceId,
      serviceId,
      channel: "voice",
      direction: "inbound",
      providerSid: `CA${crypto.randomUUID().replaceAll("-", "")}`,
      toNumber: "+14155550100",
      status: "in-progress",
      startedAt: new Date().toISOString(),
    });
  return id;
}

const run = async (call: ToolCall, ctx: Partial<ToolContext> = {}) => {
  const [execution] = await executeTools(env, { ...context, ...ctx }, [call]);
  return execution!;
};

/** What the engine collects for "Tuesday January 26th in the morning" (2027), in New York. */
const tuesdayMorning: ExtractedDateTime = {
  text: "Tuesday January 26th in the morning",
  date: "2027-01-26",
  time: null,
  part_of_day: "morning",
  weekday: 2,
  instant: "2027-01-26T14:00:00.000Z",
};

beforeEach(async () => {
  f = await worldWorkspace();
  family = `Quintero${letters()}`;
  phone = uniquePhoneNumber();
  patientId = await ingestPatient(f, {
    given_name: "Maria",
    family_name: family,
    birth_date: "1980-04-02",
    phone,
  });
  const serviceId = await insertService(f.ws.id);
  const callId = await insertCall(f.ws.id, serviceId);
  context = {
    workspaceId: f.ws.id,
    callId,
    serviceId,
    callerPhone: phone,
    patientEntityId: null,
    now: new Date(),
    timeZone: ZONE,
  };
  logs = [];
  vi.spyOn(console, "info").mockImplementation((line: string) => {
    logs.push(String(line));
  });
});

afterEach(() => {
  vi.restoreAllMocks();
});

describe("verify_identity", () => {
  it("verifies the caller by name and birth date, with the patient's memory", async () => {
    const ex = await run({
      name: "verify_identity",
      args: { name: `Maria ${family}`, birth_date: "1980-04-02" },
    });
    expect(ex.result.outcome).toBe("ok");
    expect(ex.patientEntityId).toBe(patientId);
    expect(ex.patient?.entity_id).toBe(patientId);
    expect(ex.patient?.identity).toMatchObject({ birth_date: "1980-04-02", phone });
    expect(ex.patient?.identity.display_name).toContain(family);
    expect(ex.result.data).toMatchObject({ patient_entity_id: patientId, matched_on: ["name_dob", "phone"] });
    expect(ex.latency_ms).toBeGreaterThanOrEqual(0);
  });

  it("answers none with no PHI on a wrong birth date, a wrong name or missing details", async () => {
    for (const args of [
      { name: `Maria ${family}`, birth_date: "1980-04-03" },
      { name: `Mario ${family}`, birth_date: "1980-04-02" },
      { name: "Maria", birth_date: "1980-04-02" },
      { name: `Maria ${family}`, birth_date: "April 2nd" },
    ]) {
      const ex = await run({ name: "verify_identity", args });
      expect(ex.result.outcome, JSON.stringify(args)).toBe("none");
      expect(ex.patientEntityId).toBeUndefined();
      expect(ex.patient).toBeUndefined();
      const text = JSON.stringify(ex);
      expect(text).not.toContain(family);
      expect(text).not.toContain(patientId);
      expect(text).not.toContain("1980");
    }
  });

  it("a phone match alone verifies nothing", async () => {
    const ex = await run({
      name: "verify_identity",
      args: { name: "Someone Else", birth_date: "1990-01-01" },
    });
    expect(ex.result).toEqual({ name: "verify_identity", outcome: "none", data: { reason: "no_match" } });
  });

  it("two patients of one name and birth date: ambiguous, unless the caller's phone picks one", async () => {
    const twin = await ingestPatient(f, {
      given_name: "Maria",
      family_name: family,
      birth_date: "1980-04-02",
      phone: uniquePhoneNumber(),
    });
    expect(twin).not.toBe(patientId);
    const args = { name: `Maria ${family}`, birth_date: "1980-04-02" };
    const unknownCaller = await run({ name: "verify_identity", args }, { callerPhone: null });
    expect(unknownCaller.result).toMatchObject({ outcome: "none", data: { reason: "ambiguous" } });
    const known = await run({ name: "verify_identity", args });
    expect(known.result.outcome).toBe("ok");
    expect(known.patientEntityId).toBe(patientId);
  });

  it("reads a multi-word family name", async () => {
    const other = await ingestPatient(f, {
      given_name: "Ana",
      family_name: `de la ${family}`,
      birth_date: "1975-12-31",
    });
    const ex = await run({
      name: "verify_identity",
      args: { name: `Ana de la ${family}`, birth_date: "1975-12-31" },
    });
    expect(ex.patientEntityId).toBe(other);
  });
});

describe("patient_context", () => {
  it("is none without a patient, and carries the memory of a known one", async () => {
    expect((await run({ name: "patient_context", args: {} })).result.outcome).toBe("none");
    const ex = await run({ name: "patient_context", args: {} }, { patientEntityId: patientId });
    // No scheduling source here, so no upcoming appointments: none, with the memory.
    expect(ex.result).toEqual({
      name: "patient_context",
      outcome: "none",
      data: { upcoming_appointments: 0 },
    });
    expect(ex.patient?.upcoming_appointments).toEqual([]);
    expect(JSON.stringify(ex.patient)).toContain(family);
  });
});

describe("scheduling tools", () => {
  it("without a scheduling source, find_slots is an error with the reason", async () => {
    const ex = await run({ name: "find_slots", args: { preferred_time: tuesdayMorning } });
    expect(ex.result).toEqual({
      name: "find_slots",
      outcome: "error",
      data: { reason: "no_scheduling_source" },
    });
  });

  it("books only for a verified patient and a chosen slot", async () => {
    await ensureSchedulingSource(f.ws);
    const noPatient = await run({
      name: "book_appointment",
      args: { selected_option: { id: "x", label: "" } },
    });
    expect(noPatient.result).toMatchObject({ outcome: "error", data: { reason: "patient_not_verified" } });
    const noSlot = await run({ name: "book_appointment", args: {} }, { patientEntityId: patientId });
    expect(noSlot.result).toMatchObject({ outcome: "error", data: { reason: "no_slot_chosen" } });
    const unknownSlot = await run(
      { name: "book_appointment", args: { selected_option: { id: "slot-okafor-20270126-0300", label: "" } } },
      { patientEntityId: patientId },
    );
    expect(unknownSlot.result).toMatchObject({ outcome: "error", data: { reason: "not_found" } });
  });

  it("finds, books once on retry, shows, reschedules and cancels an appointment; a taken slot offers others", async () => {
    await ensureSchedulingSource(f.ws);
    const ctx = { patientEntityId: patientId };
    const found = await run({
      name: "find_slots",
      args: { preferred_time: tuesdayMorning, practitioner_id: "pr-okafor", full_name: "x" },
    });
    expect(found.result.outcome).toBe("ok");
    const options = (found.result.data as { options: { id: string; label: string; start: string }[] })
      .options;
    expect(options.length).toBeGreaterThan(0);
    expect(options.length).toBeLessThanOrEqual(3);
    for (const o of options) {
      expect(o.id).toMatch(/^slot-okafor-20270126-(09|10|11)/);
      expect(o.label).toMatch(/^Tuesday, January 26 at (9|10|11):\d\d AM/);
      expect(o.start.startsWith("2027-01-26T1")).toBe(true);
    }
    const chosen = options[0]!;

    const book = { name: "book_appointment" as const, args: { selected_option: chosen, task: "book" } };
    const booked = await run(book, ctx);
    expect(booked.result.outcome, JSON.stringify(booked.result)).toBe("ok");
    const appointmentId = (booked.result.data as { appointment_id: string }).appointment_id;
    expect(booked.result.data).toMatchObject({
      start: chosen.start,
      label: expect.stringContaining("January 26"),
    });
    // A retried turn books the same appointment, not a second one.
    const again = await run(book, ctx);
    expect(again.result.data).toMatchObject({ appointment_id: appointmentId });

    const shown = await run({ name: "patient_context", args: {} }, ctx);
    expect(shown.result).toMatchObject({ outcome: "ok", data: { upcoming_appointments: 1 } });
    expect(shown.patient?.upcoming_appointments?.[0]?.start).toBe(chosen.start);

    // Another caller (another call) wants the same slot: it is taken, and the next ones are offered.
    const rival = await ingestPatient(f, { given_name: "Rita", family_name: `Rival${letters()}` });
    const rivalCall = await insertCall(f.ws.id, context.serviceId);
    const taken = await run(book, { patientEntityId: rival, callId: rivalCall });
    expect(taken.result.outcome).toBe("error");
    const takenData = taken.result.data as { reason: string; options: { id: string; label: string }[] };
    expect(takenData.reason).toBe("slot_taken");
    expect(takenData.options.length).toBeGreaterThan(0);
    expect(takenData.options.map((o) => o.id)).not.toContain(chosen.id);
    expect(takenData.options[0]!.label).toMatch(/January 2\d at/);

    // Move it to Wednesday at 2 pm: the first option is from half an hour before the hour asked for.
    const wednesday = await run({
      name: "find_slots",
      args: {
        preferred_time: {
          ...tuesdayMorning,
          date: "2027-01-27",
          weekday: 3,
          instant: "2027-01-27T19:00:00.000Z",
          time: "14:00",
          part_of_day: "afternoon",
        },
        practitioner_id: "pr-okafor",
      },
    });
    const newSlot = (wednesday.result.data as { options: { id: string; start: string }[] }).options[0]!;
    expect(newSlot.id).toMatch(/^slot-okafor-20270127-(1330|14|15|16)/);
    const moved = await run({ name: "reschedule_appointment", args: { selected_option: newSlot } }, ctx);
    expect(moved.result.outcome, JSON.stringify(moved.result)).toBe("ok");
    expect(moved.result.data).toMatchObject({ start: newSlot.start });

    // Every EHR write is audited as the system's, on this call.
    const audit = await env.DB.prepare(
      "SELECT action, actor_type, request_id FROM audit_log WHERE workspace_id = ? AND action LIKE 'scheduling.%' ORDER BY seq",
    )
      .bind(f.ws.id)
      .all<{ action: string; actor_type: string; request_id: string }>();
    const ours = audit.results.filter((r) => r.request_id === context.callId).map((r) => r.action);
    expect(ours).toEqual([
      "scheduling.patient_created",
      "scheduling.appointment_booked",
      "scheduling.appointment_rescheduled",
    ]);
    expect(new Set(audit.results.map((r) => r.actor_type))).toEqual(new Set(["system"]));

    // An appointment that is not this patient's upcoming one is not touched.
    const foreign = await run({ name: "cancel_appointment", args: { appointment_id: "not-hers" } }, ctx);
    expect(foreign.result).toMatchObject({ outcome: "none", data: { reason: "no_upcoming_appointment" } });

    const cancelled = await run({ name: "cancel_appointment", args: {} }, ctx);
    expect(cancelled.result).toMatchObject({ outcome: "ok", data: { status: "cancelled" } });
    // Nothing left to cancel.
    const none = await run({ name: "cancel_appointment", args: {} }, ctx);
    expect(none.result).toMatchObject({ outcome: "none", data: { reason: "no_upcoming_appointment" } });
  });
});

describe("record_fact and record_promise", () => {
  it("a number the caller gives lands in the review queue at the caller-stated confidence", async () => {
    const none = await run({ name: "record_fact", args: { callback_phone: "+14155550199" } });
    expect(none.result.outcome).toBe("none");
    const ex = await run(
      { name: "record_fact", args: { full_name: `Maria ${family}`, callback_phone: "+14155550199" } },
      {
        patientEntityId: patientId,
        transcript: [
          { speaker: "agent", text: "And the best number to reach you?" },
          { speaker: "caller", text: "It's 415 555 0199." },
        ],
      },
    );
    expect(ex.result.outcome, JSON.stringify(ex.result)).toBe("ok");
    const [reviewId] = (ex.result.data as { review_item_ids: string[] }).review_item_ids;
    expect(reviewId).toBeTruthy();
    const review = await reviewRow(f.ws.id, reviewId!);
    expect(review?.status).toBe("pending");
    const extracted = await db()
      .select()
      .from(worldEvents)
      .where(
        and(
          eq(worldEvents.workspaceId, f.ws.id),
          eq(worldEvents.producedBy, `interaction:${context.callId}`),
        ),
      );
    expect(extracted.length).toBeGreaterThan(0);
    expect(Math.min(...extracted.map((e) => e.confidence))).toBeLessThanOrEqual(0.5);
  });

  it("records a callback task once, even when the turn is retried", async () => {
    const promise = { name: "record_promise" as const, args: { due_at: "2027-01-05T15:00:00.000Z" } };
    expect((await run(promise)).result.outcome).toBe("none");
    const first = await run(promise, { patientEntityId: patientId, turn: 7 });
    const retry = await run(promise, { patientEntityId: patientId, turn: 7 });
    expect(first.result).toMatchObject({
      outcome: "ok",
      data: { due_at: "2027-01-05T15:00:00.000Z", status: "stored" },
    });
    expect(retry.result).toMatchObject({ outcome: "ok", data: { status: "duplicate" } });
    const taskId = (first.result.data as { task_id: string }).task_id;
    const tasks = await db()
      .select()
      .from(worldEvents)
      .where(and(eq(worldEvents.workspaceId, f.ws.id), eq(worldEvents.eventType, "task.recorded")));
    expect(tasks).toHaveLength(1);
    const fact = await factAt(f, patientId, `tasks.${factKey(taskId)}`);
    expect(fact?.value).toMatchObject({
      kind: "callback",
      due_at: "2027-01-05T15:00:00.000Z",
      status: "open",
    });
  });
});

describe("session tools", () => {
  it("escalate, transfer (E.164 only) and end_call tell the session what to do", async () => {
    const [esc, bad, good, end] = await executeTools(env, context, [
      { name: "escalate", args: { reason: "safety:crisis", category: "crisis" } },
      { name: "transfer", args: { to: "front desk" } },
      { name: "transfer", args: { to: "+1 (415) 555-0123" } },
      { name: "end_call", args: {} },
    ]);
    expect(esc!.escalation).toEqual({ reason: "safety:crisis" });
    expect(bad!.result).toMatchObject({ outcome: "error", data: { reason: "invalid_number" } });
    expect(bad!.transfer).toBeUndefined();
    expect(good!.transfer).toEqual({ to: "+14155550123" });
    expect(end!.end).toBe(true);
  });

  it("send_sms queues one text per call, turn and kind from the clinic number, sealed", async () => {
    const clinic = uniquePhoneNumber();
    const sms = {
      name: "send_sms" as const,
      args: { kind: "directions", body: `Hi Maria ${family}, we are at 12 Main St.` },
    };
    expect((await run(sms, { turn: 3, serviceNumber: clinic })).result).toMatchObject({
      outcome: "ok",
      data: { kind: "directions", queued: true },
    });
    await run(sms, { turn: 3, serviceNumber: clinic });
    const confirmation = {
      name: "send_sms" as const,
      args: {
        selected_option: {
          id: "slot-1",
          label: "Tuesday, January 26 at 9:00 AM",
          start: "2027-01-26T14:00:00Z",
        },
      },
    };
    expect((await run(confirmation, { turn: 4, serviceNumber: clinic })).result.outcome).toBe("ok");
    const sent = await vi.waitFor(
      async () => {
        const rows = await db()
          .select()
          .from(deliveries)
          .where(and(eq(deliveries.workspaceId, f.ws.id), eq(deliveries.callId, context.callId)));
        if (rows.filter((r) => r.status === "sent").length < 2) throw new Error("not sent yet");
        return rows;
      },
      { timeout: 8000, interval: 50 },
    );
    expect(sent).toHaveLength(2);
    const bodies = await Promise.all(sent.map(async (r) => (await openDelivery(env, r)).body));
    expect(bodies.sort()).toEqual(
      [
        `Hi Maria ${family}, we are at 12 Main St.`,
        "Your appointment is booked for Tuesday, January 26 at 9:00 AM. Reply to this message if you need to change it.",
      ].sort(),
    );
    for (const row of sent) {
      expect(row).toMatchObject({ channel: "sms", purpose: "tool_sms", status: "sent" });
      expect(JSON.stringify(row)).not.toContain(family);
    }

    // Nothing to say, nobody to send to, or no clinic number: nothing is queued.
    expect(
      (await run({ name: "send_sms", args: { kind: "reminder" } }, { serviceNumber: clinic })).result,
    ).toMatchObject({
      outcome: "none",
      data: { reason: "nothing_to_send" },
    });
    expect((await run(sms, { callerPhone: null, serviceNumber: clinic })).result.outcome).toBe("none");
    expect((await run(sms, { serviceNumber: null })).result).toMatchObject({
      outcome: "none",
      data: { reason: "no_sender" },
    });
  });

  it("an unknown tool is an error; every execution logs one line of ids without PHI", async () => {
    const ex = await run({ name: "no_such_tool" as never, args: {} });
    expect(ex.result).toMatchObject({ outcome: "error", data: { reason: "unknown_tool" } });
    await run({ name: "verify_identity", args: { name: `Maria ${family}`, birth_date: "1980-04-02" } });
    const lines = logs.map((l) => JSON.parse(l)).filter((l) => l.event === "call.tool");
    expect(lines).toHaveLength(2);
    expect(lines[1]).toMatchObject({
      workspace_id: f.ws.id,
      call_id: context.callId,
      tool: "verify_identity",
      outcome: "ok",
      latency_ms: expect.any(Number),
    });
    const all = logs.join("\n");
    expect(all).not.toContain(family);
    expect(all).not.toContain("1980");
    expect(all).not.toContain(phone);
  });
});
