/**
 * The agent's surface tools, mid-call: make a form for exactly what the patient's record lacks, send it,
 * see how far the patient got, and list what they already have (so no duplicate is sent). Every surface
 * made here names the call, so the patient finishing it while still on the line reaches the call's
 * session at once (`CallSession.surfaceCompleted`).
 *
 * | tool | args | does |
 * | --- | --- | --- |
 * | `create_surface` | `paths?` (list or comma-separated), `title?` | missing paths → spec (`specForPaths`) → fatigue gates → a surface on the patient |
 * | `deliver_surface` | `surface_id?`, `channel?` | the call's latest surface (or the one named) sent through the outbox |
 * | `check_surface_status` | `surface_id?` | status and progress of it |
 * | `list_surfaces` | — | the patient's surfaces by status |
 */
import { and, desc, eq } from "drizzle-orm";
import { missingPaths, specForPaths } from "../../shared/surfaces/from-paths";
import { database } from "../db/client";
import { gapRequirements, surfaces } from "../db/schema";
import { surfaceCountsByStatus } from "../db/surfaces";
import type { Surface, SurfaceChannel } from "../surfaces/contracts";
import { deliverSurface } from "../surfaces/delivery";
import { attachSurface, decide } from "../surfaces/gates";
import { create, get, markDelivered, toSurface } from "../surfaces/service";
import { entityState } from "../world/state";
import type { ToolContext, ToolOutcomeOf } from "./tools";

type Args = Record<string, unknown>;

/** What a call asks for when the agent names nothing: the basics a visit needs. */
export const DEFAULT_SURFACE_PATHS = ["contact.email", "coverage", "allergies"] as const;

const CHANNELS: readonly SurfaceChannel[] = ["sms", "whatsapp", "email", "voice", "web"];

function pathsOf(args: Args): string[] | null {
  const raw = args.paths;
  const list = Array.isArray(raw) ? raw : typeof raw === "string" ? raw.split(",") : null;
  if (!list) return null;
  const paths = list
    .filter((p): p is string => typeof p === "string")
    .map((p) => p.trim())
    .filter((p) => /^[a-z][a-z0-9_.-]{0,100}$/.test(p));
  return paths.length > 0 ? paths : null;
}

/** The paths the workspace's enabled gap requirements ask for, plus the basics. */
async function defaultPaths(env: Env, workspaceId: string): Promise<string[]> {
  const rows = await database(env.DB)
    .select({ paths: gapRequirements.requiredPaths })
    .from(gapRequirements)
    .where(and(eq(gapRequirements.workspaceId, workspaceId), eq(gapRequirements.enabled, true)));
  return [...new Set([...DEFAULT_SURFACE_PATHS, ...rows.flatMap((r) => r.paths)])];
}

/** The call's latest surface, or the one named (in this workspace and for this patient). */
async function surfaceOf(env: Env, context: ToolContext, args: Args): Promise<Surface | null> {
  const db = database(env.DB);
  if (typeof args.surface_id === "string" && args.surface_id) {
    const surface = await get(env, context.workspaceId, args.surface_id);
    return surface && surface.entityId === context.patientEntityId ? surface : null;
  }
  const row = await db.query.surfaces.findFirst({
    where: and(eq(surfaces.workspaceId, context.workspaceId), eq(surfaces.callId, context.callId)),
    orderBy: [desc(surfaces.createdAt), desc(surfaces.id)],
  });
  return row ? toSurface(env, row) : null;
}

export async function createSurfaceTool(env: Env, context: ToolContext, args: Args): Promise<ToolOutcomeOf> {
  const entityId = context.patientEntityId;
  if (!entityId) return { outcome: "none", data: { reason: "no_patient" } };
  // One form per call: asked again, the agent gets the one it made.
  const existing = await surfaceOf(env, context, {});
  if (existing && !["completed", "expired", "archived"].includes(existing.status))
    return { outcome: "ok", data: { surface_id: existing.id, existing: true } };

  const wanted = pathsOf(args) ?? (await defaultPaths(env, context.workspaceId));
  const state = await entityState(env, context.workspaceId, { id: entityId, entityType: "patient" });
  const missing = missingPaths(Object.keys(state.facts), wanted);
  const title =
    typeof args.title === "string" && args.title.trim() ? args.title.trim().slice(0, 120) : undefined;
  const spec = specForPaths(missing, { title });
  if (!spec) return { outcome: "none", data: { reason: "nothing_missing" } };

  const requested = CHANNELS.find((c) => c === args.channel) ?? "sms";
  const gate = await decide(env, context.workspaceId, entityId, {
    requestedChannel: requested,
    runId: context.callId,
    surfacesThisRun: 0,
  });
  if (gate.decision === "verbal") return { outcome: "none", data: { reason: "verbal", gate: gate.reason } };
  if (gate.decision === "block") return { outcome: "none", data: { reason: "blocked", gate: gate.reason } };
  const surface = await create(env, context.workspaceId, {
    entityId,
    spec,
    channel: gate.channel,
    createdBy: { type: "agent", callId: context.callId },
  });
  await attachSurface(env, context.workspaceId, gate.decisionId, surface.id);
  return {
    outcome: "ok",
    data: { surface_id: surface.id, fields: surface.fieldCount, channel: surface.channel, missing },
  };
}

export async function deliverSurfaceTool(env: Env, context: ToolContext, args: Args): Promise<ToolOutcomeOf> {
  const surface = await surfaceOf(env, context, args);
  if (!surface) return { outcome: "none", data: { reason: "no_surface" } };
  if (["completed", "expired", "archived"].includes(surface.status))
    return { outcome: "none", data: { reason: surface.status, surface_id: surface.id } };
  const channel = CHANNELS.find((c) => c === args.channel) ?? surface.channel;
  const sent = await deliverSurface(env, surface, { channel });
  await markDelivered(env, context.workspaceId, surface.id, { deliveryId: sent.deliveryId, channel });
  return { outcome: "ok", data: { surface_id: surface.id, channel, delivery_id: sent.deliveryId } };
}

export async function checkSurfaceStatusTool(
  env: Env,
  context: ToolContext,
  args: Args,
): Promise<ToolOutcomeOf> {
  const surface = await surfaceOf(env, context, args);
  if (!surface) return { outcome: "none", data: { reason: "no_surface" } };
  return {
    outcome: "ok",
    data: {
      surface_id: surface.id,
      status: surface.status,
      answered: surface.answeredCount,
      required: surface.requiredCount,
    },
  };
}

export async function listSurfacesTool(env: Env, context: ToolContext): Promise<ToolOutcomeOf> {
  if (!context.patientEntityId) return { outcome: "none", data: { reason: "no_patient" } };
  const counts = await surfaceCountsByStatus(database(env.DB), context.workspaceId, context.patientEntityId);
  const total = Object.values(counts).reduce((n, c) => n + (c as number), 0);
  return { outcome: total > 0 ? "ok" : "none", data: { by_status: counts } };
}
