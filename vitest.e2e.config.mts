import { defineConfig } from "vitest/config";

/**
 * End-to-end tests in Node against the real local platform (`wrangler dev` with the demo seed, on its
 * own port and state folder), driving Debian's Chromium through playwright-core.
 */
export default defineConfig({
  test: {
    include: ["test/e2e/**/*.e2e.ts"],
    globalSetup: ["./test/e2e/global-setup.ts"],
    testTimeout: 60_000,
    hookTimeout: 180_000,
    fileParallelism: false,
  },
});
