/**
 * Inbound: FHIR resources from a data source into the world model, whichever way they come (a poll, a
 * Subscription notification, an imported Bundle).
 *
 * - `applyResources` validates each resource (validate.ts), maps it to world events (mapping.ts) and
 *   ingests the valid ones in a few large `ingestEvents` calls, recording one `source_events` row per
 *   version: `applied`, `failed` (FHIR paths and messages, never values, and nothing else written) or
 *   `skipped` (a type Switchboard does not model). A version the source delivered before is a duplicate
 *   and writes nothing at all.
 * - Polling (`requestPoll`, the `ehr.poll` job, `pollDueSources` on the five-minute cron) walks
 *   `Type?_lastUpdated=ge<cursor>&_sort=_lastUpdated` page by page, saving the cursor after each page.
 * - `receiveNotification` handles what the webhook receiver accepted: an R4 rest-hook ping or resource,
 *   or a Subscriptions Backport IG notification Bundle (handshake, heartbeat, event notifications with
 *   event numbers, whose gaps are filled by a poll).
 */
import { z } from "zod";
import { insideBusinessHours } from "../../shared/ehr/business-hours";
import { sha256Hex } from "../../shared/encoding";
import { newId } from "../../shared/ids";
import { ResourceId } from "../../shared/schemas/common";
import type { IngestEvent } from "../../shared/schemas/world";
import { database } from "../db/client";
import {
  claimPoll,
  finishPoll,
  insertSourceEvents,
  receivedVersions,
  recordNotification,
  type SourceEventRow,
  saveCursors,
  type VersionRef,
  versionRef,
} from "../db/source-events";
import { ApiError } from "../errors";
import { publish } from "../events";
import { enqueue, PermanentError, registerJob } from "../queue";
import { type IngestActor, type IngestOutcome, ingestEvents } from "../world/ingest";
import { type FhirClient, FhirError, fhirClient } from "./client";
import {
  type DataSource,
  type FhirBundle,
  type FhirResource,
  INBOUND_RESOURCE_TYPES,
  type InboundChannel,
  type PollCursor,
} from "./contracts";
import { resourceToEvents, versionKey } from "./mapping";
import { getSource, listEnabledSources } from "./sources";
import { validateFhirResource } from "./validate";

// ---------------------------------------------------------------------------------------------------------
// Applying resources

export interface Issue {
  path: string;
  message: string;
}

export type ApplyStatus = "applied" | "duplicate" | "failed" | "skipped";

export interface ApplyResult {
  resource_type: string;
  resource_id: string;
  status: ApplyStatus;
  /** World events this delivery stored (0 when every event was already there). */
  events_stored: number;
  entity_id: string | null;
  /** Why it failed: FHIR paths (or event fields) and messages, never the values. */
  issues?: Issue[];
  /** Why it was skipped. */
  reason?: string;
}

export interface ApplyOutcome {
  applied: number;
  duplicates: number;
  failed: number;
  skipped: number;
  results: ApplyResult[];
}

/** `ingestEvents` takes any number, but one D1 batch per thousand events keeps each call bounded. */
const MAX_EVENTS_PER_INGEST = 1000;
const MAX_ISSUES = 20;
const RESOURCE_TYPE = /^[A-Z][A-Za-z]{1,63}$/;
const FHIR_ID = /^[A-Za-z0-9.-]{1,64}$/;
const VERSION_KEY = /^[\x21-\x7e]{1,200}$/;

interface Pending {
  index: number;
  events: IngestEvent[];
}

const isObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === "object" && value !== null && !Array.isArray(value);

/**
 * How `source_events` names a delivery, even an invalid one: its type and id when they are well formed
 * (else `Unknown` / `-`, so nothing a sender put there is stored), and its version key (a hash of the
 * content when the resource is too broken to have one), so a re-delivered invalid resource is a
 * duplicate too.
 */
