/**
 * Which operators an escalation goes to. A safety escalation goes by what fired (a crisis to a crisis
 * counselor, any other safety rule to a clinician) whatever the service says; everything else to the
 * service's `operator_type`, with its `operator_skill` when set.
 */
import type { OperatorType } from "../schemas/operators";

export interface EscalationRoute {
  type: OperatorType;
  skill: string | null;
}

export function routeEscalation(
  reason: string,
  rules: { operator_type: OperatorType; operator_skill: string | null },
): EscalationRoute {
  if (reason === "safety:crisis") return { type: "crisis_counselor", skill: null };
  if (reason.startsWith("safety:")) return { type: "clinical", skill: null };
  return { type: rules.operator_type, skill: rules.operator_skill };
}
