/**
 * Calls and their timelines (`calls`, `call_events`). Provider callbacks arrive more than once and out of
 * order, so every write here is idempotent: a call is keyed by `(provider, provider_sid)`, an event by
 * `(call_id, dedupe_key)`, and a status only ever moves forward (`status_rank`). Each change is a batch
 * (one D1 transaction) whose later statements are guarded by what the earlier ones did, so a duplicate
 * changes nothing and a failure leaves nothing half-written.
 */
import { and, desc, eq, gt, gte, lt, lte, ne, or, sql } from "drizzle-orm";
import type { SQLiteUpdateSetSource } from "drizzle-orm/sqlite-core";
import { blindIndex } from "../../shared/crypto/blind-index";
import { decryptField, encryptField } from "../../shared/crypto/encryption";
import { newId } from "../../shared/ids";
import { normalizeE164 } from "../../shared/tenancy/phone";
import type { Db, Statement } from "./client";
import { callEvents, calls, phoneNumbers, services, worldEntities } from "./schema";

export type CallRow = typeof calls.$inferSelect;
export type CallEventRow = typeof callEvents.$inferSelect;

/**
 * Twilio's call statuses in the order a call goes through them
 * (https://www.twilio.com/docs/voice/api/call-resource#call-status-values). Every ending has the same,
 * highest rank: once a call has ended, no later callback changes how.
 */
export const CALL_STATUS_RANK = {
  queued: 1,
  initiated: 1,
  ringing: 2,
  "in-progress": 3,
  completed: 4,
  busy: 4,
  failed: 4,
  "no-answer": 4,
  canceled: 4,
} as const;
export type CallStatus = keyof typeof CALL_STATUS_RANK;
export const CALL_STATUSES = Object.keys(CALL_STATUS_RANK) as [CallStatus, ...CallStatus[]];
export const isTerminalStatus = (status: CallStatus) => CALL_STATUS_RANK[status] === 4;

/** The cross-workspace lookup a provider callback needs: it names only the provider's id. */
export function findCallByProviderSid(db: Db, providerSid: string, provider = "twilio") {
  return db.query.calls.findFirst({
    where: and(eq(calls.provider, provider), eq(calls.providerSid, providerSid)),
  });
}

export function findCall(db: Db, workspaceId: string, callId: string) {
  return db.query.calls.findFirst({ where: and(eq(calls.workspaceId, workspaceId), eq(calls.id, callId)) });
}

export function listCallEvents(db: Db, workspaceId: string, callId: string) {
  return db
    .select()
    .from(callEvents)
    .where(and(eq(callEvents.workspaceId, workspaceId), eq(callEvents.callId, callId)))
    .orderBy(callEvents.at, callEvents.id);
}

/** Inserts a call unless one with its `(provider, provider_sid)` exists. */
export function insertCallUnlessExists(db: Db, row: typeof calls.$inferInsert): Statement {
  return db
    .insert(calls)
    .values(row)
    .onConflictDoNothing({ target: [calls.provider, calls.providerSid] });
}

/** How a caller's number is indexed: E.164 when it is a phone number, else as sent (a short code, `anonymous`). */
export const callerKey = (from: string) => normalizeE164(from) ?? from.trim();

/** A voice call as the voice webhook (or the phone simulator) opens it. */
export interface NewVoiceCall {
  workspaceId: string;
  serviceId: string;
  phoneNumberId: string;
  /** The clinic number called, E.164. */
  toNumber: string;
  /** The caller's number as the provider sent it ("" when withheld). */
  from: string;
  direction: "inbound" | "outbound";
  transport: string;
  /** `twilio`, or `simulator` for the dashboard's phone simulator (so analytics can leave it out). */
  provider: string;
  providerSid: string;
  status: CallStatus;
  at: string;
}

/**
 * The statements that open a voice call: the call row (unless its `(provider, provider_sid)` exists, the
 * caller's number sealed and blind-indexed) and its `provider.voice` event. Run them in one batch.
 */
