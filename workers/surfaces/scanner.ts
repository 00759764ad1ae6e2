/**
 * The gap scanner: for each of a workspace's requirements (`gap_requirements`), the patients it applies
 * to (an appointment starting within `lookahead_hours`, or an interaction in the last `lookahead_hours`)
 * whose world model lacks one of `required_paths` get a surface asking for exactly that (the
 * requirement's template, or a form built from the missing paths), through the fatigue gates, delivered
 * on the gates' channel. Runs from the cron every five minutes and once on request, with a dry run that
 * writes nothing and reaches the same decisions: both walk the same candidates in the same order and judge
 * them with the same pure `gateVerdict` over the same in-run history.
 *
 * Idempotent: a patient already holding an unfinished surface for a requirement is skipped, and so is one
 * the gates blocked (or sent verbal) for it within the cooldown, so the cron does not pile up decisions.
 * Bounded: a few hundred candidates per requirement, the per-run cap from the gates.
 */

import { and, asc, desc, eq, gte, inArray, sql } from "drizzle-orm";
import type { z } from "zod";
import { newId } from "../../shared/ids";
import {
  GAP_PRIORITIES,
  type GapRequirementCreate,
  PENDING_STATUSES,
  type ScannerResult,
  type SurfaceGates,
} from "../../shared/schemas/surface-settings";
import { missingPaths, specForPaths } from "../../shared/surfaces/from-paths";
import { type SurfaceSpec, SurfaceSpec as SurfaceSpecSchema } from "../../shared/surfaces/spec";
import type { EntityState } from "../../shared/world/projection";
import { appendAudit } from "../db/audit";
import { type Db, database } from "../db/client";
import { entityOfResource } from "../db/ehr-links";
import { gapRequirements, gateDecisions, surfaces, worldEvents } from "../db/schema";
import { findTemplate } from "../db/surfaces";
import { findEntities } from "../db/world";
import { openEventData } from "../world/codec";
import { entityState } from "../world/state";
import { SURFACE_TTL } from "./contracts";
import { deliverSurface, recipientFor } from "./delivery";
import {
  type GateVerdict,
  gateVerdict,
  insertDecision,
  loadGates,
  type PatientHistory,
  patientHistory,
  withNewSurface,
} from "./gates";
import { create } from "./service";

export type GapRequirementRow = typeof gapRequirements.$inferSelect;

/** At most this many patients per requirement and run, and this many world events read to find them. */
const CANDIDATES_PER_REQUIREMENT = 200;
const EVENTS_SCANNED = 1000;
const REQUIREMENTS_PER_RUN = 50;
/** Appointments in these states are going ahead. */
const UPCOMING_STATUSES = new Set(["booked", "pending", "arrived", "checked-in"]);

// ---------------------------------------------------------------------------------------------------------
// Requirements (data access)

export function requirementView(row: GapRequirementRow) {
  return {
    id: row.id,
    workspace_id: row.workspaceId,
    name: row.name,
    trigger: row.trigger,
    lookahead_hours: row.lookaheadHours,
    required_paths: row.requiredPaths,
    channel: row.channel,
    priority: row.priority,
    template_id: row.templateId,
    enabled: row.enabled,
    created_at: row.createdAt,
    updated_at: row.updatedAt,
  };
}

export async function listRequirements(db: Db, workspaceId: string, onlyEnabled = false) {
  const rows = await db
    .select()
    .from(gapRequirements)
    .where(
      and(
        eq(gapRequirements.workspaceId, workspaceId),
        onlyEnabled ? eq(gapRequirements.enabled, true) : undefined,
      ),
    )
    .orderBy(asc(gapRequirements.createdAt), asc(gapRequirements.id))
    .limit(500);
  return rows;
}

export function findRequirement(db: Db, workspaceId: string, id: string) {
  return db.query.gapRequirements.findFirst({
    where: and(eq(gapRequirements.workspaceId, workspaceId), eq(gapRequirements.id, id)),
  });
}

