/**
 * Outbound writeback: what Switchboard learned, written to the clinic's EHR through the `ehr-sync` queue.
 *
 * 1. `scheduleWriteback` turns world events marked `eligible` (verified facts from calls, forms, staff)
 *    into sync events, one per fact and sink, and enqueues an `ehr.writeback` job for each.
 *    `enqueueWriteback` does the same for writes that are not facts: a form's QuestionnaireResponse, a
 *    call's Communication, an appointment's status. The sync event row is the durable intent: whatever
 *    happens to the message, the row says what is owed, and the cron sweep resumes what stopped moving.
 * 2. The job builds the FHIR resource (fhir-builders.ts), validates it as R4, writes it idempotently
 *    (conditional create on the sync event's identifier, `If-Match` updates), then a Provenance naming
 *    Switchboard and the fact's source. A failure the EHR may recover from is retried with the queue's
 *    exponential backoff; on the last try the row is marked failed ("dead-lettered") before the message
 *    goes to the dead-letter queue. A write the EHR refuses, or one that cannot be valid, fails at once.
 *    A fact with nothing to write to (a patient the EHR does not know) is `not_applicable`.
 *
 * Sync event states: pending → processing → synced | failed | not_applicable; a retryable failure goes
 * back to pending (with its error) until the next delivery. A world event mirrors its sync event's state.
 */
import { waitUntil } from "cloudflare:workers";
import { z } from "zod";
import { decryptField, encryptField } from "../../shared/crypto/encryption";
import { newId } from "../../shared/ids";
import { ResourceId } from "../../shared/schemas/common";
import {
  type AppointmentPayload,
  CommunicationPayload,
  QuestionnaireResponsePayload,
  WRITEBACK_PAYLOADS,
  type WritebackItemKind,
} from "../../shared/schemas/sync";
import { EVENT_TYPES, type EventType, type Source } from "../../shared/world/events";
import { type Db, database, type Statement } from "../db/client";
import type { syncEvents } from "../db/schema";
import {
  adoptUnassigned,
  claimSyncEvent,
  eligibleWorldEvents,
  failedSyncEvents,
  findSyncEvent,
  insertSyncEvent,
  mirrorWorldEventStatus,
  recordSyncEvent,
  resumeStuck,
  retryStatements,
  type SyncEventRow,
  settleSyncEvent,
  setWorldEventSyncStatus,
  worldEventsPending,
} from "../db/sync-events";
import { type EventRow, findEntity, findEvent } from "../db/world";
import { ApiError } from "../errors";
import { publish } from "../events";
import { backoffSeconds, enqueue, PermanentError, registerJob } from "../queue";
import { openEventData } from "../world/codec";
import { type FhirClient, type FhirClientOptions, FhirError, fhirClient } from "./client";
import type { DataSource, FhirResource } from "./contracts";
import {
  type AllergyData,
  allergyIntolerance,
  appointmentStatus,
  type ContactData,
  type CoverageData,
  communication,
  coverage,
  INTERACTION_SYSTEM,
  ifNoneExist,
  type MedicationData,
  medicationStatement,
  mergeContact,
  originDisplay,
  provenance,
  provenanceIfNoneExist,
  questionnaireResponse,
  SURFACE_SYSTEM,
  versionedReference,
  WORLD_EVENT_SYSTEM,
  type WriteActivity,
  type WriteOrigin,
  type WritePurpose,
} from "./fhir-builders";
import { ehrRecordId } from "./patients";
import { getSource, listEnabledSources, writebackSink } from "./sources";
import { validateFhirResource } from "./validate";

export const WRITEBACK_JOB = "ehr.writeback";
/** The `ehr-sync` consumer's `max_retries` in wrangler.toml: a message is delivered at most 1 + this. */
export const EHR_SYNC_MAX_RETRIES = 8;
/**
 * A pending or processing write untouched for this long has lost its message: longer than the longest
 * backoff between two deliveries (backoffSeconds(8) = 21 min), so a write waiting for its retry is not
 * taken for a lost one.
 */
