/**
 * What an operator does to a call while it is live, through its `CallSession`, and the record it leaves
 * in `operator_assignments` (workers/operators/assignments.ts). Every action asks the session first; when
 * the session refuses (the call is over) nothing is written. The change and its audit row go through
 * `audited` together. Audit rows and events carry lengths, outcomes and ids, never what was said or noted.
 *
 * - `POST …/guidance`: hidden instructions the agent works into its next reply (a double-quoted sentence is
 *   said as written by the LocalEngine; WorkersAiEngine reads the text as an instruction).
 * - `POST …/connect`: the operator opened the call (an escalation waiting for someone becomes connected);
 *   the first operator takes the call's escalation row, later ones get their own. Idempotent.
 * - `GET …/listen`: the listen socket (WebSocket; the session cookie works from the dashboard's origin).
 *   A first connection to a live call is recorded as `connect` records it; a call that just ended still
 *   shows its final view, recording nothing.
 * - `POST …/takeover`, `…/say`, `…/handback`, `…/transfer`: control of what the caller hears. Only a
 *   registered operator (or an API key) takes over; only the operator in control speaks; any operator can
 *   hand the call back to the agent (the time in control is counted on the row of whoever had it).
 * - `POST …/wrapup`: the operator's outcome and notes (sealed), also after the call ended; once each.
 *
 * The operator is `actorOf(c).actorId`: a user id, or the id of the API key an integration acts with.
 */
import { z } from "@hono/zod-openapi";
import type { Context } from "hono";
import { OPERATOR_HEADER } from "../../durable-objects/call-operators";
import type { LiveControl } from "../../shared/operators/live";
import { ErrorBodySchema, WorkspaceItemParams } from "../../shared/schemas/common";
import {
  LiveControlSchema,
  OperatorSay,
  TransferCreate,
  WrapupCreate,
  WrapupSchema,
} from "../../shared/schemas/operators";
import { normalizeE164 } from "../../shared/tenancy/phone";
import { callSession } from "../calls/session-client";
import { findCall, isTerminalStatus } from "../db/calls";
import { database } from "../db/client";
import { findOperator, setOperatorStatus } from "../db/operators";
import { abortUnlessChanged } from "../db/review";
import type { AppEnv } from "../env";
import { ApiError, notFound } from "../errors";
import { publish } from "../events";
import {
  connectStatements,
  findAssignment,
  handbackStatement,
  sealNotes,
  takeoverStatements,
  transferStatements,
  wrapupStatements,
} from "../operators/assignments";
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

const OperatorSaid = z.object({ call_id: z.string(), spoken: z.literal(true) }).meta({ id: "OperatorSaid" });

type Ctx = Context<AppEnv>;
type CallRow = NonNullable<Awaited<ReturnType<typeof findCall>>>;
type Terminal = Parameters<typeof isTerminalStatus>[0];

const callIsOver = () =>
  new ApiError("conflict", "This call is over: this action applies to live calls only");

/** The call in this workspace (404), or 409 when its record says it is over. */
async function liveCallRow(c: Ctx, workspaceId: string, callId: string): Promise<CallRow> {
  const call = await findCall(database(c.env.DB), workspaceId, callId);
  if (!call) throw notFound("Call");
  if (isTerminalStatus(call.status as Terminal)) throw callIsOver();
  return call;
}

/** The session's answer, or 409 when it refused (the call ended there first). */
function accepted(control: LiveControl | null): LiveControl {
  if (!control) throw callIsOver();
  return control;
}

/** The caller as an operator of this call: whose row the action writes. */
function assignmentKey(c: Ctx, call: CallRow) {
  return {
    workspaceId: call.workspaceId,
    callId: call.id,
    serviceId: call.serviceId,
    operatorUserId: actorOf(c).actorId,
  };
}

/**
 * The caller's entry in the operators registry: null for a user who is not registered, undefined for an
 * API key (keys have no registry entry).
 */
async function registeredOperator(c: Ctx, workspaceId: string) {
  const principal = c.get("principal");
  if (principal.kind !== "user") return undefined;
  return (await findOperator(database(c.env.DB), workspaceId, principal.userId)) ?? null;
}

/** Records the caller's connection (once per operator and call) with its audit row. */
function recordConnect(c: Ctx, call: CallRow, via: "connect" | "listen") {
  return audited(
    c,
    { action: "call.operator_connected", targetType: "call", targetId: call.id, details: { via } },
    connectStatements(database(c.env.DB), assignmentKey(c, call), new Date().toISOString()),
  );
}

