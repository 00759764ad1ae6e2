import { env } from "cloudflare:workers";
import { describe, expect, inject, it } from "vitest";
import { INBOUND_RESOURCE_TYPES } from "../../shared/ehr/vocabulary";
import { IngestEvent } from "../../shared/schemas/world";
import { type EntityType, type EventType, parseEventData } from "../../shared/world/events";
import type { FhirBundle, FhirResource } from "../../workers/ehr/contracts";
import { resourceToEvents, versionKey } from "../../workers/ehr/mapping";
import { validateFhirResource } from "../../workers/ehr/validate";
import { ingestEvents } from "../../workers/world/ingest";
import { unique } from "../helpers/workspace";
import { worldWorkspace } from "../world/fixtures";

const SOURCE = { id: "ds_mapping_test", sourceSystem: "ehr" };
const LAST_UPDATED = "2026-11-02T10:00:00.000Z";
const CLINICAL = "http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical";
const VERIFICATION = "http://terminology.hl7.org/CodeSystem/allergyintolerance-verification";

type Json = Record<string, unknown>;

/** Maps a resource that must validate first, as the connector does; returns the result. */
function map(resource: Json, source = SOURCE) {
  const valid = validateFhirResource(resource);
  expect(valid.ok ? [] : valid.issues, "the test resource must be valid R4").toEqual([]);
  return resourceToEvents(resource as FhirResource, source);
}

function eventsOf(resource: Json) {
  const result = map(resource);
  if (!result.ok) throw new Error(`expected events, got: ${result.reason}`);
  return result.events;
}

const dataOf = (events: IngestEvent[], type: string) =>
  events.filter((e) => e.event_type === type).map((e) => e.data);

const patient = (changes: Json = {}): Json => ({
  resourceType: "Patient",
  id: "map-001",
  meta: { versionId: "3", lastUpdated: LAST_UPDATED },
  identifier: [
    {
      use: "usual",
      type: { coding: [{ system: "http://terminology.hl7.org/CodeSystem/v2-0203", code: "MR" }] },
      system: "urn:example:mrn",
      value: "A-1001",
    },
    {
      type: { coding: [{ system: "http://terminology.hl7.org/CodeSystem/v2-0203", code: "SS" }] },
      system: "http://hl7.org/fhir/sid/us-ssn",
      value: "123-45-6789",
    },
  ],
  name: [
    { use: "old", family: "Smith", given: ["Maria"] },
    { use: "official", family: "Lopez", given: ["Maria", "Elena"] },
    { use: "nickname", given: ["Mari"] },
  ],
  telecom: [
    { system: "phone", value: "(415) 555-0111", use: "work", rank: 2 },
    { system: "phone", value: "415.555.0123", use: "mobile", rank: 1 },
    { system: "email", value: "maria.lopez@example.com", use: "home" },
  ],
  gender: "female",
  birthDate: "1980-04-02",
  address: [
    { use: "old", line: ["9 Old Rd"], city: "Boston", state: "MA" },
    {
      use: "home",
      line: ["12 Elm St", "Apt 4"],
      city: "New York",
      state: "NY",
      postalCode: "10024",
      country: "USA",
    },
  ],
  communication: [
    { language: { coding: [{ system: "urn:ietf:bcp:47", code: "en" }] } },
    { language: { coding: [{ system: "urn:ietf:bcp:47", code: "es" }], text: "Spanish" }, preferred: true },
  ],
  ...changes,
});

const patientRef = { reference: "Patient/map-001", display: "Maria Lopez" };
const onPatient = { entity_type: "patient", external_id: "ehr:Patient:map-001" };

