/**
 * Pipeline health as the API answers it and the dashboard reads it: the EHR connector's sources, what
 * they delivered, what was written back, entity resolution and the review queue. Every figure is read
 * from D1, so these answers hold when the EHR itself is down. Ids, counts, times and error texts only:
 * never a resource's contents.
 */
import { z } from "zod";
import { DATA_SOURCE_TYPES } from "../ehr/vocabulary";
import { Timestamp } from "./common";
import { SyncEventSchema, SyncStatusSchema } from "./sync";

export const PIPELINE_HEALTH = ["healthy", "degraded", "starting", "unavailable"] as const;
export type PipelineHealth = (typeof PIPELINE_HEALTH)[number];

/** Why the pipeline is degraded; each names the source or queue concerned, never data. */
export const DEGRADED_REASONS = [
  "source_error",
  "source_overdue",
  "sync_failed",
  "writeback_stalled",
] as const;

export const SOURCE_EVENT_STATUSES = ["applied", "failed", "skipped"] as const;

export const BUCKETS = ["hour", "day"] as const;
export type Bucket = (typeof BUCKETS)[number];
/** The longest window a series may cover: a week of hours, a quarter of days. */
export const MAX_BUCKETS: Record<Bucket, number> = { hour: 168, day: 90 };
/** The window when `since` is not given: a day of hours, a month of days. */
export const DEFAULT_BUCKETS: Record<Bucket, number> = { hour: 24, day: 30 };

const DataSourceType = z.enum(DATA_SOURCE_TYPES);
const ConnectorState = z
  .enum(["idle", "polling", "error"])
  .meta({ description: "The connector's own state: `polling` while a poll runs, `error` after a failure" });

const StatusCounts = z.object({
  applied: z.number().int(),
  failed: z.number().int(),
  skipped: z.number().int(),
});

const SyncCounts = z.object({
  pending: z.number().int(),
  processing: z.number().int(),
  synced: z.number().int(),
  failed: z.number().int(),
  not_applicable: z.number().int(),
});

export const SourceHealthSchema = z
  .object({
    id: z.string(),
    name: z.string(),
    type: DataSourceType,
    enabled: z.boolean(),
    status: ConnectorState,
    writeback: z.boolean(),
    poll_interval_seconds: z.number().int(),
    last_poll_at: Timestamp.nullable(),
    last_success_at: Timestamp.nullable(),
    last_notification_at: Timestamp.nullable(),
    last_error: z.string().nullable(),
    lag_seconds: z
      .number()
      .int()
      .nullable()
      .meta({ description: "Now minus the last success; null before the first one" }),
    overdue: z.boolean().meta({
      description:
        "An enabled polling source whose last poll is older than twice its interval (business hours only)",
    }),
  })
  .meta({ id: "SourceHealth" });

export const DegradedReasonSchema = z
  .object({
    code: z.enum(DEGRADED_REASONS),
    source_id: z.string().nullable(),
    message: z.string(),
  })
  .meta({ id: "DegradedReason" });

export const PipelineStatusSchema = z
  .object({
    status: z.enum(PIPELINE_HEALTH).meta({
      description:
        "`unavailable`: no enabled source. `degraded`: an enabled source in error or overdue, a failed " +
        "write-back, or one waiting for more than 15 minutes (pending, or eligible while a sink exists). " +
        "`starting`: enabled sources, none of which has completed a poll or received a notification yet. " +
        "Else `healthy`.",
    }),
    reasons: z.array(DegradedReasonSchema).meta({ description: "Why the status is `degraded`" }),
    checked_at: Timestamp,
    active_polls: z.array(z.object({ id: z.string(), name: z.string(), started_at: Timestamp.nullable() })),
    totals: z.object({
      sources: z.number().int(),
      enabled: z.number().int(),
      source_events_24h: StatusCounts,
      sync: SyncCounts,
    }),
    sources: z.array(SourceHealthSchema),
    loops: z.object({
      poller: z.object({
        last_run_at: Timestamp.nullable().meta({ description: "The latest poll started or finished" }),
        interval_seconds: z
          .number()
          .int()
          .nullable()
          .meta({ description: "The shortest interval of the enabled polling sources" }),
        overdue: z.boolean(),
      }),
      writeback: z.object({
        oldest_pending_at: Timestamp.nullable(),
        oldest_pending_age_seconds: z.number().int().nullable(),
        failed: z.number().int(),
        eligible_waiting: z.number().int().meta({
          description:
            "Verified facts eligible for write-back that no sink has taken yet (none configured, or not scheduled yet)",
        }),
        oldest_eligible_at: Timestamp.nullable(),
        sink_id: z.string().nullable().meta({ description: "The enabled write-back sink, oldest first" }),
      }),
      webhook: z.object({ last_notification_at: Timestamp.nullable() }),
    }),
  })
  .meta({ id: "PipelineStatus" });

