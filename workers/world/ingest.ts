/**
 * Ingesting world events, the one way anything enters the world model (API, FHIR connectors, calls,
 * surfaces, reviews). Validate the whole batch first, so an invalid event writes nothing; find or create
 * entities by external id; store the events (a re-delivered idempotency key is a no-op); update each
 * entity's projection; write every entity's identity index and name terms in one batch; then look for
 * duplicates among entities whose identity changed (one lookup for all): strong matches merge
 * (`same_as`), uncertain ones go to review. An entity created by the call is projected from the events in
 * hand, so new entities cost no Durable Object call and no D1 round trip of their own.
 */
import { and, eq, sql } from "drizzle-orm";
import { blindIndex } from "../../shared/crypto/blind-index";
import { newId } from "../../shared/ids";
import type { IngestEvent } from "../../shared/schemas/world";
import { type ConfidenceBasis, confidenceFor, WorldSettings } from "../../shared/world/confidence";
import {
  type EntityType,
  type EventType,
  type Fact,
  parseEventData,
  type Source,
} from "../../shared/world/events";
import { type IdentitySummary, identityOf } from "../../shared/world/identity";
import { type ProjectableEvent, project } from "../../shared/world/projection";
import { identifierKeys, type MatchKind, rankCandidates, searchTerms } from "../../shared/world/resolution";
import { type AuditEntry, appendAudit } from "../db/audit";
import { type Db, database, type Statement } from "../db/client";
import { type entityIdentifiers, workspaces, worldEntities } from "../db/schema";
import {
  existingIdempotencyKeys,
  findEntities,
  findIdentifierHits,
  insertEdges,
  insertEntities,
  insertEvents,
  insertIdentifiers,
  replaceTermsOf,
  updateEntity,
} from "../db/world";
import { scheduleWritebackSoon } from "../ehr/writeback";
import { ApiError } from "../errors";
import { sealDisplayName, sealEventData } from "./codec";
import { queueEntityMatchReview } from "./review-items";
import { applyToEntity, patientModel } from "./state";

const DEFAULT_BASIS: Record<Source, ConfidenceBasis | null> = {
  ehr: "authoritative",
  fhir_store: "authoritative",
  api: "authoritative",
  system: "authoritative",
  operator: "clinician_edit",
  surface: "surface_submission",
  voice: "agent_mentioned",
  sms: "agent_mentioned",
  review: null,
};

/** Facts that did not come from the EHR become eligible for writeback at the workspace's threshold. */
export function writebackEligible(source: Source, confidence: number, settings: WorldSettings): boolean {
  return (
    !["ehr", "fhir_store", "api"].includes(source) &&
    confidence > 0 &&
    confidence >= settings.writeback_threshold
  );
}

export async function worldSettings(db: Db, workspaceId: string): Promise<WorldSettings> {
  const [row] = await db
    .select({ s: workspaces.worldSettings })
    .from(workspaces)
    .where(eq(workspaces.id, workspaceId));
  return WorldSettings.parse(row?.s ?? {});
}

export interface IngestOutcome {
  results: { idempotency_key: string; event_id: string; entity_id: string; status: "stored" | "duplicate" }[];
  stored: number;
  duplicates: number;
  entitiesCreated: number;
  merges: number;
  reviewsQueued: number;
}

interface Prepared {
  input: IngestEvent;
  data: unknown;
  facts: Fact[];
  confidence: number;
}

export interface IngestActor {
  actorType: AuditEntry["actorType"];
  actorId: string | null;
  requestId?: string | null;
}

