/**
 * A surface's lifecycle: create (prefilled from the world model), patch, deliver, open, save a field,
 * upload, submit, expire, archive, reshape, revoke its links. Every transition is a guarded status update
 * with its audit row in one D1 transaction (a transition that is no longer allowed writes nothing), then
 * a `surface.*` world event on the patient (source `surface`; its idempotency key makes a retry write
 * once). Answers are sealed; on submit, the answers that have a `target` go through the verification
 * pipeline (`submitExtractions`, basis `surface_submission`, 0.5) to the review queue, and a call that
 * made the surface is told it was completed.
 */

import { canonicalJson } from "../../shared/audit/chain";
import { purposeMac } from "../../shared/crypto/hmac";
import { randomBytes, toBase64Url } from "../../shared/encoding";
import type { WorkspaceEventType } from "../../shared/events/workspace-events";
import { newId } from "../../shared/ids";
import {
  type Answers,
  type AnswerValue,
  type Field,
  isInput,
  isUpload,
  SurfaceSpec,
} from "../../shared/surfaces/spec";
import {
  isAnswered,
  progress,
  reshapeSpec,
  specProblems,
  validateAnswer,
  visibleFields,
} from "../../shared/surfaces/validate";
import { EVENT_TYPES, type EventType, type FactValue, parseEventData } from "../../shared/world/events";
import { callSession } from "../calls/session-client";
import { type AuditEntry, appendAudit } from "../db/audit";
import { database, type Statement } from "../db/client";
import { abortUnlessChanged } from "../db/review";
import {
  deleteAnswerStatement,
  dueForExpiry,
  findSurface,
  findTemplate,
  insertSurface,
  isFinal,
  listAnswers,
  openSpec,
  revokeLinksStatement,
  type SurfaceRow,
  type SurfaceRowStatus,
  sealAnswer,
  sealSpec,
  setProgressStatement,
  transitionStatement,
  transitionsInto,
  updateSurfaceWhile,
  upsertAnswerStatement,
} from "../db/surfaces";
import { findEntity } from "../db/world";
import { ApiError, notFound } from "../errors";
import { publish } from "../events";
import type { IngestActor } from "../world/ingest";
import { ingestEvents } from "../world/ingest";
import { entityState } from "../world/state";
import { submitExtractions } from "../world/verification";
import {
  type CreatedBy,
  type CreateSurfaceInput,
  type SaveResult,
  SURFACE_TTL,
  type Surface,
  type SurfaceChannel,
  type SurfaceService,
} from "./contracts";

/** Who acts: an operator or API key (routes), the system (cron, scanner), or the patient (the page). */
export type SurfaceActor = IngestActor;
export const SYSTEM_ACTOR: SurfaceActor = { actorType: "system", actorId: null };
export const PATIENT_ACTOR: SurfaceActor = { actorType: "anonymous", actorId: null };

/** Field keys whose upload is an insurance card photo (besides any upload targeting coverage). */
export const INSURANCE_CARD_KEYS = ["insurance_card_front", "insurance_card_back"] as const;

type LifecycleEvent =
  | "surface.created"
  | "surface.delivered"
  | "surface.opened"
  | "surface.field_saved"
  | "surface.submitted"
  | "surface.expired"
  | "surface.archived";

const nowIso = () => new Date().toISOString();
const today = () => nowIso().slice(0, 10);

// ---------------------------------------------------------------------------------------------------------
// Rows ↔ surfaces

function createdByOf(row: SurfaceRow): CreatedBy {
  if (row.createdByType === "agent") return { type: "agent", callId: row.callId ?? row.createdById ?? "" };
  if (row.createdByType === "scanner") {
    return { type: "scanner", requirementId: row.requirementId ?? "", runId: row.createdById ?? "" };
  }
  return { type: row.createdByType === "api" ? "api" : "operator", id: row.createdById ?? "" };
}

/** A row with its spec opened. */
export async function toSurface(env: Env, row: SurfaceRow): Promise<Surface> {
  const spec = SurfaceSpec.parse(await openSpec(env.ENCRYPTION_KEY, row));
  return {
    id: row.id,
    workspaceId: row.workspaceId,
    entityId: row.entityId,
    parentId: row.parentId,
    templateId: row.templateId,
    title: row.title,
    spec,
    status: row.status,
    channel: row.channel,
    createdBy: createdByOf(row),
    callId: row.callId,
    fieldCount: row.fieldCount,
    requiredCount: row.requiredCount,
    answeredCount: row.answeredCount,
    lastFieldKey: row.lastFieldKey,
    expiresAt: row.expiresAt,
    deliveredAt: row.deliveredAt,
    openedAt: row.openedAt,
    completedAt: row.completedAt,
    createdAt: row.createdAt,
  };
}

