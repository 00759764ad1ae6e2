/**
 * Fatigue gates: each gate blocks exactly when configured (table-driven over the pure verdict), the
 * channel the patient completes on wins, three unfinished surfaces mean "ask verbally", and `decide`
 * reads the patient's real surfaces and records every decision with its reason.
 */
import { env } from "cloudflare:workers";
import { and, eq } from "drizzle-orm";
import { describe, expect, it } from "vitest";
import { SurfaceGates } from "../../shared/schemas/surface-settings";
import { gateDecisions, surfaces } from "../../workers/db/schema";
import {
  decide,
  gateVerdict,
  type PatientHistory,
  patientHistory,
  preferredChannel,
} from "../../workers/surfaces/gates";
import { db } from "../helpers/db";
import { api } from "../helpers/http";
import { createWorkspace, unique } from "../helpers/workspace";

const NOW = new Date("2026-03-10T12:00:00.000Z");
const hoursAgo = (h: number) => new Date(NOW.getTime() - h * 3_600_000).toISOString();
const DEFAULTS = SurfaceGates.parse({});
const EMPTY: PatientHistory = {
  pending: 0,
  completed: 0,
  closed: 0,
  lastCreatedAt: null,
  completedByChannel: {},
};
const request = { requestedChannel: "sms" as const, surfacesThisRun: 0 };

describe("gateVerdict", () => {
  const cases: {
    name: string;
    gates?: Partial<SurfaceGates>;
    history?: Partial<PatientHistory>;
    surfacesThisRun?: number;
    decision: "allow" | "block" | "verbal";
    reason?: RegExp;
  }[] = [
    { name: "a new patient", decision: "allow", reason: /no completed surface yet/ },
    { name: "run cap reached", surfacesThisRun: 100, decision: "block", reason: /run cap/ },
    { name: "run cap not yet reached", surfacesThisRun: 99, decision: "allow" },
    {
      name: "run cap 0 blocks the first",
      gates: { max_surfaces_per_run: 0 },
      decision: "block",
      reason: /run cap/,
    },
    { name: "2 pending under both limits", history: { pending: 2 }, decision: "allow" },
    {
      name: "3 pending: verbal",
      history: { pending: 3 },
      decision: "verbal",
      reason: /ask on the next call/,
    },
    {
      name: "max pending 1, one pending: blocked",
      gates: { max_pending_per_patient: 1 },
      history: { pending: 1 },
      decision: "block",
      reason: /1 unfinished surfaces \(max 1\)/,
    },
    {
      name: "max pending 1, verbal 1: verbal wins",
      gates: { max_pending_per_patient: 1, verbal_after_pending: 1 },
      history: { pending: 1 },
      decision: "verbal",
    },
    {
      name: "cooldown: 47 h after the last",
      history: { lastCreatedAt: hoursAgo(47) },
      decision: "block",
      reason: /cooldown/,
    },
    { name: "cooldown: 49 h after the last", history: { lastCreatedAt: hoursAgo(49) }, decision: "allow" },
    {
      name: "cooldown 0",
      gates: { cooldown_hours: 0 },
      history: { lastCreatedAt: hoursAgo(0) },
      decision: "allow",
    },
    {
      name: "completion 0 of 3 closed",
      history: { closed: 3, completed: 0 },
      decision: "block",
      reason: /completion rate 0\.00 over 3 closed surfaces/,
    },
    { name: "completion 0 of 2 closed: too few to judge", history: { closed: 2 }, decision: "allow" },
    {
      name: "completion 1 of 5 closed meets 0.2",
      history: { closed: 5, completed: 1, completedByChannel: { sms: { count: 1, lastAt: hoursAgo(100) } } },
      decision: "allow",
    },
    {
      name: "completion 1 of 6 closed is under 0.2",
      history: { closed: 6, completed: 1, completedByChannel: { sms: { count: 1, lastAt: hoursAgo(100) } } },
      decision: "block",
      reason: /completion rate 0\.17/,
    },
    {
      name: "min completion 0 never blocks",
      gates: { min_completion_rate: 0 },
      history: { closed: 10 },
      decision: "allow",
    },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const verdict = gateVerdict(
        { ...DEFAULTS, ...c.gates },
        { ...EMPTY, ...c.history },
        { ...request, surfacesThisRun: c.surfacesThisRun ?? 0 },
        NOW,
      );
      expect(verdict.decision).toBe(c.decision);
      if (c.reason) expect(verdict.reason).toMatch(c.reason);
    });
  }

  it("sends on the channel the patient completes on, not the one asked for", () => {
    const history: PatientHistory = {
      ...EMPTY,
      closed: 3,
      completed: 3,
      completedByChannel: {
        sms: { count: 1, lastAt: hoursAgo(60) },
        email: { count: 2, lastAt: hoursAgo(100) },
      },
    };
    const verdict = gateVerdict(DEFAULTS, history, request, NOW);
    expect(verdict).toMatchObject({ decision: "allow", channel: "email" });
    expect(verdict.reason).toContain("asked for sms");
    // A tie goes to the latest completion.
    history.completedByChannel.sms = { count: 2, lastAt: hoursAgo(60) };
    expect(preferredChannel(history)).toBe("sms");
  });

  it("asks verbally on voice", () => {
    expect(gateVerdict(DEFAULTS, { ...EMPTY, pending: 4 }, request, NOW).channel).toBe("voice");
  });
});