export const STUCK_AFTER_MS = (backoffSeconds(EHR_SYNC_MAX_RETRIES) + 10 * 60) * 1000;
/** At most this many failed writes are put back in the queue per retry-all call. */
export const RETRY_ALL_LIMIT = 500;
const SCHEDULE_BATCH = 100;
const SCHEDULE_MAX_BATCHES = 10;
const STUCK_BATCH = 100;
/** `If-Match` updates that lost to a concurrent change are re-read and tried again this many times. */
const MAX_PRECONDITION_RETRIES = 3;
const MAX_ERROR_LENGTH = 500;

/** What each fact becomes in the EHR; event types absent here have no FHIR mapping. */
const FACT_WRITES: Partial<Record<EventType, { resourceType: string; entityType: string }>> = {
  "contact.recorded": { resourceType: "Patient", entityType: "patient" },
  "allergy.recorded": { resourceType: "AllergyIntolerance", entityType: "patient" },
  "medication.recorded": { resourceType: "MedicationStatement", entityType: "patient" },
  "coverage.recorded": { resourceType: "Coverage", entityType: "patient" },
  "appointment.recorded": { resourceType: "Appointment", entityType: "appointment" },
};

const ITEM_RESOURCE: Record<WritebackItemKind, string> = {
  questionnaire_response: "QuestionnaireResponse",
  communication: "Communication",
  appointment: "Appointment",
};

const now = () => new Date().toISOString();

/** The error text of a pending write with no sink to go to (cleared when a sink adopts it). */
export const WAITING_FOR_SINK = "waiting for an EHR writeback sink to be enabled";

function writebackJob(workspaceId: string, syncEventId: string) {
  return {
    type: WRITEBACK_JOB,
    workspace_id: workspaceId,
    idempotency_key: syncEventId,
    payload: { sync_event_id: syncEventId },
  };
}

async function enqueueAll(env: Env, workspaceId: string, ids: string[]): Promise<void> {
  await Promise.all(ids.map((id) => enqueue(env.EHR_SYNC_QUEUE, writebackJob(workspaceId, id))));
}

/**
 * Schedules the workspace's eligible world events for writeback to its sink: a sync event each
 * (`pending`, or `not_applicable` for event types with no FHIR mapping), the world event's status moved
 * along in the same batch, then a job per new pending write. Writes recorded while there was no sink are
 * sent to it too. Without a sink nothing moves: eligible facts wait (the pipeline status shows them).
 * Returns how many writes were enqueued.
 */
export async function scheduleWriteback(env: Env, workspaceId: string): Promise<number> {
  const db = database(env.DB);
  const sink = await writebackSink(env, workspaceId);
  if (!sink) return 0;
  let enqueued = 0;

  const adopted = await adoptUnassigned(db, workspaceId, sink, now(), SCHEDULE_BATCH);
  await enqueueAll(
    env,
    workspaceId,
    adopted.map((r) => r.id),
  );
  enqueued += adopted.length;

  for (let batch = 0; batch < SCHEDULE_MAX_BATCHES; batch++) {
    const events = await eligibleWorldEvents(db, workspaceId, SCHEDULE_BATCH);
    if (events.length === 0) break;
    const at = now();
    const rows = events.map((event): typeof syncEvents.$inferInsert => {
      const write = FACT_WRITES[event.eventType as EventType];
      const applies = write !== undefined && write.entityType === event.entityType;
      return {
        id: newId("syn"),
        workspaceId,
        dataSourceId: sink.id,
        kind: event.domain,
        worldEventId: event.id,
        entityId: event.entityId,
        sourceSystem: sink.sourceSystem,
        fhirResourceType: applies ? write.resourceType : null,
        status: applies ? "pending" : "not_applicable",
        error: applies ? null : `no FHIR mapping for ${event.eventType} of a ${event.entityType}`,
        idempotencyKey: `world:${event.id}:${sink.id}`,
        createdAt: at,
        updatedAt: at,
      };
    });
    const statements: Statement[] = [];
    for (const row of rows) {
      statements.push(insertSyncEvent(db, row));
      statements.push(mirrorWorldEventStatus(db, workspaceId, row.worldEventId!, row.idempotencyKey));
    }
    const results = (await db.batch(statements as [Statement, ...Statement[]])) as unknown[];
    // Only rows this call inserted get a job: a concurrent scheduler that inserted one sends its own.
    const inserted = new Set(
      rows.filter((_, i) => (results[i * 2] as { id: string }[]).length > 0).map((r) => r.id!),
    );
    const toSend = rows.filter((r) => inserted.has(r.id!) && r.status === "pending").map((r) => r.id!);
    await enqueueAll(env, workspaceId, toSend);
    enqueued += toSend.length;
    if (events.length < SCHEDULE_BATCH) break;
  }
  return enqueued;
}

