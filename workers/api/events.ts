/**
 * The workspace's live event stream and the operators' call queue, both served by its `WorkspaceHub`.
 *
 * - `GET /v1/{ws}/events/stream` (viewer): Server-Sent Events. Credentials: the session cookie (a
 *   same-origin `EventSource` sends it), an API key (servers), or a one-time `ticket` query parameter
 *   from `POST /v1/{ws}/events/tickets`. `Last-Event-ID` (or `last_event_id`, for clients that cannot
 *   set headers; the header wins) replays what was missed; `types` filters; `replay_only=true` replays
 *   and ends (polling integrators, and the route-enumeration tests, which read bodies to the end).
 * - `POST /v1/{ws}/events/tickets` (viewer): a ticket for one stream, valid 60 s. Audited (it is a
 *   credential); the `jti` is the audit row's target.
 * - `GET /v1/{ws}/queue` (operator): the live calls, most urgent first, with the verified caller's name.
 */
import { z } from "@hono/zod-openapi";
import { EVENT_STREAM_TYPE } from "../../shared/events/sse";
import { WORKSPACE_EVENT_TYPES, type WorkspaceEventType } from "../../shared/events/workspace-events";
import { WorkspaceParams } from "../../shared/schemas/common";
import { QueueSchema, StreamTicketSchema } from "../../shared/schemas/operators";
import { ApiError } from "../errors";
import {
  issueStreamTicket,
  openStream,
  STREAM_TICKET_TTL_SECONDS,
  type TicketSubject,
  workspaceHub,
} from "../events";
import { audited } from "./audited";
import { jsonResponse, router, workspaceRoute } from "./router";

const EventId = z.string().regex(/^\d{1,15}$/, "an event id is a non-negative integer");

const StreamQuery = z.object({
  last_event_id: EventId.optional().meta({
    description: "Replay the events after this id (the `Last-Event-ID` header takes precedence)",
  }),
  types: z
    .string()
    .max(1000)
    .optional()
    .meta({ description: "Only these event types, comma-separated (`call.updated,call.escalated`)" }),
  replay_only: z
    .enum(["true", "false"])
    .optional()
    .meta({ description: "`true`: replay the events after the last id, then end the stream" }),
  ticket: z.string().max(2048).optional().meta({
    description: "A one-time ticket from `POST /v1/{workspace_id}/events/tickets`, instead of credentials",
  }),
});

const StreamHeaders = z.object({
  "last-event-id": EventId.optional().meta({ description: "The id of the last event the client received" }),
});

/** `a,b` → the event types, each checked (a name the stream does not know is a 400). */
function typesOf(list: string | undefined): WorkspaceEventType[] | null {
  if (list === undefined || list.trim() === "") return null;
  const types = [...new Set(list.split(",").map((t) => t.trim()))];
  const unknown = types.filter((t) => !(WORKSPACE_EVENT_TYPES as readonly string[]).includes(t));
  if (unknown.length > 0) {
    throw new ApiError("validation_failed", `Unknown event type: ${unknown[0]}`, {
      issues: [{ location: "query", path: "types", code: "invalid_value", message: "not an event type" }],
    });
  }
  return types as WorkspaceEventType[];
}

export const eventsApi = router()
  .openapi(
    workspaceRoute("viewer", {
      method: "get",
      path: "/v1/{workspace_id}/events/stream",
      tags: ["Events"],
      summary: "The workspace's live events (Server-Sent Events)",
      description:
        "A `text/event-stream`: a `retry: 3000` line, then each event as `id`, `event` (its type) and `data` " +
        "(`{id, type, at, data}`), and a `: heartbeat` comment every 30 s. Reconnect with `Last-Event-ID` " +
        "(or `last_event_id`) to get exactly the events missed; when they are older than the buffer (at least " +
        "10 minutes, or the newest 5000 events), an `overflow` event (`{oldest_id, requested_id}`) says to " +
        "refetch state first. A client that reads too slowly gets its oldest undelivered events dropped and an " +
        "`overflow` event. `EventSource` cannot send `Authorization`: use the session cookie, or a one-time " +
        "`ticket` from `POST /v1/{workspace_id}/events/tickets`.",
      request: { params: WorkspaceParams, query: StreamQuery, headers: StreamHeaders },
      responses: {
        200: {
          description: "The event stream",
          content: { [EVENT_STREAM_TYPE]: { schema: z.string() } },
        },
      },
    }),
    async (c) => {
      const { workspace_id } = c.req.valid("param");
      const query = c.req.valid("query");
      const header = c.req.valid("header")["last-event-id"];
      const last = header ?? query.last_event_id;
      const principal = c.get("principal");
      const response = await openStream(c.env, workspace_id, {
        lastEventId: last === undefined ? null : Number(last),
        types: typesOf(query.types),
        replayOnly: query.replay_only === "true",
        // A signed-in operator's open stream is their presence (durable-objects/workspace-hub.ts).
        userId: principal.kind === "user" ? principal.userId : null,
      });
      return response as never;
    },
  )
  .openapi(
    workspaceRoute("viewer", {
      method: "post",
      path: "/v1/{workspace_id}/events/tickets",
      tags: ["Events"],
      summary: "A one-time ticket to open the event stream",
      description:
        "For clients that cannot send credentials with the stream request (a browser `EventSource` on " +
        `another origin): open \`stream_url\` within ${STREAM_TICKET_TTL_SECONDS} s. The ticket opens one stream, ` +
        "of this workspace, while the session or API key that asked for it is live.",
      request: { params: WorkspaceParams },
      responses: { 201: jsonResponse(StreamTicketSchema, "The ticket") },
    }),
    async (c) => {
      const { workspace_id } = c.req.valid("param");
      const principal = c.get("principal");
      const subject: TicketSubject =
        principal.kind === "user"
          ? {
              kind: "user",
              userId: principal.userId,
              sessionId: principal.sessionId,
              mfaVerified: principal.mfaVerified,
            }
          : { kind: "api_key", keyId: principal.keyId };
      const { ticket, jti, expiresAt } = await issueStreamTicket(c.env, {
        workspaceId: workspace_id,
        role: c.get("access").role,
        subject,
      });
      await audited(
        c,
        {
          action: "events.ticket_issued",
          targetType: "event_stream_ticket",
          targetId: jti,
          details: { expires_at: expiresAt.toISOString() },
        },
        [],
      );
      const streamUrl = new URL(`/v1/${workspace_id}/events/stream`, c.req.url);
      streamUrl.searchParams.set("ticket", ticket);
      return c.json({ ticket, expires_at: expiresAt.toISOString(), stream_url: streamUrl.toString() }, 201);
    },
  )
  .openapi(
    workspaceRoute("operator", {
      method: "get",
      path: "/v1/{workspace_id}/queue",
      tags: ["Operators"],
      summary: "The live calls, most urgent first",
      description:
        "Every live call with its overlay, urgency (0..1, computed now: waiting time moves), the reasons " +
        "behind it, and the verified caller's name. `last_event_id`: stream from there to stay current.",
      request: { params: WorkspaceParams },
      responses: { 200: jsonResponse(QueueSchema, "The queue") },
    }),
    async (c) => {
      const { workspace_id } = c.req.valid("param");
      return c.json(await workspaceHub(c.env, workspace_id).liveQueue(), 200);
    },
  );
