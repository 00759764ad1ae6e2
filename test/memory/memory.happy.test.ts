/**
 * The memory layers end to end in workerd: transcripts sealed in R2 (L0), an interaction's memories
 * and which of them were net-new (L1), the pattern cron (L2), and the model read at call start (L3).
 */
import { createScheduledController } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { and, eq } from "drizzle-orm";
import { beforeAll, describe, expect, it } from "vitest";
import type { PatientMemory } from "../../shared/world/memory";
import { memoryPatterns } from "../../workers/db/schema";
import { CRONS, handleScheduled } from "../../workers/scheduled";
import {
  getTranscript,
  putTranscript,
  recomputePatterns,
  rememberInteraction,
  transcriptKey,
} from "../../workers/world/memory";
import { db } from "../helpers/db";
import { api } from "../helpers/http";
import { createWorkspace, type TestWorkspace, unique } from "../helpers/workspace";
import { ehrPatient, ingest, interaction, setTimeZone } from "./fixtures";

let ws: TestWorkspace;
beforeAll(async () => {
  ws = await createWorkspace();
});

const system = { actorType: "system" as const, actorId: null };
const turnAt = (second: number) => new Date(Date.UTC(2026, 10, 20, 15, 0, second)).toISOString();

describe("L0: transcripts", () => {
  it("round-trips a transcript through R2, sealed at rest with ids only in its metadata", async () => {
    const callId = `call-${unique()}`;
    const turns = [
      { speaker: "agent" as const, text: "Riverside clinic, how can I help?", at: turnAt(0) },
      { speaker: "caller" as const, text: "I'm allergic to penicillin, Maria Lopez here.", at: turnAt(4) },
      { speaker: "operator" as const, text: "Joining the call.", at: turnAt(9) },
    ];
    const key = await putTranscript(env, ws.id, callId, turns);
    expect(key).toBe(`transcripts/${ws.id}/${callId}.json`);

    const raw = await env.FILES.get(key);
    const stored = await raw!.text();
    expect(stored).toMatch(/^v1\./);
    expect(stored).not.toMatch(/penicillin|Maria|caller/i);
    expect(raw!.customMetadata).toEqual({ workspace_id: ws.id, call_id: callId });

    expect(await getTranscript(env, ws.id, callId)).toEqual({ call_id: callId, turns });
    expect(await getTranscript(env, ws.id, `call-${unique()}`)).toBeNull();
  });
});

describe("L1: an interaction's memories", () => {
  it("records the interaction, extracts the caller's facts, and tells net-new from known", async () => {
    const { entityId } = await ehrPatient(ws, [
      { event_type: "preference.recorded", data: { channel: "voice" } },
      { event_type: "medication.recorded", data: { name: "Metformin", dose: "500 mg" } },
    ]);
    const callId = `call-${unique()}`;
    const input = {
      entityId,
      interactionId: callId,
      channel: "voice" as const,
      direction: "inbound" as const,
      occurredAt: turnAt(0),
      turns: [
        {
          speaker: "caller" as const,
          text: "I'm allergic to latex. Please text me, mornings are better.",
          at: turnAt(1),
        },
        { speaker: "agent" as const, text: "Noted: an allergy to latex. Is that right?", at: turnAt(5) },
        { speaker: "caller" as const, text: "Yes. And I need a refill of my metformin.", at: turnAt(8) },
      ],
    };
    const remembered = await rememberInteraction(env, ws.id, input, system);
    expect(remembered.engine).toBe("local");
    expect(remembered.transcriptKey).toBe(transcriptKey(ws.id, callId));
    expect(remembered.verdicts.map((v) => [v.path, v.verified])).toEqual([
      ["allergies.latex", true],
      ["preferences.channel", false],
      // The caller said "mornings", not "morning": the judge leaves it to a person.
      ["preferences.contact_time", false],
      ["medications.metformin", true],
    ]);

    const res = await api("GET", `/v1/${ws.id}/world/entities/${entityId}/memory/interactions/${callId}`, {
      key: ws.keys.viewer,
    });
    expect(res.status, res.text).toBe(200);
    expect(res.body.interaction).toMatchObject({
      interaction_id: callId,
      channel: "voice",
      topics: ["medication_refill"],
    });
    // The EHR already had a channel preference and the metformin: those are not new.
    expect(res.body.net_new_paths).toEqual([
      "allergies.latex",
      `interactions.${callId}`,
      "preferences.contact_time",
    ]);
    const latex = res.body.memories.filter((m: { path: string }) => m.path === "allergies.latex");
    // The extracted proposal and the judge's promotion of it, which is what the projection now holds.
    expect(latex.map((m: { produced_by: string; current: boolean }) => [m.produced_by, m.current])).toEqual([
      [`interaction:${callId}`, false],
      ["judge:deterministic", true],
    ]);
    expect(res.body.transcript).toEqual(input.turns);

    // The call engine retrying the same interaction stores nothing new.
    await rememberInteraction(env, ws.id, input, system);
    const again = await api("GET", `/v1/${ws.id}/world/entities/${entityId}/memory/interactions/${callId}`, {
      key: ws.keys.viewer,
    });
    expect(again.body.memories).toHaveLength(res.body.memories.length);
  });

  it("uses the AI binding when present, checking the request and believing only valid output", async () => {
    const { entityId } = await ehrPatient(ws);
    const calls: { model: string; inputs: Record<string, unknown> }[] = [];
    const fakeAi = {
      run: async (model: string, inputs: Record<string, unknown>) => {
        calls.push({ model, inputs });
        expect(model).toBe("@cf/meta/llama-3.3-70b-instruct-fp8-fast");
        expect(inputs).toMatchObject({
          messages: [{ role: "system" }, { role: "user" }],
          response_format: { type: "json_schema" },
          temperature: 0,
        });
        const transcript = JSON.parse((inputs.messages as { content: string }[])[1]!.content);
        expect(transcript).toEqual([
          { speaker: "agent", text: "Anything else?" },
          { speaker: "caller", text: "My doctor says I'm diabetic now." },
        ]);
        return {
          response: {
            facts: [
              {
                event_type: "condition.recorded",
                data: { name: "Type 2 diabetes" },
                basis: "agent_inferred",
              },
              { event_type: "allergy.recorded", data: { severity: "extreme" }, basis: "agent_mentioned" },
            ],
          },
        };
      },
    };
    const callId = `call-${unique()}`;
    const remembered = await rememberInteraction(
      { ...env, AI: fakeAi as unknown as Ai },
      ws.id,
      {
        entityId,
        interactionId: callId,
        channel: "voice",
        direction: "inbound",
        occurredAt: turnAt(0),
        turns: [
          { speaker: "agent", text: "Anything else?", at: turnAt(1) },
          { speaker: "caller", text: "My doctor says I'm diabetic now.", at: turnAt(2) },
        ],
      },
      system,
    );
    expect(calls).toHaveLength(1);
    expect(remembered.engine).toBe("workers_ai");
    // The invalid allergy was dropped; the condition went to the judge, who could not find the words.
    expect(remembered.verdicts).toMatchObject([{ path: "conditions.type-2-diabetes", verified: false }]);
  });
});

