/**
 * Scripted calls through the ConversationRelay protocol, end to end: the signed voice webhook, the relay
 * socket, the real CallSession, the LocalEngine on the demo graphs, the real tools (`executeTools`, never
 * swapped) and the suite's shared FHIR sandbox. Each conversation asserts where the call ended (the
 * session's state and the D1 call row), the tools it ran (the `tool` call events), what changed in the
 * world model (this workspace's world events and facts) and in the EHR (Appointments read back from the
 * sandbox).
 *
 * Sandbox partition: these scripts book and move pr-lindqvist's slots on 2027-01-25..29 only. Slot
 * searches are the engine's own (every practitioner's slots may be offered); the caller always picks the
 * pr-lindqvist option, by the clinician's name or by what they heard, so no other suite's slot is taken.
 */
import { env } from "cloudflare:workers";
import { and, eq } from "drizzle-orm";
import { describe, expect, inject, it } from "vitest";
import {
  DEMO_INQUIRIES_SERVICE_ID,
  DEMO_KNOWLEDGE,
  DEMO_SCHEDULING_SERVICE_ID,
  INQUIRIES_GRAPH,
  SCHEDULING_GRAPH,
  TRIAGE_GRAPH,
} from "../../scripts/demo-graphs";
import type { ContextGraphInput } from "../../shared/calls/context-graph";
import type { OfferedOption } from "../../shared/engine/extract";
import { worldEvents } from "../../workers/db/schema";
import { getTranscript } from "../../workers/world/memory";
import { db } from "../helpers/db";
import { api } from "../helpers/http";
import { ensureSchedulingSource } from "../helpers/operations";
import { unique, uniquePhoneNumber } from "../helpers/workspace";
import { factAt, ingestPatient, type WorldFixture } from "../world/fixtures";
import {
  endedCall,
  type Frame,
  hangUpCompleted,
  RelayCall,
  relayLine,
  sessionSnapshot,
} from "./relay-client";

const ehr = inject("ehrSandbox");
/** Letters only, so a name survives every normalization unchanged. */
const letters = () => unique().replace(/\d/g, (d) => "qrstuvwxyz"[Number(d)]!);

const BIRTH_DATE = "1980-04-02";

/** The demo knowledge a service of the demo clinic answers from. */
const knowledgeOf = (serviceId: string) =>
  DEMO_KNOWLEDGE.filter((k) => k.services.includes(serviceId)).map(({ kind, title, body, keywords }) => ({
    kind,
    title,
    body,
    keywords,
  }));

/** A ConversationRelay line on `graph` in a fresh workspace with the sandbox as its scheduling source. */
async function clinic(graph: ContextGraphInput, knowledgeService?: string) {
  const line = await relayLine(graph, knowledgeService ? knowledgeOf(knowledgeService) : []);
  await ensureSchedulingSource(line.ws);
  const f: WorldFixture = {
    ws: { id: line.ws.id, keys: line.ws.keys, keyIds: line.ws.keyIds },
    call: (role, method, path, body) =>
      api(method, `/v1/${line.ws.id}${path}`, { key: line.ws.keys[role], ...(body ? { body } : {}) }),
  };
  return { line, f };
}

/** A patient of this workspace, as the EHR connector would have ingested them, reachable at `phone`. */
async function patient(f: WorldFixture) {
  const family = `Lindgren${letters()}`;
  const phone = uniquePhoneNumber();
  const id = await ingestPatient(f, {
    given_name: "Maria",
    family_name: family,
    birth_date: BIRTH_DATE,
    phone,
  });
  return { id, family, phone };
}

/** Books `slotId` for the patient through the scheduling API (an appointment made before the call). */
async function bookBeforeCall(f: WorldFixture, patientEntityId: string, slotId: string): Promise<string> {
  const res = await f.call("owner", "POST", "/scheduling/appointments", {
    slot_id: slotId,
    patient: patientEntityId,
    idempotency_key: `relay-script-${unique()}`,
  });
  expect(res.status, res.text).toBe(201);
  return res.body.appointment_id;
}

