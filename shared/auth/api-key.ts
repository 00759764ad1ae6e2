/**
 * API keys: `sb_<32 random bytes, base64url>`. Only the SHA-256 of a key is stored (a key has 256 bits
 * of entropy, so a fast hash is enough); the first characters are kept to tell keys apart in lists.
 */
import { randomBytes, sha256Hex, toBase64Url } from "../encoding";

export const API_KEY_PREFIX = "sb_";

export function generateApiKey(): string {
  return API_KEY_PREFIX + toBase64Url(randomBytes(32));
}

export function hashApiKey(key: string): Promise<string> {
  return sha256Hex(key);
}

/** What lists show of a key: its prefix and first characters. */
export function apiKeyHint(key: string): string {
  return key.slice(0, API_KEY_PREFIX.length + 6);
}

export function looksLikeApiKey(token: string): boolean {
  return token.startsWith(API_KEY_PREFIX) && token.length === API_KEY_PREFIX.length + 43;
}
