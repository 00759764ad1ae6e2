/**
 * Ingesting events through the API: a re-delivered idempotency key stores once (also when both copies
 * arrive at the same moment), and a patient's live `PatientModel` state, built up one request at a time,
 * equals its rebuild from D1 for random event histories.
 */
import { env } from "cloudflare:workers";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { blindIndex } from "../../shared/crypto/blind-index";
import { newId } from "../../shared/ids";
import type { Statement } from "../../workers/db/client";
import {
  findEntities,
  findIdentifierHits,
  insertEntities,
  insertIdentifiers,
  replaceTerms,
} from "../../workers/db/world";
import { patientModel } from "../../workers/world/state";
import { db } from "../helpers/db";
import { factAt, ingestPatient, worldCounts, worldWorkspace } from "./fixtures";

const medication = (entityId: string, key: string, name: string, extra: Record<string, unknown> = {}) => ({
  idempotency_key: key,
  entity_id: entityId,
  event_type: "medication.recorded",
  data: { name },
  source: "ehr",
  ...extra,
});

describe("idempotency", () => {
  it("a repeated idempotency key is reported as a duplicate and stored once", async () => {
    const f = await worldWorkspace();
    const entityId = await ingestPatient(f);
    const events = [medication(entityId, "rx-1", "metformin"), medication(entityId, "rx-2", "lisinopril")];
    const first = await f.call("operator", "POST", "/world/events", { events });
    const before = await worldCounts(f.ws.id);
    const again = await f.call("operator", "POST", "/world/events", { events });
    expect(again.body).toMatchObject({ stored: 0, duplicates: 2 });
    expect(again.body.results.map((r: { event_id: string }) => r.event_id)).toEqual(
      first.body.results.map((r: { event_id: string }) => r.event_id),
    );
    expect(await worldCounts(f.ws.id)).toEqual(before);
  });

  it("the same event delivered twice at once is stored once, and the live projection holds it once", async () => {
    const f = await worldWorkspace();
    const entityId = await ingestPatient(f);
    const events = [medication(entityId, "rx-race", "metformin", { confidence: 0.6 })];
    const answers = await Promise.all([
      f.call("operator", "POST", "/world/events", { events }),
      f.call("operator", "POST", "/world/events", { events }),
    ]);
    expect(answers.map((r) => r.status)).toEqual([200, 200]);
    const stored = await env.DB.prepare(
      "SELECT id FROM world_events WHERE workspace_id = ? AND idempotency_key = ?",
    )
      .bind(f.ws.id, "rx-race")
      .all<{ id: string }>();
    expect(stored.results).toHaveLength(1);
    // Both answers name the one stored event.
    for (const res of answers) expect(res.body.results[0].event_id).toBe(stored.results[0]!.id);
    const ref = { workspaceId: f.ws.id, entityId };
    const live = await patientModel(env, f.ws.id, entityId).state(ref);
    expect(live.history["medications.metformin"]).toHaveLength(1);
    expect(live).toEqual(await patientModel(env, f.ws.id, entityId).rebuild(ref));
  });
});

