/** Keyset paging on (created_at, id), the order every list of workspace resources uses. */
import { and, eq, gt, or, type SQL } from "drizzle-orm";
import type { SQLiteColumn } from "drizzle-orm/sqlite-core";

export interface Page {
  limit: number;
  offset: number;
  /** The (created_at, id) of the last row of the previous page. */
  after?: [string, string];
}

export function afterKey(
  createdAt: SQLiteColumn,
  id: SQLiteColumn,
  after?: [string, string],
): SQL | undefined {
  if (!after) return undefined;
  return or(gt(createdAt, after[0]), and(eq(createdAt, after[0]), gt(id, after[1])));
}