async function identify(raw: unknown): Promise<VersionRef> {
  const r = isObject(raw) ? raw : null;
  const resourceType =
    typeof r?.resourceType === "string" && RESOURCE_TYPE.test(r.resourceType) ? r.resourceType : "Unknown";
  const resourceId = typeof r?.id === "string" && FHIR_ID.test(r.id) ? r.id : "-";
  let key: string | null = null;
  if (r && resourceType !== "Unknown") {
    try {
      key = await versionKey(r as FhirResource);
    } catch {
      key = null;
    }
  }
  if (!key || !VERSION_KEY.test(key)) key = `sha256:${await sha256Hex(JSON.stringify(raw) ?? "null")}`;
  return { resourceType, resourceId, versionKey: key };
}

/**
 * Applies resources a source delivered, in order. Re-delivered versions (same source, type, id and
 * version) are duplicates and write nothing; invalid ones are recorded as failed source events and
 * write nothing else; the rest become world events, ingested by `actor` (the source itself unless a
 * person imported them).
 */
export async function applyResources(
  env: Env,
  source: DataSource,
  resources: unknown[],
  channel: InboundChannel,
  options: { actor?: IngestActor } = {},
): Promise<ApplyOutcome> {
  const db = database(env.DB);
  const workspaceId = source.workspaceId;
  const actor = options.actor ?? { actorType: "system" as const, actorId: source.id };
  const receivedAt = new Date().toISOString();
  const refs = await Promise.all(resources.map(identify));
  const before = await receivedVersions(db, workspaceId, source.id, refs);

  const results: ApplyResult[] = refs.map((ref) => ({
    resource_type: ref.resourceType,
    resource_id: ref.resourceId,
    status: "duplicate",
    events_stored: 0,
    entity_id: null,
  }));
  const rows = new Map<number, SourceEventRow>();
  const record = (index: number, result: Partial<ApplyResult> & { status: ApplyStatus }, error?: string) => {
    Object.assign(results[index]!, result);
    const ref = refs[index]!;
    rows.set(index, {
      id: newId("sev"),
      workspaceId,
      dataSourceId: source.id,
      channel,
      resourceType: ref.resourceType,
      resourceId: ref.resourceId,
      versionKey: ref.versionKey,
      status: result.status as SourceEventRow["status"],
      error: error ?? null,
      eventsStored: result.events_stored ?? 0,
      entityId: result.entity_id ?? null,
      receivedAt,
    });
  };
  const fail = (index: number, issues: Issue[]) => {
    const kept = issues.slice(0, MAX_ISSUES).map((i) => ({
      path: i.path.slice(0, 200),
      message: i.message.slice(0, 300),
    }));
    record(index, { status: "failed", issues: kept }, JSON.stringify(kept));
  };

  // 1. Validate and map everything; what is left is ingested.
  const pending: Pending[] = [];
  const inThisDelivery = new Set<string>();
  for (const [index, raw] of resources.entries()) {
    const key = versionRef(refs[index]!);
    if (before.has(key) || inThisDelivery.has(key)) continue;
    inThisDelivery.add(key);
    const validated = validateFhirResource(raw);
    if (!validated.ok) {
      fail(index, validated.issues);
      continue;
    }
    const mapped = resourceToEvents(validated.resource, source);
    if (!mapped.ok) {
      if (mapped.skipped) record(index, { status: "skipped", reason: mapped.reason }, mapped.reason);
      else fail(index, [{ path: refs[index]!.resourceType, message: mapped.reason }]);
      continue;
    }
    pending.push({ index, events: mapped.events });
  }

  // 2. Ingest in batches of at most MAX_EVENTS_PER_INGEST events, recording each batch as it lands.
  const flush = async (batch: Pending[]) => {
    const stored = await ingestBatch(env, workspaceId, batch, actor, fail);
    for (const p of batch) {
      if (results[p.index]!.status === "failed") continue;
      const outcomes = p.events.map((e) => stored.get(e.idempotency_key));
      record(p.index, {
        status: "applied",
        events_stored: outcomes.filter((o) => o?.status === "stored").length,
        entity_id: outcomes.find((o) => o)?.entity_id ?? null,
      });
    }
    await commit(batch.map((p) => p.index));
  };
  // Rows go in as their resources are settled, so a delivery cut short keeps what it had done.
  const commit = async (indexes: number[]) => {
    const batchRows = indexes.map((i) => rows.get(i)).filter((r): r is SourceEventRow => Boolean(r));
    const inserted = await insertSourceEvents(db, batchRows);
    for (const i of indexes) {
      const row = rows.get(i);
      // A concurrent delivery of the same version recorded it first: this one is its duplicate.
      if (row && !inserted.has(row.id)) Object.assign(results[i]!, { status: "duplicate" });
      rows.delete(i);
    }
  };

  let batch: Pending[] = [];
  let events = 0;
  for (const p of pending) {
    if (batch.length > 0 && events + p.events.length > MAX_EVENTS_PER_INGEST) {
      await flush(batch);
      batch = [];
      events = 0;
    }
    batch.push(p);
    events += p.events.length;
  }
  if (batch.length > 0) await flush(batch);
  await commit([...rows.keys()]);

  const count = (status: ApplyStatus) => results.filter((r) => r.status === status).length;
  return {
    applied: count("applied"),
    duplicates: count("duplicate"),
    failed: count("failed"),
    skipped: count("skipped"),
    results,
  };
}

