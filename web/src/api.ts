/**
 * The one way the dashboard talks to the API: same-origin fetch with the session cookie, JSON in and
 * out, and every failure turned into an `ApiError` carrying the API's error code. A 401 on a signed-in
 * request means the session ended; the registered handler sends the user back to sign in.
 */
import type { ApiErrorBody, ErrorCode } from "./types";

/** Codes this client adds for failures that never reached (or never came back from) the API. */
export type ClientErrorCode = "network_error" | "bad_response";

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: ErrorCode | ClientErrorCode,
    message: string,
    readonly details: unknown = null,
    /** The API's `X-Request-Id`, worth quoting to support. */
    readonly requestId: string | null = null,
  ) {
    super(message);
    this.name = "ApiError";
  }
}

export function isApiError(error: unknown, code?: ApiError["code"]): error is ApiError {
  return error instanceof ApiError && (code === undefined || error.code === code);
}

export interface AccessHandlers {
  /** A signed-in request came back 401: the session expired or was revoked. */
  sessionEnded(): void;
  /** A workspace refused this session until the user enrols in MFA (403 `mfa_enrollment_required`). */
  mfaEnrollmentRequired(workspaceId: string): void;
}

let handlers: AccessHandlers | null = null;

/** Called once by the app, which decides what the whole dashboard does about these two answers. */
export function setAccessHandlers(next: AccessHandlers): void {
  handlers = next;
}

interface RequestOptions {
  body?: unknown;
  signal?: AbortSignal;
  /** Sign-in requests expect 401s (`invalid_credentials`, `mfa_required`) and handle them themselves. */
  expectUnauthorized?: boolean;
}

async function request<T>(method: string, path: string, options: RequestOptions = {}): Promise<T> {
  const headers: Record<string, string> = { Accept: "application/json" };
  let body: string | undefined;
  if (options.body !== undefined) {
    headers["Content-Type"] = "application/json";
    body = JSON.stringify(options.body);
  }
  let response: Response;
  try {
    response = await fetch(path, {
      method,
      headers,
      body,
      credentials: "same-origin",
      signal: options.signal,
    });
  } catch (error) {
    if (options.signal?.aborted) throw error;
    throw new ApiError(0, "network_error", "Can't reach Switchboard. Check your connection and try again.");
  }
  const requestId = response.headers.get("X-Request-Id");
  if (response.status === 204) return undefined as T;
  const parsed: unknown = await response.json().catch(() => undefined);
  if (response.ok) {
    if (parsed === undefined) {
      throw new ApiError(
        response.status,
        "bad_response",
        "The server sent an unreadable answer.",
        null,
        requestId,
      );
    }
    return parsed as T;
  }
  const error = toApiError(response.status, parsed, requestId);
  if (response.status === 401 && !options.expectUnauthorized) handlers?.sessionEnded();
  if (error.code === "mfa_enrollment_required") {
    const workspaceId = /^\/v1\/([^/?]+)/.exec(path)?.[1];
    if (workspaceId) handlers?.mfaEnrollmentRequired(decodeURIComponent(workspaceId));
  }
  throw error;
}

function toApiError(status: number, body: unknown, requestId: string | null): ApiError {
  const error = (body as Partial<ApiErrorBody> | undefined)?.error;
  if (error && typeof error.code === "string" && typeof error.message === "string") {
    return new ApiError(status, error.code, error.message, error.details ?? null, requestId);
  }
  const message =
    status >= 500
      ? "Switchboard had a problem answering. Try again in a moment."
      : `The request failed (HTTP ${status}).`;
  return new ApiError(status, "bad_response", message, null, requestId);
}

export const api = {
  get: <T>(path: string, options?: Omit<RequestOptions, "body">) => request<T>("GET", path, options),
  post: <T>(path: string, body?: unknown, options?: Omit<RequestOptions, "body">) =>
    request<T>("POST", path, { ...options, body }),
  put: <T>(path: string, body: unknown, options?: Omit<RequestOptions, "body">) =>
    request<T>("PUT", path, { ...options, body }),
  delete: (path: string, options?: Omit<RequestOptions, "body">) => request<void>("DELETE", path, options),
};

/** `/v1/{workspace}/...` with each segment escaped. */
export function workspacePath(workspaceId: string, ...segments: string[]): string {
  return ["/v1", workspaceId, ...segments].map((s, i) => (i === 0 ? s : encodeURIComponent(s))).join("/");
}
