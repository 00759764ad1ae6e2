/**
 * Sending SMS: the replies of text sessions and the agent's `send_sms` tool. A message is never sent from
 * the request (or Durable Object turn) that decides it: `queueSms` puts an `sms.send` job on the
 * `delivery` queue, and the job sends it through the messaging adapter: Twilio's Messaging API when the
 * deployment has Twilio credentials, else the local adapter, which sends nothing and only records (so in
 * development a reply shows on the call's timeline and transcript, and never in a log).
 *
 * The job payload carries no plaintext: the body is sealed to the outbound event it becomes (like an
 * inbound body, `sealMessageBody`), the numbers to the same event id under a field of their own.
 *
 * Each message is one `call_events` row, kind `sms.outbound`, dedupe key `sms-out:{key}`, holding
 * `{status, provider, message_sid, body_enc}`: `pending` until the provider accepts it (`sent`) or refuses
 * it (`failed`, with Twilio's error code). A re-delivered job finds the row and never sends a `sent` or
 * `failed` message again; a message queued twice under one key is one row and one send. A retryable
 * Twilio failure (network, 429, 5xx) is thrown so the queue retries it with backoff; on the last
 * delivery the row is marked failed before the message goes to the dead-letter queue. Twilio's Messages
 * API has no idempotency key, so a send whose answer is lost (a timeout after Twilio accepted it) may be
 * delivered twice: at least once, never silently dropped.
 */
import { and, eq, sql } from "drizzle-orm";
import { z } from "zod";
import { decryptField, encryptField } from "../../shared/crypto/encryption";
import { randomBytes, toHex } from "../../shared/encoding";
import { newId } from "../../shared/ids";
import { ResourceId } from "../../shared/schemas/common";
import { findCall, insertEventUnlessDuplicate, openMessageBody, sealMessageBody } from "../db/calls";
import { type Db, database } from "../db/client";
import { callEvents } from "../db/schema";
import { enqueue, PermanentError, registerJob } from "../queue";
import { sendMessage, TwilioApiError, twilioCredentials } from "./twilio-rest";

export const SMS_SEND_JOB = "sms.send";
/** The `delivery` consumer's `max_retries` in wrangler.toml: a message is delivered at most 1 + this. */
export const DELIVERY_MAX_RETRIES = 5;
/** The event kind of an outbound message on a call's timeline. */
export const SMS_OUTBOUND_EVENT = "sms.outbound";
/** Twilio's limit on a message body, in characters. */
export const SMS_MAX_BODY = 1600;

export interface OutboundSms {
  workspaceId: string;
  callId: string;
  /** Idempotency key, unique per message (ids only: it is stored and shown in plain text). */
  key: string;
  /** The clinic's number that sends it, E.164. */
  from: string;
  /** E.164. */
  to: string;
  body: string;
}

const E164 = z.string().regex(/^\+[1-9]\d{6,14}$/, "an E.164 number");
const OutboundSmsInput = z.strictObject({
  workspaceId: z.string().min(1),
  callId: ResourceId,
  key: z.string().min(1).max(160),
  from: E164,
  to: E164,
  body: z.string().min(1).max(SMS_MAX_BODY),
});

const Sealed = z.string().min(1).max(20_000);
/** The `sms.send` job's payload: ids and sealed values only. */
export const SmsSendPayload = z.strictObject({
  call_id: ResourceId,
  key: z.string().min(1).max(160),
  /** The id the outbound event gets, which the sealed values are bound to. */
  event_id: ResourceId,
  body_enc: Sealed,
  numbers_enc: Sealed,
});
export type SmsSendPayload = z.infer<typeof SmsSendPayload>;

const numbersField = (eventId: string) => `queue.sms_send.numbers:${eventId}`;
const Numbers = z.object({ from: E164, to: E164 });

/** Queues the message on DELIVERY_QUEUE (the body sealed with the workspace key inside the job payload; no plaintext body or number in the queue message). */
export async function queueSms(env: Env, sms: OutboundSms): Promise<void> {
  const parsed = OutboundSmsInput.safeParse(sms);
  // Only the paths: a message would repeat the number or the body.
  if (!parsed.success)
    throw new TypeError(
      `invalid outbound SMS: ${parsed.error.issues.map((i) => i.path.join(".")).join(", ")}`,
    );
  const { workspaceId, callId, key, from, to, body } = parsed.data;
  const eventId = newId("cev");
  const payload: SmsSendPayload = {
    call_id: callId,
    key,
    event_id: eventId,
    body_enc: await sealMessageBody(env.ENCRYPTION_KEY, workspaceId, eventId, body),
    numbers_enc: await encryptField(
      env.ENCRYPTION_KEY,
      workspaceId,
      numbersField(eventId),
      JSON.stringify({ from, to }),
    ),
  };
  await enqueue(env.DELIVERY_QUEUE, {
    type: SMS_SEND_JOB,
    workspace_id: workspaceId,
    idempotency_key: dedupeKey(key),
    payload,
  });
}

// ---------------------------------------------------------------------------------------------------------
// Adapters

/** The adapter: Twilio REST when credentials exist, else the local adapter that only records. */
export interface MessagingAdapter {
  readonly name: "twilio" | "local";
  send(msg: { from: string; to: string; body: string }): Promise<{ sid: string; status: string }>;
}

let messagingFetch: typeof fetch | undefined;
/** For tests: the `fetch` the Twilio adapter uses when none is passed (pass nothing to restore the real one). */
export function setMessagingFetch(fetcher?: typeof fetch) {
  messagingFetch = fetcher;
}

/** Sends nothing: the outbound event it is recorded as is the whole delivery. */
const localAdapter: MessagingAdapter = {
  name: "local",
  async send() {
    // Shaped like a Message sid (SM + 32 characters) and visibly not one.
    return { sid: `SMlocal${toHex(randomBytes(14)).slice(0, 27)}`, status: "sent" };
  },
};

