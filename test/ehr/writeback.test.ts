/**
 * Outbound writeback against the FHIR sandbox: verified facts and Switchboard's own records become
 * valid FHIR resources with a Provenance, exactly once however often a job is delivered; an EHR that
 * fails or times out is retried with backoff until the last delivery dead-letters the write, which a
 * retry after recovery then writes once. Jobs are captured from the `ehr-sync` queue and handed to the
 * Worker's queue handler here, so every delivery (and its attempt number) is the test's to choose.
 */
import { env } from "cloudflare:workers";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { decryptField } from "../../shared/crypto/encryption";
import { newId } from "../../shared/ids";
import { FhirError } from "../../workers/ehr/client";
import { allergyIntolerance, coverage, mergeContact } from "../../workers/ehr/fhir-builders";
import { validateFhirResource } from "../../workers/ehr/validate";
import {
  EHR_SYNC_MAX_RETRIES,
  enqueueWriteback,
  runWriteback,
  STUCK_AFTER_MS,
  scheduleWriteback,
  sweepWriteback,
  WRITEBACK_JOB,
} from "../../workers/ehr/writeback";
import { CRONS, TASKS } from "../../workers/scheduled";
import { api } from "../helpers/http";
import { unique } from "../helpers/workspace";
import {
  auditActions,
  eventRow,
  extract,
  ingestPatient,
  published,
  type WorldFixture,
  worldWorkspace,
} from "../world/fixtures";
import {
  captureSyncQueue,
  countBySyncId,
  deliver,
  ehrPatient,
  faultCounters,
  injectFaults,
  insertSink,
  sandboxFhir,
  syncRows,
} from "./writeback-fixtures";

// biome-ignore lint/suspicious/noExplicitAny: FHIR resources read back are checked by assertions
type Json = any;

let queue: ReturnType<typeof captureSyncQueue>;
beforeEach(() => {
  queue = captureSyncQueue();
});
afterEach(() => queue.restore());

/** A fact told to clinic staff (source operator, confidence 0.9: eligible at the default threshold). */
async function operatorFact(f: WorldFixture, entityId: string, eventType: string, data: unknown) {
  const res = await f.call("operator", "POST", "/world/events", {
    events: [
      {
        idempotency_key: `op-${unique()}`,
        entity_id: entityId,
        event_type: eventType,
        data,
        source: "operator",
      },
    ],
  });
  expect(res.status, res.text).toBe(200);
  return res.body.results[0].event_id as string;
}

async function syncRow(workspaceId: string, id: string) {
  return (await syncRows(workspaceId)).find((r) => r.id === id)!;
}

