import type { Appointment, Bundle, Patient, Resource, Slot } from "@medplum/fhirtypes";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { validateFhirResource } from "../../ehr-sandbox/definitions";
import { buildSeed, clinicInstant } from "../../ehr-sandbox/seed";
import { type EhrSandbox, startEhrSandbox } from "../../ehr-sandbox/server";
import { demoPatients } from "../../scripts/demo-patients";
import { INBOUND_RESOURCE_TYPES } from "../../shared/ehr/vocabulary";
import { fhir, issues, PORTS, TEST_SEED, walk } from "./helpers";

/** The types Switchboard pulls incrementally with `_lastUpdated` searches. */
const SYNCED_TYPES = INBOUND_RESOURCE_TYPES;

let sandbox: EhrSandbox;

beforeAll(async () => {
  sandbox = await startEhrSandbox({ port: PORTS.seed, seed: TEST_SEED });
});
afterAll(() => sandbox?.stop());

const total = async (query: string) =>
  (await fhir<Bundle>(sandbox, "GET", `${query}_summary=count`)).body.total;

describe("the demo clinic seed", () => {
  it("holds the demo patients with their records, practitioners, schedules and a month of slots", async () => {
    const patients = demoPatients();
    expect(patients.length).toBeGreaterThanOrEqual(50);
    const expected: Record<string, number> = {
      Patient: patients.length,
      AllergyIntolerance: patients.reduce((n, p) => n + p.allergies.length, 0),
      MedicationStatement: patients.reduce((n, p) => n + p.medications.length, 0),
      Coverage: patients.length,
      Practitioner: 4,
      Location: 2,
      Schedule: 4,
      // 22 weekdays from Monday 2026-12-07 in 30 days, 14 half-hours a day (9-12, 13-17), 4 practitioners.
      Slot: 22 * 14 * 4,
    };
    for (const [type, count] of Object.entries(expected)) expect(await total(`${type}?`), type).toBe(count);
    expect(await total("Slot?status=free&")).toBe(expected.Slot);
    const withMedications = new Set(patients.filter((p) => p.medications.length > 0).map((p) => p.id));
    const conditions = await walk<Resource & { subject: { reference: string } }>(
      sandbox,
      "Condition?_count=200",
    );
    expect(conditions.resources.length).toBeGreaterThan(0);
    for (const c of conditions.resources)
      expect(withMedications).toContain(c.subject.reference.split("/")[1]);
  });

  it("names patients by the world model's ids, with the demo generator's details", async () => {
    const [first] = demoPatients();
    const { status, body } = await fhir<Patient>(sandbox, "GET", `Patient/${first!.id}`);
    expect(status).toBe(200);
    expect(body.id).toBe("demo-001");
    expect(body.name?.[0]).toMatchObject({ family: first!.name.family, given: [first!.name.given] });
    expect(body.birthDate).toBe(first!.birth_date);
    expect(body.telecom?.find((t) => t.system === "phone")?.value).toBe(first!.phone);
    const coverage = await fhir<Bundle>(sandbox, "GET", `Coverage?beneficiary=Patient/${first!.id}`);
    expect(coverage.body.total).toBe(1);
  });

  it("passes, resource by resource, the validation every client write gets", () => {
    const resources = buildSeed(TEST_SEED);
    expect(resources.length).toBeGreaterThan(1500);
    for (const resource of resources) validateFhirResource(resource);
  });

  it("puts slots on weekdays in clinic hours, New York time, across a DST change", () => {
    const weekday = new Intl.DateTimeFormat("en-US", { timeZone: "America/New_York", weekday: "short" });
    const hour = new Intl.DateTimeFormat("en-US", {
      timeZone: "America/New_York",
      hour: "numeric",
      hourCycle: "h23",
    });
    const slots = buildSeed({ slotsFrom: "2027-03-08", days: 14 }).filter(
      (r): r is Slot => r.resourceType === "Slot",
    );
    expect(slots).toHaveLength(10 * 14 * 4);
    for (const slot of slots) {
      expect(["Mon", "Tue", "Wed", "Thu", "Fri"]).toContain(weekday.format(new Date(slot.start)));
      const h = Number(hour.format(new Date(slot.start)));
      expect(h >= 9 && h < 17 && h !== 12, slot.id).toBe(true);
    }
    expect(clinicInstant("2027-03-12", 9 * 60)).toBe("2027-03-12T14:00:00.000Z"); // EST, UTC-5
    expect(clinicInstant("2027-03-15", 9 * 60)).toBe("2027-03-15T13:00:00.000Z"); // EDT, UTC-4
    expect(JSON.stringify(buildSeed(TEST_SEED))).toBe(JSON.stringify(buildSeed(TEST_SEED)));
  });
});

