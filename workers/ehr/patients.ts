/**
 * Which record a world entity is in an EHR, above all its FHIR Patient: the one answer writeback and
 * scheduling share.
 *
 * An entity's record in a source's EHR is the id its events name with that source's `source_system`
 * (`fhir_resource_type/id`, the first recorded), else the ids its `identifier.recorded` facts name as
 * `<source system>:<Type>`, oldest first. A merged entity answers for the entities merged into it. Ids
 * recorded for other systems are never taken: a FHIR id means nothing outside its own server.
 *
 * - Writeback (`ehrRecordId`) writes to that record; an entity without one is `not_applicable`.
 * - A booking (`bookingPatient`) takes the id its events name as it is, an identifier fact's once the
 *   EHR confirms it by a read, and otherwise creates the Patient from the world model
 *   (`patientFromFacts`, conditional create on `PATIENT_SYSTEM|<entity id>`, so a retry finds it), then
 *   links it back with an `identifier.recorded` event carrying `Patient/<id>`, which is the first answer
 *   from then on and makes the connector's next poll of that Patient land on the same entity.
 */
import type { Db } from "../db/client";
import { ehrResourceId, entityOfResource, identifierEvents } from "../db/ehr-links";
import { findEntity } from "../db/world";
import { ApiError, notFound } from "../errors";
import { openEventData } from "../world/codec";
import { entityState } from "../world/state";
import type { FhirClient } from "./client";
import type { DataSource } from "./contracts";
import { PATIENT_SYSTEM, patientFromFacts } from "./fhir-builders";
import type { SyncRecorder } from "./scheduling-record";
import { fhir, readIfExists } from "./upstream";

export { PATIENT_SYSTEM };

const FHIR_ID = /^[A-Za-z0-9.-]{1,64}$/;
/** What `identifier.recorded` accepts as a system's source part (shared/world/events.ts). */
const SOURCE_SYSTEM = /^[a-z0-9_.-]+$/;

interface EhrRecord {
  id: string;
  /** Named by the EHR's own events (trusted as it is), rather than by an identifier fact. */
  fromEhr: boolean;
}

/** The entity, or the one it was merged into. */
async function canonicalEntity(db: Db, workspaceId: string, entityId: string) {
  const found = await findEntity(db, workspaceId, entityId);
  return found?.mergedInto ? findEntity(db, workspaceId, found.mergedInto) : found;
}

/** The entity's records of `resourceType` in the EHR of `sourceSystem`, most trusted first (see the header). */
async function ehrRecords(
  env: Env,
  db: Db,
  workspaceId: string,
  entityId: string,
  resourceType: string,
  sourceSystem: string,
): Promise<EhrRecord[]> {
  const named = await ehrResourceId(db, workspaceId, entityId, resourceType, sourceSystem);
  if (named) return [{ id: named, fromEhr: true }];
  const system = `${sourceSystem}:${resourceType}`;
  const ids = new Set<string>();
  for (const event of await identifierEvents(db, workspaceId, entityId)) {
    const data = (await openEventData(env, event)) as { system?: string; value?: string };
    if (data.system === system && data.value && FHIR_ID.test(data.value)) ids.add(data.value);
  }
  return [...ids].map((id) => ({ id, fromEhr: false }));
}

/** The entity's id of `resourceType` in the sink's EHR (see the header), or null when it has none. */
export async function ehrRecordId(
  env: Env,
  db: Db,
  workspaceId: string,
  entityId: string,
  resourceType: string,
  sink: DataSource,
): Promise<string | null> {
  const entity = await canonicalEntity(db, workspaceId, entityId);
  if (!entity) return null;
  const [first] = await ehrRecords(env, db, workspaceId, entity.id, resourceType, sink.sourceSystem);
  return first?.id ?? null;
}

/**
 * The FHIR Patient to book `entityId` (a patient entity, else 404 or 422) with, created in the EHR when it
 * has none. Answers the canonical entity id with it.
 */
export async function bookingPatient(
  log: SyncRecorder,
  client: FhirClient,
  entityId: string,
): Promise<{ entityId: string; fhirId: string }> {
  const entity = await canonicalEntity(log.db, log.workspaceId, entityId);
  if (!entity) throw notFound("Patient");
  if (entity.entityType !== "patient")
    throw new ApiError("unprocessable", "patient must name a patient entity", {
      entity_type: entity.entityType,
    });
  const records = await ehrRecords(
    log.env,
    log.db,
    log.workspaceId,
    entity.id,
    "Patient",
    log.sink.sourceSystem,
  );
  for (const record of records) {
    if (record.fromEhr || (await readIfExists(client, "Patient", record.id)))
      return { entityId: entity.id, fhirId: record.id };
  }
  return { entityId: entity.id, fhirId: await createPatient(log, client, entity.id) };
}

/** The entity whose events name this FHIR Patient, if any (for the sync log and the answer). */
export async function entityOfPatient(
  db: Db,
  workspaceId: string,
  patientId: string | null,
): Promise<string | null> {
  return patientId ? entityOfResource(db, workspaceId, "Patient", patientId) : null;
}

async function createPatient(log: SyncRecorder, client: FhirClient, entityId: string): Promise<string> {
  const state = await entityState(log.env, log.workspaceId, { id: entityId, entityType: "patient" });
  const { resource: created } = await fhir(() =>
    client.create(patientFromFacts(entityId, state.facts), {
      ifNoneExist: `identifier=${PATIENT_SYSTEM}|${entityId}`,
    }),
  );
  const fhirId = created.id!;
  // Not mapped into world events: the EHR's copy holds only what the world model gave it, and must
  // not come back as facts the EHR confirmed.
  await log.record(
    [{ resource: created, entityId }],
    {
      action: "scheduling.patient_created",
      targetType: "entity",
      targetId: entityId,
      details: { fhir_resource_id: fhirId },
    },
    { ingest: false },
  );
  // The link back: the identifier fact makes `<source system>:Patient:<id>` this entity's external id.
  const { sourceSystem } = log.sink;
  if (SOURCE_SYSTEM.test(sourceSystem)) {
    await log.ingest([
      {
        idempotency_key: `scheduling:patient-link:${entityId}:${fhirId}`,
        entity_id: entityId,
        event_type: "identifier.recorded",
        data: { system: `${sourceSystem}:Patient`, value: fhirId },
        source: "ehr",
        confidence: 1,
        source_system: sourceSystem,
        fhir_resource_type: "Patient",
        fhir_resource_id: fhirId,
      },
    ]);
  }
  return fhirId;
}
