/**
 * How D1 records what scheduling wrote to the EHR: a `sync_events` row (status `synced`) per resource
 * version written, with its audit row, in one transaction; then the resources' world events (source
 * `ehr`, confidence 1.0, through mapping.ts), so the world model shows a booking before the next poll.
 * Versions a retried request recorded before are skipped, so a retry records only what is missing.
 */
import type { Appointment } from "@medplum/fhirtypes";
import { newId } from "../../shared/ids";
import type { IngestEvent } from "../../shared/schemas/world";
import { type AuditEntry, appendAudit } from "../db/audit";
import { type Db, database, type Statement } from "../db/client";
import { insertSyncEvent, recordedSyncKeys } from "../db/sync-events";
import { ApiError } from "../errors";
import { type IngestActor, ingestEvents } from "../world/ingest";
import type { FhirClientOptions } from "./client";
import type { DataSource, FhirResource } from "./contracts";
import { resourceToEvents } from "./mapping";

export interface SchedulingAuditEvent {
  action: string;
  targetType: string;
  targetId: string;
  details?: Record<string, unknown>;
}

/**
 * Who acts, and how D1 records a write. The API passes `record: (event, statements) => audited(c, ...)`
 * and its request id; the call engine may pass nothing, and the write is audited as the system's.
 * `clientOptions` reach the FHIR client (a test's `fetch`, a shorter timeout).
 */
export interface SchedulingContext {
  actor?: IngestActor;
  record?: (event: SchedulingAuditEvent, statements: Statement[]) => Promise<unknown>;
  clientOptions?: Omit<FhirClientOptions, "cacheKey">;
}

/** One resource version the EHR answered with, and the world entity it concerns (if known). */
export interface EhrWrite {
  resource: FhirResource | Appointment;
  entityId: string | null;
}

/** The record of one request's EHR writes, in one workspace, against its scheduling source. */
export class SyncRecorder {
  readonly db: Db;

  constructor(
    readonly env: Env,
    readonly workspaceId: string,
    readonly sink: DataSource,
    readonly context: SchedulingContext,
  ) {
    this.db = database(env.DB);
  }

  /** Sync rows and their audit row in one transaction; then, unless `ingest` is false, world events. */
  async record(
    writes: EhrWrite[],
    event: SchedulingAuditEvent,
    options: { ingest?: boolean } = {},
  ): Promise<void> {
    const at = new Date().toISOString();
    const rows = writes.map(({ resource, entityId }) => ({
      id: newId("syn"),
      workspaceId: this.workspaceId,
      dataSourceId: this.sink.id,
      kind: resource.resourceType === "Appointment" ? "appointment" : "patient",
      entityId,
      sourceSystem: this.sink.sourceSystem,
      fhirResourceType: resource.resourceType,
      fhirResourceId: resource.id ?? null,
      status: "synced" as const,
      attempts: 1,
      idempotencyKey: `scheduling:${resource.resourceType}/${resource.id}/_history/${resource.meta?.versionId ?? "0"}`,
      createdAt: at,
      updatedAt: at,
      syncedAt: at,
    }));
    const recorded = await recordedSyncKeys(
      this.db,
      this.workspaceId,
      rows.map((r) => r.idempotencyKey),
    );
    const fresh = rows.filter((r) => !recorded.has(r.idempotencyKey));
    if (fresh.length > 0) {
      const statements = fresh.map((row) => insertSyncEvent(this.db, row));
      const record =
        this.context.record ??
        ((e: SchedulingAuditEvent, s: Statement[]) =>
          appendAudit(this.db, { workspaceId: this.workspaceId, ...this.systemActor(), ...e }, s));
      await record(event, statements);
    }
    if (options.ingest !== false)
      await this.#ingestAnswer(writes.map((w) => w.resource as unknown as FhirResource));
  }

  /** World events that follow from the EHR's answer: the system's, on the request that caused them. */
  ingest(events: IngestEvent[]) {
    return ingestEvents(this.env, this.workspaceId, events, this.systemActor());
  }

  systemActor(): Pick<AuditEntry, "actorType" | "actorId" | "requestId"> {
    return { actorType: "system", actorId: null, requestId: this.context.actor?.requestId ?? null };
  }

  /** The EHR's answer as world events; a failure only delays them until the next poll brings them. */
  async #ingestAnswer(resources: FhirResource[]): Promise<void> {
    const events: IngestEvent[] = [];
    for (const resource of resources) {
      const mapped = resourceToEvents(resource, this.sink);
      if (mapped.ok) events.push(...mapped.events);
    }
    if (events.length === 0) return;
    try {
      await this.ingest(events);
    } catch (err) {
      // The EHR holds the booking and the sync log records it; the next poll brings the world event.
      console.warn(
        JSON.stringify({
          level: "warn",
          event: "scheduling.world_ingest_failed",
          workspaceId: this.workspaceId,
          error: err instanceof ApiError ? err.code : err instanceof Error ? err.name : "Error",
        }),
      );
    }
  }
}