export async function ingestEvents(
  env: Env,
  workspaceId: string,
  events: IngestEvent[],
  actor: IngestActor,
): Promise<IngestOutcome> {
  const db = database(env.DB);
  const settings = await worldSettings(db, workspaceId);

  // Entities named by id must exist in this workspace, and their type must fit the event.
  const namedIds = [...new Set(events.map((e) => e.entity_id).filter((id): id is string => Boolean(id)))];
  const named = new Map((await findEntities(db, workspaceId, namedIds)).map((e) => [e.id, e]));

  // 1. Validate everything before writing anything.
  const issues: { index: number; path: string; message: string }[] = [];
  const keys = new Set<string>();
  const prepared: Prepared[] = [];
  events.forEach((input, index) => {
    if (keys.has(input.idempotency_key))
      issues.push({ index, path: "idempotency_key", message: "repeated within the batch" });
    keys.add(input.idempotency_key);
    const entityType = (input.entity?.entity_type ??
      named.get(input.entity_id ?? "")?.entityType ??
      "patient") as EntityType;
    const parsed = parseEventData(input.event_type as EventType, entityType, input.data);
    if (!parsed.ok) {
      for (const issue of parsed.issues) issues.push({ index, ...issue });
      return;
    }
    const basis = DEFAULT_BASIS[input.source];
    if (input.confidence === undefined && basis === null) {
      issues.push({ index, path: "confidence", message: `required for source ${input.source}` });
      return;
    }
    prepared.push({
      input,
      data: parsed.data,
      facts: parsed.facts,
      confidence: input.confidence ?? confidenceFor(basis!, settings),
    });
  });

  events.forEach((input, index) => {
    if (!input.entity_id) return;
    const entity = named.get(input.entity_id);
    if (!entity) issues.push({ index, path: "entity_id", message: "no such entity in this workspace" });
  });
  if (issues.length > 0) {
    throw new ApiError("unprocessable", `${issues.length} invalid event(s): nothing was stored`, { issues });
  }

  // 2. Find or create entities named by external id.
  const externalRefs = new Map<string, { entityType: string; externalId: string }>();
  for (const e of events)
    if (e.entity)
      externalRefs.set(e.entity.external_id, {
        entityType: e.entity.entity_type,
        externalId: e.entity.external_id,
      });
  const externalHashes = new Map<string, string>(
    await Promise.all(
      [...externalRefs.keys()].map(
        async (ext) => [ext, await blindIndex(env.ENCRYPTION_KEY, workspaceId, "external_id", ext)] as const,
      ),
    ),
  );
  const hits = await findIdentifierHits(
    db,
    workspaceId,
    [...externalHashes.values()].map((valueHash) => ({ kind: "external_id", valueHash })),
  );
  // One read for every hit's merge pointer (not one query per external id).
  const hitRows = new Map(
    (await findEntities(db, workspaceId, [...new Set(hits.map((h) => h.entityId))])).map((e) => [e.id, e]),
  );
  const hitByHash = new Map(hits.map((h) => [h.valueHash, h.entityId]));
  const entityByExternal = new Map<string, string>();
  for (const [ext, hash] of externalHashes) {
    const hitId = hitByHash.get(hash);
    if (hitId) entityByExternal.set(ext, hitRows.get(hitId)?.mergedInto ?? hitId);
  }
  const now = new Date().toISOString();
  const newEntities: (typeof worldEntities.$inferInsert)[] = [];
  const newIdentifiers: (typeof entityIdentifiers.$inferInsert)[] = [];
  for (const [ext, ref] of externalRefs) {
    if (entityByExternal.has(ext)) continue;
    const id = newId("ent");
    const firstSource = events.find((e) => e.entity?.external_id === ext)!.source;
    newEntities.push({
      id,
      workspaceId,
      entityType: ref.entityType,
      source: firstSource,
      confidence: 0,
      createdAt: now,
      updatedAt: now,
    });
    newIdentifiers.push({
      workspaceId,
      kind: "external_id",
      valueHash: externalHashes.get(ext)!,
      entityId: id,
    });
    entityByExternal.set(ext, id);
  }

  // 3. Store the events; a key seen before is reported as a duplicate and not stored again.
  const seen = await existingIdempotencyKeys(db, workspaceId, [...keys]);
  const results: IngestOutcome["results"] = [];
  const rows: Parameters<typeof insertEvents>[1] = [];
  const rowData: unknown[] = [];
  const byEntity = new Map<string, { entityType: string; events: ProjectableEvent[] }>();
  for (const p of prepared) {
    const entityId = p.input.entity_id
      ? (named.get(p.input.entity_id)?.mergedInto ?? p.input.entity_id)
      : entityByExternal.get(p.input.entity!.external_id)!;
    const entityType =
      p.input.entity?.entity_type ?? named.get(p.input.entity_id ?? "")?.entityType ?? "patient";
    const previous = seen.get(p.input.idempotency_key);
    if (previous) {
      results.push({
        idempotency_key: p.input.idempotency_key,
        event_id: previous.id,
        entity_id: previous.entityId,
        status: "duplicate",
      });
      continue;
    }
    const id = newId("evt");
    const effectiveAt = p.input.effective_at ? new Date(p.input.effective_at).toISOString() : now;
    rowData.push(p.data);
    rows.push({
      id,
      workspaceId,
      entityId,
      entityType,
      domain: p.input.event_type.split(".")[0]!,
      eventType: p.input.event_type,
      dataEnc: "", // sealed below, all rows at once
      confidence: p.confidence,
      source: p.input.source,
      sourceSystem: p.input.source_system ?? null,
      producedBy: p.input.produced_by ?? null,
      effectiveAt,
      ingestedAt: now,
      supersedes: p.input.supersedes ?? null,
      fhirResourceType: p.input.fhir_resource_type ?? null,
      fhirResourceId: p.input.fhir_resource_id ?? null,
      syncStatus: writebackEligible(p.input.source, p.confidence, settings) ? "eligible" : "none",
      idempotencyKey: p.input.idempotency_key,
    });
    const group = byEntity.get(entityId) ?? { entityType, events: [] };
    group.events.push({
      id,
      eventType: p.input.event_type as EventType,
      facts: p.facts,
      confidence: p.confidence,
      source: p.input.source,
      effectiveAt,
      supersedes: p.input.supersedes ?? null,
    });
    byEntity.set(entityId, group);
    results.push({
      idempotency_key: p.input.idempotency_key,
      event_id: id,
      entity_id: entityId,
      status: "stored",
    });
  }
  const sealed = await Promise.all(rows.map((r, i) => sealEventData(env, workspaceId, r.id!, rowData[i])));
  rows.forEach((r, i) => {
    r.dataEnc = sealed[i]!;
  });
  let stored = rows.length;
  if (stored > 0 || newEntities.length > 0) {
    await appendAudit(
      db,
      {
        workspaceId,
        ...actor,
        action: "world.events_ingested",
        targetType: "world",
        targetId: workspaceId,
        details: { stored, duplicates: results.length - stored, entities_created: newEntities.length },
      },
      [
        ...insertEntities(db, newEntities),
        ...insertIdentifiers(db, newIdentifiers),
        ...insertEvents(db, rows),
      ],
    );
  }

  // A request racing this one may have stored some of the same keys first (the insert skipped ours):
  // its events stand, ours are reported as duplicates of them and projected nowhere.
  if (stored > 0) {
    const landed = await existingIdempotencyKeys(
      db,
      workspaceId,
      rows.map((r) => r.idempotencyKey),
    );
    const lost = new Set(
      rows.filter((r) => (landed.get(r.idempotencyKey)?.id ?? r.id) !== r.id).map((r) => r.id),
    );
    for (const result of results) {
      const winner = landed.get(result.idempotency_key);
      if (winner && lost.has(result.event_id))
        Object.assign(result, { event_id: winner.id, entity_id: winner.entityId, status: "duplicate" });
    }
    for (const [entityId, group] of byEntity) {
      group.events = group.events.filter((e) => !lost.has(e.id));
      if (group.events.length === 0) byEntity.delete(entityId);
    }
    stored -= lost.size;
    // Facts now eligible for writeback go to the EHR once this commit is in (the cron sweeps up misses).
    if (rows.some((r) => r.syncStatus === "eligible" && !lost.has(r.id)))
      scheduleWritebackSoon(env, workspaceId);
  }

  // 4. Project; 5. refresh identity indexes, all entities in one batch; 6. look for duplicates of
  // entities whose identity changed, with one lookup for all of them.
  const created = new Set(newEntities.map((e) => e.id));
  const groups = [...byEntity];
  const identities = await mapLimit(groups, PROJECTION_CONCURRENCY, ([entityId, group]) =>
    projectEntity(env, workspaceId, entityId, group, created.has(entityId)),
  );
  const refreshed = await Promise.all(
    groups.map(([entityId, group], i) =>
      identityRefresh(env, workspaceId, entityId, group.events.length, identities[i]!),
    ),
  );
  await writeIdentities(db, workspaceId, refreshed);
  const { merges, reviewsQueued } = await checkDuplicates(env, db, workspaceId, refreshed, settings);
  return {
    results,
    stored,
    duplicates: results.length - stored,
    entitiesCreated: newEntities.length,
    merges,
    reviewsQueued,
  };
}

