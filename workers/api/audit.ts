/** `/v1/{workspace_id}/audit`: read the hash-chained audit log and prove it intact. */
import { z } from "zod";
import { listOf, PageQuery, WorkspaceParams } from "../../shared/schemas/common";
import { AuditEntrySchema, AuditVerdictSchema } from "../../shared/schemas/identity";
import { listAudit, verifyAuditChain } from "../db/audit";
import { database } from "../db/client";
import type { auditLog } from "../db/schema";
import { ApiError } from "../errors";
import { decodeToken, encodeToken } from "./pagination";
import { jsonResponse, router, workspaceRoute } from "./router";

function auditView(row: typeof auditLog.$inferSelect): z.infer<typeof AuditEntrySchema> {
  return {
    id: row.id,
    seq: row.seq,
    actor_type: row.actorType,
    actor_id: row.actorId,
    action: row.action,
    target_type: row.targetType,
    target_id: row.targetId,
    details: row.details,
    request_id: row.requestId,
    created_at: row.createdAt,
    prev_hash: row.prevHash,
    hash: row.hash,
  };
}

const Filter = z
  .string()
  .max(120)
  .regex(/^[A-Za-z0-9_.:-]+$/);
const AuditQuery = PageQuery.extend({
  action: Filter.optional(),
  actor_id: Filter.optional(),
  target_type: Filter.optional(),
  target_id: Filter.optional(),
  since: z.iso.datetime().optional(),
  until: z.iso.datetime().optional(),
});
const AuditList = listOf(AuditEntrySchema, "AuditList");
const tags = ["Audit"];

export const auditApi = router()
  .openapi(
    workspaceRoute("admin", {
      method: "get",
      path: "/v1/{workspace_id}/audit",
      tags,
      summary: "List audit entries, newest first",
      request: { params: WorkspaceParams, query: AuditQuery },
      responses: { 200: jsonResponse(AuditList, "Audit entries") },
    }),
    async (c) => {
      const { workspace_id } = c.req.valid("param");
      const q = c.req.valid("query");
      let afterSeq: number | undefined;
      if (q.continuation_token) {
        const [seq] = decodeToken(q.continuation_token);
        if (typeof seq !== "number")
          throw new ApiError("invalid_continuation_token", "Not an audit page token");
        afterSeq = seq;
      }
      const filter = {
        action: q.action,
        actorId: q.actor_id,
        targetType: q.target_type,
        targetId: q.target_id,
        // Stored times are ISO strings compared as text, so the bounds must be spelled the same way.
        since: q.since && new Date(q.since).toISOString(),
        until: q.until && new Date(q.until).toISOString(),
        afterSeq,
      };
      const offset = afterSeq === undefined ? q.offset : 0;
      const { rows, total } = await listAudit(database(c.env.DB), workspace_id, filter, q.limit, offset);
      const last = rows.at(-1);
      const token = rows.length === q.limit && last ? encodeToken([last.seq]) : null;
      return c.json({ results: rows.map(auditView), total, continuation_token: token }, 200);
    },
  )
  .openapi(
    workspaceRoute("admin", {
      method: "get",
      path: "/v1/{workspace_id}/audit/verify",
      tags,
      summary: "Recompute the hash chain and report the first broken link",
      request: { params: WorkspaceParams },
      responses: { 200: jsonResponse(AuditVerdictSchema, "The verdict") },
    }),
    async (c) => {
      const verdict = await verifyAuditChain(database(c.env.DB), c.req.valid("param").workspace_id);
      return c.json(
        verdict.intact
          ? {
              intact: true,
              checked: verdict.checked,
              last_seq: verdict.lastSeq,
              broken_at_seq: null,
              reason: null,
            }
          : {
              intact: false,
              checked: verdict.checked,
              last_seq: null,
              broken_at_seq: verdict.brokenAtSeq,
              reason: verdict.reason,
            },
        200,
      );
    },
  );