describe("resourceToEvents: Patient", () => {
  it("records demographics, contact and identifiers on the patient's entity", () => {
    const events = eventsOf(patient());
    expect(dataOf(events, "demographics.recorded")).toEqual([
      {
        given_name: "Maria Elena",
        family_name: "Lopez",
        preferred_name: "Mari",
        birth_date: "1980-04-02",
        gender: "female",
        language: "es",
      },
    ]);
    expect(dataOf(events, "contact.recorded")).toEqual([
      {
        phone: "+14155550123",
        email: "maria.lopez@example.com",
        address: {
          line: "12 Elm St, Apt 4",
          city: "New York",
          state: "NY",
          postal_code: "10024",
          country: "US",
        },
      },
    ]);
    // The resource's own id and its MRN; never the SSN.
    expect(dataOf(events, "identifier.recorded")).toEqual([
      { system: "ehr:Patient", value: "map-001" },
      { system: "ehr:MRN", value: "A-1001" },
    ]);
    for (const event of events)
      expect(event).toMatchObject({
        entity: onPatient,
        confidence: 1,
        source: "ehr",
        source_system: "ehr",
        effective_at: LAST_UPDATED,
        fhir_resource_type: "Patient",
        fhir_resource_id: "map-001",
      });
  });

  it("leaves out what the world model cannot hold rather than recording it wrong", () => {
    const events = eventsOf(
      patient({
        birthDate: "1980-04",
        name: [{ text: "Maria Lopez" }],
        telecom: [
          { system: "phone", value: "555" },
          { system: "email", value: "not an email" },
        ],
        address: [{ line: ["1 Rue de Rivoli"], city: "Paris", country: "France" }],
        communication: undefined,
        identifier: undefined,
      }),
    );
    expect(dataOf(events, "demographics.recorded")).toEqual([{ gender: "female" }]);
    expect(dataOf(events, "contact.recorded")).toEqual([]);
    expect(dataOf(events, "identifier.recorded")).toEqual([{ system: "ehr:Patient", value: "map-001" }]);
  });

  it("uses the patient's source system in external ids and identifier systems", () => {
    const events = eventsOf(patient());
    const other = map(patient(), { id: "ds_other", sourceSystem: "epic-prod" });
    if (!other.ok) throw new Error(other.reason);
    expect(other.events[0]!.entity).toEqual({
      entity_type: "patient",
      external_id: "epic-prod:Patient:map-001",
    });
    expect(dataOf(other.events, "identifier.recorded")[0]).toEqual({
      system: "epic-prod:Patient",
      value: "map-001",
    });
    expect(other.events.map((e) => e.idempotency_key)).not.toEqual(events.map((e) => e.idempotency_key));
  });

  it("refuses a source system that cannot prefix an external id, and a resource without an id", () => {
    expect(resourceToEvents(patient() as FhirResource, { id: "ds_x", sourceSystem: "Epic Prod" })).toEqual({
      ok: false,
      skipped: false,
      reason: expect.stringContaining("external id"),
    });
    expect(resourceToEvents({ ...patient(), id: undefined } as FhirResource, SOURCE)).toMatchObject({
      ok: false,
      skipped: false,
    });
  });
});