export function insertRequirement(
  db: Db,
  workspaceId: string,
  id: string,
  input: z.infer<typeof GapRequirementCreate>,
) {
  return db.insert(gapRequirements).values({
    id,
    workspaceId,
    name: input.name,
    trigger: input.trigger,
    lookaheadHours: input.lookahead_hours,
    requiredPaths: input.required_paths,
    channel: input.channel,
    priority: input.priority,
    templateId: input.template_id,
    enabled: input.enabled,
  });
}

export function updateRequirement(
  db: Db,
  workspaceId: string,
  id: string,
  patch: Partial<z.infer<typeof GapRequirementCreate>>,
) {
  return db
    .update(gapRequirements)
    .set({
      ...(patch.name !== undefined && { name: patch.name }),
      ...(patch.trigger !== undefined && { trigger: patch.trigger }),
      ...(patch.lookahead_hours !== undefined && { lookaheadHours: patch.lookahead_hours }),
      ...(patch.required_paths !== undefined && { requiredPaths: patch.required_paths }),
      ...(patch.channel !== undefined && { channel: patch.channel }),
      ...(patch.priority !== undefined && { priority: patch.priority }),
      ...(patch.template_id !== undefined && { templateId: patch.template_id }),
      ...(patch.enabled !== undefined && { enabled: patch.enabled }),
      updatedAt: new Date().toISOString(),
    })
    .where(and(eq(gapRequirements.workspaceId, workspaceId), eq(gapRequirements.id, id)));
}

export function deleteRequirement(db: Db, workspaceId: string, id: string) {
  return db
    .delete(gapRequirements)
    .where(and(eq(gapRequirements.workspaceId, workspaceId), eq(gapRequirements.id, id)));
}

// ---------------------------------------------------------------------------------------------------------
// Candidates

interface Candidate {
  entityId: string;
  /** The appointment's start, for the surface's expiry (upcoming_appointment only). */
  appointmentStart?: string;
}

/** The newest events of a type in the workspace (optionally ingested since), newest first. */
function recentEvents(db: Db, workspaceId: string, eventType: string, ingestedSince?: string) {
  return db
    .select()
    .from(worldEvents)
    .where(
      and(
        eq(worldEvents.workspaceId, workspaceId),
        ingestedSince ? gte(worldEvents.ingestedAt, ingestedSince) : undefined,
        eq(worldEvents.eventType, eventType),
      ),
    )
    .orderBy(desc(worldEvents.ingestedAt), desc(worldEvents.id))
    .limit(EVENTS_SCANNED);
}

/** The canonical patient entities among `ids` (merged ones answer as the entity they were merged into). */
async function canonicalPatients(db: Db, workspaceId: string, ids: string[]): Promise<Map<string, string>> {
  const rows = await findEntities(db, workspaceId, [...new Set(ids)]);
  const out = new Map<string, string>();
  for (const row of rows) if (row.entityType === "patient") out.set(row.id, row.mergedInto ?? row.id);
  return out;
}

/**
 * Patients with an appointment fact starting within the window, soonest first. An appointment's latest
 * event is its state; `patient_id` is `Patient/<FHIR id>` (EHR appointments) or a patient entity id.
 */
async function upcomingAppointmentPatients(
  env: Env,
  db: Db,
  workspaceId: string,
  now: Date,
  lookaheadHours: number,
): Promise<Candidate[]> {
  const latest = new Map<string, typeof worldEvents.$inferSelect>();
  for (const row of await recentEvents(db, workspaceId, "appointment.recorded")) {
    const seen = latest.get(row.entityId);
    if (!seen || row.effectiveAt > seen.effectiveAt) latest.set(row.entityId, row);
  }
  const until = now.getTime() + lookaheadHours * 3_600_000;
  const found: { patientRef: string; start: string }[] = [];
  for (const row of latest.values()) {
    const data = (await openEventData(env, row)) as { status?: string; start?: string; patient_id?: string };
    if (!data.start || !data.patient_id || !UPCOMING_STATUSES.has(data.status ?? "")) continue;
    const start = Date.parse(data.start);
    if (start >= now.getTime() && start <= until)
      found.push({ patientRef: data.patient_id, start: new Date(start).toISOString() });
  }
  const byRef = new Map<string, string>();
  const direct: string[] = [];
  for (const { patientRef } of found) {
    if (patientRef.startsWith("Patient/")) {
      if (!byRef.has(patientRef)) {
        const entity = await entityOfResource(
          db,
          workspaceId,
          "Patient",
          patientRef.slice("Patient/".length),
        );
        if (entity) byRef.set(patientRef, entity);
      }
    } else direct.push(patientRef);
  }
  const canonical = await canonicalPatients(db, workspaceId, [...byRef.values(), ...direct]);
  const soonest = new Map<string, string>();
  for (const { patientRef, start } of found) {
    const entityId = canonical.get(byRef.get(patientRef) ?? patientRef);
    if (!entityId) continue;
    const seen = soonest.get(entityId);
    if (!seen || start < seen) soonest.set(entityId, start);
  }
  return [...soonest.entries()]
    .map(([entityId, appointmentStart]) => ({ entityId, appointmentStart }))
    .sort(
      (a, b) => a.appointmentStart.localeCompare(b.appointmentStart) || a.entityId.localeCompare(b.entityId),
    );
}

