/**
 * Blind indexes: HMAC-SHA256 of a normalized value under a per-workspace key (HKDF from ENCRYPTION_KEY),
 * so PHI such as a phone number or a name prefix can be looked up by equality without being stored in
 * clear. The same value in two workspaces hashes differently.
 */
import { fromBase64Url, toHex, utf8 } from "../encoding";

const keyCache = new Map<string, Promise<CryptoKey>>();

function indexKey(masterKey: string, workspaceId: string): Promise<CryptoKey> {
  const cacheKey = `${masterKey.slice(0, 8)}:${workspaceId}`;
  let key = keyCache.get(cacheKey);
  if (!key) {
    key = (async () => {
      const base = await crypto.subtle.importKey("raw", fromBase64Url(masterKey), "HKDF", false, [
        "deriveKey",
      ]);
      return crypto.subtle.deriveKey(
        {
          name: "HKDF",
          hash: "SHA-256",
          salt: utf8.encode("switchboard-blind-index"),
          info: utf8.encode(workspaceId),
        },
        base,
        { name: "HMAC", hash: "SHA-256", length: 256 },
        false,
        ["sign"],
      );
    })();
    keyCache.set(cacheKey, key);
  }
  return key;
}

/** `kind` separates namespaces, so a phone number and an email never collide. Hex, 32 bytes. */
export async function blindIndex(
  masterKey: string,
  workspaceId: string,
  kind: string,
  value: string,
): Promise<string> {
  const key = await indexKey(masterKey, workspaceId);
  return toHex(await crypto.subtle.sign("HMAC", key, utf8.encode(`${kind}\u0000${value}`)));
}
