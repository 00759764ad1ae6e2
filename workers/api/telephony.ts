/**
 * Twilio's webhooks, outside `/v1` and outside the OpenAPI document: Twilio authenticates with
 * `X-Twilio-Signature` (workers/telephony/twilio-signature.ts), not with a user's credentials. A missing or
 * wrong signature is 403 with nothing written. Configure them in Twilio on each number:
 *
 * - Voice "A call comes in": `POST {PUBLIC_BASE_URL}/telephony/twilio/voice`. The called number leads to
 *   its service; the call is created once per CallSid; the answer is `<Connect>` with `<Stream>` (Media
 *   Streams, the default) or `<ConversationRelay>`, per the service's `voice_transport`, to a WebSocket
 *   URL carrying a short-lived token. A number that leads to no service gets a polite spoken message.
 * - Voice "Call status changes": `POST {PUBLIC_BASE_URL}/telephony/twilio/status`, with the events
 *   initiated, ringing, answered and completed selected. Duplicates and late arrivals change nothing.
 * - Recording status callback (on `<Record>`/`<Start><Recording>` or the Recordings API):
 *   `POST {PUBLIC_BASE_URL}/telephony/twilio/recording`. Metadata only; the media is not fetched here.
 * - Messaging "A message comes in": `POST {PUBLIC_BASE_URL}/telephony/twilio/sms`. The message joins the
 *   sender's open text session with that number (one per number pair, continuing while the last message
 *   is under 24 h old, so a patient texting back the next morning stays in the same conversation, and a
 *   week later starts a new one). The answer is an empty `<Response/>`: replies are sent by the engine
 *   through the Messaging API, not as TwiML, because they take longer than a webhook may.
 *
 * Callbacks for a call or number we do not know answer 200 (Twilio would otherwise retry) and are
 * logged with ids only. No number, message body or caller detail reaches a log.
 */
import type { Context } from "hono";
import { z } from "zod";
import { blindIndex } from "../../shared/crypto/blind-index";
import { newId } from "../../shared/ids";
import { Persona, type VoiceTransport } from "../../shared/schemas/tenancy";
import { normalizeE164 } from "../../shared/tenancy/phone";
import { callSession } from "../calls/session-client";
import {
  applyCallStatus,
  applyRecording,
  CALL_STATUS_RANK,
  CALL_STATUSES,
  type CallRow,
  callerKey,
  findCallByProviderSid,
  findOpenTextSession,
  insertEventUnlessDuplicate,
  isTerminalStatus,
  openVoiceCallStatements,
  RECORDING_STATUS_RANK,
  type RecordingStatus,
  recordTextMessage,
  sealFromNumber,
  sealMessageBody,
} from "../db/calls";
import { database } from "../db/client";
import type { services } from "../db/schema";
import { findPhoneNumberByE164, findService } from "../db/tenancy";
import type { AppEnv } from "../env";
import { ApiError } from "../errors";
import { publish } from "../events";
import { speechServices } from "../speech/speech";
import { mediaSocketUrl, signStreamToken, verifyTwilioWebhook } from "../telephony/twilio-signature";
import {
  connectConversationRelay,
  connectStream,
  handoffTwiml,
  hangup,
  notInServiceTwiml,
  say,
  twimlDocument,
} from "../telephony/twiml";
import { router } from "./router";

type ServiceRow = typeof services.$inferSelect;

const sid = (prefix: string) => z.string().regex(new RegExp(`^${prefix}[0-9a-fA-F]{32}$`), `a ${prefix} SID`);
const count = z
  .string()
  .regex(/^\d{1,9}$/, "a whole number")
  .transform(Number);
const PhoneParam = z.string().max(64);

/** The parameters each webhook reads; Twilio sends more, which are ignored (new ones appear without notice). */
const VoiceWebhook = z.object({
  CallSid: sid("CA"),
  AccountSid: sid("AC"),
  From: PhoneParam.default(""),
  To: PhoneParam,
  CallStatus: z.enum(CALL_STATUSES).default("ringing"),
  Direction: z.string().max(32).default("inbound"),
});
const StatusCallback = z.object({
  CallSid: sid("CA"),
  CallStatus: z.enum(CALL_STATUSES),
  CallDuration: count.optional(),
  Timestamp: z.string().max(64).optional(),
  SequenceNumber: count.optional(),
});
const RecordingCallback = z.object({
  CallSid: sid("CA"),
  RecordingSid: sid("RE"),
  RecordingStatus: z.enum(Object.keys(RECORDING_STATUS_RANK) as [RecordingStatus, ...RecordingStatus[]]),
  RecordingUrl: z
    .url({ protocol: /^https$/ })
    .max(500)
    .optional(),
  RecordingDuration: count.optional(),
  RecordingChannels: count.optional(),
  RecordingSource: z.string().max(64).optional(),
  RecordingStartTime: z.string().max(64).optional(),
  ErrorCode: z.string().max(16).optional(),
});
/** The `<Connect action>` request (Twilio adds `HandoffData` after a ConversationRelay `end`; the session's own record is what counts). */
const HandoffCallback = z.object({
  CallSid: sid("CA"),
  CallStatus: z.enum(CALL_STATUSES).optional(),
});
const InboundSms = z.object({
  MessageSid: z.string().regex(/^(SM|MM)[0-9a-fA-F]{32}$/, "an SM or MM SID"),
  AccountSid: sid("AC"),
  From: PhoneParam.min(1),
  To: PhoneParam,
  Body: z.string().max(1600).default(""),
  NumMedia: count.optional(),
});