describe("resourceToEvents: practitioners, places and times", () => {
  it("maps a Practitioner to demographics, profile and its NPI", () => {
    const events = eventsOf({
      resourceType: "Practitioner",
      id: "pr-map",
      active: true,
      identifier: [{ system: "http://hl7.org/fhir/sid/us-npi", value: "1000000009" }],
      name: [{ use: "official", family: "Okafor", given: ["Adaeze"], suffix: ["MD"] }],
      telecom: [{ system: "email", value: "okafor@clinic.example" }],
    });
    const self = { entity_type: "practitioner", external_id: "ehr:Practitioner:pr-map" };
    expect(events.every((e) => JSON.stringify(e.entity) === JSON.stringify(self))).toBe(true);
    expect(dataOf(events, "demographics.recorded")).toEqual([
      { given_name: "Adaeze", family_name: "Okafor" },
    ]);
    expect(dataOf(events, "profile.recorded")).toEqual([{ name: "Adaeze Okafor, MD", active: true }]);
    expect(dataOf(events, "contact.recorded")).toEqual([{ email: "okafor@clinic.example" }]);
    expect(dataOf(events, "identifier.recorded")).toEqual([
      { system: "ehr:Practitioner", value: "pr-map" },
      { system: "ehr:NPI", value: "1000000009" },
    ]);
  });

  it("maps a Location to its profile and contact", () => {
    const events = eventsOf({
      resourceType: "Location",
      id: "loc-map",
      status: "suspended",
      name: "Harbor View office",
      telecom: [{ system: "phone", value: "+1 201 555 0100" }],
      address: { line: ["45 Harbor Blvd"], city: "Jersey City", state: "NJ", postalCode: "07302" },
    });
    expect(events.map((e) => e.entity)).toEqual([
      { entity_type: "location", external_id: "ehr:Location:loc-map" },
      { entity_type: "location", external_id: "ehr:Location:loc-map" },
    ]);
    expect(dataOf(events, "profile.recorded")).toEqual([{ name: "Harbor View office", active: false }]);
    expect(dataOf(events, "contact.recorded")).toEqual([
      {
        phone: "+12015550100",
        // No country given: the schema's default (US) applies when ingested.
        address: { line: "45 Harbor Blvd", city: "Jersey City", state: "NJ", postal_code: "07302" },
      },
    ]);
  });

  it("maps a Schedule to a profile named by its actors", () => {
    const events = eventsOf({
      resourceType: "Schedule",
      id: "sch-map",
      active: true,
      specialty: [
        { coding: [{ system: "http://snomed.info/sct", code: "394814009", display: "General practice" }] },
      ],
      actor: [
        { reference: "Practitioner/pr-map", display: "Adaeze Okafor, MD" },
        { reference: "Location/loc-map" },
      ],
      comment: "Weekdays, 30-minute visits",
    });
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({
      entity: { entity_type: "schedule", external_id: "ehr:Schedule:sch-map" },
      event_type: "profile.recorded",
      data: {
        name: "Adaeze Okafor, MD",
        specialty: "General practice",
        description: "Weekdays, 30-minute visits",
        active: true,
      },
    });
  });

  it("maps a Slot to slot.recorded", () => {
    const events = eventsOf({
      resourceType: "Slot",
      id: "slot-map-1",
      schedule: { reference: "Schedule/sch-map" },
      status: "busy-tentative",
      start: "2027-01-04T14:00:00Z",
      end: "2027-01-04T14:30:00+00:00",
    });
    expect(events).toEqual([
      expect.objectContaining({
        entity: { entity_type: "slot", external_id: "ehr:Slot:slot-map-1" },
        event_type: "slot.recorded",
        data: {
          schedule_id: "Schedule/sch-map",
          status: "busy-tentative",
          start: "2027-01-04T14:00:00Z",
          end: "2027-01-04T14:30:00+00:00",
        },
      }),
    ]);
  });

  it("maps an Appointment with its participants as references", () => {
    const appointment = {
      resourceType: "Appointment",
      id: "appt-map",
      status: "booked",
      appointmentType: {
        coding: [{ system: "http://terminology.hl7.org/CodeSystem/v2-0276", code: "ROUTINE" }],
        text: "Follow-up",
      },
      start: "2027-01-04T14:00:00Z",
      end: "2027-01-04T14:30:00Z",
      slot: [{ reference: "Slot/slot-map-1" }],
      participant: [
        { actor: { reference: "Practitioner/pr-map" }, status: "accepted" },
        { actor: { reference: "Location/loc-map" }, status: "accepted" },
        { actor: patientRef, status: "accepted" },
      ],
    };
    expect(eventsOf(appointment)).toEqual([
      expect.objectContaining({
        entity: { entity_type: "appointment", external_id: "ehr:Appointment:appt-map" },
        event_type: "appointment.recorded",
        data: {
          status: "booked",
          start: "2027-01-04T14:00:00Z",
          end: "2027-01-04T14:30:00Z",
          patient_id: "Patient/map-001",
          practitioner_id: "Practitioner/pr-map",
          location_id: "Location/loc-map",
          visit_type: "Follow-up",
        },
      }),
    ]);
    const voided = eventsOf({ ...appointment, status: "entered-in-error" });
    expect(voided[0]!.data).toMatchObject({ status: "cancelled" });
    const proposed = map({ ...appointment, status: "proposed", start: undefined, end: undefined });
    expect(proposed).toEqual({
      ok: false,
      skipped: false,
      reason: expect.stringContaining("Appointment.start"),
    });
  });
});