describe("L2: the pattern cron", () => {
  it("computes patterns for patients with new interactions, once", async () => {
    const tz = await createWorkspace();
    await setTimeZone(tz.id, "America/Chicago");
    const { entityId } = await ehrPatient(tz, [
      // 14:00 UTC is 08:00 in Chicago in November.
      interaction(`i-${unique()}`, "2026-11-02T14:00:00.000Z", { topics: ["medication_refill"] }),
      interaction(`i-${unique()}`, "2026-12-02T14:30:00.000Z", {
        channel: "sms",
        topics: ["medication_refill"],
      }),
    ]);
    const idle = await ehrPatient(tz);

    const first = await recomputePatterns(env, new Date());
    expect(first.recomputed.filter((r) => r.workspaceId === tz.id)).toEqual([
      { workspaceId: tz.id, entityId },
    ]);
    const [row] = await db()
      .select()
      .from(memoryPatterns)
      .where(and(eq(memoryPatterns.workspaceId, tz.id), eq(memoryPatterns.entityId, entityId)));
    expect(row!.patterns).toMatchObject({
      interactions: 2,
      contact_time: { bucket: "morning", support: 2, time_zone: "America/Chicago" },
      adherence: [{ topic: "medication_refill", intervals_days: [30] }],
    });
    const patientsWithPatterns = await db()
      .select()
      .from(memoryPatterns)
      .where(eq(memoryPatterns.workspaceId, tz.id));
    expect(patientsWithPatterns.map((r) => r.entityId)).not.toContain(idle.entityId);

    // Nothing new: nobody is recomputed and the row is left as it was.
    const second = await recomputePatterns(env, new Date());
    expect(second.recomputed.filter((r) => r.workspaceId === tz.id)).toEqual([]);
    const [unchanged] = await db()
      .select()
      .from(memoryPatterns)
      .where(and(eq(memoryPatterns.workspaceId, tz.id), eq(memoryPatterns.entityId, entityId)));
    expect(unchanged).toEqual(row);

    // A new interaction: recomputed and upserted in place.
    await ingest(tz, [{ entity_id: entityId, ...interaction(`i-${unique()}`, "2027-01-01T14:00:00.000Z") }]);
    const third = await recomputePatterns(env, new Date());
    expect(third.recomputed.filter((r) => r.workspaceId === tz.id)).toEqual([
      { workspaceId: tz.id, entityId },
    ]);
    const rows = await db().select().from(memoryPatterns).where(eq(memoryPatterns.workspaceId, tz.id));
    expect(rows).toHaveLength(1);
    expect(rows[0]!.patterns).toMatchObject({ interactions: 3 });
  });

  it("does a bounded amount of work per run, and runs from the hourly cron", async () => {
    const busy = await createWorkspace();
    for (let i = 0; i < 3; i++)
      await ehrPatient(busy, [interaction(`i-${unique()}`, "2026-11-02T14:00:00.000Z")]);
    const limited = await recomputePatterns(env, new Date(), { maxPatients: 1 });
    expect(limited.recomputed).toHaveLength(1);

    await handleScheduled(createScheduledController({ cron: CRONS.hourly, scheduledTime: Date.now() }), env);
    const rows = await db().select().from(memoryPatterns).where(eq(memoryPatterns.workspaceId, busy.id));
    expect(rows).toHaveLength(3);
  });
});