/**
 * Schedules writeback after a change commits, without making the change wait for it: `waitUntil` keeps
 * the work alive after the response. A failure here only delays: the cron sweep schedules what is left.
 */
export function scheduleWritebackSoon(env: Env, workspaceId: string): void {
  const work = scheduleWriteback(env, workspaceId).catch((err: unknown) => {
    console.error(
      JSON.stringify({
        level: "error",
        event: "writeback.schedule_failed",
        workspaceId,
        error: err instanceof Error ? err.name : "Error",
      }),
    );
  });
  try {
    waitUntil(work);
  } catch {
    // Outside a request (a test calling a module directly): the promise still runs, with its own catch.
  }
}

export interface WritebackItem {
  kind: WritebackItemKind;
  /** The caller's key for this write (e.g. the surface submission's id); the same key writes once. */
  idempotency_key: string;
  /** The patient (QuestionnaireResponse, Communication) or the appointment (Appointment). */
  entity_id?: string;
  payload: unknown;
}

/**
 * Records a write that is not a world fact and enqueues it. The payload is validated for its kind and
 * sealed in `payload_enc`. Without a sink the write waits as `pending` (no sink) until one is configured.
 * Returns the sync event (the existing one when the idempotency key was seen before).
 */
export async function enqueueWriteback(
  env: Env,
  workspaceId: string,
  item: WritebackItem,
): Promise<SyncEventRow> {
  const parsed = WRITEBACK_PAYLOADS[item.kind].safeParse(item.payload);
  if (!parsed.success) {
    throw new ApiError("unprocessable", `The ${item.kind} payload is not valid`, {
      issues: parsed.error.issues.map((i) => ({ path: i.path.map(String).join("."), message: i.message })),
    });
  }
  const db = database(env.DB);
  if (item.entity_id) {
    const entity = await findEntity(db, workspaceId, item.entity_id);
    if (!entity) throw new ApiError("unprocessable", "No such entity in this workspace");
  } else if (item.kind !== "appointment" || !(parsed.data as AppointmentPayload).appointment_id) {
    throw new ApiError("unprocessable", `A ${item.kind} write needs the entity it is about`);
  }
  const sink = await writebackSink(env, workspaceId);
  const id = newId("syn");
  const at = now();
  const row = await recordSyncEvent(db, {
    id,
    workspaceId,
    dataSourceId: sink?.id ?? null,
    kind: item.kind,
    entityId: item.entity_id ?? null,
    sourceSystem: sink?.sourceSystem ?? null,
    fhirResourceType: ITEM_RESOURCE[item.kind],
    error: sink ? null : WAITING_FOR_SINK,
    payloadEnc: await sealPayload(env, workspaceId, id, parsed.data),
    status: "pending",
    idempotencyKey: `${item.kind}:${item.idempotency_key}`,
    createdAt: at,
    updatedAt: at,
  });
  if (row.id === id && sink) await enqueue(env.EHR_SYNC_QUEUE, writebackJob(workspaceId, id));
  return row;
}

const payloadField = (id: string) => `sync_events.payload:${id}`;

function sealPayload(env: Env, workspaceId: string, id: string, payload: unknown): Promise<string> {
  return encryptField(env.ENCRYPTION_KEY, workspaceId, payloadField(id), JSON.stringify(payload));
}

async function openPayload(env: Env, row: SyncEventRow): Promise<unknown> {
  if (!row.payloadEnc) throw new WriteRefused("the write has no payload");
  return JSON.parse(
    await decryptField(env.ENCRYPTION_KEY, row.workspaceId, payloadField(row.id), row.payloadEnc),
  );
}

