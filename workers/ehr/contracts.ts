/**
 * The EHR integration's shared vocabulary: what a data source is once loaded, its credentials, and the
 * shape of a FHIR resource as the connector handles it. The pure parts (the type lists, business hours)
 * live in `shared/ehr/` and are re-exported here. Each module of `workers/ehr/` owns one part:
 *
 * | module          | owns                                                                                 |
 * | --------------- | ------------------------------------------------------------------------------------ |
 * | `sources.ts`    | data sources in D1: load, list due ones, secrets (sealed/opened), the writeback sink |
 * | `client.ts`     | `FhirClient`: HTTP to a FHIR server with SMART Backend Services or a static bearer   |
 * | `validate.ts`   | R4 validation of incoming resources with `@medplum/core`                             |
 * | `mapping.ts`    | a FHIR resource → world events (confidence 1.0, `fhir_resource_type/id`)            |
 * | `inbound.ts`    | applying resources (validate, map, ingest, source_events); polling; notifications   |
 * | `scheduling.ts` | slots and appointments for the agent: the entry point; `scheduling-*.ts` hold the   |
 * |                 | parts (slots, appointments, the EHR session, recording, support), `hold-sweep.ts`    |
 * |                 | cancels lapsed holds                                                                 |
 * | `patients.ts`   | the one way to find (or, when booking, create) an entity's Patient in this EHR       |
 * | `writeback.ts`  | eligible facts → sync_events → FHIR writes with Provenance, via the ehr-sync queue  |
 * | `fhir-builders.ts` | world facts and payloads → FHIR resources, with the sync identifier, + Provenance |
 * | `upstream.ts`   | a FHIR error as the API's `upstream_error`                                           |
 * | `r4-definitions.ts` | generated (`npm run fhir:definitions`): the trimmed R4 definitions               |
 */
import type { BusinessHours } from "../../shared/ehr/business-hours";
import type { DataSourceType, InboundResourceType } from "../../shared/ehr/vocabulary";

export type { BusinessHours } from "../../shared/ehr/business-hours";
export {
  DATA_SOURCE_TYPES,
  type DataSourceType,
  INBOUND_RESOURCE_TYPES,
  type InboundResourceType,
} from "../../shared/ehr/vocabulary";

/** The non-secret half of a source's credentials, stored and returned as is. */
export type SourceAuth =
  | { type: "none" }
  | { type: "static_bearer" }
  | {
      type: "smart_backend";
      client_id: string;
      /** Discovered from `[base]/.well-known/smart-configuration` when absent. */
      token_url?: string;
      scope: string;
      alg: "RS384" | "ES384";
      kid?: string;
    };

/** The secret half, sealed in `data_sources.secrets_enc`, never returned by the API or logged. */
export interface SourceSecrets {
  /** For `static_bearer`. */
  bearer_token?: string;
  /** For `smart_backend`: a PKCS#8 PEM or a private JWK (JSON), RS384 or ES384. */
  private_key?: string;
  /** What the EHR must present on notifications (Subscription.channel.header `Authorization: Bearer …`). */
  webhook_secret?: string;
}

/** A data source as the connector uses it (secrets not included: `openSecrets` in sources.ts). */
export interface DataSource {
  id: string;
  workspaceId: string;
  name: string;
  type: DataSourceType;
  baseUrl: string;
  sourceSystem: string;
  auth: SourceAuth;
  hasSecrets: boolean;
  resourceTypes: InboundResourceType[];
  pollIntervalSeconds: number;
  businessHours: BusinessHours | null;
  writeback: boolean;
  enabled: boolean;
  status: "idle" | "polling" | "error";
  lastError: string | null;
  cursors: Record<string, PollCursor>;
  lastEventNumber: number | null;
  lastPollStartedAt: string | null;
  lastPollAt: string | null;
  lastSuccessAt: string | null;
  lastNotificationAt: string | null;
  createdAt: string;
  updatedAt: string;
}

/** Where a `_lastUpdated` walk of one resource type stands. */
export interface PollCursor {
  /** The newest `meta.lastUpdated` fully ingested. */
  last_updated: string;
}

/** A FHIR resource as received: validated before anything reads more than these fields. */
export interface FhirResource {
  resourceType: string;
  id?: string;
  meta?: { versionId?: string; lastUpdated?: string; [key: string]: unknown };
  [key: string]: unknown;
}

export interface FhirBundle extends FhirResource {
  resourceType: "Bundle";
  type: string;
  total?: number;
  link?: { relation: string; url: string }[];
  entry?: {
    fullUrl?: string;
    resource?: FhirResource;
    request?: { method: string; url: string };
    response?: { status: string; location?: string; etag?: string; lastModified?: string };
  }[];
}

/** Where an inbound resource came from, for the source_events log. */
export type InboundChannel = "poll" | "webhook" | "manual" | "bundle";
