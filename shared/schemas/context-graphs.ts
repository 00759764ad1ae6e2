/**
 * Context graph versions and knowledge entries as the API accepts and shows them. A graph travels as a
 * JSON object and is checked by shared/calls/context-graph.ts in the route, so a refused graph comes
 * back as 422 with every reason and its path, rather than the first shape error.
 */
import { z } from "zod";
import { KNOWLEDGE_KINDS } from "../calls/context-graph";
import { Description, ResourceId, Timestamp, WorkspaceId } from "./common";

export const ServiceParams = z.object({ workspace_id: WorkspaceId, service_id: ResourceId });
export const GraphVersionParams = ServiceParams.extend({
  version: z.coerce.number().int().min(1).max(1_000_000),
});
export const KnowledgeItemParams = ServiceParams.extend({ id: ResourceId });

const GraphObject = z.record(z.string(), z.unknown()).meta({
  description: "A context graph (see shared/calls/context-graph.ts): states, exits, tools, behaviors",
});

export const ContextGraphSummarySchema = z
  .object({
    id: ResourceId,
    workspace_id: z.string(),
    service_id: ResourceId,
    version: z.number().int(),
    note: z.string(),
    active: z.boolean().meta({ description: "Whether the service answers with this version" }),
    created_by: z.string().nullable(),
    created_at: Timestamp,
  })
  .meta({ id: "ContextGraphSummary" });

export const ContextGraphVersionSchema = ContextGraphSummarySchema.extend({ graph: GraphObject }).meta({
  id: "ContextGraphVersion",
});

export const ContextGraphVersionList = z
  .object({ results: z.array(ContextGraphSummarySchema), total: z.number().int() })
  .meta({ id: "ContextGraphVersionList" });

export const ContextGraphListQuery = z.object({
  limit: z.coerce.number().int().min(1).max(100).default(50),
  offset: z.coerce.number().int().min(0).max(100_000).default(0),
});

export const ContextGraphCreate = z
  .strictObject({
    graph: GraphObject,
    note: Description.default(""),
    activate: z
      .boolean()
      .default(false)
      .meta({ description: "Also make this version the service's active graph" }),
  })
  .meta({ id: "ContextGraphCreate" });

export const KnowledgeKindSchema = z.enum(KNOWLEDGE_KINDS).meta({ id: "KnowledgeKind" });

const KnowledgeTitle = z
  .string()
  .trim()
  .min(1)
  .max(200)
  .regex(/^[^\p{Cc}<>]*$/u, "may not contain control characters or < >");
const KnowledgeBody = z
  .string()
  .trim()
  .min(1)
  .max(8000)
  .regex(/^(?:[^\p{Cc}<>]|[\t\n\r])*$/u, "may not contain control characters or < >");
const Keywords = z
  .array(
    z
      .string()
      .trim()
      .min(1)
      .max(64)
      .regex(/^[\p{L}\p{N} '-]+$/u, "letters, digits, spaces, ' and -")
      .transform((k) => k.toLowerCase()),
  )
  .max(50)
  .meta({ description: "Words and phrases a caller's question is matched on" });

export const KnowledgeEntrySchema = z
  .object({
    id: ResourceId,
    workspace_id: z.string(),
    service_id: ResourceId,
    kind: KnowledgeKindSchema,
    title: z.string(),
    body: z.string(),
    keywords: z.array(z.string()),
    created_at: Timestamp,
    updated_at: Timestamp,
  })
  .meta({ id: "KnowledgeEntry" });

export const KnowledgeCreate = z
  .strictObject({
    kind: KnowledgeKindSchema,
    title: KnowledgeTitle,
    body: KnowledgeBody,
    keywords: Keywords.default([]),
  })
  .meta({ id: "KnowledgeCreate" });

export const KnowledgeUpdate = z
  .strictObject({
    kind: KnowledgeKindSchema.optional(),
    title: KnowledgeTitle.optional(),
    body: KnowledgeBody.optional(),
    keywords: Keywords.optional(),
  })
  .refine((v) => Object.keys(v).length > 0, "nothing to update")
  .meta({ id: "KnowledgeUpdate" });

export const KnowledgeListQuery = z.object({
  kind: KnowledgeKindSchema.optional(),
  limit: z.coerce.number().int().min(1).max(100).default(50),
  offset: z.coerce.number().int().min(0).max(100_000).default(0),
  continuation_token: z.string().max(512).optional(),
});

export { KNOWLEDGE_KINDS, type KnowledgeKind } from "../calls/context-graph";
