/**
 * What every client sees of the platform: liveness, the published OpenAPI document and reference page,
 * request ids and security headers, the error body for unknown routes, and the dashboard fallback.
 */
import { beforeAll, describe, expect, it } from "vitest";
import { api, expectError } from "../helpers/http";
import { documentedOperations, type JsonSchema } from "../helpers/openapi";
import { createWorkspace, type TestWorkspace } from "../helpers/workspace";

let ws: TestWorkspace;

beforeAll(async () => {
  ws = await createWorkspace();
});

describe("GET /healthz", () => {
  it("answers ok without credentials", async () => {
    const res = await api("GET", "/healthz");
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ ok: true });
  });
});

describe("GET /openapi.json", () => {
  it("is OpenAPI 3.1 with both security schemes and the error schema", async () => {
    const res = await api("GET", "/openapi.json");
    expect(res.body.openapi).toBe("3.1.0");
    expect(Object.keys(res.body.components.securitySchemes).sort()).toEqual(["ApiKey", "SessionCookie"]);
    expect(res.body.components.schemas.Error).toBeDefined();
  });

  it("documents every operation with a summary, a tag and the standard error answers", async () => {
    for (const op of await documentedOperations()) {
      expect(op.tags.length, op.id).toBeGreaterThan(0);
    }
    const res = await api("GET", "/openapi.json");
    for (const [path, methods] of Object.entries(res.body.paths as Record<string, Record<string, unknown>>)) {
      for (const [method, raw] of Object.entries(methods)) {
        const op = raw as { summary?: string; responses: Record<string, unknown> };
        expect(op.summary, `${method} ${path}`).toBeTruthy();
        expect(Object.keys(op.responses), `${method} ${path}`).toEqual(
          expect.arrayContaining(["400", "401"]),
        );
      }
    }
  });

  it("publishes regex patterns a client can use: no stray flags, all valid Unicode regexes", async () => {
    const res = await api("GET", "/openapi.json");
    const patterns: string[] = [];
    const walk = (node: unknown): void => {
      if (Array.isArray(node)) node.forEach(walk);
      else if (node && typeof node === "object") {
        for (const [key, value] of Object.entries(node as JsonSchema)) {
          if (key === "pattern" && typeof value === "string") patterns.push(value);
          else walk(value);
        }
      }
    };
    walk(res.body);
    expect(patterns.length).toBeGreaterThan(5);
    for (const pattern of patterns) {
      expect(pattern, pattern).not.toMatch(/(?<!\\)\/[dgimsuvy]+$/);
      expect(() => new RegExp(pattern, "u"), pattern).not.toThrow();
    }
    const name = new RegExp(findNamePattern(res.body), "u");
    expect(name.test("Dr. O'Brien & Lee-Park (West)")).toBe(true);
    expect(name.test("<b>Clinic</b>")).toBe(false);
  });
});

/** The pattern of `name` in the service creation body. */
function findNamePattern(doc: { paths: Record<string, Record<string, unknown>> }): string {
  const post = doc.paths["/v1/{workspace_id}/services"]!.post as {
    requestBody: { content: { "application/json": { schema: JsonSchema } } };
  };
  return post.requestBody.content["application/json"].schema.properties!.name!.pattern!;
}

describe("GET /docs", () => {
  it("renders every path as HTML, with no third-party scripts", async () => {
    const res = await api("GET", "/docs");
    expect(res.status).toBe(200);
    expect(res.headers.get("Content-Type")).toMatch(/^text\/html/);
    for (const op of await documentedOperations()) expect(res.text).toContain(op.path);
    expect(res.text).not.toMatch(/<script[^>]+src=/i);
  });
});

describe("every answer", () => {
  it("carries a request id and security headers", async () => {
    for (const res of [
      await api("GET", "/healthz"),
      await api("GET", `/v1/${ws.id}`, { key: ws.keys.viewer }),
      await api("GET", `/v1/${ws.id}`),
    ]) {
      expect(res.headers.get("X-Request-Id")).toMatch(/^req_/);
      expect(res.headers.get("X-Content-Type-Options")).toBe("nosniff");
      expect(res.headers.get("X-Frame-Options")).toBe("SAMEORIGIN");
      expect(res.headers.get("Strict-Transport-Security")).toMatch(/max-age=\d+/);
    }
  });

  it("for an unknown API route is the standard 404 body", async () => {
    for (const [method, path] of [
      ["GET", `/v1/${ws.id}/nothing-here`],
      ["PUT", `/v1/${ws.id}/services`],
      ["GET", "/auth/nothing-here"],
      ["GET", "/telephony/twilio/nothing-here"],
      ["GET", "/webhooks/nothing-here"],
    ] as const) {
      const res = await api(method, path, { key: ws.keys.owner });
      expectError(res, "not_found", 404);
    }
  });

  it("for any other path is the dashboard, never a server error", async () => {
    for (const path of ["/", "/settings/users", "/s/unknown-surface", "/v1"]) {
      const res = await api("GET", path);
      expect(res.status, path).toBeLessThan(500);
      expect(res.headers.get("X-Content-Type-Options"), path).toBe("nosniff");
    }
  });
});