/** Patients with an interaction in the last `lookaheadHours`, most recent first. */
async function recentInteractionPatients(
  env: Env,
  db: Db,
  workspaceId: string,
  now: Date,
  lookaheadHours: number,
): Promise<Candidate[]> {
  const since = new Date(now.getTime() - lookaheadHours * 3_600_000).toISOString();
  const latest = new Map<string, string>();
  for (const row of await recentEvents(db, workspaceId, "interaction.recorded", since)) {
    const data = (await openEventData(env, row)) as { occurred_at?: string };
    const at = data.occurred_at ? new Date(Date.parse(data.occurred_at)).toISOString() : null;
    if (!at || at < since || at > now.toISOString()) continue;
    const seen = latest.get(row.entityId);
    if (!seen || at > seen) latest.set(row.entityId, at);
  }
  const canonical = await canonicalPatients(db, workspaceId, [...latest.keys()]);
  const byPatient = new Map<string, string>();
  for (const [entityId, at] of latest) {
    const patient = canonical.get(entityId);
    if (!patient) continue;
    const seen = byPatient.get(patient);
    if (!seen || at > seen) byPatient.set(patient, at);
  }
  return [...byPatient.entries()]
    .sort((a, b) => b[1].localeCompare(a[1]) || a[0].localeCompare(b[0]))
    .map(([entityId]) => ({ entityId }));
}

function candidatesOf(env: Env, db: Db, workspaceId: string, requirement: GapRequirementRow, now: Date) {
  const find =
    requirement.trigger === "upcoming_appointment" ? upcomingAppointmentPatients : recentInteractionPatients;
  return find(env, db, workspaceId, now, requirement.lookaheadHours).then((c) =>
    c.slice(0, CANDIDATES_PER_REQUIREMENT),
  );
}

/** Patients holding an unfinished surface made for this requirement. */
async function pendingForRequirement(db: Db, workspaceId: string, requirementId: string) {
  const rows = await db
    .selectDistinct({ entityId: surfaces.entityId })
    .from(surfaces)
    .where(
      and(
        eq(surfaces.workspaceId, workspaceId),
        inArray(surfaces.status, [...PENDING_STATUSES]),
        eq(surfaces.requirementId, requirementId),
      ),
    );
  return new Set(rows.map((r) => r.entityId));
}

/** Patients the gates blocked or sent verbal for this requirement within the cooldown (at least an hour). */
async function recentlyDecided(
  db: Db,
  workspaceId: string,
  requirementId: string,
  gates: SurfaceGates,
  now: Date,
) {
  const since = new Date(now.getTime() - Math.max(gates.cooldown_hours, 1) * 3_600_000).toISOString();
  const rows = await db
    .selectDistinct({ entityId: gateDecisions.entityId })
    .from(gateDecisions)
    .where(
      and(
        eq(gateDecisions.workspaceId, workspaceId),
        gte(gateDecisions.at, since),
        eq(gateDecisions.requirementId, requirementId),
        sql`${gateDecisions.decision} <> 'allow'`,
      ),
    );
  return new Set(rows.map((r) => r.entityId));
}

/** World-model paths the patient holds (a fact nobody has rejected outright). */
function heldPaths(state: EntityState): string[] {
  return Object.entries(state.facts)
    .filter(([, fact]) => fact.confidence > 0)
    .map(([path]) => path);
}