describe("resourceToEvents: clinical facts on the patient", () => {
  const allergy = (changes: Json = {}): Json => ({
    resourceType: "AllergyIntolerance",
    id: "alg-map",
    meta: { versionId: "1", lastUpdated: LAST_UPDATED },
    clinicalStatus: { coding: [{ system: CLINICAL, code: "active" }] },
    verificationStatus: { coding: [{ system: VERIFICATION, code: "confirmed" }] },
    code: { coding: [{ system: "http://snomed.info/sct", code: "764146007", display: "Penicillin" }] },
    patient: patientRef,
    reaction: [
      { manifestation: [{ text: "Hives" }], severity: "mild" },
      { manifestation: [{ text: "Anaphylaxis" }, { text: "Hives" }], severity: "severe" },
    ],
    ...changes,
  });

  it("records an allergy with the worst reaction severity", () => {
    const events = eventsOf(allergy());
    expect(events).toEqual([
      expect.objectContaining({
        entity: onPatient,
        event_type: "allergy.recorded",
        fhir_resource_type: "AllergyIntolerance",
        fhir_resource_id: "alg-map",
        data: {
          substance: "Penicillin",
          reaction: "Hives, Anaphylaxis",
          severity: "severe",
          status: "active",
          code: "764146007",
        },
      }),
    ]);
  });

  it("names the substance by text, else display, else code, and maps statuses", () => {
    const named = (code: Json) => (eventsOf(allergy({ code }))[0]!.data as { substance: string }).substance;
    expect(
      named({
        text: "Peanuts",
        coding: [{ system: "http://snomed.info/sct", code: "762952008", display: "Peanut" }],
      }),
    ).toBe("Peanuts");
    expect(named({ coding: [{ system: "http://www.nlm.nih.gov/research/umls/rxnorm", code: "7980" }] })).toBe(
      "7980",
    );
    const status = (changes: Json) => (eventsOf(allergy(changes))[0]!.data as { status: string }).status;
    expect(status({ clinicalStatus: { coding: [{ system: CLINICAL, code: "resolved" }] } })).toBe("resolved");
    expect(status({ verificationStatus: { coding: [{ system: VERIFICATION, code: "refuted" }] } })).toBe(
      "inactive",
    );
    expect(
      status({
        clinicalStatus: undefined,
        verificationStatus: { coding: [{ system: VERIFICATION, code: "entered-in-error" }] },
      }),
    ).toBe("entered-in-error");
  });

  it("cannot map an allergy with no substance, and skips 'no known allergy' records", () => {
    expect(map(allergy({ code: undefined }))).toEqual({
      ok: false,
      skipped: false,
      reason: expect.stringContaining("AllergyIntolerance.code"),
    });
    const nka = allergy({
      code: {
        coding: [{ system: "http://snomed.info/sct", code: "716186003", display: "No known allergy" }],
      },
    });
    expect(map(nka)).toMatchObject({ ok: false, skipped: true });
  });

  it("skips a fact that names no patient", () => {
    expect(map(allergy({ patient: { reference: "Group/g1" } }))).toEqual({
      ok: false,
      skipped: true,
      reason: expect.stringContaining("AllergyIntolerance.patient"),
    });
    const condition = {
      resourceType: "Condition",
      id: "cond-map",
      code: { text: "Asthma" },
      subject: { identifier: { system: "urn:example:mrn", value: "A-1001" } },
    };
    expect(map(condition)).toMatchObject({ ok: false, skipped: true });
  });

  it("records a MedicationStatement, reading a contained Medication", () => {
    const statement = {
      resourceType: "MedicationStatement",
      id: "med-map",
      status: "intended",
      medicationReference: { reference: "#m1" },
      contained: [
        {
          resourceType: "Medication",
          id: "m1",
          code: {
            coding: [
              {
                system: "http://www.nlm.nih.gov/research/umls/rxnorm",
                code: "860975",
                display: "Metformin 500 MG Oral Tablet",
              },
            ],
          },
        },
      ],
      subject: { reference: "https://ehr.example/fhir/R4/Patient/map-001" },
      dosage: [
        {
          text: "one tablet twice daily",
          timing: { repeat: { frequency: 2, period: 1, periodUnit: "d" } },
          doseAndRate: [{ doseQuantity: { value: 500, unit: "mg" } }],
        },
      ],
    };
    expect(eventsOf(statement)).toEqual([
      expect.objectContaining({
        entity: onPatient,
        event_type: "medication.recorded",
        data: {
          name: "Metformin 500 MG Oral Tablet",
          dose: "500 mg",
          frequency: "2 per 1 d",
          status: "active",
          code: "860975",
        },
      }),
    ]);
    const stopped = eventsOf({
      ...statement,
      status: "not-taken",
      dosage: [{ text: "one tablet twice daily" }],
    });
    expect(stopped[0]!.data).toEqual({
      name: "Metformin 500 MG Oral Tablet",
      frequency: "one tablet twice daily",
      status: "stopped",
      code: "860975",
    });
    expect(
      map({ ...statement, contained: undefined, medicationReference: { reference: "Medication/x" } }),
    ).toMatchObject({
      ok: false,
      skipped: false,
    });
  });

  it("records a Condition and a Coverage", () => {
    const condition = eventsOf({
      resourceType: "Condition",
      id: "cond-map",
      clinicalStatus: {
        coding: [{ system: "http://terminology.hl7.org/CodeSystem/condition-clinical", code: "remission" }],
      },
      code: { coding: [{ system: "http://snomed.info/sct", code: "195967001", display: "Asthma" }] },
      subject: patientRef,
    });
    expect(condition).toEqual([
      expect.objectContaining({
        entity: onPatient,
        event_type: "condition.recorded",
        data: { name: "Asthma", status: "remission", code: "195967001" },
      }),
    ]);
    const coverage = {
      resourceType: "Coverage",
      id: "cov-map",
      status: "active",
      subscriberId: "W123456789",
      beneficiary: patientRef,
      payor: [{ reference: "Organization/payer-aetna", display: "Aetna" }],
      class: [
        {
          type: {
            coding: [{ system: "http://terminology.hl7.org/CodeSystem/coverage-class", code: "group" }],
          },
          value: "GRP-42",
        },
      ],
    };
    expect(eventsOf(coverage)).toEqual([
      expect.objectContaining({
        entity: onPatient,
        event_type: "coverage.recorded",
        fhir_resource_type: "Coverage",
        data: { payer: "Aetna", member_id: "W123456789", group_number: "GRP-42", status: "active" },
      }),
    ]);
    expect(
      map({ ...coverage, payor: [{ reference: "Organization/payer-aetna" }], class: undefined }),
    ).toMatchObject({
      ok: false,
      skipped: false,
      reason: expect.stringContaining("payer"),
    });
  });

  it("skips a type Switchboard does not model", () => {
    expect(map({ resourceType: "Organization", id: "org-x", name: "Acme" })).toEqual({
      ok: false,
      skipped: true,
      reason: expect.stringContaining("Organization"),
    });
  });
});

