/** TOTP codes for tests: the current one, and one that is certainly wrong right now. */
import { currentTotp } from "../../shared/auth/totp";

export { currentTotp };

/** A 6-digit code that no step in the accepted window (one step either side) produces. */
export function wrongTotp(secret: string, at = Date.now()): string {
  const accepted = new Set([-30_000, 0, 30_000].map((offset) => currentTotp(secret, at + offset)));
  let code = Number(currentTotp(secret, at));
  do code = (code + 1) % 1_000_000;
  while (accepted.has(String(code).padStart(6, "0")));
  return String(code).padStart(6, "0");
}
