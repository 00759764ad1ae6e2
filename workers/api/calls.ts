/**
 * `/v1/{workspace_id}/calls`: the calls and text sessions a workspace answered, their timelines, call
 * volume per clinic number, and recordings. Calls placed with the phone simulator are marked `simulated`
 * and left out of the volume unless asked for (testing the agent is not patient demand). A recording is played through a short-lived URL
 * (`/recordings/{ws}/{call_id}?exp=…&sig=…`, HMAC-SHA256 with SIGNING_SECRET, bound to that call's
 * recording); issuing one and using one are both audited.
 */

import type { Context } from "hono";
import type { z } from "zod";
import { purposeMac } from "../../shared/crypto/hmac";
import { fromBase64Url, timingSafeEqual, toBase64Url } from "../../shared/encoding";
import {
  CallDetailSchema,
  CallListQuery,
  CallSummarySchema,
  CallVolumeSchema,
  RecordingUrlSchema,
  VOLUME_WINDOWS,
  VolumeQuery,
} from "../../shared/schemas/calls";
import { listOf, WorkspaceItemParams, WorkspaceParams } from "../../shared/schemas/common";
import { appendAudit } from "../db/audit";
import {
  type CallEventRow,
  type CallFilter,
  type CallListRow,
  callRecordingKey,
  callVolume,
  findCall,
  findCallWithContext,
  listCallEvents,
  listCallsPage,
  openFromNumber,
  workspaceNumbers,
} from "../db/calls";
import { database } from "../db/client";
import { type DeliveryRow, listCallDeliveries } from "../db/deliveries";
import type { AppEnv } from "../env";
import { ApiError, notFound } from "../errors";
import { openDisplayName } from "../world/codec";
import { audited } from "./audited";
import { decodeToken, encodeToken } from "./pagination";
import { jsonResponse, router, workspaceRoute } from "./router";
import { SIMULATOR_PROVIDER } from "./simulator";

type CallSummary = z.infer<typeof CallSummarySchema>;

/** The last four digits behind dots: enough to tell callers apart, never the whole number. */
export function maskNumber(number: string): string {
  const digits = number.replace(/\D/g, "");
  return digits.length >= 4 ? `•••• ${digits.slice(-4)}` : "••••";
}

async function callerLabel(env: Env, row: CallListRow): Promise<string | null> {
  try {
    if (row.patientEntityId && row.patientNameEnc) {
      const name = await openDisplayName(env, row.workspaceId, row.patientEntityId, row.patientNameEnc);
      if (name) return name;
    }
    if (row.fromNumberEnc) {
      return maskNumber(await openFromNumber(env.ENCRYPTION_KEY, row.workspaceId, row.id, row.fromNumberEnc));
    }
  } catch {
    // A field that does not open (a rotated key, a damaged row) shows as unknown rather than failing the list.
    return "••••";
  }
  return null;
}

async function callView(env: Env, row: CallListRow): Promise<CallSummary> {
  return {
    id: row.id,
    service: row.serviceId ? { id: row.serviceId, name: row.serviceName ?? "" } : null,
    channel: row.channel,
    direction: row.direction,
    transport: row.transport,
    simulated: row.provider === SIMULATOR_PROVIDER,
    status: row.status,
    to_number: row.toNumber,
    caller: await callerLabel(env, row),
    patient_entity_id: row.patientEntityId,
    started_at: row.startedAt,
    answered_at: row.answeredAt,
    ended_at: row.endedAt,
    duration_seconds: row.durationSeconds,
    final_state: row.finalState,
    escalated: row.escalated,
    quality_score: row.qualityScore,
  };
}

/** Event data without sealed fields (`*_enc`): the timeline shows ids and codes only. */
function eventView(row: CallEventRow) {
  const data = Object.fromEntries(Object.entries(row.data ?? {}).filter(([key]) => !key.endsWith("_enc")));
  return { id: row.id, kind: row.kind, at: row.at, data };
}

