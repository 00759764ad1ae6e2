/**
 * `/v1/{workspace_id}/world/entities/{id}/memory...`: the patient's memory layers. The compact model
 * the agent reads at call start (L3, with the L2 patterns), and what one interaction taught us (L1, with
 * its L0 transcript).
 */
import { z } from "zod";
import { WorkspaceItemParams } from "../../shared/schemas/common";
import { InteractionId, PatientMemorySchema, SPEAKERS } from "../../shared/world/memory";
import { notFound } from "../errors";
import { interactionMemories, patientMemory } from "../world/memory";
import { jsonResponse, router, workspaceRoute } from "./router";

const tags = ["World"];

const InteractionMemoriesSchema = z
  .object({
    entity_id: z.string(),
    interaction_id: z.string(),
    interaction: z
      .record(z.string(), z.unknown())
      .nullable()
      .meta({ description: "The interaction.recorded event's data and id" }),
    memories: z.array(
      z.object({
        event_id: z.string(),
        event_type: z.string(),
        path: z.string(),
        value: z.unknown(),
        confidence: z.number(),
        source: z.string(),
        produced_by: z.string().nullable(),
        ingested_at: z.string(),
        current: z.boolean(),
        net_new: z.boolean(),
      }),
    ),
    net_new_paths: z.array(z.string()),
    transcript: z
      .array(z.object({ speaker: z.enum(SPEAKERS), text: z.string(), at: z.string() }))
      .nullable()
      .meta({ description: "The raw transcript (memory L0), when one was stored" }),
  })
  .meta({ id: "InteractionMemories" });

export const memoryApi = router()
  .openapi(
    workspaceRoute("viewer", {
      method: "get",
      path: "/v1/{workspace_id}/world/entities/{id}/memory",
      tags,
      summary: "The patient model an agent reads at call start",
      description:
        "Identity with verified flags, safety-critical facts whatever their confidence, active medications, " +
        "preferences, open tasks, the last five interactions and the episodic patterns (memory L2).",
      request: { params: WorkspaceItemParams },
      responses: { 200: jsonResponse(PatientMemorySchema, "The patient's memory") },
    }),
    async (c) => {
      const { workspace_id, id } = c.req.valid("param");
      return c.json(await patientMemory(c.env, workspace_id, id), 200);
    },
  )
  .openapi(
    workspaceRoute("viewer", {
      method: "get",
      path: "/v1/{workspace_id}/world/entities/{id}/memory/interactions/{interaction_id}",
      tags,
      summary: "What one interaction taught us: its facts, which were net-new, and its transcript",
      request: { params: WorkspaceItemParams.extend({ interaction_id: InteractionId }) },
      responses: { 200: jsonResponse(InteractionMemoriesSchema, "The interaction's memories") },
    }),
    async (c) => {
      const { workspace_id, id, interaction_id } = c.req.valid("param");
      const memories = await interactionMemories(c.env, workspace_id, id, interaction_id);
      if (!memories) throw notFound("Interaction");
      return c.json(memories, 200);
    },
  );
