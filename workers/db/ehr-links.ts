/**
 * Which EHR record a world entity is, read off its world events: events from the EHR carry
 * `fhir_resource_type/id` and their `source_system`, and an `identifier.recorded` event names an id as
 * `<source system>:<Type>`. An entity's answer includes the entities merged into it. The one reader is
 * workers/ehr/patients.ts, which decides what counts as a link.
 */
import { and, asc, desc, eq, sql } from "drizzle-orm";
import type { Db } from "./client";
import { worldEntities, worldEvents } from "./schema";

/** The entity's events and those of entities merged into it: one IN list, an index range. */
const ofEntityAndMerged = (workspaceId: string, entityId: string) =>
  and(
    eq(worldEvents.workspaceId, workspaceId),
    sql`${worldEvents.entityId} IN (SELECT ${entityId} UNION ALL SELECT id FROM ${worldEntities} WHERE ${worldEntities.workspaceId} = ${workspaceId} AND ${worldEntities.mergedInto} = ${entityId})`,
  );

/**
 * The id a resource of `resourceType` has in the EHR whose events carry `sourceSystem`, read off the
 * entity's events: the first one recorded, so the answer is stable.
 */
export async function ehrResourceId(
  db: Db,
  workspaceId: string,
  entityId: string,
  resourceType: string,
  sourceSystem: string,
): Promise<string | null> {
  const [row] = await db
    .select({ id: worldEvents.fhirResourceId })
    .from(worldEvents)
    .where(
      and(
        ofEntityAndMerged(workspaceId, entityId),
        eq(worldEvents.fhirResourceType, resourceType),
        eq(worldEvents.sourceSystem, sourceSystem),
        sql`${worldEvents.fhirResourceId} IS NOT NULL`,
      ),
    )
    .orderBy(asc(worldEvents.ingestedAt), asc(worldEvents.id))
    .limit(1);
  return row?.id ?? null;
}

/** The entity's `identifier.recorded` events, oldest first (their data is sealed: workers/world/codec.ts). */
export function identifierEvents(db: Db, workspaceId: string, entityId: string) {
  return db
    .select()
    .from(worldEvents)
    .where(and(ofEntityAndMerged(workspaceId, entityId), eq(worldEvents.eventType, "identifier.recorded")))
    .orderBy(asc(worldEvents.ingestedAt), asc(worldEvents.id));
}

/**
 * The entity whose latest event names `resourceType/resourceId`, as the entity it was merged into if it
 * was; null when no event names it.
 */
export async function entityOfResource(
  db: Db,
  workspaceId: string,
  resourceType: string,
  resourceId: string,
): Promise<string | null> {
  const [row] = await db
    .select({ entityId: worldEvents.entityId, mergedInto: worldEntities.mergedInto })
    .from(worldEvents)
    .innerJoin(
      worldEntities,
      and(eq(worldEntities.workspaceId, worldEvents.workspaceId), eq(worldEntities.id, worldEvents.entityId)),
    )
    .where(
      and(
        eq(worldEvents.workspaceId, workspaceId),
        eq(worldEvents.fhirResourceType, resourceType),
        eq(worldEvents.fhirResourceId, resourceId),
      ),
    )
    .orderBy(desc(worldEvents.ingestedAt))
    .limit(1);
  return row ? (row.mergedInto ?? row.entityId) : null;
}
