/** API key format, hint and hash. */
import { describe, expect, it } from "vitest";
import {
  API_KEY_PREFIX,
  apiKeyHint,
  generateApiKey,
  hashApiKey,
  looksLikeApiKey,
} from "../../shared/auth/api-key";

describe("API keys", () => {
  it("are sb_ and 32 random bytes in base64url", () => {
    const key = generateApiKey();
    expect(key).toMatch(/^sb_[A-Za-z0-9_-]{43}$/);
    expect(API_KEY_PREFIX).toBe("sb_");
    const many = new Set(Array.from({ length: 200 }, generateApiKey));
    expect(many.size).toBe(200);
  });

  it("are recognised by shape only when they have it", () => {
    expect(looksLikeApiKey(generateApiKey())).toBe(true);
    for (const token of [
      "",
      "sb_",
      "sb_short",
      `xx_${"a".repeat(43)}`,
      `sb_${"a".repeat(44)}`,
      "eyJhbGciOiJIUzI1NiJ9.e30.x",
    ]) {
      expect(looksLikeApiKey(token), token).toBe(false);
    }
  });

  it("are hinted by their first characters only", () => {
    const key = generateApiKey();
    expect(apiKeyHint(key)).toBe(key.slice(0, 9));
    expect(apiKeyHint(key).length).toBeLessThan(key.length / 4);
  });

  it("hash to a stable, distinct SHA-256", async () => {
    const key = generateApiKey();
    const hash = await hashApiKey(key);
    expect(hash).toMatch(/^[0-9a-f]{64}$/);
    expect(await hashApiKey(key)).toBe(hash);
    expect(await hashApiKey(generateApiKey())).not.toBe(hash);
    expect(hash).not.toContain(key.slice(3));
  });
});
