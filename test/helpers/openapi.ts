/**
 * The API's operations, enumerated rather than hand-picked: from the published `/openapi.json`, and
 * from the routes the Hono app actually registered, so a route missing from the document is caught too.
 */
import { ROLES, type Role } from "../../shared/auth/roles";
import { buildApp } from "../../workers/app";
import { api } from "./http";

export type Method = "GET" | "POST" | "PUT" | "PATCH" | "DELETE";

export interface Operation {
  /** `"POST /v1/{workspace_id}/services"`: the key fixtures are looked up by. */
  id: string;
  method: Method;
  /** The OpenAPI path template. */
  path: string;
  minRole: Role | undefined;
  hasBody: boolean;
  queryParams: string[];
  /** Whether it authenticates with an API key or a session (`/v1`), or a session only (`/auth`). */
  security: string[];
  /** The JSON body's schema with `$ref`s resolved, when the operation takes a body. */
  bodySchema: JsonSchema | undefined;
  tags: string[];
}

/** The part of JSON Schema the generated document uses. */
export interface JsonSchema {
  type?: string | string[];
  properties?: Record<string, JsonSchema>;
  items?: JsonSchema;
  enum?: unknown[];
  pattern?: string;
  format?: string;
  $ref?: string;
  [keyword: string]: unknown;
}

function resolveRefs(schema: JsonSchema, components: Record<string, JsonSchema>): JsonSchema {
  if (schema.$ref) {
    const target = components[schema.$ref.replace("#/components/schemas/", "")];
    if (!target) throw new Error(`unresolved ${schema.$ref}`);
    return resolveRefs(target, components);
  }
  return {
    ...schema,
    ...(schema.properties && {
      properties: Object.fromEntries(
        Object.entries(schema.properties).map(([name, property]) => [
          name,
          resolveRefs(property, components),
        ]),
      ),
    }),
    ...(schema.items && { items: resolveRefs(schema.items, components) }),
  };
}

interface OpenApiOperation {
  "x-min-role"?: string;
  tags?: string[];
  requestBody?: { content: { "application/json": { schema: JsonSchema } } };
  parameters?: { name: string; in: string }[];
  security?: Record<string, string[]>[];
}

const MUTATING = new Set<Method>(["POST", "PUT", "PATCH", "DELETE"]);
export const isMutating = (op: Operation) => MUTATING.has(op.method);

/** Every operation in `/openapi.json`. */
export async function documentedOperations(): Promise<Operation[]> {
  const res = await api<{
    paths: Record<string, Record<string, OpenApiOperation>>;
    components: { schemas: Record<string, JsonSchema> };
  }>("GET", "/openapi.json");
  if (res.status !== 200) throw new Error(`/openapi.json answered ${res.status}`);
  const components = res.body.components.schemas;
  return Object.entries(res.body.paths).flatMap(([path, methods]) =>
    Object.entries(methods).map(([method, op]) => {
      const minRole = op["x-min-role"];
      if (minRole !== undefined && !(ROLES as readonly string[]).includes(minRole)) {
        throw new Error(`${method} ${path} has an unknown x-min-role ${minRole}`);
      }
      return {
        id: `${method.toUpperCase()} ${path}`,
        method: method.toUpperCase() as Method,
        path,
        minRole: minRole as Role | undefined,
        hasBody: op.requestBody !== undefined,
        queryParams: (op.parameters ?? []).filter((p) => p.in === "query").map((p) => p.name),
        security: (op.security ?? []).flatMap((s) => Object.keys(s)),
        bodySchema:
          op.requestBody && resolveRefs(op.requestBody.content["application/json"].schema, components),
        tags: op.tags ?? [],
      };
    }),
  );
}

/** `"METHOD /path/{param}"` for every handler the app registered (middleware entries left out). */
export function registeredOperationIds(): string[] {
  const ids = buildApp()
    .routes.filter((route) => route.method !== "ALL")
    .map((route) => `${route.method} ${route.path.replaceAll(/:(\w+)/g, "{$1}")}`);
  return [...new Set(ids)].sort();
}

/** The operation's path with the workspace filled in, and every other parameter set to `id`. */
export function concretePath(op: Operation, workspaceId: string, id = "svc_doesnotexist00"): string {
  return op.path.replace("{workspace_id}", workspaceId).replaceAll(/\{\w+\}/g, id);
}

export const roleRank = (role: Role) => ROLES.indexOf(role);
export const rolesBelow = (role: Role) => ROLES.filter((r) => roleRank(r) < roleRank(role));
export const rolesAtOrAbove = (role: Role) => ROLES.filter((r) => roleRank(r) >= roleRank(role));