/** PatientModel calls in flight at once (each is one RPC to an independent object). */
const PROJECTION_CONCURRENCY = 32;

/** `fn` over `items` with at most `limit` calls in flight; results in the order of `items`. */
async function mapLimit<T, R>(items: T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}

/**
 * After the events are committed: the entity's updated identity. An entity created by this very ingest
 * has no other events in D1 (its id is new), so its identity is projected from the events in hand: no
 * PatientModel call and no D1 read. Its PatientModel is made on first use, when a cold object's check
 * finds its empty copy behind D1 and loads the events from there. Any other patient's PatientModel
 * stores the events; other entities are projected from D1.
 */
async function projectEntity(
  env: Env,
  workspaceId: string,
  entityId: string,
  group: { entityType: string; events: ProjectableEvent[] },
  created: boolean,
): Promise<IdentitySummary> {
  if (created) return identityOf(project(group.events));
  return applyToEntity(env, workspaceId, { id: entityId, entityType: group.entityType }, group.events);
}

interface Refreshed {
  entityId: string;
  newEvents: number;
  identity: IdentitySummary;
  /** The entity's identifiers, blind-indexed. */
  hashed: { kind: MatchKind; valueHash: string }[];
  displayNameEnc: string | null;
  /** Name-term hashes, when the entity has a display name. */
  terms: string[] | null;
}

