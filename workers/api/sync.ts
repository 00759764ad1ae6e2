/**
 * `/v1/{workspace_id}/world/sync...`: the EHR sync log. Every write to the EHR (a verified fact, a form's
 * answers, a call summary, an appointment change) is a sync event with its attempts, outcome and error
 * text. Viewers read it (entity names are PHI, which viewers may see); operators retry failed writes,
 * one or all, which puts them back in the `ehr-sync` queue.
 */
import { z } from "zod";
import { ErrorBodySchema, WorkspaceParams } from "../../shared/schemas/common";
import type { SyncLogEntrySchema } from "../../shared/schemas/pipeline";
import { SyncEventSchema, SyncLogQuery, SyncLogSchema, SyncRetryAllResult } from "../../shared/schemas/sync";
import { database } from "../db/client";
import {
  abortUnlessChanged,
  findSyncEvent,
  findSyncEventWithEntity,
  listSyncEvents,
  type SyncEventRow,
} from "../db/sync-events";
import { prepareRetry, prepareRetryAll, retryConflict } from "../ehr/writeback";
import { notFound } from "../errors";
import { openDisplayName } from "../world/codec";
import { audited } from "./audited";
import { jsonResponse, router, workspaceRoute } from "./router";

const tags = ["Sync"];

const SyncEventParams = WorkspaceParams.extend({
  event_id: z.string().regex(/^syn_[A-Za-z0-9_-]{8,43}$/, "not a sync event id"),
});

/** A sync event without the entity's name (PHI) or its sink: what the Pipeline page's outbound log shows. */
export function syncLogEntryView(row: SyncEventRow): z.infer<typeof SyncLogEntrySchema> {
  return {
    id: row.id,
    kind: row.kind,
    status: row.status,
    attempts: row.attempts,
    error: row.error,
    entity_id: row.entityId,
    world_event_id: row.worldEventId,
    source_system: row.sourceSystem,
    fhir_resource_type: row.fhirResourceType,
    fhir_resource_id: row.fhirResourceId,
    created_at: row.createdAt,
    updated_at: row.updatedAt,
    synced_at: row.syncedAt,
  };
}

async function syncView(
  env: Env,
  row: SyncEventRow,
  displayNameEnc: string | null,
): Promise<z.infer<typeof SyncEventSchema>> {
  return {
    ...syncLogEntryView(row),
    entity_display_name: row.entityId
      ? await openDisplayName(env, row.workspaceId, row.entityId, displayNameEnc)
      : null,
    data_source_id: row.dataSourceId,
  };
}

async function requireView(env: Env, workspaceId: string, id: string) {
  const found = await findSyncEventWithEntity(database(env.DB), workspaceId, id);
  if (!found) throw notFound("Sync event");
  return syncView(env, found.event, found.displayNameEnc);
}

const conflictResponse = (description: string) => ({
  description,
  content: { "application/json": { schema: ErrorBodySchema } },
});

export const syncApi = router()
  .openapi(
    workspaceRoute("viewer", {
      method: "get",
      path: "/v1/{workspace_id}/world/sync",
      tags,
      summary: "The EHR sync log, newest first",
      request: { params: WorkspaceParams, query: SyncLogQuery },
      responses: { 200: jsonResponse(SyncLogSchema, "Sync events") },
    }),
    async (c) => {
      const { workspace_id } = c.req.valid("param");
      const q = c.req.valid("query");
      const { rows, total } = await listSyncEvents(
        database(c.env.DB),
        workspace_id,
        {
          status: q.status,
          dataSourceId: q.data_source_id,
          sourceSystem: q.source_system,
          fhirResourceType: q.fhir_resource_type,
          fhirResourceId: q.fhir_resource_id,
        },
        q.limit,
        q.offset,
      );
      const results = await Promise.all(rows.map((r) => syncView(c.env, r.event, r.displayNameEnc)));
      return c.json({ results, total }, 200);
    },
  )
  .openapi(
    workspaceRoute("operator", {
      method: "post",
      path: "/v1/{workspace_id}/world/sync/retry-all",
      tags,
      summary: "Retry every failed write (at most 500 per call, oldest first)",
      description:
        "Each goes back to the queue as `pending`, to the workspace's current writeback sink; with none " +
        "enabled, they wait as `pending` until one is.",
      request: { params: WorkspaceParams },
      responses: { 200: jsonResponse(SyncRetryAllResult, "How many were retried and how many remain") },
    }),
    async (c) => {
      const { workspace_id } = c.req.valid("param");
      const retry = await prepareRetryAll(c.env, workspace_id, new Date());
      if (retry.count === 0) return c.json({ retried: 0, remaining: 0 }, 200);
      const results = await audited(
        c,
        {
          action: "sync.retried_all",
          targetType: "workspace",
          targetId: workspace_id,
          details: { count: retry.count },
        },
        retry.statements,
      );
      const retried = await retry.afterCommit(results);
      return c.json({ retried, remaining: retry.remaining }, 200);
    },
  )
  .openapi(
    workspaceRoute("viewer", {
      method: "get",
      path: "/v1/{workspace_id}/world/sync/{event_id}",
      tags,
      summary: "One sync event",
      request: { params: SyncEventParams },
      responses: { 200: jsonResponse(SyncEventSchema, "The sync event") },
    }),
    async (c) => {
      const { workspace_id, event_id } = c.req.valid("param");
      return c.json(await requireView(c.env, workspace_id, event_id), 200);
    },
  )
  .openapi(
    workspaceRoute("operator", {
      method: "post",
      path: "/v1/{workspace_id}/world/sync/retry/{event_id}",
      tags,
      summary: "Retry a failed write (or one stuck in the queue)",
      description:
        "Puts the write back in the queue as `pending`, to the workspace's current writeback sink (with " +
        "none enabled, it waits as `pending` until one is). Only `failed` writes, and `pending`/`processing` " +
        "ones untouched for over half an hour, can be retried.",
      request: { params: SyncEventParams },
      responses: {
        200: jsonResponse(SyncEventSchema, "The write, pending again"),
        409: conflictResponse("Neither failed nor stuck"),
      },
    }),
    async (c) => {
      const { workspace_id, event_id } = c.req.valid("param");
      const db = database(c.env.DB);
      const row = await findSyncEvent(db, workspace_id, event_id);
      if (!row) throw notFound("Sync event");
      const retry = await prepareRetry(c.env, row, new Date());
      try {
        await audited(
          c,
          {
            action: "sync.retried",
            targetType: "sync_event",
            targetId: row.id,
            details: { kind: row.kind, previous_status: row.status, attempts: row.attempts },
          },
          [retry.statements[0]!, abortUnlessChanged(db), ...retry.statements.slice(1)],
        );
      } catch (err) {
        // The write moved since it was read (the job or another retry got there first): say how it stands.
        const fresh = await findSyncEvent(db, workspace_id, event_id);
        throw (fresh && retryConflict(fresh, new Date())) ?? err;
      }
      await retry.afterCommit();
      return c.json(await requireView(c.env, workspace_id, event_id), 200);
    },
  );