type IngestResultRow = IngestOutcome["results"][number];

/**
 * One `ingestEvents` call for the batch. Mapping checks every event against the world's schemas, but
 * `ingestEvents` validates the whole batch before writing anything: should it still refuse some events
 * (a check only the database can make), the resources they belong to fail and the rest go in without
 * them, rather than one resource holding back a thousand.
 */
async function ingestBatch(
  env: Env,
  workspaceId: string,
  batch: Pending[],
  actor: IngestActor,
  fail: (index: number, issues: Issue[]) => void,
): Promise<Map<string, IngestResultRow>> {
  let remaining = batch;
  for (let attempt = 1; ; attempt++) {
    const events = remaining.flatMap((p) => p.events);
    if (events.length === 0) return new Map();
    try {
      const outcome = await ingestEvents(env, workspaceId, events, actor);
      return new Map(outcome.results.map((r) => [r.idempotency_key, r]));
    } catch (err) {
      const refused = attempt === 1 ? refusedEvents(err) : null;
      if (!refused || refused.size === 0) throw err;
      const owners = new Map<number, Issue[]>();
      let offset = 0;
      for (const p of remaining) {
        for (let i = 0; i < p.events.length; i++) {
          const issues = refused.get(offset + i);
          if (issues) owners.set(p.index, [...(owners.get(p.index) ?? []), ...issues]);
        }
        offset += p.events.length;
      }
      for (const [index, issues] of owners) fail(index, issues);
      remaining = remaining.filter((p) => !owners.has(p.index));
    }
  }
}

/** The events an `unprocessable` answer of `ingestEvents` names, by index in the batch. */
function refusedEvents(err: unknown): Map<number, Issue[]> | null {
  if (!(err instanceof ApiError) || err.code !== "unprocessable") return null;
  const issues = (err.details as { issues?: unknown } | null)?.issues;
  if (!Array.isArray(issues)) return null;
  const byIndex = new Map<number, Issue[]>();
  for (const issue of issues) {
    if (!isObject(issue) || typeof issue.index !== "number") return null;
    const list = byIndex.get(issue.index) ?? [];
    list.push({ path: `event.${String(issue.path)}`, message: String(issue.message) });
    byIndex.set(issue.index, list);
  }
  return byIndex;
}

// ---------------------------------------------------------------------------------------------------------
// Polling

export const POLL_TRIGGERS = ["manual", "schedule", "gap", "notification"] as const;
export type PollTrigger = (typeof POLL_TRIGGERS)[number];

/**
 * Per job: pages of `pageSize`, at most `maxPages` pages or `maxMs` (then a continuation job picks up
 * where it stopped). Searches start `overlapMs` before the cursor: a server may stamp `lastUpdated`
 * when a transaction starts, so a long transaction can commit a version older than one already seen;
 * re-reading the overlap costs a duplicate check, skipping it would lose the version.
 */
export const POLL_LIMITS = { pageSize: 100, maxPages: 20, maxMs: 25_000, overlapMs: 60_000 };
export type PollLimits = typeof POLL_LIMITS;