/** A link sent by message needs the patient's address on that channel; voice and web need none. */
function unreachable(verdict: GateVerdict, state: EntityState): GateVerdict {
  if (verdict.decision !== "allow" || verdict.channel === "voice" || verdict.channel === "web")
    return verdict;
  if (recipientFor(verdict.channel, state)) return verdict;
  return { ...verdict, decision: "block", reason: `no ${verdict.channel} address on record` };
}

/** The requirement's template spec when it has a valid one, else a form for the missing paths. */
async function specFor(
  db: Db,
  workspaceId: string,
  requirement: GapRequirementRow,
  missing: string[],
): Promise<{ spec: SurfaceSpec; templateId: string | null } | null> {
  if (requirement.templateId) {
    const template = await findTemplate(db, workspaceId, requirement.templateId);
    const parsed = template ? SurfaceSpecSchema.safeParse(template.spec) : null;
    if (template && parsed?.success) return { spec: parsed.data, templateId: template.id };
  }
  const spec = specForPaths(missing, { title: requirement.name });
  return spec ? { spec, templateId: null } : null;
}

/** Until the appointment (at least an hour, at most the default TTL), else the default TTL. */
function ttlFor(candidate: Candidate, now: Date): number {
  if (!candidate.appointmentStart) return SURFACE_TTL.defaultSeconds;
  const seconds = Math.floor((Date.parse(candidate.appointmentStart) - now.getTime()) / 1000);
  return Math.min(SURFACE_TTL.defaultSeconds, Math.max(SURFACE_TTL.minSeconds, seconds));
}

const PRIORITY_ORDER = Object.fromEntries(GAP_PRIORITIES.map((p, i) => [p, i])) as Record<string, number>;

// ---------------------------------------------------------------------------------------------------------
// The run

/**
 * One pass over the workspace's enabled requirements (highest priority first). `dryRun` writes nothing,
 * not even gate decisions, and answers what the real run would do.
 */
export async function runScanner(
  env: Env,
  workspaceId: string,
  options: { dryRun: boolean; now?: Date },
): Promise<ScannerResult> {
  const now = options.now ?? new Date();
  const db = database(env.DB);
  const runId = newId("run");
  const gates = await loadGates(db, workspaceId);
  const requirements = (await listRequirements(db, workspaceId, true))
    .sort(
      (a, b) =>
        PRIORITY_ORDER[a.priority]! - PRIORITY_ORDER[b.priority]! ||
        a.createdAt.localeCompare(b.createdAt) ||
        a.id.localeCompare(b.id),
    )
    .slice(0, REQUIREMENTS_PER_RUN);
  const result: ScannerResult = {
    run_id: runId,
    dry_run: options.dryRun,
    considered: 0,
    created: [],
    blocked: [],
    verbal: [],
    skipped: { complete: 0, pending_surface: 0, recently_decided: 0, nothing_to_ask: 0 },
  };
  const histories = new Map<string, PatientHistory>();
  const historyOf = async (entityId: string) => {
    let history = histories.get(entityId);
    if (!history) {
      history = await patientHistory(db, workspaceId, entityId);
      histories.set(entityId, history);
    }
    return history;
  };

  for (const requirement of requirements) {
    const [candidates, pending, decided] = await Promise.all([
      candidatesOf(env, db, workspaceId, requirement, now),
      pendingForRequirement(db, workspaceId, requirement.id),
      recentlyDecided(db, workspaceId, requirement.id, gates, now),
    ]);
    for (const candidate of candidates) {
      result.considered++;
      const { entityId } = candidate;
      if (pending.has(entityId)) {
        result.skipped.pending_surface++;
        continue;
      }
      if (decided.has(entityId)) {
        result.skipped.recently_decided++;
        continue;
      }
      const state = await entityState(env, workspaceId, { id: entityId, entityType: "patient" });
      const missing = missingPaths(heldPaths(state), requirement.requiredPaths);
      if (missing.length === 0) {
        result.skipped.complete++;
        continue;
      }
      const built = await specFor(db, workspaceId, requirement, missing);
      if (!built) {
        result.skipped.nothing_to_ask++;
        continue;
      }
      const verdict = unreachable(
        gateVerdict(
          gates,
          await historyOf(entityId),
          { requestedChannel: requirement.channel, surfacesThisRun: result.created.length },
          now,
        ),
        state,
      );
      const planned = {
        entity_id: entityId,
        requirement_id: requirement.id,
        reason: verdict.reason,
        channel: verdict.channel,
        missing_paths: missing,
      };
      if (verdict.decision !== "allow") {
        if (!options.dryRun) await record(db, workspaceId, runId, requirement.id, entityId, verdict, now);
        (verdict.decision === "verbal" ? result.verbal : result.blocked).push(planned);
        continue;
      }
      histories.set(entityId, withNewSurface(await historyOf(entityId), now));
      if (options.dryRun) {
        result.created.push({ ...planned, surface_id: null, delivered: null });
        continue;
      }
      const made = await makeSurface(env, workspaceId, runId, requirement, candidate, built, verdict, now);
      await record(db, workspaceId, runId, requirement.id, entityId, verdict, now, made.surfaceId);
      result.created.push({ ...planned, surface_id: made.surfaceId, delivered: made.delivered });
    }
  }
  return result;
}