describe("versions and idempotency keys", () => {
  it("takes the version from versionId, else lastUpdated, else the content", () => {
    expect(versionKey({ resourceType: "Patient", meta: { versionId: "7", lastUpdated: LAST_UPDATED } })).toBe(
      "7",
    );
    expect(versionKey({ resourceType: "Patient", meta: { lastUpdated: LAST_UPDATED } })).toBe(LAST_UPDATED);
    const a = versionKey({ resourceType: "Patient", id: "x", gender: "male", name: [{ family: "A" }] });
    const reordered = versionKey({
      name: [{ family: "A" }],
      gender: "male",
      id: "x",
      resourceType: "Patient",
    });
    const changed = versionKey({
      resourceType: "Patient",
      id: "x",
      gender: "female",
      name: [{ family: "A" }],
    });
    expect(a).toMatch(/^[0-9a-f]{64}$/);
    expect(reordered).toBe(a);
    expect(changed).not.toBe(a);
  });

  it("gives the same keys for the same version and new keys for a new one", () => {
    const keys = (resource: Json) => eventsOf(resource).map((e) => e.idempotency_key);
    const first = keys(patient());
    expect(keys(patient())).toEqual(first);
    expect(new Set(first).size).toBe(first.length);
    const next = keys(patient({ meta: { versionId: "4", lastUpdated: "2026-11-03T10:00:00.000Z" } }));
    expect(next).toHaveLength(first.length);
    for (const key of next) expect(first).not.toContain(key);
    expect(first.every((k) => k.startsWith(`fhir:${SOURCE.id}:Patient/map-001:3:`))).toBe(true);
  });

  it("keeps keys within 200 characters for the longest ids and versions", () => {
    const id = "x".repeat(64);
    const events = eventsOf(patient({ id, meta: { versionId: "v".repeat(64) } }));
    for (const event of events) expect(event.idempotency_key.length).toBeLessThanOrEqual(200);
    expect(new Set(events.map((e) => e.idempotency_key)).size).toBe(events.length);
  });
});