async function requireRow(env: Env, workspaceId: string, surfaceId: string): Promise<SurfaceRow> {
  const row = await findSurface(database(env.DB), workspaceId, surfaceId);
  if (!row) throw notFound("Surface");
  return row;
}

/** The surface as it is now (after a change), as the service hands it around. */
async function reload(env: Env, workspaceId: string, surfaceId: string): Promise<Surface> {
  return toSurface(env, await requireRow(env, workspaceId, surfaceId));
}

/** Every reason a spec is invalid, as a 422. */
function assertValidSpec(spec: SurfaceSpec): void {
  const problems = specProblems(spec);
  if (problems.length > 0) {
    throw new ApiError("unprocessable", `The surface spec has ${problems.length} problem(s)`, { problems });
  }
}

const inputFields = (spec: SurfaceSpec) => spec.fields.filter(isInput);

function counts(spec: SurfaceSpec, answers: Answers) {
  const p = progress(spec, answers);
  return { fieldCount: inputFields(spec).length, answered: p.answered, required: p.required };
}

// ---------------------------------------------------------------------------------------------------------
// Transitions

/** Records a lifecycle world event on the surface's patient (a retry with the same key writes nothing). */
async function emit(
  env: Env,
  row: Pick<SurfaceRow, "id" | "workspaceId" | "entityId" | "title" | "channel">,
  eventType: LifecycleEvent,
  key: string,
  actor: SurfaceActor,
  extra: { field_key?: string; answered?: number; required?: number } = {},
): Promise<void> {
  const outcome = await ingestEvents(
    env,
    row.workspaceId,
    [
      {
        idempotency_key: `surface:${row.id}:${key}`,
        entity_id: row.entityId,
        event_type: eventType,
        data: { surface_id: row.id, title: row.title, channel: row.channel, ...extra },
        source: "surface",
        produced_by: `surface:${row.id}`,
      },
    ],
    actor,
  );
  // The live stream hears of each transition once (a retry's world event is a duplicate): ids only.
  const streamed = STREAMED_TRANSITIONS[eventType];
  if (streamed && outcome.stored > 0) {
    await publish(env, row.workspaceId, {
      type: streamed,
      data: { surface_id: row.id, entity_id: row.entityId, channel: row.channel, ...extra },
    });
  }
}

/** The lifecycle events the workspace's live stream carries (a saved field is too chatty for it). */
const STREAMED_TRANSITIONS: Partial<Record<LifecycleEvent, WorkspaceEventType>> = {
  "surface.created": "surface.created",
  "surface.delivered": "surface.delivered",
  "surface.opened": "surface.opened",
  "surface.submitted": "surface.submitted",
  "surface.expired": "surface.expired",
  "surface.archived": "surface.archived",
};

function auditOf(
  row: Pick<SurfaceRow, "id" | "workspaceId">,
  action: string,
  actor: SurfaceActor,
  details: Record<string, unknown> = {},
): AuditEntry {
  return {
    workspaceId: row.workspaceId,
    actorType: actor.actorType,
    actorId: actor.actorId,
    requestId: actor.requestId ?? null,
    action,
    targetType: "surface",
    targetId: row.id,
    details,
  };
}

/**
 * Moves `row` to `to` with its audit row, in one transaction that writes nothing when the move is no
 * longer allowed (another request got there first). Returns whether it moved. A surface already at `to`
 * re-records the world event (a no-op unless an earlier attempt stopped between the two writes).
 */
async function move(
  env: Env,
  row: SurfaceRow,
  to: SurfaceRowStatus,
  opts: {
    event: LifecycleEvent | null;
    action: string;
    actor: SurfaceActor;
    set?: Parameters<typeof transitionStatement>[4];
    details?: Record<string, unknown>;
    extra?: Parameters<typeof emit>[5];
    also?: Statement[];
  },
): Promise<boolean> {
  const db = database(env.DB);
  let moved = transitionsInto(to).includes(row.status);
  if (moved) {
    try {
      await appendAudit(db, auditOf(row, opts.action, opts.actor, { from: row.status, ...opts.details }), [
        transitionStatement(db, row.workspaceId, row.id, to, opts.set),
        abortUnlessChanged(db),
        ...(opts.also ?? []),
      ]);
    } catch (err) {
      const fresh = await findSurface(db, row.workspaceId, row.id);
      if (!fresh || transitionsInto(to).includes(fresh.status)) throw err;
      moved = false;
      row = fresh;
    }
  }
  if (opts.event && (moved || row.status === to)) {
    await emit(env, row, opts.event, to, opts.actor, opts.extra);
  }
  return moved;
}

