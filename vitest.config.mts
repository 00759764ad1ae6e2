import path from "node:path";
import { cloudflareTest, readD1Migrations } from "@cloudflare/vitest-plugin";
import { defineConfig } from "vitest/config";

/** Secrets for the test runtime only; `npm start` writes real random ones to .dev.vars. */
export const TEST_SECRETS = {
  SESSION_SECRET: "test-session-secret-0123456789abcdef0123456789abcdef",
  ENCRYPTION_KEY: "dGVzdC1lbmNyeXB0aW9uLWtleS0wMTIzNDU2Nzg5YWI",
  SIGNING_SECRET: "test-signing-secret-0123456789abcdef0123456789",
  TWILIO_AUTH_TOKEN: "test-twilio-auth-token",
  DEMO_API_KEY: "",
};

export default defineConfig(async () => {
  const migrations = await readD1Migrations(path.join(import.meta.dirname, "migrations"));
  return {
    plugins: [
      cloudflareTest({
        wrangler: { configPath: "./wrangler.toml" },
        miniflare: { bindings: { ...TEST_SECRETS, TEST_MIGRATIONS: migrations } },
      }),
    ],
    test: {
      include: ["test/**/*.test.ts"],
      exclude: ["test/e2e/**", "test/sandbox/**"],
      setupFiles: ["./test/setup/apply-migrations.ts"],
      globalSetup: ["./test/setup/ehr-sandbox.ts"],
      // One worker for all files: per-file start-up dominated the run. Tests use fresh workspace ids,
      // so sharing storage across files is safe.
      isolate: false,
    },
  };
});
