/**
 * Twilio's REST API (https://www.twilio.com/docs/usage/api), the two calls Switchboard makes: send a
 * message (Message resource, create) and give a live call new TwiML (Call resource, update with `Twiml`,
 * used for deferred transfers). Basic auth with `AccountSid:AuthToken`, form-encoded bodies, JSON answers
 * (the `.json` extension on the 2010 API).
 *
 * Failures are a {@link TwilioApiError} that says whether trying again can help: a network failure, a
 * 429 or a 5xx can; anything else (a 400 for an unreachable number, a 401 for a wrong token, a 404 for a
 * call that has ended) cannot. Twilio's error text may echo a phone number, so only its status and
 * numeric code end up in the error's message; the text itself is never kept.
 *
 * Twilio's official Node library needs Node's HTTP stack; these two requests are plain `fetch`.
 */
import { z } from "zod";

const DEFAULT_BASE_URL = "https://api.twilio.com";
const API_VERSION = "2010-04-01";
/** A Twilio request that has not answered in this long is abandoned (and retried by the caller's queue). */
const REQUEST_TIMEOUT_MS = 15_000;

export interface TwilioCredentials {
  accountSid: string;
  authToken: string;
  /** Default https://api.twilio.com; tests point it at a fake. */
  baseUrl?: string;
}

/** The account to call Twilio as, or null when `TWILIO_ACCOUNT_SID` or `TWILIO_AUTH_TOKEN` is not set. */
export function twilioCredentials(env: Env): TwilioCredentials | null {
  const accountSid = env.TWILIO_ACCOUNT_SID?.trim();
  const authToken = env.TWILIO_AUTH_TOKEN?.trim();
  return accountSid && authToken ? { accountSid, authToken } : null;
}

/** A request Twilio refused or that never reached it. `status` is 0 when there was no answer. */
export class TwilioApiError extends Error {
  override readonly name = "TwilioApiError";
  /** Twilio's numeric error code (https://www.twilio.com/docs/api/errors), when it sent one. */
  readonly code: number | null;
  /** True for a network failure, a 429 or a 5xx: the same request may succeed later. */
  readonly retryable: boolean;

  constructor(
    readonly status: number,
    code: number | null,
    options: { cause?: unknown; retryable?: boolean } = {},
  ) {
    super(
      status === 0
        ? "Twilio could not be reached"
        : `Twilio answered ${status}${code === null ? "" : ` (error ${code})`}`,
      { cause: options.cause },
    );
    this.code = code;
    this.retryable = options.retryable ?? (status === 0 || status === 429 || status >= 500);
  }
}

/** Twilio's error body: `{code, message, more_info, status}`; only the code is read. */
const ErrorBody = z.object({ code: z.number().int().nullish() });
const MessageCreated = z.object({ sid: z.string().min(1), status: z.string().min(1) });
const CallUpdated = z.object({ sid: z.string().min(1) });

const CALL_SID = /^CA[0-9a-fA-F]{32}$/;

function resourceUrl(creds: TwilioCredentials, path: string): string {
  const base = (creds.baseUrl ?? DEFAULT_BASE_URL).replace(/\/+$/, "");
  return `${base}/${API_VERSION}/Accounts/${encodeURIComponent(creds.accountSid)}/${path}`;
}

/**
 * POSTs form fields to a resource and returns its JSON answer read with `answer`, or throws a
 * {@link TwilioApiError}.
 */
async function post<T>(
  creds: TwilioCredentials,
  path: string,
  fields: Record<string, string | undefined>,
  answer: z.ZodType<T>,
  fetcher: typeof fetch,
): Promise<T> {
  const form = new URLSearchParams();
  for (const [name, value] of Object.entries(fields)) if (value !== undefined) form.set(name, value);
  let res: Response;
  try {
    res = await fetcher(resourceUrl(creds, path), {
      method: "POST",
      headers: {
        Authorization: `Basic ${btoa(`${creds.accountSid}:${creds.authToken}`)}`,
        "Content-Type": "application/x-www-form-urlencoded",
        Accept: "application/json",
      },
      body: form.toString(),
      signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
    });
  } catch (cause) {
    throw new TwilioApiError(0, null, { cause });
  }
  const body: unknown = await res.json().catch(() => null);
  if (!res.ok) {
    const parsed = ErrorBody.safeParse(body);
    throw new TwilioApiError(res.status, parsed.success ? (parsed.data.code ?? null) : null);
  }
  const read = answer.safeParse(body);
  // Done but unreadable: not retryable, because doing it again could send a message twice.
  if (!read.success) throw new TwilioApiError(res.status, null, { retryable: false });
  return read.data;
}

/**
 * Sends a message (`POST /2010-04-01/Accounts/{AccountSid}/Messages.json` with `To`, `From`, `Body` and
 * optionally `StatusCallback`). Returns the Message's sid and its first status (`queued`, or `accepted`).
 */
export async function sendMessage(
  creds: TwilioCredentials,
  msg: { from: string; to: string; body: string; statusCallback?: string },
  fetcher: typeof fetch = fetch,
): Promise<{ sid: string; status: string }> {
  const created = await post(
    creds,
    "Messages.json",
    { To: msg.to, From: msg.from, Body: msg.body, StatusCallback: msg.statusCallback },
    MessageCreated,
    fetcher,
  );
  return { sid: created.sid, status: created.status };
}

/**
 * Gives a live call new instructions (`POST /2010-04-01/Accounts/{AccountSid}/Calls/{CallSid}.json` with
 * `Twiml`): Twilio stops what the call is doing and runs the TwiML, e.g. a `<Dial>` for a transfer.
 */
export async function redirectCall(
  creds: TwilioCredentials,
  callSid: string,
  twiml: string,
  fetcher: typeof fetch = fetch,
): Promise<void> {
  if (!CALL_SID.test(callSid)) throw new TypeError("not a Twilio call sid");
  await post(creds, `Calls/${callSid}.json`, { Twiml: twiml }, CallUpdated, fetcher);
}