describe("_lastUpdated paging", () => {
  beforeAll(async () => {
    // Appointments are not seeded; book a few so their type has pages to walk too.
    for (const time of ["0900", "0930", "1000", "1030", "1100"]) {
      const slot = (await fhir<Slot>(sandbox, "GET", `Slot/slot-chen-20261211-${time}`)).body;
      const booked = await fhir(sandbox, "POST", "Appointment", {
        body: {
          resourceType: "Appointment",
          status: "booked",
          start: slot.start,
          end: slot.end,
          slot: [{ reference: `Slot/${slot.id}` }],
          participant: [{ actor: { reference: "Patient/demo-010" }, status: "accepted" }],
        },
      });
      expect(booked.status).toBe(201);
    }
  });

  it.each(SYNCED_TYPES)("walks every %s exactly once, in _lastUpdated order, by next links", async (type) => {
    const count = await total(`${type}?`);
    expect(count).toBeGreaterThan(0);
    const pageSize = Math.ceil(count! / 20); // about 20 pages, at least 2 for every type
    const { resources, pages } = await walk(
      sandbox,
      `${type}?_lastUpdated=gt2000-01-01T00:00:00Z&_sort=_lastUpdated&_count=${pageSize}`,
    );
    const ids = resources.map((r) => r.id);
    expect(ids).toHaveLength(count!);
    expect(new Set(ids).size).toBe(count);
    expect(pages).toBe(Math.ceil(count! / pageSize));
    const stamps = resources.map((r) => r.meta!.lastUpdated!);
    expect(stamps).toEqual([...stamps].sort());
  });

  it("shows a resource updated mid-walk again at the end and skips nothing", async () => {
    const first = await fhir<Bundle<Patient>>(sandbox, "GET", "Patient?_sort=_lastUpdated&_count=10");
    const seen = first.body.entry!.map((e) => e.resource!.id!);
    const changed = first.body.entry![0]!.resource!;
    expect(
      (await fhir(sandbox, "PUT", `Patient/${changed.id}`, { body: { ...changed, active: false } })).status,
    ).toBe(200);
    const rest = await walk<Patient>(sandbox, first.body.link!.find((l) => l.relation === "next")!.url);
    seen.push(...rest.resources.map((r) => r.id!));
    expect(new Set(seen).size).toBe(demoPatients().length);
    expect(seen).toHaveLength(demoPatients().length + 1);
    expect(seen.at(-1)).toBe(changed.id);
  });

  it("answers _lastUpdated=gt<last seen> with exactly what changed since", async () => {
    // A client keeps one watermark per type: the newest lastUpdated it has seen.
    const newest = async (type: string) =>
      (await fhir<Bundle>(sandbox, "GET", `${type}?_sort=-_lastUpdated&_count=1`)).body.entry![0]!.resource!;
    const appointment = (await newest("Appointment")) as Appointment;
    const [appointments, slots] = [appointment.meta!.lastUpdated!, (await newest("Slot")).meta!.lastUpdated!];
    expect(
      (await fhir<Bundle>(sandbox, "GET", `Appointment?_lastUpdated=gt${appointments}`)).body.total,
    ).toBe(0);
    const cancelled = { ...appointment, status: "cancelled" };
    expect((await fhir(sandbox, "PUT", `Appointment/${cancelled.id}`, { body: cancelled })).status).toBe(200);
    const since = await fhir<Bundle<Appointment>>(
      sandbox,
      "GET",
      `Appointment?_lastUpdated=gt${appointments}`,
    );
    expect(since.body.entry?.map((e) => [e.resource!.id, e.resource!.status])).toEqual([
      [cancelled.id, "cancelled"],
    ]);
    const freed = await fhir<Bundle<Slot>>(sandbox, "GET", `Slot?_lastUpdated=gt${slots}`);
    expect(freed.body.entry?.map((e) => [e.resource!.id, e.resource!.status])).toEqual([
      [appointment.slot![0]!.reference!.split("/")[1], "free"],
    ]);
  });

  it("sorts newest first with _sort=-_lastUpdated", async () => {
    const { body } = await fhir<Bundle>(sandbox, "GET", "Slot?_sort=-_lastUpdated&_count=5");
    const stamps = body.entry!.map((e) => e.resource!.meta!.lastUpdated!);
    expect(stamps).toEqual([...stamps].sort().reverse());
  });
});

describe("slot search", () => {
  it("finds a practitioner's free slots from a day on, in start order", async () => {
    const { resources } = await walk<Slot>(
      sandbox,
      "Slot?schedule=Schedule/sch-okafor&status=free&start=ge2026-12-09&_sort=start&_count=100",
    );
    // Wednesday 2026-12-09 through Tuesday 2027-01-05: 20 weekdays of 14 slots.
    expect(resources).toHaveLength(20 * 14);
    expect(resources[0]!.id).toBe("slot-okafor-20261209-0900");
    expect(resources[0]!.start).toBe("2026-12-09T14:00:00.000Z");
    for (const slot of resources) {
      expect(slot.schedule.reference).toBe("Schedule/sch-okafor");
      expect(slot.status).toBe("free");
    }
    const starts = resources.map((s) => s.start);
    expect(starts).toEqual([...starts].sort());
  });

  it("reads start=ge with a time zone offset as that instant", async () => {
    const { body } = await fhir<Bundle<Slot>>(
      sandbox,
      "GET",
      `Slot?schedule=Schedule/sch-reyes&status=free&start=ge${encodeURIComponent("2026-12-09T16:00:00-05:00")}&_sort=start&_count=1`,
    );
    expect(body.entry?.[0]?.resource?.id).toBe("slot-reyes-20261209-1600");
  });

  it("leaves busy slots out of status=free", async () => {
    const busy = await fhir<Bundle>(sandbox, "GET", "Slot?schedule=Schedule/sch-chen&status=busy");
    const booked = await fhir<Bundle>(sandbox, "GET", "Appointment?status=booked&_summary=count");
    expect(busy.body.total).toBe(booked.body.total);
    const free = await total("Slot?schedule=Schedule/sch-chen&status=free&");
    expect(free! + busy.body.total!).toBe(22 * 14);
  });

  it("refuses an unknown search parameter instead of matching nothing", async () => {
    const { status, body } = await fhir(sandbox, "GET", "Slot?shedule=Schedule/sch-okafor");
    expect(status).toBe(400);
    expect(issues(body).join()).toContain("shedule");
  });
});