function log(
  level: "info" | "warn",
  event: string,
  c: Context<AppEnv>,
  fields: Record<string, unknown> = {},
) {
  const line = JSON.stringify({ level, event, requestId: c.get("requestId"), ...fields });
  if (level === "warn") console.warn(line);
  else console.info(line);
}

/** The webhook's parameters, once its signature holds; 403 (logged with the reason only) when it does not. */
async function verifiedParams<T extends z.ZodType>(c: Context<AppEnv>, schema: T): Promise<z.infer<T>> {
  const raw = new Uint8Array(await c.req.arrayBuffer());
  const verified = await verifyTwilioWebhook(c.req.raw, raw, {
    authToken: c.env.TWILIO_AUTH_TOKEN,
    publicBaseUrl: c.env.PUBLIC_BASE_URL,
  });
  if (!verified.ok) {
    log("warn", "telephony.signature_rejected", c, { path: c.req.path, reason: verified.reason });
    throw new ApiError("forbidden", "The request's Twilio signature is missing or invalid");
  }
  const parsed = schema.safeParse(
    Object.fromEntries([...verified.params].map(([name, values]) => [name, values[0]])),
  );
  if (!parsed.success) {
    const issues = parsed.error.issues.map((i) => ({
      path: i.path.map(String).join("."),
      code: i.code,
      message: i.message,
    }));
    throw new ApiError("validation_failed", `Invalid webhook parameters: ${issues[0]?.path ?? ""}`, {
      issues,
    });
  }
  return parsed.data;
}

const twiml = (c: Context<AppEnv>, xml: string) =>
  c.body(xml, 200, { "Content-Type": "text/xml; charset=utf-8" });

/** Twilio's `Timestamp` (RFC 2822) as ISO-8601; the time of arrival when absent or unreadable. */
function providerTime(timestamp: string | undefined): string {
  const parsed = timestamp ? Date.parse(timestamp) : Number.NaN;
  return Number.isFinite(parsed) ? new Date(parsed).toISOString() : new Date().toISOString();
}

/** Spoken when a Media Streams call arrives and this deployment has no speech-to-text / text-to-speech. */
export const SPEECH_UNAVAILABLE_MESSAGE =
  "We're sorry. This line's speech services are not configured, so we can't take your call right now. Please call the clinic's main number. Goodbye.";

/** The TwiML that connects a call to its media WebSocket, for the transport the call was created with. */
async function connectTwiml(env: Env, call: CallRow, service: ServiceRow | undefined): Promise<string> {
  const transport = (call.transport ?? "media_streams") as VoiceTransport;
  const token = await signStreamToken(env.SIGNING_SECRET, call.id);
  const url = mediaSocketUrl(env.PUBLIC_BASE_URL, transport, call.id, token);
  const parameters = { call_id: call.id };
  // When the session ends, Twilio asks this URL what to do next (the handoff: hang up, dial, …).
  const action = `${env.PUBLIC_BASE_URL.replace(/\/$/, "")}/telephony/twilio/handoff/${call.id}`;
  if (transport === "media_streams") {
    if (!speechServices(env)) {
      await recordSpeechUnavailable(env, call);
      return twimlDocument([say(SPEECH_UNAVAILABLE_MESSAGE, { language: "en-US" }), hangup()]);
    }
    return twimlDocument([connectStream({ url, parameters, action })]);
  }
  const persona = Persona.safeParse(service?.persona ?? {});
  const { language } = persona.success ? persona.data : Persona.parse({});
  // No welcomeGreeting: the CallSession greets on `setup`, from the service's context graph (and, for a
  // caller it recognises, by name once verified); a TwiML greeting as well would be spoken twice.
  return twimlDocument([
    connectConversationRelay({
      url,
      language,
      interruptible: "any",
      dtmfDetection: true,
      parameters,
      action,
    }),
  ]);
}