function record(
  db: Db,
  workspaceId: string,
  runId: string,
  requirementId: string,
  entityId: string,
  verdict: GateVerdict,
  at: Date,
  surfaceId: string | null = null,
) {
  return insertDecision(db, workspaceId, { ...verdict, entityId, requirementId, runId, surfaceId, at });
}

/** Creates the surface and sends it; a failed send leaves the surface made (the delivery queue retries). */
async function makeSurface(
  env: Env,
  workspaceId: string,
  runId: string,
  requirement: GapRequirementRow,
  candidate: Candidate,
  built: { spec: SurfaceSpec; templateId: string | null },
  verdict: GateVerdict,
  now: Date,
): Promise<{ surfaceId: string | null; delivered: boolean }> {
  let surfaceId: string | null = null;
  try {
    const surface = await create(env, workspaceId, {
      entityId: candidate.entityId,
      spec: built.spec,
      channel: verdict.channel,
      ttlSeconds: ttlFor(candidate, now),
      createdBy: { type: "scanner", requirementId: requirement.id, runId },
      templateId: built.templateId,
      prefill: true,
    });
    surfaceId = surface.id;
    await deliverSurface(env, surface, { channel: verdict.channel });
    return { surfaceId, delivered: true };
  } catch (err) {
    console.error(
      JSON.stringify({
        level: "error",
        event: surfaceId ? "surfaces.scanner_delivery_failed" : "surfaces.scanner_create_failed",
        workspace_id: workspaceId,
        run_id: runId,
        requirement_id: requirement.id,
        surface_id: surfaceId,
        error: err instanceof Error ? err.name : "unknown",
      }),
    );
    return { surfaceId, delivered: false };
  }
}

/** The audit row of a real run (counts and ids only). */
export function runAuditDetails(result: ScannerResult) {
  return {
    run_id: result.run_id,
    considered: result.considered,
    created: result.created.length,
    blocked: result.blocked.length,
    verbal: result.verbal.length,
    surface_ids: result.created.map((c) => c.surface_id).filter(Boolean),
  };
}

/** The cron task: a real run for each workspace with an enabled requirement (a bounded number per tick). */
export async function scanWorkspaces(env: Env, at: Date): Promise<number> {
  const db = database(env.DB);
  const rows = await db
    .selectDistinct({ workspaceId: gapRequirements.workspaceId })
    .from(gapRequirements)
    .where(eq(gapRequirements.enabled, true))
    // A random few per tick, so every workspace gets its turn however many there are.
    .orderBy(sql`random()`)
    .limit(25);
  let made = 0;
  for (const { workspaceId } of rows) {
    const result = await runScanner(env, workspaceId, { dryRun: false, now: at });
    made += result.created.length;
    if (result.created.length + result.blocked.length + result.verbal.length > 0) {
      await appendAudit(db, {
        workspaceId,
        actorType: "system",
        actorId: null,
        action: "surfaces.scanner_run",
        targetType: "scanner_run",
        targetId: result.run_id,
        details: runAuditDetails(result),
      });
    }
  }
  return made;
}
