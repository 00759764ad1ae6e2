/**
 * FHIR data coming in over HTTP, two ways:
 *
 * - `POST|PUT /webhooks/fhir/{workspace_id}/{data_source_id}[/...]`: the EHR's Subscription
 *   notifications (R4 rest-hook, or the Subscriptions Backport IG's history Bundles). Outside `/v1`,
 *   and outside the OpenAPI document: the EHR authenticates with the source's webhook secret, as
 *   `Authorization: Bearer <secret>` (what an R4 Subscription's `channel.header` carries) or an HMAC-SHA256
 *   of the raw body in `X-Switchboard-Signature: sha256=<hex>`. Any trailing path is accepted, since some
 *   servers send to `[endpoint]/[type]/[id]`. A source of another workspace is not found; a wrong or
 *   missing credential is 401; either way nothing is written.
 * - `POST /v1/{workspace_id}/data-sources/{id}/bundle`: an admin imports a FHIR Bundle through a source.
 */

import { z } from "@hono/zod-openapi";
import type { Context } from "hono";
import { hmac } from "../../shared/crypto/hmac";
import { timingSafeEqual, utf8 } from "../../shared/encoding";
import { ErrorBodySchema, ResourceId, WorkspaceId, WorkspaceItemParams } from "../../shared/schemas/common";
import { applyResources, receiveNotification } from "../ehr/inbound";
import { getSource, openSecrets } from "../ehr/sources";
import type { AppEnv } from "../env";
import { ApiError, notFound } from "../errors";
import { actorOf, audited } from "./audited";
import { jsonResponse, router, workspaceRoute } from "./router";

// ---------------------------------------------------------------------------------------------------------
// Webhook receiver

const WebhookParams = z.object({ workspace_id: WorkspaceId, data_source_id: ResourceId });

/** FHIR's JSON media type, plain JSON, and the DSTU2-era `application/json+fhir` some servers still send. */
const FHIR_JSON = /^application\/(fhir\+json|json\+fhir|json)\s*(;|$)/i;
const SIGNATURE = /^sha256=([0-9a-f]{64})$/i;
const BEARER = /^Bearer +(\S+)$/i;

async function sha256(bytes: Uint8Array<ArrayBuffer>): Promise<Uint8Array> {
  return new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
}

const fromHex = (hex: string) => new Uint8Array(hex.match(/../g)!.map((byte) => Number.parseInt(byte, 16)));

/**
 * Whether the request carries the source's webhook secret (compared as SHA-256 digests, so the time
 * taken says nothing about the secret's length or where a guess went wrong) or a valid signature of
 * the body. A source without a webhook secret accepts no notification.
 */
async function carriesSecret(headers: Headers, secret: string | undefined, body: Uint8Array<ArrayBuffer>) {
  if (!secret) return false;
  const bearer = BEARER.exec(headers.get("Authorization")?.trim() ?? "");
  if (bearer && timingSafeEqual(await sha256(utf8.encode(bearer[1]!)), await sha256(utf8.encode(secret))))
    return true;
  const signature = SIGNATURE.exec(headers.get("X-Switchboard-Signature")?.trim() ?? "");
  return Boolean(
    signature && timingSafeEqual(fromHex(signature[1]!.toLowerCase()), await hmac("SHA-256", secret, body)),
  );
}

async function receive(c: Context<AppEnv>) {
  const params = WebhookParams.safeParse({
    workspace_id: c.req.param("workspace_id"),
    data_source_id: c.req.param("data_source_id"),
  });
  if (!params.success) throw notFound("Data source");
  const source = await getSource(c.env, params.data.workspace_id, params.data.data_source_id);
  if (!source) throw notFound("Data source");

  const raw = new Uint8Array(await c.req.arrayBuffer());
  const secrets = await openSecrets(c.env, source);
  if (!(await carriesSecret(c.req.raw.headers, secrets.webhook_secret, raw)))
    throw new ApiError("unauthorized", "The notification's credentials are missing or wrong");
  if (!source.enabled) throw new ApiError("forbidden", "This data source is disabled");

  const text = utf8.decode(raw);
  let body: unknown = null;
  if (text.trim().length > 0) {
    const type = c.req.header("Content-Type") ?? "";
    if (!FHIR_JSON.test(type))
      throw new ApiError("unsupported_media_type", "Send notifications as application/fhir+json", {
        content_type: type || null,
      });
    try {
      body = JSON.parse(text);
    } catch {
      throw new ApiError("invalid_json", "The request body is not valid JSON");
    }
  }
  return c.json(await receiveNotification(c.env, source, body), 200);
}

export const fhirWebhookApi = router().on(
  ["POST", "PUT"],
  ["/webhooks/fhir/:workspace_id/:data_source_id", "/webhooks/fhir/:workspace_id/:data_source_id/*"],
  receive,
);

// ---------------------------------------------------------------------------------------------------------
// Bundle import

