/**
 * Blind indexes: HMAC-SHA256 of a normalized value under a per-workspace key (HKDF from ENCRYPTION_KEY),
 * so PHI such as a phone number or a name prefix can be looked up by equality without being stored in
 * clear. The same value in two workspaces hashes differently.
 */
import { toHex, utf8 } from "../encoding";
import { workspaceKey } from "./workspace-keys";

/** `kind` separates namespaces, so a phone number and an email never collide. Hex, 32 bytes. */
export async function blindIndex(
  masterKey: string,
  workspaceId: string,
  kind: string,
  value: string,
): Promise<string> {
  const key = await workspaceKey(masterKey, workspaceId, "blind-index");
  return toHex(await crypto.subtle.sign("HMAC", key, utf8.encode(`${kind}\u0000${value}`)));
}