/** The entity's identity, sealed and hashed for storage (no I/O). */
async function identityRefresh(
  env: Env,
  workspaceId: string,
  entityId: string,
  newEvents: number,
  identity: IdentitySummary,
): Promise<Refreshed> {
  const keys = identifierKeys(identity.details);
  for (const ext of identity.externalIds) keys.push({ kind: "external_id", value: ext });
  const [hashed, displayNameEnc, terms] = await Promise.all([
    Promise.all(
      keys.map(async (k) => ({
        kind: k.kind,
        valueHash: await blindIndex(env.ENCRYPTION_KEY, workspaceId, k.kind, k.value),
      })),
    ),
    identity.displayName ? sealDisplayName(env, workspaceId, entityId, identity.displayName) : null,
    identity.displayName
      ? Promise.all(
          searchTerms(identity.displayName).map((t) =>
            blindIndex(env.ENCRYPTION_KEY, workspaceId, "term", t),
          ),
        )
      : null,
  ]);
  return { entityId, newEvents, identity, hashed, displayNameEnc, terms };
}

/**
 * Writes every refreshed entity's identity (display name, counts, confidence, blind indexes, name terms)
 * in one D1 batch: all of them land or none do.
 */
async function writeIdentities(db: Db, workspaceId: string, refreshed: Refreshed[]): Promise<void> {
  if (refreshed.length === 0) return;
  const lastEventAt = now();
  const statements: Statement[] = [
    ...refreshed.map((r) =>
      updateEntity(db, workspaceId, r.entityId, {
        displayNameEnc: r.displayNameEnc,
        confidence: r.identity.confidence,
        eventCount: sql`${worldEntities.eventCount} + ${r.newEvents}` as unknown as number,
        lastEventAt,
      }),
    ),
    ...insertIdentifiers(
      db,
      refreshed.flatMap((r) =>
        r.hashed.map((h) => ({ workspaceId, kind: h.kind, valueHash: h.valueHash, entityId: r.entityId })),
      ),
    ),
    ...replaceTermsOf(
      db,
      workspaceId,
      new Map(refreshed.flatMap((r) => (r.terms ? [[r.entityId, r.terms] as const] : []))),
    ),
  ];
  await db.batch(statements as [Statement, ...Statement[]]);
}

