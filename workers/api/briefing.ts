/**
 * `GET /v1/{ws}/calls/{id}/briefing` (operator): what an operator reads on opening a call. Situation,
 * patient context, risk and its drivers, key issues, recommended next actions and prior interactions;
 * written by Workers AI when bound (`source: "model"`), otherwise rendered from the session and the
 * world model (`source: "rules"`). PHI: operator role and above only; a read, so not audited. The linked
 * record is shown before the caller is verified (marked `verified: false`), since the operator who takes
 * the call needs it to verify them. `Server-Timing: briefing;dur=…` says how long it took.
 */
import { WorkspaceItemParams } from "../../shared/schemas/common";
import { BriefingSchema } from "../../shared/schemas/operators";
import { findCall } from "../db/calls";
import { database } from "../db/client";
import { notFound } from "../errors";
import { buildBriefing } from "../operators/briefing";
import { jsonResponse, router, workspaceRoute } from "./router";

export const briefingApi = router().openapi(
  workspaceRoute("operator", {
    method: "get",
    path: "/v1/{workspace_id}/calls/{id}/briefing",
    tags: ["Calls"],
    summary: "The operator's briefing on a call",
    description:
      "Situation, patient context, risk drivers, key issues, recommended next actions and prior interactions. " +
      "From the model when Workers AI is bound (within 800 ms, else rendered by rules: `source` says which). " +
      "A call that has ended is briefed from its record. Contains PHI: operator role and above.",
    request: { params: WorkspaceItemParams },
    responses: { 200: jsonResponse(BriefingSchema, "The briefing") },
  }),
  async (c) => {
    const { workspace_id, id } = c.req.valid("param");
    const started = performance.now();
    const call = await findCall(database(c.env.DB), workspace_id, id);
    if (!call) throw notFound("Call");
    const briefing = await buildBriefing(c.env, call);
    c.header("Server-Timing", `briefing;dur=${Math.round(performance.now() - started)}`);
    return c.json(briefing, 200);
  },
);
