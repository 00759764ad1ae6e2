/**
 * The outbox: one mechanism for everything sent to a patient, on SMS, WhatsApp or email, whoever decided
 * it (a text session's reply, the agent's `send_sms` tool, a surface link sent by the gap scanner with no
 * call at all). A message is never sent from the request (or Durable Object turn) that decides it:
 * `queueMessage` records it as a `deliveries` row (`pending`; addresses and body sealed with the workspace
 * key, bound to the row) and puts a `message.send` job on the `delivery` queue, whose payload holds ids
 * and sealed values only. The job sends it through the channel's adapter:
 *
 * - SMS and WhatsApp: Twilio's Messaging API when the deployment has Twilio credentials (WhatsApp is the
 *   same Messages resource with `whatsapp:`-prefixed numbers), else the local adapter;
 * - email: `workers/telephony/email.ts` (Cloudflare's `send_email` binding, an HTTP email API, or local).
 *
 * A local adapter sends nothing and only records, so in development a reply shows in the outbox and on
 * the call's timeline, and never in a log.
 *
 * One row per workspace and dedupe key (`{channel}-out:{key}`): `pending` until the provider accepts it
 * (`sent`) or refuses it (`failed`, with the provider's error code). A re-delivered job finds the row
 * settled and never sends again; a message queued twice under one key is one row and one send. A
 * retryable failure (network, 429, 5xx) is thrown so the queue retries it with backoff; on the last
 * delivery the row is marked failed before the job goes to the dead-letter queue. Twilio's Messages API
 * has no idempotency key, so a send whose answer is lost may be delivered twice: at least once, never
 * silently dropped (the HTTP email API gets the dedupe key as its `Idempotency-Key`).
 */
import { z } from "zod";
import { decryptField, encryptField } from "../../shared/crypto/encryption";
import { randomBytes, toHex } from "../../shared/encoding";
import { newId } from "../../shared/ids";
import { ResourceId } from "../../shared/schemas/common";
import { findCall } from "../db/calls";
import { database } from "../db/client";
import {
  countDeliveryAttempt,
  type DeliveryRow,
  findDelivery,
  findDeliveryByKey,
  insertDeliveryUnlessDuplicate,
  openDeliveryField,
  sealDeliveryField,
  updatePendingDelivery,
} from "../db/deliveries";
import { enqueue, PermanentError, registerJob } from "../queue";
import { type EmailAdapter, EmailApiError, emailAdapter, emailSender } from "./email";
import { sendMessage, TwilioApiError, twilioCredentials } from "./twilio-rest";

export const MESSAGE_SEND_JOB = "message.send";
/** The `delivery` consumer's `max_retries` in wrangler.toml: a message is delivered at most 1 + this. */
export const DELIVERY_MAX_RETRIES = 5;
/** Twilio's limit on a message body (SMS and WhatsApp), in characters. */
export const SMS_MAX_BODY = 1600;
/** A plain-text email body, in characters. */
export const EMAIL_MAX_BODY = 20_000;

export type MessageChannel = "sms" | "whatsapp" | "email";

/** The kind a message has on a call's timeline (`sms.outbound`, `whatsapp.outbound`, `email.outbound`). */
export const outboundKind = (channel: MessageChannel) => `${channel}.outbound`;

export interface OutboundMessage {
  workspaceId: string;
  channel: MessageChannel;
  /** What it is for (`call_reply`, `tool_sms`, `surface_link`…): shown and filtered in the outbox. */
  purpose: string;
  /** Idempotency key, unique per message in the workspace (ids only: it is stored and shown in plain text). */
  key: string;
  /** E.164 for SMS and WhatsApp; an address for email. */
  to: string;
  /** SMS and WhatsApp: the clinic's number, E.164 (required). Email: default `EMAIL_FROM`. */
  from?: string | undefined;
  /** Email only (required there). */
  subject?: string | undefined;
  body: string;
  callId?: string | null | undefined;
  surfaceId?: string | null | undefined;
}

/** A text on a call (its reply, or the `send_sms` tool's). */
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
  /** Default: `tool_sms` for a key the `send_sms` tool made (`…:tool:…`), else `call_reply`. */
  purpose?: string;
}

const E164 = z.string().regex(/^\+[1-9]\d{6,14}$/, "an E.164 number");
const Purpose = z.string().regex(/^[a-z][a-z0-9_]{0,39}$/, "a purpose like call_reply");
const Key = z.string().min(1).max(160);
const Common = {
  workspaceId: z.string().min(1),
  purpose: Purpose,
  key: Key,
  callId: ResourceId.nullish(),
  surfaceId: ResourceId.nullish(),
};
const OutboundMessageInput = z.discriminatedUnion("channel", [
  z.strictObject({
    ...Common,
    channel: z.enum(["sms", "whatsapp"]),
    to: E164,
    from: E164,
    subject: z.undefined().optional(),
    body: z.string().min(1).max(SMS_MAX_BODY),
  }),
  z.strictObject({
    ...Common,
    channel: z.literal("email"),
    to: z.email().max(254),
    from: z.string().min(3).max(320).optional(),
    subject: z.string().min(1).max(300),
    body: z.string().min(1).max(EMAIL_MAX_BODY),
  }),
]);