/** Ids of the demo clinic's resources (`demo-001`, `demo-001-a1`, `pr-okafor`, `slot-okafor-...`). */
const SEEDED_ID = /^(demo|pr|loc|sch|slot)-/;

/** Every resource of `type` on the shared sandbox, following `next` links. */
async function searchAll(type: string): Promise<FhirResource[]> {
  const ehr = inject("ehrSandbox");
  const out: FhirResource[] = [];
  let url: string | undefined = `${ehr.fhirBaseUrl}/${type}${type.includes("?") ? "&" : "?"}_count=1000`;
  while (url) {
    const res: Response = await fetch(url, {
      headers: { Authorization: `Bearer ${ehr.staticToken}`, Accept: "application/fhir+json" },
    });
    expect(res.status).toBe(200);
    const bundle = (await res.json()) as FhirBundle;
    out.push(...(bundle.entry ?? []).map((e) => e.resource!));
    url = bundle.link?.find((l) => l.relation === "next")?.url;
  }
  return out;
}

async function createInSandbox(resource: Json): Promise<FhirResource> {
  const ehr = inject("ehrSandbox");
  const res = await fetch(`${ehr.fhirBaseUrl}/${resource.resourceType}`, {
    method: "POST",
    headers: {
      Authorization: `Bearer ${ehr.staticToken}`,
      Accept: "application/fhir+json",
      "Content-Type": "application/fhir+json",
    },
    body: JSON.stringify(resource),
  });
  expect(res.status, await res.clone().text()).toBe(201);
  return (await res.json()) as FhirResource;
}

