/**
 * `/v1/{workspace_id}/surfaces` and `/surface-templates`: operators create, deliver, change (until the
 * patient has seen it), archive, reshape and revoke surfaces; viewers read them without the patient's
 * answers or prefilled values (PHI). Each surface exports as a FHIR Questionnaire and its answers as a
 * QuestionnaireResponse; a Questionnaire imports as a template. Every change is audited by the service.
 */
import type { Questionnaire } from "@medplum/fhirtypes";
import type { Context } from "hono";
import { z } from "zod";
import { roleAtLeast } from "../../shared/auth/roles";
import { newId } from "../../shared/ids";
import {
  ErrorBodySchema,
  listOf,
  PageQuery,
  WorkspaceItemParams,
  WorkspaceParams,
} from "../../shared/schemas/common";
import {
  SurfaceCreateRequest,
  SurfaceDeliverRequest,
  SurfaceDeliveryResultSchema,
  SurfaceDetailSchema,
  SurfaceListQuery,
  SurfacePatchRequest,
  SurfaceReshapeRequest,
  SurfaceSummarySchema,
  SurfaceTemplateCreateRequest,
  SurfaceTemplateImportRequest,
  SurfaceTemplateImportResultSchema,
  SurfaceTemplateSchema,
} from "../../shared/schemas/surfaces";
import { fromQuestionnaire, toQuestionnaire, toQuestionnaireResponse } from "../../shared/surfaces/fhir";
import { type Answers, SurfaceSpec } from "../../shared/surfaces/spec";
import { progress, specProblems } from "../../shared/surfaces/validate";
import { database } from "../db/client";
import {
  findSurface,
  findTemplate,
  findTemplateByName,
  insertTemplate,
  listSurfaces,
  listTemplates,
  type SurfaceRow,
  type SurfaceTemplateRow,
} from "../db/surfaces";
import type { AppEnv } from "../env";
import { ApiError, notFound } from "../errors";
import type { CreatedBy, Surface } from "../surfaces/contracts";
import { deliverSurface } from "../surfaces/delivery";
import {
  archive,
  create,
  markDelivered,
  patch,
  reshape,
  revokeLinks,
  answers as surfaceAnswers,
  toSurface,
} from "../surfaces/service";
import { actorOf, audited } from "./audited";
import { decodeToken, encodeToken } from "./pagination";
import { jsonBody, jsonResponse, router, workspaceRoute } from "./router";

type Summary = z.infer<typeof SurfaceSummarySchema>;

const createdByView = (row: SurfaceRow): Summary["created_by"] => ({
  type: row.createdByType as Summary["created_by"]["type"],
  id: row.createdById,
});

export function surfaceSummary(row: SurfaceRow): Summary {
  return {
    id: row.id,
    entity_id: row.entityId,
    parent_id: row.parentId,
    template_id: row.templateId,
    title: row.title,
    status: row.status,
    channel: row.channel,
    created_by: createdByView(row),
    call_id: row.callId,
    field_count: row.fieldCount,
    required_count: row.requiredCount,
    answered_count: row.answeredCount,
    last_field_key: row.lastFieldKey,
    links_revoked: row.revokedAt !== null,
    expires_at: row.expiresAt,
    delivered_at: row.deliveredAt,
    opened_at: row.openedAt,
    completed_at: row.completedAt,
    created_at: row.createdAt,
  };
}

/** The spec without what we hold about the patient (prefilled values), for viewers. */
function withoutPrefill(spec: SurfaceSpec): SurfaceSpec {
  return { ...spec, fields: spec.fields.map(({ prefill_value: _, ...field }) => field) };
}

const mayReadPhi = (c: Context<AppEnv>) => roleAtLeast(c.get("access").role, "operator");

/** Who the operator's request creates as. */
function creator(c: Context<AppEnv>): CreatedBy {
  const actor = actorOf(c);
  return { type: actor.actorType === "user" ? "operator" : "api", id: actor.actorId };
}

