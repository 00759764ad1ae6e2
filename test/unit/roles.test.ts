/** Roles: a strict order, and nobody grants above their own. */
import { describe, expect, it } from "vitest";
import { canGrant, ROLES, type Role, roleAtLeast } from "../../shared/auth/roles";

describe("roles", () => {
  it("are ordered viewer < operator < admin < owner", () => {
    expect(ROLES).toEqual(["viewer", "operator", "admin", "owner"]);
  });

  it("meet a minimum exactly when they rank at or above it", () => {
    ROLES.forEach((role, i) => {
      ROLES.forEach((minimum, j) => {
        expect(roleAtLeast(role, minimum), `${role} >= ${minimum}`).toBe(i >= j);
      });
    });
  });

  it("grant only up to their own rank", () => {
    const grants = (granter: Role) => ROLES.filter((r) => canGrant(granter, r));
    expect(grants("viewer")).toEqual(["viewer"]);
    expect(grants("operator")).toEqual(["viewer", "operator"]);
    expect(grants("admin")).toEqual(["viewer", "operator", "admin"]);
    expect(grants("owner")).toEqual([...ROLES]);
  });

  it("reject names that are not roles", () => {
    expect(roleAtLeast("superuser" as Role, "viewer")).toBe(false);
  });
});