describe("L3: the patient model at call start", () => {
  it("holds identity, safety facts whatever their confidence, preferences, tasks and recent interactions", async () => {
    const { entityId } = await ehrPatient(ws, [
      { event_type: "contact.recorded", data: { phone: "+12125550147" } },
      { event_type: "preference.recorded", data: { contact_time: "evening" } },
      {
        event_type: "task.recorded",
        data: { task_id: "cb-1", kind: "callback", due_at: "2026-12-01T22:00:00.000Z", note: "Lab results" },
      },
      {
        event_type: "task.recorded",
        data: { task_id: "cb-0", kind: "callback", due_at: "2026-11-01T22:00:00.000Z", status: "done" },
      },
      ...Array.from({ length: 7 }, (_, i) =>
        interaction(`visit-${i}`, `2026-10-0${i + 1}T15:00:00.000Z`, { summary: "x".repeat(1000) }),
      ),
    ]);
    // A caller mentioned these on a call: low confidence, not verified.
    await ingest(ws, [
      {
        entity_id: entityId,
        event_type: "allergy.recorded",
        data: { substance: "Latex" },
        source: "voice",
        confidence: 0.1,
      },
      {
        entity_id: entityId,
        event_type: "medication.recorded",
        data: { name: "Aspirin" },
        source: "voice",
        confidence: 0.1,
      },
      {
        entity_id: entityId,
        event_type: "contact.recorded",
        data: { email: "ana@example.com" },
        source: "voice",
      },
    ]);

    const res = await api("GET", `/v1/${ws.id}/world/entities/${entityId}/memory`, { key: ws.keys.viewer });
    expect(res.status, res.text).toBe(200);
    const memory = res.body as PatientMemory;
    expect(memory.identity).toMatchObject({
      birth_date: "1980-04-02",
      phone: "+12125550147",
      email: "ana@example.com",
      verified: { name: true, birth_date: true, phone: true, email: false },
    });
    expect(memory.identity.display_name).toMatch(/^Ana Q/);
    expect(memory.safety).toEqual([
      {
        path: "allergies.latex",
        value: { substance: "Latex", status: "active" },
        confidence: 0.1,
        source: "voice",
        verified: false,
      },
    ]);
    // Below the agent's confidence floor, and not safety-critical: left out.
    expect(memory.medications).toEqual([]);
    expect(memory.preferences).toEqual({ contact_time: { value: "evening", confidence: 1 } });
    expect(memory.open_tasks).toEqual([
      { task_id: "cb-1", kind: "callback", due_at: "2026-12-01T22:00:00.000Z", note: "Lab results" },
    ]);
    expect(memory.recent_interactions.map((i) => i.interaction_id)).toEqual([
      "visit-6",
      "visit-5",
      "visit-4",
      "visit-3",
      "visit-2",
    ]);
    expect(memory.recent_interactions[0]!.summary).toHaveLength(240);
    // Seven calls at 15:00 and two callbacks at 22:00, in the workspace's UTC.
    expect(memory.patterns).toMatchObject({
      interactions: 7,
      contact_time: { bucket: "afternoon", support: 7, total: 9 },
    });
    expect(memory.patterns_computed_at).toBeNull();
    expect(res.text.length).toBeLessThan(4096);
  });

  it("uses the cron's patterns while they cover every interaction", async () => {
    const { entityId } = await ehrPatient(ws, [interaction(`i-${unique()}`, "2026-11-02T14:00:00.000Z")]);
    await recomputePatterns(env, new Date());
    const read = async () =>
      (await api("GET", `/v1/${ws.id}/world/entities/${entityId}/memory`, { key: ws.keys.viewer }))
        .body as PatientMemory;
    const cached = await read();
    expect(cached.patterns_computed_at).not.toBeNull();
    expect(cached.patterns?.interactions).toBe(1);

    await ingest(ws, [{ entity_id: entityId, ...interaction(`i-${unique()}`, "2026-11-03T14:00:00.000Z") }]);
    const fresh = await read();
    expect(fresh.patterns_computed_at).toBeNull();
    expect(fresh.patterns?.interactions).toBe(2);
  });
});
