/**
 * Scheduling against the shared FHIR sandbox, through the API (and the module, for the hold sweep and
 * writes that race a concurrent change): finding slots with preferences in the clinic's time zone,
 * holds, bookings, retries, races for one slot, reschedules, cancellations (one through a 412, re-read
 * and retried) and lapsed holds, each checked by reading the sandbox back (the Appointment's status, the
 * Slot's) and D1 (sync log, audit, world model). This file books pr-chen only, on 2027-01-11..22, one
 * test per slot; the /v1 fixtures book pr-lindqvist.
 */
import { env } from "cloudflare:workers";
import { and, eq } from "drizzle-orm";
import { beforeAll, describe, expect, inject, it } from "vitest";
import { newId } from "../../shared/ids";
import { auditLog, dataSources, syncEvents, workspaces, worldEvents } from "../../workers/db/schema";
import {
  APPOINTMENT_SYSTEM,
  cancelAppointment,
  expireHolds,
  PATIENT_SYSTEM,
} from "../../workers/ehr/scheduling";
import { sealSecrets } from "../../workers/ehr/sources";
import { db } from "../helpers/db";
import { api, expectError } from "../helpers/http";
import { ehrLinkedPatient, ensureSchedulingSource } from "../helpers/operations";
import { createWorkspace, type TestWorkspace, unique } from "../helpers/workspace";

const ehr = inject("ehrSandbox");

// Bodies are checked by assertions.
// biome-ignore lint/suspicious/noExplicitAny: see above
type Json = any;

/** A read straight from the sandbox, as the EHR itself holds it. */
async function sandbox(path: string): Promise<Json> {
  const res = await fetch(`${ehr.fhirBaseUrl}/${path}`, {
    headers: { Authorization: `Bearer ${ehr.staticToken}`, Accept: "application/fhir+json" },
  });
  expect(res.status, path).toBe(200);
  return res.json();
}

async function sandboxWrite(method: string, path: string, body: unknown): Promise<Json> {
  const res = await fetch(`${ehr.fhirBaseUrl}/${path}`, {
    method,
    headers: {
      Authorization: `Bearer ${ehr.staticToken}`,
      Accept: "application/fhir+json",
      "Content-Type": "application/fhir+json",
    },
    body: JSON.stringify(body),
  });
  expect(res.status, `${method} ${path}`).toBeLessThan(300);
  return res.json();
}

const chenSlot = (day: string, hhmm: string) => `slot-chen-${day.replaceAll("-", "")}-${hhmm}`;

/** Local weekday (1 = Monday) and hour of an instant in a time zone. */
function local(iso: string, timeZone: string): { weekday: number; hour: number } {
  const parts = new Intl.DateTimeFormat("en-US", {
    timeZone,
    weekday: "short",
    hour: "numeric",
    hourCycle: "h23",
  }).formatToParts(new Date(iso));
  const weekday = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"].indexOf(
    parts.find((p) => p.type === "weekday")!.value,
  );
  return { weekday: weekday + 1, hour: Number(parts.find((p) => p.type === "hour")!.value) };
}

/** The audit rows about one target, as [action, actor type]. */
async function auditOf(targetId: string): Promise<[string, string][]> {
  const rows = await db()
    .select()
    .from(auditLog)
    .where(and(eq(auditLog.workspaceId, ws.id), eq(auditLog.targetId, targetId)));
  return rows.map((a) => [a.action, a.actorType]);
}

/**
 * A `fetch` for the module's FHIR client that, before each of its first `times` PUTs to the appointment
 * passes through, changes the appointment in the EHR as the clinic would (a new `comment`, so a new
 * version): the PUT then carries a stale `If-Match`. Records each PUT and the versions the edits made.
 */
function interferingFetch(appointmentId: string, times: number) {
  const puts: { ifMatch: string | null; status: number }[] = [];
  const versions: string[] = [];
  const wrapped: typeof fetch = async (input, init) => {
    const put = init?.method === "PUT" && String(input).endsWith(`/Appointment/${appointmentId}`);
    if (put && versions.length < times) {
      const current = await sandbox(`Appointment/${appointmentId}`);
      const edited = await sandboxWrite("PUT", `Appointment/${appointmentId}`, {
        ...current,
        comment: `Edited by the clinic ${versions.length + 1}`,
      });
      versions.push(edited.meta.versionId);
    }
    const res = await fetch(input, init);
    if (put) puts.push({ ifMatch: new Headers(init?.headers).get("If-Match"), status: res.status });
    return res;
  };
  return { fetch: wrapped, puts, versions };
}