describe("a verified allergy", { timeout: 30_000 }, () => {
  it("is written as a valid AllergyIntolerance for the patient, with a Provenance naming Switchboard and the source", async () => {
    const f = await worldWorkspace();
    const sink = await insertSink(f.ws.id);
    const patient = await ehrPatient(f, "demo-020");
    const eventId = await operatorFact(f, patient, "allergy.recorded", {
      substance: "Latex",
      reaction: "Hives",
      severity: "moderate",
    });

    // The commit scheduled it: one sync event, one job, the world event pending.
    const [job] = await queue.await(f.ws.id, 1);
    expect(job).toMatchObject({ type: WRITEBACK_JOB, workspace_id: f.ws.id });
    const [row] = await syncRows(f.ws.id);
    expect(row).toMatchObject({
      status: "pending",
      kind: "allergy",
      worldEventId: eventId,
      entityId: patient,
      dataSourceId: sink.id,
      sourceSystem: "ehr",
      fhirResourceType: "AllergyIntolerance",
      idempotencyKey: `world:${eventId}:${sink.id}`,
    });
    expect(job!.idempotency_key).toBe(row!.id);
    expect((await eventRow(f.ws.id, { id: eventId }))[0]!.sync_status).toBe("pending");

    expect(await deliver([job!])).toEqual([{ ack: true }]);
    const synced = await syncRow(f.ws.id, row!.id);
    expect(synced).toMatchObject({
      status: "synced",
      attempts: 1,
      error: null,
      fhirResourceType: "AllergyIntolerance",
    });
    expect(synced.syncedAt).not.toBeNull();
    expect((await eventRow(f.ws.id, { id: eventId }))[0]!.sync_status).toBe("synced");

    const allergy = await sandboxFhir<Json>("GET", `AllergyIntolerance/${synced.fhirResourceId}`);
    expect(allergy.status).toBe(200);
    expect(validateFhirResource(allergy.body).ok).toBe(true);
    expect(allergy.body).toMatchObject({
      patient: { reference: "Patient/demo-020" },
      code: { text: "Latex" },
      clinicalStatus: { coding: [{ code: "active" }] },
      verificationStatus: { coding: [{ code: "confirmed" }] },
      reaction: [{ manifestation: [{ text: "Hives" }], severity: "moderate" }],
      identifier: [{ system: "https://switchboard.health/sync", value: row!.id }],
    });

    const provenances = await sandboxFhir<Json>(
      "GET",
      `Provenance?target=AllergyIntolerance/${synced.fhirResourceId}/_history/1`,
    );
    expect(provenances.body.total).toBe(1);
    const provenance = provenances.body.entry[0].resource;
    expect(validateFhirResource(provenance).ok).toBe(true);
    expect(provenance.activity.coding[0]).toMatchObject({ code: "CREATE" });
    expect(provenance.reason[0].coding[0]).toMatchObject({ code: "TREAT" });
    expect(
      provenance.agent.map((a: Json) => [a.type.coding[0].code, a.who.display ?? a.who.reference]),
    ).toEqual([
      ["author", "Switchboard"],
      ["enterer", "Entered by clinic staff in Switchboard"],
    ]);
    expect(provenance.entity[0]).toMatchObject({
      role: "source",
      what: { identifier: { system: "https://switchboard.health/world-event", value: eventId } },
    });

    const completed = await published(f.ws.id, "pipeline.sync_completed");
    expect(completed.map((e) => e.data)).toEqual([
      {
        sync_event_id: row!.id,
        kind: "allergy",
        status: "synced",
        data_source_id: sink.id,
        world_event_id: eventId,
        fhir_resource_type: "AllergyIntolerance",
        fhir_resource_id: synced.fhirResourceId,
      },
    ]);
  });

  it("is written once however often its job is delivered, and a settled job sends nothing", async () => {
    const f = await worldWorkspace();
    const sink = await insertSink(f.ws.id);
    const patient = await ehrPatient(f, "demo-021");
    await operatorFact(f, patient, "allergy.recorded", { substance: "Peanuts" });
    const [job] = await queue.await(f.ws.id, 1);

    // Two deliveries at once (a redelivery racing the first), then one after it settled.
    await Promise.all([deliver([job!]), deliver([job!])]);
    const [row] = await syncRows(f.ws.id);
    expect(row!.status).toBe("synced");
    const before = await faultCounters(sink.token);
    expect(await deliver([job!], 3)).toEqual([{ ack: true }]);
    expect((await faultCounters(sink.token)).requests).toBe(before.requests);
    expect(await countBySyncId("AllergyIntolerance", row!.id)).toBe(1);
    const provenance = await sandboxFhir<Json>(
      "GET",
      `Provenance?_tag=https://switchboard.health/sync|${row!.id}&_summary=count`,
    );
    expect(provenance.body.total).toBe(1);
    expect((await syncRow(f.ws.id, row!.id)).attempts).toBeLessThanOrEqual(2);
  });

  it("approved in review is written with the reviewer as verifier and the patient who said it as informant", async () => {
    const f = await worldWorkspace();
    await insertSink(f.ws.id);
    const patient = await ehrPatient(f, "demo-022");
    const [verdict] = await extract(f, patient, "I'm allergic to sulfa drugs", [
      { event_type: "allergy.recorded", data: { substance: "sulfa drugs" } },
    ]);
    expect(queue.of(f.ws.id)).toHaveLength(0);
    const approved = await f.call("operator", "POST", `/review/${verdict!.review_item_id}/approve`);
    expect(approved.status, approved.text).toBe(200);

    const [job] = await queue.await(f.ws.id, 1);
    await deliver([job!]);
    const [row] = await syncRows(f.ws.id);
    expect(row).toMatchObject({ status: "synced", worldEventId: approved.body.decision_event_id });
    const provenance = (
      await sandboxFhir<Json>("GET", `Provenance?target=AllergyIntolerance/${row!.fhirResourceId}/_history/1`)
    ).body.entry[0].resource;
    expect(
      provenance.agent.map((a: Json) => [a.type.coding[0].code, a.who.display ?? a.who.reference]),
    ).toEqual([
      ["author", "Switchboard"],
      ["verifier", "Verified by clinic staff in Switchboard review"],
      ["informant", "Patient/demo-022"],
    ]);
    // The source record is the caller's own statement, not the reviewer's decision.
    expect(provenance.entity[0].what.identifier.value).toBe(verdict!.extracted_event_id);
    expect(provenance.entity[0].what.display).toBe("Phone call with the patient");
  });
});

