import { useEffect, useId, useRef, useState } from "preact/hooks";
import { type ApiError, isApiError } from "../api";
import { formatDuration } from "../format";
import { useDocumentTitle } from "../hooks";
import { sessionApi } from "../session";
import type { Session } from "../types";

const clock = new Intl.DateTimeFormat(undefined, { timeStyle: "short" });

/** Turns a failed sign-in into what the person at the keyboard needs to know. */
function describeFailure(error: unknown, step: "password" | "code"): string {
  if (!isApiError(error)) return "Sign-in failed. Try again.";
  switch (error.code) {
    case "invalid_credentials":
      return step === "code"
        ? "That code didn't work. Check that your device's clock is right and enter the newest code."
        : "Email or password is incorrect.";
    case "account_locked":
      return lockedMessage(error);
    case "rate_limited":
      return "Too many attempts. Wait a moment and try again.";
    default:
      return error.message;
  }
}

function lockedMessage(error: ApiError): string {
  const seconds = Number((error.details as { retry_after_seconds?: unknown } | null)?.retry_after_seconds);
  if (!Number.isFinite(seconds) || seconds <= 0) {
    return "Too many failed sign-ins: this account is locked for now. Try again later.";
  }
  const until = clock.format(new Date(Date.now() + seconds * 1000));
  return `Too many failed sign-ins: this account is locked for security. Try again in ${formatDuration(seconds)} (at ${until}).`;
}

/** Email and password, then the authenticator code when the account has MFA. */
export function LoginPage({ notice, onSignedIn }: { notice?: string; onSignedIn(session: Session): void }) {
  useDocumentTitle("Sign in");
  const [step, setStep] = useState<"password" | "code">("password");
  const [email, setEmail] = useState("");
  const [password, setPassword] = useState("");
  const [code, setCode] = useState("");
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const codeInput = useRef<HTMLInputElement>(null);
  const ids = { email: useId(), password: useId(), code: useId(), error: useId() };

  useEffect(() => {
    if (step === "code") codeInput.current?.focus();
  }, [step]);

  const submit = async (event: Event) => {
    event.preventDefault();
    setBusy(true);
    setError(null);
    try {
      const session = await sessionApi.login({
        email: email.trim(),
        password,
        ...(step === "code" ? { totp_code: code } : {}),
      });
      onSignedIn(session);
    } catch (failure) {
      if (isApiError(failure, "mfa_required")) {
        setStep("code");
      } else {
        setError(describeFailure(failure, step));
        if (step === "code") {
          setCode("");
          // The Verify button just went disabled under the keyboard focus: put it back in the field.
          setTimeout(() => codeInput.current?.focus());
        }
      }
      setBusy(false);
    }
  };

  const startOver = () => {
    setStep("password");
    setCode("");
    setPassword("");
    setError(null);
  };

  const describedBy = error ? ids.error : undefined;

  return (
    <div class="auth-page">
      <main class="auth-card" aria-labelledby="login-title">
        <div class="auth-brand">
          <span class="brand-mark" aria-hidden="true" />
          <span class="brand-name">Switchboard</span>
        </div>
        <h1 id="login-title">{step === "password" ? "Sign in" : "Two-factor authentication"}</h1>
        {step === "password" ? (
          <p class="muted">Use your work email to sign in to the operator dashboard.</p>
        ) : (
          <p class="muted">
            Enter the 6-digit code from your authenticator app for <strong>{email.trim()}</strong>.
          </p>
        )}
        {notice && !error && (
          <p class="notice info" role="status">
            {notice}
          </p>
        )}
        {error && (
          <p id={ids.error} class="notice error" role="alert">
            {error}
          </p>
        )}
        <form class="auth-form" onSubmit={submit}>
          {step === "password" ? (
            <>
              <div class="field">
                <label for={ids.email}>Email</label>
                <input
                  id={ids.email}
                  type="email"
                  name="email"
                  autoComplete="username"
                  required
                  value={email}
                  aria-invalid={error ? true : undefined}
                  aria-describedby={describedBy}
                  onInput={(e) => setEmail(e.currentTarget.value)}
                />
              </div>
              <div class="field">
                <label for={ids.password}>Password</label>
                <input
                  id={ids.password}
                  type="password"
                  name="password"
                  autoComplete="current-password"
                  required
                  value={password}
                  aria-invalid={error ? true : undefined}
                  aria-describedby={describedBy}
                  onInput={(e) => setPassword(e.currentTarget.value)}
                />
              </div>
              <button type="submit" class="button block" disabled={busy}>
                {busy ? "Signing in…" : "Sign in"}
              </button>
            </>
          ) : (
            <>
              <div class="field">
                <label for={ids.code}>Authentication code</label>
                <input
                  id={ids.code}
                  ref={codeInput}
                  class="code-input"
                  name="totp_code"
                  inputMode="numeric"
                  autoComplete="one-time-code"
                  pattern="[0-9]{6}"
                  maxLength={6}
                  required
                  value={code}
                  aria-invalid={error ? true : undefined}
                  aria-describedby={describedBy}
                  onInput={(e) => setCode(e.currentTarget.value.replace(/\D/g, ""))}
                />
              </div>
              <button type="submit" class="button block" disabled={busy || code.length !== 6}>
                {busy ? "Verifying…" : "Verify"}
              </button>
              <button type="button" class="button ghost block" onClick={startOver}>
                Use a different account
              </button>
            </>
          )}
        </form>
      </main>
    </div>
  );
}
