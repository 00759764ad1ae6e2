/**
 * How route modules are built: `router()` gives an OpenAPIHono whose validation failures become our
 * error body, and `workspaceRoute()` declares a `/v1/{workspace_id}/...` route with its minimum role,
 * which is enforced by middleware and published in the OpenAPI document as `x-min-role`.
 */
import { createRoute, OpenAPIHono, type RouteConfig } from "@hono/zod-openapi";
import type { Role } from "../../shared/auth/roles";
import { ErrorBodySchema } from "../../shared/schemas/common";
import type { AppEnv } from "../env";
import { ApiError } from "../errors";
import { requireRole } from "../middleware/auth";

interface ZodIssueLike {
  path: PropertyKey[];
  code: string;
  message: string;
}

export function router() {
  return new OpenAPIHono<AppEnv>({
    defaultHook: (result) => {
      if (!result.success) {
        const issues = (result.error as { issues: ZodIssueLike[] }).issues.map((issue) => ({
          location: result.target,
          path: issue.path.map(String).join("."),
          code: issue.code,
          message: issue.message,
        }));
        throw new ApiError(
          "validation_failed",
          `Invalid ${result.target}: ${issues[0]?.message ?? "invalid"}`,
          {
            issues,
          },
        );
      }
    },
  });
}

const errorResponse = (description: string) => ({
  description,
  content: { "application/json": { schema: ErrorBodySchema } },
});

export const errorResponses = {
  400: errorResponse("Invalid input"),
  401: errorResponse("Not authenticated"),
  403: errorResponse("Not allowed"),
  404: errorResponse("Not found"),
  413: errorResponse("Body too large"),
  415: errorResponse("Body not JSON"),
} as const;

export const MIN_ROLE_EXTENSION = "x-min-role";

const WORKSPACE_SECURITY: Record<string, string[]>[] = [{ ApiKey: [] }, { SessionCookie: [] }];

export function workspaceRoute<const R extends RouteConfig>(minRole: Role, config: R) {
  return createRoute({
    ...config,
    security: WORKSPACE_SECURITY,
    middleware: [requireRole(minRole)] as const,
    [MIN_ROLE_EXTENSION]: minRole,
    responses: { ...errorResponses, ...config.responses },
  });
}

/** A JSON request body that must be present (so a missing or non-JSON body fails validation). */
export function jsonBody<T>(schema: T) {
  return { required: true, content: { "application/json": { schema } } } as const;
}

export function jsonResponse<T>(schema: T, description: string) {
  return { description, content: { "application/json": { schema } } } as const;
}