describe("an EHR that fails", { timeout: 30_000 }, () => {
  it("500: retried with backoff, attempts and error recorded; the last delivery dead-letters; a retry after recovery writes it once", async () => {
    const f = await worldWorkspace();
    const sink = await insertSink(f.ws.id);
    const patient = await ehrPatient(f, "demo-023");
    const eventId = await operatorFact(f, patient, "allergy.recorded", { substance: "Codeine" });
    const [job] = await queue.await(f.ws.id, 1);
    await injectFaults(sink.token, 500, 3);

    expect(await deliver([job!], 1)).toEqual([{ retry: true, delaySeconds: 10 }]);
    const [row] = await syncRows(f.ws.id);
    expect(row).toMatchObject({ status: "pending", attempts: 1 });
    expect(row!.error).toBe("the EHR answered 500: Fault injected by the sandbox (500)");
    expect(await deliver([job!], 2)).toEqual([{ retry: true, delaySeconds: 20 }]);
    expect((await syncRow(f.ws.id, row!.id)).attempts).toBe(2);

    // The last delivery the queue makes (1 + max_retries): the write is failed before the DLQ takes it.
    const last = EHR_SYNC_MAX_RETRIES + 1;
    const settled = await deliver([job!], last);
    expect(settled[0]).toMatchObject({ retry: true });
    const dead = await syncRow(f.ws.id, row!.id);
    expect(dead).toMatchObject({ status: "failed", attempts: 3 });
    expect(dead.error).toBe(
      `dead-lettered after ${last} attempts: the EHR answered 500: Fault injected by the sandbox (500)`,
    );
    expect((await eventRow(f.ws.id, { id: eventId }))[0]!.sync_status).toBe("failed");
    expect((await published(f.ws.id, "pipeline.error")).map((e) => e.data.sync_event_id)).toEqual([row!.id]);
    expect(await countBySyncId("AllergyIntolerance", row!.id)).toBe(0);
    expect((await faultCounters(sink.token)).faulted).toBe(3);

    // The EHR has recovered (the three faults are spent): an operator retries it.
    const retried = await f.call("operator", "POST", `/world/sync/retry/${row!.id}`);
    expect(retried.status, retried.text).toBe(200);
    expect(retried.body).toMatchObject({ id: row!.id, status: "pending", error: null, attempts: 3 });
    const [, again] = await queue.await(f.ws.id, 2);
    expect(again!.payload).toEqual({ sync_event_id: row!.id });
    expect(await deliver([again!])).toEqual([{ ack: true }]);
    expect(await deliver([again!], 2)).toEqual([{ ack: true }]);
    expect(await syncRow(f.ws.id, row!.id)).toMatchObject({ status: "synced", attempts: 4, error: null });
    expect(await countBySyncId("AllergyIntolerance", row!.id)).toBe(1);
    expect((await eventRow(f.ws.id, { id: eventId }))[0]!.sync_status).toBe("synced");
    expect(await auditActions(f.ws.id, "sync.retried")).toHaveLength(1);
  });

  it("timing out: the attempt is counted, the error says so, and the next delivery writes it", async () => {
    const f = await worldWorkspace();
    const sink = await insertSink(f.ws.id);
    const patient = await ehrPatient(f, "demo-024");
    await operatorFact(f, patient, "medication.recorded", {
      name: "Lisinopril",
      dose: "10 mg",
      frequency: "daily",
    });
    const [job] = await queue.await(f.ws.id, 1);
    const [row] = await syncRows(f.ws.id);
    await injectFaults(sink.token, "timeout", 1);

    const started = Date.now();
    const failure = await runWriteback(env, f.ws.id, row!.id, 1, { timeoutMs: 400 }).catch(
      (err: unknown) => err,
    );
    expect(failure).toBeInstanceOf(FhirError);
    expect((failure as FhirError).retryable).toBe(true);
    expect(Date.now() - started).toBeLessThan(5000);
    expect(await syncRow(f.ws.id, row!.id)).toMatchObject({
      status: "pending",
      attempts: 1,
      error: "the EHR did not answer (timeout or network error)",
    });

    expect(await deliver([job!], 2)).toEqual([{ ack: true }]);
    const synced = await syncRow(f.ws.id, row!.id);
    expect(synced).toMatchObject({ status: "synced", attempts: 2, fhirResourceType: "MedicationStatement" });
    const statement = await sandboxFhir<Json>("GET", `MedicationStatement/${synced.fhirResourceId}`);
    expect(statement.body).toMatchObject({
      status: "active",
      subject: { reference: "Patient/demo-024" },
      medicationCodeableConcept: { text: "Lisinopril" },
      dosage: [{ text: "10 mg, daily" }],
    });
  });

  it("refusing the write (400): failed at once, not retried", async () => {
    const f = await worldWorkspace();
    const sink = await insertSink(f.ws.id);
    const patient = await ehrPatient(f, "demo-025");
    await operatorFact(f, patient, "coverage.recorded", { payer: "Aetna", member_id: "W123456789" });
    const [job] = await queue.await(f.ws.id, 1);
    await injectFaults(sink.token, 400, 1, "/Coverage");

    expect(await deliver([job!])).toEqual([{ ack: true }]);
    const [row] = await syncRows(f.ws.id);
    expect(row).toMatchObject({
      status: "failed",
      attempts: 1,
      error: "the EHR answered 400: Fault injected by the sandbox (400)",
    });
    expect(await countBySyncId("Coverage", row!.id)).toBe(0);
  });
});

