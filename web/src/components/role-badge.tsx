import { ROLE_LABELS } from "../format";
import type { Role } from "../types";

export function RoleBadge({ role, label }: { role: Role; label?: string }) {
  return (
    <span class={`badge role-${role}`} title={label}>
      {ROLE_LABELS[role]}
    </span>
  );
}
