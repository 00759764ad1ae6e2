import { defineConfig } from "vitest/config";

/**
 * Tests in Node against real servers, as two projects so each starts only what it needs:
 * - `e2e`: the real local platform (`wrangler dev` with the demo seed, on its own port and state
 *   folder), driving Debian's Chromium through playwright-core;
 * - `sandbox`: the local FHIR R4 EHR sandbox (`ehr-sandbox/`), each file on its own port (8110+).
 * `vitest run --config vitest.e2e.config.mts test/sandbox` runs the sandbox suite alone, without the
 * platform: a project's global setup runs only when it has files to test.
 */
export default defineConfig({
  test: {
    fileParallelism: false,
    projects: [
      {
        test: {
          name: "e2e",
          include: ["test/e2e/**/*.e2e.ts"],
          globalSetup: ["./test/e2e/global-setup.ts"],
          testTimeout: 60_000,
          hookTimeout: 180_000,
        },
      },
      {
        test: {
          name: "sandbox",
          include: ["test/sandbox/**/*.test.ts"],
          testTimeout: 30_000,
          hookTimeout: 30_000,
        },
      },
    ],
  },
});
