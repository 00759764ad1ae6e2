/**
 * The memory layers, their pure parts. L0 is the raw transcript of an interaction (speaker-attributed,
 * timed turns). L1 is what one interaction taught us: the events it produced, fed by the extractor in
 * `memory-extraction.ts`. L2 is episodic patterns over a patient's interactions and tasks: when they
 * reach us, on which channel, how often they refill, what they keep calling about. L3 is the compact
 * model of the patient read at the start of every call.
 */
import { z } from "zod";
import { confidenceFor } from "./confidence";
import { EVENT_TYPES, type FactValue } from "./events";
import { identityOf } from "./identity";
import { agentFacts, type EntityState } from "./projection";

// ---------------------------------------------------------------------------------------------------------
// L0: transcripts

export const SPEAKERS = ["caller", "agent", "operator"] as const;
export type Speaker = (typeof SPEAKERS)[number];

/** A call or thread id, safe as part of an object key. */
export const InteractionId = z
  .string()
  .regex(/^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$/, "letters, digits and _ . : -, at most 64")
  .refine((id) => !id.includes(".."), "may not contain ..");

export const TimedTurn = z.strictObject({
  speaker: z.enum(SPEAKERS),
  text: z.string().max(4000),
  at: z.iso.datetime({ offset: true }),
});
export type TimedTurn = z.infer<typeof TimedTurn>;

export const Transcript = z.strictObject({
  call_id: InteractionId,
  turns: z.array(TimedTurn).max(5000),
});
export type Transcript = z.infer<typeof Transcript>;

// ---------------------------------------------------------------------------------------------------------
// L2: episodic patterns

const InteractionRecord = EVENT_TYPES["interaction.recorded"].data;
export type InteractionRecord = z.infer<typeof InteractionRecord>;
const TaskRecord = EVENT_TYPES["task.recorded"].data;
export type TaskRecord = z.infer<typeof TaskRecord>;

function recordsAt<T>(state: EntityState, prefix: string, schema: z.ZodType<T>): T[] {
  return Object.entries(state.facts)
    .filter(([path]) => path.startsWith(prefix))
    .flatMap(([, fact]) => {
      const parsed = schema.safeParse(fact.value);
      return parsed.success ? [parsed.data] : [];
    });
}

/** The patient's interactions (memory L1 anchors), as projected: superseded or rejected ones are gone. */
export const interactionsOf = (state: EntityState) =>
  recordsAt(state, "interactions.", InteractionRecord as z.ZodType<InteractionRecord>);
export const tasksOf = (state: EntityState) =>
  recordsAt(state, "tasks.", TaskRecord as z.ZodType<TaskRecord>);

export const CONTACT_BUCKETS = ["morning", "afternoon", "evening", "night"] as const;
type ContactBucket = (typeof CONTACT_BUCKETS)[number];

/** 05–11 morning, 12–16 afternoon, 17–21 evening, else night. */
export function bucketOf(hour: number): ContactBucket {
  if (hour >= 5 && hour < 12) return "morning";
  if (hour >= 12 && hour < 17) return "afternoon";
  if (hour >= 17 && hour < 22) return "evening";
  return "night";
}

const hourFormats = new Map<string, Intl.DateTimeFormat>();
/** The hour of day (0–23) of an instant in a time zone; UTC when the zone is unknown. */
export function localHour(iso: string, timeZone: string): number {
  let format = hourFormats.get(timeZone);
  if (!format) {
    try {
      format = new Intl.DateTimeFormat("en-US", { timeZone, hour: "numeric", hourCycle: "h23" });
    } catch {
      return new Date(iso).getUTCHours();
    }
    hourFormats.set(timeZone, format);
  }
  const hour = format.formatToParts(new Date(iso)).find((p) => p.type === "hour")?.value;
  return Number(hour) % 24;
}

const Count = z.number().int().min(0);
const INTERACTION_CHANNELS = InteractionRecord.shape.channel.options;

