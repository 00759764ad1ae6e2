/**
 * The memory layers over the bindings. L0: transcripts in R2, encrypted with the workspace key. L1: what
 * an interaction taught us (its `interaction.recorded` event and the events it produced), and the
 * extractor that turns a transcript into candidates for the verification pipeline: the model when the
 * `AI` binding is present, the deterministic local one otherwise. L2: the hourly cron that recomputes
 * patterns for patients with new interactions. L3: the compact patient model read at call start.
 */
import { decryptField, encryptField } from "../../shared/crypto/encryption";
import { confidenceFor, WorldSettings } from "../../shared/world/confidence";
import type { FactValue } from "../../shared/world/events";
import {
  buildPatientMemory,
  computePatterns,
  InteractionId,
  interactionsOf,
  MemoryPatternsSchema,
  type PatientMemory,
  type Speaker,
  type TimedTurn,
  Transcript,
  tasksOf,
} from "../../shared/world/memory";
import {
  type ExtractedCandidate,
  extractCandidates,
  modelExtractionInput,
  parseModelExtraction,
  topicsOf,
} from "../../shared/world/memory-extraction";
import { database, type Statement } from "../db/client";
import { listWorkspaces, memoryContext, patientsWithNewInteractions, upsertPatterns } from "../db/memory";
import { findEntity, listEntityEvents } from "../db/world";
import { ApiError, notFound } from "../errors";
import { factsOf, openEventData } from "./codec";
import { type IngestActor, ingestEvents } from "./ingest";
import { patientModel } from "./state";
import { submitExtractions } from "./verification";

// ---------------------------------------------------------------------------------------------------------
// L0: transcripts in R2

export const transcriptKey = (workspaceId: string, callId: string) =>
  `transcripts/${workspaceId}/${callId}.json`;

/** Stores a call's transcript, sealed with the workspace key; R2 metadata holds ids only. */
export async function putTranscript(
  env: Env,
  workspaceId: string,
  callId: string,
  turns: TimedTurn[],
): Promise<string> {
  const transcript = Transcript.safeParse({ call_id: callId, turns });
  if (!transcript.success) throw new ApiError("validation_failed", "Invalid transcript");
  const key = transcriptKey(workspaceId, callId);
  const sealed = await encryptField(
    env.ENCRYPTION_KEY,
    workspaceId,
    `transcript:${callId}`,
    JSON.stringify(transcript.data),
  );
  await env.FILES.put(key, sealed, {
    httpMetadata: { contentType: "application/octet-stream" },
    customMetadata: { workspace_id: workspaceId, call_id: callId },
  });
  return key;
}

export async function getTranscript(
  env: Env,
  workspaceId: string,
  callId: string,
): Promise<Transcript | null> {
  if (!InteractionId.safeParse(callId).success) return null;
  const object = await env.FILES.get(transcriptKey(workspaceId, callId));
  if (!object) return null;
  const plain = await decryptField(
    env.ENCRYPTION_KEY,
    workspaceId,
    `transcript:${callId}`,
    await object.text(),
  );
  return Transcript.parse(JSON.parse(plain));
}

// ---------------------------------------------------------------------------------------------------------
// L1: extraction, and the memories of one interaction

type Turn = { speaker: Speaker; text: string };

/** Turns a conversation into candidate facts; null when it could not (the caller falls back to local). */
export interface FactExtractor {
  readonly engine: "local" | "workers_ai";
  extract(turns: Turn[]): Promise<ExtractedCandidate[] | null>;
}

export const localExtractor: FactExtractor = {
  engine: "local",
  extract: async (turns) => extractCandidates(turns),
};

/** An instruction model with JSON output; its answer is validated before anything is believed. */
export const EXTRACTION_MODEL = "@cf/meta/llama-3.3-70b-instruct-fp8-fast";

export function workersAiExtractor(ai: Ai): FactExtractor {
  return {
    engine: "workers_ai",
    extract: async (turns) =>
      parseModelExtraction(await ai.run(EXTRACTION_MODEL, modelExtractionInput(turns))),
  };
}

/** The one place the extractor is chosen: the model when bound, the local extractor otherwise. */
export function factExtractor(env: Env): FactExtractor {
  return env.AI ? workersAiExtractor(env.AI) : localExtractor;
}

export interface Extraction {
  engine: FactExtractor["engine"];
  facts: ExtractedCandidate[];
  /** Why the model's answer was not used, when it was not. */
  fallback: "model_failed" | "model_output_invalid" | null;
}

export async function extractFacts(env: Env, turns: Turn[]): Promise<Extraction> {
  const extractor = factExtractor(env);
  if (extractor.engine === "local")
    return { engine: "local", facts: extractCandidates(turns), fallback: null };
  let fallback: Extraction["fallback"];
  try {
    const facts = await extractor.extract(turns);
    if (facts) return { engine: extractor.engine, facts, fallback: null };
    fallback = "model_output_invalid";
  } catch {
    fallback = "model_failed";
  }
  console.warn(JSON.stringify({ level: "warn", event: "memory.extraction_fallback", reason: fallback }));
  return { engine: "local", facts: extractCandidates(turns), fallback };
}

