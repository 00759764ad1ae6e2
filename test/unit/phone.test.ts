/** Phone number normalization: the one parser, every format it must take and refuse. */
import { describe, expect, it } from "vitest";
import { normalizeE164 } from "../../shared/tenancy/phone";

describe("normalizeE164", () => {
  it.each([
    ["(201) 555-0123", "+12015550123"],
    ["201-555-0123", "+12015550123"],
    ["201.555.0123", "+12015550123"],
    ["2015550123", "+12015550123"],
    ["1 201 555 0123", "+12015550123"],
    ["+1 (201) 555-0123", "+12015550123"],
    ["  +12015550123  ", "+12015550123"],
    ["+44 20 7946 0958", "+442079460958"],
    ["+33 1 42 68 53 00", "+33142685300"],
    ["+81 3-1234-5678", "+81312345678"],
  ])("turns %j into %s", (input, expected) => {
    expect(normalizeE164(input)).toBe(expected);
  });

  it.each([
    ["too short", "123"],
    ["no valid area code", "+1 555 0100"],
    ["letters", "555-CALL-NOW"],
    ["vanity letters", "1-800-FLOWERS"],
    ["one digit too many", "+1 (201) 555-01234"],
    ["a tel: URI", "tel:+12015550123"],
    ["an extension", "+12015550123 ext 5"],
    ["an international prefix instead of +", "00442079460958"],
    ["a doubled plus", "++12015550123"],
    ["a bare plus", "+"],
    ["nothing", ""],
    ["only spaces", "   "],
    ["an unknown country code", "+999 1234 5678"],
    ["a null byte", "2015550123\u0000"],
    ["SQL", "2015550123'; DROP TABLE phone_numbers;--"],
    ["over 32 characters", `+1 201 555 0123${" ".repeat(20)}1`],
  ])("refuses %s", (_, input) => {
    expect(normalizeE164(input)).toBeNull();
  });

  it("is idempotent on its own output", () => {
    const once = normalizeE164("(201) 555-0123")!;
    expect(normalizeE164(once)).toBe(once);
  });
});
