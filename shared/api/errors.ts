/**
 * The one error vocabulary of the API. Every error body is
 * `{"error":{"code","message","details"}}`; the status follows from the code.
 */
export const ERROR_STATUS = {
  bad_request: 400,
  invalid_json: 400,
  validation_failed: 400,
  invalid_continuation_token: 400,
  unauthorized: 401,
  invalid_credentials: 401,
  mfa_required: 401,
  forbidden: 403,
  mfa_enrollment_required: 403,
  not_found: 404,
  method_not_allowed: 405,
  conflict: 409,
  payload_too_large: 413,
  unsupported_media_type: 415,
  unprocessable: 422,
  /** A WebSocket route asked for without `Upgrade: websocket`. */
  upgrade_required: 426,
  rate_limited: 429,
  account_locked: 429,
  internal_error: 500,
  not_implemented: 501,
  /** The EHR (or another upstream) answered with an error or not at all. */
  upstream_error: 502,
  service_unavailable: 503,
} as const satisfies Record<string, number>;

export type ErrorCode = keyof typeof ERROR_STATUS;

export interface ErrorBody {
  error: { code: ErrorCode; message: string; details: unknown };
}

export function errorBody(code: ErrorCode, message: string, details: unknown = null): ErrorBody {
  return { error: { code, message, details } };
}
