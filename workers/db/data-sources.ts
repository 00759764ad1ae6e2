/**
 * Data sources in D1 (`data_sources`): the admin API's reads, the connector's lookups across
 * workspaces (crons), and what a source has left behind (`source_events`, `sync_events`), which decides
 * whether it may be deleted or only disabled.
 */
import { and, asc, eq } from "drizzle-orm";
import type { Db } from "./client";
import { afterKey, type Page } from "./paging";
import { dataSources, sourceEvents, syncEvents } from "./schema";

export type DataSourceRow = typeof dataSources.$inferSelect;

export async function listDataSources(db: Db, workspaceId: string, page: Page) {
  const where = eq(dataSources.workspaceId, workspaceId);
  const [rows, total] = await Promise.all([
    db
      .select()
      .from(dataSources)
      .where(and(where, afterKey(dataSources.createdAt, dataSources.id, page.after)))
      .orderBy(asc(dataSources.createdAt), asc(dataSources.id))
      .limit(page.limit)
      .offset(page.offset),
    db.$count(dataSources, where),
  ]);
  return { rows, total };
}

export async function findDataSource(
  db: Db,
  workspaceId: string,
  id: string,
): Promise<DataSourceRow | undefined> {
  const [row] = await db
    .select()
    .from(dataSources)
    .where(and(eq(dataSources.workspaceId, workspaceId), eq(dataSources.id, id)));
  return row;
}

export async function findDataSourceByName(
  db: Db,
  workspaceId: string,
  name: string,
): Promise<DataSourceRow | undefined> {
  const [row] = await db
    .select()
    .from(dataSources)
    .where(and(eq(dataSources.workspaceId, workspaceId), eq(dataSources.name, name)));
  return row;
}

/** Enabled sources of every workspace (of one type when given): what the crons walk. */
export function listEnabledDataSources(db: Db, type?: DataSourceRow["type"]): Promise<DataSourceRow[]> {
  return db
    .select()
    .from(dataSources)
    .where(and(eq(dataSources.enabled, true), type ? eq(dataSources.type, type) : undefined))
    .orderBy(asc(dataSources.createdAt), asc(dataSources.id));
}

/** The workspace's writeback target: its oldest enabled `fhir_store` with writeback on. */
export async function findWritebackSink(db: Db, workspaceId: string): Promise<DataSourceRow | undefined> {
  const [row] = await db
    .select()
    .from(dataSources)
    .where(
      and(
        eq(dataSources.workspaceId, workspaceId),
        eq(dataSources.enabled, true),
        eq(dataSources.type, "fhir_store"),
        eq(dataSources.writeback, true),
      ),
    )
    .orderBy(asc(dataSources.createdAt), asc(dataSources.id))
    .limit(1);
  return row;
}

/** Whether anything was received from or written through the source: then it is kept, not deleted. */
export async function hasHistory(db: Db, workspaceId: string, id: string): Promise<boolean> {
  const [received, written] = await Promise.all([
    db
      .select({ id: sourceEvents.id })
      .from(sourceEvents)
      .where(and(eq(sourceEvents.workspaceId, workspaceId), eq(sourceEvents.dataSourceId, id)))
      .limit(1),
    db
      .select({ id: syncEvents.id })
      .from(syncEvents)
      .where(and(eq(syncEvents.workspaceId, workspaceId), eq(syncEvents.dataSourceId, id)))
      .limit(1),
  ]);
  return received.length > 0 || written.length > 0;
}