const Sealed = z.string().min(1).max(40_000);
/** The `message.send` job's payload: ids and sealed values only. */
export const MessageSendPayload = z.strictObject({
  delivery_id: ResourceId,
  /** Email: the subject, sealed to the delivery (the outbox row keeps address and body). */
  subject_enc: Sealed.optional(),
});
export type MessageSendPayload = z.infer<typeof MessageSendPayload>;

const dedupeKey = (channel: MessageChannel, key: string) => `${channel}-out:${key}`;

/**
 * Records the message in the outbox and queues it on DELIVERY_QUEUE (no plaintext address or body in
 * the queue message). Idempotent on (workspace, channel, key): the same message queued again is the same
 * row, sent once. Returns the row's id. Invalid input is a TypeError naming the fields, never their values.
 */
export async function queueMessage(env: Env, message: OutboundMessage): Promise<{ deliveryId: string }> {
  const parsed = OutboundMessageInput.safeParse(message);
  // Only the paths: a message would repeat the address or the body.
  if (!parsed.success)
    throw new TypeError(
      `invalid outbound message: ${parsed.error.issues.map((i) => i.path.join(".")).join(", ")}`,
    );
  const msg = parsed.data;
  const { workspaceId } = msg;
  const db = database(env.DB);
  const id = newId("dlv");
  const seal = (field: "to" | "from" | "body", value: string) =>
    sealDeliveryField(env.ENCRYPTION_KEY, workspaceId, id, field, value);
  const dedupe = dedupeKey(msg.channel, msg.key);
  await insertDeliveryUnlessDuplicate(db, {
    id,
    workspaceId,
    dedupeKey: dedupe,
    channel: msg.channel,
    purpose: msg.purpose,
    callId: msg.callId ?? null,
    surfaceId: msg.surfaceId ?? null,
    provider: providerName(env, msg.channel),
    status: "pending",
    toEnc: await seal("to", msg.to),
    fromEnc: msg.from ? await seal("from", msg.from) : null,
    bodyEnc: await seal("body", msg.body),
  });
  const row = await findDeliveryByKey(db, workspaceId, dedupe);
  if (!row) throw new Error("the delivery was not recorded");
  // Sent or failed already (the same message queued again): nothing more to do.
  if (row.status !== "pending") return { deliveryId: row.id };
  const payload: MessageSendPayload = { delivery_id: row.id };
  if (msg.channel === "email")
    payload.subject_enc = await encryptField(
      env.ENCRYPTION_KEY,
      workspaceId,
      subjectField(row.id),
      msg.subject,
    );
  await enqueue(env.DELIVERY_QUEUE, {
    type: MESSAGE_SEND_JOB,
    workspace_id: workspaceId,
    idempotency_key: dedupe,
    payload,
  });
  return { deliveryId: row.id };
}

const subjectField = (deliveryId: string) => `queue.message_send.subject:${deliveryId}`;

/** A call's text through the outbox (the CallSession's replies and the `send_sms` tool). */
export async function queueSms(env: Env, sms: OutboundSms): Promise<void> {
  const { purpose, ...rest } = sms;
  const parsedCall = ResourceId.safeParse(sms.callId);
  if (!parsedCall.success) throw new TypeError("invalid outbound message: callId");
  await queueMessage(env, {
    ...rest,
    channel: "sms",
    purpose: purpose ?? (sms.key.includes(":tool:") ? "tool_sms" : "call_reply"),
  });
}

// ---------------------------------------------------------------------------------------------------------
// Adapters

/** SMS and WhatsApp: Twilio REST when credentials exist, else the local adapter that only records. */
export interface MessagingAdapter {
  readonly name: "twilio" | "local";
  send(msg: { from: string; to: string; body: string }): Promise<{ sid: string; status: string }>;
}

let messagingFetch: typeof fetch | undefined;
/** For tests: the `fetch` the Twilio adapter uses when none is passed (pass nothing to restore the real one). */
export function setMessagingFetch(fetcher?: typeof fetch) {
  messagingFetch = fetcher;
}

/** Sends nothing: the outbox row it is recorded as is the whole delivery. */
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

/** Twilio's address for a WhatsApp user or sender: `whatsapp:+14155550100`. */
export const whatsappAddress = (e164: string) => `whatsapp:${e164}`;

/** The provider a channel would use now (recorded on the row when it is queued; the send records its own). */
function providerName(env: Env, channel: MessageChannel): string {
  if (channel !== "email") return twilioCredentials(env) ? "twilio" : "local";
  if (env.EMAIL) return "cloudflare";
  return env.EMAIL_API_URL?.trim() && env.EMAIL_API_KEY?.trim() ? "http" : "local";
}

/** Adapters a delivery may be given instead of the configured ones (tests). */
export interface Adapters {
  messaging?: MessagingAdapter;
  email?: EmailAdapter;
}

// ---------------------------------------------------------------------------------------------------------
// The job