async function requireSurfaceRow(env: Env, workspaceId: string, id: string): Promise<SurfaceRow> {
  const row = await findSurface(database(env.DB), workspaceId, id);
  if (!row) throw notFound("Surface");
  return row;
}

async function summaryOf(env: Env, surface: Surface): Promise<Summary> {
  return surfaceSummary(await requireSurfaceRow(env, surface.workspaceId, surface.id));
}

function templateView(row: SurfaceTemplateRow): z.infer<typeof SurfaceTemplateSchema> {
  return {
    id: row.id,
    name: row.name,
    kind: row.kind,
    spec: row.spec,
    prefill_paths: row.prefillPaths,
    created_at: row.createdAt,
    updated_at: row.updatedAt,
  };
}

/** Stores a template (its spec checked like a surface's; the name unique in the workspace). */
async function storeTemplate(
  c: Context<AppEnv>,
  workspaceId: string,
  input: {
    name: string;
    kind: SurfaceTemplateRow["kind"];
    spec: SurfaceSpec;
    prefillPaths: Record<string, string>;
  },
  action: string,
): Promise<SurfaceTemplateRow> {
  const problems = specProblems(input.spec);
  for (const key of Object.keys(input.prefillPaths)) {
    if (!input.spec.fields.some((f) => f.key === key)) {
      problems.push({ path: `prefill_paths.${key}`, message: "names no field of the spec" });
    }
  }
  if (problems.length > 0) {
    throw new ApiError("unprocessable", `The template has ${problems.length} problem(s)`, { problems });
  }
  const db = database(c.env.DB);
  if (await findTemplateByName(db, workspaceId, input.name)) {
    throw new ApiError("conflict", "A template with this name exists", { field: "name" });
  }
  const id = newId("stp");
  const at = new Date().toISOString();
  await audited(c, { action, targetType: "surface_template", targetId: id, details: { kind: input.kind } }, [
    insertTemplate(db, {
      id,
      workspaceId,
      name: input.name,
      kind: input.kind,
      spec: input.spec as unknown as Record<string, unknown>,
      prefillPaths: input.prefillPaths,
      createdAt: at,
      updatedAt: at,
    }),
  ]);
  return (await findTemplate(db, workspaceId, id))!;
}

const SurfaceList = listOf(SurfaceSummarySchema, "SurfaceList");
const TemplateList = listOf(SurfaceTemplateSchema, "SurfaceTemplateList");
const unprocessable = jsonResponse(ErrorBodySchema, "Invalid spec: every problem in details.problems");
const conflict = jsonResponse(ErrorBodySchema, "Not allowed in the surface's status");
const FhirJson = z.record(z.string(), z.unknown());
const tags = ["Surfaces"];

