/**
 * Outreach settings and figures: the fatigue gates (`/surfaces/settings`), the gap scanner's requirements
 * (`/gap-requirements`), its dry-run preview and run-once, the recorded gate decisions, and surface
 * analytics. Mounted before `/surfaces/{id}` so these fixed paths win over the id.
 */

import { newId } from "../../shared/ids";
import { ErrorBodySchema } from "../../shared/schemas/common";
import {
  AnalyticsQuery,
  GapRequirementCreate,
  GapRequirementList,
  GapRequirementParams,
  GapRequirementPatch,
  GapRequirementSchema,
  GateDecisionList,
  GateDecisionQuery,
  PatientHistoryParams,
  PatientSurfaceHistorySchema,
  ScannerResultSchema,
  SurfaceAnalyticsSchema,
  SurfaceSettingsSchema,
  SurfaceSettingsUpdate,
  WorkspaceOnlyParams,
} from "../../shared/schemas/surface-settings";
import { type Db, database } from "../db/client";
import { findTemplate } from "../db/surfaces";
import { findEntity } from "../db/world";
import { ApiError, notFound } from "../errors";
import { analyticsWindow, patientSurfaceHistory, surfaceAnalytics } from "../surfaces/analytics";
import { decisionView, listDecisions, loadGateSettings, saveGates } from "../surfaces/gates";
import {
  deleteRequirement,
  findRequirement,
  insertRequirement,
  listRequirements,
  requirementView,
  runAuditDetails,
  runScanner,
  updateRequirement,
} from "../surfaces/scanner";
import { audited } from "./audited";
import { decodeToken, encodeToken } from "./pagination";
import { jsonBody, jsonResponse, router, workspaceRoute } from "./router";

const tags = ["Surface outreach"];

async function requirementOrThrow(db: Db, workspaceId: string, id: string) {
  const row = await findRequirement(db, workspaceId, id);
  if (!row) throw notFound("Gap requirement");
  return row;
}

async function checkTemplate(db: Db, workspaceId: string, templateId: string | null | undefined) {
  if (templateId && !(await findTemplate(db, workspaceId, templateId)))
    throw new ApiError("unprocessable", "template_id names no template of this workspace", {
      field: "template_id",
    });
}

