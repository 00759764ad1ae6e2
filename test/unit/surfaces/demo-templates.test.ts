/** The forms the product ships: the demo templates and every path the agent and the scanner ask for. */
import { describe, expect, it } from "vitest";
import { DEMO_TEMPLATES } from "../../../scripts/demo-templates";
import { PATH_FIELDS, specForPaths } from "../../../shared/surfaces/from-paths";
import { SurfaceSpec } from "../../../shared/surfaces/spec";
import { specProblems } from "../../../shared/surfaces/validate";

describe("shipped forms", () => {
  it.each(DEMO_TEMPLATES.map((t) => [t.name, t] as const))("%s is a valid spec", (_name, template) => {
    expect(specProblems(SurfaceSpec.parse(template.spec))).toEqual([]);
  });

  it("every known path alone, and all of them together, make a valid spec", () => {
    for (const path of Object.keys(PATH_FIELDS))
      expect(specProblems(specForPaths([path])!), path).toEqual([]);
    expect(specProblems(specForPaths(Object.keys(PATH_FIELDS))!)).toEqual([]);
  });

  it("asks for what is missing only, and for nothing it does not know", () => {
    expect(specForPaths(["coverage.aetna"])!.fields.map((f) => f.key)).toContain("insurance_member_id");
    expect(specForPaths(["something.unknown"])).toBeNull();
  });
});
