import { defineConfig } from "drizzle-kit";

/** The schema is the source; `npm run db:generate` writes the SQL migrations that wrangler applies. */
export default defineConfig({
  dialect: "sqlite",
  schema: "./workers/db/schema.ts",
  out: "./migrations",
});
