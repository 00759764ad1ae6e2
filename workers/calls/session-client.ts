/**
 * How the Worker reaches a call's `CallSession` (one Durable Object per call, named by the call id), and
 * the D1 reads and writes the session makes about its call: the call row (the media socket names only
 * the call id), the caller's world-model entity by the number's blind index, and the call's outcome.
 */
import { and, eq, inArray } from "drizzle-orm";
import type { Db } from "../db/client";
import { calls, entityIdentifiers, worldEntities } from "../db/schema";

/** The stub of a call's session. */
export function callSession(env: Env, callId: string) {
  return env.CALL_SESSION.get(env.CALL_SESSION.idFromName(callId));
}

/**
 * A call by its id alone: the media socket's path names the call (its token was signed for that id),
 * not the workspace. Only the CallSession uses this, after the upgrade was verified.
 */
export function findCallById(db: Db, callId: string) {
  return db.query.calls.findFirst({ where: eq(calls.id, callId) });
}

/**
 * The patient entity a caller's number names, when exactly one (non-merged) patient has it: the
 * number's blind index is the `phone` identifier's hash (same key, kind and E.164 value). A number
 * shared by several patients names none: the caller is treated as new and verifies who they are.
 */
export async function patientByPhoneHash(
  db: Db,
  workspaceId: string,
  phoneHash: string,
): Promise<string | null> {
  const hits = await db
    .select({ entityId: entityIdentifiers.entityId })
    .from(entityIdentifiers)
    .where(
      and(
        eq(entityIdentifiers.workspaceId, workspaceId),
        eq(entityIdentifiers.kind, "phone"),
        eq(entityIdentifiers.valueHash, phoneHash),
      ),
    )
    .limit(20);
  if (hits.length === 0) return null;
  const entities = await db
    .select({ id: worldEntities.id, type: worldEntities.entityType, mergedInto: worldEntities.mergedInto })
    .from(worldEntities)
    .where(
      and(
        eq(worldEntities.workspaceId, workspaceId),
        inArray(
          worldEntities.id,
          hits.map((h) => h.entityId),
        ),
      ),
    );
  const patients = new Set(entities.filter((e) => e.type === "patient").map((e) => e.mergedInto ?? e.id));
  return patients.size === 1 ? [...patients][0]! : null;
}

/** What a session writes on its call when it ends (the status callback owns status and duration). */
export function finishCallRow(
  db: Db,
  workspaceId: string,
  callId: string,
  outcome: { finalState: string | null; escalated: boolean; patientEntityId: string | null },
) {
  return db
    .update(calls)
    .set({
      finalState: outcome.finalState,
      escalated: outcome.escalated,
      patientEntityId: outcome.patientEntityId,
      updatedAt: new Date().toISOString(),
    })
    .where(and(eq(calls.workspaceId, workspaceId), eq(calls.id, callId)));
}
