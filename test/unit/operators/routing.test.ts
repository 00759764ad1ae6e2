/** Where an escalation goes: safety rules by what fired, everything else by the service's rules. */
import { describe, expect, it } from "vitest";
import { routeEscalation } from "../../../shared/operators/routing";

const rules = { operator_type: "administrative" as const, operator_skill: "billing" };

describe("routeEscalation", () => {
  it.each([
    ["safety:crisis", { type: "crisis_counselor", skill: null }],
    ["safety:stroke", { type: "clinical", skill: null }],
    ["safety:chest_pain", { type: "clinical", skill: null }],
    ["caller_request", { type: "administrative", skill: "billing" }],
    ["risk", { type: "administrative", skill: "billing" }],
    ["loop_limit", { type: "administrative", skill: "billing" }],
    ["behavior:angry_caller", { type: "administrative", skill: "billing" }],
  ])("%s → %o", (reason, route) => {
    expect(routeEscalation(reason, rules)).toEqual(route);
  });

  it("a service without a skill routes by type alone", () => {
    expect(routeEscalation("out_of_scope", { operator_type: "clinical", operator_skill: null })).toEqual({
      type: "clinical",
      skill: null,
    });
  });
});