/**
 * Checks the refreshed entities' identifiers against other entities (one lookup for all of them);
 * strong matches merge, uncertain ones go to review. Matches sharing an entity are settled one after the
 * other, each against fresh rows (so two entities of the batch that match each other merge once);
 * unrelated ones in parallel.
 */
async function checkDuplicates(
  env: Env,
  db: Db,
  workspaceId: string,
  refreshed: Refreshed[],
  settings: WorldSettings,
): Promise<{ merges: number; reviewsQueued: number }> {
  const hits = await findIdentifierHits(
    db,
    workspaceId,
    refreshed.flatMap((r) => r.hashed),
  );
  if (hits.length === 0) return { merges: 0, reviewsQueued: 0 };
  const holders = new Map<string, { entityId: string; kind: string }[]>();
  for (const h of hits) {
    const key = `${h.kind}\u0000${h.valueHash}`;
    holders.set(key, [...(holders.get(key) ?? []), h]);
  }
  const matches = refreshed
    .map((r) => ({
      entityId: r.entityId,
      hits: r.hashed
        .flatMap((k) => holders.get(`${k.kind}\u0000${k.valueHash}`) ?? [])
        .filter((h) => h.entityId !== r.entityId),
    }))
    .filter((m) => m.hits.length > 0);
  // Chains of matches that share an entity (union-find over the entity ids), in the batch's order.
  const parent = new Map<string, string>();
  const root = (id: string): string => {
    const up = parent.get(id) ?? id;
    if (up === id) return id;
    const top = root(up);
    parent.set(id, top);
    return top;
  };
  for (const m of matches) for (const h of m.hits) parent.set(root(h.entityId), root(m.entityId));
  const chains = new Map<string, typeof matches>();
  for (const m of matches) {
    const r = root(m.entityId);
    chains.set(r, [...(chains.get(r) ?? []), m]);
  }
  let merges = 0;
  let reviewsQueued = 0;
  const inTurn = oneAtATime();
  await mapLimit([...chains.values()], SETTLE_CONCURRENCY, async (chain) => {
    for (const m of chain) {
      const outcome = await settleMatch(env, db, workspaceId, m.entityId, m.hits, settings, inTurn);
      merges += outcome.merged ? 1 : 0;
      reviewsQueued += outcome.reviewQueued ? 1 : 0;
    }
  });
  return { merges, reviewsQueued };
}

/** Independent matches settled at once (each is a few D1 round trips and, for a merge, a rebuild). */
const SETTLE_CONCURRENCY = 8;

/**
 * Runs the functions it is handed one at a time, in the order handed. Merges append to the workspace's
 * one audit chain: appended in parallel they collide on its sequence and retry with pauses.
 */
function oneAtATime(): <R>(fn: () => Promise<R>) => Promise<R> {
  let tail: Promise<unknown> = Promise.resolve();
  return (fn) => {
    const run = tail.then(fn, fn);
    tail = run.catch(() => undefined);
    return run;
  };
}