// ---- retries ----------------------------------------------------------------------------------------

/** Why a write cannot be retried now, or null when it can. */
export function retryConflict(row: SyncEventRow, at: Date): ApiError | null {
  if (row.status === "failed") return null;
  const stuck =
    ["pending", "processing"].includes(row.status) &&
    Date.parse(row.updatedAt) < at.getTime() - STUCK_AFTER_MS;
  if (stuck) return null;
  return new ApiError(
    "conflict",
    `Only failed writes, or writes stuck for over ${Math.round(STUCK_AFTER_MS / 60_000)} minutes, can be retried (this one is ${row.status})`,
    { status: row.status },
  );
}

/**
 * A retry of one write, as statements for the caller's transaction (with its audit row) and what to do
 * once it commits (enqueue it). Throws 409 when the write is not failed or stuck. The write goes to the
 * workspace's current sink; with none enabled it waits, pending, until one is (like any write without a
 * sink), and nothing is enqueued.
 */
export async function prepareRetry(env: Env, row: SyncEventRow, at: Date) {
  const conflict = retryConflict(row, at);
  if (conflict) throw conflict;
  const sink = await writebackSink(env, row.workspaceId);
  const db = database(env.DB);
  const statements: Statement[] = [
    ...retryStatements(db, row.workspaceId, [row.id], row.status, sink, at.toISOString(), WAITING_FOR_SINK),
    ...(row.worldEventId ? [setWorldEventSyncStatus(db, row.workspaceId, row.worldEventId, "pending")] : []),
  ];
  return {
    statements,
    afterCommit: async () => {
      if (sink) await enqueue(env.EHR_SYNC_QUEUE, writebackJob(row.workspaceId, row.id));
    },
  };
}

/** Retries one write outside a request (no audit row of its own): reset, then enqueue. */
export async function retrySync(env: Env, workspaceId: string, syncEventId: string): Promise<SyncEventRow> {
  const db = database(env.DB);
  const row = await findSyncEvent(db, workspaceId, syncEventId);
  if (!row) throw new ApiError("not_found", "Sync event not found");
  const retry = await prepareRetry(env, row, new Date());
  await db.batch(retry.statements as [Statement, ...Statement[]]);
  await retry.afterCommit();
  return (await findSyncEvent(db, workspaceId, syncEventId))!;
}

/**
 * Up to RETRY_ALL_LIMIT failed writes, oldest first, as statements for one transaction; `afterCommit`
 * enqueues the ones whose reset took (a write retried meanwhile by someone else is left to them) and
 * returns how many were reset. Without a sink they wait, pending, as `prepareRetry` says.
 */
export async function prepareRetryAll(env: Env, workspaceId: string, at: Date) {
  const db = database(env.DB);
  const { rows, total } = await failedSyncEvents(db, workspaceId, RETRY_ALL_LIMIT);
  if (rows.length === 0) return { statements: [], count: 0, remaining: 0, afterCommit: async () => 0 };
  const sink = await writebackSink(env, workspaceId);
  const resets = retryStatements(
    db,
    workspaceId,
    rows.map((r) => r.id),
    "failed",
    sink,
    at.toISOString(),
    WAITING_FOR_SINK,
  );
  const statements: Statement[] = [
    ...resets,
    ...worldEventsPending(
      db,
      workspaceId,
      rows.flatMap((r) => (r.worldEventId ? [r.worldEventId] : [])),
    ),
  ];
  return {
    statements,
    count: rows.length,
    remaining: total - rows.length,
    /** `results`: the transaction's results for `statements`, in order. */
    afterCommit: async (results: unknown[]) => {
      const reset = results
        .slice(0, resets.length)
        .flatMap((r) => (r as { id: string }[]).map((row) => row.id));
      if (sink) await enqueueAll(env, workspaceId, reset);
      return reset.length;
    },
  };
}

/** Retries every failed write (up to the limit) outside a request; returns how many were reset. */
export async function retryAllFailed(env: Env, workspaceId: string): Promise<number> {
  const retry = await prepareRetryAll(env, workspaceId, new Date());
  if (retry.statements.length === 0) return 0;
  const results = await database(env.DB).batch(retry.statements as [Statement, ...Statement[]]);
  return retry.afterCommit(results as unknown[]);
}