describe("a contact update", { timeout: 30_000 }, () => {
  it("reads the Patient, merges, and updates with If-Match; a concurrent change (412) is re-read and merged", async () => {
    const f = await worldWorkspace();
    await insertSink(f.ws.id);
    const patient = await ehrPatient(f, "demo-026");
    const eventId = await operatorFact(f, patient, "contact.recorded", {
      phone: "+12125550188",
      address: { line: "9 Orchard St", city: "New York", state: "NY", postal_code: "10002" },
    });
    await queue.await(f.ws.id, 1);
    const [row] = await syncRows(f.ws.id);
    const original = (await sandboxFhir<Json>("GET", "Patient/demo-026")).body;

    // Someone else edits the Patient between our read and our write, once.
    const puts: { ifMatch: string | null; status: number }[] = [];
    let interfered = false;
    const spyingFetch: typeof fetch = async (input, init) => {
      const method = init?.method ?? "GET";
      if (method === "PUT" && String(input).includes("/Patient/") && !interfered) {
        interfered = true;
        const current = (await sandboxFhir<Json>("GET", "Patient/demo-026")).body;
        await sandboxFhir("PUT", "Patient/demo-026", { ...current, language: "en" });
        expect((await sandboxFhir<Json>("GET", "Patient/demo-026")).body.language).toBe("en");
      }
      const res = await fetch(input, init);
      if (method === "PUT")
        puts.push({ ifMatch: new Headers(init?.headers).get("If-Match"), status: res.status });
      return res;
    };
    await runWriteback(env, f.ws.id, row!.id, 1, { fetch: spyingFetch });

    const v = Number(original.meta.versionId);
    expect(puts).toEqual([
      { ifMatch: `W/"${v}"`, status: 412 },
      { ifMatch: `W/"${v + 1}"`, status: 200 },
    ]);
    const updated = (await sandboxFhir<Json>("GET", "Patient/demo-026")).body;
    expect(updated.meta.versionId).toBe(String(v + 2));
    expect(updated.language).toBe("en");
    expect(updated.telecom[0]).toEqual({ system: "phone", value: "+12125550188", rank: 1 });
    // The numbers the EHR had stay, one rank down.
    for (const old of original.telecom)
      expect(updated.telecom).toContainEqual(old.rank ? { ...old, rank: old.rank + 1 } : old);
    expect(updated.address[0]).toMatchObject({
      use: "home",
      line: ["9 Orchard St"],
      city: "New York",
      postalCode: "10002",
    });
    expect(updated.address[1]).toMatchObject({ use: "old", line: original.address[0].line });
    expect(validateFhirResource(updated).ok).toBe(true);

    expect(await syncRow(f.ws.id, row!.id)).toMatchObject({
      status: "synced",
      fhirResourceType: "Patient",
      fhirResourceId: "demo-026",
    });
    expect((await eventRow(f.ws.id, { id: eventId }))[0]!.sync_status).toBe("synced");
    const provenance = await sandboxFhir<Json>("GET", `Provenance?target=Patient/demo-026/_history/${v + 2}`);
    expect(provenance.body.total).toBe(1);
    expect(provenance.body.entry[0].resource.activity.coding[0].code).toBe("UPDATE");
  });

  it("sends no update when the EHR already has the details", async () => {
    const f = await worldWorkspace();
    const sink = await insertSink(f.ws.id);
    const patient = await ehrPatient(f, "demo-027");
    const current = (await sandboxFhir<Json>("GET", "Patient/demo-027")).body;
    const phone = current.telecom.find((t: Json) => t.system === "phone").value;
    await operatorFact(f, patient, "contact.recorded", { phone });
    const [job] = await queue.await(f.ws.id, 1);

    await deliver([job!]);
    expect((await syncRows(f.ws.id))[0]).toMatchObject({ status: "synced", fhirResourceId: "demo-027" });
    expect((await sandboxFhir<Json>("GET", "Patient/demo-027")).body.meta.versionId).toBe(
      current.meta.versionId,
    );
    expect((await faultCounters(sink.token)).requests).toBe(1);
  });
});

