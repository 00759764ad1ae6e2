/**
 * `/v1/{workspace_id}/world/...`: the world model. Read entities and their projected facts, search and
 * resolve them, follow their graph, provenance and lineage, and write events (the only way state changes).
 */
import { and, desc, eq, inArray } from "drizzle-orm";
import type { Context } from "hono";
import { z } from "zod";
import { blindIndex } from "../../shared/crypto/blind-index";
import { WorkspaceItemParams, WorkspaceParams } from "../../shared/schemas/common";
import {
  EdgeSchema,
  EntityDetailSchema,
  EntitySearchQuery,
  EntitySearchResult,
  EntitySummarySchema,
  EntityTypeSchema,
  ExtractionRequest,
  ExtractionResult,
  FactSchema,
  IngestRequest,
  IngestResult,
  ResolveRequest,
  ResolveResult,
} from "../../shared/schemas/world";
import { normalizeE164 } from "../../shared/tenancy/phone";
import { DEFAULT_CONFIDENCE, WorldSettings, WorldSettingsPatch } from "../../shared/world/confidence";
import type { EntityState } from "../../shared/world/projection";
import { identifierKeys, type MatchKind, queryTerms, rankCandidates } from "../../shared/world/resolution";
import { database } from "../db/client";
import { auditLog, reviewItems, workspaces } from "../db/schema";
import {
  type EntityRow,
  findEntities,
  findEntity,
  findIdentifierHits,
  listEdges,
  listEntities,
  listEntityEvents,
  listSameAsEdges,
} from "../db/world";
import type { AppEnv } from "../env";
import { ApiError, notFound } from "../errors";
import { openDisplayName } from "../world/codec";
import { ingestEvents, worldSettings } from "../world/ingest";
import { entityState } from "../world/state";
import { submitExtractions } from "../world/verification";
import { actorOf, audited } from "./audited";
import { jsonBody, jsonResponse, router, workspaceRoute } from "./router";

const tags = ["World"];

async function summaryView(env: Env, row: EntityRow): Promise<z.infer<typeof EntitySummarySchema>> {
  return {
    id: row.id,
    entity_type: row.entityType as z.infer<typeof EntityTypeSchema>,
    display_name: await openDisplayName(env, row.workspaceId, row.id, row.displayNameEnc),
    source: row.source,
    confidence: row.confidence,
    merged_into: row.mergedInto,
    event_count: row.eventCount,
    last_event_at: row.lastEventAt,
    created_at: row.createdAt,
  };
}

function factsView(state: EntityState): z.infer<typeof FactSchema>[] {
  return Object.entries(state.facts).map(([path, f]) => ({
    path,
    value: f.value,
    confidence: f.confidence,
    source: f.source,
    effective_at: f.effectiveAt,
    event_id: f.eventId,
    safety_critical: f.safetyCritical,
  }));
}

async function requireEntity(c: Context<AppEnv>, workspaceId: string, id: string) {
  const row = await findEntity(database(c.env.DB), workspaceId, id);
  if (!row) throw notFound("Entity");
  return row;
}

async function searchEntities(
  c: Context<AppEnv>,
  workspaceId: string,
  query: z.infer<typeof EntitySearchQuery>,
) {
  const db = database(c.env.DB);
  let termHashes: string[] | undefined;
  if (query.q) {
    const terms = queryTerms(query.q);
    if (terms.length === 0) return { results: [], total: 0 };
    const hashes = await Promise.all(
      terms.map((t) => blindIndex(c.env.ENCRYPTION_KEY, workspaceId, "term", t)),
    );
    termHashes = [...new Set(hashes)];
  }
  const { rows, total } = await listEntities(
    db,
    workspaceId,
    {
      entityType: query.entity_type,
      source: query.source,
      confidenceMin: query.confidence_min,
      termHashes,
    },
    query.limit,
    query.offset,
  );
  return { results: await Promise.all(rows.map((r) => summaryView(c.env, r))), total };
}