/**
 * The cron's safety net: for every workspace with a sink, schedule what is eligible (a trigger missed
 * after a commit only delays) and resume writes that stopped moving (a lost message, a delivery that died).
 */
export async function sweepWriteback(env: Env, at: Date): Promise<{ scheduled: number; resumed: number }> {
  const workspaces = [
    ...new Set(
      (await listEnabledSources(env, "fhir_store")).filter((s) => s.writeback).map((s) => s.workspaceId),
    ),
  ];
  const db = database(env.DB);
  let scheduled = 0;
  let resumed = 0;
  for (const workspaceId of workspaces) {
    scheduled += await scheduleWriteback(env, workspaceId);
    const before = new Date(at.getTime() - STUCK_AFTER_MS).toISOString();
    const ids = await resumeStuck(db, workspaceId, before, at.toISOString(), STUCK_BATCH);
    await enqueueAll(env, workspaceId, ids);
    resumed += ids.length;
  }
  return { scheduled, resumed };
}

// ---- the job ----------------------------------------------------------------------------------------

/** Nothing to write: recorded as `not_applicable` with the reason (e.g. the patient has no EHR record). */
class NotApplicable extends Error {}
/** The write can never succeed as it is (refused by the EHR, invalid FHIR, no sink): `failed`, no retry. */
class WriteRefused extends Error {}
/** Worth another try that is not an EHR error (the resource kept changing under our `If-Match`). */
class TransientWrite extends Error {}

interface Written {
  resourceType: string;
  id: string;
}

registerJob("ehr-sync", WRITEBACK_JOB, {
  payload: z.strictObject({ sync_event_id: ResourceId }),
  handle: (payload, context) =>
    runWriteback(context.env, context.workspaceId, payload.sync_event_id, context.attempts),
});

/**
 * One delivery of an `ehr.writeback` job. `delivery` is the message's attempt number (1-based): past
 * EHR_SYNC_MAX_RETRIES this is the last one, and a retryable failure marks the write failed
 * ("dead-lettered") before the error sends the message to the dead-letter queue.
 */
export async function runWriteback(
  env: Env,
  workspaceId: string,
  syncEventId: string,
  delivery: number,
  clientOptions: Omit<FhirClientOptions, "cacheKey"> = {},
): Promise<void> {
  const db = database(env.DB);
  const row = await claimSyncEvent(db, workspaceId, syncEventId, now());
  // Settled already (synced, failed, not applicable) or unknown: a re-delivery, nothing to send.
  if (!row) return;
  try {
    const written = await perform(env, db, row, clientOptions);
    await settle(db, row, {
      status: "synced",
      error: null,
      fhirResourceType: written.resourceType,
      fhirResourceId: written.id,
      syncedAt: now(),
    });
    await publish(env, workspaceId, {
      type: "pipeline.sync_completed",
      data: {
        sync_event_id: row.id,
        kind: row.kind,
        status: "synced",
        data_source_id: row.dataSourceId,
        world_event_id: row.worldEventId,
        fhir_resource_type: written.resourceType,
        fhir_resource_id: written.id,
      },
    });
  } catch (err) {
    if (err instanceof NotApplicable) {
      await settle(db, row, { status: "not_applicable", error: clip(err.message) });
      return;
    }
    const retryable =
      err instanceof TransientWrite ||
      (err instanceof FhirError ? err.retryable : !(err instanceof WriteRefused));
    const text = clip(describe(err));
    if (!retryable) {
      await settle(db, row, { status: "failed", error: text });
      await announceFailure(env, row);
      throw new PermanentError(`writeback ${row.id} refused`);
    }
    if (delivery > EHR_SYNC_MAX_RETRIES) {
      await settle(db, row, {
        status: "failed",
        error: clip(`dead-lettered after ${delivery} attempts: ${text}`),
      });
      await announceFailure(env, row);
    } else {
      await settle(db, row, { status: "pending", error: text });
    }
    throw err;
  }
}

/**
 * Records an attempt's outcome on the row it claimed (unless it moved meanwhile: a concurrent delivery
 * settled it first), and the world event follows whatever the row now says.
 */