export const SourceSummarySchema = z
  .object({
    id: z.string(),
    name: z.string(),
    type: DataSourceType,
    source_system: z.string(),
    enabled: z.boolean(),
    status: ConnectorState,
    writeback: z.boolean(),
    last_success_at: Timestamp.nullable(),
    last_error: z.string().nullable(),
    last_event_at: Timestamp.nullable().meta({ description: "The newest resource this source delivered" }),
    last_24h: StatusCounts,
  })
  .meta({ id: "PipelineSource" });

export const PipelineSourcesSchema = z
  .object({ since: Timestamp, results: z.array(SourceSummarySchema) })
  .meta({ id: "PipelineSources" });

/** `bucket` and `since` of the time series. */
export const SeriesQuery = z.object({
  bucket: z.enum(BUCKETS).default("hour"),
  since: z.iso.datetime({ offset: true }).optional().meta({
    description: "Start of the window (rounded down to its bucket); default a day of hours or 30 days",
  }),
});

export const SourceHistorySchema = z
  .object({
    source_id: z.string(),
    bucket: z.enum(BUCKETS),
    since: Timestamp.meta({ description: "The first bucket's start (UTC)" }),
    until: Timestamp.meta({ description: "When the series was read" }),
    buckets: z.array(StatusCounts.extend({ start: Timestamp })),
    totals: StatusCounts,
  })
  .meta({ id: "SourceHistory" });

export const SOURCE_EVENT_SORTS = ["-received_at", "received_at", "status", "-status"] as const;

/** Paging for the logs: plain limit and offset, as the logs are sortable. */
const LogPage = z.object({
  limit: z.coerce.number().int().min(1).max(100).default(50),
  offset: z.coerce.number().int().min(0).max(100_000).default(0),
});

export const SourceEventsQuery = LogPage.extend({
  sort: z.enum(SOURCE_EVENT_SORTS).default("-received_at"),
  status: z.enum(SOURCE_EVENT_STATUSES).optional(),
  resource_type: z
    .string()
    .regex(/^[A-Z][A-Za-z]{1,63}$/, "a FHIR resource type, e.g. Patient")
    .optional(),
});

export const SourceEventSchema = z
  .object({
    id: z.string(),
    channel: z.enum(["poll", "webhook", "manual", "bundle"]),
    resource_type: z.string(),
    resource_id: z.string(),
    version_key: z.string(),
    status: z.enum(SOURCE_EVENT_STATUSES),
    error: z.string().nullable(),
    events_stored: z.number().int(),
    entity_id: z.string().nullable(),
    received_at: Timestamp,
  })
  .meta({ id: "SourceEvent" });

const LogMeta = { total: z.number().int(), limit: z.number().int(), offset: z.number().int() };

export const SourceEventsSchema = z
  .object({ results: z.array(SourceEventSchema), ...LogMeta })
  .meta({ id: "SourceEvents" });

export const SinkSummarySchema = z
  .object({
    data_source_id: z.string().nullable().meta({ description: "null: writes that had no sink" }),
    name: z.string().nullable(),
    writeback: z.boolean().meta({ description: "The source is configured as a write-back sink" }),
    counts: SyncCounts,
    last_synced_at: Timestamp.nullable(),
  })
  .meta({ id: "SinkSummary" });

export const PipelineOutboundSchema = z
  .object({ results: z.array(SinkSummarySchema), totals: SyncCounts })
  .meta({ id: "PipelineOutbound" });

export const OutboundLogQuery = LogPage.extend({ status: SyncStatusSchema.optional() });

/** A sync event as a sink's log shows it: without the entity's name (PHI) or the sink it is listed under. */
export const SyncLogEntrySchema = SyncEventSchema.omit({
  entity_display_name: true,
  data_source_id: true,
}).meta({
  id: "SyncLogEntry",
});

export const OutboundLogSchema = z
  .object({ results: z.array(SyncLogEntrySchema), ...LogMeta })
  .meta({ id: "OutboundLog" });

export const EntityResolutionSchema = z
  .object({
    total_merges: z.number().int().meta({ description: "`same_as` edges: every merge ever made" }),
    merged_entities: z.number().int().meta({ description: "Entities now pointing at another" }),
    merges_24h: z.number().int(),
    merges_7d: z.number().int(),
    pending_match_reviews: z.number().int(),
    recent: z
      .array(
        z.object({
          kept_id: z.string(),
          merged_id: z.string(),
          confidence: z.number(),
          source: z.string().meta({ description: "`review` when a person approved it" }),
          merged_at: Timestamp,
        }),
      )
      .meta({ description: "The last 20 merges, newest first" }),
  })
  .meta({ id: "EntityResolutionHealth" });

export const ThroughputSchema = z
  .object({
    bucket: z.enum(BUCKETS),
    since: Timestamp,
    until: Timestamp,
    buckets: z.array(z.object({ start: Timestamp, total: z.number().int() })),
    sources: z.array(
      z.object({
        source: z.string(),
        source_system: z.string().nullable(),
        total: z.number().int(),
        counts: z.array(z.number().int()).meta({ description: "One per bucket, in bucket order" }),
      }),
    ),
    total: z.number().int(),
  })
  .meta({ id: "Throughput" });