/**
 * A lease older than this belongs to a crashed poll (an evicted Worker never releases it). It is counted
 * from the walk's start: a walk longer than this (a first sync of a large EHR) is taken over by the next
 * poll, which resumes from the cursors saved page by page.
 */
export const STALE_POLL_MS = 15 * 60_000;
/** Cron runs drift by seconds: a source due "in 2 s" at this run is polled now, not five minutes later. */
const CRON_SLACK_MS = 30_000;
const FIVE_MINUTES_MS = 5 * 60_000;

export const PollJob = z.object({
  data_source_id: ResourceId,
  trigger: z.enum(POLL_TRIGGERS),
  /** A poll that started after this covers the request (absent: always poll). */
  requested_at: z.iso.datetime().optional(),
  /** A continuation's lease: the `last_poll_started_at` of the walk it continues. */
  lease: z.iso.datetime().optional(),
  /** Where a continuation resumes: this type, at this `next` link or with a fresh search. */
  resume: z
    .object({ resource_type: z.enum(INBOUND_RESOURCE_TYPES), url: z.url().max(4000).optional() })
    .optional(),
});
export type PollJob = z.infer<typeof PollJob>;

/** Enqueues an `ehr.poll` of the source; scheduled polls share a key per five-minute slot. */
export async function requestPoll(
  env: Env,
  source: DataSource,
  trigger: PollTrigger,
  at: Date = new Date(),
): Promise<{ job_id: string }> {
  const nonce =
    trigger === "schedule"
      ? `schedule-${Math.floor(at.getTime() / FIVE_MINUTES_MS)}`
      : `${trigger}-${crypto.randomUUID()}`;
  const jobId = `poll:${source.id}:${nonce}`;
  const payload: PollJob = {
    data_source_id: source.id,
    trigger,
    requested_at: at.toISOString(),
  };
  await enqueue(env.EHR_SYNC_QUEUE, {
    type: "ehr.poll",
    workspace_id: source.workspaceId,
    idempotency_key: jobId,
    payload,
  });
  return { job_id: jobId };
}

/** Another poll of the source is running: the queue retries this one later (with backoff). */
export class PollBusyError extends Error {
  override name = "PollBusyError";
}

export interface PollSummary {
  outcome: "completed" | "continued" | "covered" | "not_polled";
  pages: number;
  applied: number;
  duplicates: number;
  failed: number;
  skipped: number;
}

registerJob("ehr-sync", "ehr.poll", {
  payload: PollJob,
  handle: async (job, context) => {
    await pollSource(context.env, context.workspaceId, job);
  },
});

/**
 * One poll job: takes the source's lease, walks each resource type's `_lastUpdated` search from its
 * cursor (following `next` links, applying and saving the cursor page by page), and releases the lease
 * as `idle` or `error`. A walk that outgrows the job's budget continues in a new job holding the same
 * lease. Idempotent: a re-run reads from the saved cursors and its re-reads are duplicates.
 */
