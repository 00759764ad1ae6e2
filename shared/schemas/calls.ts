/**
 * Calls as the API shows them. A list never carries a caller's full number: a linked patient's name, or a
 * masked number ("•••• 0177"). Timeline data holds ids and codes only. Calls placed with the dashboard's
 * phone simulator are marked `simulated`, can be filtered on, and stay out of the volume figures unless
 * asked for, so testing the agent never reads as patient demand.
 */
import { z } from "zod";
import { PageQuery, Timestamp } from "./common";

export const CALL_STATUS_VALUES = [
  "queued",
  "initiated",
  "ringing",
  "in-progress",
  "completed",
  "busy",
  "failed",
  "no-answer",
  "canceled",
] as const;
export const CALL_DIRECTIONS = ["inbound", "outbound"] as const;
export const CALL_CHANNELS = ["voice", "sms"] as const;

/** A calendar date (`2026-11-30`) or a full ISO-8601 time. */
const DateBound = z.union([z.iso.date(), z.iso.datetime({ offset: true })]);
/** `true` or `false` in a query string (`z.coerce.boolean()` would read "false" as true). */
const QueryFlag = z.enum(["true", "false"]).transform((v) => v === "true");
const Seconds = z.coerce
  .number()
  .int()
  .min(0)
  .max(7 * 24 * 3600);

export const CallListQuery = PageQuery.extend({
  from: DateBound.optional().meta({ description: "Started at or after (a date means its start, UTC)" }),
  to: DateBound.optional().meta({ description: "Started before (a date means the end of that day, UTC)" }),
  status: z.enum(CALL_STATUS_VALUES).optional(),
  direction: z.enum(CALL_DIRECTIONS).optional(),
  channel: z.enum(CALL_CHANNELS).optional().meta({ description: "voice: calls; sms: text conversations" }),
  simulated: QueryFlag.optional().meta({
    description: "true: only calls placed with the phone simulator; false: only real ones. Absent: both",
  }),
  min_duration: Seconds.optional().meta({ description: "Seconds" }),
  max_duration: Seconds.optional().meta({ description: "Seconds" }),
});

export const CallSummarySchema = z
  .object({
    id: z.string(),
    service: z.object({ id: z.string(), name: z.string() }).nullable(),
    channel: z.enum(CALL_CHANNELS).meta({ description: "voice: a call; sms: a text conversation" }),
    direction: z.enum(CALL_DIRECTIONS),
    transport: z.string().nullable().meta({
      description: "How it reached the agent: `conversation_relay` or `media_streams` for a call, `sms`",
    }),
    simulated: z
      .boolean()
      .meta({ description: "Placed with the dashboard's phone simulator, not a real caller" }),
    status: z.string(),
    to_number: z.string().meta({ description: "The clinic's number" }),
    caller: z
      .string()
      .nullable()
      .meta({ description: "The linked patient's name, else the caller's masked number" }),
    patient_entity_id: z.string().nullable(),
    started_at: Timestamp,
    answered_at: Timestamp.nullable(),
    ended_at: Timestamp.nullable(),
    duration_seconds: z.number().int().nullable(),
    final_state: z.string().nullable(),
    escalated: z.boolean(),
    quality_score: z.number().nullable().meta({ description: "Null until the call is scored" }),
  })
  .meta({ id: "CallSummary" });

export const CallEventSchema = z
  .object({
    id: z.string(),
    kind: z.string(),
    at: Timestamp,
    data: z.record(z.string(), z.unknown()),
  })
  .meta({ id: "CallEvent" });

export const RecordingSchema = z
  .object({
    available: z.boolean().meta({ description: "Whether a recording can be played back" }),
    status: z.string().nullable(),
    duration_seconds: z.number().nullable(),
    channels: z.number().nullable(),
    source: z.string().nullable(),
    started_at: z.string().nullable(),
  })
  .meta({ id: "CallRecording" });

export const CallDetailSchema = CallSummarySchema.extend({
  timeline: z.array(CallEventSchema).meta({ description: "Every event, oldest first" }),
  turns: z.array(CallEventSchema),
  states: z.array(CallEventSchema).meta({ description: "State transitions" }),
  tools: z.array(CallEventSchema).meta({ description: "Tool calls with latency and outcome" }),
  escalations: z.array(CallEventSchema),
  recording: RecordingSchema.nullable(),
}).meta({ id: "CallDetail" });

export const RecordingUrlSchema = z
  .object({
    url: z.string().meta({ description: "The playback URL on the public base URL" }),
    path: z.string().meta({ description: "The same URL's path and query, for same-origin use" }),
    expires_at: Timestamp,
  })
  .meta({ id: "CallRecordingUrl" });

export const VOLUME_WINDOWS = { "24h": 24 * 3600_000, "7d": 7 * 24 * 3600_000, "30d": 30 * 24 * 3600_000 };
export const VolumeQuery = z.object({
  window: z.enum(["24h", "7d", "30d"]).default("7d"),
  bucket: z.enum(["hour", "day"]).optional().meta({ description: "Default: hour for 24h, else day" }),
  include_simulated: QueryFlag.optional().meta({
    description: "true: also count calls placed with the phone simulator (left out by default)",
  }),
});

/** Voice calls only: text sessions are not counted, nor simulated calls unless `include_simulated=true`. */
export const CallVolumeSchema = z
  .object({
    window: z.string(),
    bucket: z.enum(["hour", "day"]),
    from: Timestamp,
    to: Timestamp,
    buckets: z.array(Timestamp).meta({ description: "Each bucket's start, oldest first" }),
    numbers: z.array(
      z.object({
        phone_number_id: z.string().nullable(),
        number: z.string(),
        label: z.string(),
        service_id: z.string().nullable(),
        counts: z.array(z.number().int()).meta({ description: "Calls per bucket, aligned with buckets" }),
        total: z.number().int(),
      }),
    ),
    include_simulated: z.boolean().meta({ description: "Whether simulated calls are counted" }),
  })
  .meta({ id: "CallVolume", description: "Real voice calls only, unless include_simulated=true" });
