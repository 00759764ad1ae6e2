/**
 * Operators (`operators`) and their involvement in calls (`operator_assignments`). Routing reads the
 * operators who are online, of a type, with a skill; metrics are SQL over the assignments.
 */
import { and, asc, eq, sql } from "drizzle-orm";
import type { OperatorType } from "../../shared/schemas/operators";
import type { Db } from "./client";
import { operators } from "./schema";

export type OperatorRow = typeof operators.$inferSelect;

/**
 * Who can take an escalation now: online operators of the type, with the skill when one is asked for,
 * the one whose status changed longest ago first (the longest idle).
 */
export async function availableOperators(
  db: Db,
  workspaceId: string,
  want: { type: OperatorType; skill: string | null },
): Promise<OperatorRow[]> {
  return db
    .select()
    .from(operators)
    .where(
      and(
        eq(operators.workspaceId, workspaceId),
        eq(operators.status, "online"),
        eq(operators.type, want.type),
        want.skill
          ? sql`exists (select 1 from json_each(${operators.skills}) where json_each.value = ${want.skill})`
          : undefined,
      ),
    )
    .orderBy(asc(operators.statusChangedAt));
}