export async function pollSource(
  env: Env,
  workspaceId: string,
  job: PollJob,
  limits: PollLimits = POLL_LIMITS,
): Promise<PollSummary> {
  const db = database(env.DB);
  const totals = { pages: 0, applied: 0, duplicates: 0, failed: 0, skipped: 0 };
  const source = await getSource(env, workspaceId, job.data_source_id);
  if (!source?.enabled) return { outcome: "not_polled", ...totals };
  // A poll that started after the request (and has not failed) reads everything the request wanted.
  // Not for a continuation: the poll that started after its request is its own walk.
  if (
    !job.lease &&
    job.requested_at &&
    source.lastPollStartedAt &&
    source.lastPollStartedAt > job.requested_at &&
    source.status !== "error"
  )
    return { outcome: "covered", ...totals };

  const started = Date.now();
  const lease = job.lease ?? new Date(started).toISOString();
  const staleBefore = new Date(started - STALE_POLL_MS).toISOString();
  if (!(await claimPoll(db, workspaceId, source.id, lease, staleBefore, job.lease)))
    throw new PollBusyError("another poll of this source is running");

  const cursors: Record<string, PollCursor> = { ...source.cursors };
  const types = source.resourceTypes;
  // A continuation resumes at its type (unless the source no longer reads it: then from the start).
  const resumeAt = job.resume ? types.indexOf(job.resume.resource_type) : -1;
  const first = Math.max(0, resumeAt);
  let current: string = types[first] ?? "";
  try {
    const client = await fhirClient(env, source);
    for (let t = first; t < types.length; t++) {
      const type = types[t]!;
      current = type;
      let url: string | undefined = t === resumeAt ? job.resume?.url : undefined;
      for (;;) {
        if (totals.pages >= limits.maxPages || Date.now() - started >= limits.maxMs) {
          await enqueueContinuation(env, source, job, lease, { resource_type: type, url });
          return { outcome: "continued", ...totals };
        }
        const bundle = url
          ? await pageOrSearch(client, url, type, cursors[type], limits)
          : await client.search(type, searchParams(cursors[type], limits));
        const resources = pageResources(bundle);
        const outcome = await applyResources(env, source, resources, "poll");
        totals.pages++;
        totals.applied += outcome.applied;
        totals.duplicates += outcome.duplicates;
        totals.failed += outcome.failed;
        totals.skipped += outcome.skipped;
        const newest = newestLastUpdated(resources);
        if (newest && (!cursors[type] || newest > cursors[type].last_updated)) {
          cursors[type] = { last_updated: newest };
          if (!(await saveCursors(db, workspaceId, source.id, lease, cursors)))
            throw new PollBusyError("the poll's lease was taken over");
        }
        url = bundle.link?.find((l) => l.relation === "next")?.url;
        if (!url) break;
      }
    }
  } catch (err) {
    if (err instanceof PollBusyError) throw err;
    const text = pollErrorText(err, current);
    await finishPoll(db, workspaceId, source.id, lease, { ok: false, error: text });
    await publish(env, workspaceId, {
      type: "pipeline.error",
      data: {
        data_source_id: source.id,
        stage: "poll",
        resource_type: current,
        http_status: err instanceof FhirError ? err.status : null,
      },
    });
    if (err instanceof FhirError && !err.retryable) throw new PermanentError(text);
    throw err;
  }
  await finishPoll(db, workspaceId, source.id, lease, { ok: true });
  await publish(env, workspaceId, {
    type: "pipeline.sync_completed",
    data: { data_source_id: source.id, trigger: job.trigger, ...totals },
  });
  return { outcome: "completed", ...totals };
}

function enqueueContinuation(
  env: Env,
  source: DataSource,
  job: PollJob,
  lease: string,
  resume: NonNullable<PollJob["resume"]>,
) {
  const payload: PollJob = {
    ...job,
    lease,
    resume: resume.url ? resume : { resource_type: resume.resource_type },
  };
  return enqueue(env.EHR_SYNC_QUEUE, {
    type: "ehr.poll",
    workspace_id: source.workspaceId,
    idempotency_key: `poll:${source.id}:continue-${crypto.randomUUID()}`,
    payload,
  });
}

/**
 * `_lastUpdated=ge<cursor - overlap>`: `ge`, not `gt`, because real servers give several resources the
 * same `lastUpdated` (a batch commit), and a page can end in the middle of them; what is read again is a
 * duplicate. The first poll of a type has no filter.
 */
function searchParams(cursor: PollCursor | undefined, limits: PollLimits): Record<string, string> {
  const params: Record<string, string> = { _sort: "_lastUpdated", _count: String(limits.pageSize) };
  if (cursor) {
    const from = new Date(Date.parse(cursor.last_updated) - limits.overlapMs);
    params._lastUpdated = `ge${from.toISOString()}`;
  }
  return params;
}

/** A continuation's `next` link, or a fresh search from the cursor when the server no longer honours it. */
async function pageOrSearch(
  client: FhirClient,
  url: string,
  type: string,
  cursor: PollCursor | undefined,
  limits: PollLimits,
): Promise<FhirBundle> {
  try {
    return await client.page(url);
  } catch (err) {
    if (err instanceof FhirError && err.retryable) throw err;
    return client.search(type, searchParams(cursor, limits));
  }
}

function pageResources(bundle: FhirBundle): unknown[] {
  return (bundle.entry ?? [])
    .filter((e) => (e as { search?: { mode?: string } }).search?.mode !== "outcome")
    .map((e) => e.resource)
    .filter((r): r is FhirResource => isObject(r) && r.resourceType !== "OperationOutcome");
}

