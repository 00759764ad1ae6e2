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

/** Who the request acts as: the audit row's actor, and the actor of the world events it records. */
export function actorOf(c: Context<AppEnv>) {
  const principal = c.get("principal");
  return {
    actorType: principal.kind === "user" ? ("user" as const) : ("api_key" as const),
    actorId: principal.kind === "user" ? principal.userId : principal.keyId,
    requestId: c.get("requestId"),
  };
}

export function audited(c: Context<AppEnv>, event: AuditEvent, changes: Statement[]): Promise<unknown[]> {
  return appendAudit(
    database(c.env.DB),
    { workspaceId: c.get("access").workspaceId, ...actorOf(c), ...event },
    changes,
  );
}
