/** The drizzle handle over D1. Data-access modules take it as a parameter, so tests call them directly. */
import { drizzle } from "drizzle-orm/d1";
import * as schema from "./schema";

export function database(d1: D1Database) {
  return drizzle(d1, { schema });
}

export type Db = ReturnType<typeof database>;
/** A statement that can go into `db.batch([...])`, which D1 runs as one transaction. */
export type Statement = Parameters<Db["batch"]>[0][number];