let ws: TestWorkspace;
const call = (method: string, path: string, body?: unknown, role: "viewer" | "operator" = "operator") =>
  api(method, `/v1/${ws.id}/scheduling${path}`, { key: ws.keys[role], ...(body ? { body } : {}) });

const book = (slotId: string, patient: string, key = `book-${unique()}`) =>
  call("POST", "/appointments", { slot_id: slotId, patient, idempotency_key: key });

/** A booked appointment in `slotId` for a patient linked to the sandbox's `Patient/<fhirId>`. */
async function bookedFor(fhirId: string, slotId: string) {
  const patient = await ehrLinkedPatient(ws, fhirId);
  const booked = await book(slotId, patient);
  expect(booked.status, booked.text).toBe(201);
  return { patient, id: booked.body.appointment_id as string, version: booked.body.version as string };
}

/** The module's cancellation (as the call engine calls it), its FHIR client calling through `fetch`. */
const cancelThrough = (id: string, fetch: typeof globalThis.fetch) =>
  cancelAppointment(
    env,
    ws.id,
    { appointment_id: id, reason: "Patient asked to cancel" },
    { clientOptions: { fetch } },
  );

beforeAll(async () => {
  ws = await createWorkspace();
  await db().update(workspaces).set({ timezone: "America/New_York" }).where(eq(workspaces.id, ws.id));
  await ensureSchedulingSource(ws);
});