async function settle(
  db: Db,
  row: SyncEventRow,
  set: Omit<Parameters<typeof settleSyncEvent>[3], "updatedAt">,
): Promise<void> {
  const statements: Statement[] = [
    settleSyncEvent(db, row.workspaceId, row.id, { ...set, updatedAt: now() }),
  ];
  if (row.worldEventId)
    statements.push(mirrorWorldEventStatus(db, row.workspaceId, row.worldEventId, row.idempotencyKey));
  await db.batch(statements as [Statement, ...Statement[]]);
}

async function announceFailure(env: Env, row: SyncEventRow): Promise<void> {
  await publish(env, row.workspaceId, {
    type: "pipeline.error",
    data: { sync_event_id: row.id, kind: row.kind, status: "failed", data_source_id: row.dataSourceId },
  });
}

const clip = (text: string) =>
  // Quoted text in an EHR's diagnostics can echo a value we sent: keep the words, drop the quotes' content.
  text.replace(/"[^"]*"|'[^']*'/g, '"…"').slice(0, MAX_ERROR_LENGTH);

/** The error text of the sync log: what failed and why, never the data we sent. */
function describe(err: unknown): string {
  if (err instanceof FhirError) {
    const what =
      err.status === 0
        ? "the EHR did not answer (timeout or network error)"
        : `the EHR answered ${err.status}`;
    return err.issues.length > 0 ? `${what}: ${err.issues.join("; ")}` : what;
  }
  if (err instanceof WriteRefused || err instanceof TransientWrite) return err.message;
  return `internal error (${err instanceof Error ? err.name : "unknown"})`;
}

async function perform(
  env: Env,
  db: Db,
  row: SyncEventRow,
  clientOptions: Omit<FhirClientOptions, "cacheKey">,
): Promise<Written> {
  const sink = row.dataSourceId ? await getSource(env, row.workspaceId, row.dataSourceId) : null;
  if (!sink) throw new WriteRefused("the writeback sink no longer exists");
  if (!sink.enabled || !sink.writeback) throw new WriteRefused("the writeback sink is disabled");
  const writer = new Writer(await fhirClient(env, sink, clientOptions), row.id);
  const job: WriteJob = { env, db, row, sink, writer };
  return row.worldEventId ? writeFact(job) : writeItem(job);
}

/** One claimed write: its row, the sink it goes to, and the EHR calls that make it. */
interface WriteJob {
  env: Env;
  db: Db;
  row: SyncEventRow;
  sink: DataSource;
  writer: Writer;
}

async function writeFact(job: WriteJob): Promise<Written> {
  const { env, db, row, writer } = job;
  const event = await findEvent(db, row.workspaceId, row.worldEventId!);
  if (!event) throw new WriteRefused("the world event no longer exists");
  const write = FACT_WRITES[event.eventType as EventType];
  if (!write || write.entityType !== event.entityType)
    throw new NotApplicable(`no FHIR mapping for ${event.eventType} of a ${event.entityType}`);
  const parsed = EVENT_TYPES[event.eventType as EventType].data.safeParse(await openEventData(env, event));
  if (!parsed.success) throw new WriteRefused(`the ${event.eventType} event's data is not valid`);
  const data = parsed.data;
  const origin = await originOf(db, event);

  if (event.eventType === "appointment.recorded") {
    const appointmentId = await requireRecord(job, event.entityId, "Appointment");
    const change = {
      status: (data as { status: AppointmentPayload["status"] }).status,
      source: "voice" as const,
    };
    return writer.updateAppointment(appointmentId, change, event.effectiveAt, null, origin);
  }

  const patientId = await requireRecord(job, event.entityId, "Patient");
  switch (event.eventType) {
    case "contact.recorded":
      return writer.updatePatientContact(patientId, data as ContactData, event.effectiveAt, origin);
    case "allergy.recorded":
      return writer.create(allergyIntolerance(row.id, patientId, data as AllergyData, event.effectiveAt), {
        purpose: "TREAT",
        occurredAt: event.effectiveAt,
        patientId,
        origin,
      });
    case "medication.recorded":
      return writer.create(
        medicationStatement(row.id, patientId, data as MedicationData, event.effectiveAt),
        { purpose: "TREAT", occurredAt: event.effectiveAt, patientId, origin },
      );
    default:
      return writer.create(coverage(row.id, patientId, data as CoverageData), {
        purpose: "HPAYMT",
        occurredAt: event.effectiveAt,
        patientId,
        origin,
      });
  }
}

