/**
 * Data sources as the connector uses them: loaded from D1 into `DataSource`, listed across workspaces
 * for the crons, the workspace's writeback sink, and their credentials. Secrets are one JSON object
 * sealed with the workspace's field key, its additional data naming the row (`data_sources.secrets:<id>`),
 * so a sealed value copied to another source or workspace does not open. They are opened only to call
 * the EHR or check a notification, and never logged.
 */
import { decryptField, encryptField } from "../../shared/crypto/encryption";
import { database } from "../db/client";
import {
  type DataSourceRow,
  findDataSource,
  findWritebackSink,
  listEnabledDataSources,
} from "../db/data-sources";
import type {
  BusinessHours,
  DataSource,
  DataSourceType,
  InboundResourceType,
  PollCursor,
  SourceAuth,
  SourceSecrets,
} from "./contracts";

/** The rows are written only through the admin API, which validated every JSON column. */
export function sourceFromRow(row: DataSourceRow): DataSource {
  return {
    id: row.id,
    workspaceId: row.workspaceId,
    name: row.name,
    type: row.type,
    baseUrl: row.baseUrl,
    sourceSystem: row.sourceSystem,
    auth: row.auth as unknown as SourceAuth,
    hasSecrets: row.secretsEnc !== null,
    resourceTypes: row.resourceTypes as InboundResourceType[],
    pollIntervalSeconds: row.pollIntervalSeconds,
    businessHours: (row.businessHours as unknown as BusinessHours | null) ?? null,
    writeback: row.writeback,
    enabled: row.enabled,
    status: row.status as DataSource["status"],
    lastError: row.lastError,
    cursors: row.cursors as Record<string, PollCursor>,
    lastEventNumber: row.lastEventNumber,
    lastPollStartedAt: row.lastPollStartedAt,
    lastPollAt: row.lastPollAt,
    lastSuccessAt: row.lastSuccessAt,
    lastNotificationAt: row.lastNotificationAt,
    createdAt: row.createdAt,
    updatedAt: row.updatedAt,
  };
}

export async function getSource(env: Env, workspaceId: string, id: string): Promise<DataSource | null> {
  const row = await findDataSource(database(env.DB), workspaceId, id);
  return row ? sourceFromRow(row) : null;
}

/** Enabled sources of every workspace, oldest first: for the crons, which are not workspace-scoped. */
export async function listEnabledSources(env: Env, type?: DataSourceType): Promise<DataSource[]> {
  return (await listEnabledDataSources(database(env.DB), type)).map(sourceFromRow);
}

/**
 * Where verified facts and bookings are written: the workspace's enabled `fhir_store` source with
 * `writeback` on, the oldest when several are (so the choice is stable), or null when none is.
 */
export async function writebackSink(env: Env, workspaceId: string): Promise<DataSource | null> {
  const row = await findWritebackSink(database(env.DB), workspaceId);
  return row ? sourceFromRow(row) : null;
}

const secretsField = (sourceId: string) => `data_sources.secrets:${sourceId}`;

/** Seals the non-empty secrets for the row `sourceId`; null when there are none. */
export async function sealSecrets(
  env: Env,
  workspaceId: string,
  sourceId: string,
  secrets: SourceSecrets,
): Promise<string | null> {
  const present = Object.fromEntries(Object.entries(secrets).filter(([, value]) => value !== undefined));
  if (Object.keys(present).length === 0) return null;
  return encryptField(env.ENCRYPTION_KEY, workspaceId, secretsField(sourceId), JSON.stringify(present));
}

/** Opens what `sealSecrets` sealed for this row. */
export async function unsealSecrets(
  env: Env,
  workspaceId: string,
  sourceId: string,
  sealed: string | null,
): Promise<SourceSecrets> {
  if (sealed === null) return {};
  return JSON.parse(
    await decryptField(env.ENCRYPTION_KEY, workspaceId, secretsField(sourceId), sealed),
  ) as SourceSecrets;
}

/** The source's credentials, read fresh from D1 (a rotation takes effect on the next call). */
export async function openSecrets(env: Env, source: DataSource): Promise<SourceSecrets> {
  const row = await findDataSource(database(env.DB), source.workspaceId, source.id);
  return unsealSecrets(env, source.workspaceId, source.id, row?.secretsEnc ?? null);
}
