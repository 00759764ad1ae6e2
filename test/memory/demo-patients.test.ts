/**
 * The demo patients `npm start` seeds: deterministic, realistic enough to show every memory layer, valid
 * for the ingest API, idempotent to seed, and with two near-duplicates for entity resolution to find.
 */
import { and, eq } from "drizzle-orm";
import { describe, expect, it } from "vitest";
import { DEMO_PATIENT_COUNT, demoPatientBatches, demoPatients } from "../../scripts/demo-patients";
import { IngestRequest } from "../../shared/schemas/world";
import { normalizeE164 } from "../../shared/tenancy/phone";
import { parseEventData } from "../../shared/world/events";
import type { PatientMemory } from "../../shared/world/memory";
import { reviewItems } from "../../workers/db/schema";
import { db } from "../helpers/db";
import { api } from "../helpers/http";
import { createWorkspace } from "../helpers/workspace";

const patients = demoPatients();
const originals = patients.filter((p) => p.duplicate_of === null);

describe("the generator", () => {
  it("makes the same 50 patients, plus two near-duplicates, on every call", () => {
    expect(originals).toHaveLength(DEMO_PATIENT_COUNT);
    expect(demoPatients()).toEqual(patients);
    expect(patients.map((p) => p.id).slice(0, 3)).toEqual(["demo-001", "demo-002", "demo-003"]);
    expect(patients.every((p) => p.external_id === `ehr:Patient:${p.id}`)).toBe(true);
  });

  it("gives each patient valid, distinct contact details", () => {
    for (const p of patients) {
      expect(normalizeE164(p.phone), p.id).toBe(p.phone);
      expect(p.email, p.id).toMatch(/^[^@\s]+@example\.(com|org|net)$/i);
      expect(p.birth_date, p.id).toMatch(/^(19[3-9]\d|20[01]\d)-\d{2}-\d{2}$/);
    }
    for (const key of ["phone", "email"] as const)
      expect(new Set(originals.map((p) => p[key].toLowerCase())).size).toBe(originals.length);
  });

  it("stays within the promised ranges, with some variety", () => {
    for (const p of originals) {
      expect(p.allergies.length, p.id).toBeLessThanOrEqual(3);
      expect(p.medications.length, p.id).toBeLessThanOrEqual(4);
      expect(p.interactions.length, p.id).toBeGreaterThanOrEqual(1);
      expect(p.interactions.length, p.id).toBeLessThanOrEqual(4);
      expect(p.coverage.member_id, p.id).toMatch(/^[A-Z]{3}\d{9}$/);
    }
    const channels = new Set(originals.flatMap((p) => p.interactions.map((i) => i.channel)));
    expect([...channels].sort()).toEqual(["sms", "voice"]);
    expect(originals.some((p) => p.allergies.length === 0)).toBe(true);
    expect(originals.some((p) => p.allergies.length === 3)).toBe(true);
    const refills = originals.filter(
      (p) => p.interactions.filter((i) => i.topics.includes("medication_refill")).length >= 2,
    );
    expect(refills.length).toBeGreaterThanOrEqual(5);
  });

  it("includes two near-duplicates of existing patients under new EHR ids", () => {
    const copies = patients.filter((p) => p.duplicate_of !== null);
    expect(copies).toHaveLength(2);
    for (const copy of copies) {
      const original = patients.find((p) => p.id === copy.duplicate_of)!;
      expect(copy.external_id).not.toBe(original.external_id);
      expect(copy.birth_date).toBe(original.birth_date);
      expect(copy.phone).toBe(original.phone);
      expect(copy.name.family).toBe(original.name.family);
    }
    const [sameName, nickname] = copies;
    expect(sameName!.email).not.toBe(patients.find((p) => p.id === sameName!.duplicate_of)!.email);
    expect(nickname!.name.given).not.toBe(patients.find((p) => p.id === nickname!.duplicate_of)!.name.given);
  });

  it("turns into valid ingest batches with stable, unique idempotency keys, copies last", () => {
    const batches = demoPatientBatches();
    const events = batches.flat();
    for (const batch of batches) expect(IngestRequest.safeParse({ events: batch }).success).toBe(true);
    for (const e of events)
      expect(parseEventData(e.event_type, "patient", e.data).ok, e.idempotency_key).toBe(true);
    expect(new Set(events.map((e) => e.idempotency_key)).size).toBe(events.length);
    expect(
      demoPatientBatches()
        .flat()
        .map((e) => e.idempotency_key),
    ).toEqual(events.map((e) => e.idempotency_key));
    expect(batches.at(-1)!.every((e) => /demo-05[12]/.test(e.entity!.external_id))).toBe(true);
    expect(events.every((e) => e.source === "ehr" && e.source_system === "demo-ehr")).toBe(true);
  });
});

describe("seeding", () => {
  it("stores every event once, merges the strong duplicate and queues the weak one for review", async () => {
    const ws = await createWorkspace();
    const post = (events: unknown[]) =>
      api("POST", `/v1/${ws.id}/world/events`, { key: ws.keys.operator, body: { events } });
    const batches = demoPatientBatches();
    let stored = 0;
    for (const batch of batches) {
      const res = await post(batch);
      expect(res.status, res.text).toBe(200);
      stored += res.body.stored;
    }
    expect(stored).toBe(batches.flat().length);

    const listed = await api("GET", `/v1/${ws.id}/world/entities?entity_type=patient&limit=100`, {
      key: ws.keys.viewer,
    });
    // 52 records, one merged away: the nickname copy waits for a person.
    expect(listed.body.total).toBe(51);
    const merges = await api("GET", `/v1/${ws.id}/world/entities/duplicates`, { key: ws.keys.viewer });
    expect(merges.body.results).toHaveLength(1);
    expect(merges.body.results[0].confidence).toBeGreaterThanOrEqual(0.95);

    const matches = await db()
      .select()
      .from(reviewItems)
      .where(and(eq(reviewItems.workspaceId, ws.id), eq(reviewItems.kind, "entity_match")));
    expect(matches).toHaveLength(1);

    const again = await post(batches[0]!);
    expect(again.body).toMatchObject({ stored: 0, duplicates: batches[0]!.length });

    // Every seeded patient has a compact model to start a call with.
    const first = listed.body.results[0];
    const memory = await api("GET", `/v1/${ws.id}/world/entities/${first.id}/memory`, {
      key: ws.keys.viewer,
    });
    expect(memory.status).toBe(200);
    expect((memory.body as PatientMemory).recent_interactions.length).toBeGreaterThanOrEqual(1);
    expect(memory.text.length).toBeLessThan(4096);
  }, 60_000);
});
