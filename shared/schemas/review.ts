/**
 * The review queue's figures as the API answers them (`GET /review/stats`, and `GET /pipeline/review`
 * on the Pipeline page): queue depth by priority, and the last 7 days' decisions. Counts and times only.
 */
import { z } from "zod";
import { Timestamp } from "./common";

/** The window the decisions are counted over. */
export const REVIEW_STATS_WINDOW_DAYS = 7;

export const ReviewStatsSchema = z
  .object({
    queue_depth: z.number().int(),
    pending_by_priority: z.object({
      high: z.number().int(),
      medium: z.number().int(),
      low: z.number().int(),
    }),
    last_7_days: z.object({
      since: Timestamp,
      approved: z.number().int(),
      corrected: z.number().int(),
      rejected: z.number().int(),
      average_review_seconds: z
        .number()
        .nullable()
        .meta({ description: "Mean time from queued to decided; null with no decisions" }),
    }),
  })
  .meta({ id: "ReviewStats" });
export type ReviewStats = z.infer<typeof ReviewStatsSchema>;
