/** TOTP (RFC 6238) second factor through `otpauth`: 30 s period, 6 digits, SHA-1, one step of drift. */
import { Secret, TOTP } from "otpauth";

const ISSUER = "Switchboard";

export function newTotpSecret(): string {
  return new Secret({ size: 20 }).base32;
}

function totp(secret: string, label: string): TOTP {
  return new TOTP({
    issuer: ISSUER,
    label,
    algorithm: "SHA1",
    digits: 6,
    period: 30,
    secret: Secret.fromBase32(secret),
  });
}

export function totpUri(secret: string, label: string): string {
  return totp(secret, label).toString();
}

export function verifyTotp(secret: string, code: string, timestamp = Date.now()): boolean {
  if (!/^\d{6}$/.test(code)) return false;
  return totp(secret, "verify").validate({ token: code, timestamp, window: 1 }) !== null;
}

export function currentTotp(secret: string, timestamp = Date.now()): string {
  return totp(secret, "generate").generate({ timestamp });
}