// ---------------------------------------------------------------------------------------------------------
// Create, with prefill from the world model

const PROBE = "\u0000surface-probe\u0000";

/** `a.b` → `{ a: { b: value } }` merged into `target`. */
function setPath(target: Record<string, unknown>, dotted: string, value: unknown): void {
  const parts = dotted.split(".");
  let node = target;
  for (const part of parts.slice(0, -1)) {
    const next = node[part];
    node[part] = next && typeof next === "object" && !Array.isArray(next) ? next : {};
    node = node[part] as Record<string, unknown>;
  }
  node[parts.at(-1)!] = value;
}

/** Where inside `value` the probe sits (`[]` when it is the value itself), or null. */
function probePath(value: unknown, path: string[] = []): string[] | null {
  if (value === PROBE) return path;
  if (value && typeof value === "object" && !Array.isArray(value)) {
    for (const [k, v] of Object.entries(value)) {
      const found = probePath(v, [...path, k]);
      if (found) return found;
    }
  }
  return null;
}

/**
 * The world-model path a target fills, and where inside that fact's value the answer sits: the event
 * type's own facts function, run on the target's data with a probe in place of the answer.
 */
export function targetLocation(
  target: NonNullable<Field["target"]>,
): { path: string; inner: string[] } | null {
  const data: Record<string, unknown> = { ...(target.with ?? {}) };
  setPath(data, target.data_key, PROBE);
  try {
    const facts = EVENT_TYPES[target.event_type].facts(data as never);
    for (const fact of facts) {
      const inner = probePath(fact.value);
      if (inner) return { path: fact.path, inner };
    }
  } catch {
    // A target whose event needs more than the answer to name its fact (a coverage without its payer).
  }
  return null;
}

function asPrefill(value: FactValue | undefined): Field["prefill_value"] | undefined {
  if (typeof value === "string") return value.slice(0, 2000);
  if (typeof value === "number" || typeof value === "boolean") return value;
  if (Array.isArray(value) && value.every((v) => typeof v === "string")) return value as string[];
  return undefined;
}

function dig(value: FactValue | undefined, inner: string[]): FactValue | undefined {
  let node: FactValue | undefined = value;
  for (const key of inner) {
    if (!node || typeof node !== "object" || Array.isArray(node)) return undefined;
    node = (node as Record<string, FactValue>)[key];
  }
  return node;
}

/** Fills `prefill_value` of target (and template-mapped) fields from the patient's current facts. */
async function prefilled(
  env: Env,
  workspaceId: string,
  entity: { id: string; entityType: string },
  spec: SurfaceSpec,
  templatePaths: Record<string, string>,
): Promise<SurfaceSpec> {
  const wanted = spec.fields.filter(
    (f) => isInput(f) && !isUpload(f) && !f.sensitive && f.prefill_value === undefined,
  );
  if (wanted.length === 0) return spec;
  const state = await entityState(env, workspaceId, entity);
  const fields = spec.fields.map((field) => {
    if (!wanted.includes(field)) return field;
    let value: FactValue | undefined;
    const mapped = templatePaths[field.key];
    if (mapped) value = state.facts[mapped]?.value;
    else if (field.target) {
      const at = targetLocation(field.target);
      if (at) value = dig(state.facts[at.path]?.value, at.inner);
    }
    const prefill = asPrefill(value);
    return prefill === undefined ? field : { ...field, prefill_value: prefill };
  });
  return { ...spec, fields };
}

function createdByColumns(createdBy: CreatedBy) {
  switch (createdBy.type) {
    case "agent":
      return { createdByType: "agent", createdById: createdBy.callId, callId: createdBy.callId };
    case "scanner":
      return {
        createdByType: "scanner",
        createdById: createdBy.runId,
        requirementId: createdBy.requirementId,
      };
    default:
      return { createdByType: createdBy.type, createdById: createdBy.id };
  }
}