describe("finding slots", () => {
  it("answers free slots of a practitioner in the clinic's days and time of day, soonest first", async () => {
    const res = await call(
      "GET",
      "/slots?practitioner_id=pr-chen&start_after=2027-01-25T00:00:00Z&days_of_week=2,4&time_of_day=afternoon&limit=6",
      undefined,
      "viewer",
    );
    expect(res.status, res.text).toBe(200);
    expect(res.body.time_zone).toBe("America/New_York");
    const slots = res.body.results;
    expect(slots).toHaveLength(6);
    for (const slot of slots) {
      expect(slot).toMatchObject({
        practitioner_id: "pr-chen",
        practitioner_name: "Jordan Chen, NP",
        location_id: "loc-harbor",
        schedule_id: "sch-chen",
      });
      const { weekday, hour } = local(slot.start, "America/New_York");
      expect([2, 4]).toContain(weekday);
      expect(hour).toBeGreaterThanOrEqual(12);
      expect(hour).toBeLessThan(17);
    }
    expect(slots.map((s: Json) => s.start)).toEqual([...slots.map((s: Json) => s.start)].sort());
    // Tuesday the 26th, 13:00 in New York: the first afternoon slot after the lunch break.
    expect(slots[0]).toMatchObject({
      slot_id: chenSlot("2027-01-26", "1300"),
      start: "2027-01-26T18:00:00.000Z",
    });
    // Each one is free in the EHR.
    const bundle = await sandbox(`Slot?_id=${slots.map((s: Json) => s.slot_id).join(",")}&status=free`);
    expect(bundle.total).toBe(6);
  });

  it("reads preferences in the workspace's own time zone", async () => {
    await db().update(workspaces).set({ timezone: "America/Los_Angeles" }).where(eq(workspaces.id, ws.id));
    try {
      const res = await call(
        "GET",
        "/slots?practitioner_id=pr-chen&start_after=2027-01-25T00:00:00Z&end_before=2027-01-26T00:00:00Z&time_of_day=afternoon&limit=20",
      );
      expect(res.status, res.text).toBe(200);
      expect(res.body.time_zone).toBe("America/Los_Angeles");
      // Noon to five in Los Angeles is 15:00 to 20:00 in New York, where the clinic closes at 17:00.
      expect(res.body.results.map((s: Json) => s.slot_id)).toEqual(
        ["1500", "1530", "1600", "1630"].map((t) => chenSlot("2027-01-25", t)),
      );
    } finally {
      await db().update(workspaces).set({ timezone: "America/New_York" }).where(eq(workspaces.id, ws.id));
    }
  });

  it("finds by location across its practitioners, within end_before", async () => {
    const res = await call(
      "GET",
      "/slots?location_id=loc-harbor&start_after=2027-01-27T14:00:00Z&end_before=2027-01-27T16:00:00Z&limit=50",
    );
    expect(res.status, res.text).toBe(200);
    const slots = res.body.results;
    expect(new Set(slots.map((s: Json) => s.practitioner_id))).toEqual(new Set(["pr-reyes", "pr-chen"]));
    for (const slot of slots) {
      expect(slot.location_id).toBe("loc-harbor");
      expect(slot.start >= "2027-01-27T14:00:00.000Z" && slot.end <= "2027-01-27T16:00:00.000Z").toBe(true);
    }
    // 9:00 to 11:00 in New York: four half hours for each of the two practitioners.
    expect(slots).toHaveLength(8);
  });

  it("matches a visit type against the slot's appointment and service types", async () => {
    // A Saturday clinic with typed slots (the seed has none on weekends).
    const typed = [
      {
        id: `slot-chen-sat-followup-${unique()}`,
        hour: 14,
        appointmentType: {
          coding: [{ system: "http://terminology.hl7.org/CodeSystem/v2-0276", code: "FOLLOWUP" }],
        },
      },
      { id: `slot-chen-sat-vaccine-${unique()}`, hour: 15, serviceType: [{ text: "Vaccination" }] },
    ];
    for (const slot of typed) {
      const { id, hour, ...types } = slot;
      await sandboxWrite("PUT", `Slot/${id}`, {
        resourceType: "Slot",
        id,
        schedule: { reference: "Schedule/sch-chen" },
        status: "free",
        start: `2027-01-30T${hour}:00:00Z`,
        end: `2027-01-30T${hour}:30:00Z`,
        ...types,
      });
    }
    const window = "start_after=2027-01-30T00:00:00Z&end_before=2027-01-31T00:00:00Z&practitioner_id=pr-chen";
    const followUp = await call("GET", `/slots?${window}&visit_type=followup`);
    expect(followUp.body.results.map((s: Json) => s.slot_id)).toEqual([typed[0]!.id]);
    const vaccine = await call("GET", `/slots?${window}&visit_type=Vaccination`);
    expect(vaccine.body.results.map((s: Json) => s.slot_id)).toEqual([typed[1]!.id]);
    const any = await call("GET", `/slots?${window}`);
    expect(any.body.results).toHaveLength(2);
  });

  it("refuses bad queries with 400", async () => {
    for (const query of [
      "start_after=tomorrow",
      "start_after=2027-01-11T00:00:00Z&days_of_week=8",
      "start_after=2027-01-11T00:00:00Z&time_of_day=noon",
      "start_after=2027-01-11T00:00:00Z&limit=51",
      "start_after=2027-01-11T00:00:00Z&practitioner_id=pr%2Fchen",
      "practitioner_id=pr-chen",
    ]) {
      const res = await call("GET", `/slots?${query}`);
      expect(res.status, query).toBe(400);
      expectError(res, "validation_failed");
    }
  });
});

