/**
 * Field encryption with AES-256-GCM. Each workspace has its own key, derived with HKDF-SHA256 from the
 * deployment's ENCRYPTION_KEY and the workspace id, so one tenant's key never opens another's data.
 * Stored form: `v1.<iv b64url>.<ciphertext b64url>`; the workspace id and field name are bound in as
 * additional data, so a value copied to another row or field does not decrypt.
 */
import { fromBase64Url, randomBytes, toBase64Url, utf8 } from "../encoding";
import { workspaceKey } from "./workspace-keys";

export async function encryptField(
  masterKey: string,
  workspaceId: string,
  field: string,
  plaintext: string,
): Promise<string> {
  const iv = randomBytes(12);
  const key = await workspaceKey(masterKey, workspaceId, "field-encryption");
  const ciphertext = await crypto.subtle.encrypt(
    { name: "AES-GCM", iv, additionalData: utf8.encode(`${workspaceId}:${field}`) },
    key,
    utf8.encode(plaintext),
  );
  return `v1.${toBase64Url(iv)}.${toBase64Url(ciphertext)}`;
}

export async function decryptField(
  masterKey: string,
  workspaceId: string,
  field: string,
  stored: string,
): Promise<string> {
  const [version, iv, ciphertext] = stored.split(".");
  if (version !== "v1" || !iv || !ciphertext) throw new Error("unrecognized ciphertext format");
  const key = await workspaceKey(masterKey, workspaceId, "field-encryption");
  const plaintext = await crypto.subtle.decrypt(
    { name: "AES-GCM", iv: fromBase64Url(iv), additionalData: utf8.encode(`${workspaceId}:${field}`) },
    key,
    fromBase64Url(ciphertext),
  );
  return utf8.decode(plaintext);
}

/** A fresh 256-bit master key, base64url, for `.dev.vars` or `wrangler secret put ENCRYPTION_KEY`. */
export function generateMasterKey(): string {
  return toBase64Url(randomBytes(32));
}