export async function create(
  env: Env,
  workspaceId: string,
  input: CreateSurfaceInput,
  actor: SurfaceActor = SYSTEM_ACTOR,
): Promise<Surface> {
  const db = database(env.DB);
  const parsed = SurfaceSpec.parse(input.spec);
  assertValidSpec(parsed);
  const ttl = input.ttlSeconds ?? SURFACE_TTL.defaultSeconds;
  if (!Number.isInteger(ttl) || ttl < SURFACE_TTL.minSeconds || ttl > SURFACE_TTL.maxSeconds) {
    throw new ApiError("validation_failed", "ttl_seconds must be from 1 hour to 1 year", {
      field: "ttl_seconds",
    });
  }
  const entity = await findEntity(db, workspaceId, input.entityId);
  if (!entity)
    throw new ApiError("unprocessable", "No such patient in this workspace", { field: "entity_id" });
  const entityId = entity.mergedInto ?? entity.id;
  if (entity.entityType !== "patient") {
    throw new ApiError("unprocessable", "A surface is for a patient", { field: "entity_id" });
  }
  let templatePaths: Record<string, string> = {};
  if (input.templateId) {
    const template = await findTemplate(db, workspaceId, input.templateId);
    if (!template) throw new ApiError("unprocessable", "No such template", { field: "template_id" });
    templatePaths = template.prefillPaths;
  }
  const spec =
    input.prefill === false
      ? parsed
      : await prefilled(env, workspaceId, { id: entityId, entityType: "patient" }, parsed, templatePaths);

  const id = newId("srf");
  const at = nowIso();
  const c = counts(spec, {});
  const row = {
    id,
    workspaceId,
    entityId,
    parentId: input.parentId ?? null,
    templateId: input.templateId ?? null,
    title: spec.title,
    specEnc: await sealSpec(env.ENCRYPTION_KEY, workspaceId, id, spec),
    status: "created" as const,
    channel: input.channel,
    ...createdByColumns(input.createdBy),
    fieldCount: c.fieldCount,
    requiredCount: c.required,
    answeredCount: 0,
    expiresAt: new Date(Date.now() + ttl * 1000).toISOString(),
    createdAt: at,
    updatedAt: at,
  };
  await appendAudit(
    db,
    auditOf(row, "surface.created", actor, {
      entity_id: entityId,
      channel: input.channel,
      created_by: row.createdByType,
      parent_id: row.parentId,
      template_id: row.templateId,
      fields: c.fieldCount,
    }),
    [insertSurface(db, row)],
  );
  await emit(env, row, "surface.created", "created", actor, { answered: 0, required: c.required });
  return toSurface(env, await requireRow(env, workspaceId, id));
}

export async function get(env: Env, workspaceId: string, surfaceId: string): Promise<Surface | null> {
  const row = await findSurface(database(env.DB), workspaceId, surfaceId);
  return row ? toSurface(env, row) : null;
}

export function answers(env: Env, workspaceId: string, surfaceId: string): Promise<Answers> {
  return listAnswers(database(env.DB), env.ENCRYPTION_KEY, workspaceId, surfaceId);
}

// ---------------------------------------------------------------------------------------------------------
// Operator changes

export interface SurfacePatch {
  spec?: SurfaceSpec;
  channel?: SurfaceChannel;
  ttlSeconds?: number;
}

/** Changes the spec, channel or expiry, only while the surface is created or delivered (not yet seen). */
export async function patch(
  env: Env,
  workspaceId: string,
  surfaceId: string,
  change: SurfacePatch,
  actor: SurfaceActor = SYSTEM_ACTOR,
): Promise<Surface> {
  const db = database(env.DB);
  const row = await requireRow(env, workspaceId, surfaceId);
  const editable: SurfaceRowStatus[] = ["created", "delivered"];
  const refuse = (status: string) =>
    new ApiError("conflict", `A ${status} surface cannot be changed`, { status });
  if (!editable.includes(row.status)) throw refuse(row.status);
  const set: Parameters<typeof updateSurfaceWhile>[4] = {};
  const changed: string[] = [];
  if (change.spec) {
    const spec = SurfaceSpec.parse(change.spec);
    assertValidSpec(spec);
    const c = counts(spec, {});
    Object.assign(set, {
      title: spec.title,
      specEnc: await sealSpec(env.ENCRYPTION_KEY, workspaceId, surfaceId, spec),
      fieldCount: c.fieldCount,
      requiredCount: c.required,
    });
    changed.push("spec");
  }
  if (change.channel) {
    set.channel = change.channel;
    changed.push("channel");
  }
  if (change.ttlSeconds !== undefined) {
    const ttl = change.ttlSeconds;
    if (ttl < SURFACE_TTL.minSeconds || ttl > SURFACE_TTL.maxSeconds) {
      throw new ApiError("validation_failed", "ttl_seconds must be from 1 hour to 1 year", {
        field: "ttl_seconds",
      });
    }
    set.expiresAt = new Date(Date.parse(row.createdAt) + ttl * 1000).toISOString();
    if (set.expiresAt <= nowIso()) {
      throw new ApiError("validation_failed", "That TTL has already passed", { field: "ttl_seconds" });
    }
    changed.push("expires_at");
  }
  try {
    await appendAudit(db, auditOf(row, "surface.updated", actor, { changed }), [
      updateSurfaceWhile(db, workspaceId, surfaceId, editable, set),
      abortUnlessChanged(db),
    ]);
  } catch (err) {
    const fresh = await requireRow(env, workspaceId, surfaceId);
    if (!editable.includes(fresh.status)) throw refuse(fresh.status);
    throw err;
  }
  return reload(env, workspaceId, surfaceId);
}

