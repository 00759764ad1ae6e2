/** Phone numbers are stored and compared in E.164 only; this is the one place that parses them. */
import { parsePhoneNumberFromString } from "libphonenumber-js/max";

/** Returns the E.164 form (`+14155550123`) or null when the input is not a valid number. */
export function normalizeE164(input: string, defaultCountry: "US" = "US"): string | null {
  const trimmed = input.trim();
  if (trimmed.length === 0 || trimmed.length > 32 || /[^\d\s()+.-]/.test(trimmed)) return null;
  const parsed = parsePhoneNumberFromString(trimmed, defaultCountry);
  if (!parsed?.isValid()) return null;
  return parsed.number;
}
