/**
 * The operator command center as the API shows it: operators and their status, the live call queue,
 * the briefing, what an operator does to a live call (listen, guide, take over, say, hand back,
 * transfer, wrap up) and operator metrics. Shared by the Worker's routes and the dashboard.
 */
import { z } from "zod";
import { ESCALATION_STATUSES, PRIORITY_REASONS } from "../operators/urgency";
import { Timestamp } from "./common";

export const OPERATOR_TYPES = ["clinical", "administrative", "crisis_counselor"] as const;
export const OperatorType = z.enum(OPERATOR_TYPES);
export type OperatorType = z.infer<typeof OperatorType>;

export const OPERATOR_STATUSES = ["online", "busy", "offline"] as const;
export const OperatorStatus = z.enum(OPERATOR_STATUSES);
export type OperatorStatus = z.infer<typeof OperatorStatus>;

/** A skill an escalation can ask for ("spanish", "billing", "pediatrics"): a lowercase slug. */
export const Skill = z
  .string()
  .trim()
  .toLowerCase()
  .regex(/^[a-z0-9][a-z0-9_-]{0,39}$/, "a skill is a lowercase slug (letters, digits, - and _)");

/** A user id as `users.id` holds it (`usr_...`). */
const UserId = z.string().regex(/^usr_[A-Za-z0-9_-]{8,43}$/, "not a valid user id");

export const OperatorSchema = z
  .object({
    user_id: z.string(),
    name: z.string(),
    email: z.string(),
    type: OperatorType,
    skills: z.array(z.string()),
    status: OperatorStatus,
    status_changed_at: Timestamp,
    /** Calls this operator is connected to now. */
    active_calls: z.number().int(),
    created_at: Timestamp,
    updated_at: Timestamp,
  })
  .meta({ id: "Operator" });

export const OperatorCreate = z
  .strictObject({
    user_id: UserId,
    type: OperatorType,
    skills: z.array(Skill).max(20).default([]),
  })
  .meta({ id: "OperatorCreate" });

export const OperatorUpdate = z
  .strictObject({ type: OperatorType, skills: z.array(Skill).max(20) })
  .partial()
  .refine((v) => Object.keys(v).length > 0, "nothing to update")
  .meta({ id: "OperatorUpdate" });

export const OperatorStatusUpdate = z
  .strictObject({ status: OperatorStatus })
  .meta({ id: "OperatorStatusUpdate" });

export const OperatorUserParams = z.object({
  workspace_id: z.string(),
  user_id: UserId,
});

/**
 * A call's live overlay, as the WorkspaceHub holds it and `call.updated` events carry it: ids, codes and
 * numbers, never PHI (the caller's name is only in the queue, which needs the operator role).
 */
export const CallOverlaySchema = z
  .object({
    call_id: z.string(),
    service_id: z.string().nullable(),
    transport: z.string().nullable(),
    simulated: z.boolean(),
    started_at: Timestamp,
    updated_at: Timestamp,
    state_id: z.string().nullable(),
    turn_count: z.number().int(),
    emotion: z.enum(["calm", "concerned", "distressed"]),
    emotion_score: z.number(),
    valence: z.number(),
    risk_score: z.number(),
    risk_level: z.enum(["normal", "monitor", "alert", "escalate"]),
    escalation: z.enum(ESCALATION_STATUSES),
    escalated_at: Timestamp.nullable(),
    escalation_reason: z.string().nullable(),
    loops: z.number().int(),
    safety: z.string().nullable(),
    /** Who is in control of what the caller hears. */
    mode: z.enum(["agent", "operator"]),
    operator_user_id: z.string().nullable(),
    patient_verified: z.boolean(),
  })
  .meta({ id: "CallOverlay" });
export type CallOverlay = z.infer<typeof CallOverlaySchema>;

export const QueueEntrySchema = CallOverlaySchema.extend({
  /** The verified caller's name (null until verified): operator role and above only. */
  caller_name: z.string().nullable(),
  urgency: z.number(),
  priority_reasons: z.array(z.enum(PRIORITY_REASONS)),
  wait_ms: z.number().int(),
}).meta({ id: "QueueEntry" });
export type QueueEntry = z.infer<typeof QueueEntrySchema>;

export const QueueSchema = z
  .object({
    results: z.array(QueueEntrySchema),
    /** The id of the newest event the queue reflects: stream from here to stay current. */
    last_event_id: z.number().int(),
    generated_at: Timestamp,
  })
  .meta({ id: "Queue" });

export const StreamTicketSchema = z
  .object({
    ticket: z.string(),
    expires_at: Timestamp,
    /** Where to open the stream: `GET {stream_url}` (the ticket is in it, and works once). */
    stream_url: z.string(),
  })
  .meta({ id: "StreamTicket" });