export async function openVoiceCallStatements(
  db: Db,
  encryptionKey: string,
  call: NewVoiceCall,
): Promise<{ callId: string; statements: [Statement, Statement] }> {
  const callId = newId("call");
  const { workspaceId, from, status, at } = call;
  return {
    callId,
    statements: [
      insertCallUnlessExists(db, {
        id: callId,
        workspaceId,
        serviceId: call.serviceId,
        phoneNumberId: call.phoneNumberId,
        channel: "voice",
        direction: call.direction,
        transport: call.transport,
        provider: call.provider,
        providerSid: call.providerSid,
        toNumber: call.toNumber,
        fromNumberEnc: from ? await sealFromNumber(encryptionKey, workspaceId, callId, from) : null,
        fromNumberHash: from ? await blindIndex(encryptionKey, workspaceId, "phone", callerKey(from)) : null,
        status,
        statusRank: CALL_STATUS_RANK[status],
        startedAt: at,
        createdAt: at,
        updatedAt: at,
      }),
      insertEventUnlessDuplicate(db, {
        id: newId("cev"),
        workspaceId,
        callId,
        kind: "provider.voice",
        dedupeKey: "voice:webhook",
        data: { call_sid: call.providerSid, status, transport: call.transport },
        at,
      }),
    ],
  };
}

export interface NewCallEvent {
  id: string;
  workspaceId: string;
  callId: string;
  kind: string;
  dedupeKey: string;
  data: Record<string, unknown>;
  at: string;
}

/**
 * Inserts an event unless its dedupe key is taken, and only if its call exists (so it can follow a
 * conditional call insert in the same batch without breaking the foreign key).
 */
export function insertEventUnlessDuplicate(db: Db, event: NewCallEvent): Statement {
  // Columns in the table's order (id, workspace_id, call_id, kind, dedupe_key, data, at), as drizzle lists them.
  return db
    .insert(callEvents)
    .select(
      sql`SELECT ${event.id}, ${event.workspaceId}, ${event.callId}, ${event.kind}, ${event.dedupeKey},
                 ${JSON.stringify(event.data)}, ${event.at}
          WHERE EXISTS (SELECT 1 FROM calls WHERE id = ${event.callId} AND workspace_id = ${event.workspaceId})`,
    )
    .onConflictDoNothing({ target: [callEvents.callId, callEvents.dedupeKey] });
}

/** True inside a batch when the event with this id was inserted (not a duplicate): guards what follows it. */
const eventInserted = (eventId: string) => sql`EXISTS (SELECT 1 FROM call_events WHERE id = ${eventId})`;

export interface StatusChange {
  status: CallStatus;
  /** When the provider saw the change (its `Timestamp`), ISO-8601. */
  at: string;
  durationSeconds?: number | undefined;
}

/**
 * Records a status callback and moves the call forward if the status is later than its current one.
 * Returns the call as changed, or null when nothing moved (a duplicate, or a late callback).
 */
export async function applyCallStatus(
  db: Db,
  call: CallRow,
  change: StatusChange,
  event: NewCallEvent,
): Promise<CallRow | null> {
  const rank = CALL_STATUS_RANK[change.status];
  const set: SQLiteUpdateSetSource<typeof calls> = {
    status: change.status,
    statusRank: rank,
    updatedAt: new Date().toISOString(),
  };
  if (change.status === "in-progress") set.answeredAt = sql`coalesce(${calls.answeredAt}, ${change.at})`;
  if (isTerminalStatus(change.status)) {
    set.endedAt = change.at;
    if (change.durationSeconds !== undefined) {
      set.durationSeconds = change.durationSeconds;
      // A call answered and hung up before its `in-progress` callback arrived: answered `duration` before the end.
      if (change.status === "completed" && change.durationSeconds > 0) {
        const answered = new Date(Date.parse(change.at) - change.durationSeconds * 1000).toISOString();
        set.answeredAt = sql`coalesce(${calls.answeredAt}, ${answered})`;
      }
    }
  }
  const [, updated] = await db.batch([
    insertEventUnlessDuplicate(db, event),
    db
      .update(calls)
      .set(set)
      .where(and(eq(calls.workspaceId, call.workspaceId), eq(calls.id, call.id), lt(calls.statusRank, rank)))
      .returning(),
  ]);
  return (updated as CallRow[])[0] ?? null;
}