interface FhirAppointment {
  id: string;
  status: string;
  start: string;
  slot?: { reference?: string }[];
  participant: { actor?: { reference?: string } }[];
}

async function fhirRead<T>(path: string): Promise<T> {
  const res = await fetch(`${ehr.fhirBaseUrl}/${path}`, {
    headers: { Authorization: `Bearer ${ehr.staticToken}`, Accept: "application/fhir+json" },
  });
  expect(res.status, path).toBe(200);
  return (await res.json()) as T;
}

const patientRef = (a: FhirAppointment) =>
  a.participant.map((p) => p.actor?.reference).find((r) => r?.startsWith("Patient/"));
const practitionerRefs = (a: FhirAppointment) => a.participant.map((p) => p.actor?.reference);

/** This workspace's world events, oldest first (ids, types and FHIR names: `data` is sealed). */
async function worldEventsOf(workspaceId: string) {
  return db()
    .select({
      id: worldEvents.id,
      entityId: worldEvents.entityId,
      eventType: worldEvents.eventType,
      source: worldEvents.source,
      producedBy: worldEvents.producedBy,
      fhirResourceType: worldEvents.fhirResourceType,
      fhirResourceId: worldEvents.fhirResourceId,
      ingestedAt: worldEvents.ingestedAt,
    })
    .from(worldEvents)
    .where(eq(worldEvents.workspaceId, workspaceId))
    .orderBy(worldEvents.ingestedAt, worldEvents.id);
}

/** The world model's facts about the EHR's Appointment `appointmentId` (its entity, from its events). */
async function appointmentFacts(f: WorldFixture, appointmentId: string) {
  const [event] = await db()
    .select({ entityId: worldEvents.entityId })
    .from(worldEvents)
    .where(
      and(
        eq(worldEvents.workspaceId, f.ws.id),
        eq(worldEvents.fhirResourceType, "Appointment"),
        eq(worldEvents.fhirResourceId, appointmentId),
      ),
    );
  expect(event, `no world event for Appointment/${appointmentId}`).toBeDefined();
  const fact = async (field: string) => (await factAt(f, event!.entityId, `appointment.${field}`))?.value;
  return {
    status: await fact("status"),
    start: await fact("start"),
    patient_id: await fact("patient_id"),
    practitioner_id: await fact("practitioner_id"),
  };
}

/**
 * pr-lindqvist's option among the offers (the one this file may book) and its place; every offer must
 * have been read out (labels name the clinician).
 */
function lindqvistOption(offerText: string, options: OfferedOption[]) {
  const index = options.findIndex((o) => o.id.startsWith("slot-lindqvist-"));
  expect(index, JSON.stringify(options)).toBeGreaterThanOrEqual(0);
  for (const o of options) expect(offerText).toContain(o.label);
  const option = options[index]!;
  expect(option.start).toMatch(/^2027-01-2\dT/);
  return { index, option: option as Required<OfferedOption> };
}

/** What the session offered: the engine state's offers right after a `find_slots` turn. */
async function offered(callId: string) {
  const snap = await sessionSnapshot(callId);
  return snap.engineState?.offered ?? [];
}

/** Every `text` token the agent sent on the call. */
const agentTokens = (call: RelayCall) =>
  call.frames.filter((f: Frame) => f.type === "text").map((f: Frame) => String(f.token));

/** The verified caller's opening: recognised by number, greeted without PHI, verified by name and birth date. */
async function verifiedOpening(call: RelayCall, family: string) {
  const greeting = await call.reply();
  expect(greeting.text).not.toContain(family);
  await call.say(`This is Maria ${family}`);
  const verified = await call.say("April 2nd 1980");
  expect(verified.text).toMatch(/help/i);
}