export interface InteractionInput {
  entityId: string;
  interactionId: string;
  channel: "voice" | "sms";
  direction: "inbound" | "outbound";
  occurredAt: string;
  turns: TimedTurn[];
  summary?: string;
  /** Defaults to the topics found in the caller's words. */
  topics?: string[];
}

/**
 * What the call engine does when an interaction ends: the transcript to R2 (L0), the interaction event,
 * and the facts extracted from the caller's words into the verification pipeline (L1). Idempotent on
 * the interaction id: a retry stores nothing new.
 */
export async function rememberInteraction(
  env: Env,
  workspaceId: string,
  input: InteractionInput,
  actor: IngestActor,
) {
  if (!Transcript.safeParse({ call_id: input.interactionId, turns: input.turns }).success)
    throw new ApiError("validation_failed", "Invalid transcript");
  const producedBy = `interaction:${input.interactionId}`;
  const recorded = await ingestEvents(
    env,
    workspaceId,
    [
      {
        idempotency_key: producedBy,
        entity_id: input.entityId,
        event_type: "interaction.recorded",
        data: {
          interaction_id: input.interactionId,
          channel: input.channel,
          direction: input.direction,
          occurred_at: input.occurredAt,
          summary: input.summary ?? "",
          topics: input.topics ?? topicsOf(input.turns),
        },
        source: "system",
        produced_by: producedBy,
        effective_at: input.occurredAt,
      },
    ],
    actor,
  );
  // After the event, so a transcript never exists for an interaction that was refused.
  const transcriptKey = await putTranscript(env, workspaceId, input.interactionId, input.turns);
  const extraction = await extractFacts(env, input.turns);
  const verdicts =
    extraction.facts.length > 0
      ? await submitExtractions(
          env,
          workspaceId,
          {
            entity_id: input.entityId,
            interaction_id: input.interactionId,
            channel: input.channel,
            transcript: input.turns.map((t) => ({ speaker: t.speaker, text: t.text })),
            facts: extraction.facts,
          },
          actor,
        )
      : { results: [] };
  return {
    transcriptKey,
    interactionEventId: recorded.results[0]!.event_id,
    engine: extraction.engine,
    verdicts: verdicts.results,
  };
}

export interface InteractionMemory {
  event_id: string;
  event_type: string;
  path: string;
  value: FactValue;
  confidence: number;
  source: string;
  produced_by: string | null;
  ingested_at: string;
  /** This event's value is the projection's current winner for the path. */
  current: boolean;
  /** No event outside this interaction had put a candidate at this path before it. */
  net_new: boolean;
}

/**
 * L1: the memories of one interaction. Its `interaction.recorded` event, the events produced by it
 * (`produced_by = interaction:<id>`) and the events that superseded those (the judge's promotion, a
 * reviewer's decision). A fact is net-new when no other event known before the interaction had a
 * candidate at its path. Null when the patient has no such interaction.
 */
export async function interactionMemories(
  env: Env,
  workspaceId: string,
  entityId: string,
  interactionId: string,
) {
  const db = database(env.DB);
  const entity = await findEntity(db, workspaceId, entityId);
  if (entity?.entityType !== "patient") return null;
  const canonicalId = entity.mergedInto ?? entity.id;
  const [rows, state] = await Promise.all([
    listEntityEvents(db, workspaceId, canonicalId),
    patientModel(env, workspaceId, canonicalId).state({ workspaceId, entityId: canonicalId }),
  ]);
  const producedBy = `interaction:${interactionId}`;
  const opened = new Map<string, unknown>();
  const open = async (row: (typeof rows)[number]) => {
    if (!opened.has(row.id)) opened.set(row.id, await openEventData(env, row));
    return opened.get(row.id);
  };
  const inSet = new Set<string>();
  let interaction: Record<string, unknown> | null = null;
  for (const row of rows) {
    if (row.producedBy === producedBy) inSet.add(row.id);
    if (row.eventType === "interaction.recorded") {
      const data = (await open(row)) as { interaction_id?: string };
      if (data.interaction_id === interactionId) {
        inSet.add(row.id);
        interaction = { event_id: row.id, ...data };
      }
    }
  }
  if (inSet.size === 0) return null;
  // Follow supersessions forward: promotions and decisions about this interaction's facts.
  for (let grew = true; grew; ) {
    grew = false;
    for (const row of rows)
      if (row.supersedes && inSet.has(row.supersedes) && !inSet.has(row.id)) {
        inSet.add(row.id);
        grew = true;
      }
  }
  const ingestedAt = new Map(rows.map((r) => [r.id, r.ingestedAt]));
  const firstIngested = rows
    .filter((r) => inSet.has(r.id))
    .map((r) => r.ingestedAt)
    .sort()[0]!;
  const memories: InteractionMemory[] = [];
  for (const row of rows.filter((r) => inSet.has(r.id))) {
    for (const fact of factsOf(row.eventType, await open(row))) {
      const knownBefore = (state.history[fact.path] ?? []).some(
        (c) => !inSet.has(c.eventId) && (ingestedAt.get(c.eventId) ?? "") <= firstIngested,
      );
      memories.push({
        event_id: row.id,
        event_type: row.eventType,
        path: fact.path,
        value: fact.value,
        confidence: row.confidence,
        source: row.source,
        produced_by: row.producedBy,
        ingested_at: row.ingestedAt,
        current: state.facts[fact.path]?.eventId === row.id,
        net_new: !knownBefore,
      });
    }
  }
  return {
    entity_id: canonicalId,
    interaction_id: interactionId,
    interaction,
    memories,
    net_new_paths: [...new Set(memories.filter((m) => m.net_new).map((m) => m.path))].sort(),
    transcript: (await getTranscript(env, workspaceId, interactionId))?.turns ?? null,
  };
}