/** Records a delivery: the first moves a created surface to delivered (with its event). */
export async function markDelivered(
  env: Env,
  workspaceId: string,
  surfaceId: string,
  delivery: { deliveryId: string | null; channel: SurfaceChannel },
  actor: SurfaceActor = SYSTEM_ACTOR,
): Promise<Surface> {
  const row = await requireRow(env, workspaceId, surfaceId);
  if (isFinal(row.status)) {
    throw new ApiError("conflict", `A ${row.status} surface cannot be delivered`, { status: row.status });
  }
  const details = { delivery_id: delivery.deliveryId, channel: delivery.channel };
  const moved = await move(env, row, "delivered", {
    event: "surface.delivered",
    action: "surface.delivered",
    actor,
    set: { deliveredAt: nowIso() },
    details,
  });
  if (!moved) {
    // A repeated delivery (a reminder) changes no status but is still a message sent on its behalf.
    await appendAudit(database(env.DB), auditOf(row, "surface.redelivered", actor, details));
  }
  return reload(env, workspaceId, surfaceId);
}

export async function archive(
  env: Env,
  workspaceId: string,
  surfaceId: string,
  actor: SurfaceActor = SYSTEM_ACTOR,
): Promise<Surface> {
  const row = await requireRow(env, workspaceId, surfaceId);
  const moved = await move(env, row, "archived", {
    event: "surface.archived",
    action: "surface.archived",
    actor,
    set: { archivedAt: nowIso() },
  });
  if (!moved && row.status !== "archived") {
    throw new ApiError("conflict", `A ${row.status} surface cannot be archived`, { status: row.status });
  }
  return reload(env, workspaceId, surfaceId);
}

/** Stops every link of the surface (the patient sees a friendly "no longer available" page). */
export async function revokeLinks(
  env: Env,
  workspaceId: string,
  surfaceId: string,
  actor: SurfaceActor = SYSTEM_ACTOR,
): Promise<Surface> {
  const row = await requireRow(env, workspaceId, surfaceId);
  await appendAudit(database(env.DB), auditOf(row, "surface.links_revoked", actor), [
    revokeLinksStatement(database(env.DB), workspaceId, surfaceId, nowIso()),
  ]);
  return reload(env, workspaceId, surfaceId);
}

/**
 * A new surface for the same patient with only the fields the patient has not filled (`parent_id` set
 * to this one). 409 when nothing is left to ask.
 */
export async function reshape(
  env: Env,
  workspaceId: string,
  surfaceId: string,
  options: { channel?: SurfaceChannel; ttlSeconds?: number; createdBy: CreatedBy },
  actor: SurfaceActor = SYSTEM_ACTOR,
): Promise<Surface> {
  const parent = await toSurface(env, await requireRow(env, workspaceId, surfaceId));
  const spec = reshapeSpec(parent.spec, await answers(env, workspaceId, surfaceId));
  if (!spec) throw new ApiError("conflict", "Every field of this surface is already answered");
  return create(
    env,
    workspaceId,
    {
      entityId: parent.entityId,
      spec,
      channel: options.channel ?? parent.channel,
      ttlSeconds: options.ttlSeconds,
      createdBy: options.createdBy,
      templateId: parent.templateId,
      parentId: parent.id,
    },
    actor,
  );
}