const EntityGraph = z
  .object({
    center: EntitySummarySchema,
    edges: z.array(EdgeSchema),
    neighbors: z.array(EntitySummarySchema),
  })
  .meta({ id: "EntityGraph" });

const Provenance = z
  .object({
    entity_id: z.string(),
    sources: z.array(
      z.object({ source: z.string(), source_system: z.string().nullable(), events: z.number().int() }),
    ),
    confidence_history: z.array(
      z.object({ path: z.string(), candidates: z.array(FactSchema.extend({ superseded: z.boolean() })) }),
    ),
    merge_history: z.array(EdgeSchema),
  })
  .meta({ id: "Provenance" });

const Lineage = Provenance.extend({
  outbound: z.array(
    z.object({
      event_id: z.string(),
      event_type: z.string(),
      sync_status: z.string(),
      fhir_resource_type: z.string().nullable(),
    }),
  ),
  reviews: z.array(
    z.object({
      id: z.string(),
      path: z.string().nullable(),
      status: z.string(),
      priority: z.number().int(),
      created_at: z.string(),
      decided_at: z.string().nullable(),
    }),
  ),
  audit: z.array(
    z.object({ seq: z.number().int(), action: z.string(), actor_type: z.string(), created_at: z.string() }),
  ),
}).meta({ id: "Lineage" });

function edgeView(e: Awaited<ReturnType<typeof listEdges>>[number]): z.infer<typeof EdgeSchema> {
  return {
    id: e.id,
    from_id: e.fromId,
    to_id: e.toId,
    edge_type: e.edgeType,
    confidence: e.confidence,
    source: e.source,
    created_at: e.createdAt,
  };
}

async function provenanceOf(c: Context<AppEnv>, workspaceId: string, entity: EntityRow) {
  const db = database(c.env.DB);
  const [events, edges, state] = await Promise.all([
    listEntityEvents(db, workspaceId, entity.id),
    listEdges(db, workspaceId, entity.id),
    entityState(c.env, workspaceId, entity),
  ]);
  const sources = new Map<string, { source: string; source_system: string | null; events: number }>();
  for (const e of events) {
    const key = `${e.source}|${e.sourceSystem ?? ""}`;
    const entry = sources.get(key) ?? { source: e.source, source_system: e.sourceSystem, events: 0 };
    entry.events++;
    sources.set(key, entry);
  }
  return {
    events,
    provenance: {
      entity_id: entity.id,
      sources: [...sources.values()],
      confidence_history: Object.entries(state.history).map(([path, candidates]) => ({
        path,
        candidates: candidates.map((cand) => ({
          path,
          value: cand.value,
          confidence: cand.confidence,
          source: cand.source,
          effective_at: cand.effectiveAt,
          event_id: cand.eventId,
          safety_critical: state.facts[path]?.safetyCritical ?? false,
          superseded: cand.superseded,
        })),
      })),
      merge_history: edges.filter((e) => e.edgeType === "same_as").map(edgeView),
    },
  };
}

const WorldSettingsView = z
  .object({
    confidence: z
      .record(z.string(), z.number())
      .meta({ description: "Confidence by basis, defaults filled in" }),
    writeback_threshold: z.number(),
    auto_merge_threshold: z.number(),
    review_min_match: z.number(),
  })
  .meta({ id: "WorldSettings" });

function settingsView(settings: WorldSettings): z.infer<typeof WorldSettingsView> {
  return {
    confidence: { ...DEFAULT_CONFIDENCE, ...settings.confidence },
    writeback_threshold: settings.writeback_threshold,
    auto_merge_threshold: settings.auto_merge_threshold,
    review_min_match: settings.review_min_match,
  };
}