describe("booking", () => {
  it("books a slot: the EHR holds a booked Appointment and a busy Slot, D1 and the world model record it", async () => {
    const patient = await ehrLinkedPatient(ws, "demo-020");
    const slotId = chenSlot("2027-01-11", "0900");
    const res = await call("POST", "/appointments", {
      slot_id: slotId,
      patient,
      visit_type: "FOLLOWUP",
      idempotency_key: "book-first",
    });
    expect(res.status, res.text).toBe(201);
    expect(res.body).toMatchObject({
      status: "booked",
      slot_id: slotId,
      start: "2027-01-11T14:00:00.000Z",
      end: "2027-01-11T14:30:00.000Z",
      practitioner_id: "pr-chen",
      location_id: "loc-harbor",
      patient_id: "demo-020",
      patient_entity_id: patient,
      visit_type: "FOLLOWUP",
      hold_expires_at: null,
    });
    const id = res.body.appointment_id;

    const appointment = await sandbox(`Appointment/${id}`);
    expect(appointment.status).toBe("booked");
    expect(appointment.slot).toEqual([{ reference: `Slot/${slotId}` }]);
    expect(appointment.identifier).toEqual([{ system: APPOINTMENT_SYSTEM, value: expect.any(String) }]);
    expect(appointment.participant.map((p: Json) => p.actor.reference)).toEqual([
      "Patient/demo-020",
      "Practitioner/pr-chen",
      "Location/loc-harbor",
    ]);
    expect(appointment.appointmentType.coding[0].code).toBe("FOLLOWUP");
    expect((await sandbox(`Slot/${slotId}`)).status).toBe("busy");

    const [synced] = await db()
      .select()
      .from(syncEvents)
      .where(and(eq(syncEvents.workspaceId, ws.id), eq(syncEvents.fhirResourceId, id)));
    expect(synced).toMatchObject({
      kind: "appointment",
      status: "synced",
      fhirResourceType: "Appointment",
      entityId: patient,
      dataSourceId: expect.stringMatching(/^ds_/),
    });
    expect(await auditOf(id)).toEqual([["scheduling.appointment_booked", "api_key"]]);

    // The world model shows the booking at once, as the EHR's fact.
    const [event] = await db()
      .select()
      .from(worldEvents)
      .where(and(eq(worldEvents.workspaceId, ws.id), eq(worldEvents.fhirResourceId, id)));
    expect(event).toMatchObject({ eventType: "appointment.recorded", source: "ehr", confidence: 1 });
    const entity = await api("GET", `/v1/${ws.id}/world/entities/${event!.entityId}`, {
      key: ws.keys.viewer,
    });
    const facts = Object.fromEntries(entity.body.facts.map((f: Json) => [f.path, f.value]));
    expect(facts).toMatchObject({
      "appointment.status": "booked",
      "appointment.start": "2027-01-11T14:00:00.000Z",
      "appointment.practitioner_id": "Practitioner/pr-chen",
    });
  });

  it("makes one appointment of a booking retried with the same idempotency key", async () => {
    const patient = await ehrLinkedPatient(ws, "demo-021");
    const slotId = chenSlot("2027-01-11", "0930");
    const first = await book(slotId, patient, "book-twice");
    expect(first.status, first.text).toBe(201);
    const again = await book(slotId, patient, "book-twice");
    expect(again.status, again.text).toBe(200);
    expect(again.body.appointment_id).toBe(first.body.appointment_id);
    expect((await sandbox(`Appointment?slot=Slot/${slotId}`)).total).toBe(1);
    const rows = await db()
      .select()
      .from(syncEvents)
      .where(
        and(eq(syncEvents.workspaceId, ws.id), eq(syncEvents.fhirResourceId, first.body.appointment_id)),
      );
    expect(rows).toHaveLength(1);

    // The same key for another slot is a mistake, not a second booking.
    const reused = await book(chenSlot("2027-01-11", "1130"), patient, "book-twice");
    expect(reused.status).toBe(409);
    expectError(reused, "conflict");
    expect((await sandbox(`Slot/${chenSlot("2027-01-11", "1130")}`)).status).toBe("free");
  });

  it("lets exactly one of two simultaneous bookings of a slot win; the other gets the next options", async () => {
    const [a, b] = await Promise.all([ehrLinkedPatient(ws, "demo-022"), ehrLinkedPatient(ws, "demo-023")]);
    const slotId = chenSlot("2027-01-11", "1000");
    const answers = await Promise.all([book(slotId, a!), book(slotId, b!)]);
    expect(answers.map((r) => r.status).sort()).toEqual([201, 409]);
    const lost = answers.find((r) => r.status === 409)!;
    expectError(lost, "conflict");
    expect(lost.body.error.details.reason).toBe("slot_taken");
    const options = lost.body.error.details.next_options;
    // The next three free slots of the same schedule (11:30 was refused to a reused key above).
    expect(options.map((o: Json) => o.slot_id)).toEqual(
      ["1030", "1100", "1130"].map((t) => chenSlot("2027-01-11", t)),
    );
    for (const option of options) {
      expect(option).toMatchObject({ practitioner_id: "pr-chen", location_id: "loc-harbor" });
      expect(option.start > "2027-01-11T15:00:00.000Z").toBe(true);
      expect((await sandbox(`Slot/${option.slot_id}`)).status).toBe("free");
    }
    const holders = await sandbox(`Appointment?slot=Slot/${slotId}&status=booked,pending`);
    expect(holders.total).toBe(1);
  });

  it("holds a slot, gives the same hold on a retry, and books the hold", async () => {
    const patient = await ehrLinkedPatient(ws, "demo-024");
    const slotId = chenSlot("2027-01-12", "0900");
    const before = Date.now();
    const hold = await call("POST", "/holds", { slot_id: slotId, patient, hold_minutes: 10 });
    expect(hold.status, hold.text).toBe(201);
    expect(hold.body.status).toBe("pending");
    const expires = Date.parse(hold.body.hold_expires_at);
    expect(expires).toBeGreaterThanOrEqual(before + 10 * 60_000 - 1000);
    expect(expires).toBeLessThanOrEqual(Date.now() + 10 * 60_000 + 1000);
    expect((await sandbox(`Slot/${slotId}`)).status).toBe("busy");

    const retried = await call("POST", "/holds", { slot_id: slotId, patient });
    expect(retried.status, retried.text).toBe(200);
    expect(retried.body.appointment_id).toBe(hold.body.appointment_id);

    // Someone else cannot hold it meanwhile.
    const rival = await call("POST", "/holds", {
      slot_id: slotId,
      patient: await ehrLinkedPatient(ws, "demo-025"),
    });
    expect(rival.status).toBe(409);
    expect(rival.body.error.details.reason).toBe("slot_taken");

    const booked = await call("POST", "/appointments", {
      hold_id: hold.body.appointment_id,
      patient,
      idempotency_key: `confirm-${unique()}`,
    });
    expect(booked.status, booked.text).toBe(201);
    expect(booked.body).toMatchObject({
      appointment_id: hold.body.appointment_id,
      status: "booked",
      hold_expires_at: null,
    });
    const stored = await sandbox(`Appointment/${hold.body.appointment_id}`);
    expect(stored.status).toBe("booked");
    expect(stored.extension ?? []).toEqual([]);
    expect((await sandbox(`Slot/${slotId}`)).status).toBe("busy");

    const confirmedAgain = await call("POST", "/appointments", {
      hold_id: hold.body.appointment_id,
      patient,
      idempotency_key: `confirm-${unique()}`,
    });
    expect(confirmedAgain.status).toBe(200);
    expect(confirmedAgain.body.version).toBe(booked.body.version);
  });

  it("books the patient's own hold when asked by slot id, and refuses another patient's hold", async () => {
    const patient = await ehrLinkedPatient(ws, "demo-026");
    const slotId = chenSlot("2027-01-19", "0900");
    const hold = await call("POST", "/holds", { slot_id: slotId, patient });
    expect(hold.status, hold.text).toBe(201);
    const other = await call("POST", "/appointments", {
      hold_id: hold.body.appointment_id,
      patient: await ehrLinkedPatient(ws, "demo-027"),
      idempotency_key: `other-${unique()}`,
    });
    expect(other.status).toBe(409);
    expectError(other, "conflict");
    const booked = await book(slotId, patient);
    expect(booked.status, booked.text).toBe(201);
    expect(booked.body).toMatchObject({ appointment_id: hold.body.appointment_id, status: "booked" });
    expect((await sandbox(`Appointment?slot=Slot/${slotId}`)).total).toBe(1);
  });

  it("creates the EHR record of a patient who has none, once, and links it to the entity", async () => {
    const res = await api("POST", `/v1/${ws.id}/world/events`, {
      key: ws.keys.operator,
      body: {
        events: [
          {
            idempotency_key: `new-patient-${unique()}`,
            entity: { entity_type: "patient", external_id: `phone:Patient:${unique()}` },
            event_type: "demographics.recorded",
            data: {
              given_name: "Ines",
              family_name: `Marlowe${unique().replace(/\d/g, "x")}`,
              birth_date: "1991-07-30",
            },
            source: "voice",
            confidence: 0.9,
          },
        ],
      },
    });
    expect(res.status, res.text).toBe(200);
    const patient = res.body.results[0].entity_id;
    const first = await book(chenSlot("2027-01-18", "0900"), patient);
    expect(first.status, first.text).toBe(201);
    const fhirId = first.body.patient_id;
    expect(fhirId).toMatch(/^[A-Za-z0-9.-]+$/);
    const record = await sandbox(`Patient/${fhirId}`);
    expect(record.identifier).toEqual([{ system: PATIENT_SYSTEM, value: patient }]);
    expect(record).toMatchObject({ birthDate: "1991-07-30", name: [{ given: ["Ines"] }] });

    const second = await book(chenSlot("2027-01-18", "0930"), patient);
    expect(second.status, second.text).toBe(201);
    expect(second.body.patient_id).toBe(fhirId);
    expect((await sandbox(`Patient?identifier=${PATIENT_SYSTEM}|${patient}`)).total).toBe(1);
    // The entity now carries the EHR's id, so the connector's next poll of that Patient lands on it.
    const entity = await api("GET", `/v1/${ws.id}/world/entities/${patient}`, { key: ws.keys.viewer });
    expect(entity.body.facts.map((f: Json) => f.value)).toContain(`ehr:Patient:${fhirId}`);
  });
});