/** A message the call sent, from the outbox, as a timeline event (`sms.outbound`): status and ids only. */
function deliveryEventView(row: DeliveryRow) {
  return {
    id: row.id,
    kind: `${row.channel}.outbound`,
    at: row.createdAt,
    data: {
      status: row.status,
      provider: row.provider,
      message_sid: row.providerId,
      purpose: row.purpose,
      ...(row.errorCode ? { error_code: row.errorCode } : {}),
      ...(row.sentAt ? { sent_at: row.sentAt } : {}),
    },
  };
}

const DAY_MS = 24 * 3600_000;

/** A filter bound as stored (ISO-8601 UTC text): a bare date is its day's start (`to`: the next day's). */
function bound(value: string | undefined, endOfDay: boolean): string | undefined {
  if (!value) return undefined;
  if (/^\d{4}-\d{2}-\d{2}$/.test(value)) {
    const start = Date.parse(`${value}T00:00:00.000Z`);
    return new Date(endOfDay ? start + DAY_MS : start).toISOString();
  }
  return new Date(value).toISOString();
}

// ---------------------------------------------------------------------------------------------------------
// Signed playback URLs

/** How long a playback URL works. */
export const RECORDING_URL_TTL_SECONDS = 15 * 60;
const RECORDING_PURPOSE = "switchboard-call-recording";

function recordingMac(secret: string, workspaceId: string, callId: string, expires: number) {
  return purposeMac(secret, RECORDING_PURPOSE, workspaceId, callId, expires);
}

/** The path and query of a playback URL for a call's recording, good until `expires` (unix seconds). */
export async function signRecordingPath(
  secret: string,
  workspaceId: string,
  callId: string,
  expires: number,
): Promise<string> {
  const sig = toBase64Url(await recordingMac(secret, workspaceId, callId, expires));
  return `/recordings/${workspaceId}/${callId}?exp=${expires}&sig=${sig}`;
}

async function recordingSignatureValid(
  secret: string,
  workspaceId: string,
  callId: string,
  exp: string | undefined,
  sig: string | undefined,
  now = Date.now(),
): Promise<boolean> {
  if (!secret || !exp || !sig || !/^\d{1,12}$/.test(exp) || !/^[A-Za-z0-9_-]{43}$/.test(sig)) return false;
  const expires = Number(exp);
  let given: Uint8Array;
  try {
    given = fromBase64Url(sig);
  } catch {
    return false;
  }
  const expected = await recordingMac(secret, workspaceId, callId, expires);
  return timingSafeEqual(given, expected) && expires * 1000 > now;
}

function publicOrigin(c: Context<AppEnv>): string {
  const configured = c.env.PUBLIC_BASE_URL?.trim().replace(/\/+$/, "");
  return configured || new URL(c.req.url).origin;
}

// ---------------------------------------------------------------------------------------------------------

const CallList = listOf(CallSummarySchema, "CallList");
const tags = ["Calls"];

