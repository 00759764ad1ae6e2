/** Continuation tokens: opaque to clients, decoded strictly. */
import { describe, expect, it } from "vitest";
import { decodeToken, encodeToken, nextToken, pageFrom } from "../../workers/api/pagination";
import { ApiError } from "../../workers/errors";

describe("continuation tokens", () => {
  it("round-trip a (created_at, id) key as URL-safe text", () => {
    const token = encodeToken(["2026-11-22T09:30:00.000Z", "svc_abc"]);
    expect(token).toMatch(/^[A-Za-z0-9_-]+$/);
    expect(decodeToken(token)).toEqual(["2026-11-22T09:30:00.000Z", "svc_abc"]);
    expect(pageFrom({ limit: 10, offset: 5, continuation_token: token })).toEqual({
      limit: 10,
      offset: 0,
      after: ["2026-11-22T09:30:00.000Z", "svc_abc"],
    });
  });

  it.each(["", "!!!", "bnVsbA", "W10", "eyJhIjoxfQ", "W251bGxd", "W3t9XQ"])("refuses %j", (token) => {
    expect(() => decodeToken(token)).toThrow(ApiError);
  });

  it("refuses a token of another shape for keyset pages", () => {
    for (const key of [[1], ["a"], ["a", 1], ["a", "b", "c"]]) {
      const error = (() => {
        try {
          pageFrom({ limit: 10, offset: 0, continuation_token: encodeToken(key) });
        } catch (e) {
          return e;
        }
      })();
      expect(error, JSON.stringify(key)).toBeInstanceOf(ApiError);
      expect((error as ApiError).code).toBe("invalid_continuation_token");
    }
  });

  it("offers a next token only after a full page", () => {
    const rows = [
      { createdAt: "t1", id: "a" },
      { createdAt: "t2", id: "b" },
    ];
    expect(decodeToken(nextToken(rows, 2)!)).toEqual(["t2", "b"]);
    expect(nextToken(rows, 3)).toBeNull();
    expect(nextToken([], 3)).toBeNull();
  });
});
