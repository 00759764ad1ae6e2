/**
 * Lists take `limit` and either `offset` or the `continuation_token` of the previous page. The token is
 * the (created_at, id) of the last row, base64url-encoded: opaque to clients, cheap for D1 (an index range).
 */
import { fromBase64Url, toBase64Url, utf8 } from "../../shared/encoding";
import type { Page } from "../db/paging";
import { ApiError } from "../errors";

export function encodeToken(key: readonly (string | number)[]): string {
  return toBase64Url(utf8.encode(JSON.stringify(key)));
}

export function decodeToken(token: string): unknown[] {
  try {
    const value = JSON.parse(utf8.decode(fromBase64Url(token)));
    if (
      Array.isArray(value) &&
      value.length > 0 &&
      value.every((v) => ["string", "number"].includes(typeof v))
    ) {
      return value;
    }
  } catch {
    // fall through to the error below
  }
  throw new ApiError("invalid_continuation_token", "The continuation_token is not one this API issued");
}

/** Turns the query's paging fields into a keyset page on (created_at, id). */
export function pageFrom(query: {
  limit: number;
  offset: number;
  continuation_token?: string | undefined;
}): Page {
  if (!query.continuation_token) return { limit: query.limit, offset: query.offset };
  const key = decodeToken(query.continuation_token);
  if (key.length !== 2 || typeof key[0] !== "string" || typeof key[1] !== "string") {
    throw new ApiError("invalid_continuation_token", "The continuation_token is not one this API issued");
  }
  return { limit: query.limit, offset: 0, after: [key[0], key[1]] };
}

/** The token for the page after `rows`, or null when this page was the last. */
export function nextToken<T extends { createdAt: string; id: string }>(
  rows: T[],
  limit: number,
): string | null {
  const last = rows.at(-1);
  return rows.length === limit && last ? encodeToken([last.createdAt, last.id]) : null;
}
