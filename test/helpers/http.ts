/**
 * Requests to the Worker under test, through its own `fetch` (`exports.default`), and the assertions
 * every error answer must pass: the one body shape, and nothing of the server's insides.
 */
import { exports } from "cloudflare:workers";
import { expect } from "vitest";
import type { ErrorCode } from "../../shared/api/errors";

export const BASE_URL = "https://sb.test";

export interface RequestOptions {
  /** An API key, sent as `Authorization: Bearer <key>`. */
  key?: string;
  /** A `Cookie` header value, such as `login()` returns. */
  cookie?: string;
  /** Sent as JSON with `Content-Type: application/json`. */
  body?: unknown;
  /** Sent as-is, for bodies that are not JSON or not valid; pair it with `contentType`. */
  raw?: BodyInit;
  contentType?: string;
  headers?: Record<string, string>;
}

export interface ApiResponse<T> {
  status: number;
  headers: Headers;
  /** The parsed JSON body, or null when the answer has none. */
  body: T;
  text: string;
}

// Response bodies are checked by assertions, not by the compiler: tests read them freely.
// biome-ignore lint/suspicious/noExplicitAny: see above
type Json = any;

export async function api<T = Json>(
  method: string,
  path: string,
  options: RequestOptions = {},
): Promise<ApiResponse<T>> {
  const headers = new Headers(options.headers);
  if (options.key !== undefined) headers.set("Authorization", `Bearer ${options.key}`);
  if (options.cookie !== undefined) headers.set("Cookie", options.cookie);
  let body: BodyInit | undefined = options.raw;
  if (options.body !== undefined) {
    body = JSON.stringify(options.body);
    headers.set("Content-Type", "application/json");
  }
  if (options.contentType !== undefined) headers.set("Content-Type", options.contentType);
  const res = await exports.default.fetch(`${BASE_URL}${path}`, { method, headers, body });
  const text = await res.text();
  const isJson = res.headers.get("Content-Type")?.includes("application/json") && text.length > 0;
  return { status: res.status, headers: res.headers, body: isJson ? JSON.parse(text) : null, text };
}

/** Text that would mean a stack trace, a source path or a driver message reached the client. */
const LEAK_PATTERNS = [/\bat \S+ \(/, /\.[mc]?[jt]s:\d+/, /node_modules/, /SQLITE_/, /D1_ERROR/, /"stack"/];

/** Asserts the standard error body (and, when given, its code and status), with no internals leaked. */
export function expectError(res: ApiResponse<unknown>, code?: ErrorCode, status?: number): void {
  expect(res.headers.get("Content-Type")).toMatch(/^application\/json/);
  const body = res.body as { error?: Record<string, unknown> };
  expect(Object.keys(body)).toEqual(["error"]);
  expect(Object.keys(body.error ?? {}).sort()).toEqual(["code", "details", "message"]);
  expect(typeof body.error?.code).toBe("string");
  expect(typeof body.error?.message).toBe("string");
  if (code !== undefined) expect(body.error?.code, res.text).toBe(code);
  if (status !== undefined) expect(res.status, res.text).toBe(status);
  for (const pattern of LEAK_PATTERNS) expect(res.text).not.toMatch(pattern);
}
