/** AES-256-GCM field encryption: round trips, and nothing opens outside its workspace and field. */
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { decryptField, encryptField, generateMasterKey } from "../../shared/crypto/encryption";

const KEY = env.ENCRYPTION_KEY;

describe("encryptField / decryptField", () => {
  it("round-trips text, including Unicode and the empty string", async () => {
    for (const text of ["JBSWY3DPEHPK3PXP", "María José Núñez 🙂", "", "x".repeat(10_000)]) {
      const sealed = await encryptField(KEY, "ws-a", "totp:usr_1", text);
      expect(sealed).toMatch(/^v1\.[A-Za-z0-9_-]{16}\.[A-Za-z0-9_-]+$/);
      expect(await decryptField(KEY, "ws-a", "totp:usr_1", sealed)).toBe(text);
    }
  });

  it("never gives the same ciphertext twice, nor shows the plaintext", async () => {
    const a = await encryptField(KEY, "ws-a", "f", "JBSWY3DPEHPK3PXP");
    const b = await encryptField(KEY, "ws-a", "f", "JBSWY3DPEHPK3PXP");
    expect(a).not.toBe(b);
    expect(a).not.toContain("JBSWY3DPEHPK3PXP");
  });

  it("does not decrypt in another workspace", async () => {
    const sealed = await encryptField(KEY, "ws-a", "phone", "+12015550123");
    await expect(decryptField(KEY, "ws-b", "phone", sealed)).rejects.toThrow();
  });

  it("does not decrypt as another field, even in the same workspace", async () => {
    const sealed = await encryptField(KEY, "ws-a", "totp:usr_1", "secret");
    await expect(decryptField(KEY, "ws-a", "totp:usr_2", sealed)).rejects.toThrow();
  });

  it("does not decrypt under another master key", async () => {
    const sealed = await encryptField(KEY, "ws-a", "f", "secret");
    await expect(decryptField(generateMasterKey(), "ws-a", "f", sealed)).rejects.toThrow();
  });

  it("detects any change to the ciphertext or the IV", async () => {
    const sealed = await encryptField(KEY, "ws-a", "f", "secret value");
    const [version, iv, ciphertext] = sealed.split(".") as [string, string, string];
    const flip = (s: string) => `${s[0] === "A" ? "B" : "A"}${s.slice(1)}`;
    await expect(decryptField(KEY, "ws-a", "f", `${version}.${iv}.${flip(ciphertext)}`)).rejects.toThrow();
    await expect(decryptField(KEY, "ws-a", "f", `${version}.${flip(iv)}.${ciphertext}`)).rejects.toThrow();
  });

  it.each(["", "v2.abc.def", "v1.onlyone", "plaintext"])("refuses the stored value %j", async (stored) => {
    await expect(decryptField(KEY, "ws-a", "f", stored)).rejects.toThrow();
  });

  it("makes 256-bit master keys", () => {
    const key = generateMasterKey();
    expect(key).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(generateMasterKey()).not.toBe(key);
  });
});
