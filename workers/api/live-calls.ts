/**
 * What an operator does to a call while it is live, through its `CallSession`.
 *
 * - `POST /v1/{ws}/calls/{id}/guidance` (operator): hidden instructions the agent works into its next
 *   reply (a double-quoted sentence is said as written by the LocalEngine; WorkersAiEngine reads the
 *   text as an instruction). Audited with its length, never its text (it may name the patient). A call
 *   that is over answers 409.
 */
import { z } from "@hono/zod-openapi";
import { WorkspaceItemParams } from "../../shared/schemas/common";
import { callSession } from "../calls/session-client";
import { findCall, isTerminalStatus } from "../db/calls";
import { database } from "../db/client";
import { ApiError, notFound } from "../errors";
import { actorOf, audited } from "./audited";
import { jsonBody, jsonResponse, router, workspaceRoute } from "./router";

const GuidanceCreate = z
  .strictObject({
    text: z
      .string()
      .trim()
      .min(1)
      .max(500)
      .regex(/^[^\p{Cc}]+$/u, "may not contain control characters"),
  })
  .meta({ id: "GuidanceCreate" });

const GuidanceAccepted = z
  .object({
    call_id: z.string(),
    accepted: z.literal(true),
    applies_to: z.literal("next_reply"),
  })
  .meta({ id: "GuidanceAccepted" });

export const liveCallsApi = router().openapi(
  workspaceRoute("operator", {
    method: "post",
    path: "/v1/{workspace_id}/calls/{id}/guidance",
    tags: ["Calls"],
    summary: "Guide the agent on a live call",
    description:
      "Hidden instructions for the agent's next reply; the caller never hears them as such. A double-quoted " +
      'sentence ("Tell them the lab is closed today.") is said as written. 409 once the call is over.',
    request: { params: WorkspaceItemParams, body: jsonBody(GuidanceCreate) },
    responses: { 202: jsonResponse(GuidanceAccepted, "Given to the agent for its next reply") },
  }),
  async (c) => {
    const { workspace_id, id } = c.req.valid("param");
    const { text } = c.req.valid("json");
    const call = await findCall(database(c.env.DB), workspace_id, id);
    if (!call) throw notFound("Call");
    const over = () => new ApiError("conflict", "This call is over: guidance applies to live calls only");
    if (isTerminalStatus(call.status as Parameters<typeof isTerminalStatus>[0])) throw over();
    const { accepted } = await callSession(c.env, id).guide({ text, operator: actorOf(c).actorId });
    if (!accepted) throw over();
    await audited(
      c,
      { action: "call.guidance_sent", targetType: "call", targetId: id, details: { length: text.length } },
      [],
    );
    return c.json({ call_id: id, accepted: true as const, applies_to: "next_reply" as const }, 202);
  },
);
