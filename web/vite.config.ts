import path from "node:path";
import { defineConfig } from "vite";

/** The dashboard: a small Preact app built to web/dist and served by the Worker as static assets. */
export default defineConfig({
  root: path.resolve(import.meta.dirname),
  build: { outDir: "dist", emptyOutDir: true, target: "es2022" },
  oxc: { jsx: { runtime: "automatic", importSource: "preact" } },
  server: { proxy: { "/v1": "http://localhost:8787", "/auth": "http://localhost:8787" } },
});
