/**
 * `/v1/{workspace_id}/data-sources`: the clinic's EHR connections. Admins configure them; viewers see
 * them, minus credentials (only `has_*` flags). A webhook secret is shown once, when it is made.
 *
 * Decisions a clinic relies on:
 * - A source that has received resources or written back is never deleted (409): its source events
 *   and sync log are the record of what came from where. Disable it instead; that stops polling,
 *   notifications and writeback and keeps the history. A source with no history can be deleted.
 * - `type` is fixed at creation (its webhook URL and secret depend on it): make a new source instead.
 * - Every source has a FHIR base URL, so a `fhir_webhook` source can be synced by polling too (a manual
 *   sync is how a clinic catches up on notifications the EHR failed to send).
 * - Changing `base_url` points the source at another server: its poll cursors start over.
 * - Base URLs are https; plain http only to this machine (127.0.0.1, localhost) while ENVIRONMENT is
 *   development or test. Outside those, hosts on private networks are refused too.
 */
import { and, eq } from "drizzle-orm";
import type { Context } from "hono";
import type { z } from "zod";
import { randomBytes, toBase64Url } from "../../shared/encoding";
import { newId } from "../../shared/ids";
import {
  ErrorBodySchema,
  listOf,
  PageQuery,
  WorkspaceItemParams,
  WorkspaceParams,
} from "../../shared/schemas/common";
import {
  ConnectionTestSchema,
  DataSourceCreate,
  DataSourceSchema,
  DataSourceUpdate,
  DataSourceWithSecret,
  SyncRequested,
} from "../../shared/schemas/data-sources";
import { database } from "../db/client";
import {
  type DataSourceRow,
  findDataSource,
  findDataSourceByName,
  hasHistory,
  listDataSources,
} from "../db/data-sources";
import { dataSources } from "../db/schema";
import { FhirError, fhirClient, importPrivateKey } from "../ehr/client";
import type { DataSourceType, SourceAuth, SourceSecrets } from "../ehr/contracts";
import { requestPoll } from "../ehr/inbound";
import { sealSecrets, sourceFromRow, unsealSecrets } from "../ehr/sources";
import type { AppEnv } from "../env";
import { ApiError, notFound } from "../errors";
import { audited } from "./audited";
import { nextToken, pageFrom } from "./pagination";
import { jsonBody, jsonResponse, router, workspaceRoute } from "./router";

type View = z.infer<typeof DataSourceSchema>;

/** The source as the API shows it: credentials reduced to whether each one is set. */
async function dataSourceView(env: Env, row: DataSourceRow): Promise<View> {
  const secrets = await unsealSecrets(env, row.workspaceId, row.id, row.secretsEnc);
  const source = sourceFromRow(row);
  return {
    id: source.id,
    workspace_id: source.workspaceId,
    name: source.name,
    type: source.type,
    base_url: source.baseUrl,
    source_system: source.sourceSystem,
    auth: source.auth,
    has_bearer_token: Boolean(secrets.bearer_token),
    has_private_key: Boolean(secrets.private_key),
    has_webhook_secret: Boolean(secrets.webhook_secret),
    webhook_url:
      source.type === "fhir_webhook" || secrets.webhook_secret
        ? webhookUrl(env, source.workspaceId, source.id)
        : null,
    resource_types: source.resourceTypes,
    poll_interval_seconds: source.pollIntervalSeconds,
    business_hours: source.businessHours,
    writeback: source.writeback,
    enabled: source.enabled,
    status: source.status,
    last_error: source.lastError,
    last_poll_at: source.lastPollAt,
    last_success_at: source.lastSuccessAt,
    last_notification_at: source.lastNotificationAt,
    created_at: source.createdAt,
    updated_at: source.updatedAt,
  };
}

/** Where the EHR posts notifications for this source (the receiver is `workers/api/fhir-webhook.ts`). */
export function webhookUrl(env: Env, workspaceId: string, sourceId: string): string {
  return `${env.PUBLIC_BASE_URL.replace(/\/+$/, "")}/webhooks/fhir/${workspaceId}/${sourceId}`;
}

