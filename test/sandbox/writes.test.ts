import type { AllergyIntolerance, Appointment, Bundle, Patient, Resource, Slot } from "@medplum/fhirtypes";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type EhrSandbox, startEhrSandbox } from "../../ehr-sandbox/server";
import { fhir, issues, PORTS, TEST_SEED } from "./helpers";

let sandbox: EhrSandbox;

beforeAll(async () => {
  sandbox = await startEhrSandbox({ port: PORTS.writes, seed: TEST_SEED });
});
afterAll(() => sandbox?.stop());

const slot = async (id: string) => (await fhir<Slot>(sandbox, "GET", `Slot/${id}`)).body;

function appointmentFor(slots: Slot[], patient = "demo-001", extra: Partial<Appointment> = {}): Appointment {
  return {
    resourceType: "Appointment",
    status: "booked",
    start: slots[0]!.start,
    end: slots.at(-1)!.end,
    slot: slots.map((s) => ({ reference: `Slot/${s.id}` })),
    participant: [
      { actor: { reference: `Patient/${patient}` }, status: "accepted" },
      { actor: { reference: "Practitioner/pr-okafor" }, status: "accepted" },
    ],
    ...extra,
  };
}

describe("booking", () => {
  it("marks the slot busy, and refuses a second booking of it with 409", async () => {
    const free = await slot("slot-okafor-20261210-0900");
    expect(free.status).toBe("free");
    const first = await fhir<Appointment>(sandbox, "POST", "Appointment", { body: appointmentFor([free]) });
    expect(first.status).toBe(201);
    expect(first.headers.get("etag")).toBe('W/"1"');
    expect(first.headers.get("location")).toBe(
      `${sandbox.fhirBaseUrl}/Appointment/${first.body.id}/_history/1`,
    );
    const taken = await slot(free.id!);
    expect(taken.status).toBe("busy");
    expect(taken.meta?.versionId).toBe("2");
    const freeNow = await fhir<Bundle<Slot>>(
      sandbox,
      "GET",
      "Slot?schedule=Schedule/sch-okafor&status=free&start=ge2026-12-10&_sort=start&_count=1",
    );
    expect(freeNow.body.entry?.[0]?.resource?.id).toBe("slot-okafor-20261210-0930");

    const second = await fhir(sandbox, "POST", "Appointment", { body: appointmentFor([free], "demo-002") });
    expect(second.status).toBe(409);
    expect(issues(second.body).join()).toContain(`Slot/${free.id} is busy`);
    const forSlot = await fhir<Bundle>(sandbox, "GET", `Appointment?slot=Slot/${free.id}`);
    expect(forSlot.body.total).toBe(1);
  });

  it("lets exactly one of two simultaneous bookings of a slot through", async () => {
    const free = await slot("slot-okafor-20261210-1000");
    const results = await Promise.all(
      ["demo-003", "demo-004"].map((p) =>
        fhir(sandbox, "POST", "Appointment", { body: appointmentFor([free], p) }),
      ),
    );
    expect(results.map((r) => r.status).sort()).toEqual([201, 409]);
    expect((await fhir<Bundle>(sandbox, "GET", `Appointment?slot=Slot/${free.id}`)).body.total).toBe(1);
  });

  it("books a two-slot visit, moves it, and frees the slot when cancelled", async () => {
    const [a, b, c] = await Promise.all(
      ["slot-okafor-20261211-1300", "slot-okafor-20261211-1330", "slot-okafor-20261211-1400"].map(slot),
    );
    const booked = await fhir<Appointment>(sandbox, "POST", "Appointment", {
      body: appointmentFor([a!, b!]),
    });
    expect(booked.status).toBe(201);
    expect([(await slot(a!.id!)).status, (await slot(b!.id!)).status]).toEqual(["busy", "busy"]);

    const moved = await fhir<Appointment>(sandbox, "PUT", `Appointment/${booked.body.id}`, {
      body: { ...appointmentFor([b!, c!]), id: booked.body.id },
    });
    expect(moved.status).toBe(200);
    expect((await Promise.all([a, b, c].map((s) => slot(s!.id!)))).map((s) => s.status)).toEqual([
      "free",
      "busy",
      "busy",
    ]);

    const cancelled = await fhir(sandbox, "PATCH", `Appointment/${booked.body.id}`, {
      body: [{ op: "replace", path: "/status", value: "cancelled" }],
      headers: { "Content-Type": "application/json-patch+json" },
    });
    expect(cancelled.status).toBe(200);
    expect((await Promise.all([b, c].map((s) => slot(s!.id!)))).map((s) => s.status)).toEqual([
      "free",
      "free",
    ]);
    const rebooked = await fhir(sandbox, "POST", "Appointment", { body: appointmentFor([b!], "demo-005") });
    expect(rebooked.status).toBe(201);
  });

  it("frees the slot when the appointment is deleted", async () => {
    const free = await slot("slot-okafor-20261214-0900");
    const booked = await fhir<Appointment>(sandbox, "POST", "Appointment", { body: appointmentFor([free]) });
    expect((await fhir(sandbox, "DELETE", `Appointment/${booked.body.id}`)).status).toBe(200);
    expect((await slot(free.id!)).status).toBe("free");
  });

  it("refuses a slot that does not exist, or lies outside the appointment's time", async () => {
    const missing = await fhir(sandbox, "POST", "Appointment", {
      body: {
        ...appointmentFor([await slot("slot-okafor-20261214-1000")]),
        slot: [{ reference: "Slot/nope" }],
      },
    });
    expect(missing.status).toBe(400);
    const elsewhere = await slot("slot-okafor-20261214-1100");
    const outside = await fhir(sandbox, "POST", "Appointment", {
      body: { ...appointmentFor([elsewhere]), start: "2026-12-14T19:00:00Z", end: "2026-12-14T19:30:00Z" },
    });
    expect(outside.status).toBe(400);
    expect(issues(outside.body).join()).toContain("outside the appointment's time");
    expect((await slot(elsewhere.id!)).status).toBe("free");
  });
});