export const RECORDING_STATUS_RANK = { "in-progress": 1, completed: 2, absent: 2, failed: 2 } as const;
export type RecordingStatus = keyof typeof RECORDING_STATUS_RANK;

/** What `calls.recording` holds: the provider's recording metadata (the media stays with the provider for now). */
export interface RecordingMetadata {
  sid: string;
  status: RecordingStatus;
  status_rank: number;
  url: string | null;
  duration_seconds: number | null;
  channels: number | null;
  source: string | null;
  started_at: string | null;
  error_code: string | null;
  updated_at: string;
}

/**
 * Records a recording callback; the call's recording metadata changes only when the event is new and the
 * status is not earlier than what is stored for the same recording. Returns whether anything changed.
 */
export async function applyRecording(
  db: Db,
  call: CallRow,
  recording: RecordingMetadata,
  event: NewCallEvent,
): Promise<boolean> {
  const [, updated] = await db.batch([
    insertEventUnlessDuplicate(db, event),
    db
      .update(calls)
      .set({ recording: recording as unknown as Record<string, unknown>, updatedAt: event.at })
      .where(
        and(
          eq(calls.workspaceId, call.workspaceId),
          eq(calls.id, call.id),
          eventInserted(event.id),
          sql`(${calls.recording} IS NULL OR json_extract(${calls.recording}, '$.sid') IS NOT ${recording.sid}
               OR coalesce(json_extract(${calls.recording}, '$.status_rank'), 0) <= ${recording.status_rank})`,
        ),
      )
      .returning({ id: calls.id }),
  ]);
  return (updated as { id: string }[]).length > 0;
}

/** A text conversation continues while its last message is younger than this; then a new one starts. */
export const TEXT_SESSION_IDLE_MS = 24 * 60 * 60_000;

/** The open text session between a clinic number and a sender (by the sender's blind index), if any. */
export function findOpenTextSession(
  db: Db,
  workspaceId: string,
  toNumber: string,
  fromHash: string,
  now: Date,
) {
  return db.query.calls.findFirst({
    where: and(
      eq(calls.workspaceId, workspaceId),
      eq(calls.fromNumberHash, fromHash),
      eq(calls.channel, "sms"),
      eq(calls.toNumber, toNumber),
      // A session the agent closed (the conversation ended) takes no more messages: a new one starts.
      eq(calls.status, "in-progress"),
      gt(calls.updatedAt, new Date(now.getTime() - TEXT_SESSION_IDLE_MS).toISOString()),
    ),
    orderBy: [desc(calls.updatedAt)],
  });
}

/**
 * Records an inbound message on a text session, creating the session first when `newSession` is given.
 * The session's last activity moves only when the message is new. Returns the session row and whether
 * the message was new.
 */
export async function recordTextMessage(
  db: Db,
  session: { newSession: typeof calls.$inferInsert | null; callId: string; workspaceId: string },
  event: NewCallEvent,
): Promise<{ call: CallRow | undefined; isNew: boolean }> {
  const statements: Statement[] = [];
  if (session.newSession) statements.push(insertCallUnlessExists(db, session.newSession));
  statements.push(
    insertEventUnlessDuplicate(db, event),
    db
      .update(calls)
      .set({ updatedAt: event.at })
      .where(
        and(
          eq(calls.workspaceId, session.workspaceId),
          eq(calls.id, session.callId),
          eventInserted(event.id),
        ),
      )
      .returning({ id: calls.id }),
  );
  const results = await db.batch(statements as [Statement, ...Statement[]]);
  const updated = results.at(-1) as { id: string }[];
  return { call: await findCall(db, session.workspaceId, session.callId), isNew: updated.length > 0 };
}