/** Cron: expires open surfaces past their expiry (a batch per run; the next run takes the rest). */
export async function expireDue(env: Env, at: Date, limit = 200): Promise<{ expired: number }> {
  const due = await dueForExpiry(database(env.DB), at.toISOString(), limit);
  let expired = 0;
  for (const { id, workspaceId } of due) {
    const row = await findSurface(database(env.DB), workspaceId, id);
    if (!row) continue;
    if (
      await move(env, row, "expired", {
        event: "surface.expired",
        action: "surface.expired",
        actor: SYSTEM_ACTOR,
      })
    ) {
      expired++;
    }
  }
  return { expired };
}

// ---------------------------------------------------------------------------------------------------------
// The patient's side

const usable = (row: SurfaceRow) =>
  !isFinal(row.status) && row.revokedAt === null && Date.parse(row.expiresAt) > Date.now();

export async function open(
  env: Env,
  workspaceId: string,
  surfaceId: string,
  actor: SurfaceActor = PATIENT_ACTOR,
): Promise<{ surface: Surface; answers: Answers } | null> {
  const row = await findSurface(database(env.DB), workspaceId, surfaceId);
  if (!row || row.status === "expired" || row.status === "archived" || row.revokedAt !== null) return null;
  if (row.status !== "completed" && Date.parse(row.expiresAt) <= Date.now()) return null;
  if (row.status === "created" || row.status === "delivered") {
    await move(env, row, "opened", {
      event: "surface.opened",
      action: "surface.opened",
      actor,
      set: { openedAt: nowIso() },
    });
  }
  const fresh = await requireRow(env, workspaceId, surfaceId);
  return { surface: await toSurface(env, fresh), answers: await answers(env, workspaceId, surfaceId) };
}

const resultOf = (
  row: SurfaceRow,
  extra: Partial<SaveResult & { errors: Record<string, string> }> = {},
): SaveResult & { errors?: Record<string, string> } => ({
  ok: true,
  status: row.status,
  answered: row.answeredCount,
  required: row.requiredCount,
  ...extra,
});

/** A keyed digest of a saved value: the field-save event's idempotency key, without the value in clear. */
async function valueKey(env: Env, row: SurfaceRow, fieldKey: string, value: AnswerValue | null) {
  const mac = await purposeMac(
    env.SIGNING_SECRET,
    "switchboard-surface-save",
    row.workspaceId,
    row.id,
    fieldKey,
    canonicalJson(value ?? null),
  );
  return toBase64Url(mac).slice(0, 16);
}

const isEmpty = (raw: unknown) =>
  raw === undefined || raw === null || raw === "" || (Array.isArray(raw) && raw.length === 0);

/**
 * Stores validated answers (null clears one) with the new counts, moves the surface to partial and
 * records one `surface.field_saved` (the last key; never a value).
 */
async function storeAnswers(
  env: Env,
  row: SurfaceRow,
  spec: SurfaceSpec,
  values: [key: string, value: AnswerValue | null][],
  actor: SurfaceActor,
): Promise<SurfaceRow> {
  const db = database(env.DB);
  const current = await listAnswers(db, env.ENCRYPTION_KEY, row.workspaceId, row.id);
  const at = nowIso();
  const statements: Statement[] = [];
  for (const [key, value] of values) {
    if (value === null) {
      delete current[key];
      statements.push(deleteAnswerStatement(db, row.workspaceId, row.id, key));
    } else {
      current[key] = value;
      statements.push(
        upsertAnswerStatement(db, {
          workspaceId: row.workspaceId,
          surfaceId: row.id,
          fieldKey: key,
          valueEnc: await sealAnswer(env.ENCRYPTION_KEY, row.workspaceId, row.id, key, value),
          savedAt: at,
        }),
      );
    }
  }
  const lastKey = values.at(-1)?.[0] ?? row.lastFieldKey;
  const { answered, required } = counts(spec, current);
  statements.push(setProgressStatement(db, row.workspaceId, row.id, { answered, required }, lastKey));
  const moves = transitionsInto("partial").includes(row.status) && row.status !== "partial";
  if (moves) statements.push(transitionStatement(db, row.workspaceId, row.id, "partial"));
  await appendAudit(
    db,
    auditOf(row, "surface.field_saved", actor, { field_keys: values.map(([k]) => k), from: row.status }),
    statements,
  );
  const digest = await valueKey(
    env,
    row,
    values.map(([k]) => k).join(","),
    values.map(([, v]) => v) as AnswerValue,
  );
  await emit(env, row, "surface.field_saved", `field:${lastKey}:${digest}`, actor, {
    field_key: lastKey ?? undefined,
    answered,
    required,
  });
  return requireRow(env, row.workspaceId, row.id);
}

