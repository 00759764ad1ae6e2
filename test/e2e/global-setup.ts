import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import type { TestProject } from "vitest/node";
import { startLocalPlatform } from "../../scripts/local-platform";

declare module "vitest" {
  export interface ProvidedContext {
    baseUrl: string;
    demoApiKey: string;
    /** The platform's FHIR sandbox (the demo workspace's EHR data source points at it). */
    ehr: { fhirBaseUrl: string; staticToken: string };
  }
}

/** One platform for the whole e2e run, on a fresh state folder so it never touches `npm start` data. */
export default async function setup(project: TestProject) {
  const persistTo = mkdtempSync(path.join(tmpdir(), "switchboard-e2e-"));
  const port = Number(process.env.E2E_PORT ?? 8791);
  const platform = await startLocalPlatform({
    port,
    persistTo,
    ehrSandboxPort: Number(process.env.E2E_EHR_PORT ?? 8792),
  });
  project.provide("baseUrl", platform.url.replace("127.0.0.1", "localhost"));
  project.provide("demoApiKey", platform.vars.DEMO_API_KEY!);
  project.provide("ehr", {
    fhirBaseUrl: platform.ehrSandbox!.fhirBaseUrl,
    staticToken: platform.ehrSandbox!.staticToken!,
  });
  return async () => {
    await platform.stop();
    rmSync(persistTo, { recursive: true, force: true });
  };
}