registerJob("delivery", MESSAGE_SEND_JOB, {
  payload: MessageSendPayload,
  handle: (payload, context) => deliverMessage(context.env, context.workspaceId, payload, context.attempts),
});

/** A provider's refusal as the row keeps it: its numeric or named code, else the HTTP status. */
function errorCodeOf(err: TwilioApiError | EmailApiError): string {
  if (err.code !== null) return String(err.code);
  return err.status === 0 ? "unreachable" : `http_${err.status}`;
}

/**
 * One delivery of a `message.send` job. `delivery` is the message's attempt number (1-based): past
 * DELIVERY_MAX_RETRIES it is the last one, and a retryable failure marks the message failed before the
 * error sends the job to the dead-letter queue.
 */
export async function deliverMessage(
  env: Env,
  workspaceId: string,
  job: MessageSendPayload,
  delivery: number,
  adapters: Adapters = {},
): Promise<void> {
  const db = database(env.DB);
  const row = await findDelivery(db, workspaceId, job.delivery_id);
  if (!row) throw new PermanentError("the message is not in the outbox");
  // Sent or failed already (a re-delivery, or the same message queued twice): never sent again.
  if (row.status !== "pending") return;
  const fail = async (errorCode: string, provider = row.provider) =>
    updatePendingDelivery(db, workspaceId, row.id, { status: "failed", errorCode, provider });

  if (row.callId && !(await findCall(db, workspaceId, row.callId))) {
    await fail("no_call");
    throw new PermanentError("the conversation does not exist");
  }

  let opened: Opened;
  try {
    opened = await openMessage(env, workspaceId, row, job);
  } catch {
    await fail("unreadable");
    throw new PermanentError("the message could not be opened");
  }

  let send: () => Promise<{ id: string; status: string }>;
  let provider: string;
  if (row.channel === "email") {
    const adapter = adapters.email ?? emailAdapter(env);
    provider = adapter.name;
    const from = emailSender(env, opened.from) ?? (adapter.name === "local" ? "outbox@localhost" : null);
    if (!from) {
      await fail("no_sender", provider);
      throw new PermanentError("no sender address: set EMAIL_FROM");
    }
    send = () =>
      adapter.send({
        from,
        to: opened.to,
        subject: opened.subject ?? "",
        text: opened.body,
        idempotencyKey: `${workspaceId}:${row.dedupeKey}`,
      });
  } else {
    const adapter = adapters.messaging ?? messagingAdapter(env);
    provider = adapter.name;
    if (!opened.from) {
      await fail("no_sender", provider);
      throw new PermanentError("no sender number");
    }
    const address = row.channel === "whatsapp" ? whatsappAddress : (n: string) => n;
    const message = { from: address(opened.from), to: address(opened.to), body: opened.body };
    send = async () => {
      const sent = await adapter.send(message);
      return { id: sent.sid, status: sent.status };
    };
  }

  await countDeliveryAttempt(db, workspaceId, row.id);
  try {
    const sent = await send();
    await updatePendingDelivery(db, workspaceId, row.id, {
      status: "sent",
      provider,
      providerId: sent.id,
      errorCode: null,
      sentAt: new Date().toISOString(),
    });
  } catch (err) {
    if (!(err instanceof TwilioApiError || err instanceof EmailApiError)) throw err;
    const errorCode = errorCodeOf(err);
    const lastDelivery = delivery > DELIVERY_MAX_RETRIES;
    if (err.retryable && !lastDelivery) {
      await updatePendingDelivery(db, workspaceId, row.id, { provider, errorCode });
      throw err;
    }
    await fail(errorCode, provider);
    if (err.retryable) throw err;
    throw new PermanentError(`${provider} refused the message (${err.status}, error ${errorCode})`);
  }
}

interface Opened {
  to: string;
  from: string | null;
  subject: string | null;
  body: string;
}

async function openMessage(
  env: Env,
  workspaceId: string,
  row: DeliveryRow,
  job: MessageSendPayload,
): Promise<Opened> {
  const open = (field: "to" | "from" | "body", sealed: string) =>
    openDeliveryField(env.ENCRYPTION_KEY, workspaceId, row.id, field, sealed);
  return {
    to: await open("to", row.toEnc),
    from: row.fromEnc ? await open("from", row.fromEnc) : null,
    body: await open("body", row.bodyEnc),
    subject: job.subject_enc
      ? await decryptField(env.ENCRYPTION_KEY, workspaceId, subjectField(row.id), job.subject_enc)
      : null,
  };
}

/** A delivery's recipient and body, opened (the development outbox and tests). */
export async function openDelivery(
  env: Env,
  row: Pick<DeliveryRow, "id" | "workspaceId" | "toEnc" | "bodyEnc">,
): Promise<{ to: string; body: string }> {
  const open = (field: "to" | "body", sealed: string) =>
    openDeliveryField(env.ENCRYPTION_KEY, row.workspaceId, row.id, field, sealed);
  return { to: await open("to", row.toEnc), body: await open("body", row.bodyEnc) };
}
