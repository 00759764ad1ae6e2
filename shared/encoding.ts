/** Byte and string encodings used across the code base, on WebCrypto-friendly Uint8Arrays. */

export function toHex(bytes: ArrayBuffer | Uint8Array): string {
  const view = bytes instanceof Uint8Array ? bytes : new Uint8Array(bytes);
  let out = "";
  for (const b of view) out += b.toString(16).padStart(2, "0");
  return out;
}

/** Standard base64 (RFC 4648 §4, padded): Twilio signatures, media-stream audio payloads. */
export function toBase64(bytes: ArrayBuffer | Uint8Array): string {
  const view = bytes instanceof Uint8Array ? bytes : new Uint8Array(bytes);
  let binary = "";
  // In slices: one String.fromCharCode per byte is slow on audio, and one call for all of it overflows the stack.
  for (let i = 0; i < view.length; i += 0x2000)
    binary += String.fromCharCode(...view.subarray(i, i + 0x2000));
  return btoa(binary);
}

/** Decodes standard base64 (padding optional); throws on characters outside the alphabet. */
export function fromBase64(text: string): Uint8Array<ArrayBuffer> {
  const binary = atob(text);
  const out = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) out[i] = binary.charCodeAt(i);
  return out;
}

export function toBase64Url(bytes: ArrayBuffer | Uint8Array): string {
  return toBase64(bytes).replaceAll("+", "-").replaceAll("/", "_").replace(/=+$/, "");
}

export function fromBase64Url(text: string): Uint8Array<ArrayBuffer> {
  const normalized = text.replaceAll("-", "+").replaceAll("_", "/");
  return fromBase64(normalized + "=".repeat((4 - (normalized.length % 4)) % 4));
}

export const utf8 = {
  encode: (text: string): Uint8Array<ArrayBuffer> => new Uint8Array(new TextEncoder().encode(text)),
  decode: (bytes: ArrayBuffer | Uint8Array): string => new TextDecoder().decode(bytes),
};

/** Compares two byte strings in time independent of where they differ. */
export function timingSafeEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a[i]! ^ b[i]!;
  return diff === 0;
}

export async function sha256Hex(text: string): Promise<string> {
  return toHex(await crypto.subtle.digest("SHA-256", utf8.encode(text)));
}

export function randomBytes(length: number): Uint8Array<ArrayBuffer> {
  return crypto.getRandomValues(new Uint8Array(length));
}