// ---------------------------------------------------------------------------------------------------------
// Sealed fields: the caller's number and message bodies are PHI, sealed with the workspace's key and bound
// to the row they belong to.

const fromNumberField = (callId: string) => `calls.from_number:${callId}`;
const messageBodyField = (eventId: string) => `call_events.body:${eventId}`;

export const sealFromNumber = (masterKey: string, workspaceId: string, callId: string, number: string) =>
  encryptField(masterKey, workspaceId, fromNumberField(callId), number);
export const openFromNumber = (masterKey: string, workspaceId: string, callId: string, sealed: string) =>
  decryptField(masterKey, workspaceId, fromNumberField(callId), sealed);
export const sealMessageBody = (masterKey: string, workspaceId: string, eventId: string, body: string) =>
  encryptField(masterKey, workspaceId, messageBodyField(eventId), body);
/** Opens an SMS event's `data.body_enc`. */
export const openMessageBody = (masterKey: string, workspaceId: string, eventId: string, sealed: string) =>
  decryptField(masterKey, workspaceId, messageBodyField(eventId), sealed);

/** Whether any call or text session was answered by this service (they keep it as their history). */
export async function serviceHasCalls(db: Db, workspaceId: string, serviceId: string): Promise<boolean> {
  const [row] = await db
    .select({ id: calls.id })
    .from(calls)
    .where(and(eq(calls.workspaceId, workspaceId), eq(calls.serviceId, serviceId)))
    .limit(1);
  return Boolean(row);
}

// ---------------------------------------------------------------------------------------------------------
// Reading calls for the API: newest first on the (workspace_id, started_at, id) index.

export interface CallFilter {
  /** Inclusive lower bound on `started_at`, ISO-8601 UTC. */
  from?: string | undefined;
  /** Exclusive upper bound on `started_at`, ISO-8601 UTC. */
  to?: string | undefined;
  status?: string | undefined;
  direction?: string | undefined;
  channel?: string | undefined;
  /** Only calls from this provider (`simulator` for the phone simulator's). */
  provider?: string | undefined;
  /** Leave out calls from this provider. */
  notProvider?: string | undefined;
  minDuration?: number | undefined;
  maxDuration?: number | undefined;
  /** The (started_at, id) of the last row of the previous page: rows strictly older follow. */
  before?: [string, string] | undefined;
}

export type CallListRow = CallRow & {
  serviceName: string | null;
  patientNameEnc: string | null;
};

/** A page of a workspace's calls, newest first, with each call's service name and linked patient's sealed name. */
export async function listCallsPage(
  db: Db,
  workspaceId: string,
  filter: CallFilter,
  limit: number,
  offset: number,
): Promise<{ rows: CallListRow[]; total: number }> {
  const conditions = [
    eq(calls.workspaceId, workspaceId),
    filter.from ? gte(calls.startedAt, filter.from) : undefined,
    filter.to ? lt(calls.startedAt, filter.to) : undefined,
    filter.status ? eq(calls.status, filter.status) : undefined,
    filter.direction ? eq(calls.direction, filter.direction as "inbound" | "outbound") : undefined,
    filter.channel ? eq(calls.channel, filter.channel as "voice" | "sms") : undefined,
    filter.provider ? eq(calls.provider, filter.provider) : undefined,
    filter.notProvider ? ne(calls.provider, filter.notProvider) : undefined,
    filter.minDuration !== undefined ? gte(calls.durationSeconds, filter.minDuration) : undefined,
    filter.maxDuration !== undefined ? lte(calls.durationSeconds, filter.maxDuration) : undefined,
  ];
  const where = and(...conditions);
  const keyset = filter.before
    ? or(
        lt(calls.startedAt, filter.before[0]),
        and(eq(calls.startedAt, filter.before[0]), lt(calls.id, filter.before[1])),
      )
    : undefined;
  const [rows, total] = await Promise.all([
    db
      .select({
        call: calls,
        serviceName: services.name,
        patientNameEnc: worldEntities.displayNameEnc,
      })
      .from(calls)
      .leftJoin(services, and(eq(services.workspaceId, calls.workspaceId), eq(services.id, calls.serviceId)))
      .leftJoin(
        worldEntities,
        and(eq(worldEntities.workspaceId, calls.workspaceId), eq(worldEntities.id, calls.patientEntityId)),
      )
      .where(and(where, keyset))
      .orderBy(desc(calls.startedAt), desc(calls.id))
      .limit(limit)
      .offset(offset),
    db.$count(calls, where),
  ]);
  return {
    rows: rows.map((r) => ({ ...r.call, serviceName: r.serviceName, patientNameEnc: r.patientNameEnc })),
    total,
  };
}