async function seedSurface(
  workspaceId: string,
  entityId: string,
  fields: Partial<typeof surfaces.$inferInsert> & Pick<typeof surfaces.$inferInsert, "status">,
) {
  const id = `srf_${unique()}${unique()}`;
  await db()
    .insert(surfaces)
    .values({
      id,
      workspaceId,
      entityId,
      title: "Insurance update",
      specEnc: "sealed",
      channel: "sms",
      createdByType: "operator",
      fieldCount: 3,
      requiredCount: 2,
      expiresAt: "2099-01-01T00:00:00.000Z",
      ...fields,
    });
  return id;
}

describe("decide", () => {
  it("reads the patient's surfaces: pending, completion and the channel they complete on", async () => {
    const ws = await createWorkspace();
    const entity = `ent_${unique()}`;
    await seedSurface(ws.id, entity, {
      status: "completed",
      channel: "whatsapp",
      createdAt: hoursAgo(300),
      completedAt: hoursAgo(299),
    });
    await seedSurface(ws.id, entity, {
      status: "completed",
      channel: "whatsapp",
      createdAt: hoursAgo(200),
      completedAt: hoursAgo(199),
    });
    await seedSurface(ws.id, entity, { status: "expired", channel: "sms", createdAt: hoursAgo(150) });
    await seedSurface(ws.id, entity, { status: "partial", channel: "sms", createdAt: hoursAgo(100) });
    const history = await patientHistory(db(), ws.id, entity);
    expect(history).toMatchObject({ pending: 1, completed: 2, closed: 3, lastCreatedAt: hoursAgo(100) });

    const verdict = await decide(env, ws.id, entity, { ...request, runId: "run_abcdefgh12" }, NOW);
    expect(verdict).toMatchObject({ decision: "allow", channel: "whatsapp" });
    const [row] = await db()
      .select()
      .from(gateDecisions)
      .where(and(eq(gateDecisions.workspaceId, ws.id), eq(gateDecisions.id, verdict.decisionId)));
    expect(row).toMatchObject({
      entityId: entity,
      decision: "allow",
      channel: "whatsapp",
      runId: "run_abcdefgh12",
    });
    expect(row!.reason).toBe(verdict.reason);
  });

  it("three unfinished surfaces: verbal, recorded with its reason and listed by the API", async () => {
    const ws = await createWorkspace();
    const entity = `ent_${unique()}`;
    for (const status of ["created", "delivered", "opened"] as const)
      await seedSurface(ws.id, entity, { status, createdAt: hoursAgo(100) });
    const verdict = await decide(env, ws.id, entity, request, NOW);
    expect(verdict).toMatchObject({ decision: "verbal", channel: "voice" });
    const res = await api("GET", `/v1/${ws.id}/surfaces/gate-decisions?decision=verbal`, {
      key: ws.keys.viewer,
    });
    expect(res.status).toBe(200);
    expect(res.body.results).toEqual([
      expect.objectContaining({ entity_id: entity, decision: "verbal", reason: verdict.reason }),
    ]);
  });

  it("uses the workspace's saved gates", async () => {
    const ws = await createWorkspace();
    const entity = `ent_${unique()}`;
    await seedSurface(ws.id, entity, {
      status: "completed",
      createdAt: hoursAgo(10),
      completedAt: hoursAgo(9),
    });
    expect((await decide(env, ws.id, entity, request, NOW)).decision).toBe("block");
    const put = await api("PUT", `/v1/${ws.id}/surfaces/settings`, {
      key: ws.keys.admin,
      body: { gates: { cooldown_hours: 4 } },
    });
    expect(put.status).toBe(200);
    expect(put.body.gates).toMatchObject({ cooldown_hours: 4, max_pending_per_patient: 3 });
    expect((await decide(env, ws.id, entity, request, NOW)).decision).toBe("allow");
    const bad = await api("PUT", `/v1/${ws.id}/surfaces/settings`, {
      key: ws.keys.admin,
      body: { gates: { cooldown_hours: -1 } },
    });
    expect(bad.status).toBe(400);
    const forbidden = await api("PUT", `/v1/${ws.id}/surfaces/settings`, {
      key: ws.keys.operator,
      body: { gates: {} },
    });
    expect(forbidden.status).toBe(403);
  });
});