export const worldApi = router()
  .openapi(
    workspaceRoute("viewer", {
      method: "get",
      path: "/v1/{workspace_id}/world/settings",
      tags,
      summary: "World-model settings: confidence by source, writeback and merge thresholds",
      request: { params: WorkspaceParams },
      responses: { 200: jsonResponse(WorldSettingsView, "The settings, defaults filled in") },
    }),
    async (c) =>
      c.json(settingsView(await worldSettings(database(c.env.DB), c.req.valid("param").workspace_id)), 200),
  )
  .openapi(
    workspaceRoute("admin", {
      method: "patch",
      path: "/v1/{workspace_id}/world/settings",
      tags,
      summary: "Change confidence by source or the thresholds (applies to events ingested from now on)",
      request: { params: WorkspaceParams, body: jsonBody(WorldSettingsPatch) },
      responses: { 200: jsonResponse(WorldSettingsView, "The updated settings") },
    }),
    async (c) => {
      const { workspace_id } = c.req.valid("param");
      const body = c.req.valid("json");
      const db = database(c.env.DB);
      const current = await worldSettings(db, workspace_id);
      const next = WorldSettings.parse({
        ...current,
        ...body,
        confidence: { ...current.confidence, ...body.confidence },
      });
      if (next.review_min_match > next.auto_merge_threshold) {
        throw new ApiError("unprocessable", "review_min_match must not exceed auto_merge_threshold");
      }
      await audited(
        c,
        {
          action: "world.settings_updated",
          targetType: "workspace",
          targetId: workspace_id,
          details: { fields: Object.keys(body) },
        },
        [
          db
            .update(workspaces)
            .set({ worldSettings: next, updatedAt: new Date().toISOString() })
            .where(eq(workspaces.id, workspace_id)),
        ],
      );
      return c.json(settingsView(next), 200);
    },
  )
  .openapi(
    workspaceRoute("viewer", {
      method: "get",
      path: "/v1/{workspace_id}/world/entities",
      tags,
      summary: "List and search entities",
      description: "`q` matches the start of any word of the display name (all words must match).",
      request: { params: WorkspaceParams, query: EntitySearchQuery },
      responses: { 200: jsonResponse(EntitySearchResult, "Entities") },
    }),
    async (c) =>
      c.json(await searchEntities(c, c.req.valid("param").workspace_id, c.req.valid("query")), 200),
  )
  .openapi(
    workspaceRoute("viewer", {
      method: "get",
      path: "/v1/{workspace_id}/world/search",
      tags,
      summary: "Search entities by name",
      request: {
        params: WorkspaceParams,
        query: EntitySearchQuery.extend({ q: z.string().trim().min(2).max(100) }),
      },
      responses: { 200: jsonResponse(EntitySearchResult, "Matching entities") },
    }),
    async (c) =>
      c.json(await searchEntities(c, c.req.valid("param").workspace_id, c.req.valid("query")), 200),
  )
  .openapi(
    workspaceRoute("operator", {
      method: "post",
      path: "/v1/{workspace_id}/world/events",
      tags,
      summary: "Ingest events (integrations use an operator-role key)",
      description:
        "Up to 1,000 events. All are validated first: one invalid event and nothing is stored (422 with every issue). " +
        "An idempotency key seen before is reported as `duplicate` and not stored again.",
      request: { params: WorkspaceParams, body: jsonBody(IngestRequest) },
      responses: {
        200: jsonResponse(IngestResult, "What was stored"),
        422: jsonResponse(IngestResult, "Invalid events"),
      },
    }),
    async (c) => {
      const { workspace_id } = c.req.valid("param");
      const outcome = await ingestEvents(c.env, workspace_id, c.req.valid("json").events, actorOf(c));
      return c.json(
        { results: outcome.results, stored: outcome.stored, duplicates: outcome.duplicates },
        200,
      );
    },
  )
  .openapi(
    workspaceRoute("operator", {
      method: "post",
      path: "/v1/{workspace_id}/world/extractions",
      tags,
      summary: "Submit facts extracted from a conversation to the verification pipeline",
      request: { params: WorkspaceParams, body: jsonBody(ExtractionRequest) },
      responses: { 200: jsonResponse(ExtractionResult, "The judge's verdicts") },
    }),
    async (c) => {
      const { workspace_id } = c.req.valid("param");
      return c.json(await submitExtractions(c.env, workspace_id, c.req.valid("json"), actorOf(c)), 200);
    },
  )
  .openapi(
    workspaceRoute("viewer", {
      method: "post",
      path: "/v1/{workspace_id}/world/entities/resolve",
      tags,
      summary: "Find the entities some identifying details most likely name",
      request: { params: WorkspaceParams, body: jsonBody(ResolveRequest) },
      responses: { 200: jsonResponse(ResolveResult, "Candidates, best first") },
    }),
    async (c) => {
      const { workspace_id } = c.req.valid("param");
      const body = c.req.valid("json");
      const phone = body.phone ? normalizeE164(body.phone) : undefined;
      if (body.phone && !phone)
        throw new ApiError("validation_failed", "phone is not a valid phone number", { field: "phone" });
      const keys = identifierKeys({ ...body, phone: phone ?? undefined });
      const hashed = await Promise.all(
        keys.map(async (k) => ({
          kind: k.kind,
          valueHash: await blindIndex(c.env.ENCRYPTION_KEY, workspace_id, k.kind, k.value),
        })),
      );
      const db = database(c.env.DB);
      const hits = await findIdentifierHits(db, workspace_id, hashed);
      const entities = new Map(
        (await findEntities(db, workspace_id, [...new Set(hits.map((h) => h.entityId))]))
          .filter((e) => e.entityType === body.entity_type)
          .map((e) => [e.id, e]),
      );
      // A merged entity's hits count for the entity it was merged into.
      const canonicalHits = hits
        .filter((h) => entities.has(h.entityId))
        .map((h) => ({
          entityId: entities.get(h.entityId)!.mergedInto ?? h.entityId,
          kind: h.kind as MatchKind,
        }));
      const ranked = rankCandidates(canonicalHits).slice(0, 10);
      const rows = new Map(
        (
          await findEntities(
            db,
            workspace_id,
            ranked.map((r) => r.entityId),
          )
        ).map((e) => [e.id, e]),
      );
      return c.json(
        {
          candidates: await Promise.all(
            ranked.map(async (r) => ({
              entity_id: r.entityId,
              display_name: await openDisplayName(
                c.env,
                workspace_id,
                r.entityId,
                rows.get(r.entityId)?.displayNameEnc ?? null,
              ),
              match_confidence: r.matchConfidence,
              matched_on: r.matchedOn,
            })),
          ),
        },
        200,
      );
    },
  )
  .openapi(
    workspaceRoute("viewer", {
      method: "get",
      path: "/v1/{workspace_id}/world/entities/duplicates",
      tags,
      summary: "Merged entities (same_as edges), weakest match first",
      request: {
        params: WorkspaceParams,
        query: z.object({
          entity_type: EntityTypeSchema.optional(),
          confidence_max: z.coerce.number().min(0).max(1).optional(),
          limit: z.coerce.number().int().min(1).max(100).default(50),
          offset: z.coerce.number().int().min(0).default(0),
        }),
      },
      responses: {
        200: jsonResponse(
          z.object({ results: z.array(EdgeSchema), total: z.number().int() }),
          "same_as edges",
        ),
      },
    }),
    async (c) => {
      const { workspace_id } = c.req.valid("param");
      const q = c.req.valid("query");
      const { rows, total } = await listSameAsEdges(
        database(c.env.DB),
        workspace_id,
        { entityType: q.entity_type, confidenceMax: q.confidence_max },
        q.limit,
        q.offset,
      );
      return c.json({ results: rows.map(edgeView), total }, 200);
    },
  )
  .openapi(
    workspaceRoute("viewer", {
      method: "get",
      path: "/v1/{workspace_id}/world/entities/{id}",
      tags,
      summary: "An entity and its current facts",
      description: "Each fact is the projection's winner for its path, with its source and confidence.",
      request: { params: WorkspaceItemParams },
      responses: { 200: jsonResponse(EntityDetailSchema, "The entity") },
    }),
    async (c) => {
      const { workspace_id, id } = c.req.valid("param");
      const row = await requireEntity(c, workspace_id, id);
      const state = await entityState(c.env, workspace_id, {
        id: row.mergedInto ?? row.id,
        entityType: row.entityType,
      });
      return c.json({ ...(await summaryView(c.env, row)), facts: factsView(state) }, 200);
    },
  )
  .openapi(
    workspaceRoute("viewer", {
      method: "get",
      path: "/v1/{workspace_id}/world/entities/{id}/graph",
      tags,
      summary: "The entity, its edges and its neighbours",
      request: { params: WorkspaceItemParams },
      responses: { 200: jsonResponse(EntityGraph, "The graph around the entity") },
    }),
    async (c) => {
      const { workspace_id, id } = c.req.valid("param");
      const row = await requireEntity(c, workspace_id, id);
      const edges = await listEdges(database(c.env.DB), workspace_id, id);
      const neighborIds = [...new Set(edges.map((e) => (e.fromId === id ? e.toId : e.fromId)))];
      const neighbors = await findEntities(database(c.env.DB), workspace_id, neighborIds);
      return c.json(
        {
          center: await summaryView(c.env, row),
          edges: edges.map(edgeView),
          neighbors: await Promise.all(neighbors.map((n) => summaryView(c.env, n))),
        },
        200,
      );
    },
  )
  .openapi(
    workspaceRoute("viewer", {
      method: "get",
      path: "/v1/{workspace_id}/world/entities/{id}/provenance",
      tags,
      summary: "Where the entity's facts came from: sources, confidence history, merges",
      request: { params: WorkspaceItemParams },
      responses: { 200: jsonResponse(Provenance, "Provenance") },
    }),
    async (c) => {
      const { workspace_id, id } = c.req.valid("param");
      const row = await requireEntity(c, workspace_id, id);
      return c.json((await provenanceOf(c, workspace_id, row)).provenance, 200);
    },
  )
  .openapi(
    workspaceRoute("viewer", {
      method: "get",
      path: "/v1/{workspace_id}/world/entities/{id}/lineage",
      tags,
      summary: "Provenance, plus where facts went (writeback) and how they were reviewed",
      request: { params: WorkspaceItemParams },
      responses: { 200: jsonResponse(Lineage, "Lineage") },
    }),
    async (c) => {
      const { workspace_id, id } = c.req.valid("param");
      const row = await requireEntity(c, workspace_id, id);
      const { events, provenance } = await provenanceOf(c, workspace_id, row);
      const db = database(c.env.DB);
      const eventIds = events.map((e) => e.id);
      const [reviews, audit] = await Promise.all([
        db
          .select()
          .from(reviewItems)
          .where(and(eq(reviewItems.workspaceId, workspace_id), eq(reviewItems.entityId, id)))
          .orderBy(desc(reviewItems.createdAt)),
        db
          .select()
          .from(auditLog)
          .where(
            and(
              eq(auditLog.workspaceId, workspace_id),
              eventIds.length > 0
                ? inArray(auditLog.targetId, [id, ...eventIds.slice(0, 90)])
                : eq(auditLog.targetId, id),
            ),
          )
          .orderBy(desc(auditLog.seq))
          .limit(100),
      ]);
      return c.json(
        {
          ...provenance,
          outbound: events
            .filter((e) => e.syncStatus !== "none")
            .map((e) => ({
              event_id: e.id,
              event_type: e.eventType,
              sync_status: e.syncStatus,
              fhir_resource_type: e.fhirResourceType,
            })),
          reviews: reviews.map((r) => ({
            id: r.id,
            path: r.path,
            status: r.status,
            priority: r.priority,
            created_at: r.createdAt,
            decided_at: r.decidedAt,
          })),
          audit: audit.map((a) => ({
            seq: a.seq,
            action: a.action,
            actor_type: a.actorType,
            created_at: a.createdAt,
          })),
        },
        200,
      );
    },
  );
