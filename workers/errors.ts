/**
 * The one place errors take shape. Route modules throw `ApiError`; the app's `onError` turns anything
 * thrown into the standard body. Only 5xx are logged, with the request id and never a body or PHI.
 */
import type { Context } from "hono";
import { HTTPException } from "hono/http-exception";
import type { ContentfulStatusCode } from "hono/utils/http-status";
import { ERROR_STATUS, type ErrorCode, errorBody } from "../shared/api/errors";
import type { AppEnv } from "./env";

export class ApiError extends Error {
  readonly status: ContentfulStatusCode;
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly details: unknown = null,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
    this.status = ERROR_STATUS[code];
  }
}

export const notFound = (what: string) => new ApiError("not_found", `${what} not found`);

/** Maps an HTTPException raised by Hono's own middleware to our vocabulary. */
function fromHttpException(err: HTTPException): ApiError {
  switch (err.status) {
    case 400:
      return err.message.toLowerCase().includes("json")
        ? new ApiError("invalid_json", "The request body is not valid JSON")
        : new ApiError("bad_request", err.message || "Bad request");
    case 401:
      return new ApiError("unauthorized", "Authentication required");
    case 413:
      return new ApiError("payload_too_large", "The request body is larger than allowed");
    default:
      return err.status >= 500
        ? new ApiError("internal_error", "Internal error")
        : new ApiError("bad_request", err.message || "Bad request");
  }
}

export function handleError(err: unknown, c: Context<AppEnv>): Response {
  const apiError =
    err instanceof ApiError
      ? err
      : err instanceof HTTPException
        ? fromHttpException(err)
        : isUniqueViolation(err)
          ? new ApiError("conflict", "This conflicts with an existing record")
          : new ApiError("internal_error", "Internal error");
  if (apiError.status >= 500) {
    // Driver messages quote the failed query and its parameters: keep only the first line, minus
    // anything after "params", so no value a request carried reaches the logs.
    const message =
      err instanceof Error ? (err.message.split("\n")[0] ?? "").split(/params:/i)[0]!.slice(0, 200) : "";
    const cause = err instanceof Error ? `${err.name}: ${message}` : typeof err;
    console.error(
      JSON.stringify({ level: "error", requestId: c.get("requestId"), path: c.req.routePath, cause }),
    );
  }
  for (const [name, value] of Object.entries(apiError.headers)) c.header(name, value);
  return c.json(errorBody(apiError.code, apiError.message, apiError.details), apiError.status);
}

/** True when a D1 error is a UNIQUE violation (on the named table, when one is given). */
export function isUniqueViolation(err: unknown, table = ""): boolean {
  const messages: string[] = [];
  for (let e: unknown = err; e instanceof Error; e = e.cause) messages.push(e.message);
  // SQLite names the table right after the colon: `UNIQUE constraint failed: audit_log.workspace_id, ...`.
  const marker = table ? `UNIQUE constraint failed: ${table}.` : "UNIQUE constraint failed";
  return messages.some((m) => m.includes(marker));
}