export const surfacesApi = router()
  .openapi(
    workspaceRoute("viewer", {
      method: "get",
      path: "/v1/{workspace_id}/surfaces",
      tags,
      summary: "List surfaces, newest first",
      request: { params: WorkspaceParams, query: SurfaceListQuery },
      responses: { 200: jsonResponse(SurfaceList, "Surfaces") },
    }),
    async (c) => {
      const { workspace_id } = c.req.valid("param");
      const q = c.req.valid("query");
      let before: [string, string] | undefined;
      let offset = q.offset;
      if (q.continuation_token) {
        const key = decodeToken(q.continuation_token);
        if (key.length !== 2 || typeof key[0] !== "string" || typeof key[1] !== "string") {
          throw new ApiError("invalid_continuation_token", "Not a surfaces page token");
        }
        before = [key[0], key[1]];
        offset = 0;
      }
      const { rows, total } = await listSurfaces(
        database(c.env.DB),
        workspace_id,
        {
          status: q.status,
          entityId: q.entity_id,
          channel: q.channel,
          createdByType: q.created_by_type,
          before,
        },
        q.limit,
        offset,
      );
      const last = rows.at(-1);
      return c.json(
        {
          results: rows.map(surfaceSummary),
          total,
          continuation_token: rows.length === q.limit && last ? encodeToken([last.createdAt, last.id]) : null,
        },
        200,
      );
    },
  )
  .openapi(
    workspaceRoute("operator", {
      method: "post",
      path: "/v1/{workspace_id}/surfaces",
      tags,
      summary: "Create a surface for a patient (prefilled from the world model)",
      request: { params: WorkspaceParams, body: jsonBody(SurfaceCreateRequest) },
      responses: { 201: jsonResponse(SurfaceDetailSchema, "The new surface"), 422: unprocessable },
    }),
    async (c) => {
      const { workspace_id } = c.req.valid("param");
      const body = c.req.valid("json");
      let spec = body.spec;
      if (!spec) {
        const template = await findTemplate(database(c.env.DB), workspace_id, body.template_id!);
        if (!template) throw new ApiError("unprocessable", "No such template", { field: "template_id" });
        spec = SurfaceSpec.parse(template.spec);
      }
      const surface = await create(
        c.env,
        workspace_id,
        {
          entityId: body.entity_id,
          spec,
          channel: body.channel,
          ttlSeconds: body.ttl_seconds,
          createdBy: creator(c),
          templateId: body.template_id ?? null,
          prefill: body.prefill,
        },
        actorOf(c),
      );
      return c.json(await detailOf(c, surface, {}), 201);
    },
  )
  .openapi(
    workspaceRoute("viewer", {
      method: "get",
      path: "/v1/{workspace_id}/surfaces/{id}",
      tags,
      summary: "A surface with its progress (and, for operators, its answers)",
      request: { params: WorkspaceItemParams },
      responses: { 200: jsonResponse(SurfaceDetailSchema, "The surface") },
    }),
    async (c) => {
      const { workspace_id, id } = c.req.valid("param");
      const surface = await toSurface(c.env, await requireSurfaceRow(c.env, workspace_id, id));
      return c.json(await detailOf(c, surface), 200);
    },
  )
  .openapi(
    workspaceRoute("operator", {
      method: "patch",
      path: "/v1/{workspace_id}/surfaces/{id}",
      tags,
      summary: "Change a surface before the patient has opened it",
      request: { params: WorkspaceItemParams, body: jsonBody(SurfacePatchRequest) },
      responses: {
        200: jsonResponse(SurfaceDetailSchema, "The changed surface"),
        409: conflict,
        422: unprocessable,
      },
    }),
    async (c) => {
      const { workspace_id, id } = c.req.valid("param");
      const body = c.req.valid("json");
      const surface = await patch(
        c.env,
        workspace_id,
        id,
        { spec: body.spec, channel: body.channel, ttlSeconds: body.ttl_seconds },
        actorOf(c),
      );
      return c.json(await detailOf(c, surface), 200);
    },
  )
  .openapi(
    workspaceRoute("operator", {
      method: "post",
      path: "/v1/{workspace_id}/surfaces/{id}/deliver",
      tags,
      summary: "Send the surface's link to the patient",
      request: { params: WorkspaceItemParams, body: jsonBody(SurfaceDeliverRequest) },
      responses: {
        200: jsonResponse(SurfaceDeliveryResultSchema, "Queued (or, for voice and web, the link)"),
        409: conflict,
        422: jsonResponse(ErrorBodySchema, "No address to send to"),
      },
    }),
    async (c) => {
      const { workspace_id, id } = c.req.valid("param");
      const body = c.req.valid("json");
      const row = await requireSurfaceRow(c.env, workspace_id, id);
      if (["completed", "expired", "archived"].includes(row.status) || row.revokedAt !== null) {
        throw new ApiError(
          "conflict",
          `A ${row.revokedAt ? "revoked" : row.status} surface cannot be delivered`,
          {
            status: row.status,
          },
        );
      }
      const surface = await toSurface(c.env, row);
      const sent = await deliverSurface(c.env, surface, { channel: body.channel, to: body.to });
      const channel = body.channel ?? surface.channel;
      const delivered = await markDelivered(
        c.env,
        workspace_id,
        id,
        { deliveryId: sent.deliveryId, channel },
        actorOf(c),
      );
      return c.json(
        {
          delivery_id: sent.deliveryId,
          channel,
          link: sent.link,
          surface: await summaryOf(c.env, delivered),
        },
        200,
      );
    },
  )
  .openapi(
    workspaceRoute("operator", {
      method: "post",
      path: "/v1/{workspace_id}/surfaces/{id}/archive",
      tags,
      summary: "Archive a surface (its links stop working)",
      request: { params: WorkspaceItemParams },
      responses: { 200: jsonResponse(SurfaceSummarySchema, "The archived surface"), 409: conflict },
    }),
    async (c) => {
      const { workspace_id, id } = c.req.valid("param");
      return c.json(await summaryOf(c.env, await archive(c.env, workspace_id, id, actorOf(c))), 200);
    },
  )
  .openapi(
    workspaceRoute("operator", {
      method: "post",
      path: "/v1/{workspace_id}/surfaces/{id}/reshape",
      tags,
      summary: "A new surface with only the fields the patient has not filled",
      request: { params: WorkspaceItemParams, body: jsonBody(SurfaceReshapeRequest) },
      responses: { 201: jsonResponse(SurfaceDetailSchema, "The new surface"), 409: conflict },
    }),
    async (c) => {
      const { workspace_id, id } = c.req.valid("param");
      const body = c.req.valid("json");
      const surface = await reshape(
        c.env,
        workspace_id,
        id,
        { channel: body.channel, ttlSeconds: body.ttl_seconds, createdBy: creator(c) },
        actorOf(c),
      );
      return c.json(await detailOf(c, surface, {}), 201);
    },
  )
  .openapi(
    workspaceRoute("operator", {
      method: "post",
      path: "/v1/{workspace_id}/surfaces/{id}/revoke",
      tags,
      summary: "Stop every link of the surface",
      request: { params: WorkspaceItemParams },
      responses: { 200: jsonResponse(SurfaceSummarySchema, "The surface, its links revoked") },
    }),
    async (c) => {
      const { workspace_id, id } = c.req.valid("param");
      return c.json(await summaryOf(c.env, await revokeLinks(c.env, workspace_id, id, actorOf(c))), 200);
    },
  )
  .openapi(
    workspaceRoute("viewer", {
      method: "get",
      path: "/v1/{workspace_id}/surfaces/{id}/questionnaire",
      tags,
      summary: "The surface's form as a FHIR R4 Questionnaire",
      request: { params: WorkspaceItemParams },
      responses: { 200: jsonResponse(FhirJson, "A Questionnaire") },
    }),
    async (c) => {
      const { workspace_id, id } = c.req.valid("param");
      const surface = await toSurface(c.env, await requireSurfaceRow(c.env, workspace_id, id));
      const spec = mayReadPhi(c) ? surface.spec : withoutPrefill(surface.spec);
      return c.json(toQuestionnaire(spec, { id: surface.id }) as unknown as Record<string, unknown>, 200);
    },
  )
  .openapi(
    workspaceRoute("operator", {
      method: "get",
      path: "/v1/{workspace_id}/surfaces/{id}/questionnaire-response",
      tags,
      summary: "The patient's answers as a FHIR R4 QuestionnaireResponse",
      request: { params: WorkspaceItemParams },
      responses: { 200: jsonResponse(FhirJson, "A QuestionnaireResponse") },
    }),
    async (c) => {
      const { workspace_id, id } = c.req.valid("param");
      const surface = await toSurface(c.env, await requireSurfaceRow(c.env, workspace_id, id));
      const given = await surfaceAnswers(c.env, workspace_id, id);
      const response = toQuestionnaireResponse(surface.spec, given, {
        questionnaire: `Questionnaire/${surface.id}`,
        subject: { reference: `Patient/${surface.entityId}` },
        authored: surface.completedAt ?? new Date().toISOString(),
      });
      return c.json(response as unknown as Record<string, unknown>, 200);
    },
  )
  .openapi(
    workspaceRoute("viewer", {
      method: "get",
      path: "/v1/{workspace_id}/surface-templates",
      tags,
      summary: "List form templates, by name",
      request: { params: WorkspaceParams, query: PageQuery },
      responses: { 200: jsonResponse(TemplateList, "Templates") },
    }),
    async (c) => {
      const { workspace_id } = c.req.valid("param");
      const q = c.req.valid("query");
      if (q.continuation_token) {
        throw new ApiError("invalid_continuation_token", "Templates are paged by offset");
      }
      const { rows, total } = await listTemplates(database(c.env.DB), workspace_id, q.limit, q.offset);
      return c.json({ results: rows.map(templateView), total, continuation_token: null }, 200);
    },
  )
  .openapi(
    workspaceRoute("operator", {
      method: "post",
      path: "/v1/{workspace_id}/surface-templates",
      tags,
      summary: "Create a form template",
      request: { params: WorkspaceParams, body: jsonBody(SurfaceTemplateCreateRequest) },
      responses: {
        201: jsonResponse(SurfaceTemplateSchema, "The new template"),
        409: jsonResponse(ErrorBodySchema, "Name taken"),
        422: unprocessable,
      },
    }),
    async (c) => {
      const { workspace_id } = c.req.valid("param");
      const body = c.req.valid("json");
      const row = await storeTemplate(
        c,
        workspace_id,
        { name: body.name, kind: body.kind, spec: body.spec, prefillPaths: body.prefill_paths },
        "surface_template.created",
      );
      return c.json(templateView(row), 201);
    },
  )
  .openapi(
    workspaceRoute("operator", {
      method: "post",
      path: "/v1/{workspace_id}/surface-templates/import",
      tags,
      summary: "Import a FHIR R4 Questionnaire as a form template",
      request: { params: WorkspaceParams, body: jsonBody(SurfaceTemplateImportRequest) },
      responses: {
        201: jsonResponse(
          SurfaceTemplateImportResultSchema,
          "The new template, with what the import changed",
        ),
        409: jsonResponse(ErrorBodySchema, "Name taken"),
        422: unprocessable,
      },
    }),
    async (c) => {
      const { workspace_id } = c.req.valid("param");
      const body = c.req.valid("json");
      const imported = fromQuestionnaire(body.questionnaire as unknown as Questionnaire);
      if (!imported.spec) {
        throw new ApiError("unprocessable", "The Questionnaire does not make a valid form", {
          problems: imported.problems,
        });
      }
      const row = await storeTemplate(
        c,
        workspace_id,
        { name: body.name ?? imported.spec.title, kind: body.kind, spec: imported.spec, prefillPaths: {} },
        "surface_template.imported",
      );
      return c.json({ template: templateView(row), warnings: imported.problems }, 201);
    },
  );

/** A surface as the API shows it: answers (and prefills) only to operators and above. */
async function detailOf(
  c: Context<AppEnv>,
  surface: Surface,
  knownAnswers?: Answers,
): Promise<z.infer<typeof SurfaceDetailSchema>> {
  const row = await requireSurfaceRow(c.env, surface.workspaceId, surface.id);
  const given = knownAnswers ?? (await surfaceAnswers(c.env, surface.workspaceId, surface.id));
  const phi = mayReadPhi(c);
  const p = progress(surface.spec, given);
  return {
    ...surfaceSummary(row),
    spec: (phi ? surface.spec : withoutPrefill(surface.spec)) as unknown as Record<string, unknown>,
    progress: { answered: p.answered, required: p.required, complete: p.complete, missing: p.missing },
    answers: phi ? given : null,
  };
}
