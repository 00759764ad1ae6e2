/**
 * `/v1/{workspace_id}/operators`: the people who take escalated calls. Admins register members (operator
 * role or above) with a type and skills, which escalation routing matches (`shared/operators/routing.ts`);
 * an operator sets their own status (online, busy, offline), admins anyone's. The metrics are SQL over the
 * window's assignments and calls. Status changes are published as `operator.status` (ids only).
 */
import { z } from "zod";
import { roleAtLeast } from "../../shared/auth/roles";
import { VOLUME_WINDOWS } from "../../shared/schemas/calls";
import { listOf, PageQuery, WorkspaceParams } from "../../shared/schemas/common";
import {
  OperatorCreate,
  OperatorMetricsQuery,
  OperatorMetricsSchema,
  OperatorSchema,
  OperatorStatus,
  OperatorStatusUpdate,
  OperatorType,
  OperatorUpdate,
  OperatorUserParams,
} from "../../shared/schemas/operators";
import { database } from "../db/client";
import { findMember } from "../db/identity";
import {
  deleteOperatorStatements,
  findOperator,
  insertOperator,
  listOperatorsPage,
  type MetricsWindow,
  metricsTotals,
  type OperatorView,
  operatorMetrics,
  serviceEscalations,
  setOperatorStatus,
  updateOperator,
} from "../db/operators";
import { ApiError, notFound } from "../errors";
import { publish } from "../events";
import { audited } from "./audited";
import { encodeToken, pageFrom } from "./pagination";
import { jsonBody, jsonResponse, router, workspaceRoute } from "./router";
import { SIMULATOR_PROVIDER } from "./simulator";

const tags = ["Operators"];
const OperatorList = listOf(OperatorSchema, "OperatorList");

const OperatorListQuery = PageQuery.extend({
  status: OperatorStatus.optional(),
  type: OperatorType.optional(),
});

const MetricsQuery = OperatorMetricsQuery.extend({
  include_simulated: z
    .enum(["true", "false"])
    .transform((v) => v === "true")
    .optional()
    .meta({ description: "true: also count calls placed with the phone simulator (left out by default)" }),
});

function operatorView(row: OperatorView): z.infer<typeof OperatorSchema> {
  return {
    user_id: row.userId,
    name: row.name,
    email: row.email,
    type: row.type,
    skills: row.skills,
    status: row.status,
    status_changed_at: row.statusChangedAt,
    active_calls: Number(row.activeCalls),
    created_at: row.createdAt,
    updated_at: row.updatedAt,
  };
}

async function requireOperator(env: Env, workspaceId: string, userId: string): Promise<OperatorView> {
  const row = await findOperator(database(env.DB), workspaceId, userId);
  if (!row) throw notFound("Operator");
  return row;
}