const RESOURCE_TYPE = /^[A-Z][A-Za-z]{1,63}$/;
const FhirId = z.string().regex(/^[A-Za-z0-9.-]{1,64}$/, "a FHIR id: letters, digits, - and ., at most 64");
/** What a Bundle's `fullUrl` holds: an absolute http(s) URL, a `urn:uuid:` / `urn:oid:`, or `Type/id`. */
const FhirUri = z
  .string()
  .max(2000)
  .regex(
    /^(urn:uuid:[0-9A-Fa-f-]{36}|urn:oid:[0-9.]{1,200}|https?:\/\/[A-Za-z0-9\-._~:/?#[\]@!$&()*+,;=%]+|[A-Z][A-Za-z]{1,63}\/[A-Za-z0-9.-]{1,64})$/,
    "an http(s) URL, urn:uuid:, urn:oid: or Type/id",
  );
const JsonObject = z.record(z.string(), z.unknown());

export const IMPORT_BUNDLE_TYPES = ["batch", "transaction", "collection", "searchset"] as const;
export const MAX_IMPORT_ENTRIES = 1000;

/** An R4 Bundle's elements; resources inside are validated one by one when applied, not here. */
const FhirBundleImport = z
  .strictObject({
    resourceType: z.literal("Bundle"),
    id: FhirId.optional(),
    meta: JsonObject.optional(),
    implicitRules: FhirUri.optional(),
    language: z
      .string()
      .regex(/^[a-zA-Z]{2,8}(-[a-zA-Z0-9]{1,8})*$/, "a BCP-47 language tag")
      .optional(),
    identifier: JsonObject.optional(),
    type: z.enum(IMPORT_BUNDLE_TYPES),
    timestamp: z.iso.datetime({ offset: true }).optional(),
    total: z.number().int().min(0).optional(),
    link: z.array(JsonObject).max(20).optional(),
    entry: z
      .array(
        z.strictObject({
          id: FhirId.optional(),
          extension: z.array(JsonObject).optional(),
          modifierExtension: z.array(JsonObject).optional(),
          link: z.array(JsonObject).max(20).optional(),
          fullUrl: FhirUri.optional(),
          resource: JsonObject.refine(
            (r) => typeof r.resourceType === "string" && RESOURCE_TYPE.test(r.resourceType),
            "a FHIR resource, with its resourceType",
          ).optional(),
          search: JsonObject.optional(),
          request: JsonObject.optional(),
          response: JsonObject.optional(),
        }),
      )
      .max(MAX_IMPORT_ENTRIES)
      .default([]),
    signature: JsonObject.optional(),
  })
  .meta({
    id: "FhirBundleImport",
    description: "A FHIR R4 Bundle (batch, transaction, collection, searchset)",
  });

const IssueSchema = z.object({ path: z.string(), message: z.string() });

const SourceEventResult = z
  .object({
    resource_type: z.string(),
    resource_id: z.string().meta({ description: "`-` when the resource had no valid id" }),
    status: z.enum(["applied", "duplicate", "failed", "skipped"]),
    events_stored: z.number().int(),
    entity_id: z.string().nullable(),
    issues: z.array(IssueSchema).optional().meta({ description: "Why it failed: paths and messages" }),
    reason: z.string().optional().meta({ description: "Why it was skipped" }),
  })
  .meta({ id: "SourceEventResult" });

const BundleImportResult = z
  .object({
    applied: z.number().int(),
    duplicates: z.number().int(),
    failed: z.number().int(),
    skipped: z.number().int(),
    ignored: z.number().int().meta({ description: "Entries without a resource (e.g. DELETE requests)" }),
    results: z.array(SourceEventResult),
  })
  .meta({ id: "BundleImportResult" });

const importBody = { schema: FhirBundleImport };

export const fhirImportApi = router().openapi(
  workspaceRoute("admin", {
    method: "post",
    path: "/v1/{workspace_id}/data-sources/{id}/bundle",
    tags: ["Data sources"],
    summary: "Import a FHIR Bundle through a data source",
    description:
      `Up to ${MAX_IMPORT_ENTRIES} entries, sent as application/fhir+json or application/json. Each resource is ` +
      "validated as FHIR R4 and applied like a polled one: `applied` (world events stored), `failed` " +
      "(recorded with the validation issues, nothing else written), `skipped` (a type Switchboard does not " +
      "model) or `duplicate` (this version came through the source before: nothing written).",
    request: {
      params: WorkspaceItemParams,
      body: {
        required: true,
        content: { "application/json": importBody, "application/fhir+json": importBody },
      },
    },
    responses: {
      200: jsonResponse(BundleImportResult, "What each resource became"),
      409: jsonResponse(ErrorBodySchema, "The data source is disabled"),
    },
  }),
  async (c) => {
    const { workspace_id, id } = c.req.valid("param");
    const bundle = c.req.valid("json");
    const source = await getSource(c.env, workspace_id, id);
    if (!source) throw notFound("Data source");
    if (!source.enabled) throw new ApiError("conflict", "This data source is disabled: enable it to import");
    const entries = bundle.entry.filter((e) => e.search?.mode !== "outcome");
    const resources = entries.map((e) => e.resource).filter((r) => r !== undefined);
    const outcome = await applyResources(c.env, source, resources, "bundle", { actor: actorOf(c) });
    const counts = {
      applied: outcome.applied,
      duplicates: outcome.duplicates,
      failed: outcome.failed,
      skipped: outcome.skipped,
      ignored: bundle.entry.length - resources.length,
    };
    // A re-delivered bundle changed nothing, and leaves no row; anything recorded is on the trail.
    if (outcome.applied + outcome.failed + outcome.skipped > 0)
      await audited(
        c,
        {
          action: "data_source.bundle_imported",
          targetType: "data_source",
          targetId: id,
          details: { bundle_type: bundle.type, ...counts },
        },
        [],
      );
    return c.json({ ...counts, results: outcome.results }, 200);
  },
);