async function writeItem(job: WriteJob): Promise<Written> {
  const { env, row, writer } = job;
  const kind = row.kind as WritebackItemKind;
  const payload = await openPayload(env, row);
  if (kind === "appointment") {
    const change = WRITEBACK_PAYLOADS.appointment.parse(payload);
    const appointmentId = change.appointment_id ?? (await requireRecord(job, row.entityId, "Appointment"));
    const origin: WriteOrigin = {
      source: change.source,
      ...(change.interaction_id
        ? {
            entity: {
              system: INTERACTION_SYSTEM,
              value: change.interaction_id,
              display: originDisplay(change.source),
            },
          }
        : {}),
    };
    return writer.updateAppointment(appointmentId, change, now(), null, origin);
  }
  const patientId = await requireRecord(job, row.entityId, "Patient");
  if (kind === "questionnaire_response") {
    const answers = QuestionnaireResponsePayload.parse(payload);
    return writer.create(questionnaireResponse(row.id, patientId, answers), {
      purpose: "TREAT",
      occurredAt: answers.authored,
      patientId,
      origin: {
        source: "surface",
        entity: { system: SURFACE_SYSTEM, value: answers.surface_id, display: originDisplay("surface") },
      },
    });
  }
  const summary = CommunicationPayload.parse(payload);
  const source: Source = summary.channel === "voice" ? "voice" : "sms";
  return writer.create(communication(row.id, patientId, summary), {
    purpose: "TREAT",
    occurredAt: summary.occurred_at,
    patientId,
    origin: {
      source,
      entity: { system: INTERACTION_SYSTEM, value: summary.interaction_id, display: originDisplay(source) },
    },
  });
}

/** The entity's record of `type` in the sink's EHR (patients.ts); without one there is nothing to write. */
async function requireRecord(
  job: WriteJob,
  entityId: string | null,
  type: "Patient" | "Appointment",
): Promise<string> {
  const { env, db, row, sink } = job;
  const id = entityId ? await ehrRecordId(env, db, row.workspaceId, entityId, type, sink) : null;
  if (!id) throw new NotApplicable(`${type.toLowerCase()} has no EHR record`);
  return id;
}

const PATIENT_SOURCES: readonly string[] = ["voice", "sms", "surface", "operator"];

/**
 * Where a fact came from, for its Provenance. A reviewer's decision (or the judge's promotion) supersedes
 * the proposal it settled: the chain is followed to the channel the fact was first heard on.
 */
async function originOf(db: Db, event: EventRow): Promise<WriteOrigin> {
  let reviewedSource: Source | null = null;
  let first = event;
  if (event.source === "review" || event.source === "system") {
    let current: EventRow | undefined = event;
    for (let hop = 0; hop < 4 && current?.supersedes; hop++) {
      current = await findEvent(db, event.workspaceId, current.supersedes);
      if (current && PATIENT_SOURCES.includes(current.source)) {
        reviewedSource = current.source as Source;
        first = current;
        break;
      }
    }
  }
  return {
    source: event.source as Source,
    reviewedSource,
    entity: { system: WORLD_EVENT_SYSTEM, value: first.id, display: originDisplay(first.source as Source) },
  };
}

/** The EHR calls of one write: validated before sending, idempotent, each followed by its Provenance. */
class Writer {
  constructor(
    readonly client: FhirClient,
    readonly syncEventId: string,
  ) {}

  async create(
    resource: FhirResource,
    context: { purpose: WritePurpose; occurredAt: string; patientId: string; origin: WriteOrigin },
  ): Promise<Written> {
    const valid = checked(resource);
    const written = await this.client.create(valid, { ifNoneExist: ifNoneExist(this.syncEventId) });
    await this.provenance(written.resource, "CREATE", context);
    return { resourceType: written.resource.resourceType, id: written.resource.id! };
  }