function closedResult(row: SurfaceRow): SaveResult {
  const why =
    row.status === "completed" ? "This form was already submitted" : "This form can no longer be changed";
  return resultOf(row, { ok: false, error: why });
}

/** Validates one value for `field`; an empty value (or an unticked box) clears the answer. */
function checkValue(
  field: Field,
  raw: unknown,
): { ok: true; value: AnswerValue | null } | { ok: false; error: string } {
  const unticked = field.field_type === "checkbox" && (raw === false || raw === "false");
  if (isEmpty(raw) || unticked) return { ok: true, value: null };
  const checked = validateAnswer(field, raw, today());
  if (!checked.ok) return { ok: false, error: checked.message };
  return { ok: true, value: isAnswered(checked.value) ? checked.value : null };
}

export async function saveField(
  env: Env,
  workspaceId: string,
  surfaceId: string,
  key: string,
  raw: unknown,
  actor: SurfaceActor = PATIENT_ACTOR,
): Promise<SaveResult> {
  const row = await requireRow(env, workspaceId, surfaceId);
  if (!usable(row)) return closedResult(row);
  const spec = (await toSurface(env, row)).spec;
  const field = spec.fields.find((f) => f.key === key);
  if (!field || !isInput(field)) return resultOf(row, { ok: false, error: "There is no such question" });
  if (isUpload(field) && !isEmpty(raw)) {
    return resultOf(row, { ok: false, error: "Upload the file with the form" });
  }
  const checked = checkValue(field, raw);
  if (!checked.ok) return resultOf(row, { ok: false, error: checked.error });
  return resultOf(await storeAnswers(env, row, spec, [[key, checked.value]], actor));
}

/**
 * An uploaded photo, signature or file: checked against the field's types and size, stored in R2 under
 * `surfaces/{ws}/{surface}/{key}-{random}`, then saved as the field's answer. An insurance card photo is
 * also queued for review as an attachment of the patient's coverage.
 */
export async function saveUpload(
  env: Env,
  workspaceId: string,
  surfaceId: string,
  key: string,
  file: File,
  actor: SurfaceActor = PATIENT_ACTOR,
): Promise<SaveResult> {
  const row = await requireRow(env, workspaceId, surfaceId);
  if (!usable(row)) return closedResult(row);
  const spec = (await toSurface(env, row)).spec;
  const field = spec.fields.find((f) => f.key === key);
  if (!field || !isUpload(field)) return resultOf(row, { ok: false, error: "There is no such upload" });
  const objectKey = `surfaces/${workspaceId}/${surfaceId}/${key}-${toBase64Url(randomBytes(9))}`;
  const candidate = {
    upload: objectKey,
    content_type: file.type || "application/octet-stream",
    bytes: file.size,
  };
  const checked = validateAnswer(field, candidate, today());
  if (!checked.ok) return resultOf(row, { ok: false, error: checked.message });
  await env.FILES.put(objectKey, file.stream(), {
    httpMetadata: { contentType: candidate.content_type },
    customMetadata: { workspace_id: workspaceId, surface_id: surfaceId, field_key: key },
  });
  const saved = await storeAnswers(env, row, spec, [[key, candidate]], actor);
  return resultOf(saved);
}

/** Builds the world-model facts the targeted answers fill: one event per event type and `with`. */
export function targetedFacts(spec: SurfaceSpec, answered: Answers) {
  const groups = new Map<string, { event_type: EventType; data: Record<string, unknown>; keys: string[] }>();
  for (const field of spec.fields) {
    const value = answered[field.key];
    if (!field.target || value === undefined || isUpload(field)) continue;
    if (typeof value === "object" && !Array.isArray(value)) continue;
    const groupKey = `${field.target.event_type}|${canonicalJson(field.target.with ?? {})}`;
    const group = groups.get(groupKey) ?? {
      event_type: field.target.event_type,
      data: { ...(field.target.with ?? {}) },
      keys: [],
    };
    setPath(group.data, field.target.data_key, value);
    group.keys.push(field.key);
    groups.set(groupKey, group);
  }
  // Photos of the insurance card ride on the coverage they document, reviewed with it.
  const coverage = [...groups.values()].find((g) => g.event_type === "coverage.recorded");
  const cards = INSURANCE_CARD_KEYS.map((key) => answered[key]).filter(
    (v): v is { upload: string; content_type: string; bytes: number } =>
      typeof v === "object" && v !== null && !Array.isArray(v) && "upload" in v,
  );
  if (coverage && cards.length > 0) {
    coverage.data.attachments = cards.map(({ upload, content_type, bytes }) => ({
      upload,
      content_type,
      bytes,
    }));
    coverage.keys.push(...INSURANCE_CARD_KEYS.filter((key) => answered[key] !== undefined));
  }
  return [...groups.values()];
}

