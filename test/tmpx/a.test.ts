import { exports } from "cloudflare:workers";
import { it } from "vitest";
import { buildApp } from "../../workers/app";
it("a", async () => {
  const doc = (await (await exports.default.fetch("https://sb.test/openapi.json")).json()) as any;
  for (const [p, ms] of Object.entries(doc.paths)) for (const [m, op] of Object.entries(ms as any)) console.log(m, p, (op as any)["x-min-role"], !!(op as any).requestBody, JSON.stringify((op as any).security));
  const app = buildApp();
  console.log(JSON.stringify(app.routes.map((r) => [r.method, r.path])));
});
