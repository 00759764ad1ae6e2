/**
 * Sending email, for the outbox (`workers/telephony/messaging.ts`), through one of three adapters chosen
 * from configuration:
 *
 * - `cloudflare`: Cloudflare Email Service's `send_email` binding (`EMAIL`, see wrangler.toml), called
 *   with the structured builder `{from, to, subject, text}`; it answers `{messageId}`.
 * - `http`: an HTTP email API (`EMAIL_API_URL` + `EMAIL_API_KEY`), Resend-compatible: a JSON POST of
 *   `{from, to: [to], subject, text}` with `Authorization: Bearer` and an `Idempotency-Key` (so a retried
 *   send is not delivered twice), answering `{id}`.
 * - `local`: sends nothing; the outbox row it is recorded as is the whole delivery (development).
 *
 * Failures are an {@link EmailApiError} that says whether trying again can help (a network failure, a 429
 * or a 5xx). The provider's error text may echo the address, so it is never kept.
 */
import { z } from "zod";
import { randomBytes, toHex } from "../../shared/encoding";

/** An email the outbox sends: plain text only. */
export interface OutboundEmail {
  from: string;
  to: string;
  subject: string;
  text: string;
  /** Stable per message (the outbox's dedupe key), for providers that deduplicate on it. */
  idempotencyKey: string;
}

export interface EmailAdapter {
  readonly name: "cloudflare" | "http" | "local";
  send(email: OutboundEmail): Promise<{ id: string; status: string }>;
}

/** A send the provider refused or that never reached it. `status` is 0 when there was no HTTP answer. */
export class EmailApiError extends Error {
  override readonly name = "EmailApiError";
  readonly retryable: boolean;

  constructor(
    readonly status: number,
    /** The provider's error code or name, when it gave one (never its message). */
    readonly code: string | null,
    options: { cause?: unknown; retryable?: boolean } = {},
  ) {
    super(
      status === 0
        ? `the email provider could not be reached${code ? ` (${code})` : ""}`
        : `the email provider answered ${status}${code ? ` (${code})` : ""}`,
      { cause: options.cause },
    );
    this.retryable = options.retryable ?? (status === 0 || status === 429 || status >= 500);
  }
}

/** A request that has not answered in this long is abandoned (and retried by the queue). */
const REQUEST_TIMEOUT_MS = 15_000;
const Sent = z.object({ id: z.string().min(1) });
const ErrorName = z.object({ name: z.string().max(80).optional(), code: z.string().max(80).optional() });
const CODE = /^[A-Za-z0-9_.-]{1,80}$/;

/** Cloudflare's binding: its errors carry a code (`E_…`) and a message that may echo the address. */
export function bindingAdapter(binding: SendEmail): EmailAdapter {
  return {
    name: "cloudflare",
    async send(email) {
      try {
        const sent = await binding.send({
          from: email.from,
          to: email.to,
          subject: email.subject,
          text: email.text,
        });
        return { id: sent.messageId, status: "sent" };
      } catch (cause) {
        const code = (cause as { code?: unknown })?.code;
        throw new EmailApiError(0, typeof code === "string" && CODE.test(code) ? code : null, { cause });
      }
    },
  };
}

/** A Resend-compatible HTTP API. */
export function httpAdapter(url: string, apiKey: string, fetcher: typeof fetch = fetch): EmailAdapter {
  return {
    name: "http",
    async send(email) {
      let res: Response;
      try {
        res = await fetcher(url, {
          method: "POST",
          headers: {
            Authorization: `Bearer ${apiKey}`,
            "Content-Type": "application/json",
            Accept: "application/json",
            "Idempotency-Key": email.idempotencyKey,
          },
          body: JSON.stringify({
            from: email.from,
            to: [email.to],
            subject: email.subject,
            text: email.text,
          }),
          signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
        });
      } catch (cause) {
        throw new EmailApiError(0, null, { cause });
      }
      const body: unknown = await res.json().catch(() => null);
      if (!res.ok) {
        const named = ErrorName.safeParse(body);
        const code = named.success ? (named.data.name ?? named.data.code ?? null) : null;
        throw new EmailApiError(res.status, code && CODE.test(code) ? code : null);
      }
      const sent = Sent.safeParse(body);
      // Accepted but unreadable: not retryable, because sending again could deliver twice.
      if (!sent.success) throw new EmailApiError(res.status, null, { retryable: false });
      return { id: sent.data.id, status: "sent" };
    },
  };
}

/** Sends nothing: the outbox row is the whole delivery. */
export const localEmailAdapter: EmailAdapter = {
  name: "local",
  async send() {
    return { id: `local-${toHex(randomBytes(12))}`, status: "sent" };
  },
};

let emailFetch: typeof fetch | undefined;
/** For tests: the `fetch` the HTTP adapter uses when none is passed (pass nothing to restore the real one). */
export function setEmailFetch(fetcher?: typeof fetch) {
  emailFetch = fetcher;
}

/** The binding when configured, else the HTTP API when configured, else the local adapter. */
export function emailAdapter(env: Env, fetcher?: typeof fetch): EmailAdapter {
  if (env.EMAIL) return bindingAdapter(env.EMAIL);
  const url = env.EMAIL_API_URL?.trim();
  const key = env.EMAIL_API_KEY?.trim();
  if (url && key) return httpAdapter(url, key, fetcher ?? emailFetch ?? fetch);
  if (env.ENVIRONMENT !== "development")
    console.warn(JSON.stringify({ level: "warn", event: "email.not_configured", adapter: "local" }));
  return localEmailAdapter;
}

/** The address email is sent from: the message's own, else `EMAIL_FROM`. */
export function emailSender(env: Env, from?: string | null): string | null {
  return from?.trim() || env.EMAIL_FROM?.trim() || null;
}