/** One call with its service name and linked patient's sealed name, or undefined (also for another workspace's call). */
export async function findCallWithContext(
  db: Db,
  workspaceId: string,
  callId: string,
): Promise<CallListRow | undefined> {
  const [row] = await db
    .select({ call: calls, serviceName: services.name, patientNameEnc: worldEntities.displayNameEnc })
    .from(calls)
    .leftJoin(services, and(eq(services.workspaceId, calls.workspaceId), eq(services.id, calls.serviceId)))
    .leftJoin(
      worldEntities,
      and(eq(worldEntities.workspaceId, calls.workspaceId), eq(worldEntities.id, calls.patientEntityId)),
    )
    .where(and(eq(calls.workspaceId, workspaceId), eq(calls.id, callId)))
    .limit(1);
  return row && { ...row.call, serviceName: row.serviceName, patientNameEnc: row.patientNameEnc };
}

/**
 * Voice calls per clinic number and bucket since `from`: `bucketFormat` is a SQLite strftime pattern
 * (`%Y-%m-%dT%H:00:00.000Z` for hours). Calls from `notProvider` (the phone simulator's) are left out
 * when given. Only non-empty buckets come back; the caller zero-fills.
 */
export function callVolume(
  db: Db,
  workspaceId: string,
  from: string,
  to: string,
  bucketFormat: string,
  notProvider?: string,
) {
  const bucket = sql<string>`strftime(${bucketFormat}, ${calls.startedAt})`;
  return db
    .select({ toNumber: calls.toNumber, bucket, count: sql<number>`count(*)` })
    .from(calls)
    .where(
      and(
        eq(calls.workspaceId, workspaceId),
        gte(calls.startedAt, from),
        lt(calls.startedAt, to),
        eq(calls.channel, "voice"),
        notProvider ? ne(calls.provider, notProvider) : undefined,
      ),
    )
    .groupBy(calls.toNumber, bucket);
}

/**
 * Where a call's recording lives in R2: the `r2_key` its metadata names (set by whoever stored the media),
 * else the conventional `recordings/<workspace>/<call>.wav`.
 */
export function callRecordingKey(call: Pick<CallRow, "workspaceId" | "id" | "recording">): string {
  const named = call.recording?.r2_key;
  return typeof named === "string" && named.startsWith(`recordings/${call.workspaceId}/`)
    ? named
    : `recordings/${call.workspaceId}/${call.id}.wav`;
}

/** A workspace's clinic numbers, oldest first: the rows of the volume chart. */
export function workspaceNumbers(db: Db, workspaceId: string) {
  return db
    .select({
      id: phoneNumbers.id,
      e164: phoneNumbers.e164,
      label: phoneNumbers.label,
      serviceId: phoneNumbers.serviceId,
    })
    .from(phoneNumbers)
    .where(eq(phoneNumbers.workspaceId, workspaceId))
    .orderBy(phoneNumbers.createdAt, phoneNumbers.id);
}