/** The newest `meta.lastUpdated` among the resources, as an ISO instant (sub-millisecond digits dropped). */
function newestLastUpdated(resources: unknown[]): string | null {
  let newest = Number.NEGATIVE_INFINITY;
  for (const r of resources) {
    const at = isObject(r) && isObject(r.meta) ? r.meta.lastUpdated : undefined;
    const ms = typeof at === "string" ? Date.parse(at) : Number.NaN;
    if (ms > newest) newest = ms;
  }
  return Number.isFinite(newest) ? new Date(newest).toISOString() : null;
}

/** The error as the source's `last_error`: what failed and how, never a server's text (it may quote data). */
function pollErrorText(err: unknown, resourceType: string): string {
  if (err instanceof FhirError)
    return err.status === 0
      ? `${resourceType}: the EHR did not answer (network error or timeout)`
      : `${resourceType}: the EHR answered HTTP ${err.status}`;
  return `${resourceType}: ${err instanceof Error ? err.name : "error"} while applying resources`;
}

/**
 * The five-minute cron: requests a poll of every enabled `fhir_store` source that is due (its interval
 * has passed since its last poll started), not already polling (unless that poll is stale), and inside
 * its business hours. Returns how many polls were requested.
 */
export async function pollDueSources(env: Env, at: Date): Promise<number> {
  const due = (await listEnabledSources(env, "fhir_store")).filter((s) => pollIsDue(s, at));
  const results = await Promise.allSettled(due.map((s) => requestPoll(env, s, "schedule", at)));
  results.forEach((r, i) => {
    if (r.status === "rejected")
      console.error(
        JSON.stringify({ level: "error", event: "ehr.poll_request_failed", dataSourceId: due[i]!.id }),
      );
  });
  return results.filter((r) => r.status === "fulfilled").length;
}

export function pollIsDue(source: DataSource, at: Date): boolean {
  const now = at.getTime();
  const started = source.lastPollStartedAt ? Date.parse(source.lastPollStartedAt) : null;
  if (source.status === "polling" && started !== null && now - started < STALE_POLL_MS) return false;
  const last = started ?? (source.lastPollAt ? Date.parse(source.lastPollAt) : null);
  if (last !== null && now - last < source.pollIntervalSeconds * 1000 - CRON_SLACK_MS) return false;
  return insideBusinessHours(source.businessHours, at);
}

// ---------------------------------------------------------------------------------------------------------
// Notifications

export const NOTIFICATION_TYPES = ["handshake", "heartbeat", "event-notification", "query-status"] as const;
export type NotificationType = (typeof NOTIFICATION_TYPES)[number];

export interface NotificationSummary {
  /** `ping`: an R4 rest-hook without payload; `resource` / `bundle`: R4 rest-hook payloads. */
  kind: "ping" | "resource" | "bundle" | NotificationType;
  events: number;
  applied: number;
  duplicates: number;
  failed: number;
  skipped: number;
  /** A poll was requested: a ping, a gap in event numbers, or events whose resources were not sent. */
  poll_requested: boolean;
  gap: boolean;
}

/** What the receiver answers 400 to: the body is JSON but not a FHIR resource or notification. */
const notFhir = (message: string) => new ApiError("bad_request", message);

/** At most this many focus resources are read back for one id-only notification; more, and a poll. */
const MAX_FOCUS_READS = 10;

/**
 * Handles an authenticated notification for the source: `null` for an empty body. Idempotent: a
 * notification delivered again writes nothing (its resource versions are duplicates, its event numbers
 * already seen).
 */
