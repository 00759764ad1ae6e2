/** Workspace roles, weakest first: each role can do everything the ones before it can. */
export const ROLES = ["viewer", "operator", "admin", "owner"] as const;
export type Role = (typeof ROLES)[number];

const rank: Record<Role, number> = { viewer: 0, operator: 1, admin: 2, owner: 3 };

export function roleAtLeast(role: Role, minimum: Role): boolean {
  return rank[role] >= rank[minimum];
}

/** A user may grant a role only up to their own (an admin cannot mint owners). */
export function canGrant(granter: Role, granted: Role): boolean {
  return roleAtLeast(granter, granted);
}
