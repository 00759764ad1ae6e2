/**
 * The outbox (`deliveries`): every message sent to a patient, one row per workspace and dedupe key,
 * whatever sent it (a call's reply, the agent's `send_sms` tool, a surface link from the gap scanner) and
 * whichever channel carries it. Addresses and bodies are sealed with the workspace key and bound to the
 * row's id, so a value copied to another row does not open.
 */
import { and, desc, eq, lt, or, sql } from "drizzle-orm";
import { decryptField, encryptField } from "../../shared/crypto/encryption";
import type { Db, Statement } from "./client";
import { deliveries } from "./schema";

export type DeliveryRow = typeof deliveries.$inferSelect;
export type DeliveryChannel = DeliveryRow["channel"];
export type DeliveryStatus = DeliveryRow["status"];

/** The sealed fields of a delivery. */
export type DeliveryField = "to" | "from" | "body" | "subject";
const fieldName = (field: DeliveryField, deliveryId: string) => `deliveries.${field}:${deliveryId}`;

export const sealDeliveryField = (
  masterKey: string,
  workspaceId: string,
  deliveryId: string,
  field: DeliveryField,
  value: string,
) => encryptField(masterKey, workspaceId, fieldName(field, deliveryId), value);

export const openDeliveryField = (
  masterKey: string,
  workspaceId: string,
  deliveryId: string,
  field: DeliveryField,
  sealed: string,
) => decryptField(masterKey, workspaceId, fieldName(field, deliveryId), sealed);

/** Inserts the delivery, or nothing when the workspace already has one under its dedupe key. */
export function insertDeliveryUnlessDuplicate(db: Db, row: typeof deliveries.$inferInsert): Statement {
  return db
    .insert(deliveries)
    .values(row)
    .onConflictDoNothing({ target: [deliveries.workspaceId, deliveries.dedupeKey] });
}

export function findDeliveryByKey(db: Db, workspaceId: string, dedupeKey: string) {
  return db.query.deliveries.findFirst({
    where: and(eq(deliveries.workspaceId, workspaceId), eq(deliveries.dedupeKey, dedupeKey)),
  });
}

export type DeliveryChange = Partial<
  Pick<DeliveryRow, "status" | "provider" | "providerId" | "errorCode" | "sentAt">
>;

/** Applies `change` to a delivery that is still pending (a settled one is left as it is). */
export async function updatePendingDelivery(
  db: Db,
  workspaceId: string,
  deliveryId: string,
  change: DeliveryChange,
): Promise<void> {
  await db
    .update(deliveries)
    .set({ ...change, updatedAt: new Date().toISOString() })
    .where(
      and(
        eq(deliveries.workspaceId, workspaceId),
        eq(deliveries.id, deliveryId),
        eq(deliveries.status, "pending"),
      ),
    );
}

/** Counts one more send attempt on a pending delivery. */
export async function countDeliveryAttempt(db: Db, workspaceId: string, deliveryId: string): Promise<void> {
  await db
    .update(deliveries)
    .set({ attempts: sql`${deliveries.attempts} + 1`, updatedAt: new Date().toISOString() })
    .where(
      and(
        eq(deliveries.workspaceId, workspaceId),
        eq(deliveries.id, deliveryId),
        eq(deliveries.status, "pending"),
      ),
    );
}

/** A call's messages, oldest first (its timeline shows them). */
export function listCallDeliveries(db: Db, workspaceId: string, callId: string) {
  return db
    .select()
    .from(deliveries)
    .where(and(eq(deliveries.workspaceId, workspaceId), eq(deliveries.callId, callId)))
    .orderBy(deliveries.createdAt, deliveries.id);
}

export interface DeliveryFilter {
  channel?: string | undefined;
  status?: string | undefined;
  purpose?: string | undefined;
  surfaceId?: string | undefined;
  callId?: string | undefined;
  /** The (created_at, id) of the last row of the previous page: rows strictly older follow. */
  before?: [string, string] | undefined;
}

/** A page of the outbox, newest first, on the (workspace_id, created_at, id) index. */
export async function listDeliveriesPage(
  db: Db,
  workspaceId: string,
  filter: DeliveryFilter,
  limit: number,
  offset: number,
): Promise<{ rows: DeliveryRow[]; total: number }> {
  const where = and(
    eq(deliveries.workspaceId, workspaceId),
    filter.channel ? eq(deliveries.channel, filter.channel as DeliveryChannel) : undefined,
    filter.status ? eq(deliveries.status, filter.status as DeliveryStatus) : undefined,
    filter.purpose ? eq(deliveries.purpose, filter.purpose) : undefined,
    filter.surfaceId ? eq(deliveries.surfaceId, filter.surfaceId) : undefined,
    filter.callId ? eq(deliveries.callId, filter.callId) : undefined,
  );
  const keyset = filter.before
    ? or(
        lt(deliveries.createdAt, filter.before[0]),
        and(eq(deliveries.createdAt, filter.before[0]), lt(deliveries.id, filter.before[1])),
      )
    : undefined;
  const [rows, total] = await Promise.all([
    db
      .select()
      .from(deliveries)
      .where(and(where, keyset))
      .orderBy(desc(deliveries.createdAt), desc(deliveries.id))
      .limit(limit)
      .offset(offset),
    db.$count(deliveries, where),
  ]);
  return { rows, total };
}

export function findDelivery(db: Db, workspaceId: string, deliveryId: string) {
  return db.query.deliveries.findFirst({
    where: and(eq(deliveries.workspaceId, workspaceId), eq(deliveries.id, deliveryId)),
  });
}