describe("what cannot be written", { timeout: 30_000 }, () => {
  it("a patient with no EHR record: not_applicable, with the reason, and nothing sent", async () => {
    const f = await worldWorkspace();
    const sink = await insertSink(f.ws.id);
    const patient = await ingestPatient(f);
    const eventId = await operatorFact(f, patient, "allergy.recorded", { substance: "Shellfish" });
    const [job] = await queue.await(f.ws.id, 1);

    expect(await deliver([job!])).toEqual([{ ack: true }]);
    const [row] = await syncRows(f.ws.id);
    expect(row).toMatchObject({ status: "not_applicable", error: "patient has no EHR record" });
    expect((await eventRow(f.ws.id, { id: eventId }))[0]!.sync_status).toBe("not_applicable");
    expect((await faultCounters(sink.token)).requests).toBe(0);
  });

  it("an event type with no FHIR mapping: not_applicable when scheduled, no job", async () => {
    const f = await worldWorkspace();
    await insertSink(f.ws.id);
    const patient = await ehrPatient(f, "demo-028");
    const eventId = await operatorFact(f, patient, "preference.recorded", { contact_time: "morning" });
    await scheduleWriteback(env, f.ws.id);

    const [row] = await syncRows(f.ws.id);
    expect(row).toMatchObject({
      status: "not_applicable",
      kind: "preference",
      error: "no FHIR mapping for preference.recorded of a patient",
    });
    expect((await eventRow(f.ws.id, { id: eventId }))[0]!.sync_status).toBe("not_applicable");
    expect(queue.of(f.ws.id)).toHaveLength(0);
  });

  it("without a writeback sink, eligible facts wait (and facts from the EHR are never eligible)", async () => {
    const f = await worldWorkspace();
    await insertSink(f.ws.id, { writeback: false });
    const patient = await ehrPatient(f, "demo-029");
    const eventId = await operatorFact(f, patient, "allergy.recorded", { substance: "Aspirin" });
    expect(await scheduleWriteback(env, f.ws.id)).toBe(0);
    expect(await syncRows(f.ws.id)).toEqual([]);
    expect((await eventRow(f.ws.id, { id: eventId }))[0]!.sync_status).toBe("eligible");
    expect(
      (await eventRow(f.ws.id, { idempotencyKey: "ehr:Patient:demo-029:1:demographics" }))[0]!.sync_status,
    ).toBe("none");
  });
});

