/**
 * Event data and display names are PHI: encrypted in D1 with the workspace's key, bound to the row they
 * belong to. This module is the one place they are sealed and opened, and where a stored event becomes
 * the projection's input again.
 */
import { decryptField, encryptField } from "../../shared/crypto/encryption";
import { EVENT_TYPES, type EventType, type Fact } from "../../shared/world/events";
import type { ProjectableEvent } from "../../shared/world/projection";
import type { EventRow } from "../db/world";

export function sealEventData(
  env: Env,
  workspaceId: string,
  eventId: string,
  data: unknown,
): Promise<string> {
  return encryptField(env.ENCRYPTION_KEY, workspaceId, `world_events.data:${eventId}`, JSON.stringify(data));
}

export async function openEventData(
  env: Env,
  row: Pick<EventRow, "workspaceId" | "id" | "dataEnc">,
): Promise<unknown> {
  return JSON.parse(
    await decryptField(env.ENCRYPTION_KEY, row.workspaceId, `world_events.data:${row.id}`, row.dataEnc),
  );
}

export function sealDisplayName(
  env: Env,
  workspaceId: string,
  entityId: string,
  name: string,
): Promise<string> {
  return encryptField(env.ENCRYPTION_KEY, workspaceId, `world_entities.display_name:${entityId}`, name);
}

export async function openDisplayName(
  env: Env,
  workspaceId: string,
  entityId: string,
  sealed: string | null,
): Promise<string | null> {
  return sealed
    ? decryptField(env.ENCRYPTION_KEY, workspaceId, `world_entities.display_name:${entityId}`, sealed)
    : null;
}

export function factsOf(eventType: string, data: unknown): Fact[] {
  const def = EVENT_TYPES[eventType as EventType];
  return def ? (def.facts as (d: unknown) => Fact[])(data) : [];
}

export async function toProjectable(env: Env, row: EventRow): Promise<ProjectableEvent> {
  return {
    id: row.id,
    eventType: row.eventType as EventType,
    facts: factsOf(row.eventType, await openEventData(env, row)),
    confidence: row.confidence,
    source: row.source,
    effectiveAt: row.effectiveAt,
    supersedes: row.supersedes,
  };
}