describe("scripted calls through ConversationRelay with the real tools", () => {
  it("reschedules an appointment: the old one is cancelled, the new slot booked, the world model follows", async () => {
    const { line, f } = await clinic(SCHEDULING_GRAPH, DEMO_SCHEDULING_SERVICE_ID);
    const p = await patient(f);
    const originalId = await bookBeforeCall(f, p.id, "slot-lindqvist-20270125-1000");

    const call = await RelayCall.connect(line.number.e164, p.phone);
    await verifiedOpening(call, p.family);
    const found = await call.say("I need to reschedule my appointment");
    // The appointment found is read back to the verified caller.
    expect(found.text).toContain("Monday, January 25 at 10:00 AM with Erik Lindqvist");
    await call.say("yes, that one");
    const offer = await call.say("Wednesday January 27th 2027 in the afternoon");
    const { option } = lindqvistOption(offer.text, await offered(call.callId));
    expect(option.id).toMatch(/^slot-lindqvist-20270127-1[3-6]/);
    const chosen = await call.say("the one with Doctor Lindqvist please");
    expect(chosen.text).toContain(option.label.split(" with ")[0]!);
    const moved = await call.say("yes");
    expect(moved.text).toContain("January 27");
    const ended = await hangUpCompleted(call);
    expect(ended.row).toMatchObject({ finalState: "end", escalated: false, patientEntityId: p.id });
    expect(ended.tools).toEqual([
      { name: "verify_identity", outcome: "ok" },
      { name: "patient_context", outcome: "ok" },
      { name: "find_slots", outcome: "ok" },
      { name: "reschedule_appointment", outcome: "ok" },
    ]);

    // The EHR: the original is cancelled as rescheduled, a new appointment holds the chosen slot.
    const original = await fhirRead<FhirAppointment>(`Appointment/${originalId}`);
    expect(original.status).toBe("cancelled");
    const search = await fhirRead<{ entry?: { resource: FhirAppointment }[] }>(
      `Appointment?patient=${patientRef(original)}&status=booked`,
    );
    const booked = (search.entry ?? []).map((e) => e.resource);
    expect(booked).toHaveLength(1);
    expect(booked[0]!.slot?.[0]?.reference).toBe(`Slot/${option.id}`);
    expect(booked[0]!.start).toBe(option.start);
    expect(practitionerRefs(booked[0]!)).toContain("Practitioner/pr-lindqvist");
    const freed = await fhirRead<{ status: string }>("Slot/slot-lindqvist-20270125-1000");
    expect(freed.status).toBe("free");

    // The world model: both appointments as the EHR now has them, on this patient.
    expect(await appointmentFacts(f, originalId)).toMatchObject({
      status: "cancelled",
      patient_id: patientRef(original),
    });
    expect(await appointmentFacts(f, booked[0]!.id)).toMatchObject({
      status: "booked",
      start: option.start,
      patient_id: patientRef(original),
      practitioner_id: "Practitioner/pr-lindqvist",
    });
  });

  it("books a new appointment, the caller choosing one of the offered slots by its clinician", async () => {
    const { line, f } = await clinic(SCHEDULING_GRAPH, DEMO_SCHEDULING_SERVICE_ID);
    const p = await patient(f);
    const before = await worldEventsOf(f.ws.id);

    const call = await RelayCall.connect(line.number.e164, p.phone);
    await verifiedOpening(call, p.family);
    expect((await sessionSnapshot(call.callId)).call).toMatchObject({ returning: true, verified: true });
    await call.say("I need to make an appointment");
    const offer = await call.say("Friday January 29th 2027 in the afternoon");
    const options = await offered(call.callId);
    expect(options.length).toBeGreaterThan(1);
    const { option } = lindqvistOption(offer.text, options);
    // Friday afternoon, as asked (13:00-17:00 in the clinic's zone).
    for (const o of options) expect(o.id).toMatch(/^slot-[a-z]+-20270129-1[3-6]/);
    const readBack = await call.say("I'd like the one with Doctor Lindqvist");
    expect(readBack.text).toContain(option.label.split(" with ")[0]!);
    expect((await sessionSnapshot(call.callId)).engineState?.state_id).toBe("confirm_booking");
    const booked = await call.say("yes please");
    expect(booked.end).toBeNull();
    const ended = await hangUpCompleted(call);
    expect(ended.row).toMatchObject({ finalState: "end", escalated: false, patientEntityId: p.id });
    expect(ended.tools).toEqual([
      { name: "verify_identity", outcome: "ok" },
      { name: "find_slots", outcome: "ok" },
      { name: "book_appointment", outcome: "ok" },
    ]);
    expect(ended.ofKind("state").map((s) => s.to)).toEqual(
      expect.arrayContaining(["identify_need", "offer_slots", "confirm_booking", "wrap_up", "end"]),
    );

    // The world model: one new appointment (and the call remembered on the patient).
    const added = (await worldEventsOf(f.ws.id)).filter((e) => !before.some((b) => b.id === e.id));
    const appointmentEvents = added.filter((e) => e.eventType === "appointment.recorded");
    expect(appointmentEvents).toHaveLength(1);
    const appointmentId = appointmentEvents[0]!.fhirResourceId!;
    expect(added.filter((e) => e.entityId === p.id).map((e) => e.eventType)).toContain(
      "interaction.recorded",
    );

    // The EHR: the chosen slot (not simply the first offered), booked for this caller's patient record.
    const appointment = await fhirRead<FhirAppointment>(`Appointment/${appointmentId}`);
    expect(appointment.status).toBe("booked");
    expect(appointment.slot?.[0]?.reference).toBe(`Slot/${option.id}`);
    expect(appointment.start).toBe(option.start);
    expect(practitionerRefs(appointment)).toContain("Practitioner/pr-lindqvist");
    expect((await fhirRead<{ status: string }>(`Slot/${option.id}`)).status).toBe("busy");
    expect(await appointmentFacts(f, appointmentId)).toEqual({
      status: "booked",
      start: option.start,
      patient_id: patientRef(appointment),
      practitioner_id: "Practitioner/pr-lindqvist",
    });
  });

  it("answers office hours and colonoscopy preparation from the clinic's knowledge, and changes nothing", async () => {
    const { line, f } = await clinic(INQUIRIES_GRAPH, DEMO_INQUIRIES_SERVICE_ID);
    const call = await RelayCall.connect(line.number.e164, uniquePhoneNumber());
    await call.reply();
    const hours = await call.say("What are your opening hours?");
    expect(hours.text).toContain("9 a.m. to noon and 1 p.m. to 5 p.m.");
    const prep = await call.say("How do I prepare for my colonoscopy?");
    expect(prep.text).toContain("clear liquids only");
    expect(prep.text).toContain("arrange for an adult to drive you home");
    expect(prep.end).toBeNull();
    const bye = await call.say("no, that's all, thanks");
    expect(JSON.parse(bye.end.handoffData)).toEqual({ reason: "completed" });

    const ended = await endedCall(call.callId);
    expect(ended.row).toMatchObject({ finalState: "end", escalated: false, patientEntityId: null });
    // Answered by the engine from the service's entries: no tool ran, nothing was escalated.
    expect(ended.tools).toEqual([]);
    expect(ended.ofKind("escalation")).toEqual([]);
    expect(await worldEventsOf(f.ws.id)).toEqual([]);
  });

  it("hands a billing question to staff: escalation with the reason, nothing booked", async () => {
    const { line, f } = await clinic(SCHEDULING_GRAPH, DEMO_SCHEDULING_SERVICE_ID);
    const p = await patient(f);
    const before = await worldEventsOf(f.ws.id);

    const call = await RelayCall.connect(line.number.e164, p.phone);
    await verifiedOpening(call, p.family);
    const handed = await call.say("I have a question about my bill, I think I was charged twice");
    expect(handed.text).toMatch(/member of our team/i);
    expect(handed.end).not.toBeNull();
    const handoff = JSON.parse(handed.end.handoffData);
    expect(handoff).toMatchObject({ reason: "escalation", reason_code: "behavior:billing_out_of_scope" });

    const ended = await endedCall(call.callId);
    expect(ended.row).toMatchObject({ finalState: "identify_need", escalated: true, patientEntityId: p.id });
    expect(ended.tools).toEqual([
      { name: "verify_identity", outcome: "ok" },
      { name: "escalate", outcome: "ok" },
    ]);
    expect(ended.ofKind("escalation")).toEqual([
      { reason: "behavior:billing_out_of_scope", state_id: "identify_need" },
    ]);
    // The world model gains only the call on the patient's record; no appointment anywhere.
    const added = (await worldEventsOf(f.ws.id)).filter((e) => !before.some((b) => b.id === e.id));
    expect(added.map((e) => e.eventType)).not.toContain("appointment.recorded");
    expect(added.filter((e) => e.entityId === p.id).map((e) => e.eventType)).toEqual([
      "interaction.recorded",
    ]);
    expect(added.some((e) => e.fhirResourceType !== null)).toBe(false);
  });

  it("escalates chest pain at once on the nurse line, before any other question", async () => {
    const { line, f } = await clinic(TRIAGE_GRAPH);
    const call = await RelayCall.connect(line.number.e164, uniquePhoneNumber());
    const greeting = await call.reply();
    expect(greeting.text).toContain("call 911");
    const urgent = await call.say("I have crushing chest pain and my left arm feels numb");
    expect(urgent.text).toMatch(/911/);
    expect(urgent.end).not.toBeNull();
    const handoff = JSON.parse(urgent.end.handoffData);
    expect(handoff.reason).toBe("escalation");
    expect(handoff.reason_code).toMatch(/^safety:/);

    const ended = await endedCall(call.callId);
    // One caller turn: no identity questions, no symptom intake, straight to a person.
    expect((await sessionSnapshot(call.callId)).turns.map((t) => t.speaker)).toEqual([
      "agent",
      "caller",
      "agent",
    ]);
    expect(ended.row).toMatchObject({
      finalState: "red_flag_screen",
      escalated: true,
      patientEntityId: null,
    });
    expect(ended.tools).toEqual([{ name: "escalate", outcome: "ok" }]);
    expect(ended.ofKind("escalation")).toEqual([
      { reason: handoff.reason_code, state_id: "red_flag_screen" },
    ]);
    expect(await worldEventsOf(f.ws.id)).toEqual([]);
  });

  it("discloses nothing of the record to a caller who fails verification, and hands them to staff", async () => {
    const { line, f } = await clinic(SCHEDULING_GRAPH, DEMO_SCHEDULING_SERVICE_ID);
    const p = await patient(f);
    const appointmentId = await bookBeforeCall(f, p.id, "slot-lindqvist-20270126-1000");
    const before = await worldEventsOf(f.ws.id);

    // Calling from the patient's own number: the session holds their record, and must not read it out.
    const call = await RelayCall.connect(line.number.e164, p.phone);
    await call.reply();
    await call.say(`This is Maria ${p.family}`);
    const failed = await call.say("May 5th 1985");
    expect(failed.text).toMatch(/try again/i);
    const asked = await call.say("When is my appointment?");
    expect(asked.text).toMatch(/once I've verified your identity/i);
    await call.say("let me try again");
    await call.say(`Maria ${p.family}`);
    const again = await call.say("June 6th 1990");
    expect(again.text).toMatch(/try again/i);
    const handed = await call.say("please have someone call me back");
    expect(JSON.parse(handed.end.handoffData)).toMatchObject({ reason: "escalation" });

    const ended = await endedCall(call.callId);
    expect(ended.row).toMatchObject({ finalState: "escalate_to_staff", escalated: true });
    expect(ended.tools).toEqual([
      { name: "verify_identity", outcome: "none" },
      { name: "verify_identity", outcome: "none" },
      { name: "escalate", outcome: "ok" },
    ]);
    expect((await sessionSnapshot(call.callId)).call?.verified).toBe(false);

    const appointment = await fhirRead<FhirAppointment>(`Appointment/${appointmentId}`);
    const phi = [
      p.family,
      p.phone,
      p.phone.slice(-4),
      p.id,
      appointmentId,
      "1980",
      "April",
      "January 26",
      "10:00",
      "Lindqvist",
      patientRef(appointment)!.replace("Patient/", ""),
    ];
    const tokens = agentTokens(call);
    expect(tokens.length).toBeGreaterThan(8);
    for (const token of tokens) for (const s of phi) expect(token, s).not.toContain(s);
    for (const s of phi) expect(tokens.join(""), s).not.toContain(s);

    // Nothing changed: the appointment stands, the world model has no new event (no interaction is
    // remembered on a record the caller was not verified for).
    expect(appointment.status).toBe("booked");
    expect(await worldEventsOf(f.ws.id)).toEqual(before);
  });

  it("trims the agent's offer to what the caller heard when they barge in, and acts on that", async () => {
    const { line, f } = await clinic(SCHEDULING_GRAPH, DEMO_SCHEDULING_SERVICE_ID);
    const p = await patient(f);
    const call = await RelayCall.connect(line.number.e164, p.phone);
    await verifiedOpening(call, p.family);
    await call.say("I need to make an appointment");
    const offer = await call.say("Thursday January 28th 2027 in the morning");
    const options = await offered(call.callId);
    const { index, option } = lindqvistOption(offer.text, options);
    for (const o of options) expect(o.id).toMatch(/^slot-[a-z]+-20270128-(09|10|11)/);
    // The caller must have heard less than the whole offer for "the last one" to tell the two apart.
    expect(index, "the pr-lindqvist option was offered last").toBeLessThan(options.length - 1);
    const heard = offer.text.slice(0, offer.text.indexOf(option.label) + option.label.length);

    // Twilio's interrupt: the words spoken before the caller talked over the agent.
    call.send({ type: "interrupt", utteranceUntilInterrupt: heard, durationUntilInterruptMs: 2300 });
    const readBack = await call.say("the last one");
    // The last option the caller heard, not the last one offered.
    expect(readBack.text).toContain(option.label.split(" with ")[0]!);
    const live = await sessionSnapshot(call.callId);
    const offerTurn = live.turns.find((t) => t.speaker === "agent" && t.text === offer.text)!;
    expect(offerTurn.heard).toBe(heard);
    const after = live.turns.filter((t) => t.seq > offerTurn.seq);
    expect(after[0]).toMatchObject({ speaker: "caller", text: "the last one" });
    expect(live.engineState?.collected.selected_option).toMatchObject({ id: option.id });
    await call.say("yes");
    const ended = await hangUpCompleted(call);
    expect(ended.row).toMatchObject({ finalState: "end", escalated: false, patientEntityId: p.id });
    expect(ended.tools).toEqual([
      { name: "verify_identity", outcome: "ok" },
      { name: "find_slots", outcome: "ok" },
      { name: "book_appointment", outcome: "ok" },
    ]);
    // The timeline: the interrupt, on the offer's turn, which is marked as cut short.
    expect(ended.ofKind("interrupt")).toEqual([{ turn: offerTurn.seq, duration_ms: 2300 }]);
    const turns = ended.ofKind("turn");
    expect(turns.find((t) => t.seq === offerTurn.seq)).toMatchObject({ speaker: "agent", interrupted: true });
    expect(turns.filter((t) => t.interrupted)).toHaveLength(1);
    // The transcript: the caller's barge-in right after the offer they cut short.
    const transcript = (await getTranscript(env, line.ws.id, call.callId))!;
    const cut = transcript.turns.findIndex((t) => t.speaker === "agent" && t.text.startsWith(heard));
    expect(cut).toBeGreaterThanOrEqual(0);
    expect(transcript.turns[cut + 1]).toMatchObject({ speaker: "caller", text: "the last one" });

    // The slot the caller heard and chose is the one booked, in the EHR and the world model.
    const [event] = (await worldEventsOf(f.ws.id)).filter((e) => e.eventType === "appointment.recorded");
    const appointment = await fhirRead<FhirAppointment>(`Appointment/${event!.fhirResourceId}`);
    expect(appointment).toMatchObject({ status: "booked", start: option.start });
    expect(appointment.slot?.[0]?.reference).toBe(`Slot/${option.id}`);
    expect(await appointmentFacts(f, appointment.id)).toMatchObject({
      status: "booked",
      start: option.start,
    });
  });
});