describe("writes that are not facts (enqueueWriteback)", { timeout: 30_000 }, () => {
  const answers = (surfaceId: string) => ({
    surface_id: surfaceId,
    questionnaire: "https://switchboard.health/forms/intake-v2",
    authored: "2026-11-20T14:05:00Z",
    items: [
      {
        link_id: "reason",
        text: "Reason for visit",
        answers: [{ value_string: "Follow-up on blood pressure" }],
      },
      { link_id: "smoker", text: "Do you smoke?", answers: [{ value_boolean: false }] },
      { link_id: "pain", text: "Pain today (0-10)", answers: [{ value_integer: 3 }] },
      { link_id: "dob", text: "Date of birth", answers: [{ value_date: "1985-10-05" }] },
    ],
  });

  it("a form's answers become a QuestionnaireResponse; the payload is sealed; the same key writes once", async () => {
    const f = await worldWorkspace();
    await insertSink(f.ws.id);
    const patient = await ehrPatient(f, "demo-030");
    const surfaceId = `srf-${unique()}`;
    const item = {
      kind: "questionnaire_response" as const,
      idempotency_key: `submission-${surfaceId}`,
      entity_id: patient,
      payload: answers(surfaceId),
    };
    const row = await enqueueWriteback(env, f.ws.id, item);
    expect(await enqueueWriteback(env, f.ws.id, item)).toMatchObject({ id: row.id });
    expect(row).toMatchObject({
      status: "pending",
      kind: "questionnaire_response",
      fhirResourceType: "QuestionnaireResponse",
    });
    expect(row.payloadEnc).not.toContain("blood pressure");
    expect(
      JSON.parse(
        await decryptField(env.ENCRYPTION_KEY, f.ws.id, `sync_events.payload:${row.id}`, row.payloadEnc!),
      ),
    ).toMatchObject({ surface_id: surfaceId });
    const jobs = queue.of(f.ws.id);
    expect(jobs).toHaveLength(1);

    await deliver(jobs);
    const synced = await syncRow(f.ws.id, row.id);
    expect(synced.status).toBe("synced");
    const response = (await sandboxFhir<Json>("GET", `QuestionnaireResponse/${synced.fhirResourceId}`)).body;
    expect(validateFhirResource(response).ok).toBe(true);
    expect(response).toMatchObject({
      status: "completed",
      questionnaire: "https://switchboard.health/forms/intake-v2",
      subject: { reference: "Patient/demo-030" },
      authored: "2026-11-20T14:05:00Z",
      identifier: { system: "https://switchboard.health/sync", value: row.id },
      item: [
        { linkId: "reason", answer: [{ valueString: "Follow-up on blood pressure" }] },
        { linkId: "smoker", answer: [{ valueBoolean: false }] },
        { linkId: "pain", answer: [{ valueInteger: 3 }] },
        { linkId: "dob", answer: [{ valueDate: "1985-10-05" }] },
      ],
    });
    const provenance = (
      await sandboxFhir<Json>(
        "GET",
        `Provenance?target=QuestionnaireResponse/${synced.fhirResourceId}/_history/1`,
      )
    ).body.entry[0].resource;
    expect(provenance.entity[0].what).toMatchObject({
      identifier: { system: "https://switchboard.health/surface", value: surfaceId },
      display: "Form submitted by the patient",
    });
    expect(provenance.agent[1]).toMatchObject({
      type: { coding: [{ code: "informant" }] },
      who: { reference: "Patient/demo-030" },
    });
  });

  it("a call's summary becomes a Communication whose payload is the summary", async () => {
    const f = await worldWorkspace();
    await insertSink(f.ws.id);
    const patient = await ehrPatient(f, "demo-020", "Ava");
    const callId = `call-${unique()}`;
    const summary =
      "Patient called to ask about her lisinopril refill. Confirmed pharmacy on file; refill request sent to Dr. Okafor. Patient also asked to move her follow-up to a morning slot.";
    const row = await enqueueWriteback(env, f.ws.id, {
      kind: "communication",
      idempotency_key: `${callId}:summary`,
      entity_id: patient,
      payload: {
        interaction_id: callId,
        direction: "inbound",
        occurred_at: "2026-11-21T15:30:00Z",
        summary,
        topics: ["refill", "scheduling"],
      },
    });
    await deliver(queue.of(f.ws.id));
    const synced = await syncRow(f.ws.id, row.id);
    expect(synced.status, synced.error ?? "").toBe("synced");
    const message = (await sandboxFhir<Json>("GET", `Communication/${synced.fhirResourceId}`)).body;
    expect(validateFhirResource(message).ok).toBe(true);
    expect(message).toMatchObject({
      status: "completed",
      subject: { reference: "Patient/demo-020" },
      sender: { reference: "Patient/demo-020" },
      sent: "2026-11-21T15:30:00Z",
      payload: [{ contentString: summary }],
      medium: [{ coding: [{ code: "PHONE" }] }],
      topic: { text: "refill, scheduling" },
    });
  });

  it("an appointment's cancellation updates the Appointment with If-Match", async () => {
    const f = await worldWorkspace();
    await insertSink(f.ws.id);
    const created = await sandboxFhir<Json>("POST", "Appointment", {
      resourceType: "Appointment",
      status: "proposed",
      participant: [{ actor: { reference: "Patient/demo-021" }, status: "needs-action" }],
    });
    expect(created.status).toBe(201);
    const row = await enqueueWriteback(env, f.ws.id, {
      kind: "appointment",
      idempotency_key: `cancel-${created.body.id}`,
      payload: {
        appointment_id: created.body.id,
        status: "cancelled",
        cancelation_reason: "Patient is travelling",
        interaction_id: `call-${unique()}`,
      },
    });
    await deliver(queue.of(f.ws.id));
    expect(await syncRow(f.ws.id, row.id)).toMatchObject({
      status: "synced",
      fhirResourceId: created.body.id,
    });
    const appointment = (await sandboxFhir<Json>("GET", `Appointment/${created.body.id}`)).body;
    expect(appointment).toMatchObject({
      status: "cancelled",
      cancelationReason: { text: "Patient is travelling" },
      meta: { versionId: "2" },
    });
    const provenance = (
      await sandboxFhir<Json>("GET", `Provenance?target=Appointment/${created.body.id}/_history/2`)
    ).body.entry[0].resource;
    expect(provenance.agent[1]).toMatchObject({ who: { reference: "Patient/demo-021" } });
  });

  it("a resource that would not be valid FHIR is never sent: failed at once", async () => {
    const f = await worldWorkspace();
    const sink = await insertSink(f.ws.id);
    const created = await sandboxFhir<Json>("POST", "Appointment", {
      resourceType: "Appointment",
      status: "proposed",
      participant: [{ actor: { reference: "Patient/demo-022" }, status: "needs-action" }],
    });
    // Booked without a start and end breaks app-3: only proposed or cancelled appointments may lack them.
    const row = await enqueueWriteback(env, f.ws.id, {
      kind: "appointment",
      idempotency_key: `book-${created.body.id}`,
      payload: { appointment_id: created.body.id, status: "booked" },
    });
    expect(await deliver(queue.of(f.ws.id))).toEqual([{ ack: true }]);
    const failed = await syncRow(f.ws.id, row.id);
    expect(failed.status).toBe("failed");
    expect(failed.error).toMatch(/^invalid FHIR Appointment: /);
    expect((await sandboxFhir<Json>("GET", `Appointment/${created.body.id}`)).body.meta.versionId).toBe("1");
    expect((await faultCounters(sink.token)).requests).toBe(1);
  });

  it("refuses an invalid payload or a missing entity with 422, recording nothing", async () => {
    const f = await worldWorkspace();
    await insertSink(f.ws.id);
    const patient = await ehrPatient(f, "demo-023");
    const bad = [
      { kind: "communication" as const, idempotency_key: "k1", entity_id: patient, payload: { summary: "" } },
      {
        kind: "questionnaire_response" as const,
        idempotency_key: "k2",
        entity_id: patient,
        payload: { ...answers("s"), items: [] },
      },
      {
        kind: "communication" as const,
        idempotency_key: "k3",
        entity_id: newId("ent"),
        payload: {
          interaction_id: "c",
          direction: "inbound",
          occurred_at: "2026-11-21T15:30:00Z",
          summary: "ok",
        },
      },
      {
        kind: "communication" as const,
        idempotency_key: "k4",
        payload: {
          interaction_id: "c",
          direction: "inbound",
          occurred_at: "2026-11-21T15:30:00Z",
          summary: "ok",
        },
      },
    ];
    for (const item of bad)
      await expect(enqueueWriteback(env, f.ws.id, item)).rejects.toMatchObject({ code: "unprocessable" });
    expect(await syncRows(f.ws.id)).toEqual([]);
    expect(queue.of(f.ws.id)).toHaveLength(0);
  });

  it("waits as pending without a sink, and goes to the sink once one is configured", async () => {
    const f = await worldWorkspace();
    const patient = await ehrPatient(f, "demo-024");
    const row = await enqueueWriteback(env, f.ws.id, {
      kind: "communication",
      idempotency_key: `call-${unique()}`,
      entity_id: patient,
      payload: {
        interaction_id: `call-${unique()}`,
        direction: "outbound",
        occurred_at: "2026-11-22T10:00:00Z",
        summary: "Reminder call: appointment confirmed.",
      },
    });
    expect(row).toMatchObject({ status: "pending", dataSourceId: null });
    expect(queue.of(f.ws.id)).toHaveLength(0);

    const sink = await insertSink(f.ws.id);
    expect(await scheduleWriteback(env, f.ws.id)).toBe(1);
    expect((await syncRow(f.ws.id, row.id)).dataSourceId).toBe(sink.id);
    await deliver(queue.of(f.ws.id));
    const synced = await syncRow(f.ws.id, row.id);
    expect(synced.status).toBe("synced");
    expect((await sandboxFhir<Json>("GET", `Communication/${synced.fhirResourceId}`)).body).toMatchObject({
      recipient: [{ reference: "Patient/demo-024" }],
    });
  });
});

