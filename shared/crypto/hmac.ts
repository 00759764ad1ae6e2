/**
 * HMAC with a text secret: Twilio's webhook signatures (SHA-1), webhook body signatures, and the signed
 * links and tokens Switchboard issues (SHA-256). One place, so every signer keys and encodes alike.
 */
import { utf8 } from "../encoding";

export async function hmac(
  hash: "SHA-1" | "SHA-256",
  secret: string,
  data: string | Uint8Array<ArrayBuffer>,
): Promise<Uint8Array> {
  const key = await crypto.subtle.importKey("raw", utf8.encode(secret), { name: "HMAC", hash }, false, [
    "sign",
  ]);
  return new Uint8Array(
    await crypto.subtle.sign("HMAC", key, typeof data === "string" ? utf8.encode(data) : data),
  );
}

/**
 * A MAC bound to what it is for: the purpose and each part, NUL-separated, so a token minted for one
 * purpose, workspace or call never verifies for another.
 */
export function purposeMac(
  secret: string,
  purpose: string,
  ...parts: (string | number)[]
): Promise<Uint8Array> {
  return hmac("SHA-256", secret, [purpose, ...parts].join("\u0000"));
}