describe("conditional and versioned writes", () => {
  it("creates once with If-None-Exist, then returns the existing resource", async () => {
    const allergy: AllergyIntolerance = {
      resourceType: "AllergyIntolerance",
      identifier: [{ system: "urn:switchboard:call", value: "call-123-allergy-1" }],
      clinicalStatus: {
        coding: [
          { system: "http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical", code: "active" },
        ],
      },
      code: { text: "Ibuprofen" },
      patient: { reference: "Patient/demo-006" },
    };
    const headers = { "If-None-Exist": "identifier=urn:switchboard:call|call-123-allergy-1" };
    const first = await fhir<AllergyIntolerance>(sandbox, "POST", "AllergyIntolerance", {
      body: allergy,
      headers,
    });
    const second = await fhir<AllergyIntolerance>(sandbox, "POST", "AllergyIntolerance", {
      body: allergy,
      headers,
    });
    expect([first.status, second.status]).toEqual([201, 200]);
    expect(second.body.id).toBe(first.body.id);
    const found = await fhir<Bundle>(
      sandbox,
      "GET",
      "AllergyIntolerance?identifier=urn:switchboard:call|call-123-allergy-1",
    );
    expect(found.body.total).toBe(1);
  });

  it("creates once when two If-None-Exist creates arrive together", async () => {
    const body = {
      resourceType: "Communication",
      status: "completed",
      identifier: [{ system: "urn:switchboard:call", value: "call-456" }],
    };
    const headers = { "If-None-Exist": "identifier=urn:switchboard:call|call-456" };
    const both = await Promise.all(
      [1, 2].map(() => fhir(sandbox, "POST", "Communication", { body, headers })),
    );
    expect(both.map((r) => r.status).sort()).toEqual([200, 201]);
    const found = await fhir<Bundle>(
      sandbox,
      "GET",
      "Communication?identifier=urn:switchboard:call|call-456",
    );
    expect(found.body.total).toBe(1);
  });

  it("makes a retried booking with the same identifier a no-op, not a conflict", async () => {
    const free = await slot("slot-okafor-20261215-0900");
    const body = appointmentFor([free], "demo-007", {
      identifier: [{ system: "urn:switchboard:booking", value: "bk-1" }],
    });
    const headers = { "If-None-Exist": "identifier=urn:switchboard:booking|bk-1" };
    const first = await fhir<Appointment>(sandbox, "POST", "Appointment", { body, headers });
    const retry = await fhir<Appointment>(sandbox, "POST", "Appointment", { body, headers });
    expect([first.status, retry.status]).toEqual([201, 200]);
    expect(retry.body.id).toBe(first.body.id);
  });

  it("updates with the current version in If-Match and refuses a stale one with 412", async () => {
    const { body: patient, headers } = await fhir<Patient>(sandbox, "GET", "Patient/demo-008");
    expect(headers.get("etag")).toBe('W/"1"');
    const moved = { ...patient, address: [{ ...patient.address![0], line: ["1 New Rd"] }] };
    const ok = await fhir<Patient>(sandbox, "PUT", "Patient/demo-008", {
      body: moved,
      headers: { "If-Match": 'W/"1"' },
    });
    expect(ok.status).toBe(200);
    expect(ok.body.meta?.versionId).toBe("2");
    for (const stale of ['W/"1"', "1"]) {
      const refused = await fhir(sandbox, "PUT", "Patient/demo-008", {
        body: { ...patient, active: false },
        headers: { "If-Match": stale },
      });
      expect(refused.status, stale).toBe(412);
      expect(issues(refused.body)).not.toHaveLength(0);
    }
    const now = await fhir<Patient>(sandbox, "GET", "Patient/demo-008");
    expect(now.body.address?.[0]?.line).toEqual(["1 New Rd"]);
    expect(now.body.active).toBe(true);
    const history = await fhir<Bundle>(sandbox, "GET", "Patient/demo-008/_history");
    expect(history.body.entry).toHaveLength(2);
  });
});