describe("rescheduling and cancelling", () => {
  it("moves an appointment: the new slot is booked first, then the old one is freed; a retry changes nothing", async () => {
    const from = chenSlot("2027-01-13", "0900");
    const to = chenSlot("2027-01-13", "1000");
    const { id } = await bookedFor("demo-030", from);
    const moved = await call("POST", `/appointments/${id}/reschedule`, {
      new_slot_id: to,
      idempotency_key: "move-1",
    });
    expect(moved.status, moved.text).toBe(200);
    expect(moved.body.appointment).toMatchObject({ status: "booked", slot_id: to, patient_id: "demo-030" });
    expect(moved.body.previous).toMatchObject({
      appointment_id: id,
      status: "cancelled",
    });
    expect((await sandbox(`Slot/${from}`)).status).toBe("free");
    expect((await sandbox(`Slot/${to}`)).status).toBe("busy");
    expect((await sandbox(`Appointment/${id}`)).status).toBe("cancelled");

    const again = await call("POST", `/appointments/${id}/reschedule`, {
      new_slot_id: to,
      idempotency_key: "move-1",
    });
    expect(again.status, again.text).toBe(200);
    expect(again.body.appointment.appointment_id).toBe(moved.body.appointment.appointment_id);
    const active = await sandbox("Appointment?patient=Patient/demo-030&status=booked,pending");
    expect(active.total).toBe(1);

    // Moving the old one again under another key would book a second appointment: refused.
    const elsewhere = chenSlot("2027-01-13", "1030");
    const twice = await call("POST", `/appointments/${id}/reschedule`, {
      new_slot_id: elsewhere,
      idempotency_key: "move-2",
    });
    expect(twice.status).toBe(409);
    expectError(twice, "conflict");
    expect((await sandbox(`Slot/${elsewhere}`)).status).toBe("free");
  });

  it("withdraws the new booking when the EHR will not release the old one, and a retry completes the move", async () => {
    const from = chenSlot("2027-01-20", "1300");
    const to = chenSlot("2027-01-20", "1400");
    const { id: oldId } = await bookedFor("demo-035", from);
    // The EHR fails every write to the old appointment (the Worker runs in this isolate: same fetch).
    const realFetch = globalThis.fetch;
    globalThis.fetch = (async (input: RequestInfo | URL, init?: RequestInit) => {
      const url = input instanceof Request ? input.url : String(input);
      if (init?.method === "PUT" && url.endsWith(`/Appointment/${oldId}`))
        return new Response(JSON.stringify({ resourceType: "OperationOutcome", issue: [] }), { status: 503 });
      return realFetch(input, init);
    }) as typeof fetch;
    let failed: Json;
    try {
      failed = await call("POST", `/appointments/${oldId}/reschedule`, {
        new_slot_id: to,
        idempotency_key: "move-3",
      });
    } finally {
      globalThis.fetch = realFetch;
    }
    expect(failed.status, failed.text).toBe(502);
    expectError(failed, "upstream_error");
    // Nothing changed for the patient: the old booking stands, the new slot is free again.
    expect((await sandbox(`Appointment/${oldId}`)).status).toBe("booked");
    expect((await sandbox(`Slot/${from}`)).status).toBe("busy");
    expect((await sandbox(`Slot/${to}`)).status).toBe("free");
    expect((await sandbox("Appointment?patient=Patient/demo-035&status=booked,pending")).total).toBe(1);

    const retried = await call("POST", `/appointments/${oldId}/reschedule`, {
      new_slot_id: to,
      idempotency_key: "move-3",
    });
    expect(retried.status, retried.text).toBe(200);
    expect((await sandbox(`Appointment/${oldId}`)).status).toBe("cancelled");
    expect((await sandbox(`Slot/${to}`)).status).toBe("busy");
    expect((await sandbox(`Slot/${from}`)).status).toBe("free");
    const active = await sandbox("Appointment?patient=Patient/demo-035&status=booked,pending");
    expect(active.entry.map((e: Json) => e.resource.id)).toEqual([retried.body.appointment.appointment_id]);
  });

  it("leaves the appointment where it is when the new slot is taken, and offers the next ones", async () => {
    const from = chenSlot("2027-01-13", "1100");
    const taken = chenSlot("2027-01-13", "1300");
    const { id } = await bookedFor("demo-031", from);
    await bookedFor("demo-032", taken);
    const res = await call("POST", `/appointments/${id}/reschedule`, {
      new_slot_id: taken,
      idempotency_key: `move-${unique()}`,
    });
    expect(res.status).toBe(409);
    expect(res.body.error.details.reason).toBe("slot_taken");
    expect(res.body.error.details.next_options[0].slot_id).toBe(chenSlot("2027-01-13", "1330"));
    expect((await sandbox(`Appointment/${id}`)).status).toBe("booked");
    expect((await sandbox(`Slot/${from}`)).status).toBe("busy");
  });

  it("cancels: the EHR frees the slot; cancelling again changes nothing", async () => {
    const slotId = chenSlot("2027-01-14", "0900");
    const { patient, id } = await bookedFor("demo-033", slotId);
    const cancelled = await call("POST", `/appointments/${id}/cancel`, { reason: "Patient asked to cancel" });
    expect(cancelled.status, cancelled.text).toBe(200);
    expect(cancelled.body).toMatchObject({
      appointment_id: id,
      status: "cancelled",
      patient_entity_id: patient,
    });
    const stored = await sandbox(`Appointment/${id}`);
    expect(stored).toMatchObject({
      status: "cancelled",
      cancelationReason: { text: "Patient asked to cancel" },
    });
    expect((await sandbox(`Slot/${slotId}`)).status).toBe("free");

    const audited = async () => (await auditOf(id)).map(([action]) => action);
    expect(await audited()).toEqual(["scheduling.appointment_booked", "scheduling.appointment_cancelled"]);
    const again = await call("POST", `/appointments/${id}/cancel`, { reason: "Patient asked to cancel" });
    expect(again.status).toBe(200);
    expect(again.body.version).toBe(cancelled.body.version);
    expect(await audited()).toHaveLength(2);
  });

  it("re-reads an appointment changed between its read and its write (412) and cancels the newer version", async () => {
    const slotId = chenSlot("2027-01-14", "1000");
    const { patient, id, version } = await bookedFor("demo-036", slotId);
    // The clinic edits the appointment just before the module's PUT reaches the EHR, once.
    const edits = interferingFetch(id, 1);

    const cancelled = await cancelThrough(id, edits.fetch);
    expect(edits.puts).toEqual([
      { ifMatch: `W/"${version}"`, status: 412 },
      { ifMatch: `W/"${edits.versions[0]}"`, status: 200 },
    ]);
    expect(cancelled).toMatchObject({ appointment_id: id, status: "cancelled", patient_entity_id: patient });
    const stored = await sandbox(`Appointment/${id}`);
    expect(stored).toMatchObject({ status: "cancelled", comment: "Edited by the clinic 1" });
    expect(stored.meta.versionId).toBe(cancelled.version);
    expect((await sandbox(`Slot/${slotId}`)).status).toBe("free");
    // Called without the API's `record`: the cancellation is audited as the system's.
    expect(await auditOf(id)).toEqual([
      ["scheduling.appointment_booked", "api_key"],
      ["scheduling.appointment_cancelled", "system"],
    ]);
  });

  it("tries a write that keeps losing to concurrent changes only once more, then answers upstream_error", async () => {
    const slotId = chenSlot("2027-01-14", "1100");
    const { id } = await bookedFor("demo-037", slotId);
    const edits = interferingFetch(id, Number.POSITIVE_INFINITY);

    await expect(cancelThrough(id, edits.fetch)).rejects.toMatchObject({
      code: "upstream_error",
      details: { status: 412 },
    });
    expect(edits.puts.map((p) => p.status)).toEqual([412, 412]);
    expect(await sandbox(`Appointment/${id}`)).toMatchObject({
      status: "booked",
      comment: "Edited by the clinic 2",
    });
    expect((await sandbox(`Slot/${slotId}`)).status).toBe("busy");
  });

  it("answers 404 for an appointment or slot the EHR does not have", async () => {
    const missing = await call("POST", "/appointments/no-such-appointment/cancel", { reason: "Duplicate" });
    expect(missing.status).toBe(404);
    expectError(missing, "not_found");
    const slot = await book("slot-chen-19990101-0900", await ehrLinkedPatient(ws));
    expect(slot.status).toBe(404);
    expectError(slot, "not_found");
    const patient = await book(chenSlot("2027-01-21", "0900"), newId("ent"));
    expect(patient.status).toBe(404);
    expect((await sandbox(`Slot/${chenSlot("2027-01-21", "0900")}`)).status).toBe("free");
  });
});