describe("the cron sweep", { timeout: 30_000 }, () => {
  it("runs every five minutes, schedules what a missed trigger left, and resumes writes whose message was lost", async () => {
    expect(TASKS[CRONS.everyFiveMinutes]!.map((t) => t.name)).toContain("ehr.writeback_sweep");
    const f = await worldWorkspace();
    const patient = await ehrPatient(f, "demo-025");
    // Eligible before there was a sink: the trigger after that commit found nowhere to write.
    const waiting = await operatorFact(f, patient, "allergy.recorded", { substance: "Ibuprofen" });
    await insertSink(f.ws.id);
    // And a write whose job was sent, but whose message never came back (an hour without a change).
    const lost = await enqueueWriteback(env, f.ws.id, {
      kind: "communication",
      idempotency_key: `call-${unique()}`,
      entity_id: patient,
      payload: {
        interaction_id: `call-${unique()}`,
        direction: "inbound",
        occurred_at: "2026-11-22T10:00:00Z",
        summary: "Asked about parking.",
      },
    });
    const longAgo = new Date(Date.now() - STUCK_AFTER_MS - 60_000).toISOString();
    await env.DB.prepare("UPDATE sync_events SET updated_at = ? WHERE id = ?").bind(longAgo, lost.id).run();
    const sentBefore = queue.of(f.ws.id).length;

    await sweepWriteback(env, new Date());
    const sentFor = (id: string, from = 0) =>
      queue
        .of(f.ws.id)
        .slice(from)
        .filter((j) => (j.payload as { sync_event_id: string }).sync_event_id === id).length;
    // (The trigger may have seen the sink appear before the sweep did: either way, one job.)
    const scheduled = (await syncRows(f.ws.id)).find((r) => r.worldEventId === waiting)!;
    expect(scheduled.status).toBe("pending");
    expect(sentFor(scheduled.id)).toBe(1);
    expect(sentFor(lost.id, sentBefore)).toBe(1);
    expect((await syncRow(f.ws.id, lost.id)).updatedAt > longAgo).toBe(true);

    // A second sweep right after finds nothing new to do.
    const sentNow = queue.of(f.ws.id).length;
    await sweepWriteback(env, new Date());
    expect(queue.of(f.ws.id)).toHaveLength(sentNow);
  });
});