  /** Read, merge, `If-Match` update; a 412 (someone wrote meanwhile) means read again and merge again. */
  async updatePatientContact(
    patientId: string,
    contact: ContactData,
    occurredAt: string,
    origin: WriteOrigin,
  ): Promise<Written> {
    return this.#readMergeUpdate(
      "Patient",
      patientId,
      (patient) => mergeContact(patient, contact, occurredAt),
      {
        purpose: "HOPERAT",
        occurredAt,
        patientId,
        origin,
      },
    );
  }

  async updateAppointment(
    appointmentId: string,
    change: Pick<AppointmentPayload, "status"> & Partial<AppointmentPayload>,
    occurredAt: string,
    patientId: string | null,
    origin: WriteOrigin,
  ): Promise<Written> {
    return this.#readMergeUpdate(
      "Appointment",
      appointmentId,
      (appointment) => appointmentStatus(appointment, { source: "voice", ...change }),
      { purpose: "HOPERAT", occurredAt, patientId, origin },
    );
  }

  async #readMergeUpdate(
    type: string,
    id: string,
    merge: (current: FhirResource) => { resource: FhirResource; changed: boolean },
    context: { purpose: WritePurpose; occurredAt: string; patientId: string | null; origin: WriteOrigin },
  ): Promise<Written> {
    for (let attempt = 1; attempt <= MAX_PRECONDITION_RETRIES; attempt++) {
      const current = await this.#read(type, id);
      const { resource, changed } = merge(current);
      // The EHR already holds it (or an earlier delivery wrote it): nothing to send.
      if (!changed) return { resourceType: type, id };
      const valid = checked(resource);
      const version = current.meta?.versionId;
      try {
        const written = await this.client.update(valid, version ? { ifMatch: `W/"${version}"` } : {});
        await this.provenance(written.resource, "UPDATE", {
          ...context,
          patientId: context.patientId ?? patientOf(written.resource),
        });
        return { resourceType: type, id };
      } catch (err) {
        if (err instanceof FhirError && err.status === 412) continue;
        throw err;
      }
    }
    throw new TransientWrite(
      `the ${type} kept changing during the update (412 ${MAX_PRECONDITION_RETRIES} times)`,
    );
  }

  async #read(type: string, id: string): Promise<FhirResource> {
    try {
      return await this.client.read(type, id);
    } catch (err) {
      if (err instanceof FhirError && (err.status === 404 || err.status === 410))
        throw new NotApplicable(`${type.toLowerCase()} has no EHR record (the EHR answered ${err.status})`);
      throw err;
    }
  }

  async provenance(
    target: FhirResource,
    activity: WriteActivity,
    context: { purpose: WritePurpose; occurredAt: string; patientId: string | null; origin: WriteOrigin },
  ): Promise<void> {
    const record = provenance({
      syncEventId: this.syncEventId,
      target: versionedReference(target),
      activity,
      purpose: context.purpose,
      occurredAt: context.occurredAt,
      recordedAt: now(),
      patientId: context.patientId,
      origin: context.origin,
    });
    await this.client.create(checked(record), { ifNoneExist: provenanceIfNoneExist(this.syncEventId) });
  }
}

/** The patient an Appointment is for (its first Patient participant), for the Provenance's informant. */
function patientOf(resource: FhirResource): string | null {
  if (resource.resourceType === "Patient") return resource.id ?? null;
  const participants = (resource.participant as { actor?: { reference?: string } }[] | undefined) ?? [];
  const ref = participants.map((p) => p.actor?.reference ?? "").find((r) => r.startsWith("Patient/"));
  return ref ? ref.slice("Patient/".length) : null;
}

/** Validates an outgoing resource as R4; an invalid one fails the write (retrying cannot fix it). */
function checked(resource: FhirResource): FhirResource {
  const result = validateFhirResource(resource);
  if (result.ok) return result.resource;
  const issues = result.issues
    .slice(0, 5)
    .map((i) => `${i.path}: ${i.message}`)
    .join("; ");
  throw new WriteRefused(`invalid FHIR ${resource.resourceType}: ${issues}`);
}