/** A Media Streams call this deployment cannot speak on: logged (ids only) and on the call's timeline. */
async function recordSpeechUnavailable(env: Env, call: CallRow) {
  console.warn(
    JSON.stringify({
      level: "warn",
      event: "call.speech_unavailable",
      call_id: call.id,
      reason: "speech services not configured",
    }),
  );
  await database(env.DB).batch([
    insertEventUnlessDuplicate(database(env.DB), {
      id: newId("cev"),
      workspaceId: call.workspaceId,
      callId: call.id,
      kind: "speech_unavailable",
      dedupeKey: "speech_unavailable",
      data: { reason: "speech services not configured" },
      at: new Date().toISOString(),
    }),
  ]);
}

/** The service a clinic number leads to, or null when the number is unknown or unassigned. */
async function serviceForNumber(env: Env, to: string) {
  const db = database(env.DB);
  const e164 = normalizeE164(to);
  const number = e164 ? await findPhoneNumberByE164(db, e164) : undefined;
  if (!number?.serviceId) return null;
  const service = await findService(db, number.workspaceId, number.serviceId);
  return service ? { number, service } : null;
}

export const telephonyApi = router()
  .post("/telephony/twilio/voice", async (c) => {
    const params = await verifiedParams(c, VoiceWebhook);
    const db = database(c.env.DB);

    const existing = await findCallByProviderSid(db, params.CallSid);
    if (existing) {
      const service = existing.serviceId
        ? await findService(db, existing.workspaceId, existing.serviceId)
        : undefined;
      return twiml(c, await connectTwiml(c.env, existing, service));
    }

    const target = await serviceForNumber(c.env, params.To);
    if (!target) {
      log("warn", "telephony.unknown_number", c, { channel: "voice", call_sid: params.CallSid });
      return twiml(c, notInServiceTwiml());
    }
    const { number, service } = target;
    const workspaceId = number.workspaceId;
    const status = params.CallStatus;
    const { callId, statements } = await openVoiceCallStatements(db, c.env.ENCRYPTION_KEY, {
      workspaceId,
      serviceId: service.id,
      phoneNumberId: number.id,
      toNumber: number.e164,
      from: params.From,
      direction: params.Direction === "inbound" ? "inbound" : "outbound",
      transport: service.voiceTransport,
      provider: "twilio",
      providerSid: params.CallSid,
      status,
      at: new Date().toISOString(),
    });
    await db.batch(statements);
    // A concurrent delivery of the same webhook may have won the insert: answer with whichever call exists.
    const call = (await findCallByProviderSid(db, params.CallSid))!;
    if (call.id === callId) {
      log("info", "telephony.call_started", c, { call_id: callId, workspace_id: workspaceId });
      await publish(c.env, workspaceId, {
        type: "call.started",
        data: {
          call_id: callId,
          service_id: service.id,
          phone_number_id: number.id,
          channel: "voice",
          direction: call.direction,
          transport: call.transport,
        },
      });
    }
    return twiml(c, await connectTwiml(c.env, call, service));
  })
  .post("/telephony/twilio/status", async (c) => {
    const params = await verifiedParams(c, StatusCallback);
    const db = database(c.env.DB);
    const call = await findCallByProviderSid(db, params.CallSid);
    if (!call) {
      log("warn", "telephony.unknown_call", c, { callback: "status", call_sid: params.CallSid });
      return twiml(c, twimlDocument());
    }
    const at = providerTime(params.Timestamp);
    const changed = await applyCallStatus(
      db,
      call,
      { status: params.CallStatus, at, durationSeconds: params.CallDuration },
      {
        id: newId("cev"),
        workspaceId: call.workspaceId,
        callId: call.id,
        kind: "provider.status",
        dedupeKey: `status:${params.CallStatus}:${params.SequenceNumber ?? "-"}`,
        data: {
          status: params.CallStatus,
          sequence_number: params.SequenceNumber ?? null,
          duration_seconds: params.CallDuration ?? null,
        },
        at,
      },
    );
    if (changed) {
      const terminal = isTerminalStatus(params.CallStatus);
      await publish(c.env, call.workspaceId, {
        type: terminal ? "call.ended" : "call.updated",
        data: {
          call_id: call.id,
          service_id: call.serviceId,
          status: changed.status,
          ...(terminal ? { duration_seconds: changed.durationSeconds } : {}),
        },
      });
    }
    return twiml(c, twimlDocument());
  })
  .post("/telephony/twilio/recording", async (c) => {
    const params = await verifiedParams(c, RecordingCallback);
    const db = database(c.env.DB);
    const call = await findCallByProviderSid(db, params.CallSid);
    if (!call) {
      log("warn", "telephony.unknown_call", c, { callback: "recording", call_sid: params.CallSid });
      return twiml(c, twimlDocument());
    }
    const now = new Date().toISOString();
    await applyRecording(
      db,
      call,
      {
        sid: params.RecordingSid,
        status: params.RecordingStatus,
        status_rank: RECORDING_STATUS_RANK[params.RecordingStatus],
        url: params.RecordingUrl ?? null,
        duration_seconds: params.RecordingDuration ?? null,
        channels: params.RecordingChannels ?? null,
        source: params.RecordingSource ?? null,
        started_at: params.RecordingStartTime ? providerTime(params.RecordingStartTime) : null,
        error_code: params.ErrorCode ?? null,
        updated_at: now,
      },
      {
        id: newId("cev"),
        workspaceId: call.workspaceId,
        callId: call.id,
        kind: "provider.recording",
        dedupeKey: `recording:${params.RecordingSid}:${params.RecordingStatus}`,
        data: { recording_sid: params.RecordingSid, status: params.RecordingStatus },
        at: now,
      },
    );
    return twiml(c, twimlDocument());
  })
  // `<Connect action>`: the session ended (ConversationRelay after its `end`, or a Media Stream that
  // closed); the call's session says how it left the agent, and the answer carries that out.
  .post("/telephony/twilio/handoff/:call_id", async (c) => {
    const params = await verifiedParams(c, HandoffCallback);
    const db = database(c.env.DB);
    const call = await findCallByProviderSid(db, params.CallSid);
    if (!call || call.id !== c.req.param("call_id")) {
      log("warn", "telephony.unknown_call", c, { callback: "handoff", call_sid: params.CallSid });
      return twiml(c, twimlDocument([hangup()]));
    }
    const handoff = await callSession(c.env, call.id).handoff();
    log("info", "telephony.handoff", c, { call_id: call.id, reason: handoff?.reason ?? "none" });
    return twiml(c, handoffTwiml(handoff ?? { reason: "completed" }));
  })
  .post("/telephony/twilio/sms", async (c) => {
    const params = await verifiedParams(c, InboundSms);
    const target = await serviceForNumber(c.env, params.To);
    if (!target) {
      log("warn", "telephony.unknown_number", c, { channel: "sms", message_sid: params.MessageSid });
      return twiml(c, twimlDocument());
    }
    const { number, service } = target;
    const workspaceId = number.workspaceId;
    const db = database(c.env.DB);
    const now = new Date();
    const at = now.toISOString();
    const fromHash = await blindIndex(c.env.ENCRYPTION_KEY, workspaceId, "phone", callerKey(params.From));

    const open = await findOpenTextSession(db, workspaceId, number.e164, fromHash, now);
    const callId = open?.id ?? newId("call");
    const newSession = open
      ? null
      : {
          id: callId,
          workspaceId,
          serviceId: service.id,
          phoneNumberId: number.id,
          channel: "sms" as const,
          direction: "inbound" as const,
          transport: "sms",
          provider: "twilio",
          // The first message names the conversation; later ones find it by number pair and recency.
          providerSid: params.MessageSid,
          toNumber: number.e164,
          fromNumberEnc: await sealFromNumber(c.env.ENCRYPTION_KEY, workspaceId, callId, params.From),
          fromNumberHash: fromHash,
          status: "in-progress",
          statusRank: CALL_STATUS_RANK["in-progress"],
          startedAt: at,
          answeredAt: at,
          createdAt: at,
          updatedAt: at,
        };
    const eventId = newId("cev");
    const { call, isNew } = await recordTextMessage(
      db,
      { newSession, callId, workspaceId },
      {
        id: eventId,
        workspaceId,
        callId,
        kind: "sms.inbound",
        dedupeKey: `sms:${params.MessageSid}`,
        data: {
          message_sid: params.MessageSid,
          body_enc: await sealMessageBody(c.env.ENCRYPTION_KEY, workspaceId, eventId, params.Body),
          num_media: params.NumMedia ?? 0,
        },
        at,
      },
    );
    if (call && isNew) {
      // The call's session answers it (stored there first, then handled as a turn by its alarm).
      await callSession(c.env, call.id).textMessage({
        callId: call.id,
        messageId: params.MessageSid,
        body: params.Body,
        at,
      });
      await publish(c.env, workspaceId, {
        type: newSession ? "call.started" : "call.updated",
        data: { call_id: call.id, service_id: service.id, channel: "sms", message_event_id: eventId },
      });
    }
    return twiml(c, twimlDocument());
  });
