/** Context graph versions and knowledge entries of a service. Every query filters on workspace and service. */
import { and, asc, desc, eq, max } from "drizzle-orm";
import {
  type ContextGraph,
  KNOWLEDGE_KINDS,
  type KnowledgeEntry,
  type KnowledgeKind,
  parseContextGraph,
} from "../../shared/calls/context-graph";
import type { Db } from "./client";
import { afterKey, type Page } from "./paging";
import { contextGraphs, knowledgeEntries, services } from "./schema";

export type ContextGraphRow = typeof contextGraphs.$inferSelect;
export type KnowledgeRow = typeof knowledgeEntries.$inferSelect;

const ofService = (workspaceId: string, serviceId: string) =>
  and(eq(contextGraphs.workspaceId, workspaceId), eq(contextGraphs.serviceId, serviceId));

/** Versions of a service's graph, newest first (without reading each graph's body twice: rows carry it). */
export async function listGraphVersions(
  db: Db,
  workspaceId: string,
  serviceId: string,
  page: { limit: number; offset: number },
) {
  const where = ofService(workspaceId, serviceId);
  const [rows, total] = await Promise.all([
    db
      .select({
        id: contextGraphs.id,
        workspaceId: contextGraphs.workspaceId,
        serviceId: contextGraphs.serviceId,
        version: contextGraphs.version,
        note: contextGraphs.note,
        createdBy: contextGraphs.createdBy,
        createdAt: contextGraphs.createdAt,
      })
      .from(contextGraphs)
      .where(where)
      .orderBy(desc(contextGraphs.version))
      .limit(page.limit)
      .offset(page.offset),
    db.$count(contextGraphs, where),
  ]);
  return { rows, total };
}

export async function latestGraphVersion(db: Db, workspaceId: string, serviceId: string): Promise<number> {
  const [row] = await db
    .select({ version: max(contextGraphs.version) })
    .from(contextGraphs)
    .where(ofService(workspaceId, serviceId));
  return row?.version ?? 0;
}

export function findGraphVersion(db: Db, workspaceId: string, serviceId: string, version: number) {
  return db.query.contextGraphs.findFirst({
    where: and(ofService(workspaceId, serviceId), eq(contextGraphs.version, version)),
  });
}

export function findGraphById(db: Db, workspaceId: string, graphId: string) {
  return db.query.contextGraphs.findFirst({
    where: and(eq(contextGraphs.workspaceId, workspaceId), eq(contextGraphs.id, graphId)),
  });
}

/** The graph the service answers with: the version its `context_graph_id` names, when that is its own. */
export async function findActiveGraph(db: Db, workspaceId: string, serviceId: string) {
  const service = await db.query.services.findFirst({
    where: and(eq(services.workspaceId, workspaceId), eq(services.id, serviceId)),
    columns: { contextGraphId: true },
  });
  if (!service?.contextGraphId) return undefined;
  const graph = await findGraphById(db, workspaceId, service.contextGraphId);
  return graph && graph.serviceId === serviceId ? graph : undefined;
}

export function insertGraphVersion(db: Db, row: typeof contextGraphs.$inferInsert) {
  return db.insert(contextGraphs).values(row);
}

export function setActiveGraph(db: Db, workspaceId: string, serviceId: string, graphId: string) {
  return db
    .update(services)
    .set({ contextGraphId: graphId, updatedAt: new Date().toISOString() })
    .where(and(eq(services.workspaceId, workspaceId), eq(services.id, serviceId)));
}

export async function listKnowledge(
  db: Db,
  workspaceId: string,
  serviceId: string,
  page: Page & { kind?: KnowledgeKind | undefined },
) {
  const where = and(
    eq(knowledgeEntries.workspaceId, workspaceId),
    eq(knowledgeEntries.serviceId, serviceId),
    page.kind ? eq(knowledgeEntries.kind, page.kind) : undefined,
  );
  const [rows, total] = await Promise.all([
    db
      .select()
      .from(knowledgeEntries)
      .where(and(where, afterKey(knowledgeEntries.createdAt, knowledgeEntries.id, page.after)))
      .orderBy(asc(knowledgeEntries.createdAt), asc(knowledgeEntries.id))
      .limit(page.limit)
      .offset(page.offset),
    db.$count(knowledgeEntries, where),
  ]);
  return { rows, total };
}

/**
 * Every entry of a service as the engine reads it (a service has tens, not thousands), for the
 * `answer_from_knowledge` tool. Rows of a kind this build does not know are left out.
 */
export async function loadKnowledge(
  db: Db,
  workspaceId: string,
  serviceId: string,
): Promise<KnowledgeEntry[]> {
  const rows = await db
    .select()
    .from(knowledgeEntries)
    .where(and(eq(knowledgeEntries.workspaceId, workspaceId), eq(knowledgeEntries.serviceId, serviceId)))
    .orderBy(asc(knowledgeEntries.createdAt), asc(knowledgeEntries.id))
    .limit(500);
  return rows.flatMap((r) =>
    (KNOWLEDGE_KINDS as readonly string[]).includes(r.kind)
      ? [{ id: r.id, kind: r.kind as KnowledgeKind, title: r.title, body: r.body, keywords: r.keywords }]
      : [],
  );
}

/**
 * The graph a service answers with, parsed (defaults filled), or null when it has none. A stored
 * version was validated on save; one that no longer parses (a rule tightened since) throws.
 */
export async function loadActiveGraph(
  db: Db,
  workspaceId: string,
  serviceId: string,
): Promise<{ id: string; version: number; graph: ContextGraph } | null> {
  const row = await findActiveGraph(db, workspaceId, serviceId);
  return row ? { id: row.id, version: row.version, graph: parseContextGraph(row.graph) } : null;
}

export function findKnowledge(db: Db, workspaceId: string, serviceId: string, id: string) {
  return db.query.knowledgeEntries.findFirst({
    where: and(
      eq(knowledgeEntries.workspaceId, workspaceId),
      eq(knowledgeEntries.serviceId, serviceId),
      eq(knowledgeEntries.id, id),
    ),
  });
}

/**
 * What deleting a service must also delete (foreign keys refuse the service's row otherwise): its graph
 * versions and knowledge entries. For the services route's DELETE batch.
 */
export function deleteServiceGraphsAndKnowledge(db: Db, workspaceId: string, serviceId: string) {
  return [
    db
      .delete(knowledgeEntries)
      .where(and(eq(knowledgeEntries.workspaceId, workspaceId), eq(knowledgeEntries.serviceId, serviceId))),
    db.delete(contextGraphs).where(ofService(workspaceId, serviceId)),
  ] as const;
}
