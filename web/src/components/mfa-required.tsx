import { useId, useState } from "preact/hooks";
import { isApiError } from "../api";
import { sessionApi, useSession } from "../session";
import { CopyField } from "./copy-field";

type Setup = { secret: string; otpauth_uri: string };

/**
 * Shown when a workspace requires MFA and this session has none (the API's `mfa_enrollment_required`):
 * explains why, and walks through TOTP enrolment without leaving the page.
 */
export function MfaRequired() {
  const { session, workspace, updateSession, logout } = useSession();
  const [setup, setSetup] = useState<Setup | null>(null);
  const [code, setCode] = useState("");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const codeId = useId();
  const errorId = useId();

  if (session.user.mfa_enabled) {
    return (
      <section class="notice warning mfa-gate" aria-labelledby="mfa-title">
        <h2 id="mfa-title" class="notice-title">
          Sign in again with your authenticator code
        </h2>
        <p>
          {workspace.name} requires two-factor authentication. Your account has it turned on, but this session
          started without a code.
        </p>
        <div class="notice-footer">
          <button type="button" class="button" onClick={() => void logout()}>
            Sign out
          </button>
        </div>
      </section>
    );
  }

  const start = async () => {
    setBusy(true);
    setError(null);
    try {
      setSetup(await sessionApi.startMfaSetup());
    } catch (failure) {
      setError(failure instanceof Error ? failure.message : "Couldn't start the setup.");
    } finally {
      setBusy(false);
    }
  };

  const enable = async (event: Event) => {
    event.preventDefault();
    setBusy(true);
    setError(null);
    try {
      updateSession(await sessionApi.enableMfa(code.trim()));
    } catch (failure) {
      setError(
        isApiError(failure, "unprocessable")
          ? "That code doesn't match. Check that your device's clock is right and enter the newest code."
          : failure instanceof Error
            ? failure.message
            : "Couldn't turn on two-factor authentication.",
      );
      setBusy(false);
    }
  };

  return (
    <section class="notice warning mfa-gate" aria-labelledby="mfa-title">
      <h2 id="mfa-title" class="notice-title">
        Two-factor authentication required
      </h2>
      <p>
        {workspace.name} requires two-factor authentication for everyone who signs in. Set up an authenticator
        app on your phone to continue; you'll enter a code from it each time you sign in.
      </p>
      {!setup ? (
        <div class="notice-footer">
          <button type="button" class="button" onClick={start} disabled={busy}>
            {busy ? "Starting…" : "Set up two-factor authentication"}
          </button>
        </div>
      ) : (
        <form class="mfa-setup" onSubmit={enable}>
          <ol class="steps">
            <li>
              <p>
                In your authenticator app, add an account with this setup key
                {" ("}
                <a href={setup.otpauth_uri}>or open it in the app on this device</a>
                {")."}
              </p>
              <CopyField label="Setup key" value={setup.secret} />
            </li>
            <li>
              <div class="field">
                <label for={codeId}>Enter the 6-digit code the app shows</label>
                <input
                  id={codeId}
                  class="code-input"
                  inputMode="numeric"
                  autoComplete="one-time-code"
                  pattern="[0-9]{6}"
                  maxLength={6}
                  required
                  value={code}
                  aria-invalid={error ? true : undefined}
                  aria-describedby={error ? errorId : undefined}
                  onInput={(e) => setCode(e.currentTarget.value.replace(/\D/g, ""))}
                />
              </div>
            </li>
          </ol>
          <button type="submit" class="button" disabled={busy || code.length !== 6}>
            {busy ? "Checking…" : "Turn on two-factor authentication"}
          </button>
        </form>
      )}
      {error && (
        <p id={errorId} class="field-error" role="alert">
          {error}
        </p>
      )}
    </section>
  );
}
