/** API keys: looked up by hash on every keyed request, listed and revoked by admins. */
import { and, asc, eq, isNull } from "drizzle-orm";
import type { Db } from "./client";
import { afterKey, type Page } from "./paging";
import { apiKeys } from "./schema";

/** How stale `last_used_at` may get before a request refreshes it (one write a minute, not one a request). */
export const LAST_USED_RESOLUTION_MS = 60_000;

export function findApiKeyByHash(db: Db, keyHash: string) {
  return db.query.apiKeys.findFirst({ where: eq(apiKeys.keyHash, keyHash) });
}

export async function listApiKeys(db: Db, workspaceId: string, page: Page) {
  const where = eq(apiKeys.workspaceId, workspaceId);
  const [rows, total] = await Promise.all([
    db
      .select()
      .from(apiKeys)
      .where(and(where, afterKey(apiKeys.createdAt, apiKeys.id, page.after)))
      .orderBy(asc(apiKeys.createdAt), asc(apiKeys.id))
      .limit(page.limit)
      .offset(page.offset),
    db.$count(apiKeys, where),
  ]);
  return { rows, total };
}

export function findApiKey(db: Db, workspaceId: string, id: string) {
  return db.query.apiKeys.findFirst({ where: and(eq(apiKeys.workspaceId, workspaceId), eq(apiKeys.id, id)) });
}

export function touchApiKey(db: Db, id: string, at = new Date()) {
  return db.update(apiKeys).set({ lastUsedAt: at.toISOString() }).where(eq(apiKeys.id, id));
}

export function revokeApiKeyStatement(db: Db, workspaceId: string, id: string, at = new Date()) {
  return db
    .update(apiKeys)
    .set({ revokedAt: at.toISOString() })
    .where(and(eq(apiKeys.workspaceId, workspaceId), eq(apiKeys.id, id), isNull(apiKeys.revokedAt)));
}