// ---------------------------------------------------------------------------------------------------------
// L2: the pattern cron

/** How far back the cron looks for new interactions: a day of missed runs is caught up. */
export const PATTERN_LOOKBACK_MS = 48 * 3_600_000;
/** Patients recomputed per run, over all workspaces; the rest wait for the next run. */
export const MAX_PATIENTS_PER_RUN = 200;
const CONCURRENCY = 8;

/**
 * Recomputes L2 patterns for patients with interaction or task events since their patterns were last
 * computed, and upserts them. Idempotent: a second run with nothing new recomputes nobody. Workspaces
 * are visited from a different start each hour, so one busy workspace cannot starve the rest. Patterns
 * are derived data (recomputable from audited events), so they are written without audit rows.
 */
export async function recomputePatterns(
  env: Env,
  at: Date,
  options: { maxPatients?: number } = {},
): Promise<{ recomputed: { workspaceId: string; entityId: string }[] }> {
  const db = database(env.DB);
  const since = new Date(at.getTime() - PATTERN_LOOKBACK_MS).toISOString();
  const all = await listWorkspaces(db);
  const start = all.length > 0 ? Math.floor(at.getTime() / 3_600_000) % all.length : 0;
  const recomputed: { workspaceId: string; entityId: string }[] = [];
  let budget = options.maxPatients ?? MAX_PATIENTS_PER_RUN;
  for (const workspace of [...all.slice(start), ...all.slice(0, start)]) {
    if (budget <= 0) break;
    const ids = await patientsWithNewInteractions(db, workspace.id, since, budget);
    if (ids.length === 0) continue;
    budget -= ids.length;
    // Stamped before reading: anything ingested while we compute is newer and is picked up next run.
    const computedAt = new Date().toISOString();
    const rows: Parameters<typeof upsertPatterns>[1] = [];
    for (let i = 0; i < ids.length; i += CONCURRENCY) {
      const settled = await Promise.allSettled(
        ids.slice(i, i + CONCURRENCY).map(async (entityId) => {
          const state = await patientModel(env, workspace.id, entityId).state({
            workspaceId: workspace.id,
            entityId,
          });
          const patterns = computePatterns(interactionsOf(state), tasksOf(state), {
            timeZone: workspace.timezone,
          });
          rows.push({ workspaceId: workspace.id, entityId, patterns, computedAt });
        }),
      );
      // One unreadable patient is retried next run; it does not cost the others their patterns.
      const failed = settled.filter((s) => s.status === "rejected").length;
      if (failed > 0)
        console.warn(
          JSON.stringify({
            level: "warn",
            event: "memory.patterns_failed",
            workspaceId: workspace.id,
            failed,
          }),
        );
    }
    const statements = upsertPatterns(db, rows);
    if (statements.length > 0) await db.batch(statements as [Statement, ...Statement[]]);
    recomputed.push(...rows.map((r) => ({ workspaceId: r.workspaceId, entityId: r.entityId })));
  }
  return { recomputed };
}

// ---------------------------------------------------------------------------------------------------------
// L3: the patient model at call start

/**
 * The compact model of a patient the call engine reads when a call starts: one D1 read (entity,
 * workspace settings and stored patterns, joined) and one PatientModel call. Stored patterns are used
 * while they cover every interaction the projection holds; otherwise they are computed for this read.
 */
export async function patientMemory(env: Env, workspaceId: string, entityId: string): Promise<PatientMemory> {
  const context = await memoryContext(database(env.DB), workspaceId, entityId);
  if (context?.entityType !== "patient") throw notFound("Patient");
  const id = context.canonicalId;
  const state = await patientModel(env, workspaceId, id).state({ workspaceId, entityId: id });
  const interactions = interactionsOf(state);
  const stored = context.patterns ? MemoryPatternsSchema.safeParse(context.patterns) : null;
  const patterns =
    stored?.success && stored.data.interactions === interactions.length
      ? { patterns: stored.data, computedAt: context.computedAt }
      : {
          patterns: computePatterns(interactions, tasksOf(state), { timeZone: context.timezone }),
          computedAt: null,
        };
  const settings = WorldSettings.safeParse(context.worldSettings ?? {});
  return buildPatientMemory(id, state, patterns, {
    verifiedConfidence: confidenceFor("judge_verified", settings.success ? settings.data : undefined),
  });
}