// ---------------------------------------------------------------------------------------------------------
// The briefing

export const BriefingSchema = z
  .object({
    call_id: z.string(),
    generated_at: Timestamp,
    /** `model`: written by Workers AI; `rules`: rendered from the session and the world model. */
    source: z.enum(["model", "rules"]),
    situation: z.object({
      summary: z.string(),
      caller_need: z.string().nullable(),
      state_id: z.string().nullable(),
      duration_seconds: z.number().int(),
      turn_count: z.number().int(),
    }),
    patient: z
      .object({
        entity_id: z.string(),
        verified: z.boolean(),
        name: z.string().nullable(),
        birth_date: z.string().nullable(),
        age: z.number().int().nullable(),
        sex: z.string().nullable(),
        prior_calls: z.number().int(),
        care_plan: z.array(z.string()),
        recent_labs: z.array(z.string()),
        medications: z.array(z.string()),
        allergies: z.array(z.string()),
        upcoming_appointments: z.array(z.string()),
      })
      .nullable(),
    risk: z.object({
      score: z.number(),
      level: z.enum(["normal", "monitor", "alert", "escalate"]),
      drivers: z.array(z.string()),
    }),
    key_issues: z.array(z.string()),
    recommended_actions: z.array(z.string()),
    prior_interactions: z.array(z.object({ at: Timestamp, channel: z.string(), summary: z.string() })),
  })
  .meta({ id: "Briefing" });
export type Briefing = z.infer<typeof BriefingSchema>;

// ---------------------------------------------------------------------------------------------------------
// Acting on a live call

/** What an operator types to the caller (spoken by the call's voice, or texted on an SMS session). */
const SpokenText = z
  .string()
  .trim()
  .min(1)
  .max(1000)
  .regex(/^[^\p{Cc}]+$/u, "may not contain control characters");

export const OperatorSay = z.strictObject({ text: SpokenText }).meta({ id: "OperatorSay" });

export const TransferCreate = z
  .strictObject({
    /** The clinic line, E.164. */
    to: z.string().max(32),
    /** What the agent says before the transfer (a default goodbye when absent). */
    announcement: SpokenText.optional(),
  })
  .meta({ id: "TransferCreate" });

export const WRAPUP_OUTCOMES = ["resolved", "callback_scheduled", "transferred", "unresolved"] as const;
export const WrapupCreate = z
  .strictObject({
    outcome: z.enum(WRAPUP_OUTCOMES),
    notes: z
      .string()
      .trim()
      .max(4000)
      .regex(/^(?:[^\p{Cc}]|[\n\r\t])*$/u, "may not contain control characters except line breaks")
      .default(""),
  })
  .meta({ id: "WrapupCreate" });

/** What a live-call action answers: the call's control state afterwards. */
export const LiveControlSchema = z
  .object({
    call_id: z.string(),
    mode: z.enum(["agent", "operator"]),
    operator_user_id: z.string().nullable(),
    escalation: z.enum(ESCALATION_STATUSES),
    /** A transfer waiting for the agent's goodbye to finish. */
    pending_transfer: z.boolean(),
  })
  .meta({ id: "LiveControl" });

export const WrapupSchema = z
  .object({
    call_id: z.string(),
    operator_user_id: z.string(),
    outcome: z.enum(WRAPUP_OUTCOMES),
    wrapped_at: Timestamp,
  })
  .meta({ id: "Wrapup" });

// ---------------------------------------------------------------------------------------------------------
// Metrics

export const OperatorMetricsQuery = z.object({
  window: z.enum(["24h", "7d", "30d"]).default("7d"),
});

export const OperatorMetricsSchema = z
  .object({
    window: z.enum(["24h", "7d", "30d"]),
    from: Timestamp,
    to: Timestamp,
    operators: z.array(
      z.object({
        user_id: z.string(),
        name: z.string(),
        calls: z.number().int(),
        resolutions: z.number().int(),
        /** Escalation → connected, for calls that escalated (ms). */
        median_time_to_connect_ms: z.number().nullable(),
        /** Connected → wrapped up (ms). */
        median_handle_ms: z.number().nullable(),
        /** Time in control of calls (takeover → hand back), summed (ms). */
        active_ms: z.number().int(),
      }),
    ),
    services: z.array(
      z.object({
        service_id: z.string(),
        name: z.string(),
        calls: z.number().int(),
        escalated: z.number().int(),
        escalation_rate: z.number(),
      }),
    ),
    totals: z.object({
      escalations: z.number().int(),
      connected: z.number().int(),
      resolutions: z.number().int(),
      median_time_to_connect_ms: z.number().nullable(),
    }),
  })
  .meta({ id: "OperatorMetrics" });