describe("lapsed holds", () => {
  it("are cancelled by the sweep, which frees their slots and leaves live holds alone", async () => {
    const patient = await ehrLinkedPatient(ws, "demo-034");
    const short = chenSlot("2027-01-15", "0900");
    const long = chenSlot("2027-01-15", "0930");
    const lapsing = await call("POST", "/holds", { slot_id: short, patient, hold_minutes: 1 });
    const live = await call("POST", "/holds", { slot_id: long, patient, hold_minutes: 10 });
    expect([lapsing.status, live.status]).toEqual([201, 201]);

    const released = await expireHolds(env, new Date(Date.now() + 2 * 60_000));
    expect(released).toBeGreaterThanOrEqual(1);
    expect(await sandbox(`Appointment/${lapsing.body.appointment_id}`)).toMatchObject({
      status: "cancelled",
      cancelationReason: { text: "Hold expired" },
    });
    expect((await sandbox(`Slot/${short}`)).status).toBe("free");
    expect((await sandbox(`Appointment/${live.body.appointment_id}`)).status).toBe("pending");
    expect((await sandbox(`Slot/${long}`)).status).toBe("busy");
    const [audit] = await db()
      .select()
      .from(auditLog)
      .where(and(eq(auditLog.workspaceId, ws.id), eq(auditLog.action, "scheduling.hold_expired")));
    expect(audit).toMatchObject({ actorType: "system", targetId: lapsing.body.appointment_id });

    // Booking the lapsed hold books its slot outright, since it is still free.
    const booked = await call("POST", "/appointments", {
      hold_id: lapsing.body.appointment_id,
      patient,
      idempotency_key: `after-lapse-${unique()}`,
    });
    expect(booked.status, booked.text).toBe(201);
    expect(booked.body.slot_id).toBe(short);
    expect(booked.body.appointment_id).not.toBe(lapsing.body.appointment_id);
    expect((await sandbox(`Slot/${short}`)).status).toBe("busy");
  }, 30_000);
});

