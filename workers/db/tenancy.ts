/** Workspaces, services and phone numbers: who the tenant is and which line answers which number. */
import { and, asc, eq } from "drizzle-orm";
import type { Db } from "./client";
import { afterKey, type Page } from "./paging";
import { phoneNumbers, services, workspaces } from "./schema";

export function findWorkspace(db: Db, workspaceId: string) {
  return db.query.workspaces.findFirst({ where: eq(workspaces.id, workspaceId) });
}

export async function listServices(db: Db, workspaceId: string, page: Page) {
  const where = eq(services.workspaceId, workspaceId);
  const [rows, total] = await Promise.all([
    db
      .select()
      .from(services)
      .where(and(where, afterKey(services.createdAt, services.id, page.after)))
      .orderBy(asc(services.createdAt), asc(services.id))
      .limit(page.limit)
      .offset(page.offset),
    db.$count(services, where),
  ]);
  return { rows, total };
}

export function findService(db: Db, workspaceId: string, serviceId: string) {
  return db.query.services.findFirst({
    where: and(eq(services.workspaceId, workspaceId), eq(services.id, serviceId)),
  });
}

export function findServiceByName(db: Db, workspaceId: string, name: string) {
  return db.query.services.findFirst({
    where: and(eq(services.workspaceId, workspaceId), eq(services.name, name)),
  });
}

export async function listPhoneNumbers(db: Db, workspaceId: string, page: Page & { serviceId?: string }) {
  const where = and(
    eq(phoneNumbers.workspaceId, workspaceId),
    page.serviceId ? eq(phoneNumbers.serviceId, page.serviceId) : undefined,
  );
  const [rows, total] = await Promise.all([
    db
      .select()
      .from(phoneNumbers)
      .where(and(where, afterKey(phoneNumbers.createdAt, phoneNumbers.id, page.after)))
      .orderBy(asc(phoneNumbers.createdAt), asc(phoneNumbers.id))
      .limit(page.limit)
      .offset(page.offset),
    db.$count(phoneNumbers, where),
  ]);
  return { rows, total };
}

export function findPhoneNumber(db: Db, workspaceId: string, id: string) {
  return db.query.phoneNumbers.findFirst({
    where: and(eq(phoneNumbers.workspaceId, workspaceId), eq(phoneNumbers.id, id)),
  });
}

/** The one lookup that crosses workspaces: an inbound call names only the dialled number. */
export function findPhoneNumberByE164(db: Db, e164: string) {
  return db.query.phoneNumbers.findFirst({ where: eq(phoneNumbers.e164, e164) });
}
