/**
 * `/openapi.json` (OpenAPI 3.1, generated from the same zod schemas that validate requests) and
 * `/docs`, a readable reference rendered from it at the edge with no third-party scripts.
 */
import type { OpenAPIHono } from "@hono/zod-openapi";
import { html, raw } from "hono/html";
import type { AppEnv } from "../env";
import { MIN_ROLE_EXTENSION } from "./router";

interface Operation {
  summary?: string;
  description?: string;
  tags?: string[];
  [MIN_ROLE_EXTENSION]?: string;
  parameters?: { name: string; in: string; required?: boolean; schema?: unknown }[];
  requestBody?: { content?: Record<string, { schema?: unknown }> };
  responses?: Record<string, { description?: string }>;
}

type Document = {
  paths: Record<string, Record<string, Operation>>;
  components?: { schemas?: Record<string, unknown> };
};

/**
 * zod-to-openapi writes a regex that has flags as `^...$/u` (`RegExp#toString` minus its first slash),
 * which no client can use. A regex source never holds an unescaped `/`, so a trailing `/<flags>` is
 * always that artefact; JSON Schema patterns are read with Unicode semantics anyway.
 */
function stripRegexFlags(node: unknown): void {
  if (Array.isArray(node)) {
    for (const item of node) stripRegexFlags(item);
  } else if (node && typeof node === "object") {
    const record = node as Record<string, unknown>;
    for (const [key, value] of Object.entries(record)) {
      if (key === "pattern" && typeof value === "string") {
        record[key] = value.replace(/(?<!\\)\/[dgimsuvy]+$/, "");
      } else {
        stripRegexFlags(value);
      }
    }
  }
}

export function openApiDocument(app: OpenAPIHono<AppEnv>) {
  app.openAPIRegistry.registerComponent("securitySchemes", "ApiKey", {
    type: "http",
    scheme: "bearer",
    description: "An API key (`sb_...`) created under Settings → API keys; scoped to one workspace and role.",
  });
  app.openAPIRegistry.registerComponent("securitySchemes", "SessionCookie", {
    type: "apiKey",
    in: "cookie",
    name: "sb_session",
    description: "The dashboard session set by POST /auth/login.",
  });
  const document = app.getOpenAPI31Document({
    openapi: "3.1.0",
    info: {
      title: "Switchboard API",
      version: "1",
      description:
        "Every `/v1/{workspace_id}/...` route needs an API key or a session with a role in that workspace " +
        "(viewer < operator < admin < owner; each operation's minimum is its `x-min-role`). Errors are always " +
        '`{"error":{"code","message","details"}}`. Lists take `limit` (1-100), `offset`, or `continuation_token`.',
    },
  }) as unknown as Document;
  stripRegexFlags(document);
  return document;
}

const json = (value: unknown) => JSON.stringify(value, null, 2);

export function renderDocsPage(doc: Document) {
  const byTag = new Map<string, { method: string; path: string; op: Operation }[]>();
  for (const [path, methods] of Object.entries(doc.paths)) {
    for (const [method, op] of Object.entries(methods)) {
      const tag = op.tags?.[0] ?? "Other";
      byTag.set(tag, [...(byTag.get(tag) ?? []), { method: method.toUpperCase(), path, op }]);
    }
  }
  const sections = [...byTag].map(
    ([tag, ops]) => html`<section>
      <h2 id="${tag.toLowerCase().replaceAll(" ", "-")}">${tag}</h2>
      ${ops.map(
        ({ method, path, op }) => html`<details>
          <summary><code class="m ${method.toLowerCase()}">${method}</code> <code>${path}</code> — ${op.summary ?? ""}
            ${op[MIN_ROLE_EXTENSION] ? html`<span class="role">${op[MIN_ROLE_EXTENSION]}+</span>` : ""}</summary>
          ${op.description ? html`<p>${op.description}</p>` : ""}
          ${
            op.parameters?.length
              ? html`<h4>Parameters</h4><ul>${op.parameters.map((p) => html`<li><code>${p.name}</code> (${p.in}${p.required ? ", required" : ""})</li>`)}</ul>`
              : ""
          }
          ${
            op.requestBody?.content?.["application/json"]
              ? html`<h4>Body</h4><pre>${json(op.requestBody.content["application/json"].schema)}</pre>`
              : ""
          }
          <h4>Responses</h4>
          <ul>${Object.entries(op.responses ?? {}).map(([code, r]) => html`<li><code>${code}</code> ${r.description ?? ""}</li>`)}</ul>
        </details>`,
      )}
    </section>`,
  );
  return html`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>Switchboard API reference</title>
<style>${raw(`body{font:15px/1.5 system-ui,sans-serif;max-width:980px;margin:2rem auto;padding:0 1rem;color:#1b1f24}
code{font:13px ui-monospace,monospace}pre{background:#f4f6f8;padding:.75rem;overflow:auto;font-size:12px}
details{border:1px solid #d8dee4;border-radius:6px;margin:.4rem 0;padding:.4rem .8rem}summary{cursor:pointer}
.m{display:inline-block;min-width:4.2em;font-weight:700}.get{color:#0a6b2d}.post{color:#0b57d0}.patch{color:#8a5a00}.delete{color:#b3261e}
.role{float:right;font-size:12px;background:#eef1f4;border-radius:4px;padding:0 .4rem}`)}</style></head>
<body><h1>Switchboard API reference</h1>
<p>Machine-readable: <a href="/openapi.json">/openapi.json</a> (OpenAPI 3.1).</p>
<p>Authenticate with <code>Authorization: Bearer sb_…</code> (an API key) or the dashboard session cookie.
Errors are <code>{"error":{"code","message","details"}}</code>. The badge on each operation is the minimum role.</p>
<nav>${[...byTag.keys()].map((t) => html`<a href="#${t.toLowerCase().replaceAll(" ", "-")}">${t}</a> · `)}</nav>
${sections}
</body></html>`;
}
