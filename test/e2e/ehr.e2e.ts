/**
 * The EHR integration end to end, as `npm start` runs it: the real local platform (wrangler dev: D1,
 * queues, crons, Durable Objects) with the demo workspace connected to the FHIR sandbox by the same
 * seeding `npm start` does (a polled fhir_store source with writeback, and a rest-hook Subscription in
 * the EHR). Every step crosses the real HTTP boundary both ways and waits on real queue delivery.
 */
import { beforeAll, describe, expect, inject, it } from "vitest";
import { api, eventually } from "./api";

const ehr = inject("ehr");

async function fhir<T = Record<string, unknown>>(method: string, path: string, body?: unknown): Promise<T> {
  const response = await fetch(`${ehr.fhirBaseUrl}/${path}`, {
    method,
    headers: {
      Authorization: `Bearer ${ehr.staticToken}`,
      Accept: "application/fhir+json",
      ...(body === undefined ? {} : { "Content-Type": "application/fhir+json" }),
    },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  expect(response.status, `${method} ${path}: ${text.slice(0, 500)}`).toBeLessThan(300);
  return JSON.parse(text) as T;
}

interface Source {
  id: string;
  name: string;
  status: string;
  last_success_at: string | null;
  last_notification_at: string | null;
}

let source: Source;

const resolveExternal = (externalId: string) =>
  api<{ candidates: { entity_id: string }[] }>("POST", "/v1/demo/world/entities/resolve", {
    external_id: externalId,
  }).then((r) => r.candidates[0]?.entity_id);

beforeAll(async () => {
  const list = await api<{ results: Source[] }>("GET", "/v1/demo/data-sources");
  source = list.results.find((s) => s.name === "Riverside EHR (local sandbox)")!;
  expect(source).toBeDefined();
  // A poll has finished: the one requested at start-up, or this one (another file may have paused the
  // source meanwhile, which drops a queued poll).
  await api("POST", `/v1/demo/data-sources/${source.id}/sync`);
  source = await eventually("the first poll", async () => {
    const s = await api<Source>("GET", `/v1/demo/data-sources/${source.id}`);
    return s.last_success_at ? s : undefined;
  });
});

describe("the demo workspace's EHR connection", () => {
  it("reports its pipeline healthy once the first poll has run", async () => {
    const status = await api<{ status: string; sources: { id: string; status: string }[] }>(
      "GET",
      "/v1/demo/pipeline/status",
    );
    expect(["healthy", "degraded"]).toContain(status.status);
    expect(status.sources.find((s) => s.id === source.id)?.status).toBe("idle");
  });

  it("brings a patient created in the EHR into the world model on the next poll", async () => {
    const family = `Okonkwo${Date.now().toString(36)}`;
    const created = await fhir<{ id: string }>("POST", "Patient", {
      resourceType: "Patient",
      name: [{ given: ["Ifeoma"], family }],
      birthDate: "1979-04-12",
      gender: "female",
      telecom: [{ system: "phone", value: "+1 415 555 0177", use: "mobile" }],
    });
    await api("POST", `/v1/demo/data-sources/${source.id}/sync`);
    const entityId = await eventually("the new patient in the world model", () =>
      resolveExternal(`ehr:Patient:${created.id}`),
    );
    const entity = await api<{ facts: { path: string; value: unknown; confidence: number }[] }>(
      "GET",
      `/v1/demo/world/entities/${entityId}`,
    );
    const family_ = entity.facts.find((f) => f.path === "demographics.family_name");
    expect(family_).toMatchObject({ value: family, confidence: 1 });
    expect(entity.facts.find((f) => f.path === "contact.phone")?.value).toBe("+14155550177");
  });

  it("books an appointment in the EHR (booked, slot busy) and hears back through the Subscription", async () => {
    const patient = (await resolveExternal("ehr:Patient:demo-007"))!;
    expect(patient).toBeTruthy();
    const start = new Date(Date.now() + 3 * 86_400_000).toISOString();
    const slots = await api<{ results: { slot_id: string; start: string }[] }>(
      "GET",
      `/v1/demo/scheduling/slots?practitioner_id=pr-reyes&start_after=${encodeURIComponent(start)}&limit=3`,
    );
    expect(slots.results.length).toBeGreaterThan(0);
    const before = (await api<Source>("GET", `/v1/demo/data-sources/${source.id}`)).last_notification_at;
    const booked = await api<{ appointment_id: string; status: string }>(
      "POST",
      "/v1/demo/scheduling/appointments",
      {
        slot_id: slots.results[0]!.slot_id,
        patient,
        idempotency_key: `e2e-${crypto.randomUUID()}`,
      },
    );
    expect(booked.status).toBe("booked");
    const appointment = await fhir<{ status: string }>("GET", `Appointment/${booked.appointment_id}`);
    expect(appointment.status).toBe("booked");
    const slot = await fhir<{ status: string }>("GET", `Slot/${slots.results[0]!.slot_id}`);
    expect(slot.status).toBe("busy");
    // The sandbox's rest-hook Subscription POSTs the Appointment to the Worker's webhook.
    await eventually("the Subscription notification", async () => {
      const s = await api<Source>("GET", `/v1/demo/data-sources/${source.id}`);
      return s.last_notification_at && s.last_notification_at !== before;
    });
    const events = await api<{ results: { resource_type: string; resource_id: string; status: string }[] }>(
      "GET",
      `/v1/demo/pipeline/sources/${source.id}/events?limit=50&sort=-received_at`,
    );
    expect(
      events.results.some(
        (e) => e.resource_type === "Appointment" && e.resource_id === booked.appointment_id,
      ),
    ).toBe(true);
  });

  it("writes a verified allergy back as a valid AllergyIntolerance with its Provenance", async () => {
    const patient = (await resolveExternal("ehr:Patient:demo-012"))!;
    const substance = `Latex ${Date.now().toString(36)}`;
    const ingested = await api<{ results: { event_id: string }[] }>("POST", "/v1/demo/world/events", {
      events: [
        {
          idempotency_key: `e2e-allergy-${crypto.randomUUID()}`,
          entity_id: patient,
          event_type: "allergy.recorded",
          data: { substance, reaction: "hives", severity: "moderate" },
          source: "operator",
          confidence: 0.95,
        },
      ],
    });
    const eventId = ingested.results[0]!.event_id;
    const synced = await eventually("the writeback", async () => {
      const log = await api<{
        results: { id: string; world_event_id: string; status: string; fhir_resource_id: string }[];
      }>("GET", "/v1/demo/world/sync?fhir_resource_type=AllergyIntolerance&limit=200");
      return log.results.find((r) => r.world_event_id === eventId && r.status === "synced");
    });
    const allergy = await fhir<{ patient: { reference: string }; code: { text: string } }>(
      "GET",
      `AllergyIntolerance/${synced.fhir_resource_id}`,
    );
    expect(allergy.patient.reference).toBe("Patient/demo-012");
    expect(allergy.code.text).toBe(substance);
    const provenance = await fhir<{ entry?: { resource: { target: { reference: string }[] } }[] }>(
      "GET",
      `Provenance?_tag=${encodeURIComponent(`https://switchboard.health/sync|${synced.id}`)}`,
    );
    expect(provenance.entry?.length).toBe(1);
    expect(provenance.entry![0]!.resource.target[0]!.reference).toMatch(
      new RegExp(`^AllergyIntolerance/${synced.fhir_resource_id}/_history/\\d+$`),
    );
  });
});