const statusChanged = (c: Ctx, workspaceId: string, userId: string, status: "online" | "busy") =>
  publish(c.env, workspaceId, { type: "operator.status", data: { operator_user_id: userId, status } });

const controlResponses = (description: string, status: 200 | 202 = 200) => ({
  [status]: jsonResponse(LiveControlSchema, description),
  409: jsonResponse(ErrorBodySchema, "The call is over, or the action does not fit who is in control"),
});

export const liveCallsApi = router()
  .openapi(
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
      // Other operators on the call see that guidance went in (its length, never its words).
      await publish(c.env, workspace_id, {
        type: "operator.guidance",
        data: { call_id: id, operator_user_id: actorOf(c).actorId, length: text.length },
      });
      return c.json({ call_id: id, accepted: true as const, applies_to: "next_reply" as const }, 202);
    },
  )
  .openapi(
    workspaceRoute("operator", {
      method: "post",
      path: "/v1/{workspace_id}/calls/{id}/connect",
      tags: ["Calls"],
      summary: "Join a live call as an operator",
      description:
        "The operator opened the call: an escalation waiting for someone becomes connected, and the connection " +
        "is recorded (once per operator and call; connecting again changes nothing). The dashboard calls this " +
        "before it opens the listen socket. 409 once the call is over.",
      request: { params: WorkspaceItemParams },
      responses: controlResponses("The call's control state"),
    }),
    async (c) => {
      const { workspace_id, id } = c.req.valid("param");
      const call = await liveCallRow(c, workspace_id, id);
      const control = accepted(
        await callSession(c.env, id).connectOperator({ operator: actorOf(c).actorId }),
      );
      await recordConnect(c, call, "connect");
      return c.json(control, 200);
    },
  )
  // A WebSocket upgrade rather than a JSON operation, documented like every /v1 route so the security
  // suites check its authentication, workspace scoping and role.
  .openapi(
    workspaceRoute("operator", {
      method: "get",
      path: "/v1/{workspace_id}/calls/{id}/listen",
      tags: ["Live call sockets"],
      summary: "Listen to a call",
      description:
        "A WebSocket upgrade (`Upgrade: websocket`; the session cookie works from the dashboard's own origin). " +
        "The call's session sends a `snapshot` frame (transcript so far, risk and emotion timeline, control), " +
        "then `turn`, `point`, `overlay`, `control`, `audio` (Media Streams calls) and `ended` frames. The caller " +
        "never knows. A first connection to a live call is recorded as `POST /connect` records it; a call that " +
        "just ended still shows its final snapshot. 426 without the upgrade header.",
      request: { params: WorkspaceItemParams },
      responses: {
        101: { description: "Switching Protocols: the listen socket" },
        426: jsonResponse(ErrorBodySchema, "Not a WebSocket upgrade"),
      },
    }),
    async (c) => {
      const { workspace_id, id } = c.req.valid("param");
      // A page on another site may not open a socket with the operator's cookie.
      const origin = c.req.header("Origin");
      if (origin && origin !== new URL(c.req.url).origin)
        throw new ApiError("forbidden", "Cross-origin sockets are not allowed");
      if (c.req.header("Upgrade")?.toLowerCase() !== "websocket")
        throw new ApiError(
          "upgrade_required",
          "This is a WebSocket: open it with `Upgrade: websocket`",
          null,
          {
            Upgrade: "websocket",
          },
        );
      const db = database(c.env.DB);
      const call = await findCall(db, workspace_id, id);
      if (!call) throw notFound("Call");
      const operator = actorOf(c).actorId;
      const session = callSession(c.env, id);
      // Reconnects after a network blip are frequent: only the first connection is recorded.
      const live = !isTerminalStatus(call.status as Terminal);
      if (live && !(await findAssignment(db, assignmentKey(c, call)))?.connectedAt) {
        if (await session.connectOperator({ operator })) await recordConnect(c, call, "listen");
      }
      const res = await session.fetch("https://call-session/listen", {
        headers: { Upgrade: "websocket", [OPERATOR_HEADER]: operator },
      });
      if (res.status === 410) throw callIsOver();
      if (res.status !== 101 || !res.webSocket)
        throw new ApiError("conflict", "This call has no live session to listen to");
      return new Response(null, { status: 101, webSocket: res.webSocket }) as never;
    },
  )
  .openapi(
    workspaceRoute("operator", {
      method: "post",
      path: "/v1/{workspace_id}/calls/{id}/takeover",
      tags: ["Calls"],
      summary: "Take over a live call",
      description:
        "The operator speaks to the caller from now on (`POST /say`); the agent stops replying but keeps " +
        "listening, scoring risk and emotion, so a hand-back resumes with the whole conversation. Users must be " +
        "registered operators (403 otherwise); their status becomes busy. 409 when another operator is in " +
        "control, or once the call is over.",
      request: { params: WorkspaceItemParams },
      responses: controlResponses("The call's control state: mode `operator`"),
    }),
    async (c) => {
      const { workspace_id, id } = c.req.valid("param");
      const call = await liveCallRow(c, workspace_id, id);
      const registered = await registeredOperator(c, workspace_id);
      if (registered === null)
        throw new ApiError(
          "forbidden",
          "Only registered operators can take over a call: an admin adds you under Operators",
        );
      const key = assignmentKey(c, call);
      const session = callSession(c.env, id);
      const current = accepted(await session.control());
      if (current.mode === "operator" && current.operator_user_id !== key.operatorUserId)
        throw new ApiError(
          "conflict",
          "Another operator is in control of this call: they hand it back first",
          {
            operator_user_id: current.operator_user_id,
          },
        );
      const control = accepted(await session.takeover({ operator: key.operatorUserId }));
      const db = database(c.env.DB);
      const becomesBusy = registered !== undefined && registered.status !== "busy";
      await audited(c, { action: "call.takeover", targetType: "call", targetId: id }, [
        ...takeoverStatements(db, key, new Date().toISOString()),
        ...(becomesBusy ? [setOperatorStatus(db, workspace_id, key.operatorUserId, "busy")] : []),
      ]);
      if (becomesBusy) await statusChanged(c, workspace_id, key.operatorUserId, "busy");
      return c.json(control, 200);
    },
  )
  .openapi(
    workspaceRoute("operator", {
      method: "post",
      path: "/v1/{workspace_id}/calls/{id}/say",
      tags: ["Calls"],
      summary: "Speak to the caller",
      description:
        "The operator's words to the caller, in the call's voice (ConversationRelay: text to speech; Media " +
        "Streams: synthesized; SMS: a text). Only the operator in control speaks: 409 otherwise, and once the " +
        "call is over. Audited with its length, never its text.",
      request: { params: WorkspaceItemParams, body: jsonBody(OperatorSay) },
      responses: {
        202: jsonResponse(OperatorSaid, "Given to the caller"),
        409: jsonResponse(ErrorBodySchema, "Not in control of the call, or the call is over"),
      },
    }),
    async (c) => {
      const { workspace_id, id } = c.req.valid("param");
      const { text } = c.req.valid("json");
      const call = await liveCallRow(c, workspace_id, id);
      const said = await callSession(c.env, id).operatorSay({ operator: actorOf(c).actorId, text });
      if (!said.spoken)
        throw said.reason === "not_in_control"
          ? new ApiError("conflict", "You are not in control of this call: take it over before speaking")
          : callIsOver();
      await audited(
        c,
        {
          action: "call.operator_said",
          targetType: "call",
          targetId: call.id,
          details: { length: text.length },
        },
        [],
      );
      return c.json({ call_id: id, spoken: true as const }, 202);
    },
  )
  .openapi(
    workspaceRoute("operator", {
      method: "post",
      path: "/v1/{workspace_id}/calls/{id}/handback",
      tags: ["Calls"],
      summary: "Hand a call back to the agent",
      description:
        "The agent resumes with the conversation intact and says a short re-entry line. Any operator can hand " +
        "the call back; the time in control is counted for the operator who had it. 409 when the agent " +
        "already has the call, or once it is over.",
      request: { params: WorkspaceItemParams },
      responses: controlResponses("The call's control state: mode `agent`"),
    }),
    async (c) => {
      const { workspace_id, id } = c.req.valid("param");
      const call = await liveCallRow(c, workspace_id, id);
      const session = callSession(c.env, id);
      const current = accepted(await session.control());
      const holder = current.mode === "operator" ? current.operator_user_id : null;
      if (!holder) throw new ApiError("conflict", "The agent already has this call: nothing to hand back");
      const control = accepted(await session.handback({ operator: actorOf(c).actorId }));
      await audited(
        c,
        { action: "call.handback", targetType: "call", targetId: id, details: { operator_user_id: holder } },
        [
          handbackStatement(
            database(c.env.DB),
            { ...assignmentKey(c, call), operatorUserId: holder },
            new Date().toISOString(),
          ),
        ],
      );
      return c.json(control, 200);
    },
  )
  .openapi(
    workspaceRoute("operator", {
      method: "post",
      path: "/v1/{workspace_id}/calls/{id}/transfer",
      tags: ["Calls"],
      summary: "Transfer a live call to another line",
      description:
        "The agent says the announcement (a default goodbye when absent), then the call is sent to `to` " +
        "(E.164, or a number that normalizes to it); `pending_transfer` is true until then. 409 once the call " +
        "is over.",
      request: { params: WorkspaceItemParams, body: jsonBody(TransferCreate) },
      responses: controlResponses("Accepted: the call moves after the announcement", 202),
    }),
    async (c) => {
      const { workspace_id, id } = c.req.valid("param");
      const body = c.req.valid("json");
      const to = normalizeE164(body.to);
      if (!to)
        throw new ApiError("validation_failed", "to is not a valid phone number", {
          issues: [
            {
              location: "json",
              path: "to",
              code: "invalid_phone_number",
              message: "not a valid phone number",
            },
          ],
        });
      const call = await liveCallRow(c, workspace_id, id);
      const key = assignmentKey(c, call);
      const control = accepted(
        await callSession(c.env, id).transfer({
          operator: key.operatorUserId,
          to,
          ...(body.announcement ? { announcement: body.announcement } : {}),
        }),
      );
      await audited(
        c,
        {
          action: "call.transfer_requested",
          targetType: "call",
          targetId: id,
          details: { announcement: body.announcement !== undefined },
        },
        transferStatements(database(c.env.DB), key, new Date().toISOString()),
      );
      return c.json(control, 202);
    },
  )
  .openapi(
    workspaceRoute("operator", {
      method: "post",
      path: "/v1/{workspace_id}/calls/{id}/wrapup",
      tags: ["Calls"],
      summary: "Wrap up a call",
      description:
        "The operator's outcome and notes for the call, live or ended (the notes are sealed with the workspace " +
        "key; the audit keeps the outcome only). A registered operator who was busy is online again. Once per " +
        "operator and call: 409 the second time.",
      request: { params: WorkspaceItemParams, body: jsonBody(WrapupCreate) },
      responses: {
        201: jsonResponse(WrapupSchema, "The wrap-up"),
        409: jsonResponse(ErrorBodySchema, "Already wrapped up by this operator"),
      },
    }),
    async (c) => {
      const { workspace_id, id } = c.req.valid("param");
      const { outcome, notes } = c.req.valid("json");
      const db = database(c.env.DB);
      const call = await findCall(db, workspace_id, id);
      if (!call) throw notFound("Call");
      const key = assignmentKey(c, call);
      const alreadyWrapped = () => new ApiError("conflict", "You have already wrapped up this call");
      if ((await findAssignment(db, key))?.wrappedAt) throw alreadyWrapped();
      const registered = await registeredOperator(c, workspace_id);
      const freed = registered?.status === "busy";
      // A live call goes back to the agent (handed back first if this operator was speaking for it).
      const released = isTerminalStatus(call.status as Terminal)
        ? null
        : await callSession(c.env, id).release({ operator: key.operatorUserId });
      const at = new Date().toISOString();
      const notesEnc = notes ? await sealNotes(c.env.ENCRYPTION_KEY, key, notes) : null;
      try {
        await audited(
          c,
          {
            action: "call.wrapped_up",
            targetType: "call",
            targetId: id,
            details: { outcome, handed_back: released?.handedBack ?? false },
          },
          [
            ...(released?.handedBack ? [handbackStatement(db, key, at)] : []),
            ...wrapupStatements(db, key, { outcome, notesEnc, at, endedAt: call.endedAt }),
            abortUnlessChanged(db),
            ...(freed ? [setOperatorStatus(db, workspace_id, key.operatorUserId, "online")] : []),
          ],
        );
      } catch (err) {
        // Another wrap-up by the same operator got there first.
        if ((await findAssignment(db, key))?.wrappedAt) throw alreadyWrapped();
        throw err;
      }
      await publish(c.env, workspace_id, {
        type: "operator.wrapup",
        data: { call_id: id, operator_user_id: key.operatorUserId, outcome },
      });
      if (freed) await statusChanged(c, workspace_id, key.operatorUserId, "online");
      return c.json({ call_id: id, operator_user_id: key.operatorUserId, outcome, wrapped_at: at }, 201);
    },
  );