describe("more rows than D1 binds parameters (100 a statement)", () => {
  it("a batch creating 60 entities (120 identifier lookup parameters) is stored", async () => {
    const f = await worldWorkspace();
    const created = await f.call("operator", "POST", "/world/events", {
      events: Array.from({ length: 60 }, (_, i) => ({
        idempotency_key: `site-${i}`,
        entity: { entity_type: "location", external_id: `ehr:Location:site-${i}` },
        event_type: "profile.recorded",
        data: { name: `Site ${i}` },
        source: "ehr",
      })),
    });
    expect(created.status, created.text).toBe(200);
    expect(new Set(created.body.results.map((r: { entity_id: string }) => r.entity_id)).size).toBe(60);
  });

  it("entities and identifier hits are looked up in parts; a name matching 120 entities is searchable", async () => {
    const f = await worldWorkspace();
    const database = db();
    const ids = Array.from({ length: 120 }, () => newId("ent"));
    const termHash = await blindIndex(env.ENCRYPTION_KEY, f.ws.id, "term", "marisol");
    const keys = await Promise.all(
      ids.map(async (id) => ({
        kind: "phone",
        valueHash: await blindIndex(env.ENCRYPTION_KEY, f.ws.id, "phone", id),
      })),
    );
    await database.batch([
      ...insertEntities(
        database,
        ids.map((id) => ({ id, workspaceId: f.ws.id, entityType: "patient", source: "ehr" })),
      ),
      ...insertIdentifiers(
        database,
        ids.map((entityId, i) => ({ workspaceId: f.ws.id, entityId, ...keys[i]! })),
      ),
      ...ids.flatMap((id) => replaceTerms(database, f.ws.id, id, [termHash])),
    ] as [Statement, ...Statement[]]);

    expect(await findEntities(database, f.ws.id, ids)).toHaveLength(120);
    expect(await findIdentifierHits(database, f.ws.id, keys)).toHaveLength(120);
    const search = await f.call("viewer", "GET", "/world/search?q=marisol&limit=5");
    expect(search.status, search.text).toBe(200);
    expect(search.body).toMatchObject({ total: 120, results: expect.any(Array) });
    expect(search.body.results).toHaveLength(5);
  });
});

describe("PatientModel", () => {
  const NAMES = ["metformin", "lisinopril", "atorvastatin", "insulin"];
  const INSTANTS = ["2026-01-01T08:00:00Z", "2026-01-01T09:00:00Z", "2026-02-01T08:00:00+02:00"];

  /** A history: batches of medication events, each possibly superseding an event of an earlier batch. */
  const history = fc.array(
    fc.array(
      fc.record({
        name: fc.constantFrom(...NAMES),
        dose: fc.constantFrom("5 mg", "10 mg", "20 mg"),
        confidence: fc.constantFrom(0, 0.3, 0.5, 0.85, 0.95, 1),
        effectiveAt: fc.constantFrom(...INSTANTS),
        supersedes: fc.option(fc.nat({ max: 20 }), { nil: null }),
      }),
      { minLength: 1, maxLength: 3 },
    ),
    { minLength: 2, maxLength: 4 },
  );

  it("live state, updated one request at a time, equals a rebuild from D1", async () => {
    const f = await worldWorkspace();
    await fc.assert(
      fc.asyncProperty(history, async (batches) => {
        const entityId = await ingestPatient(f);
        const stored: string[] = [];
        for (const [b, batch] of batches.entries()) {
          const res = await f.call("operator", "POST", "/world/events", {
            events: batch.map((e, i) =>
              medication(entityId, `${entityId}:${b}:${i}`, e.name, {
                data: { name: e.name, dose: e.dose },
                confidence: e.confidence,
                effective_at: e.effectiveAt,
                source: "voice",
                ...(e.supersedes !== null && stored.length > 0
                  ? { supersedes: stored[e.supersedes % stored.length] }
                  : {}),
              }),
            ),
          });
          expect(res.status, res.text).toBe(200);
          stored.push(...res.body.results.map((r: { event_id: string }) => r.event_id));
        }
        const ref = { workspaceId: f.ws.id, entityId };
        const model = patientModel(env, f.ws.id, entityId);
        const live = await model.state(ref);
        expect(live.eventCount).toBe(stored.length + 1);
        expect(await model.rebuild(ref)).toEqual(live);
        expect(await model.state(ref)).toEqual(live);
      }),
      { numRuns: 4 },
    );
  });

  it("the entity API serves the projection's winner with its source and confidence", async () => {
    const f = await worldWorkspace();
    const entityId = await ingestPatient(f);
    await f.call("operator", "POST", "/world/events", {
      events: [
        medication(entityId, "a", "metformin", {
          data: { name: "metformin", dose: "500 mg" },
          source: "voice",
          confidence: 0.3,
        }),
        medication(entityId, "b", "metformin", { data: { name: "metformin", dose: "850 mg" } }),
      ],
    });
    expect(await factAt(f, entityId, "medications.metformin")).toMatchObject({
      value: { name: "metformin", dose: "850 mg" },
      confidence: 1,
      source: "ehr",
    });
  });
});