/** A new webhook secret: 32 random bytes, base64url. */
const generateWebhookSecret = () => toBase64Url(randomBytes(32));

/** A 400 shaped like the validation hook's, for checks that need the deployment or a crypto library. */
function invalid(path: string, message: string): ApiError {
  return new ApiError("validation_failed", `Invalid json: ${path} ${message}`, {
    issues: [{ location: "json", path, code: "custom", message }],
  });
}

const LOOPBACK_HOSTS = new Set(["127.0.0.1", "localhost", "[::1]"]);

/** Hosts a deployed Worker must not be pointed at: loopback, private and link-local networks. */
function isPrivateHost(hostname: string): boolean {
  if (LOOPBACK_HOSTS.has(hostname) || hostname.endsWith(".localhost") || hostname === "0.0.0.0") return true;
  const v4 = /^(\d+)\.(\d+)\.\d+\.\d+$/.exec(hostname);
  if (v4) {
    const [a, b] = [Number(v4[1]), Number(v4[2])];
    return (
      a === 10 ||
      a === 127 ||
      (a === 172 && b >= 16 && b <= 31) ||
      (a === 192 && b === 168) ||
      (a === 169 && b === 254)
    );
  }
  // IPv6 literals: unique-local (fc00::/7) and link-local (fe80::/10).
  return /^\[(f[cd]|fe[89ab])/i.test(hostname);
}

const isLocalDevelopment = (env: Env) => ["development", "test"].includes(env.ENVIRONMENT as string);

/** https to a public host; http only to this machine in development. */
function checkEndpoint(env: Env, url: string, path: string): void {
  const { protocol, hostname } = new URL(url);
  if (isLocalDevelopment(env)) {
    if (protocol === "http:" && !LOOPBACK_HOSTS.has(hostname)) {
      throw invalid(path, "must be https (http only to 127.0.0.1 or localhost in development)");
    }
    return;
  }
  if (protocol !== "https:") throw invalid(path, "must be https");
  if (isPrivateHost(hostname)) throw invalid(path, "may not name a loopback or private-network host");
}

/**
 * Which secrets each auth type takes. Any source may hold a webhook secret: a polled `fhir_store` whose
 * EHR also sends Subscription notifications is the recommended set-up (polling stays the source of
 * truth, notifications make changes arrive at once), and a `fhir_webhook` source must have one.
 */
function allowedSecrets(_type: DataSourceType, auth: SourceAuth): Set<keyof SourceSecrets> {
  const allowed = new Set<keyof SourceSecrets>(["webhook_secret"]);
  if (auth.type === "static_bearer") allowed.add("bearer_token");
  if (auth.type === "smart_backend") allowed.add("private_key");
  return allowed;
}

/** Refuses secrets the auth does not use; returns the ones it keeps. */
function checkGivenSecrets(type: DataSourceType, auth: SourceAuth, given: SourceSecrets): void {
  const allowed = allowedSecrets(type, auth);
  for (const [name, value] of Object.entries(given)) {
    if (value === undefined || allowed.has(name as keyof SourceSecrets)) continue;
    throw invalid(`secrets.${name}`, `is not used by ${auth.type} auth`);
  }
}

/** The complete credentials a source of this type and auth needs, each usable. */
async function checkSecrets(type: DataSourceType, auth: SourceAuth, secrets: SourceSecrets): Promise<void> {
  if (auth.type === "static_bearer" && !secrets.bearer_token) {
    throw invalid("secrets.bearer_token", "is required for static_bearer auth");
  }
  if (auth.type === "smart_backend") {
    if (!secrets.private_key) throw invalid("secrets.private_key", "is required for smart_backend auth");
    try {
      await importPrivateKey(secrets.private_key, auth.alg, auth.kid);
    } catch (err) {
      throw invalid("secrets.private_key", (err as Error).message);
    }
  }
  if (type === "fhir_webhook" && !secrets.webhook_secret) {
    throw invalid("secrets.webhook_secret", "is required for fhir_webhook sources");
  }
}

function checkConfiguration(
  env: Env,
  source: { type: DataSourceType; baseUrl: string; auth: SourceAuth; writeback: boolean },
) {
  checkEndpoint(env, source.baseUrl, "base_url");
  if (source.auth.type === "smart_backend" && source.auth.token_url) {
    checkEndpoint(env, source.auth.token_url, "auth.token_url");
  }
  if (source.writeback && source.type !== "fhir_store") {
    throw invalid("writeback", "needs a fhir_store source");
  }
}

/** Only the secrets this type and auth use, with nothing unset. */
function keptSecrets(type: DataSourceType, auth: SourceAuth, secrets: SourceSecrets): SourceSecrets {
  const allowed = allowedSecrets(type, auth);
  return Object.fromEntries(
    Object.entries(secrets).filter(([name, value]) => value && allowed.has(name as keyof SourceSecrets)),
  );
}

async function loadRow(c: Context<AppEnv>, workspaceId: string, id: string): Promise<DataSourceRow> {
  const row = await findDataSource(database(c.env.DB), workspaceId, id);
  if (!row) throw notFound("Data source");
  return row;
}

const whereRow = (workspaceId: string, id: string) =>
  and(eq(dataSources.workspaceId, workspaceId), eq(dataSources.id, id));

const DataSourceList = listOf(DataSourceSchema, "DataSourceList");
const tags = ["Data sources"];

export const dataSourcesApi = router()
  .openapi(
    workspaceRoute("viewer", {
      method: "get",
      path: "/v1/{workspace_id}/data-sources",
      tags,
      summary: "List data sources",
      request: { params: WorkspaceParams, query: PageQuery },
      responses: { 200: jsonResponse(DataSourceList, "Data sources, oldest first") },
    }),
    async (c) => {
      const { workspace_id } = c.req.valid("param");
      const query = c.req.valid("query");
      const { rows, total } = await listDataSources(database(c.env.DB), workspace_id, pageFrom(query));
      return c.json(
        {
          results: await Promise.all(rows.map((row) => dataSourceView(c.env, row))),
          total,
          continuation_token: nextToken(rows, query.limit),
        },
        200,
      );
    },
  )
  .openapi(
    workspaceRoute("admin", {
      method: "post",
      path: "/v1/{workspace_id}/data-sources",
      tags,
      summary: "Create a data source",
      description: "A fhir_webhook source's secret is generated unless given, and shown in this answer only.",
      request: { params: WorkspaceParams, body: jsonBody(DataSourceCreate) },
      responses: {
        201: jsonResponse(DataSourceWithSecret, "The new data source"),
        409: jsonResponse(ErrorBodySchema, "Name taken"),
      },
    }),
    async (c) => {
      const { workspace_id } = c.req.valid("param");
      const body = c.req.valid("json");
      const db = database(c.env.DB);
      checkConfiguration(c.env, {
        type: body.type,
        baseUrl: body.base_url,
        auth: body.auth,
        writeback: body.writeback,
      });
      checkGivenSecrets(body.type, body.auth, body.secrets);
      const secrets: SourceSecrets = { ...body.secrets };
      if (body.type === "fhir_webhook") secrets.webhook_secret ??= generateWebhookSecret();
      await checkSecrets(body.type, body.auth, secrets);
      if (await findDataSourceByName(db, workspace_id, body.name)) {
        throw new ApiError("conflict", "A data source with this name already exists", { field: "name" });
      }
      const id = newId("ds");
      const at = new Date().toISOString();
      await audited(
        c,
        {
          action: "data_source.created",
          targetType: "data_source",
          targetId: id,
          details: { type: body.type, auth_type: body.auth.type, source_system: body.source_system },
        },
        [
          db.insert(dataSources).values({
            id,
            workspaceId: workspace_id,
            name: body.name,
            type: body.type,
            baseUrl: body.base_url,
            sourceSystem: body.source_system,
            auth: body.auth,
            secretsEnc: await sealSecrets(c.env, workspace_id, id, secrets),
            resourceTypes: body.resource_types,
            pollIntervalSeconds: body.poll_interval_seconds,
            businessHours: body.business_hours,
            writeback: body.writeback,
            createdAt: at,
            updatedAt: at,
          }),
        ],
      );
      const view = await dataSourceView(c.env, await loadRow(c, workspace_id, id));
      return c.json(
        body.type === "fhir_webhook" ? { ...view, webhook_secret: secrets.webhook_secret } : view,
        201,
      );
    },
  )
  .openapi(
    workspaceRoute("viewer", {
      method: "get",
      path: "/v1/{workspace_id}/data-sources/{id}",
      tags,
      summary: "Get a data source",
      request: { params: WorkspaceItemParams },
      responses: { 200: jsonResponse(DataSourceSchema, "The data source") },
    }),
    async (c) => {
      const { workspace_id, id } = c.req.valid("param");
      return c.json(await dataSourceView(c.env, await loadRow(c, workspace_id, id)), 200);
    },
  )
  .openapi(
    workspaceRoute("admin", {
      method: "patch",
      path: "/v1/{workspace_id}/data-sources/{id}",
      tags,
      summary: "Update a data source",
      description:
        "Fields given replace the stored ones; a secret given replaces that secret only. Secrets the new auth does not use are dropped. A new base_url restarts polling from the beginning.",
      request: { params: WorkspaceItemParams, body: jsonBody(DataSourceUpdate) },
      responses: { 200: jsonResponse(DataSourceSchema, "The updated data source") },
    }),
    async (c) => {
      const { workspace_id, id } = c.req.valid("param");
      const body = c.req.valid("json");
      const db = database(c.env.DB);
      const existing = await loadRow(c, workspace_id, id);
      const current = sourceFromRow(existing);
      const auth = body.auth ?? current.auth;
      const baseUrl = body.base_url ?? current.baseUrl;
      checkConfiguration(c.env, {
        type: current.type,
        baseUrl,
        auth,
        writeback: body.writeback ?? current.writeback,
      });
      const given = body.secrets ?? {};
      checkGivenSecrets(current.type, auth, given);
      const stored = await unsealSecrets(c.env, workspace_id, id, existing.secretsEnc);
      const secrets = keptSecrets(current.type, auth, { ...stored, ...given });
      await checkSecrets(current.type, auth, secrets);
      if (
        body.name &&
        body.name !== existing.name &&
        (await findDataSourceByName(db, workspace_id, body.name))
      ) {
        throw new ApiError("conflict", "A data source with this name already exists", { field: "name" });
      }
      const movedServer = baseUrl !== current.baseUrl;
      const fields = Object.keys(body).flatMap((field) =>
        field === "secrets" ? Object.keys(given).map((name) => `secrets.${name}`) : [field],
      );
      await audited(
        c,
        { action: "data_source.updated", targetType: "data_source", targetId: id, details: { fields } },
        [
          db
            .update(dataSources)
            .set({
              name: body.name,
              baseUrl,
              sourceSystem: body.source_system,
              auth,
              secretsEnc: await sealSecrets(c.env, workspace_id, id, secrets),
              resourceTypes: body.resource_types,
              pollIntervalSeconds: body.poll_interval_seconds,
              businessHours: body.business_hours,
              writeback: body.writeback,
              ...(movedServer ? { cursors: {}, lastEventNumber: null } : {}),
              updatedAt: new Date().toISOString(),
            })
            .where(whereRow(workspace_id, id)),
        ],
      );
      return c.json(await dataSourceView(c.env, await loadRow(c, workspace_id, id)), 200);
    },
  )
  .openapi(
    workspaceRoute("admin", {
      method: "delete",
      path: "/v1/{workspace_id}/data-sources/{id}",
      tags,
      summary: "Delete a data source",
      description:
        "Only a source that has neither received resources nor written back; otherwise 409: disable it, which keeps its history.",
      request: { params: WorkspaceItemParams },
      responses: {
        204: { description: "Deleted" },
        409: jsonResponse(ErrorBodySchema, "It has history: disable it instead"),
      },
    }),
    async (c) => {
      const { workspace_id, id } = c.req.valid("param");
      const db = database(c.env.DB);
      await loadRow(c, workspace_id, id);
      if (await hasHistory(db, workspace_id, id)) {
        throw new ApiError(
          "conflict",
          "This data source has received resources or written back: disable it instead, which keeps its history",
          { reason: "has_history" },
        );
      }
      await audited(c, { action: "data_source.deleted", targetType: "data_source", targetId: id }, [
        db.delete(dataSources).where(whereRow(workspace_id, id)),
      ]);
      return c.body(null, 204);
    },
  )
  .openapi(
    workspaceRoute("admin", {
      method: "post",
      path: "/v1/{workspace_id}/data-sources/{id}/enable",
      tags,
      summary: "Enable a data source",
      description: "Polling, notifications and writeback resume. Enabling an enabled source changes nothing.",
      request: { params: WorkspaceItemParams },
      responses: { 200: jsonResponse(DataSourceSchema, "The data source") },
    }),
    async (c) => setEnabled(c, c.req.valid("param"), true),
  )
  .openapi(
    workspaceRoute("admin", {
      method: "post",
      path: "/v1/{workspace_id}/data-sources/{id}/disable",
      tags,
      summary: "Disable a data source",
      description:
        "Polling, notifications (refused) and writeback stop; its history stays. Disabling a disabled source changes nothing.",
      request: { params: WorkspaceItemParams },
      responses: { 200: jsonResponse(DataSourceSchema, "The data source") },
    }),
    async (c) => setEnabled(c, c.req.valid("param"), false),
  )
  .openapi(
    workspaceRoute("admin", {
      method: "post",
      path: "/v1/{workspace_id}/data-sources/{id}/sync",
      tags,
      summary: "Sync a data source now",
      description:
        "Queues a poll of every resource type since the source's cursors (fhir_webhook sources too: a catch-up). A disabled source answers 409.",
      request: { params: WorkspaceItemParams },
      responses: {
        202: jsonResponse(SyncRequested, "The poll is queued"),
        409: jsonResponse(ErrorBodySchema, "The source is disabled"),
      },
    }),
    async (c) => {
      const { workspace_id, id } = c.req.valid("param");
      const source = sourceFromRow(await loadRow(c, workspace_id, id));
      if (!source.enabled) {
        throw new ApiError("conflict", "This data source is disabled: enable it to sync", {
          reason: "disabled",
        });
      }
      const { job_id } = await requestPoll(c.env, source, "manual");
      await audited(
        c,
        {
          action: "data_source.sync_requested",
          targetType: "data_source",
          targetId: id,
          details: { job_id },
        },
        [],
      );
      return c.json({ job_id, data_source_id: id }, 202);
    },
  )
  .openapi(
    workspaceRoute("admin", {
      method: "post",
      path: "/v1/{workspace_id}/data-sources/{id}/test",
      tags,
      summary: "Test a data source's connection",
      description:
        "Reads the CapabilityStatement (`[base]/metadata`) with the source's credentials, then counts one resource type (`_summary=count`, no data) to prove they are accepted. An EHR that fails either answers 502 upstream_error with the reason.",
      request: { params: WorkspaceItemParams },
      responses: {
        200: jsonResponse(ConnectionTestSchema, "The EHR answered"),
        502: jsonResponse(ErrorBodySchema, "The EHR failed: why, in the error's message and details"),
      },
    }),
    async (c) => {
      const { workspace_id, id } = c.req.valid("param");
      const source = sourceFromRow(await loadRow(c, workspace_id, id));
      const client = await fhirClient(c.env, source, { timeoutMs: 10_000 });
      try {
        const started = Date.now();
        const metadata = await client.request("GET", "metadata");
        const latencyMs = Date.now() - started;
        const capability = metadata.ok
          ? ((await metadata.json().catch(() => null)) as Capability | null)
          : null;
        if (!metadata.ok || capability?.resourceType !== "CapabilityStatement") {
          await metadata.body?.cancel();
          throw new ApiError(
            "upstream_error",
            metadata.ok
              ? "The base URL did not answer with a FHIR CapabilityStatement"
              : `The EHR answered HTTP ${metadata.status} to [base]/metadata`,
            { status: metadata.status, issues: [] },
          );
        }
        const probe = await client.request("GET", `${source.resourceTypes[0]}?_summary=count`);
        await probe.body?.cancel();
        if (probe.status === 401 || probe.status === 403) {
          throw new ApiError(
            "upstream_error",
            `The EHR refused the credentials (HTTP ${probe.status} to a ${source.resourceTypes[0]} search)`,
            { status: probe.status, issues: [] },
          );
        }
        const software = [capability.software?.name, capability.software?.version].filter(Boolean).join(" ");
        return c.json(
          {
            ok: true as const,
            fhir_version: typeof capability.fhirVersion === "string" ? capability.fhirVersion : null,
            software: software || null,
            latency_ms: latencyMs,
            auth_verified: probe.ok,
          },
          200,
        );
      } catch (err) {
        // The client's messages name the step and the status, never a URL or data.
        if (err instanceof FhirError) {
          throw new ApiError("upstream_error", err.message, { status: err.status, issues: err.issues });
        }
        throw err;
      }
    },
  )
  .openapi(
    workspaceRoute("admin", {
      method: "post",
      path: "/v1/{workspace_id}/data-sources/{id}/rotate-webhook-secret",
      tags,
      summary: "Rotate a webhook secret",
      description:
        "The old secret stops working at once; the new one is shown in this answer only. A fhir_store source without one gets its first, and with it a webhook URL.",
      request: { params: WorkspaceItemParams },
      responses: {
        200: jsonResponse(DataSourceWithSecret, "The data source, with its new secret"),
      },
    }),
    async (c) => {
      const { workspace_id, id } = c.req.valid("param");
      const db = database(c.env.DB);
      const row = await loadRow(c, workspace_id, id);
      const secrets = await unsealSecrets(c.env, workspace_id, id, row.secretsEnc);
      secrets.webhook_secret = generateWebhookSecret();
      await audited(
        c,
        { action: "data_source.webhook_secret_rotated", targetType: "data_source", targetId: id },
        [
          db
            .update(dataSources)
            .set({
              secretsEnc: await sealSecrets(c.env, workspace_id, id, secrets),
              updatedAt: new Date().toISOString(),
            })
            .where(whereRow(workspace_id, id)),
        ],
      );
      const view = await dataSourceView(c.env, await loadRow(c, workspace_id, id));
      return c.json({ ...view, webhook_secret: secrets.webhook_secret }, 200);
    },
  );

interface Capability {
  resourceType?: string;
  fhirVersion?: unknown;
  software?: { name?: string; version?: string };
}

/** Enable or disable: idempotent, and audited only when it changes something. */
async function setEnabled(
  c: Context<AppEnv>,
  { workspace_id, id }: { workspace_id: string; id: string },
  enabled: boolean,
) {
  const row = await loadRow(c, workspace_id, id);
  if (row.enabled !== enabled) {
    await audited(
      c,
      {
        action: enabled ? "data_source.enabled" : "data_source.disabled",
        targetType: "data_source",
        targetId: id,
      },
      [
        database(c.env.DB)
          .update(dataSources)
          .set({ enabled, updatedAt: new Date().toISOString() })
          .where(whereRow(workspace_id, id)),
      ],
    );
  }
  return c.json(await dataSourceView(c.env, await loadRow(c, workspace_id, id)), 200);
}