export async function submit(
  env: Env,
  workspaceId: string,
  surfaceId: string,
  raw?: Record<string, unknown>,
  actor: SurfaceActor = PATIENT_ACTOR,
): Promise<SaveResult & { errors?: Record<string, string> }> {
  let row = await requireRow(env, workspaceId, surfaceId);
  if (row.status === "completed") return resultOf(row);
  if (!usable(row)) return closedResult(row);
  const spec = (await toSurface(env, row)).spec;

  // A form posted whole (no JavaScript): save what it carries first.
  const errors: Record<string, string> = {};
  if (raw && Object.keys(raw).length > 0) {
    const values: [string, AnswerValue | null][] = [];
    for (const [key, value] of Object.entries(raw)) {
      const field = spec.fields.find((f) => f.key === key);
      if (!field || !isInput(field) || isUpload(field)) continue;
      const checked = checkValue(field, value);
      if (checked.ok) values.push([key, checked.value]);
      else errors[key] = checked.error;
    }
    if (values.length > 0) row = await storeAnswers(env, row, spec, values, actor);
  }
  const given = await answers(env, workspaceId, surfaceId);
  for (const field of visibleFields(spec, given)) {
    if (isInput(field) && field.required && given[field.key] === undefined && !errors[field.key]) {
      errors[field.key] = "This question needs an answer";
    }
  }
  if (Object.keys(errors).length > 0)
    return resultOf(row, { ok: false, errors, error: "Some answers need attention" });

  const { answered, required } = counts(spec, given);
  const moved = await move(env, row, "completed", {
    event: "surface.submitted",
    action: "surface.submitted",
    actor,
    set: { completedAt: nowIso(), answeredCount: answered, requiredCount: required },
    extra: { answered, required },
  });
  const fresh = await requireRow(env, workspaceId, surfaceId);
  if (!moved) return fresh.status === "completed" ? resultOf(fresh) : closedResult(fresh);

  await extractAnswers(env, fresh, spec, given, actor);
  if (fresh.callId) {
    try {
      // The call is told at once, so the agent can acknowledge it; a call that is over just ignores it.
      await callSession(env, fresh.callId).surfaceCompleted({ surfaceId });
    } catch {
      console.warn(
        JSON.stringify({ level: "warn", event: "surface.call_notify_failed", surface_id: surfaceId }),
      );
    }
  }
  return resultOf(fresh);
}

/** The submitted answers that have a target, into the verification pipeline (0.5, judged, reviewed). */
async function extractAnswers(
  env: Env,
  row: SurfaceRow,
  spec: SurfaceSpec,
  given: Answers,
  actor: SurfaceActor,
) {
  // Only visible answers count: a hidden field's old answer is not what the patient submitted.
  const visible = new Set(visibleFields(spec, given).map((f) => f.key));
  const shown = Object.fromEntries(Object.entries(given).filter(([k]) => visible.has(k)));
  const facts = targetedFacts(spec, shown).filter((g) => {
    const ok = parseEventData(g.event_type, "patient", g.data).ok;
    if (!ok) {
      console.warn(
        JSON.stringify({
          level: "warn",
          event: "surface.target_invalid",
          surface_id: row.id,
          event_type: g.event_type,
        }),
      );
    }
    return ok;
  });
  if (facts.length === 0) return;
  await submitExtractions(
    env,
    row.workspaceId,
    {
      entity_id: row.entityId,
      interaction_id: row.id,
      channel: "surface",
      transcript: [],
      facts: facts.map((g) => ({
        event_type: g.event_type,
        data: g.data,
        basis: "surface_submission" as const,
      })),
    },
    actor,
  );
}

/** The service as `contracts.ts` names it. */
export const surfaceService: SurfaceService = { create, get, answers, open, saveField, submit };