export const operatorsApi = router()
  .openapi(
    workspaceRoute("viewer", {
      method: "get",
      path: "/v1/{workspace_id}/operators",
      tags,
      summary: "List operators",
      description: "In registration order, with each one's status and the calls they are connected to now.",
      request: { params: WorkspaceParams, query: OperatorListQuery },
      responses: { 200: jsonResponse(OperatorList, "Operators") },
    }),
    async (c) => {
      const { workspace_id } = c.req.valid("param");
      const q = c.req.valid("query");
      const { rows, total } = await listOperatorsPage(
        database(c.env.DB),
        workspace_id,
        { status: q.status, type: q.type },
        pageFrom(q),
      );
      const last = rows.at(-1);
      const token = rows.length === q.limit && last ? encodeToken([last.createdAt, last.userId]) : null;
      return c.json({ results: rows.map(operatorView), total, continuation_token: token }, 200);
    },
  )
  .openapi(
    workspaceRoute("admin", {
      method: "post",
      path: "/v1/{workspace_id}/operators",
      tags,
      summary: "Register a member as an operator",
      description:
        "The user must be a member of the workspace with the operator role or above. A new operator is offline " +
        "until they go online.",
      request: { params: WorkspaceParams, body: jsonBody(OperatorCreate) },
      responses: {
        201: jsonResponse(OperatorSchema, "The new operator"),
        409: jsonResponse(OperatorSchema, "Already an operator"),
        422: jsonResponse(OperatorSchema, "Not a member who may take calls"),
      },
    }),
    async (c) => {
      const { workspace_id } = c.req.valid("param");
      const body = c.req.valid("json");
      const db = database(c.env.DB);
      const member = await findMember(db, workspace_id, body.user_id);
      // Unknown users and other workspaces' users get the same answer: no probing for accounts.
      if (!member) {
        throw new ApiError("unprocessable", "Only a member of this workspace can be an operator", {
          field: "user_id",
        });
      }
      if (!roleAtLeast(member.role, "operator")) {
        throw new ApiError(
          "unprocessable",
          `A ${member.role} cannot take calls: give the member the operator role first`,
          { field: "user_id", role: member.role },
        );
      }
      if (await findOperator(db, workspace_id, body.user_id)) {
        throw new ApiError("conflict", "This member is already an operator", { field: "user_id" });
      }
      await audited(
        c,
        {
          action: "operator.registered",
          targetType: "operator",
          targetId: body.user_id,
          details: { type: body.type, skills: body.skills },
        },
        [insertOperator(db, { workspaceId: workspace_id, userId: body.user_id, ...body })],
      );
      return c.json(operatorView(await requireOperator(c.env, workspace_id, body.user_id)), 201);
    },
  )
  // Before `/operators/{user_id}` (which could not match it anyway: a user id starts with `usr_`).
  .openapi(
    workspaceRoute("viewer", {
      method: "get",
      path: "/v1/{workspace_id}/operators/metrics",
      tags,
      summary: "Operator metrics over a window",
      description:
        "Per operator: calls, resolutions, median time from escalation to connecting, median handle time " +
        "(connected to wrap-up) and time in control. Per service: calls and the share that escalated. Calls " +
        "placed with the phone simulator (and operators' work on them) are left out unless " +
        "`include_simulated=true`.",
      request: { params: WorkspaceParams, query: MetricsQuery },
      responses: { 200: jsonResponse(OperatorMetricsSchema, "Metrics") },
    }),
    async (c) => {
      const { workspace_id } = c.req.valid("param");
      const q = c.req.valid("query");
      const now = Date.now();
      const window: MetricsWindow = {
        from: new Date(now - VOLUME_WINDOWS[q.window]).toISOString(),
        to: new Date(now).toISOString(),
        includeSimulated: q.include_simulated ?? false,
      };
      const db = database(c.env.DB);
      const [operators, services, totals] = await Promise.all([
        operatorMetrics(db, workspace_id, window, SIMULATOR_PROVIDER),
        serviceEscalations(db, workspace_id, window, SIMULATOR_PROVIDER),
        metricsTotals(db, workspace_id, window, SIMULATOR_PROVIDER),
      ]);
      return c.json(
        {
          window: q.window,
          from: window.from,
          to: window.to,
          operators: operators.map((o) => ({
            user_id: o.userId,
            name: o.name,
            calls: o.calls,
            resolutions: o.resolutions,
            median_time_to_connect_ms: o.medianTimeToConnectMs,
            median_handle_ms: o.medianHandleMs,
            active_ms: o.activeMs,
          })),
          services: services.map((s) => ({
            service_id: s.serviceId,
            name: s.name,
            calls: s.calls,
            escalated: s.escalated,
            escalation_rate: s.calls === 0 ? 0 : s.escalated / s.calls,
          })),
          totals: {
            escalations: totals.escalations,
            connected: totals.connected,
            resolutions: totals.resolutions,
            median_time_to_connect_ms: totals.medianTimeToConnectMs,
          },
        },
        200,
      );
    },
  )
  .openapi(
    workspaceRoute("viewer", {
      method: "get",
      path: "/v1/{workspace_id}/operators/{user_id}",
      tags,
      summary: "Get an operator",
      request: { params: OperatorUserParams },
      responses: { 200: jsonResponse(OperatorSchema, "The operator") },
    }),
    async (c) => {
      const { workspace_id, user_id } = c.req.valid("param");
      return c.json(operatorView(await requireOperator(c.env, workspace_id, user_id)), 200);
    },
  )
  .openapi(
    workspaceRoute("admin", {
      method: "patch",
      path: "/v1/{workspace_id}/operators/{user_id}",
      tags,
      summary: "Change an operator's type or skills",
      request: { params: OperatorUserParams, body: jsonBody(OperatorUpdate) },
      responses: { 200: jsonResponse(OperatorSchema, "The operator") },
    }),
    async (c) => {
      const { workspace_id, user_id } = c.req.valid("param");
      const body = c.req.valid("json");
      const before = await requireOperator(c.env, workspace_id, user_id);
      await audited(
        c,
        {
          action: "operator.updated",
          targetType: "operator",
          targetId: user_id,
          details: {
            fields: Object.keys(body),
            from: { type: before.type, skills: before.skills },
            to: { type: body.type ?? before.type, skills: body.skills ?? before.skills },
          },
        },
        [updateOperator(database(c.env.DB), workspace_id, user_id, body)],
      );
      return c.json(operatorView(await requireOperator(c.env, workspace_id, user_id)), 200);
    },
  )
  .openapi(
    workspaceRoute("admin", {
      method: "delete",
      path: "/v1/{workspace_id}/operators/{user_id}",
      tags,
      summary: "Remove an operator",
      description: "The member stays in the workspace; their past calls stay in the metrics.",
      request: { params: OperatorUserParams },
      responses: {
        204: { description: "Removed" },
        409: jsonResponse(OperatorSchema, "Connected to a call"),
      },
    }),
    async (c) => {
      const { workspace_id, user_id } = c.req.valid("param");
      const before = await requireOperator(c.env, workspace_id, user_id);
      const busy = () =>
        new ApiError("conflict", "This operator is connected to a call: wrap it up first", {
          active_calls: before.activeCalls,
        });
      if (before.activeCalls > 0) throw busy();
      try {
        await audited(
          c,
          {
            action: "operator.removed",
            targetType: "operator",
            targetId: user_id,
            details: { type: before.type, status: before.status },
          },
          deleteOperatorStatements(database(c.env.DB), workspace_id, user_id),
        );
      } catch (err) {
        // The operator connected to a call (or was removed) since they were read: say how it stands.
        const now = await findOperator(database(c.env.DB), workspace_id, user_id);
        if (!now) throw notFound("Operator");
        if (now.activeCalls > 0) throw busy();
        throw err;
      }
      if (before.status !== "offline") {
        await publish(c.env, workspace_id, {
          type: "operator.status",
          data: { operator_user_id: user_id, status: "offline" },
        });
      }
      return c.body(null, 204);
    },
  )
  .openapi(
    workspaceRoute("operator", {
      method: "put",
      path: "/v1/{workspace_id}/operators/{user_id}/status",
      tags,
      summary: "Set an operator's status",
      description:
        "A person with the operator role sets their own status; admins and owners anyone's. An API key with " +
        "the operator role (a presence integration) may set any operator's.",
      request: { params: OperatorUserParams, body: jsonBody(OperatorStatusUpdate) },
      responses: { 200: jsonResponse(OperatorSchema, "The operator") },
    }),
    async (c) => {
      const { workspace_id, user_id } = c.req.valid("param");
      const { status } = c.req.valid("json");
      const principal = c.get("principal");
      const role = c.get("access").role;
      if (principal.kind === "user" && principal.userId !== user_id && !roleAtLeast(role, "admin")) {
        throw new ApiError("forbidden", "An operator may set only their own status", {
          required: "admin",
          role,
        });
      }
      const before = await requireOperator(c.env, workspace_id, user_id);
      await audited(
        c,
        {
          action: "operator.status_set",
          targetType: "operator",
          targetId: user_id,
          details: { from: before.status, to: status },
        },
        [setOperatorStatus(database(c.env.DB), workspace_id, user_id, status)],
      );
      if (before.status !== status) {
        await publish(c.env, workspace_id, {
          type: "operator.status",
          data: { operator_user_id: user_id, status },
        });
      }
      return c.json(operatorView(await requireOperator(c.env, workspace_id, user_id)), 200);
    },
  );