/** Merges the entity with its best candidate, or queues the pair for review, as the match's strength says. */
async function settleMatch(
  env: Env,
  db: Db,
  workspaceId: string,
  entityId: string,
  hits: { entityId: string; kind: string }[],
  settings: WorldSettings,
  inTurn: <R>(fn: () => Promise<R>) => Promise<R>,
): Promise<{ merged: boolean; reviewQueued: boolean }> {
  const rows = new Map(
    (await findEntities(db, workspaceId, [...new Set([entityId, ...hits.map((h) => h.entityId)])])).map(
      (e) => [e.id, e],
    ),
  );
  const self = rows.get(entityId);
  // Merged away meanwhile (by a match settled earlier in this batch, or a racing ingest): nothing to do.
  if (self?.mergedInto) return { merged: false, reviewQueued: false };
  const others = new Map(
    [...rows.values()].filter((e) => e.id !== entityId && !e.mergedInto).map((e) => [e.id, e]),
  );
  const [best] = rankCandidates(
    hits
      .filter((h) => others.has(h.entityId))
      .map((h) => ({ entityId: h.entityId, kind: h.kind as MatchKind })),
  );
  if (!best || best.matchConfidence < settings.review_min_match)
    return { merged: false, reviewQueued: false };
  if (best.matchConfidence >= settings.auto_merge_threshold) {
    const other = others.get(best.entityId)!;
    const { keep, merge } = mergeOrder(self ?? { id: entityId, createdAt: now() }, other);
    await inTurn(() =>
      appendAudit(
        db,
        {
          workspaceId,
          actorType: "system",
          actorId: null,
          action: "world.entities_merged",
          targetType: "entity",
          targetId: merge,
          details: { into: keep, confidence: best.matchConfidence, matched_on: best.matchedOn },
        },
        mergeStatements(
          db,
          workspaceId,
          { keep, merge },
          {
            confidence: best.matchConfidence,
            source: "system",
            details: { matched_on: best.matchedOn, automatic: true },
          },
        ),
      ),
    );
    await reprojectMerged(env, workspaceId, keep, other.entityType);
    return { merged: true, reviewQueued: false };
  }
  const queued = await queueEntityMatchReview(env, db, workspaceId, entityId, best);
  return { merged: false, reviewQueued: queued };
}

const now = () => new Date().toISOString();

/** The older of two entities stays canonical; the newer one is merged into it. */
export function mergeOrder(
  a: { id: string; createdAt: string },
  b: { id: string; createdAt: string },
): { keep: string; merge: string } {
  // Older first; entities created in the same batch share a time, so the id decides: both sides of a
  // concurrent duplicate check must reach the same answer, or they would merge into each other.
  const aFirst = a.createdAt < b.createdAt || (a.createdAt === b.createdAt && a.id < b.id);
  return aFirst ? { keep: a.id, merge: b.id } : { keep: b.id, merge: a.id };
}

/**
 * The statements of a merge: a `same_as` edge recording why, the merged entity's pointer, and the
 * pointers of entities merged into it earlier (reads follow one `merged_into` hop, so chains stay flat).
 */
export function mergeStatements(
  db: Db,
  workspaceId: string,
  { keep, merge }: { keep: string; merge: string },
  edge: { confidence: number; source: Source; details: Record<string, unknown> },
): Statement[] {
  return [
    ...insertEdges(db, [
      {
        id: newId("edg"),
        workspaceId,
        fromId: merge,
        toId: keep,
        edgeType: "same_as",
        confidence: edge.confidence,
        source: edge.source,
        details: edge.details,
      },
    ]),
    updateEntity(db, workspaceId, merge, { mergedInto: keep }),
    db
      .update(worldEntities)
      .set({ mergedInto: keep, updatedAt: now() })
      .where(and(eq(worldEntities.workspaceId, workspaceId), eq(worldEntities.mergedInto, merge))),
  ];
}

/** After a merge commits: the canonical patient now projects the merged one's events too. */
export async function reprojectMerged(env: Env, workspaceId: string, keep: string, entityType: string) {
  if (entityType === "patient")
    await patientModel(env, workspaceId, keep).rebuild({ workspaceId, entityId: keep });
}
