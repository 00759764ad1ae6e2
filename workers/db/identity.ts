/** Users, memberships and sessions: who can sign in, where, with which role, and for how long. */
import { and, asc, eq, gt, isNull, lt, notExists, or, sql } from "drizzle-orm";
import type { Role } from "../../shared/auth/roles";
import type { Db } from "./client";
import { memberships, sessions, users, workspaces } from "./schema";

export const LOCKOUT_THRESHOLD = 5;
export const LOCKOUT_MINUTES = 15;

export function findUserByEmail(db: Db, email: string) {
  return db.query.users.findFirst({ where: eq(users.email, email) });
}

export function findUser(db: Db, userId: string) {
  return db.query.users.findFirst({ where: eq(users.id, userId) });
}

/** Counts a failed login; the fifth in a row locks the account for LOCKOUT_MINUTES. */
export async function recordFailedLogin(
  db: Db,
  userId: string,
  at = new Date(),
): Promise<{ locked: boolean }> {
  const lockUntil = new Date(at.getTime() + LOCKOUT_MINUTES * 60_000).toISOString();
  // A lock that has run out starts a fresh count: one more mistake after it must not re-lock at once.
  const expired = sql`(${users.lockedUntil} IS NOT NULL AND ${users.lockedUntil} <= ${at.toISOString()})`;
  const count = sql`CASE WHEN ${expired} THEN 1 ELSE ${users.failedLoginCount} + 1 END`;
  const [row] = await db
    .update(users)
    .set({
      failedLoginCount: count,
      lockedUntil: sql`CASE WHEN ${count} >= ${LOCKOUT_THRESHOLD} THEN ${lockUntil} WHEN ${expired} THEN NULL ELSE ${users.lockedUntil} END`,
      updatedAt: at.toISOString(),
    })
    .where(eq(users.id, userId))
    .returning({ failedLoginCount: users.failedLoginCount });
  return { locked: (row?.failedLoginCount ?? 0) >= LOCKOUT_THRESHOLD };
}

export function clearFailedLogins(db: Db, userId: string) {
  return db.update(users).set({ failedLoginCount: 0, lockedUntil: null }).where(eq(users.id, userId));
}

/** The workspaces a user belongs to, with the role in each. */
export function listUserWorkspaces(db: Db, userId: string) {
  return db
    .select({
      id: workspaces.id,
      name: workspaces.name,
      role: memberships.role,
      requireMfa: workspaces.requireMfa,
    })
    .from(memberships)
    .innerJoin(workspaces, eq(workspaces.id, memberships.workspaceId))
    .where(eq(memberships.userId, userId))
    .orderBy(asc(workspaces.name));
}

export async function findMembership(db: Db, workspaceId: string, userId: string) {
  const [row] = await db
    .select({ role: memberships.role, requireMfa: workspaces.requireMfa })
    .from(memberships)
    .innerJoin(workspaces, eq(workspaces.id, memberships.workspaceId))
    .where(and(eq(memberships.workspaceId, workspaceId), eq(memberships.userId, userId)))
    .limit(1);
  return row;
}

/** A live session with its user, or undefined when it is unknown, revoked or expired. */
export async function findLiveSession(db: Db, sessionId: string, userId: string, at = new Date()) {
  const [row] = await db
    .select({ id: sessions.id, mfaVerified: sessions.mfaVerified })
    .from(sessions)
    .where(
      and(
        eq(sessions.id, sessionId),
        eq(sessions.userId, userId),
        isNull(sessions.revokedAt),
        gt(sessions.expiresAt, at.toISOString()),
      ),
    )
    .limit(1);
  return row;
}

export function insertSession(db: Db, row: typeof sessions.$inferInsert) {
  return db.insert(sessions).values(row);
}

export function revokeSession(db: Db, sessionId: string, at = new Date()) {
  return db.update(sessions).set({ revokedAt: at.toISOString() }).where(eq(sessions.id, sessionId));
}

export function markSessionMfaVerified(db: Db, sessionId: string) {
  return db.update(sessions).set({ mfaVerified: true }).where(eq(sessions.id, sessionId));
}

/** Retention: sessions that expired or were revoked more than a day ago are removed. */
export function deleteStaleSessions(db: Db, at = new Date()) {
  const dayAgo = new Date(at.getTime() - 86_400_000).toISOString();
  return db.delete(sessions).where(or(lt(sessions.expiresAt, dayAgo), lt(sessions.revokedAt, dayAgo)));
}

/** Members of a workspace, in joining order (keyset on joined time and id). */
export async function listMembers(
  db: Db,
  workspaceId: string,
  page: { limit: number; offset: number; after?: [string, string] },
) {
  const where = eq(memberships.workspaceId, workspaceId);
  const after = page.after
    ? or(
        gt(memberships.createdAt, page.after[0]),
        and(eq(memberships.createdAt, page.after[0]), gt(memberships.userId, page.after[1])),
      )
    : undefined;
  const [rows, total] = await Promise.all([
    db
      .select({
        id: users.id,
        email: users.email,
        name: users.name,
        mfaEnabled: users.mfaEnabled,
        role: memberships.role,
        joinedAt: memberships.createdAt,
      })
      .from(memberships)
      .innerJoin(users, eq(users.id, memberships.userId))
      .where(and(where, after))
      .orderBy(asc(memberships.createdAt), asc(memberships.userId))
      .limit(page.limit)
      .offset(page.offset),
    db.$count(memberships, where),
  ]);
  return { rows, total };
}

export async function findMember(db: Db, workspaceId: string, userId: string) {
  const [row] = await db
    .select({
      id: users.id,
      email: users.email,
      name: users.name,
      mfaEnabled: users.mfaEnabled,
      role: memberships.role,
      joinedAt: memberships.createdAt,
    })
    .from(memberships)
    .innerJoin(users, eq(users.id, memberships.userId))
    .where(and(eq(memberships.workspaceId, workspaceId), eq(memberships.userId, userId)))
    .limit(1);
  return row;
}

/**
 * A statement for the batch that demotes or removes an owner: it fails, rolling the whole batch back
 * (audit row included), when the workspace would be left without an owner. The route checks first;
 * this closes the race where two owners demote or remove each other at the same moment. Plain SQL can
 * abort a transaction only through a constraint, so it inserts a NULL role, which NOT NULL refuses.
 */
export function requireAnOwnerLeft(db: Db, workspaceId: string, userId: string) {
  const owners = db
    .select({ one: sql`1` })
    .from(memberships)
    .where(and(eq(memberships.workspaceId, workspaceId), eq(memberships.role, "owner" as Role)));
  return db.insert(memberships).select(
    db
      .select({
        workspaceId: workspaces.id,
        userId: sql<string>`${userId}`.as("user_id"),
        role: sql<Role>`NULL`.as("role"),
        createdAt: workspaces.createdAt,
      })
      .from(workspaces)
      .where(and(eq(workspaces.id, workspaceId), notExists(owners))),
  );
}

/** True when `requireAnOwnerLeft` stopped a batch. */
export function isNoOwnerLeft(err: unknown): boolean {
  for (let e: unknown = err; e instanceof Error; e = e.cause) {
    if (e.message.includes("NOT NULL constraint failed: memberships.role")) return true;
  }
  return false;
}

export function countOwners(db: Db, workspaceId: string) {
  return db.$count(
    memberships,
    and(eq(memberships.workspaceId, workspaceId), eq(memberships.role, "owner" as Role)),
  );
}
