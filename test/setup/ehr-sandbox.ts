import type { TestProject } from "vitest/node";
import { startEhrSandbox } from "../../ehr-sandbox/server";

declare module "vitest" {
  export interface ProvidedContext {
    ehrSandbox: { url: string; fhirBaseUrl: string; tokenUrl: string; staticToken: string };
  }
}

/**
 * One FHIR R4 sandbox (the demo clinic, slots from 2027-01-04) for the whole workerd suite, which
 * reaches it over the loopback: `inject("ehrSandbox")`. It is shared by every file, so tests create
 * their own patients and book slots no other test books (each file its own practitioner or day).
 */
export default async function setup(project: TestProject) {
  const ehr = await startEhrSandbox({
    port: Number(process.env.EHR_TEST_PORT ?? 0),
    seed: { slotsFrom: "2027-01-04" },
  });
  project.provide("ehrSandbox", {
    url: ehr.url,
    fhirBaseUrl: ehr.fhirBaseUrl,
    tokenUrl: ehr.tokenUrl,
    staticToken: ehr.staticToken ?? "",
  });
  return () => ehr.stop();
}
