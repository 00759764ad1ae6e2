/**
 * The gap scanner over real world-model facts: patients with an appointment in the lookahead (named by
 * entity id or by `Patient/<FHIR id>`) or a recent interaction, missing a required path, get a surface;
 * the gates block, send verbal or pick the channel; the dry run writes nothing and matches the real run;
 * a rerun is a no-op; requirements are managed through the API.
 */
import { env } from "cloudflare:workers";
import { and, eq } from "drizzle-orm";
import { describe, expect, it } from "vitest";
import { gateDecisions, surfaces } from "../../workers/db/schema";
import { runScanner } from "../../workers/surfaces/scanner";
import { get } from "../../workers/surfaces/service";
import { db } from "../helpers/db";
import { api } from "../helpers/http";
import { patientEvent } from "../helpers/operations";
import { createWorkspace, type TestWorkspace, unique } from "../helpers/workspace";

const inHours = (h: number) => new Date(Date.now() + h * 3_600_000).toISOString();

async function ingest(ws: TestWorkspace, events: unknown[]): Promise<string[]> {
  const res = await api("POST", `/v1/${ws.id}/world/events`, { key: ws.keys.owner, body: { events } });
  if (res.status !== 200) throw new Error(`ingest failed: ${res.text}`);
  return res.body.results.map((r: { entity_id: string }) => r.entity_id);
}

/** A patient, optionally with an email on record and a FHIR Patient id of its own. */
async function patient(ws: TestWorkspace, options: { email?: boolean; fhirId?: string } = {}) {
  const [id] = await ingest(ws, [
    {
      ...patientEvent(),
      ...(options.fhirId ? { fhir_resource_type: "Patient", fhir_resource_id: options.fhirId } : {}),
    },
  ]);
  if (options.email)
    await ingest(ws, [
      {
        idempotency_key: `evt-${unique()}`,
        entity_id: id,
        event_type: "contact.recorded",
        data: { email: `p${unique()}@example.test` },
        source: "ehr",
      },
    ]);
  return id!;
}

function appointment(ws: TestWorkspace, patientRef: string, start: string, status = "booked") {
  return ingest(ws, [
    {
      idempotency_key: `evt-${unique()}`,
      entity: { entity_type: "appointment", external_id: `ehr:Appointment:${unique()}` },
      event_type: "appointment.recorded",
      data: { status, start, patient_id: patientRef },
      source: "ehr",
    },
  ]);
}

function interaction(ws: TestWorkspace, entityId: string, occurredAt: string) {
  return ingest(ws, [
    {
      idempotency_key: `evt-${unique()}`,
      entity_id: entityId,
      event_type: "interaction.recorded",
      data: {
        interaction_id: `int-${unique()}`,
        channel: "voice",
        direction: "inbound",
        occurred_at: occurredAt,
      },
      source: "system",
    },
  ]);
}

async function seedSurface(
  ws: TestWorkspace,
  entityId: string,
  status: "created" | "completed",
  createdAt: string,
) {
  await db()
    .insert(surfaces)
    .values({
      id: `srf_${unique()}${unique()}`,
      workspaceId: ws.id,
      entityId,
      title: "Earlier form",
      specEnc: "sealed",
      status,
      channel: "sms",
      createdByType: "operator",
      fieldCount: 1,
      requiredCount: 1,
      expiresAt: inHours(100),
      createdAt,
      ...(status === "completed" ? { completedAt: createdAt } : {}),
    });
}

async function requirement(ws: TestWorkspace, body: Record<string, unknown>): Promise<string> {
  const res = await api("POST", `/v1/${ws.id}/gap-requirements`, { key: ws.keys.admin, body });
  if (res.status !== 201) throw new Error(`requirement failed: ${res.text}`);
  return res.body.id;
}

const counts = async (ws: TestWorkspace) => ({
  surfaces: await db().$count(surfaces, eq(surfaces.workspaceId, ws.id)),
  decisions: await db().$count(gateDecisions, eq(gateDecisions.workspaceId, ws.id)),
});

