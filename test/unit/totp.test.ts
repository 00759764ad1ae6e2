/** TOTP (RFC 6238, SHA-1, 6 digits, 30 s) with one step of clock drift either way. */
import { describe, expect, it } from "vitest";
import { currentTotp, newTotpSecret, totpUri, verifyTotp } from "../../shared/auth/totp";

// RFC 6238 appendix B: the ASCII secret "12345678901234567890".
const RFC_SECRET = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ";

describe("TOTP", () => {
  it("matches the RFC 6238 test vectors (last six digits)", () => {
    expect(currentTotp(RFC_SECRET, 59_000)).toBe("287082");
    expect(currentTotp(RFC_SECRET, 1_111_111_109_000)).toBe("081804");
    expect(currentTotp(RFC_SECRET, 1_234_567_890_000)).toBe("005924");
  });

  it("accepts the current code and its neighbours, and nothing further", () => {
    const secret = newTotpSecret();
    const now = 1_800_000_015_000;
    const code = (offsetSteps: number) => currentTotp(secret, now + offsetSteps * 30_000);
    expect(verifyTotp(secret, code(0), now)).toBe(true);
    expect(verifyTotp(secret, code(-1), now)).toBe(true);
    expect(verifyTotp(secret, code(1), now)).toBe(true);
    for (const far of [-3, -2, 2, 3]) {
      if (![code(-1), code(0), code(1)].includes(code(far)))
        expect(verifyTotp(secret, code(far), now)).toBe(false);
    }
  });

  it.each(["", "12345", "1234567", "12a456", " 123456", "１２３４５６"])("refuses the code %j", (code) => {
    expect(verifyTotp(newTotpSecret(), code)).toBe(false);
  });

  it("makes 160-bit base32 secrets and an otpauth URI an authenticator app reads", () => {
    const secret = newTotpSecret();
    expect(secret).toMatch(/^[A-Z2-7]{32}$/);
    expect(newTotpSecret()).not.toBe(secret);
    const uri = new URL(totpUri(secret, "ana@example.test"));
    expect(uri.protocol).toBe("otpauth:");
    expect(uri.searchParams.get("secret")).toBe(secret);
    expect(uri.searchParams.get("issuer")).toBe("Switchboard");
    expect(uri.searchParams.get("digits")).toBe("6");
    expect(uri.searchParams.get("period")).toBe("30");
  });
});
