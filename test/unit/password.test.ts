/** Password hashing: PBKDF2-SHA256, salted, in one stored format, verified in constant time. */
import { describe, expect, it } from "vitest";
import {
  DECOY_PASSWORD_HASH,
  hashPassword,
  PASSWORD_ITERATIONS,
  verifyPassword,
} from "../../shared/auth/password";

describe("hashPassword / verifyPassword", () => {
  it("stores pbkdf2-sha256$<iterations>$<salt>$<hash> and verifies the same password", async () => {
    const stored = await hashPassword("correct horse battery staple");
    expect(stored).toMatch(/^pbkdf2-sha256\$100000\$[A-Za-z0-9_-]{22}\$[A-Za-z0-9_-]{43}$/);
    expect(PASSWORD_ITERATIONS).toBe(100_000);
    expect(await verifyPassword("correct horse battery staple", stored)).toBe(true);
  });

  it("refuses a wrong password, including near misses", async () => {
    const stored = await hashPassword("correct horse battery staple");
    for (const wrong of [
      "correct horse battery stapl",
      "Correct horse battery staple",
      "",
      " correct horse battery staple",
    ]) {
      expect(await verifyPassword(wrong, stored), wrong).toBe(false);
    }
  });

  it("salts every hash, so the same password never hashes the same twice", async () => {
    const [a, b] = await Promise.all([hashPassword("same password"), hashPassword("same password")]);
    expect(a).not.toBe(b);
    expect(a.split("$")[2]).not.toBe(b.split("$")[2]);
  });

  it("treats canonically equivalent Unicode the same (NFKC)", async () => {
    const stored = await hashPassword("ﬁnance caf\u00e9 2026");
    expect(await verifyPassword("finance cafe\u0301 2026", stored)).toBe(true);
  });

  it("honours the iteration count written in the stored form", async () => {
    const stored = await hashPassword("iterations matter");
    const [, , salt, hash] = stored.split("$");
    expect(await verifyPassword("iterations matter", `pbkdf2-sha256$1000$${salt}$${hash}`)).toBe(false);
  });

  it.each([
    ["another scheme", "bcrypt$10$abc$def"],
    ["missing parts", "pbkdf2-sha256$100000$"],
    ["an empty string", ""],
    ["plain text", "correct horse battery staple"],
  ])("answers false, never throws, for a stored value with %s", async (_, stored) => {
    expect(await verifyPassword("correct horse battery staple", stored)).toBe(false);
  });

  it("has a decoy hash that no password matches, in the same format and cost", async () => {
    expect(DECOY_PASSWORD_HASH).toMatch(/^pbkdf2-sha256\$100000\$/);
    expect(await verifyPassword("", DECOY_PASSWORD_HASH)).toBe(false);
    expect(await verifyPassword("password", DECOY_PASSWORD_HASH)).toBe(false);
  });
});
