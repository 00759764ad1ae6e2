/**
 * The error handler: every failure leaves in the one body shape with the status its code maps to;
 * 5xx are logged with the request id and never show the client what went wrong inside.
 */
import { env } from "cloudflare:workers";
import { HTTPException } from "hono/http-exception";
import { afterEach, describe, expect, it, vi } from "vitest";
import { ERROR_STATUS, type ErrorCode } from "../../shared/api/errors";
import { buildApp } from "../../workers/app";
import { ApiError, isUniqueViolation } from "../../workers/errors";

afterEach(() => vi.restoreAllMocks());

/** The real app with one extra route that throws `error`. */
async function thrown(error: unknown) {
  const app = buildApp();
  app.get("/boom", () => {
    throw error;
  });
  const res = await app.request("/boom", {}, env);
  return { res, body: (await res.json()) as { error: { code: string; message: string; details: unknown } } };
}

describe("handleError", () => {
  it("answers an unexpected error with a bare 500, logging the cause and request id only", async () => {
    const log = vi.spyOn(console, "error").mockImplementation(() => {});
    const error = new Error("D1_ERROR: no such column: patients.ssn at /workers/db/x.ts:12:5");
    const { res, body } = await thrown(error);
    expect(res.status).toBe(500);
    expect(body).toEqual({ error: { code: "internal_error", message: "Internal error", details: null } });
    expect(JSON.stringify(body)).not.toMatch(/D1_ERROR|ssn|\.ts/);
    expect(log).toHaveBeenCalledTimes(1);
    const line = JSON.parse(log.mock.calls[0]![0] as string);
    expect(line).toMatchObject({ level: "error", requestId: res.headers.get("X-Request-Id") });
    expect(line.cause).toContain("no such column");
  });

  it.each(Object.entries(ERROR_STATUS))(
    "maps %s to %i with its details and headers",
    async (code, status) => {
      vi.spyOn(console, "error").mockImplementation(() => {});
      const { res, body } = await thrown(
        new ApiError(code as ErrorCode, `about ${code}`, { field: "x" }, { "Retry-After": "7" }),
      );
      expect(res.status).toBe(status);
      expect(body).toEqual({ error: { code, message: `about ${code}`, details: { field: "x" } } });
      expect(res.headers.get("Retry-After")).toBe("7");
    },
  );

  it("logs client errors not at all", async () => {
    const log = vi.spyOn(console, "error").mockImplementation(() => {});
    await thrown(new ApiError("not_found", "nope"));
    expect(log).not.toHaveBeenCalled();
  });

  it.each([
    [400, "Malformed JSON in request body", "invalid_json"],
    [400, "Something else", "bad_request"],
    [401, "Unauthorized", "unauthorized"],
    [413, "Payload Too Large", "payload_too_large"],
    [418, "teapot", "bad_request"],
    [503, "overloaded", "internal_error"],
  ])("maps Hono's HTTPException %i (%s) to %s", async (status, message, code) => {
    vi.spyOn(console, "error").mockImplementation(() => {});
    const { body } = await thrown(new HTTPException(status as 400, { message }));
    expect(body.error.code).toBe(code);
    expect(body.error.message).not.toContain("overloaded");
  });

  it("answers a UNIQUE violation from D1 with 409 conflict", async () => {
    const cause = new Error(
      "D1_ERROR: UNIQUE constraint failed: services.workspace_id, services.name: SQLITE_CONSTRAINT",
    );
    const { res, body } = await thrown(new Error("Failed query: insert into services", { cause }));
    expect(res.status).toBe(409);
    expect(body.error.code).toBe("conflict");
    expect(JSON.stringify(body)).not.toContain("SQLITE");
  });
});

describe("isUniqueViolation", () => {
  const violation = new Error("outer", {
    cause: new Error("UNIQUE constraint failed: audit_log.workspace_id, audit_log.seq"),
  });

  it("finds the violation anywhere in the cause chain, for the named table", () => {
    expect(isUniqueViolation(violation)).toBe(true);
    expect(isUniqueViolation(violation, "audit_log")).toBe(true);
    expect(isUniqueViolation(violation, "services")).toBe(false);
    expect(isUniqueViolation(violation, "log")).toBe(false);
  });

  it("is false for other errors and for non-errors", () => {
    expect(isUniqueViolation(new Error("NOT NULL constraint failed: audit_log.hash"))).toBe(false);
    expect(isUniqueViolation("UNIQUE constraint failed: x.y")).toBe(false);
    expect(isUniqueViolation(undefined)).toBe(false);
  });
});