export function messagingAdapter(env: Env, fetcher?: typeof fetch): MessagingAdapter {
  const creds = twilioCredentials(env);
  if (!creds) {
    // A deployment without Twilio credentials texts nobody: say so where operators look (ids only).
    if (env.ENVIRONMENT !== "development")
      console.warn(JSON.stringify({ level: "warn", event: "messaging.not_configured", adapter: "local" }));
    return localAdapter;
  }
  const chosenFetch = fetcher ?? messagingFetch ?? fetch;
  return { name: "twilio", send: (msg) => sendMessage(creds, msg, chosenFetch) };
}

// ---------------------------------------------------------------------------------------------------------
// The outbound event row

const dedupeKey = (key: string) => `sms-out:${key}`;

const OutboundEventData = z.looseObject({
  status: z.enum(["pending", "sent", "failed"]),
  provider: z.enum(["twilio", "local"]),
  message_sid: z.string().nullable(),
  body_enc: z.string(),
});
type OutboundEventData = z.infer<typeof OutboundEventData>;

interface OutboundEvent {
  id: string;
  data: OutboundEventData;
}

async function findOutboundEvent(
  db: Db,
  workspaceId: string,
  callId: string,
  key: string,
): Promise<OutboundEvent | null> {
  const row = await db.query.callEvents.findFirst({
    where: and(
      eq(callEvents.workspaceId, workspaceId),
      eq(callEvents.callId, callId),
      eq(callEvents.dedupeKey, dedupeKey(key)),
    ),
  });
  return row ? { id: row.id, data: OutboundEventData.parse(row.data) } : null;
}

/** The message's event: recorded `pending` on its first delivery, as it is on a later one. */
async function recordPending(
  db: Db,
  workspaceId: string,
  job: SmsSendPayload,
  provider: MessagingAdapter["name"],
): Promise<OutboundEvent | null> {
  const data: OutboundEventData = { status: "pending", provider, message_sid: null, body_enc: job.body_enc };
  await db.batch([
    insertEventUnlessDuplicate(db, {
      id: job.event_id,
      workspaceId,
      callId: job.call_id,
      kind: SMS_OUTBOUND_EVENT,
      dedupeKey: dedupeKey(job.key),
      data,
      at: new Date().toISOString(),
    }),
  ]);
  return findOutboundEvent(db, workspaceId, job.call_id, job.key);
}

/** Merges `change` into a pending event's data; a message settled meanwhile is left as it is. */
async function updatePending(
  db: Db,
  workspaceId: string,
  event: OutboundEvent,
  change: Partial<OutboundEventData> & Record<string, unknown>,
): Promise<void> {
  await db
    .update(callEvents)
    .set({ data: { ...event.data, ...change } })
    .where(
      and(
        eq(callEvents.workspaceId, workspaceId),
        eq(callEvents.id, event.id),
        sql`json_extract(${callEvents.data}, '$.status') = 'pending'`,
      ),
    );
}

// ---------------------------------------------------------------------------------------------------------
// The job

registerJob("delivery", SMS_SEND_JOB, {
  payload: SmsSendPayload,
  handle: (payload, context) => deliverSms(context.env, context.workspaceId, payload, context.attempts),
});

/**
 * One delivery of an `sms.send` job. `delivery` is the message's attempt number (1-based): past
 * DELIVERY_MAX_RETRIES it is the last one, and a retryable failure marks the message failed before the
 * error sends the job to the dead-letter queue.
 */
export async function deliverSms(
  env: Env,
  workspaceId: string,
  job: SmsSendPayload,
  delivery: number,
  adapter: MessagingAdapter = messagingAdapter(env),
): Promise<void> {
  const db = database(env.DB);
  const call = await findCall(db, workspaceId, job.call_id);
  if (!call) throw new PermanentError("the text session does not exist");
  const event = await recordPending(db, workspaceId, job, adapter.name);
  if (!event) throw new PermanentError("the text session does not exist");
  // Sent or failed already (a re-delivery, or the same message queued twice): never sent again.
  if (event.data.status !== "pending") return;

  let message: { from: string; to: string; body: string };
  try {
    const numbers = Numbers.parse(
      JSON.parse(
        await decryptField(env.ENCRYPTION_KEY, workspaceId, numbersField(job.event_id), job.numbers_enc),
      ),
    );
    const body = await openMessageBody(env.ENCRYPTION_KEY, workspaceId, event.id, event.data.body_enc);
    message = { ...numbers, body };
  } catch {
    await updatePending(db, workspaceId, event, {
      status: "failed",
      provider: adapter.name,
      error: "unreadable",
      failed_at: new Date().toISOString(),
    });
    throw new PermanentError("the message could not be opened");
  }

  try {
    const sent = await adapter.send(message);
    await updatePending(db, workspaceId, event, {
      status: "sent",
      provider: adapter.name,
      message_sid: sent.sid,
      provider_status: sent.status,
      sent_at: new Date().toISOString(),
    });
  } catch (err) {
    if (!(err instanceof TwilioApiError)) throw err;
    const error = { provider: adapter.name, error_code: err.code, http_status: err.status };
    const lastDelivery = delivery > DELIVERY_MAX_RETRIES;
    if (err.retryable && !lastDelivery) {
      await updatePending(db, workspaceId, event, error);
      throw err;
    }
    await updatePending(db, workspaceId, event, {
      ...error,
      status: "failed",
      failed_at: new Date().toISOString(),
    });
    if (err.retryable) throw err;
    throw new PermanentError(`Twilio refused the message (${err.status}, error ${err.code ?? "none"})`);
  }
}