describe("round trip with the sandbox EHR", () => {
  it("validates and maps every seeded resource into events the world model accepts", async () => {
    // An appointment of our own (no slot held), so Appointment is covered too.
    const practitioner = await createInSandbox({
      resourceType: "Practitioner",
      name: [{ family: `Map${unique()}` }],
    });
    const person = await createInSandbox({
      resourceType: "Patient",
      name: [{ family: `Map${unique()}`, given: ["Ada"] }],
    });
    const appointment = await createInSandbox({
      resourceType: "Appointment",
      status: "booked",
      start: "2027-03-01T15:00:00Z",
      end: "2027-03-01T15:30:00Z",
      participant: [
        { actor: { reference: `Patient/${person.id}` }, status: "accepted" },
        { actor: { reference: `Practitioner/${practitioner.id}` }, status: "accepted" },
      ],
    });
    const counts: Record<string, { mapped: number; skipped: number; events: number }> = {};
    for (const type of INBOUND_RESOURCE_TYPES) {
      // The sandbox is shared: take the seeded clinic (and our appointment), not what other files wrote.
      const resources = (await searchAll(type)).filter(
        (r) => SEEDED_ID.test(r.id ?? "") || r.id === appointment.id || r.id === person.id,
      );
      const tally = { mapped: 0, skipped: 0, events: 0 };
      counts[type] = tally;
      for (const resource of resources) {
        const label = `${type}/${resource.id}`;
        const valid = validateFhirResource(resource);
        expect(valid.ok ? [] : valid.issues, label).toEqual([]);
        const result = resourceToEvents(resource, SOURCE);
        if (!result.ok) {
          expect(result.skipped, `${label}: ${result.reason}`).toBe(true);
          tally.skipped++;
          continue;
        }
        tally.mapped++;
        tally.events += result.events.length;
        for (const event of result.events) {
          expect(IngestEvent.safeParse(event).success, label).toBe(true);
          const parsed = parseEventData(
            event.event_type as EventType,
            event.entity!.entity_type as EntityType,
            event.data,
          );
          expect(parsed.ok ? [] : parsed.issues, label).toEqual([]);
          expect(event.fhir_resource_type).toBe(type);
          expect(event.fhir_resource_id).toBe(resource.id);
        }
      }
    }
    // The demo clinic: 52 patients, 4 practitioners, 2 locations, 4 schedules, a month of slots.
    expect(counts.Patient!.mapped).toBe(53);
    expect(counts.Practitioner!.mapped).toBe(4);
    expect(counts.Location!.mapped).toBe(2);
    expect(counts.Schedule!.mapped).toBe(4);
    expect(counts.Slot!.mapped).toBeGreaterThan(1000);
    expect(counts.Appointment!.mapped).toBe(1);
    for (const type of ["Coverage", "AllergyIntolerance", "MedicationStatement", "Condition"])
      expect(counts[type]!.mapped, type).toBeGreaterThan(0);
    for (const type of Object.keys(counts)) expect(counts[type]!.skipped, type).toBe(0);
  });

  it("ingests a sandbox patient's record once, however often it is delivered", async () => {
    const [patientResource] = await searchAll("Patient?_id=demo-001");
    const clinical: FhirResource[] = [];
    for (const [type, param] of [
      ["AllergyIntolerance", "patient"],
      ["MedicationStatement", "subject"],
      ["Condition", "subject"],
      ["Coverage", "beneficiary"],
    ] as const)
      clinical.push(...(await searchAll(`${type}?${param}=Patient/demo-001`)));
    const events = [patientResource!, ...clinical].flatMap((resource) => {
      const result = resourceToEvents(resource, SOURCE);
      if (!result.ok) throw new Error(result.reason);
      return result.events;
    });
    const f = await worldWorkspace();
    const actor = { actorType: "system" as const, actorId: null };
    const first = await ingestEvents(env, f.ws.id, events, actor);
    expect(first.stored).toBe(events.length);
    expect(first.entitiesCreated).toBe(1);
    const again = await ingestEvents(env, f.ws.id, events, actor);
    expect(again.stored).toBe(0);
    expect(again.duplicates).toBe(events.length);
    const entity = await f.call("viewer", "GET", `/world/entities/${first.results[0]!.entity_id}`);
    expect(entity.status, entity.text).toBe(200);
    const paths = (entity.body.facts as { path: string }[]).map((fact) => fact.path);
    expect(paths).toEqual(
      expect.arrayContaining([
        "demographics.birth_date",
        "contact.phone",
        "identifiers.ehr-patient.demo-001",
      ]),
    );
    expect(paths.some((p) => p.startsWith("coverage."))).toBe(true);
  });
});
