/** Publishing to a workspace's live event stream (through its `WorkspaceHub`). */
import type { WorkspaceEvent, WorkspaceEventInput } from "../shared/events/workspace-events";

export function workspaceHub(env: Env, workspaceId: string) {
  return env.WORKSPACE_HUB.get(env.WORKSPACE_HUB.idFromName(workspaceId));
}

/** Publishes an event; a hub that cannot be reached is logged, never fails the change that caused it. */
export async function publish(
  env: Env,
  workspaceId: string,
  event: WorkspaceEventInput,
): Promise<WorkspaceEvent | null> {
  try {
    return await workspaceHub(env, workspaceId).publish(event);
  } catch (err) {
    console.error(
      JSON.stringify({
        level: "error",
        event: "hub.publish_failed",
        workspaceId,
        type: event.type,
        error: err instanceof Error ? err.name : "Error",
      }),
    );
    return null;
  }
}
