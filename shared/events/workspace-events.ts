/**
 * The events a workspace publishes to its live stream (dashboards, integrators). One union, so a
 * publisher cannot invent a name the stream's consumers do not know. Payloads carry ids and status,
 * never PHI: a dashboard that needs a name fetches it through the API with its own permissions.
 */
import { z } from "zod";

export const WORKSPACE_EVENT_TYPES = [
  "call.started",
  "call.updated",
  "call.escalated",
  "call.ended",
  "operator.joined",
  "operator.left",
  "operator.guidance",
  "operator.takeover",
  "operator.handback",
  "operator.transfer",
  "operator.wrapup",
  "operator.status",
  "review.submitted",
  "pipeline.sync_completed",
  "pipeline.error",
  "surface.created",
  "surface.delivered",
  "surface.opened",
  "surface.submitted",
  "surface.expired",
  "surface.archived",
  "alert",
] as const;
export type WorkspaceEventType = (typeof WORKSPACE_EVENT_TYPES)[number];

export const WorkspaceEventInput = z.object({
  type: z.enum(WORKSPACE_EVENT_TYPES),
  data: z.record(z.string(), z.unknown()),
});
export type WorkspaceEventInput = z.infer<typeof WorkspaceEventInput>;

export interface WorkspaceEvent extends WorkspaceEventInput {
  /** Monotonic within the workspace: the SSE `id`, and what `Last-Event-ID` replays from. */
  id: number;
  at: string;
}