export async function receiveNotification(
  env: Env,
  source: DataSource,
  body: unknown | null,
): Promise<NotificationSummary> {
  const summary: NotificationSummary = {
    kind: "ping",
    events: 0,
    applied: 0,
    duplicates: 0,
    failed: 0,
    skipped: 0,
    poll_requested: false,
    gap: false,
  };
  const db = database(env.DB);
  const at = new Date().toISOString();
  if (body === null) {
    await requestPoll(env, source, "notification");
    await recordNotification(db, source.workspaceId, source.id, at, null);
    return { ...summary, poll_requested: true };
  }
  if (!isObject(body) || typeof body.resourceType !== "string" || !RESOURCE_TYPE.test(body.resourceType))
    throw notFhir("The body is not a FHIR resource (no resourceType)");
  if (body.resourceType !== "Bundle") {
    const outcome = await applyResources(env, source, [body], "webhook");
    if (wroteSomething(outcome)) await recordNotification(db, source.workspaceId, source.id, at, null);
    return { ...summary, kind: "resource", events: 1, ...counts(outcome) };
  }
  const entries = Array.isArray(body.entry) ? (body.entry as unknown[]) : [];
  const head = isObject(entries[0]) ? entries[0].resource : undefined;
  if (body.type === "history" && isObject(head) && head.resourceType === "Parameters")
    return receiveBackport(env, source, parseStatus(head), entries.slice(1), summary);
  const resources = entries.map((e) => (isObject(e) ? e.resource : undefined)).filter((r) => r !== undefined);
  const outcome = await applyResources(env, source, resources, "webhook");
  if (wroteSomething(outcome)) await recordNotification(db, source.workspaceId, source.id, at, null);
  return { ...summary, kind: "bundle", events: resources.length, ...counts(outcome) };
}

const counts = (o: ApplyOutcome) => ({
  applied: o.applied,
  duplicates: o.duplicates,
  failed: o.failed,
  skipped: o.skipped,
});
const wroteSomething = (o: ApplyOutcome) => o.applied + o.failed + o.skipped > 0;

/** The SubscriptionStatus of a Backport IG R4 notification (a `Parameters` resource), as read here. */
export interface SubscriptionStatus {
  type: NotificationType;
  eventsSinceStart: number | null;
  events: { number: number; focus: string | null }[];
}

/** Event numbers are `valueString` in STU 1.1 and integers in later versions: both are read. */
function eventNumber(part: Record<string, unknown>, what: string): number {
  for (const key of [
    "valueString",
    "valueUnsignedInt",
    "valuePositiveInt",
    "valueInteger",
    "valueInteger64",
  ]) {
    const value = part[key];
    if (value === undefined) continue;
    const text = String(value);
    if (/^\d{1,15}$/.test(text)) return Number(text);
    break;
  }
  throw notFhir(`${what} is not a non-negative integer`);
}

export function parseStatus(parameters: Record<string, unknown>): SubscriptionStatus {
  const params = Array.isArray(parameters.parameter) ? parameters.parameter.filter(isObject) : [];
  const named = (name: string) => params.filter((p) => p.name === name);
  const type = named("type")[0]?.valueCode;
  if (!NOTIFICATION_TYPES.includes(type as NotificationType))
    throw notFhir(`The notification's type must be one of ${NOTIFICATION_TYPES.join(", ")}`);
  const since = named("events-since-subscription-start")[0];
  const events = named("notification-event").map((event) => {
    const parts = Array.isArray(event.part) ? event.part.filter(isObject) : [];
    const numberPart = parts.find((p) => p.name === "event-number");
    if (!numberPart) throw notFhir("A notification-event has no event-number");
    const focus = parts.find((p) => p.name === "focus")?.valueReference;
    const reference = isObject(focus) && typeof focus.reference === "string" ? focus.reference : null;
    return { number: eventNumber(numberPart, "event-number"), focus: reference };
  });
  return {
    type: type as NotificationType,
    eventsSinceStart: since ? eventNumber(since, "events-since-subscription-start") : null,
    events,
  };
}

/**
 * Whether numbers went missing: any number after the last one seen and up to the newest one this
 * notification knows of (its events, and its count since the subscription started) that it does not
 * carry. With no number seen yet, a first event after 1 means earlier ones were missed.
 */
export function eventGap(last: number | null, status: SubscriptionStatus): boolean {
  const numbers = new Set(status.events.map((e) => e.number));
  const newest = Math.max(...numbers, status.eventsSinceStart ?? 0);
  const from = (last ?? 0) + 1;
  if (newest - from > 10_000) return true;
  for (let n = from; n <= newest; n++) if (!numbers.has(n)) return true;
  return false;
}