/** The decisions of a result, comparable between runs (no run or surface ids). */
const decisions = (r: Awaited<ReturnType<typeof runScanner>>) => ({
  created: r.created.map(({ entity_id, requirement_id, channel, missing_paths }) => ({
    entity_id,
    requirement_id,
    channel,
    missing_paths,
  })),
  blocked: r.blocked.map(({ entity_id, requirement_id, channel, missing_paths }) => ({
    entity_id,
    requirement_id,
    channel,
    missing_paths,
  })),
  verbal: r.verbal.map(({ entity_id, requirement_id }) => ({ entity_id, requirement_id })),
  considered: r.considered,
  skipped: r.skipped,
});

describe("gap scanner", () => {
  it("dry run writes nothing and matches the real run; a rerun is a no-op", async () => {
    const ws = await createWorkspace();
    const byEntity = await patient(ws);
    const fhirId = `p-${unique()}`;
    const byFhir = await patient(ws, { fhirId });
    const complete = await patient(ws, { email: true });
    const later = await patient(ws);
    const cancelled = await patient(ws);
    const busy = await patient(ws);
    const cooling = await patient(ws);
    await appointment(ws, byEntity, inHours(24));
    await appointment(ws, `Patient/${fhirId}`, inHours(30));
    await appointment(ws, complete, inHours(20));
    await appointment(ws, later, inHours(200));
    await appointment(ws, cancelled, inHours(10), "cancelled");
    await appointment(ws, busy, inHours(40));
    await appointment(ws, cooling, inHours(50));
    for (let i = 0; i < 3; i++) await seedSurface(ws, busy, "created", inHours(-100));
    await seedSurface(ws, cooling, "completed", inHours(-5));
    // The second requirement only applies to patients who called in the last day: one has no phone.
    const caller = await patient(ws, { email: true });
    await interaction(ws, caller, inHours(-2));
    await interaction(ws, later, inHours(-48));

    const email = await requirement(ws, {
      name: "Email before the visit",
      trigger: "upcoming_appointment",
      lookahead_hours: 72,
      required_paths: ["contact.email"],
      channel: "web",
      priority: "high",
    });
    const coverage = await requirement(ws, {
      name: "Insurance after a call",
      trigger: "recent_interaction",
      lookahead_hours: 24,
      required_paths: ["coverage."],
      channel: "sms",
      priority: "low",
    });

    const before = await counts(ws);
    const preview = await api("POST", `/v1/${ws.id}/surfaces/scanner/preview`, { key: ws.keys.operator });
    expect(preview.status).toBe(200);
    expect(await counts(ws)).toEqual(before);
    expect(preview.body.dry_run).toBe(true);

    const sorted = (ids: string[]) => [...ids].sort();
    expect(sorted(preview.body.created.map((c: { entity_id: string }) => c.entity_id))).toEqual(
      sorted([byEntity, byFhir]),
    );
    expect(preview.body.created.every((c: { surface_id: null }) => c.surface_id === null)).toBe(true);
    expect(preview.body.verbal).toEqual([
      expect.objectContaining({ entity_id: busy, requirement_id: email, channel: "voice" }),
    ]);
    expect(preview.body.blocked).toEqual([
      expect.objectContaining({
        entity_id: cooling,
        requirement_id: email,
        reason: expect.stringMatching(/cooldown/),
      }),
      expect.objectContaining({
        entity_id: caller,
        requirement_id: coverage,
        reason: "no sms address on record",
      }),
    ]);
    expect(preview.body.skipped).toEqual({
      complete: 1,
      pending_surface: 0,
      recently_decided: 0,
      nothing_to_ask: 0,
    });
    // Soonest appointment first.
    expect(preview.body.created[0].entity_id).toBe(byEntity);

    const run = await api("POST", `/v1/${ws.id}/surfaces/scanner/run`, { key: ws.keys.admin });
    expect(run.status).toBe(200);
    expect(decisions(run.body)).toEqual(decisions(preview.body));

    // The surfaces exist, ask for the missing email, are tied to the requirement and were sent.
    for (const made of run.body.created) {
      expect(made.delivered).toBe(true);
      const surface = await get(env, ws.id, made.surface_id);
      expect(surface).toMatchObject({
        entityId: made.entity_id,
        title: "Email before the visit",
        channel: "web",
      });
      expect(surface!.spec.fields.map((f) => f.key)).toEqual(["email"]);
      expect(surface!.spec.fields[0]!.target).toMatchObject({
        event_type: "contact.recorded",
        data_key: "email",
      });
      const [row] = await db().select().from(surfaces).where(eq(surfaces.id, made.surface_id));
      expect(row!.requirementId).toBe(email);
    }
    const recorded = await db()
      .select()
      .from(gateDecisions)
      .where(and(eq(gateDecisions.workspaceId, ws.id), eq(gateDecisions.runId, run.body.run_id)));
    expect(recorded.map((d) => d.decision).sort()).toEqual(["allow", "allow", "block", "block", "verbal"]);
    expect(recorded.filter((d) => d.decision === "allow").every((d) => d.surfaceId !== null)).toBe(true);

    const after = await counts(ws);
    const again = await runScanner(env, ws.id, { dryRun: false });
    expect(again.created).toEqual([]);
    expect(again.blocked).toEqual([]);
    expect(again.verbal).toEqual([]);
    expect(again.skipped).toMatchObject({ pending_surface: 2, recently_decided: 3, complete: 1 });
    expect(await counts(ws)).toEqual(after);
  });

  it("the run cap stops creating; the next patient is blocked with the reason", async () => {
    const ws = await createWorkspace();
    const first = await patient(ws);
    const second = await patient(ws);
    await appointment(ws, first, inHours(5));
    await appointment(ws, second, inHours(6));
    await api("PUT", `/v1/${ws.id}/surfaces/settings`, {
      key: ws.keys.admin,
      body: { gates: { max_surfaces_per_run: 1 } },
    });
    await requirement(ws, {
      name: "Birth date",
      trigger: "upcoming_appointment",
      lookahead_hours: 12,
      required_paths: ["demographics.birth_date"],
      channel: "web",
    });
    const dry = await runScanner(env, ws.id, { dryRun: true });
    const real = await runScanner(env, ws.id, { dryRun: false });
    expect(decisions(real)).toEqual(decisions(dry));
    expect(real.created.map((c) => c.entity_id)).toEqual([first]);
    expect(real.blocked).toEqual([
      expect.objectContaining({ entity_id: second, reason: expect.stringMatching(/run cap/) }),
    ]);
  });

  it("manages requirements: validation, template check, patch, delete, roles", async () => {
    const ws = await createWorkspace();
    const base = `/v1/${ws.id}/gap-requirements`;
    const valid = {
      name: "Coverage",
      trigger: "upcoming_appointment",
      lookahead_hours: 48,
      required_paths: ["coverage."],
      channel: "sms",
    };
    const created = await api("POST", base, { key: ws.keys.admin, body: valid });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({ required_paths: ["coverage"], priority: "medium", enabled: true });
    expect(
      (await api("POST", base, { key: ws.keys.admin, body: { ...valid, trigger: "weekly" } })).status,
    ).toBe(400);
    expect(
      (await api("POST", base, { key: ws.keys.admin, body: { ...valid, required_paths: ["Contact Email"] } }))
        .status,
    ).toBe(400);
    const noTemplate = await api("POST", base, {
      key: ws.keys.admin,
      body: { ...valid, template_id: "tpl_doesnotexist1" },
    });
    expect(noTemplate.status).toBe(422);
    expect((await api("POST", base, { key: ws.keys.operator, body: valid })).status).toBe(403);

    const patched = await api("PATCH", `${base}/${created.body.id}`, {
      key: ws.keys.admin,
      body: { enabled: false, lookahead_hours: 24 },
    });
    expect(patched.status).toBe(200);
    expect(patched.body).toMatchObject({ enabled: false, lookahead_hours: 24, name: "Coverage" });
    expect((await api("PATCH", `${base}/${created.body.id}`, { key: ws.keys.admin, body: {} })).status).toBe(
      400,
    );
    const list = await api("GET", base, { key: ws.keys.viewer });
    expect(list.body.total).toBe(1);
    expect((await api("DELETE", `${base}/${created.body.id}`, { key: ws.keys.admin })).status).toBe(204);
    expect((await api("DELETE", `${base}/${created.body.id}`, { key: ws.keys.admin })).status).toBe(404);
    // A disabled or deleted requirement is not scanned.
    expect((await runScanner(env, ws.id, { dryRun: true })).considered).toBe(0);
  });
});