describe("the FHIR builders", () => {
  const check = (resource: Json) => {
    const result = validateFhirResource(resource);
    expect(result.ok, JSON.stringify(result)).toBe(true);
    return resource;
  };

  it("write allergies R4 allows: no clinical status when entered in error, a bare severity kept as a note", () => {
    const voided = check(
      allergyIntolerance(
        "syn_a",
        "p1",
        { substance: "Latex", status: "entered-in-error" },
        "2026-11-01T00:00:00Z",
      ),
    );
    expect(voided.clinicalStatus).toBeUndefined();
    expect(voided.verificationStatus.coding[0].code).toBe("entered-in-error");
    const bare = check(
      allergyIntolerance(
        "syn_b",
        "p1",
        { substance: "Bees", severity: "severe", status: "active" },
        "2026-11-01T00:00:00Z",
      ),
    );
    expect(bare.reaction).toBeUndefined();
    expect(bare.note).toEqual([{ text: "Reported severity: severe" }]);
  });

  it("write coverage with the payer as a display reference and the group as a class", () => {
    const written = check(
      coverage("syn_c", "p1", { payer: "Aetna", member_id: "W123", group_number: "G-77", status: "active" }),
    );
    expect(written).toMatchObject({
      payor: [{ display: "Aetna" }],
      subscriberId: "W123",
      beneficiary: { reference: "Patient/p1" },
      class: [{ type: { coding: [{ code: "group" }] }, value: "G-77" }],
    });
  });

  it("leave a Patient untouched when it already has the recorded details", () => {
    const patient = {
      resourceType: "Patient",
      id: "p1",
      telecom: [{ system: "phone", value: "(212) 555-0188", rank: 1 }],
      address: [{ use: "home", line: ["9 Orchard St"], city: "New York", postalCode: "10002" }],
    };
    const merged = mergeContact(
      patient,
      {
        phone: "+12125550188",
        address: { line: "9  orchard st", city: "NEW YORK", postal_code: "10002", country: "US" },
      },
      "2026-11-01T00:00:00Z",
    );
    expect(merged.changed).toBe(false);
  });
});

describe("the ehr.writeback job", { timeout: 30_000 }, () => {
  it("acks a job whose sync event does not exist, and one for another workspace's event, sending nothing", async () => {
    const f = await worldWorkspace();
    const other = await worldWorkspace();
    const sink = await insertSink(f.ws.id);
    const patient = await ehrPatient(f, "demo-026");
    await operatorFact(f, patient, "allergy.recorded", { substance: "Penicillin" });
    const [job] = await queue.await(f.ws.id, 1);
    const forged = { ...job!, workspace_id: other.ws.id };
    const missing = { ...job!, payload: { sync_event_id: newId("syn") } };
    expect(await deliver([forged, missing])).toEqual([{ ack: true }, { ack: true }]);
    expect((await syncRows(f.ws.id))[0]!.status).toBe("pending");
    expect((await faultCounters(sink.token)).requests).toBe(0);
  });

  it("fails a write whose sink was disabled since it was scheduled, without calling the EHR", async () => {
    const f = await worldWorkspace();
    const sink = await insertSink(f.ws.id);
    const patient = await ehrPatient(f, "demo-027");
    await operatorFact(f, patient, "allergy.recorded", { substance: "Morphine" });
    const [job] = await queue.await(f.ws.id, 1);
    await env.DB.prepare("UPDATE data_sources SET enabled = 0 WHERE id = ?").bind(sink.id).run();
    expect(await deliver([job!])).toEqual([{ ack: true }]);
    expect((await syncRows(f.ws.id))[0]).toMatchObject({
      status: "failed",
      error: "the writeback sink is disabled",
    });
    expect((await faultCounters(sink.token)).requests).toBe(0);
    // With no sink left, a retry waits for one; enabling it again sends the write.
    const [row] = await syncRows(f.ws.id);
    const retry = await f.call("operator", "POST", `/world/sync/retry/${row!.id}`);
    expect(retry.body).toMatchObject({ status: "pending", data_source_id: null });
    expect(queue.of(f.ws.id)).toHaveLength(1);
    await env.DB.prepare("UPDATE data_sources SET enabled = 1 WHERE id = ?").bind(sink.id).run();
    expect(await scheduleWriteback(env, f.ws.id)).toBe(1);
    await deliver(queue.of(f.ws.id).slice(1));
    expect(await syncRow(f.ws.id, row!.id)).toMatchObject({
      status: "synced",
      dataSourceId: sink.id,
      error: null,
    });
  });
});

describe("the real queue", { timeout: 30_000 }, () => {
  it("delivers a scheduled write to the consumer, which writes it", async () => {
    queue.restore();
    const f = await worldWorkspace();
    await insertSink(f.ws.id);
    const patient = await ehrPatient(f, "demo-028");
    await operatorFact(f, patient, "allergy.recorded", { substance: "Tree nuts" });
    await expect
      .poll(async () => (await syncRows(f.ws.id))[0]?.status, { timeout: 15_000, interval: 250 })
      .toBe("synced");
    const [row] = await syncRows(f.ws.id);
    expect(await countBySyncId("AllergyIntolerance", row!.id)).toBe(1);
    expect(
      await api("GET", `/v1/${f.ws.id}/world/sync/${row!.id}`, { key: f.ws.keys.viewer }).then(
        (r) => r.body.status,
      ),
    ).toBe("synced");
  });
});