async function receiveBackport(
  env: Env,
  source: DataSource,
  status: SubscriptionStatus,
  entries: unknown[],
  summary: NotificationSummary,
): Promise<NotificationSummary> {
  const db = database(env.DB);
  const at = new Date().toISOString();
  const result: NotificationSummary = { ...summary, kind: status.type, events: status.events.length };

  if (status.type === "handshake") {
    // A new subscription counts from its start again.
    await recordNotification(
      db,
      source.workspaceId,
      source.id,
      at,
      status.eventsSinceStart === null ? null : { resetTo: status.eventsSinceStart },
    );
    return result;
  }

  const gap = eventGap(source.lastEventNumber, status);
  const newest = Math.max(...status.events.map((e) => e.number), status.eventsSinceStart ?? 0);
  let pollWanted = gap;
  let outcome: ApplyOutcome | null = null;
  if (status.type === "event-notification") {
    const carried = entries
      .filter(isObject)
      .map((e) => ({ fullUrl: typeof e.fullUrl === "string" ? e.fullUrl : null, resource: e.resource }))
      .filter((e) => e.resource !== undefined);
    const resources = carried.map((e) => e.resource);
    // Events whose focus was not sent (id-only payloads) are read back; events with no focus at all
    // (empty payloads) say only that something changed: a poll finds what.
    const unsent = status.events.filter((e) => e.focus && !carried.some((c) => sameFocus(c, e.focus!)));
    if (status.events.some((e) => !e.focus) && carried.length === 0) pollWanted = true;
    if (unsent.length > 0) {
      const fetched = await readFocus(
        env,
        source,
        unsent.map((e) => e.focus!),
      );
      if (fetched === null) pollWanted = true;
      else resources.push(...fetched);
    }
    if (resources.length > 0) outcome = await applyResources(env, source, resources, "webhook");
  }
  if (outcome) Object.assign(result, counts(outcome));
  if (pollWanted) await requestPoll(env, source, gap ? "gap" : "notification");
  const advanced = newest > (source.lastEventNumber ?? 0) || source.lastEventNumber === null;
  const wrote = outcome ? wroteSomething(outcome) : false;
  if (advanced || wrote || pollWanted || status.type !== "event-notification")
    await recordNotification(db, source.workspaceId, source.id, at, { max: newest });
  return { ...result, gap, poll_requested: pollWanted };
}

/** `Type/id` of a reference (relative, absolute, or versioned), or null when it names no FHIR resource. */
function referenceKey(reference: string): string | null {
  const match =
    /(?:^|\/)([A-Z][A-Za-z]{1,63})\/([A-Za-z0-9.-]{1,64})(?:\/_history\/[A-Za-z0-9.-]{1,64})?$/.exec(
      reference,
    );
  return match ? `${match[1]}/${match[2]}` : null;
}

function sameFocus(carried: { fullUrl: string | null; resource: unknown }, focus: string): boolean {
  if (carried.fullUrl === focus) return true;
  const r = carried.resource;
  return isObject(r) && referenceKey(focus) === `${String(r.resourceType)}/${String(r.id)}`;
}

/**
 * Reads the focus resources from the source, or null when that cannot be done here (too many, a
 * reference to another server, the EHR failing): the caller then requests a poll, so nothing is lost.
 */
async function readFocus(env: Env, source: DataSource, focus: string[]): Promise<FhirResource[] | null> {
  if (focus.length > MAX_FOCUS_READS) return null;
  const base = source.baseUrl.replace(/\/+$/, "");
  const keys: string[] = [];
  for (const reference of focus) {
    const absolute = /^https?:\/\//i.test(reference);
    if (absolute && !reference.startsWith(`${base}/`)) return null;
    const key = referenceKey(reference);
    if (!key) return null;
    keys.push(key);
  }
  try {
    const client = await fhirClient(env, source);
    return await Promise.all(
      [...new Set(keys)].map((key) => {
        const [type, id] = key.split("/") as [string, string];
        return client.read(type, id);
      }),
    );
  } catch (err) {
    if (err instanceof FhirError) return null;
    throw err;
  }
}