describe("validation", () => {
  const freeSlot = { start: "2026-12-16T14:00:00Z", end: "2026-12-16T14:30:00Z" };
  const invalid: [string, string, Record<string, unknown>, string][] = [
    ["a wrong type", "Patient", { resourceType: "Patient", gender: 5 }, "Patient.gender"],
    [
      "a missing required element",
      "Appointment",
      { resourceType: "Appointment", status: "booked", ...freeSlot },
      "Appointment.participant",
    ],
    ["a missing reference", "Slot", { resourceType: "Slot", status: "free", ...freeSlot }, "Slot.schedule"],
    [
      "a code outside its required value set",
      "Appointment",
      {
        resourceType: "Appointment",
        status: "bookd",
        ...freeSlot,
        participant: [{ actor: { reference: "Patient/demo-001" }, status: "accepted" }],
      },
      "bookd",
    ],
    ["an unknown element", "Patient", { resourceType: "Patient", nickname: "Bella" }, "nickname"],
    [
      "a malformed instant",
      "Slot",
      {
        resourceType: "Slot",
        status: "free",
        schedule: { reference: "Schedule/sch-chen" },
        start: "tomorrow",
        end: freeSlot.end,
      },
      "Slot.start",
    ],
    ["a body of another type", "Patient", { resourceType: "Practitioner" }, "Incorrect resource type"],
  ];

  it.each(invalid)("refuses %s with 400 and an OperationOutcome", async (_what, type, body, mentions) => {
    const before = (await fhir<Bundle>(sandbox, "GET", `${type}?_summary=count`)).body.total;
    const { status, body: outcome } = await fhir(sandbox, "POST", type, { body });
    expect(status).toBe(400);
    expect(JSON.stringify(outcome)).toContain(mentions);
    expect(issues(outcome).length).toBeGreaterThan(0);
    expect((await fhir<Bundle>(sandbox, "GET", `${type}?_summary=count`)).body.total).toBe(before);
  });

  it("refuses a body that is not JSON (400) and a type the sandbox does not serve (404)", async () => {
    const res = await fetch(`${sandbox.fhirBaseUrl}/Patient`, {
      method: "POST",
      headers: { Authorization: `Bearer ${sandbox.staticToken}`, "Content-Type": "application/fhir+json" },
      body: "{not json",
    });
    expect(res.status).toBe(400);
    const encounter = await fhir(sandbox, "POST", "Encounter", { body: { resourceType: "Encounter" } });
    expect(encounter.status).toBe(404);
    expect(issues(encounter.body).join()).toContain("not supported");
  });
});

describe("the writes Switchboard makes", () => {
  const patient = { reference: "Patient/demo-009" };
  const creates: Resource[] = [
    {
      resourceType: "AllergyIntolerance",
      clinicalStatus: {
        coding: [
          { system: "http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical", code: "active" },
        ],
      },
      patient,
      code: { text: "Latex" },
      reaction: [{ manifestation: [{ text: "rash" }] }],
    },
    {
      resourceType: "MedicationStatement",
      status: "active",
      subject: patient,
      medicationCodeableConcept: { text: "Vitamin D 1000 IU" },
    },
    {
      resourceType: "Coverage",
      status: "active",
      beneficiary: patient,
      payor: [{ reference: "Organization/payer-aetna" }],
      subscriberId: "AET000000001",
    },
    {
      resourceType: "QuestionnaireResponse",
      status: "completed",
      subject: patient,
      item: [{ linkId: "reason", text: "Reason for visit", answer: [{ valueString: "Cough for a week" }] }],
    },
    {
      resourceType: "Communication",
      status: "completed",
      subject: patient,
      medium: [{ text: "voice" }],
      payload: [{ contentString: "Booked a follow-up for next Tuesday." }],
    },
    {
      resourceType: "Provenance",
      target: [{ reference: "Patient/demo-009" }],
      recorded: "2026-12-01T15:00:00Z",
      agent: [{ who: { display: "Switchboard voice agent" } }],
    },
  ];

  it.each(creates.map((r) => [r.resourceType, r] as const))(
    "creates a %s and reads it back",
    async (type, body) => {
      const made = await fhir<Resource>(sandbox, "POST", type, { body });
      expect(made.status, JSON.stringify(made.body)).toBe(201);
      const read = await fhir<Resource>(sandbox, "GET", `${type}/${made.body.id}`);
      expect(read.status).toBe(200);
      expect(read.body).toMatchObject(body);
    },
  );
});