export const surfaceSettingsApi = router()
  .openapi(
    workspaceRoute("viewer", {
      method: "get",
      path: "/v1/{workspace_id}/surfaces/settings",
      tags,
      summary: "Get the fatigue gates every new surface passes",
      request: { params: WorkspaceOnlyParams },
      responses: { 200: jsonResponse(SurfaceSettingsSchema, "The gates (defaults until saved)") },
    }),
    async (c) => {
      const { workspace_id } = c.req.valid("param");
      const { gates, updatedAt } = await loadGateSettings(database(c.env.DB), workspace_id);
      return c.json({ gates, updated_at: updatedAt }, 200);
    },
  )
  .openapi(
    workspaceRoute("admin", {
      method: "put",
      path: "/v1/{workspace_id}/surfaces/settings",
      tags,
      summary: "Replace the fatigue gates",
      description: "Keys left out take their defaults.",
      request: { params: WorkspaceOnlyParams, body: jsonBody(SurfaceSettingsUpdate) },
      responses: { 200: jsonResponse(SurfaceSettingsSchema, "The gates now in force") },
    }),
    async (c) => {
      const { workspace_id } = c.req.valid("param");
      const { gates } = c.req.valid("json");
      const db = database(c.env.DB);
      await audited(
        c,
        {
          action: "surfaces.settings_updated",
          targetType: "workspace",
          targetId: workspace_id,
          details: gates,
        },
        [saveGates(db, workspace_id, gates)],
      );
      const saved = await loadGateSettings(db, workspace_id);
      return c.json({ gates: saved.gates, updated_at: saved.updatedAt }, 200);
    },
  )
  .openapi(
    workspaceRoute("viewer", {
      method: "get",
      path: "/v1/{workspace_id}/gap-requirements",
      tags,
      summary: "List the gap scanner's requirements",
      request: { params: WorkspaceOnlyParams },
      responses: { 200: jsonResponse(GapRequirementList, "Requirements, oldest first") },
    }),
    async (c) => {
      const { workspace_id } = c.req.valid("param");
      const rows = await listRequirements(database(c.env.DB), workspace_id);
      return c.json({ results: rows.map(requirementView), total: rows.length }, 200);
    },
  )
  .openapi(
    workspaceRoute("admin", {
      method: "post",
      path: "/v1/{workspace_id}/gap-requirements",
      tags,
      summary: "Add a requirement the gap scanner checks patients against",
      request: { params: WorkspaceOnlyParams, body: jsonBody(GapRequirementCreate) },
      responses: {
        201: jsonResponse(GapRequirementSchema, "The requirement"),
        422: jsonResponse(ErrorBodySchema, "The template does not exist"),
      },
    }),
    async (c) => {
      const { workspace_id } = c.req.valid("param");
      const body = c.req.valid("json");
      const db = database(c.env.DB);
      await checkTemplate(db, workspace_id, body.template_id);
      const id = newId("gap");
      await audited(
        c,
        {
          action: "gap_requirement.created",
          targetType: "gap_requirement",
          targetId: id,
          details: { trigger: body.trigger, required_paths: body.required_paths, channel: body.channel },
        },
        [insertRequirement(db, workspace_id, id, body)],
      );
      return c.json(requirementView(await requirementOrThrow(db, workspace_id, id)), 201);
    },
  )
  .openapi(
    workspaceRoute("admin", {
      method: "patch",
      path: "/v1/{workspace_id}/gap-requirements/{id}",
      tags,
      summary: "Change a gap requirement",
      request: { params: GapRequirementParams, body: jsonBody(GapRequirementPatch) },
      responses: { 200: jsonResponse(GapRequirementSchema, "The requirement") },
    }),
    async (c) => {
      const { workspace_id, id } = c.req.valid("param");
      const patch = c.req.valid("json");
      const db = database(c.env.DB);
      await requirementOrThrow(db, workspace_id, id);
      await checkTemplate(db, workspace_id, patch.template_id);
      await audited(
        c,
        {
          action: "gap_requirement.updated",
          targetType: "gap_requirement",
          targetId: id,
          details: { fields: Object.keys(patch) },
        },
        [updateRequirement(db, workspace_id, id, patch)],
      );
      return c.json(requirementView(await requirementOrThrow(db, workspace_id, id)), 200);
    },
  )
  .openapi(
    workspaceRoute("admin", {
      method: "delete",
      path: "/v1/{workspace_id}/gap-requirements/{id}",
      tags,
      summary: "Delete a gap requirement (its surfaces and decisions stay)",
      request: { params: GapRequirementParams },
      responses: { 204: { description: "Deleted" } },
    }),
    async (c) => {
      const { workspace_id, id } = c.req.valid("param");
      const db = database(c.env.DB);
      await requirementOrThrow(db, workspace_id, id);
      await audited(c, { action: "gap_requirement.deleted", targetType: "gap_requirement", targetId: id }, [
        deleteRequirement(db, workspace_id, id),
      ]);
      return c.body(null, 204);
    },
  )
  .openapi(
    workspaceRoute("operator", {
      method: "post",
      path: "/v1/{workspace_id}/surfaces/scanner/preview",
      tags,
      summary: "Dry run of the gap scanner: what it would send, block or ask verbally, writing nothing",
      request: { params: WorkspaceOnlyParams },
      responses: { 200: jsonResponse(ScannerResultSchema, "What a run now would do") },
    }),
    async (c) => {
      const { workspace_id } = c.req.valid("param");
      return c.json(await runScanner(c.env, workspace_id, { dryRun: true }), 200);
    },
  )
  .openapi(
    workspaceRoute("admin", {
      method: "post",
      path: "/v1/{workspace_id}/surfaces/scanner/run",
      tags,
      summary: "Run the gap scanner once now",
      request: { params: WorkspaceOnlyParams },
      responses: { 200: jsonResponse(ScannerResultSchema, "What the run did") },
    }),
    async (c) => {
      const { workspace_id } = c.req.valid("param");
      const result = await runScanner(c.env, workspace_id, { dryRun: false });
      await audited(
        c,
        {
          action: "surfaces.scanner_run",
          targetType: "scanner_run",
          targetId: result.run_id,
          details: runAuditDetails(result),
        },
        [],
      );
      return c.json(result, 200);
    },
  )
  .openapi(
    workspaceRoute("viewer", {
      method: "get",
      path: "/v1/{workspace_id}/surfaces/gate-decisions",
      tags,
      summary: "List fatigue-gate decisions with their reasons, newest first",
      request: { params: WorkspaceOnlyParams, query: GateDecisionQuery },
      responses: { 200: jsonResponse(GateDecisionList, "Decisions") },
    }),
    async (c) => {
      const { workspace_id } = c.req.valid("param");
      const q = c.req.valid("query");
      let offset = q.offset;
      if (q.continuation_token) {
        // Tagged, so a token of another list (or a bare number) is refused rather than read as an offset.
        const [tag, next, ...rest] = decodeToken(q.continuation_token);
        if (
          tag !== "gd" ||
          rest.length > 0 ||
          typeof next !== "number" ||
          !Number.isInteger(next) ||
          next < 0
        )
          throw new ApiError("invalid_continuation_token", "Not a gate decisions page token");
        offset = next;
      }
      const { rows, total } = await listDecisions(
        database(c.env.DB),
        workspace_id,
        { entityId: q.entity_id, decision: q.decision, runId: q.run_id },
        q.limit,
        offset,
      );
      const token = offset + rows.length < total ? encodeToken(["gd", offset + rows.length]) : null;
      return c.json({ results: rows.map(decisionView), total, continuation_token: token }, 200);
    },
  )
  .openapi(
    workspaceRoute("viewer", {
      method: "get",
      path: "/v1/{workspace_id}/surfaces/analytics",
      tags,
      summary: "Completion by channel, time to complete and field-level abandonment",
      description: "Over surfaces created between `from` and `to` (default: the last 30 days).",
      request: { params: WorkspaceOnlyParams, query: AnalyticsQuery },
      responses: { 200: jsonResponse(SurfaceAnalyticsSchema, "Figures") },
    }),
    async (c) => {
      const { workspace_id } = c.req.valid("param");
      const window = analyticsWindow(c.req.valid("query"));
      return c.json(await surfaceAnalytics(database(c.env.DB), workspace_id, window), 200);
    },
  )
  .openapi(
    workspaceRoute("viewer", {
      method: "get",
      path: "/v1/{workspace_id}/surfaces/analytics/patients/{entity_id}",
      tags,
      summary: "A patient's surfaces, completion figures and gate decisions",
      request: { params: PatientHistoryParams },
      responses: { 200: jsonResponse(PatientSurfaceHistorySchema, "The patient's history") },
    }),
    async (c) => {
      const { workspace_id, entity_id } = c.req.valid("param");
      const db = database(c.env.DB);
      if (!(await findEntity(db, workspace_id, entity_id))) throw notFound("Entity");
      return c.json(await patientSurfaceHistory(db, workspace_id, entity_id), 200);
    },
  );
