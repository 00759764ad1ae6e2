/**
 * Per-workspace keys, derived with HKDF-SHA256 from the deployment's ENCRYPTION_KEY (info = workspace
 * id, salt = purpose), so each tenant and each use has its own key and none opens another's data.
 * Derived keys are cached per isolate; the cache is keyed by the whole master key, so a rotated key
 * never reuses an old derivation.
 */
import { fromBase64Url, utf8 } from "../encoding";

const PURPOSES = {
  "field-encryption": {
    salt: "switchboard-field-encryption",
    algorithm: { name: "AES-GCM", length: 256 },
    usages: ["encrypt", "decrypt"],
  },
  "blind-index": {
    salt: "switchboard-blind-index",
    algorithm: { name: "HMAC", hash: "SHA-256", length: 256 },
    usages: ["sign"],
  },
} as const;

export type KeyPurpose = keyof typeof PURPOSES;

const cache = new Map<string, Promise<CryptoKey>>();

export function workspaceKey(
  masterKey: string,
  workspaceId: string,
  purpose: KeyPurpose,
): Promise<CryptoKey> {
  const cacheKey = `${purpose}\u0000${workspaceId}\u0000${masterKey}`;
  let key = cache.get(cacheKey);
  if (!key) {
    const { salt, algorithm, usages } = PURPOSES[purpose];
    key = crypto.subtle
      .importKey("raw", fromBase64Url(masterKey), "HKDF", false, ["deriveKey"])
      .then((base) =>
        crypto.subtle.deriveKey(
          { name: "HKDF", hash: "SHA-256", salt: utf8.encode(salt), info: utf8.encode(workspaceId) },
          base,
          algorithm,
          false,
          [...usages],
        ),
      );
    cache.set(cacheKey, key);
  }
  return key;
}
