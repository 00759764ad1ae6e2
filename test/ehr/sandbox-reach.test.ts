import { describe, expect, inject, it } from "vitest";

describe("the EHR sandbox from workerd", () => {
  it("answers a FHIR search over the loopback", async () => {
    const ehr = inject("ehrSandbox");
    const res = await fetch(`${ehr.fhirBaseUrl}/Practitioner?_count=10`, {
      headers: { Authorization: `Bearer ${ehr.staticToken}`, Accept: "application/fhir+json" },
    });
    expect(res.status).toBe(200);
    const bundle = (await res.json()) as { entry: unknown[] };
    expect(bundle.entry.length).toBe(4);
  });
});