export const callsApi = router()
  .openapi(
    workspaceRoute("viewer", {
      method: "get",
      path: "/v1/{workspace_id}/calls",
      tags,
      summary: "List calls, newest first",
      request: { params: WorkspaceParams, query: CallListQuery },
      responses: { 200: jsonResponse(CallList, "Calls") },
    }),
    async (c) => {
      const { workspace_id } = c.req.valid("param");
      const q = c.req.valid("query");
      const filter: CallFilter = {
        from: bound(q.from, false),
        to: bound(q.to, true),
        status: q.status,
        direction: q.direction,
        channel: q.channel,
        provider: q.simulated === true ? SIMULATOR_PROVIDER : undefined,
        notProvider: q.simulated === false ? SIMULATOR_PROVIDER : undefined,
        minDuration: q.min_duration,
        maxDuration: q.max_duration,
      };
      if (filter.from && filter.to && filter.from >= filter.to) {
        throw new ApiError("validation_failed", "`from` must be before `to`", { field: "from" });
      }
      if (q.min_duration !== undefined && q.max_duration !== undefined && q.min_duration > q.max_duration) {
        throw new ApiError("validation_failed", "`min_duration` must not exceed `max_duration`", {
          field: "min_duration",
        });
      }
      let offset = q.offset;
      if (q.continuation_token) {
        const key = decodeToken(q.continuation_token);
        if (key.length !== 2 || typeof key[0] !== "string" || typeof key[1] !== "string") {
          throw new ApiError("invalid_continuation_token", "Not a calls page token");
        }
        filter.before = [key[0], key[1]];
        offset = 0;
      }
      const { rows, total } = await listCallsPage(database(c.env.DB), workspace_id, filter, q.limit, offset);
      const last = rows.at(-1);
      const token = rows.length === q.limit && last ? encodeToken([last.startedAt, last.id]) : null;
      const results = await Promise.all(rows.map((row) => callView(c.env, row)));
      return c.json({ results, total, continuation_token: token }, 200);
    },
  )
  .openapi(
    workspaceRoute("viewer", {
      method: "get",
      path: "/v1/{workspace_id}/calls/volume",
      tags,
      summary: "Voice calls per clinic number over a window",
      description:
        "Counts voice calls (not text conversations) per clinic number and bucket. Calls placed with the " +
        "phone simulator are left out unless `include_simulated=true`.",
      request: { params: WorkspaceParams, query: VolumeQuery },
      responses: { 200: jsonResponse(CallVolumeSchema, "Counts per number and bucket, zero-filled") },
    }),
    async (c) => {
      const { workspace_id } = c.req.valid("param");
      const q = c.req.valid("query");
      const bucket = q.bucket ?? (q.window === "24h" ? "hour" : "day");
      const step = bucket === "hour" ? 3600_000 : DAY_MS;
      const windowMs = VOLUME_WINDOWS[q.window];
      // Buckets are whole UTC hours or days; the last one holds now.
      const end = Math.floor(Date.now() / step) * step + step;
      const count = Math.ceil(windowMs / step);
      const start = end - count * step;
      const buckets = Array.from({ length: count }, (_, i) => new Date(start + i * step).toISOString());
      const format = bucket === "hour" ? "%Y-%m-%dT%H:00:00.000Z" : "%Y-%m-%dT00:00:00.000Z";
      const includeSimulated = q.include_simulated ?? false;
      const db = database(c.env.DB);
      const [numbers, rows] = await Promise.all([
        workspaceNumbers(db, workspace_id),
        callVolume(
          db,
          workspace_id,
          buckets[0]!,
          new Date(end).toISOString(),
          format,
          includeSimulated ? undefined : SIMULATOR_PROVIDER,
        ),
      ]);
      const index = new Map(buckets.map((b, i) => [b, i]));
      const series = new Map(
        numbers.map((n) => [
          n.e164,
          {
            phone_number_id: n.id as string | null,
            number: n.e164,
            label: n.label,
            service_id: n.serviceId,
            counts: buckets.map(() => 0),
            total: 0,
          },
        ]),
      );
      for (const row of rows) {
        let entry = series.get(row.toNumber);
        if (!entry) {
          // A number the workspace has since released: its calls still count.
          entry = {
            phone_number_id: null,
            number: row.toNumber,
            label: "",
            service_id: null,
            counts: buckets.map(() => 0),
            total: 0,
          };
          series.set(row.toNumber, entry);
        }
        const i = index.get(row.bucket);
        if (i === undefined) continue;
        entry.counts[i] = (entry.counts[i] ?? 0) + Number(row.count);
        entry.total += Number(row.count);
      }
      return c.json(
        {
          window: q.window,
          bucket,
          from: buckets[0]!,
          to: new Date(end).toISOString(),
          buckets,
          numbers: [...series.values()],
          include_simulated: includeSimulated,
        },
        200,
      );
    },
  )
  .openapi(
    workspaceRoute("viewer", {
      method: "get",
      path: "/v1/{workspace_id}/calls/{id}",
      tags,
      summary: "Get a call with its timeline",
      request: { params: WorkspaceItemParams },
      responses: { 200: jsonResponse(CallDetailSchema, "The call") },
    }),
    async (c) => {
      const { workspace_id, id } = c.req.valid("param");
      const db = database(c.env.DB);
      const row = await findCallWithContext(db, workspace_id, id);
      if (!row) throw notFound("Call");
      const [events, sent, object] = await Promise.all([
        listCallEvents(db, workspace_id, id),
        listCallDeliveries(db, workspace_id, id),
        c.env.FILES.head(callRecordingKey(row)),
      ]);
      const timeline = [...events.map(eventView), ...sent.map(deliveryEventView)].sort((a, b) =>
        a.at.localeCompare(b.at),
      );
      const ofKind = (kind: string) => timeline.filter((e) => e.kind === kind);
      const meta = row.recording;
      const num = (v: unknown) => (typeof v === "number" ? v : null);
      const str = (v: unknown) => (typeof v === "string" ? v : null);
      const recording =
        meta || object
          ? {
              available: Boolean(object),
              status: str(meta?.status) ?? (object ? "completed" : null),
              duration_seconds: num(meta?.duration_seconds),
              channels: num(meta?.channels),
              source: str(meta?.source),
              started_at: str(meta?.started_at),
            }
          : null;
      return c.json(
        {
          ...(await callView(c.env, row)),
          timeline,
          turns: ofKind("turn"),
          states: ofKind("state"),
          tools: ofKind("tool"),
          escalations: ofKind("escalation"),
          recording,
        },
        200,
      );
    },
  )
  .openapi(
    workspaceRoute("operator", {
      method: "post",
      path: "/v1/{workspace_id}/calls/{id}/recording-url",
      tags,
      summary: "Get a short-lived playback URL for a call's recording",
      request: { params: WorkspaceItemParams },
      responses: { 200: jsonResponse(RecordingUrlSchema, "The URL and when it stops working") },
    }),
    async (c) => {
      const { workspace_id, id } = c.req.valid("param");
      const db = database(c.env.DB);
      const call = await findCall(db, workspace_id, id);
      if (!call) throw notFound("Call");
      if (!(await c.env.FILES.head(callRecordingKey(call)))) throw notFound("Recording");
      const expires = Math.floor(Date.now() / 1000) + RECORDING_URL_TTL_SECONDS;
      const expiresAt = new Date(expires * 1000).toISOString();
      await audited(
        c,
        {
          action: "call.recording_url_issued",
          targetType: "call",
          targetId: id,
          details: { expires_at: expiresAt },
        },
        [],
      );
      const path = await signRecordingPath(c.env.SIGNING_SECRET, workspace_id, id, expires);
      return c.json({ url: `${publicOrigin(c)}${path}`, path, expires_at: expiresAt }, 200);
    },
  )
  // Outside /v1: the signature in the URL is the credential (an <audio> element sends no API key).
  .get("/recordings/:workspace_id/:call_id", async (c) => {
    const workspaceId = c.req.param("workspace_id");
    const callId = c.req.param("call_id");
    const valid = await recordingSignatureValid(
      c.env.SIGNING_SECRET,
      workspaceId,
      callId,
      c.req.query("exp"),
      c.req.query("sig"),
    );
    if (!valid) throw new ApiError("forbidden", "This playback link is invalid or has expired");
    const db = database(c.env.DB);
    const call = await findCall(db, workspaceId, callId);
    if (!call) throw notFound("Recording");
    const object = await c.env.FILES.get(callRecordingKey(call));
    if (!object) throw notFound("Recording");
    await appendAudit(db, {
      workspaceId,
      actorType: "system",
      actorId: null,
      action: "call.recording_played",
      targetType: "call",
      targetId: callId,
      details: { expires_at: new Date(Number(c.req.query("exp")) * 1000).toISOString() },
      requestId: c.get("requestId"),
    });
    return new Response(object.body, {
      headers: {
        "Content-Type": object.httpMetadata?.contentType ?? "audio/wav",
        "Content-Length": String(object.size),
        "Cache-Control": "private, no-store",
      },
    });
  });
