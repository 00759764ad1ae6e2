/** Every state-changing route goes through `audited`: its changes and their audit row, in one transaction. */
import type { Context } from "hono";
import { appendAudit } from "../db/audit";
import { database, type Statement } from "../db/client";
import type { AppEnv } from "../env";

export interface AuditEvent {
  action: string;
  targetType: string;
  targetId: string;
  details?: Record<string, unknown>;
}

export function audited(c: Context<AppEnv>, event: AuditEvent, changes: Statement[]): Promise<unknown[]> {
  const principal = c.get("principal");
  return appendAudit(
    database(c.env.DB),
    {
      workspaceId: c.get("access").workspaceId,
      actorType: principal.kind === "user" ? "user" : "api_key",
      actorId: principal.kind === "user" ? principal.userId : principal.keyId,
      requestId: c.get("requestId"),
      ...event,
    },
    changes,
  );
}