export const MemoryPatternsSchema = z
  .object({
    version: z.literal(1),
    interactions: Count,
    last_interaction_at: z.string().nullable(),
    contact_time: z
      .object({
        bucket: z.enum(CONTACT_BUCKETS),
        support: Count.meta({ description: "Inbound contacts and requested callbacks in this bucket" }),
        total: Count,
        time_zone: z.string(),
        hours: z.record(z.string(), Count).meta({ description: "Local hour of day → count" }),
      })
      .nullable(),
    channel: z
      .object({
        preferred: z.enum(INTERACTION_CHANNELS).nullable(),
        support: Count.meta({ description: "Inbound contacts plus answered outreach on that channel" }),
        by_channel: z.record(
          z.string(),
          z.object({
            used: Count,
            inbound: Count,
            answered: Count.meta({ description: "Outreach replied to within 48 h" }),
          }),
        ),
      })
      .nullable(),
    adherence: z.array(
      z.object({
        topic: z.string(),
        support: Count,
        intervals_days: z.array(z.number()),
        median_interval_days: z.number(),
        last_at: z.string(),
        next_expected_at: z.string(),
      }),
    ),
    concerns: z.array(
      z.object({ topic: z.string(), support: Count, first_at: z.string(), last_at: z.string() }),
    ),
  })
  .meta({ id: "MemoryPatterns" });
export type MemoryPatterns = z.infer<typeof MemoryPatternsSchema>;

const DAY_MS = 86_400_000;
const ANSWER_WINDOW_MS = 2 * DAY_MS;
const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
};
const round1 = (n: number) => Math.round(n * 10) / 10;

function contactTime(interactions: InteractionRecord[], tasks: TaskRecord[], timeZone: string) {
  // When they reach us, and when they asked to be called back.
  const instants = [
    ...interactions.filter((i) => i.direction === "inbound").map((i) => i.occurred_at),
    ...tasks.filter((t) => t.kind === "callback").map((t) => t.due_at),
  ];
  if (instants.length === 0) return null;
  const hours: Record<string, number> = {};
  const buckets = new Map<ContactBucket, number>();
  for (const at of instants) {
    const hour = localHour(at, timeZone);
    hours[String(hour)] = (hours[String(hour)] ?? 0) + 1;
    buckets.set(bucketOf(hour), (buckets.get(bucketOf(hour)) ?? 0) + 1);
  }
  const [bucket, support] = [...buckets].sort(
    (a, b) => b[1] - a[1] || CONTACT_BUCKETS.indexOf(a[0]) - CONTACT_BUCKETS.indexOf(b[0]),
  )[0]!;
  return { bucket, support, total: instants.length, time_zone: timeZone, hours };
}

function channelPreference(interactions: InteractionRecord[]) {
  if (interactions.length === 0) return null;
  const byChannel: Record<string, { used: number; inbound: number; answered: number }> = {};
  const sorted = [...interactions].sort((a, b) => (a.occurred_at < b.occurred_at ? -1 : 1));
  sorted.forEach((interaction, i) => {
    const entry = byChannel[interaction.channel] ?? { used: 0, inbound: 0, answered: 0 };
    byChannel[interaction.channel] = entry;
    entry.used++;
    if (interaction.direction === "inbound") entry.inbound++;
    else {
      const sent = Date.parse(interaction.occurred_at);
      const reply = sorted
        .slice(i + 1)
        .find((r) => r.channel === interaction.channel && r.direction === "inbound");
      if (reply && Date.parse(reply.occurred_at) - sent <= ANSWER_WINDOW_MS) entry.answered++;
    }
  });
  const score = (c: string) => byChannel[c]!.inbound + byChannel[c]!.answered;
  const [best] = Object.keys(byChannel).sort(
    (a, b) =>
      score(b) - score(a) ||
      byChannel[b]!.used - byChannel[a]!.used ||
      INTERACTION_CHANNELS.indexOf(a as never) - INTERACTION_CHANNELS.indexOf(b as never),
  );
  const support = best ? score(best) : 0;
  return {
    preferred: support > 0 ? (best as (typeof INTERACTION_CHANNELS)[number]) : null,
    support,
    by_channel: byChannel,
  };
}