describe("configuration and upstream failures", () => {
  it("answers 409 when the workspace has no scheduling source", async () => {
    const bare = await createWorkspace();
    const slots = await api("GET", `/v1/${bare.id}/scheduling/slots?start_after=2027-01-11T00:00:00Z`, {
      key: bare.keys.viewer,
    });
    expect(slots.status).toBe(409);
    expectError(slots, "conflict");
    expect(slots.body.error.message).toMatch(/No EHR scheduling source configured/);
  });

  it("answers 502 upstream_error when the EHR does not answer, with nothing written", async () => {
    const down = await createWorkspace();
    const id = newId("ds");
    await db()
      .insert(dataSources)
      .values({
        id,
        workspaceId: down.id,
        name: "Unreachable EHR",
        type: "fhir_store",
        baseUrl: "http://127.0.0.1:9/fhir/R4",
        sourceSystem: "ehr",
        auth: { type: "static_bearer" },
        secretsEnc: await sealSecrets(env, down.id, id, { bearer_token: "unreachable-token" }),
        resourceTypes: ["Appointment"],
        writeback: true,
        pollIntervalSeconds: 86_400,
        lastPollAt: new Date().toISOString(),
      });
    const slots = await api("GET", `/v1/${down.id}/scheduling/slots?start_after=2027-01-11T00:00:00Z`, {
      key: down.keys.viewer,
    });
    expect(slots.status, slots.text).toBe(502);
    expectError(slots, "upstream_error");
    const hold = await api("POST", `/v1/${down.id}/scheduling/holds`, {
      key: down.keys.operator,
      body: { slot_id: chenSlot("2027-01-22", "0900"), patient: await ehrLinkedPatient(down) },
    });
    expect(hold.status, hold.text).toBe(502);
    const written = await db().select().from(syncEvents).where(eq(syncEvents.workspaceId, down.id));
    expect(written).toEqual([]);
  });
});
