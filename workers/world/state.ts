/**
 * An entity's projected state. Patients are served by their `PatientModel` object (which caches the
 * projection and is read at the start of every call); other entities have few events and are projected
 * from D1 on demand. Both run the same `project()`.
 */
import type { PatientModelRpc } from "../../durable-objects/patient-model";
import type { EntityType } from "../../shared/world/events";
import { type IdentitySummary, identityOf } from "../../shared/world/identity";
import { type EntityState, type ProjectableEvent, project } from "../../shared/world/projection";
import { database } from "../db/client";
import { listEntityEvents } from "../db/world";
import { toProjectable } from "./codec";

export function patientModel(env: Env, workspaceId: string, entityId: string): PatientModelRpc {
  const namespace = env.PATIENT_MODEL as unknown as DurableObjectNamespace;
  return namespace.get(namespace.idFromName(`${workspaceId}/${entityId}`)) as unknown as PatientModelRpc;
}

export async function entityState(
  env: Env,
  workspaceId: string,
  entity: { id: string; entityType: string },
): Promise<EntityState> {
  if (entity.entityType === "patient") {
    return patientModel(env, workspaceId, entity.id).state({ workspaceId, entityId: entity.id });
  }
  const rows = await listEntityEvents(database(env.DB), workspaceId, entity.id);
  return project(await Promise.all(rows.map((row) => toProjectable(env, row))));
}

/** After new events are stored in D1: update the projection and return the entity's identity. */
export async function applyToEntity(
  env: Env,
  workspaceId: string,
  entity: { id: string; entityType: EntityType | string },
  events: ProjectableEvent[],
): Promise<IdentitySummary> {
  if (entity.entityType === "patient") {
    return patientModel(env, workspaceId, entity.id).apply({ workspaceId, entityId: entity.id }, events);
  }
  return identityOf(await entityState(env, workspaceId, entity));
}