/** `Medication refill` and `medication_refill` are one topic. */
const topicKey = (topic: string) =>
  topic
    .trim()
    .toLowerCase()
    .replace(/[\s-]+/g, "_");

/** Topic key → the distinct interactions it came up in, oldest first. */
function topicOccurrences(interactions: InteractionRecord[]): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const interaction of [...interactions].sort((a, b) => (a.occurred_at < b.occurred_at ? -1 : 1))) {
    for (const topic of new Set(interaction.topics.map(topicKey))) {
      out.set(topic, [...(out.get(topic) ?? []), interaction.occurred_at]);
    }
  }
  return out;
}

function adherenceCycles(topics: Map<string, string[]>) {
  return [...topics]
    .filter(([topic, times]) => topic.includes("refill") && times.length >= 2)
    .map(([topic, times]) => {
      const intervals = times
        .slice(1)
        .map((t, i) => round1((Date.parse(t) - Date.parse(times[i]!)) / DAY_MS));
      const typical = round1(median(intervals));
      const last = times[times.length - 1]!;
      return {
        topic,
        support: times.length,
        intervals_days: intervals,
        median_interval_days: typical,
        last_at: last,
        next_expected_at: new Date(Date.parse(last) + typical * DAY_MS).toISOString(),
      };
    })
    .sort((a, b) => b.support - a.support || (a.topic < b.topic ? -1 : 1));
}

/**
 * L2 patterns of one patient. Pure and order-independent: the same interactions and tasks give the same
 * patterns. Contact hours are read in the workspace's time zone; every pattern carries its support.
 */
export function computePatterns(
  interactions: InteractionRecord[],
  tasks: TaskRecord[],
  options: { timeZone: string },
): MemoryPatterns {
  const topics = topicOccurrences(interactions);
  const last =
    interactions
      .map((i) => i.occurred_at)
      .sort()
      .at(-1) ?? null;
  return {
    version: 1,
    interactions: interactions.length,
    last_interaction_at: last,
    contact_time: contactTime(interactions, tasks, options.timeZone),
    channel: channelPreference(interactions),
    adherence: adherenceCycles(topics),
    concerns: [...topics]
      .filter(([, times]) => times.length >= 2)
      .map(([topic, times]) => ({
        topic,
        support: times.length,
        first_at: times[0]!,
        last_at: times.at(-1)!,
      }))
      .sort((a, b) => b.support - a.support || (a.last_at > b.last_at ? -1 : 1))
      .slice(0, 10),
  };
}

// ---------------------------------------------------------------------------------------------------------
// L3: the compact patient model read at call start

const Scored = z.object({ value: z.unknown(), confidence: z.number() });

export const PatientMemorySchema = z
  .object({
    entity_id: z.string(),
    identity: z.object({
      display_name: z.string().nullable(),
      preferred_name: z.string().nullable(),
      birth_date: z.string().nullable(),
      gender: z.string().nullable(),
      phone: z.string().nullable(),
      email: z.string().nullable(),
      external_ids: z.array(z.string()),
      verified: z
        .object({ name: z.boolean(), birth_date: z.boolean(), phone: z.boolean(), email: z.boolean() })
        .meta({ description: "Whether each identity fact is held at verified confidence or above" }),
    }),
    safety: z
      .array(
        z.object({
          path: z.string(),
          value: z.unknown(),
          confidence: z.number(),
          source: z.string(),
          verified: z.boolean(),
        }),
      )
      .meta({ description: "Allergies and safety flags, always, whatever their confidence" }),
    medications: z.array(Scored),
    conditions: z.array(Scored),
    coverage: z.array(Scored),
    preferences: z.record(z.string(), Scored),
    open_tasks: z.array(
      z.object({ task_id: z.string(), kind: z.string(), due_at: z.string(), note: z.string() }),
    ),
    recent_interactions: z.array(
      z.object({
        interaction_id: z.string(),
        channel: z.string(),
        direction: z.string(),
        occurred_at: z.string(),
        summary: z.string(),
        topics: z.array(z.string()),
      }),
    ),
    patterns: MemoryPatternsSchema.nullable(),
    patterns_computed_at: z
      .string()
      .nullable()
      .meta({ description: "When the cron computed the patterns; null when computed for this read" }),
  })
  .meta({ id: "PatientMemory" });
export type PatientMemory = z.infer<typeof PatientMemorySchema>;

const RECENT_INTERACTIONS = 5;
const SUMMARY_CHARS = 240;
const LIST_CAP = 20;
const INACTIVE = new Set(["stopped", "completed", "entered-in-error", "cancelled", "resolved", "inactive"]);

const statusOf = (value: FactValue) =>
  typeof value === "object" && value !== null && !Array.isArray(value) && typeof value.status === "string"
    ? value.status
    : null;

/**
 * The L3 model: identity with verified flags, safety facts always (`agentFacts`: even low-confidence or
 * rejected ones), active medications, conditions and coverage, preferences, open tasks, the last five
 * interactions and the L2 patterns. Compact by construction: lists are capped and summaries cut.
 */
export function buildPatientMemory(
  entityId: string,
  state: EntityState,
  patterns: { patterns: MemoryPatterns; computedAt: string | null },
  options: { verifiedConfidence?: number; minConfidence?: number } = {},
): PatientMemory {
  const verifiedAt = options.verifiedConfidence ?? confidenceFor("judge_verified");
  const facts = agentFacts(state, options.minConfidence);
  const identity = identityOf(state);
  const str = (path: string) => {
    const v = facts[path]?.value;
    return typeof v === "string" ? v : null;
  };
  const isVerified = (...paths: string[]) =>
    paths.every((p) => (state.facts[p]?.confidence ?? 0) >= verifiedAt);
  const active = (prefix: string) =>
    Object.entries(facts)
      .filter(([path, f]) => path.startsWith(prefix) && !INACTIVE.has(statusOf(f.value) ?? ""))
      .map(([, f]) => ({ value: f.value, confidence: f.confidence }))
      .slice(0, LIST_CAP);
  const preferences: Record<string, { value: FactValue; confidence: number }> = {};
  for (const [path, f] of Object.entries(facts))
    if (path.startsWith("preferences."))
      preferences[path.slice(12)] = { value: f.value, confidence: f.confidence };
  return {
    entity_id: entityId,
    identity: {
      display_name: identity.displayName,
      preferred_name: str("demographics.preferred_name"),
      birth_date: str("demographics.birth_date"),
      gender: str("demographics.gender"),
      phone: str("contact.phone"),
      email: str("contact.email"),
      external_ids: identity.externalIds,
      verified: {
        name: isVerified("demographics.given_name", "demographics.family_name"),
        birth_date: isVerified("demographics.birth_date"),
        phone: isVerified("contact.phone"),
        email: isVerified("contact.email"),
      },
    },
    safety: Object.entries(facts)
      .filter(([, f]) => f.safetyCritical)
      .sort(([a], [b]) => (a < b ? -1 : 1))
      .map(([path, f]) => ({
        path,
        value: f.value,
        confidence: f.confidence,
        source: f.source,
        verified: f.confidence >= verifiedAt,
      })),
    medications: active("medications."),
    conditions: active("conditions."),
    coverage: active("coverage."),
    preferences,
    open_tasks: tasksOf(state)
      .filter((t) => t.status === "open")
      .sort((a, b) => (a.due_at < b.due_at ? -1 : 1))
      .slice(0, 10)
      .map((t) => ({
        task_id: t.task_id,
        kind: t.kind,
        due_at: t.due_at,
        note: t.note.slice(0, SUMMARY_CHARS),
      })),
    recent_interactions: interactionsOf(state)
      .sort((a, b) => (a.occurred_at > b.occurred_at ? -1 : 1))
      .slice(0, RECENT_INTERACTIONS)
      .map((i) => ({
        interaction_id: i.interaction_id,
        channel: i.channel,
        direction: i.direction,
        occurred_at: i.occurred_at,
        summary: i.summary.slice(0, SUMMARY_CHARS),
        topics: i.topics,
      })),
    patterns: patterns.patterns,
    patterns_computed_at: patterns.computedAt,
  };
}
