/**
 * `CallSession`: one object per live call (named by the call id). It holds the call's media WebSocket
 * with the Hibernation API and keeps everything a turn needs in its SQLite storage (call meta, engine
 * state, turns with timings, tool runs, the timeline), so an evicted or hibernated object picks the
 * conversation up where it was. At the end it writes the call's outcome and timeline to D1 (ids, states,
 * timings: no PHI) and the speaker-attributed transcript to R2 (memory L0), then forgets the PHI it held.
 *
 * ConversationRelay (https://www.twilio.com/docs/voice/conversationrelay/websocket-messages): inbound
 * `setup`, `prompt`, `dtmf`, `interrupt`, `error`; outbound `text` tokens (the last with `last: true`) and
 * `end` with `handoffData` (a JSON string: `reason`, and `to` for a transfer), sent after the goodbye's
 * last token so the transfer is deferred until the caller has heard it.
 *
 * Media Streams (call-media.ts): raw μ-law audio, transcribed and synthesized here; the goodbye's `mark`
 * coming back is what ends the call (and, for a transfer, redirects it through Twilio's REST API). Without
 * speech services the voice webhook never opens this path (it says so and hangs up); a socket that
 * arrives anyway is closed with a logged reason.
 *
 * SMS text sessions (`textMessage`): each inbound message is stored, then handled by the alarm as a turn
 * of the same engine; replies go out through the Messaging adapter's queue. The session ends a day after
 * the last message.
 *
 * Operators (call-operators.ts, docs/design/operators.md): an escalation waits for an online operator
 * (else the service's fallback runs); operators listen on hibernatable `listener` sockets, take over (the
 * agent keeps scoring the caller and stays quiet), speak, hand back and transfer through the RPC methods
 * below. Every turn publishes the call's live overlay to the workspace hub.
 */
import { DurableObject } from "cloudflare:workers";
import { eq } from "drizzle-orm";
import { z } from "zod";
import type { ContextGraph } from "../shared/calls/context-graph";
import {
  type EnginePatient,
  type EnginePersona,
  type EngineState,
  type HistoryTurn,
  initialEngineState,
  type KnowledgeEntry,
  type ToolCall,
  type TurnInput,
  type TurnOutput,
} from "../shared/engine/engine";
import { turnRisk } from "../shared/engine/local-engine";
import { languageEmotion, languageValence, smoothEmotion } from "../shared/engine/risk";
import { engineName, selectEngine } from "../shared/engine/select";
import { SURFACE_COMPLETED } from "../shared/engine/templates";
import { newId } from "../shared/ids";
import type { LiveControl, LiveView } from "../shared/operators/live";
import { routeEscalation } from "../shared/operators/routing";
import type { CallOverlay } from "../shared/schemas/operators";
import { EscalationRules, Persona } from "../shared/schemas/tenancy";
import { normalizeE164 } from "../shared/tenancy/phone";
import { findCallById, finishCallRow, patientByPhoneHash } from "../workers/calls/session-client";
import { executeTools, type ToolContext, type ToolExecution } from "../workers/calls/tools";
import {
  applyCallStatus,
  applyRecording,
  callRecordingKey,
  insertEventUnlessDuplicate,
  openFromNumber,
  RECORDING_STATUS_RANK,
  TEXT_SESSION_IDLE_MS,
} from "../workers/db/calls";
import { database, type Statement } from "../workers/db/client";
import { loadActiveGraph, loadKnowledge } from "../workers/db/context-graphs";
import { availableOperators } from "../workers/db/operators";
import { workspaces } from "../workers/db/schema";
import { findService } from "../workers/db/tenancy";
import { DEFAULT_TIME_ZONE, resolveClinicTimeZone } from "../workers/ehr/scheduling-slots";
import { publish } from "../workers/events";
import { recordEscalation } from "../workers/operators/assignments";
import { speechServices } from "../workers/speech/speech";
import { queueSms } from "../workers/telephony/messaging";
import { redirectCall, twilioCredentials } from "../workers/telephony/twilio-rest";
import { type Handoff, handoffTwiml } from "../workers/telephony/twiml";
import { patientMemory, putTranscript, rememberInteraction } from "../workers/world/memory";
import { MEDIA_SCHEMA, MediaFrame, MediaLeg } from "./call-media";
import {
  clinicalRisk,
  type Fallback,
  fallbackOf,
  HOLD_LINE_INTERVAL_MS,
  holdsOnSilence,
  LINES,
  LISTENER_TAG,
  liveControl,
  OPERATOR_HEADER,
  OperatorDesk,
  operatorEngaged,
  operatorWaitLimit,
  overlayOf,
  routesEscalation,
} from "./call-operators";
import { migrate } from "./sql-migrations";

const SCHEMA: readonly string[] = [
  "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
  // Turns: text is PHI, kept only while the call lives (cleared once the transcript is in R2).
  `CREATE TABLE turns (
     seq INTEGER PRIMARY KEY AUTOINCREMENT,
     speaker TEXT NOT NULL,
     text TEXT NOT NULL,
     heard TEXT,
     state_id TEXT,
     intent TEXT,
     risk_score REAL,
     risk_level TEXT,
     started_at TEXT NOT NULL,
     first_token_at TEXT,
     ended_at TEXT
   )`,
  `CREATE TABLE tool_runs (
     id INTEGER PRIMARY KEY AUTOINCREMENT,
     turn_seq INTEGER,
     name TEXT NOT NULL,
     outcome TEXT NOT NULL,
     latency_ms INTEGER NOT NULL,
     at TEXT NOT NULL
   )`,
  // State transitions, escalations, errors: ids and codes only.
  `CREATE TABLE timeline (
     id INTEGER PRIMARY KEY AUTOINCREMENT,
     kind TEXT NOT NULL,
     data TEXT NOT NULL,
     at TEXT NOT NULL
   )`,
  ...MEDIA_SCHEMA,
  // SMS text sessions: inbound messages (PHI) until their turn has run.
  `CREATE TABLE inbox (
     message_id TEXT PRIMARY KEY,
     body TEXT NOT NULL,
     received_at TEXT NOT NULL,
     handled_at TEXT
   )`,
  // Operators: who spoke an operator's turn, and one risk and emotion point per caller turn (numbers only).
  "ALTER TABLE turns ADD COLUMN operator_user_id TEXT",
  `CREATE TABLE points (
     seq INTEGER PRIMARY KEY,
     at TEXT NOT NULL,
     risk_score REAL NOT NULL,
     risk_level TEXT NOT NULL,
     emotion_score REAL NOT NULL,
     valence REAL NOT NULL
   )`,
];

/** Header names the Worker's upgrade route uses to hand the verified call id and transport over. */
export const CALL_ID_HEADER = "X-Switchboard-Call-Id";
export const TRANSPORT_HEADER = "X-Switchboard-Transport";

/** No prompt for this long after the agent spoke: ask once if the caller is there, then end politely. */
export const SILENCE_TIMEOUT_MS = 12_000;
/** A call never lasts longer than this. */
export const MAX_CALL_DURATION_MS = 30 * 60_000;
/** Tool rounds per caller turn (a tool result may lead the engine to the next lookup). */
const MAX_TOOL_ROUNDS = 4;
const HISTORY_TURNS = 12;

/** What the session knows about its call; no PHI (the caller's number stays sealed as D1 holds it). */
interface CallMeta {
  callId: string;
  workspaceId: string;
  serviceId: string;
  graphId: string;
  graphVersion: number;
  callSid: string | null;
  /** How the call is carried: `conversation_relay`, `media_streams` or `sms`. */
  transport: Transport;
  /** The clinic number the caller reached (SMS replies come from it). */
  serviceNumber: string;
  fromNumberEnc: string | null;
  patientEntityId: string | null;
  verified: boolean;
  returning: boolean;
  startedAt: string;
  escalated: boolean;
  escalationReason: string | null;
}

/** Everything the engine reads besides the state, loaded once at setup and kept for the call's life. */
interface CallContext {
  graph: ContextGraph;
  knowledge: KnowledgeEntry[];
  persona: EnginePersona;
  timeZone: string;
  /** Who takes the service's escalations, and what happens when nobody can (absent on older sessions). */
  escalation?: ServiceEscalationRules;
}

type ServiceEscalationRules = z.infer<typeof EscalationRules>;

type Transport = "conversation_relay" | "media_streams" | "sms";

/** Where a turn's reply goes: the relay's text tokens, synthesized audio, or a text message. */
interface Channel {
  transport: Transport;
  /**
   * Says (part of) a reply; `final` is its last part. Returns when its first token/audio went out and,
   * for audio, the last mark sent.
   */
  say(
    text: string,
    turnSeq: number,
    final: boolean,
  ): Promise<{ firstAt: string | null; lastMark: string | null }>;
  /** Simulator debug frames (ConversationRelay only). */
  send?(frame: Record<string, unknown>): void;
}

/** How a call ends once the goodbye is out: kept until the goodbye's mark returns on Media Streams. */
interface Ending {
  reason: EndReason;
  handoff: Handoff & Record<string, unknown>;
}

type EndReason =
  | "completed"
  | "escalation"
  | "transfer"
  | "silence"
  | "max_duration"
  | "unavailable"
  | "hangup";

/** ConversationRelay's inbound messages, as Twilio documents them (other fields are ignored). */
const InboundFrame = z.discriminatedUnion("type", [
  z.object({
    type: z.literal("setup"),
    callSid: z.string().max(64).optional(),
    customParameters: z.record(z.string(), z.string()).optional(),
  }),
  z.object({
    type: z.literal("prompt"),
    voicePrompt: z.string().max(4000),
    lang: z.string().max(16).optional(),
    last: z.boolean().optional(),
  }),
  z.object({ type: z.literal("dtmf"), digit: z.string().regex(/^[0-9*#A-Dw]{1,8}$/) }),
  z.object({
    type: z.literal("interrupt"),
    utteranceUntilInterrupt: z.string().max(4000),
    durationUntilInterruptMs: z.number().nonnegative().optional(),
  }),
  z.object({ type: z.literal("error"), description: z.string().max(2000).optional() }),
]);
type InboundFrame = z.infer<typeof InboundFrame>;

/** What a listen socket may send: the voice of the operator in control, 20 ms of base64 μ-law a frame. */
const ListenerInbound = z.discriminatedUnion("type", [
  z.object({ type: z.literal("media"), payload: z.string().max(16_000) }),
]);

/** Executes the tools the engine asked for; the real one is W2's `executeTools`, tests may swap it. */
export type ToolExecutor = (env: Env, context: ToolContext, calls: ToolCall[]) => Promise<ToolExecution[]>;
let toolExecutor: ToolExecutor = executeTools;
/** For tests: replaces the tool executor (pass nothing to restore the real one). */
export function setToolExecutor(executor?: ToolExecutor) {
  toolExecutor = executor ?? executeTools;
}

/** Splits a reply into a few tokens the way a streaming model would send them (words keep their spaces). */
export function replyTokens(reply: string, parts = 3): string[] {
  const words = reply.match(/\S+\s*/g) ?? [];
  if (words.length === 0) return [reply];
  const size = Math.max(1, Math.ceil(words.length / parts));
  const tokens: string[] = [];
  for (let i = 0; i < words.length; i += size) tokens.push(words.slice(i, i + size).join(""));
  return tokens;
}

function log(level: "info" | "warn" | "error", event: string, fields: Record<string, unknown>) {
  const line = JSON.stringify({ level, event, ...fields });
  if (level === "error") console.error(line);
  else if (level === "warn") console.warn(line);
  else console.info(line);
}

/** The service's escalation rules (the defaults when stored ones no longer parse). */
function escalationRules(rules: unknown): ServiceEscalationRules {
  const parsed = EscalationRules.safeParse(rules);
  return parsed.success ? parsed.data : EscalationRules.parse({});
}

/** How an escalation the fallback ends leaves the agent: forwarded to the fallback number, or a call back. */
function fallbackEnding(reasonCode: string, rules: ServiceEscalationRules): Ending {
  const to = rules.fallback === "forward" ? rules.fallback_number : null;
  return {
    reason: "escalation",
    handoff: { reason: "escalation", reason_code: reasonCode, ...(to ? { to } : {}) },
  };
}

/** Why a frame was refused, as a code: a parser's message may quote the frame (what the caller said). */
const frameProblem = (err: unknown) =>
  err instanceof SyntaxError
    ? "not_json"
    : err instanceof Error && err.message === "binary"
      ? "binary"
      : "schema";

const errorName = (err: unknown) => (err instanceof Error ? err.name : "Error");

function closeQuietly(ws: WebSocket) {
  try {
    ws.close(1000, "closed");
  } catch {
    // Already closed.
  }
}

export class CallSession extends DurableObject<Env> {
  readonly #schemaVersion: number;
  readonly #engine;
  readonly #media: MediaLeg;
  readonly #desk: OperatorDesk;
  /** Frames are handled one after another: a turn awaits D1 and tools, and the next frame must wait. */
  #queue: Promise<void> = Promise.resolve();

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.#schemaVersion = migrate(ctx.storage.sql, SCHEMA);
    this.#engine = selectEngine(env);
    this.#media = new MediaLeg(ctx.storage.sql);
    this.#desk = new OperatorDesk(ctx);
  }

  /** Liveness and storage schema version, for health checks. */
  async describe(): Promise<{ kind: "CallSession"; schemaVersion: number }> {
    return { kind: "CallSession", schemaVersion: this.#schemaVersion };
  }

  // -------------------------------------------------------------------------------------------------------
  // Storage

  #get<T>(key: string): T | null {
    const row = this.ctx.storage.sql
      .exec<{ value: string }>("SELECT value FROM meta WHERE key = ?", key)
      .toArray()[0];
    return row ? (JSON.parse(row.value) as T) : null;
  }

  #put(key: string, value: unknown) {
    this.ctx.storage.sql.exec(
      "INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
      key,
      JSON.stringify(value),
    );
  }

  #delete(key: string) {
    this.ctx.storage.sql.exec("DELETE FROM meta WHERE key = ?", key);
  }

  #timeline(kind: string, data: Record<string, unknown>, at = new Date().toISOString()) {
    this.ctx.storage.sql.exec(
      "INSERT INTO timeline (kind, data, at) VALUES (?, ?, ?)",
      kind,
      JSON.stringify(data),
      at,
    );
  }

  #history(): HistoryTurn[] {
    return this.ctx.storage.sql
      .exec<{ speaker: HistoryTurn["speaker"]; text: string; heard: string | null }>(
        "SELECT speaker, text, heard FROM turns ORDER BY seq DESC LIMIT ?",
        HISTORY_TURNS,
      )
      .toArray()
      .reverse()
      .map((t) => ({ speaker: t.speaker, text: t.heard ?? t.text }));
  }

  /** What the caller heard of the agent's last turn (trimmed by a barge-in). */
  #lastHeard(): string {
    const row = this.ctx.storage.sql
      .exec<{ text: string; heard: string | null }>(
        "SELECT text, heard FROM turns WHERE speaker = 'agent' ORDER BY seq DESC LIMIT 1",
      )
      .toArray()[0];
    return row ? (row.heard ?? row.text) : "";
  }

  // -------------------------------------------------------------------------------------------------------
  // The socket

  override async fetch(request: Request): Promise<Response> {
    if (request.headers.get("Upgrade")?.toLowerCase() !== "websocket")
      return new Response("Expected a WebSocket upgrade", { status: 426 });
    // An operator's listen socket (the Worker's listen route authenticated the operator). Twilio's sockets
    // come to `/socket` with the call id, so a header slipped into one never makes it a listener.
    if (new URL(request.url).pathname === "/listen" && !request.headers.has(CALL_ID_HEADER)) {
      const operator = request.headers.get(OPERATOR_HEADER);
      if (!operator) return new Response("Missing operator", { status: 400 });
      return this.#listen(operator);
    }
    const callId = request.headers.get(CALL_ID_HEADER);
    const transport = request.headers.get(TRANSPORT_HEADER);
    if (!callId || !transport) return new Response("Missing call", { status: 400 });
    const pair = new WebSocketPair();
    const [client, server] = [pair[0], pair[1]];
    this.ctx.acceptWebSocket(server, [transport]);
    if (this.#get<string>("call_id") === null) this.#put("call_id", callId);
    if (transport === "media_streams" && !speechServices(this.env)) {
      // The voice webhook says this and hangs up before a socket opens; one that arrives anyway is closed.
      log("warn", "call.speech_unavailable", { call_id: callId, reason: "speech services not configured" });
      this.#timeline("speech_unavailable", {});
      server.close(1011, "speech services not configured");
    }
    return new Response(null, { status: 101, webSocket: client });
  }

  override async webSocketMessage(ws: WebSocket, message: string | ArrayBuffer): Promise<void> {
    // Media frames arrive every 20 ms and are handled at once (a turn in progress must not hold up
    // barge-in detection); what they lead to (a transcription and a turn) joins the queue.
    const tag = this.ctx.getTags(ws)[0];
    if (tag === "media_streams") return this.#onMediaFrame(ws, message);
    // Listen sockets carry only an operator's voice (Media Streams); everything else goes through the API.
    if (tag === LISTENER_TAG) return this.#onListenerFrame(ws, message);
    return this.#enqueue(() => this.#onMessage(ws, message));
  }

  /** Runs work after everything queued before it (frames, turns, alarms), one at a time. */
  #enqueue(work: () => Promise<void>): Promise<void> {
    const run = this.#queue.then(work);
    this.#queue = run.catch(() => {});
    return run;
  }

  override async webSocketClose(ws: WebSocket, code: number): Promise<void> {
    if (this.ctx.getTags(ws)[0] === LISTENER_TAG) return this.#listenerClosed(ws);
    await this.#queue;
    log("info", "call.socket_closed", { call_id: this.#get<string>("call_id"), code });
    await this.#finish("hangup");
    try {
      ws.close(1000, "closed");
    } catch {
      // Already closed.
    }
  }

  override async webSocketError(ws: WebSocket, error: unknown): Promise<void> {
    if (this.ctx.getTags(ws)[0] === LISTENER_TAG) return this.#listenerClosed(ws);
    log("warn", "call.socket_error", { call_id: this.#get<string>("call_id"), error: errorName(error) });
    await this.#queue;
    await this.#finish("hangup");
  }

  /**
   * The operator in control speaking on a Media Streams call through their listen socket: the audio goes to
   * the caller (and to the other listeners) at once, and each utterance is transcribed into their turn.
   */
  #onListenerFrame(ws: WebSocket, message: string | ArrayBuffer) {
    const frame = this.#parseFrame(ListenerInbound, message);
    if (!frame || this.#get<string>("ended_at")) return;
    const { operator } = (ws.deserializeAttachment() ?? {}) as { operator?: string };
    const control = this.#desk.control();
    if (control.mode !== "operator" || !operator || control.operatorUserId !== operator) return;
    const twilio = this.ctx.getWebSockets("media_streams")[0];
    if (!twilio) return;
    this.#send(twilio, {
      event: "media",
      streamSid: this.#get<string>("stream_sid"),
      media: { payload: frame.payload },
    });
    this.#desk.tell({ type: "audio", track: "outbound", payload: frame.payload }, ws);
    const utterance = this.#media.operatorAudio(frame.payload);
    if (utterance) return this.#enqueue(() => this.#transcribeOperator(operator, utterance));
  }

  /** An operator's spoken utterance becomes their turn (already heard by the caller: nothing is said). */
  async #transcribeOperator(operator: string, audio: Uint8Array) {
    const speech = speechServices(this.env);
    if (!speech || this.#get<string>("finished_at")) return;
    const at = new Date().toISOString();
    let text: string;
    try {
      text = (await speech.transcribe(audio)).text.trim();
    } catch (err) {
      log("warn", "call.transcription_failed", {
        call_id: this.#get<string>("call_id"),
        error: errorName(err),
      });
      this.#timeline("stt_failed", { operator, code: (err as { code?: string }).code ?? null });
      return;
    }
    if (!text) return;
    const seq = this.ctx.storage.sql
      .exec<{ seq: number }>(
        `INSERT INTO turns (speaker, text, state_id, started_at, ended_at, operator_user_id)
         VALUES ('operator', ?, ?, ?, ?, ?) RETURNING seq`,
        text,
        this.#get<EngineState>("engine_state")?.state_id ?? null,
        at,
        new Date().toISOString(),
        operator,
      )
      .one().seq;
    this.#desk.tellTurn(seq);
    this.#timeline("operator_said", { operator, length: text.length, voice: true });
  }

  /** The channel a ConversationRelay socket speaks through. */
  #relayChannel(ws: WebSocket): Channel {
    return {
      transport: "conversation_relay",
      say: async (text, _turnSeq, final) => ({ firstAt: this.#speak(ws, text, final), lastMark: null }),
      send: (frame) => this.#send(ws, frame),
    };
  }

  /** The channel a Media Streams socket speaks through: synthesized sentences, each followed by a mark. */
  #mediaChannel(ws: WebSocket): Channel {
    return {
      transport: "media_streams",
      say: async (reply, turnSeq) => {
        const speech = speechServices(this.env);
        if (!speech) throw new Error("speech services not configured");
        const streamSid = this.#get<string>("stream_sid");
        const spoken = await this.#media.speak(
          reply,
          turnSeq,
          (text) => speech.synthesize(text),
          (frame) => {
            this.#send(ws, { ...frame, streamSid });
            // Listeners hear the agent (and an operator's typed words) as the caller does.
            const media = frame.media as { payload?: string } | undefined;
            if (frame.event === "media" && media?.payload)
              this.#desk.tell({ type: "audio", track: "outbound", payload: media.payload });
          },
        );
        return { firstAt: spoken.firstAudioAt, lastMark: spoken.lastMark };
      },
    };
  }

  /** The channel of a text session: the reply goes out as one SMS from the clinic number. */
  #smsChannel(): Channel {
    return {
      transport: "sms",
      say: async (reply, turnSeq) => {
        const meta = this.#get<CallMeta>("call");
        if (!meta?.fromNumberEnc) return { firstAt: null, lastMark: null };
        const to = await openFromNumber(
          this.env.ENCRYPTION_KEY,
          meta.workspaceId,
          meta.callId,
          meta.fromNumberEnc,
        );
        await queueSms(this.env, {
          workspaceId: meta.workspaceId,
          callId: meta.callId,
          key: `${meta.callId}:${turnSeq}`,
          from: meta.serviceNumber,
          to,
          body: reply,
        });
        return { firstAt: new Date().toISOString(), lastMark: null };
      },
    };
  }

  /** The channel the call has now (for alarms, which arrive without a socket). */
  #currentChannel(): Channel | null {
    const meta = this.#get<CallMeta>("call");
    if (meta?.transport === "sms") return this.#smsChannel();
    const media = this.ctx.getWebSockets("media_streams")[0];
    if (media) return this.#mediaChannel(media);
    const relay = this.ctx.getWebSockets("conversation_relay")[0];
    return relay ? this.#relayChannel(relay) : null;
  }

  // -------------------------------------------------------------------------------------------------------
  // Media Streams frames

  async #onMediaFrame(ws: WebSocket, message: string | ArrayBuffer): Promise<void> {
    const callId = this.#get<string>("call_id");
    if (this.#get<string>("finished_at")) return;
    const frame = this.#parseFrame(MediaFrame, message);
    if (!frame) return;
    switch (frame.event) {
      case "connected":
        return;
      case "start": {
        const format = frame.start.mediaFormat;
        if (
          format &&
          (format.encoding !== "audio/x-mulaw" || format.sampleRate !== 8000 || format.channels !== 1)
        )
          log("warn", "call.unexpected_media_format", { call_id: callId, encoding: format.encoding });
        this.#put("stream_sid", frame.start.streamSid);
        return this.#enqueue(() => this.#setup(this.#mediaChannel(ws), frame.start.callSid));
      }
      case "media": {
        if (frame.media.track && frame.media.track !== "inbound") return;
        if (this.#get<string>("ended_at")) return;
        const signal = this.#media.receiveAudio(frame.media.payload);
        this.#desk.tell({ type: "audio", track: "inbound", payload: frame.media.payload });
        if (signal.kind === "barge_in") {
          this.#send(ws, { event: "clear", streamSid: this.#get<string>("stream_sid") });
          this.ctx.storage.sql.exec("UPDATE turns SET heard = ? WHERE seq = ?", signal.heard, signal.turnSeq);
          this.#timeline("interrupt", { turn: signal.turnSeq, at_ms: Math.round(signal.atMs) });
          return this.#enqueue(() => this.#endIfGoodbyeDone(ws));
        }
        if (signal.kind === "utterance") {
          const audio = signal.audio;
          return this.#enqueue(() => this.#transcribeAndTurn(ws, audio));
        }
        return;
      }
      case "mark":
        this.#media.markReturned(frame.mark.name);
        return this.#enqueue(() => this.#endIfGoodbyeDone(ws));
      case "dtmf":
        return this.#enqueue(() => this.#turn(this.#mediaChannel(ws), frame.dtmf.digit));
      case "stop":
        return this.#enqueue(() => this.#finish("hangup"));
    }
  }

  async #transcribeAndTurn(ws: WebSocket, audio: Uint8Array) {
    if (this.#get<string>("ended_at") || !this.#get<CallMeta>("call")) return;
    const speech = speechServices(this.env);
    if (!speech) return;
    const started = performance.now();
    let text: string;
    try {
      text = (await speech.transcribe(audio)).text.trim();
    } catch (err) {
      log("warn", "call.transcription_failed", {
        call_id: this.#get<string>("call_id"),
        error: errorName(err),
      });
      this.#timeline("stt_failed", { code: (err as { code?: string }).code ?? null });
      return;
    }
    this.#timeline("stt", { ms: Math.round(performance.now() - started), empty: text === "" });
    // Noise that passed the voice detector transcribes to nothing: not a turn.
    if (text) await this.#turn(this.#mediaChannel(ws), text);
  }

  /** On Media Streams the call ends once the goodbye's last mark has come back (or was cleared). */
  async #endIfGoodbyeDone(ws: WebSocket) {
    const pending = this.#get<Ending & { mark: string | null }>("pending_end");
    if (!pending || (pending.mark && !this.#media.done(pending.mark))) return;
    this.#delete("pending_end");
    await this.#completeEnding(pending, ws);
  }

  /** After the goodbye: a transfer is made through Twilio's REST API; then the stream closes. */
  async #completeEnding(ending: Ending, ws: WebSocket) {
    const meta = this.#get<CallMeta>("call");
    if (meta && (ending.reason === "transfer" || ending.reason === "escalation")) {
      const creds = twilioCredentials(this.env);
      if (creds && meta.callSid) {
        const twiml = handoffTwiml(ending.handoff);
        try {
          await redirectCall(creds, meta.callSid, twiml);
          this.#timeline("handoff", { reason: ending.reason, redirected: true });
        } catch (err) {
          log("warn", "call.redirect_failed", { call_id: meta.callId, error: errorName(err) });
          this.#timeline("handoff", { reason: ending.reason, redirected: false, error: errorName(err) });
        }
      } else {
        log("warn", "call.handoff_unavailable", { call_id: meta.callId, reason: ending.reason });
        this.#timeline("handoff", { reason: ending.reason, redirected: false });
      }
    }
    try {
      ws.close(1000, "call ended");
    } catch {
      // Already closed.
    }
    await this.#finish(ending.reason);
  }

  // -------------------------------------------------------------------------------------------------------
  // SMS text sessions

  /**
   * An inbound text message of this session (the SMS webhook calls this once per new message). It is
   * stored and handled by the alarm, so a failure is retried and a redelivery is a no-op.
   */
  async textMessage(input: { callId: string; messageId: string; body: string; at: string }): Promise<void> {
    if (this.#get<string>("call_id") === null) this.#put("call_id", input.callId);
    if (this.#get<string>("finished_at")) return;
    this.ctx.storage.sql.exec(
      "INSERT OR IGNORE INTO inbox (message_id, body, received_at) VALUES (?, ?, ?)",
      input.messageId,
      input.body.slice(0, 1600),
      input.at,
    );
    await this.ctx.storage.setAlarm(Date.now());
  }

  async #drainInbox() {
    const waiting = this.ctx.storage.sql
      .exec<{ message_id: string; body: string }>(
        "SELECT message_id, body FROM inbox WHERE handled_at IS NULL ORDER BY received_at, rowid",
      )
      .toArray();
    if (waiting.length === 0) return;
    const channel = this.#smsChannel();
    if (!this.#get<CallMeta>("call")) await this.#setup(channel, null);
    for (const message of waiting) {
      if (!this.#get<string>("ended_at")) await this.#turn(channel, message.body.trim());
      this.ctx.storage.sql.exec(
        "UPDATE inbox SET handled_at = ?, body = '' WHERE message_id = ?",
        new Date().toISOString(),
        message.message_id,
      );
    }
  }

  /** A frame of the socket's protocol, or null (logged with a code and on the timeline) when it is not one. */
  #parseFrame<T>(schema: z.ZodType<T>, message: string | ArrayBuffer): T | null {
    try {
      if (typeof message !== "string") throw new Error("binary");
      const parsed = schema.safeParse(JSON.parse(message));
      if (!parsed.success) throw new Error("schema");
      return parsed.data;
    } catch (err) {
      // A code only: the frame may carry what the caller said.
      log("warn", "call.invalid_frame", { call_id: this.#get<string>("call_id"), reason: frameProblem(err) });
      this.#timeline("invalid_frame", {});
      return null;
    }
  }

  async #onMessage(ws: WebSocket, message: string | ArrayBuffer): Promise<void> {
    const callId = this.#get<string>("call_id");
    if (this.#get<string>("ended_at")) return;
    const frame = this.#parseFrame(InboundFrame, message);
    if (!frame) return;
    if (this.env.BENCH_ECHO === "1" && this.#benchEcho(ws, frame)) return;
    try {
      switch (frame.type) {
        case "setup":
          return await this.#setup(this.#relayChannel(ws), frame.callSid ?? null);
        case "prompt": {
          // With partial prompts on, `last: false` pieces come first; the turn runs on the complete one.
          const pending = (this.#get<string>("partial_prompt") ?? "") + frame.voicePrompt;
          if (frame.last === false) return this.#put("partial_prompt", pending);
          this.#delete("partial_prompt");
          return await this.#turn(this.#relayChannel(ws), pending.trim());
        }
        case "dtmf":
          return await this.#turn(this.#relayChannel(ws), frame.digit);
        case "interrupt":
          return this.#interrupted(frame.utteranceUntilInterrupt, frame.durationUntilInterruptMs);
        case "error":
          log("warn", "call.relay_error", { call_id: callId });
          this.#timeline("relay_error", {});
          return;
      }
    } catch (err) {
      log("error", "call.turn_failed", { call_id: callId, error: errorName(err) });
      this.#timeline("turn_failed", { error: errorName(err) });
    }
  }

  /**
   * Bench only (`bench/call-turns.ts`'s baseline), and only when the Worker runs with `BENCH_ECHO=1`
   * (never set in wrangler.toml): a call whose `setup` carries the custom parameter `bench: "echo"`
   * answers `setup` and each `prompt` with one `text` token at once. Same route, upgrade check, Durable
   * Object, frame queue and parsing as a real call, without the engine, the turn's storage or events.
   */
  #benchEcho(ws: WebSocket, frame: InboundFrame): boolean {
    if (frame.type === "setup" && frame.customParameters?.bench === "echo") {
      this.#put("bench_echo", true);
      this.#send(ws, { type: "text", token: "echo", last: true });
      return true;
    }
    if (frame.type !== "prompt" || !this.#get<boolean>("bench_echo")) return false;
    this.#send(ws, { type: "text", token: frame.voicePrompt, last: true });
    return true;
  }

  /** The caller barged in: the agent's last turn is what they heard, and the engine gets that next turn. */
  #interrupted(heard: string, durationMs: number | undefined) {
    const last = this.ctx.storage.sql
      .exec<{ seq: number; text: string }>(
        "SELECT seq, text FROM turns WHERE speaker IN ('agent', 'operator') ORDER BY seq DESC LIMIT 1",
      )
      .toArray()[0];
    if (!last) return;
    // Twilio reports the words spoken; never more than what was said.
    const trimmed = heard.length <= last.text.length ? heard : last.text;
    this.ctx.storage.sql.exec("UPDATE turns SET heard = ? WHERE seq = ?", trimmed, last.seq);
    this.#timeline("interrupt", { turn: last.seq, duration_ms: durationMs ?? null });
  }

  #send(ws: WebSocket, frame: Record<string, unknown>) {
    ws.send(JSON.stringify(frame));
  }

  /**
   * Streams (part of) a reply as a few `text` tokens, the last of the final part with `last: true` (an
   * empty final part is just that marker); returns when the first went out.
   */
  #speak(ws: WebSocket, reply: string, final = true): string {
    const tokens = reply ? replyTokens(reply) : [""];
    // A part that continues the reply starts with its space; tokens keep only spaces after words.
    if (/^\s/.test(reply)) tokens[0] = ` ${tokens[0]}`;
    let firstAt = "";
    tokens.forEach((token, i) => {
      this.#send(ws, { type: "text", token, last: final && i === tokens.length - 1 });
      if (i === 0) firstAt = new Date().toISOString();
    });
    return firstAt;
  }

  // -------------------------------------------------------------------------------------------------------
  // Setup and turns

  async #setup(channel: Channel, callSid: string | null) {
    const callId = this.#get<string>("call_id")!;
    if (this.#get<CallMeta>("call")) return; // Twilio reconnected, or a duplicate setup: the call goes on.
    const db = database(this.env.DB);
    const call = await findCallById(db, callId);
    const service = call?.serviceId ? await findService(db, call.workspaceId, call.serviceId) : undefined;
    const active = call && service ? await loadActiveGraph(db, call.workspaceId, service.id) : null;
    // A call answered with one transport has no business on another's socket (the token names the call only).
    const reason = !call
      ? "no_call"
      : call.transport !== channel.transport
        ? "wrong_transport"
        : !active
          ? "no_graph"
          : null;
    if (reason || !call || !service || !active) {
      log("warn", "call.unavailable", { call_id: callId, reason: reason ?? "no_service" });
      this.#put("ended_at", new Date().toISOString());
      if (channel.transport === "conversation_relay") {
        await channel.say(
          "I'm sorry, this line can't take calls right now. Please try again later. Goodbye.",
          0,
          true,
        );
        channel.send?.({ type: "end", handoffData: JSON.stringify({ reason: "unavailable" }) });
      } else {
        for (const ws of this.ctx.getWebSockets()) ws.close(1011, "call unavailable");
      }
      return;
    }
    const [knowledge, workspace] = await Promise.all([
      loadKnowledge(db, call.workspaceId, service.id),
      db.query.workspaces.findFirst({
        where: eq(workspaces.id, call.workspaceId),
        columns: { name: true, timezone: true },
      }),
    ]);
    const persona = Persona.safeParse(service.persona);
    const { agent_name, tone } = persona.success ? persona.data : Persona.parse({});
    const patientEntityId = call.fromNumberHash
      ? await patientByPhoneHash(db, call.workspaceId, call.fromNumberHash)
      : null;
    let patient: EnginePatient | null = null;
    if (patientEntityId) {
      try {
        patient = await patientMemory(this.env, call.workspaceId, patientEntityId);
      } catch (err) {
        log("warn", "call.patient_context_failed", { call_id: callId, error: errorName(err) });
      }
    }
    const now = new Date();
    const meta: CallMeta = {
      callId,
      workspaceId: call.workspaceId,
      serviceId: service.id,
      graphId: active.id,
      graphVersion: active.version,
      callSid: callSid ?? call.providerSid,
      transport: channel.transport,
      serviceNumber: call.toNumber,
      fromNumberEnc: call.fromNumberEnc,
      patientEntityId,
      verified: false,
      returning: patientEntityId !== null,
      startedAt: now.toISOString(),
      escalated: false,
      escalationReason: null,
    };
    const context: CallContext = {
      graph: active.graph,
      knowledge,
      persona: { name: agent_name, tone, clinic_name: workspace?.name ?? service.name },
      timeZone: resolveClinicTimeZone(workspace?.timezone),
      escalation: escalationRules(service.escalationRules),
    };
    this.#put("call", meta);
    this.#put("context", context);
    // The dashboard's phone simulator gets `debug` frames; Twilio never does (the call row says which it is).
    this.#put("simulator", call.provider === "simulator");
    // PHI: the caller's L3 context, held only while the call lives.
    if (patient) this.#put("patient", patient);
    this.#put("engine_state", initialEngineState(active.graph, { returning: meta.returning, now }));
    this.#put("max_deadline", now.getTime() + MAX_CALL_DURATION_MS);
    this.#timeline("setup", {
      graph_id: active.id,
      graph_version: active.version,
      returning: meta.returning,
      transport: channel.transport,
      engine: engineName(this.env),
    });
    log("info", "call.session_started", { call_id: callId, workspace_id: call.workspaceId });
    // A voice call is greeted; a text session answers the message that opened it.
    if (channel.transport !== "sms") await this.#turn(channel, "");
  }

  /** One caller turn ("" for the greeting): engine, tools, engine again, reply, persistence, events. */
  async #turn(channel: Channel, utterance: string) {
    const meta = this.#get<CallMeta>("call");
    const context = this.#get<CallContext>("context");
    const state = this.#get<EngineState>("engine_state");
    if (!meta || !context || !state) {
      log("warn", "call.prompt_before_setup", { call_id: this.#get<string>("call_id") });
      return;
    }
    const startedAt = new Date();
    const heard = this.#lastHeard();
    const history = this.#history();
    const callerSeq = utterance
      ? this.ctx.storage.sql
          .exec<{ seq: number }>(
            "INSERT INTO turns (speaker, text, state_id, started_at, ended_at) VALUES ('caller', ?, ?, ?, ?) RETURNING seq",
            utterance,
            state.state_id,
            startedAt.toISOString(),
            startedAt.toISOString(),
          )
          .one().seq
      : null;
    if (callerSeq !== null) this.#desk.tellTurn(callerSeq);
    // An operator has the call: the caller's words are kept and scored; the agent neither answers nor acts.
    if (this.#desk.control().mode === "operator") {
      if (callerSeq !== null) await this.#scoreOnly(meta, context, state, utterance, callerSeq, startedAt);
      return;
    }
    this.#put("reprompted", false);
    const base: Omit<TurnInput, "state" | "utterance" | "heard" | "history"> = {
      graph: context.graph,
      knowledge: context.knowledge,
      patient: this.#get<EnginePatient>("patient"),
      identity_verified: meta.verified,
      guidance: this.#takeGuidance(),
      persona: context.persona,
      now: startedAt,
      time_zone: context.timeZone,
    };
    let out = await this.#engine.respond({ ...base, state, utterance, heard, history });
    const toolsRun: ToolExecution[] = [];
    const replies = [out.reply];
    let ending: Ending | null = null;
    let escalation = out.escalate?.reason ?? null;
    this.#persistState(out, state.state_id);

    // The agent's turn: its row first (marks and a barge-in name it), its words streamed as they come.
    const agentSeq = this.ctx.storage.sql
      .exec<{ seq: number }>(
        "INSERT INTO turns (speaker, text, started_at) VALUES ('agent', '', ?) RETURNING seq",
        startedAt.toISOString(),
      )
      .one().seq;
    let spokenUpTo = 0;
    let firstAt: string | null = null;
    let lastMark: string | null = null;
    const speak = async (final: boolean) => {
      const text = replies
        .slice(spokenUpTo)
        .filter((r) => r.trim())
        .join(" ");
      spokenUpTo = replies.length;
      if (!text && !(final && firstAt)) return;
      // A later part continues the sentence stream: a space keeps the words apart once joined.
      const spoken = await channel.say(firstAt && text ? ` ${text}` : text, agentSeq, final);
      firstAt ??= spoken.firstAt;
      lastMark = spoken.lastMark ?? lastMark;
    };

    for (let round = 0; out.tool_calls.length > 0 && round < MAX_TOOL_ROUNDS && !ending; round++) {
      // What the agent says before a lookup ("One moment while I check that.") goes out at once; a text
      // message waits for the whole answer.
      if (channel.transport !== "sms") await speak(false);
      const executions = await this.#runTools(meta, out.tool_calls, out.state.turn, agentSeq);
      toolsRun.push(...executions);
      for (const ex of executions) {
        if (ex.patientEntityId) meta.patientEntityId = ex.patientEntityId;
        if (ex.patient) this.#put("patient", ex.patient);
        if (ex.result.name === "verify_identity" && ex.result.outcome === "ok") meta.verified = true;
        if (ex.escalation) escalation ??= ex.escalation.reason;
        if (ex.transfer) ending = { reason: "transfer", handoff: { reason: "transfer", to: ex.transfer.to } };
        else if (ex.end) ending ??= { reason: "completed", handoff: { reason: "completed" } };
      }
      this.#put("call", meta);
      if (escalation || ending || this.#desk.control().mode === "operator") break;
      const previous = out.state.state_id;
      out = await this.#engine.respond({
        ...base,
        patient: this.#get<EnginePatient>("patient"),
        identity_verified: meta.verified,
        state: out.state,
        utterance: "",
        heard: "",
        history: [...history, ...(utterance ? [{ speaker: "caller" as const, text: utterance }] : [])],
        tool_results: executions.map((e) => e.result),
      });
      replies.push(out.reply);
      escalation ??= out.escalate?.reason ?? null;
      this.#persistState(out, previous);
    }
    // An escalation waits for an operator when one is online; otherwise the service's fallback runs. A call
    // already waiting for (or with) an operator is not routed again; one the fallback kept going may be.
    const routed =
      escalation && routesEscalation(this.#desk.control())
        ? await this.#routeEscalation(meta, context, escalation)
        : null;
    if (escalation && routed?.fallback === "continue") replies.push(LINES.continue);
    else if (escalation && routed?.fallback) ending ??= fallbackEnding(escalation, this.#rules(context));
    if (!ending && out.end_call) ending = { reason: "completed", handoff: { reason: "completed" } };

    // An operator took over while this turn ran: what the agent had not said yet stays unsaid, and it no
    // longer ends the call on its own.
    if (this.#desk.control().mode === "operator") {
      replies.splice(spokenUpTo);
      if (ending?.reason === "completed") ending = null;
    }
    const reply = replies.filter((r) => r.trim()).join(" ");
    if (this.#get<boolean>("simulator") && channel.send) {
      // Ids, codes and numbers only: what the agent says goes out as `text` like on any call.
      channel.send({
        type: "debug",
        state_id: out.state.state_id,
        previous_state_id: state.state_id,
        intent: out.intent?.name ?? null,
        risk: { score: out.risk.score, level: out.risk.level },
        tools: toolsRun.map((e) => ({
          name: e.result.name,
          outcome: e.result.outcome,
          latency_ms: Math.round(e.latency_ms),
        })),
        escalation,
        identity_verified: meta.verified,
        patient_known: meta.patientEntityId !== null,
        ending: ending?.reason ?? null,
      });
    }
    await speak(true);
    this.ctx.storage.sql.exec(
      `UPDATE turns SET text = ?, state_id = ?, intent = ?, risk_score = ?, risk_level = ?, first_token_at = ?,
         ended_at = ? WHERE seq = ?`,
      reply,
      out.state.state_id,
      out.intent?.name ?? null,
      out.risk.score,
      out.risk.level,
      firstAt,
      new Date().toISOString(),
      agentSeq,
    );
    this.#desk.tellTurn(agentSeq);
    if (callerSeq !== null)
      this.#desk.addPoint({
        seq: callerSeq,
        at: startedAt.toISOString(),
        ...clinicalRisk(out.risk, escalation ?? meta.escalationReason),
        emotion_score: Math.round(out.state.emotion * 1000) / 1000,
        valence: languageValence(utterance),
      });
    if (escalation && routed) {
      this.#timeline("escalation", { reason: escalation, state_id: out.state.state_id });
      await publish(this.env, meta.workspaceId, {
        type: "call.escalated",
        data: {
          call_id: meta.callId,
          service_id: meta.serviceId,
          reason: escalation,
          routed: routed.fallback ? "fallback" : "operator",
          fallback: routed.fallback,
        },
      });
    }
    await this.#publishOverlay();
    if (ending) return this.#end(channel, ending, lastMark);
    if (channel.transport === "sms") this.#put("idle_deadline", Date.now() + TEXT_SESSION_IDLE_MS);
    else this.#put("silence_deadline", Date.now() + SILENCE_TIMEOUT_MS);
    await this.#scheduleAlarm();
  }

  /**
   * Ends the call once the goodbye is out. ConversationRelay: `end` after the last token (Twilio plays it,
   * then requests the `<Connect action>` with the handoff). Media Streams: when the goodbye's last mark
   * comes back. SMS: at once.
   */
  async #end(channel: Channel, ending: Ending, lastMark: string | null) {
    // What Twilio's `<Connect action>` request is answered with (see `handoff()`).
    this.#put("ending", ending);
    if (channel.transport === "conversation_relay") {
      channel.send?.({ type: "end", handoffData: JSON.stringify(ending.handoff) });
      return this.#finish(ending.reason);
    }
    if (channel.transport === "media_streams") {
      this.#put("ended_at", new Date().toISOString());
      this.#put("pending_end", { ...ending, mark: lastMark });
      // Should the mark never come back, the stream's stop (or the max-duration alarm) still ends the call.
      const ws = this.ctx.getWebSockets("media_streams")[0];
      if (ws) await this.#endIfGoodbyeDone(ws);
      else await this.#finish(ending.reason);
      return;
    }
    await this.#finish(ending.reason);
  }

  #persistState(out: TurnOutput, previousStateId: string) {
    this.#put("engine_state", out.state);
    if (out.state.state_id !== previousStateId)
      this.#timeline("state", { from: previousStateId, to: out.state.state_id });
  }

  /** Runs the engine's tool calls; each run is stored against the agent turn (`turnSeq`) it serves. */
  async #runTools(
    meta: CallMeta,
    calls: ToolCall[],
    turn: number,
    turnSeq: number,
  ): Promise<ToolExecution[]> {
    const callerPhone = meta.fromNumberEnc
      ? await openFromNumber(
          this.env.ENCRYPTION_KEY,
          meta.workspaceId,
          meta.callId,
          meta.fromNumberEnc,
        ).catch(() => null)
      : null;
    const context: ToolContext = {
      workspaceId: meta.workspaceId,
      callId: meta.callId,
      serviceId: meta.serviceId,
      callerPhone,
      serviceNumber: meta.serviceNumber,
      patientEntityId: meta.patientEntityId,
      now: new Date(),
      timeZone: this.#get<CallContext>("context")?.timeZone ?? DEFAULT_TIME_ZONE,
      turn,
    };
    let executions: ToolExecution[];
    try {
      executions = await toolExecutor(this.env, context, calls);
    } catch (err) {
      log("error", "call.tools_failed", { call_id: meta.callId, error: errorName(err) });
      executions = calls.map((c) => ({
        result: { name: c.name, outcome: "error", data: { reason: "tool_failed" } },
        latency_ms: 0,
      }));
    }
    const at = new Date().toISOString();
    for (const ex of executions) {
      this.ctx.storage.sql.exec(
        "INSERT INTO tool_runs (turn_seq, name, outcome, latency_ms, at) VALUES (?, ?, ?, ?, ?)",
        turnSeq,
        ex.result.name,
        ex.result.outcome,
        Math.round(ex.latency_ms),
        at,
      );
    }
    return executions;
  }

  // -------------------------------------------------------------------------------------------------------
  // Escalation routing and the live overlay

  #rules(context: CallContext): ServiceEscalationRules {
    return context.escalation ?? EscalationRules.parse({});
  }

  /**
   * Where a new escalation goes: to the operators when one of the routed type (and skill) is online (the
   * call stays with the agent, waiting), else to the service's fallback. Recorded on the call and in D1.
   */
  async #routeEscalation(
    meta: CallMeta,
    context: CallContext,
    reason: string,
  ): Promise<{ fallback: Fallback | null }> {
    const rules = this.#rules(context);
    const route = routeEscalation(reason, rules);
    const db = database(this.env.DB);
    // An operator who opened the call before it escalated already has it.
    const before = this.#desk.control();
    const engaged = operatorEngaged(before);
    let online = 0;
    try {
      online = engaged ? 0 : (await availableOperators(db, meta.workspaceId, route)).length;
    } catch (err) {
      log("warn", "call.operators_unavailable", { call_id: meta.callId, error: errorName(err) });
    }
    const fallback = engaged || online > 0 ? null : fallbackOf(rules);
    const at = new Date();
    meta.escalated = true;
    meta.escalationReason = reason;
    this.#put("call", meta);
    this.#desk.update({
      escalation: fallback ? "fallback" : engaged ? before.escalation : "waiting",
      escalatedAt: at.toISOString(),
      fallback,
    });
    if (!fallback && !engaged) this.#put("operator_wait_deadline", at.getTime() + operatorWaitLimit());
    this.#timeline("escalation_routed", {
      routed: fallback ? "fallback" : "operator",
      fallback,
      operator_type: route.type,
      skill: route.skill,
      online,
      already_connected: engaged,
    });
    try {
      await recordEscalation(db, {
        workspaceId: meta.workspaceId,
        callId: meta.callId,
        serviceId: meta.serviceId,
        reason,
        at: at.toISOString(),
      });
    } catch (err) {
      log("warn", "call.escalation_not_recorded", { call_id: meta.callId, error: errorName(err) });
    }
    if (fallback) await this.#alertUnanswered(meta, "no_operator_online", reason, fallback);
    return { fallback };
  }

  /**
   * Nobody connected within the operator-wait limit: the service's fallback, as at escalation time (a
   * forward or a call back end the call after a short apology; `continue` keeps the agent going).
   */
  async #fallBackAfterWait(channel: Channel | null) {
    const meta = this.#get<CallMeta>("call");
    const context = this.#get<CallContext>("context");
    if (!meta || !context) return;
    const rules = this.#rules(context);
    const fallback = fallbackOf(rules);
    this.#delete("operator_wait_deadline");
    this.#desk.update({ escalation: "fallback", fallback });
    this.#timeline("operator_wait_expired", { fallback });
    await this.#publishOverlay();
    const reason = meta.escalationReason ?? "operator_wait";
    await this.#alertUnanswered(meta, "operator_wait_expired", reason, fallback);
    if (fallback === "continue") {
      if (channel) await this.#speakAgent(channel, LINES.continue);
      this.#put("silence_deadline", Date.now() + SILENCE_TIMEOUT_MS);
      return this.#scheduleAlarm();
    }
    const line = fallback === "forward" ? LINES.forwardAfterWait : LINES.callbackAfterWait;
    if (!channel) return this.#finish("escalation");
    const lastMark = await this.#speakAgent(channel, line);
    await this.#end(channel, fallbackEnding(reason, rules), lastMark);
  }

  /** An escalation nobody took: an `alert` on the workspace's stream for whoever supervises (ids only). */
  async #alertUnanswered(
    meta: CallMeta,
    kind: "no_operator_online" | "operator_wait_expired",
    reason: string,
    fallback: Fallback,
  ) {
    await publish(this.env, meta.workspaceId, {
      type: "alert",
      data: { kind, call_id: meta.callId, service_id: meta.serviceId, reason, fallback },
    });
  }

  /** A caller turn while an operator speaks for the call: stored (done), scored, told; no reply, no tools. */
  async #scoreOnly(
    meta: CallMeta,
    context: CallContext,
    state: EngineState,
    utterance: string,
    callerSeq: number,
    at: Date,
  ) {
    const scored: EngineState = {
      ...state,
      emotion: smoothEmotion(state.emotion, languageEmotion(utterance)),
    };
    this.#put("engine_state", scored);
    const risk = turnRisk({ graph: context.graph, now: at }, scored);
    this.ctx.storage.sql.exec(
      "UPDATE turns SET risk_score = ?, risk_level = ? WHERE seq = ?",
      risk.score,
      risk.level,
      callerSeq,
    );
    this.#desk.addPoint({
      seq: callerSeq,
      at: at.toISOString(),
      ...clinicalRisk(risk, meta.escalationReason),
      emotion_score: Math.round(scored.emotion * 1000) / 1000,
      valence: languageValence(utterance),
    });
    await this.#publishOverlay(meta);
  }

  /** The call's live overlay now (null before setup). */
  #overlay(meta = this.#get<CallMeta>("call")): CallOverlay | null {
    if (!meta) return null;
    const state = this.#get<EngineState>("engine_state");
    const callerTurns = this.ctx.storage.sql
      .exec<{ n: number }>("SELECT count(*) AS n FROM turns WHERE speaker = 'caller'")
      .one().n;
    return overlayOf(
      {
        callId: meta.callId,
        serviceId: meta.serviceId,
        transport: meta.transport,
        simulated: this.#get<boolean>("simulator") ?? false,
        startedAt: meta.startedAt,
        stateId: state?.state_id ?? null,
        callerTurns,
        emotion: state?.emotion ?? 0,
        loops: state?.loops ?? {},
        latest: this.#desk.latestPoint(),
        escalationReason: meta.escalationReason,
        verified: meta.verified,
      },
      this.#desk.control(),
    );
  }

  /**
   * `call.updated` with the full overlay (ids, codes, numbers), and the verified caller's name given to the
   * hub privately (it shows only in the operators' queue); listeners get the overlay too.
   */
  async #publishOverlay(meta = this.#get<CallMeta>("call")) {
    const overlay = this.#overlay(meta);
    if (!meta || !overlay) return;
    this.#desk.tell({ type: "overlay", overlay });
    await publish(
      this.env,
      meta.workspaceId,
      { type: "call.updated", data: overlay },
      {
        caller_name: this.#callerName(meta),
      },
    );
  }

  /** The caller's name once they proved who they are (PHI: to the hub's queue only). */
  #callerName(meta: CallMeta): string | null {
    if (!meta.verified) return null;
    const identity = this.#get<EnginePatient>("patient")?.identity;
    return identity?.preferred_name ?? identity?.display_name ?? null;
  }

  // -------------------------------------------------------------------------------------------------------
  // Alarms: silence, the operator wait and maximum duration

  async #scheduleAlarm() {
    const next = [
      this.#get<number>("silence_deadline"),
      this.#get<number>("max_deadline"),
      this.#get<number>("idle_deadline"),
      this.#get<number>("operator_wait_deadline"),
    ].filter((t): t is number => typeof t === "number");
    if (next.length > 0) await this.ctx.storage.setAlarm(Math.min(...next));
  }

  override async alarm(): Promise<void> {
    return this.#enqueue(() => this.#onAlarm());
  }

  async #onAlarm() {
    // Text messages waiting for their turn come first (the alarm is how they are handled, and retried).
    await this.#drainInbox();
    if (this.#get<string>("ended_at") || !this.#get<CallMeta>("call")) return;
    const channel = this.#currentChannel();
    const now = Date.now();
    const idleDeadline = this.#get<number>("idle_deadline");
    if (idleDeadline !== null && now >= idleDeadline) return this.#finish("completed");
    const maxDeadline = this.#get<number>("max_deadline");
    const silenceDeadline = this.#get<number>("silence_deadline");
    if (maxDeadline !== null && now >= maxDeadline) {
      return this.#closePolitely(
        channel,
        "max_duration",
        "We've reached the time limit for this call. Thank you for calling. Goodbye.",
      );
    }
    const waitDeadline = this.#get<number>("operator_wait_deadline");
    const control = this.#desk.control();
    if (waitDeadline !== null && now >= waitDeadline) {
      if (control.escalation === "waiting") return this.#fallBackAfterWait(channel);
      this.#delete("operator_wait_deadline");
    }
    if (silenceDeadline !== null && now >= silenceDeadline && holdsOnSilence(control)) {
      // Waiting for a person, or one is on the call: never hang up for silence; hold while the agent has it.
      if (control.mode === "operator") this.#delete("silence_deadline");
      else {
        if (channel) await this.#speakAgent(channel, LINES.hold);
        this.#timeline("hold_line", {});
        this.#put("silence_deadline", now + HOLD_LINE_INTERVAL_MS);
      }
    } else if (silenceDeadline !== null && now >= silenceDeadline) {
      if (!this.#get<boolean>("reprompted")) {
        this.#put("reprompted", true);
        if (channel) await this.#speakAgent(channel, "Are you still there?");
        this.#timeline("silence_reprompt", {});
        this.#put("silence_deadline", now + SILENCE_TIMEOUT_MS);
      } else {
        return this.#closePolitely(
          channel,
          "silence",
          "I haven't heard from you, so I'll end the call now. Please call back anytime. Goodbye.",
        );
      }
    }
    await this.#scheduleAlarm();
  }

  /**
   * Something the agent says outside a caller turn (a re-prompt, a goodbye), or an operator's words in the
   * call's voice (`operator` set: stored as their turn); returns the last mark.
   */
  async #speakAgent(channel: Channel, text: string, operator: string | null = null): Promise<string | null> {
    const state = this.#get<EngineState>("engine_state");
    const seq = this.ctx.storage.sql
      .exec<{ seq: number }>(
        "INSERT INTO turns (speaker, text, state_id, started_at, operator_user_id) VALUES (?, ?, ?, ?, ?) RETURNING seq",
        operator ? "operator" : "agent",
        text,
        state?.state_id ?? null,
        new Date().toISOString(),
        operator,
      )
      .one().seq;
    const spoken = await channel.say(text, seq, true).catch((err) => {
      log("warn", "call.speak_failed", { call_id: this.#get<string>("call_id"), error: errorName(err) });
      return { firstAt: null, lastMark: null };
    });
    this.ctx.storage.sql.exec(
      "UPDATE turns SET first_token_at = ?, ended_at = ? WHERE seq = ?",
      spoken.firstAt,
      new Date().toISOString(),
      seq,
    );
    this.#desk.tellTurn(seq);
    return spoken.lastMark;
  }

  async #closePolitely(channel: Channel | null, reason: EndReason, goodbye: string) {
    if (!channel) return this.#finish(reason);
    const lastMark = await this.#speakAgent(channel, goodbye);
    await this.#end(channel, { reason, handoff: { reason } }, lastMark);
  }

  // -------------------------------------------------------------------------------------------------------
  // The end: D1 timeline and outcome, R2 transcript, then forget the PHI

  async #finish(reason: EndReason) {
    const meta = this.#get<CallMeta>("call");
    if (this.#get<string>("finished_at")) return;
    const endedAt = new Date().toISOString();
    if (!this.#get<string>("ended_at")) this.#put("ended_at", endedAt);
    await this.ctx.storage.deleteAlarm();
    if (!meta) return;
    this.#timeline("end", { reason });
    const state = this.#get<EngineState>("engine_state");
    try {
      await this.#writeTimeline(meta, state?.state_id ?? null);
      if (this.#get<boolean>("simulator") || meta.transport === "sms")
        await this.#completeWithoutProvider(meta, endedAt);
      if (meta.transport === "media_streams") await this.#storeRecording(meta);
      await this.#writeTranscript(meta);
      this.#put("finished_at", new Date().toISOString());
      // PHI held for the call's life only: turn text, the caller's context, the sealed number.
      this.ctx.storage.sql.exec("UPDATE turns SET text = '', heard = NULL");
      this.#delete("patient");
      this.#put("call", { ...meta, fromNumberEnc: null });
      log("info", "call.session_ended", { call_id: meta.callId, reason });
    } catch (err) {
      log("error", "call.finish_failed", { call_id: meta.callId, error: errorName(err) });
    }
    this.#desk.closeListeners(reason);
    // Once per session; the hub ignores a second one (the status callback publishes its own).
    if (this.#get<boolean>("ended_published")) return;
    this.#put("ended_published", true);
    await publish(this.env, meta.workspaceId, { type: "call.ended", data: { call_id: meta.callId, reason } });
  }

  /**
   * No provider sends status callbacks for a simulated call or a text session: the session's end is the
   * call's end (and a text session that ended takes no more messages; the next one opens a new session).
   */
  async #completeWithoutProvider(meta: CallMeta, endedAt: string) {
    const db = database(this.env.DB);
    const call = await findCallById(db, meta.callId);
    if (!call) return;
    const durationSeconds = Math.max(
      0,
      Math.round((Date.parse(endedAt) - Date.parse(meta.startedAt)) / 1000),
    );
    await applyCallStatus(
      db,
      call,
      { status: "completed", at: endedAt, durationSeconds },
      {
        id: newId("cev"),
        workspaceId: meta.workspaceId,
        callId: meta.callId,
        kind: "provider.status",
        dedupeKey: "status:completed:session",
        data: {
          status: "completed",
          duration_seconds: durationSeconds,
          ...(meta.transport === "sms" ? {} : { simulated: true }),
        },
        at: endedAt,
      },
    );
  }

  /** The call's two audio tracks as a stereo WAV in R2 (streamed, never whole in memory), then forgotten. */
  async #storeRecording(meta: CallMeta) {
    const recording = this.#media.recording();
    if (recording.seconds <= 0) return;
    const db = database(this.env.DB);
    const call = await findCallById(db, meta.callId);
    if (!call) return;
    const key = callRecordingKey({ workspaceId: meta.workspaceId, id: meta.callId, recording: null });
    const { readable, writable } = new FixedLengthStream(recording.byteLength);
    const stored = this.env.FILES.put(key, readable, { httpMetadata: { contentType: "audio/wav" } });
    await recording.stream.pipeTo(writable);
    await stored;
    const at = new Date().toISOString();
    await applyRecording(
      db,
      call,
      {
        sid: `session:${meta.callId}`,
        status: "completed",
        status_rank: RECORDING_STATUS_RANK.completed,
        url: null,
        duration_seconds: Math.round(recording.seconds),
        channels: 2,
        source: "media_streams",
        started_at: meta.startedAt,
        error_code: null,
        updated_at: at,
      },
      {
        id: newId("cev"),
        workspaceId: meta.workspaceId,
        callId: meta.callId,
        kind: "session.recording",
        dedupeKey: "session:recording",
        data: { channels: 2, duration_seconds: Math.round(recording.seconds), r2: true },
        at,
      },
    );
    this.#media.forget();
  }

  async #writeTimeline(meta: CallMeta, finalState: string | null) {
    const db = database(this.env.DB);
    const sql = this.ctx.storage.sql;
    const base = { workspaceId: meta.workspaceId, callId: meta.callId };
    const events = [
      ...sql
        .exec<{
          seq: number;
          speaker: string;
          state_id: string | null;
          intent: string | null;
          risk_score: number | null;
          risk_level: string | null;
          started_at: string;
          first_token_at: string | null;
          ended_at: string | null;
          heard: string | null;
        }>(
          "SELECT seq, speaker, state_id, intent, risk_score, risk_level, started_at, first_token_at, ended_at, heard FROM turns ORDER BY seq",
        )
        .toArray()
        .map((t) => ({
          kind: "turn",
          dedupeKey: `session:turn:${t.seq}`,
          at: t.started_at,
          data: {
            seq: t.seq,
            speaker: t.speaker,
            state_id: t.state_id,
            intent: t.intent,
            risk_score: t.risk_score,
            risk_level: t.risk_level,
            first_token_ms: t.first_token_at ? Date.parse(t.first_token_at) - Date.parse(t.started_at) : null,
            interrupted: t.heard !== null,
          },
        })),
      ...sql
        .exec<{
          id: number;
          turn_seq: number | null;
          name: string;
          outcome: string;
          latency_ms: number;
          at: string;
        }>("SELECT id, turn_seq, name, outcome, latency_ms, at FROM tool_runs ORDER BY id")
        .toArray()
        .map((t) => ({
          kind: "tool",
          dedupeKey: `session:tool:${t.id}`,
          at: t.at,
          data: { name: t.name, outcome: t.outcome, latency_ms: t.latency_ms, turn: t.turn_seq },
        })),
      ...sql
        .exec<{ id: number; kind: string; data: string; at: string }>(
          "SELECT id, kind, data, at FROM timeline ORDER BY id",
        )
        .toArray()
        .map((t) => ({
          kind: t.kind,
          dedupeKey: `session:timeline:${t.id}`,
          at: t.at,
          data: JSON.parse(t.data) as Record<string, unknown>,
        })),
    ];
    const statements: Statement[] = events.map((e) =>
      insertEventUnlessDuplicate(db, { id: newId("cev"), ...base, ...e }),
    );
    statements.push(
      finishCallRow(db, meta.workspaceId, meta.callId, {
        finalState,
        escalated: meta.escalated,
        patientEntityId: meta.patientEntityId,
      }),
    );
    for (let i = 0; i < statements.length; i += 50) {
      const chunk = statements.slice(i, i + 50);
      await db.batch(chunk as [Statement, ...Statement[]]);
    }
  }

  async #writeTranscript(meta: CallMeta) {
    const turns = this.ctx.storage.sql
      .exec<{
        speaker: "caller" | "agent" | "operator";
        text: string;
        heard: string | null;
        started_at: string;
      }>("SELECT speaker, text, heard, started_at FROM turns WHERE text != '' ORDER BY seq")
      .toArray()
      // What was said: after a barge-in, the part of the agent's turn the caller heard.
      .map((t) => ({ speaker: t.speaker, text: (t.heard ?? t.text).slice(0, 4000), at: t.started_at }))
      .filter((t) => t.text !== "");
    if (turns.length === 0) return;
    if (meta.patientEntityId && meta.verified) {
      try {
        await rememberInteraction(
          this.env,
          meta.workspaceId,
          {
            entityId: meta.patientEntityId,
            interactionId: meta.callId,
            channel: "voice",
            direction: "inbound",
            occurredAt: meta.startedAt,
            turns,
          },
          { actorType: "system", actorId: null },
        );
        return;
      } catch (err) {
        // The transcript is kept even when the interaction cannot be recorded on the patient.
        log("warn", "call.interaction_not_recorded", {
          call_id: meta.callId,
          error: errorName(err),
          code: (err as { code?: string }).code ?? null,
        });
      }
    }
    await putTranscript(this.env, meta.workspaceId, meta.callId, turns);
  }

  // -------------------------------------------------------------------------------------------------------
  // Operators: listen, connect, take over, speak, hand back, transfer. Control changes are written at once
  // (switching is instant, even while a turn runs); what is spoken joins the frame queue.

  /** An operator's listen socket: a snapshot, then turns, points, overlay and control as they happen. */
  #listen(operator: string): Response {
    const meta = this.#get<CallMeta>("call");
    if (!meta) return new Response("No live call", { status: 404 });
    if (this.#get<string>("finished_at")) return new Response("The call is over", { status: 410 });
    const pair = new WebSocketPair();
    const [client, server] = [pair[0], pair[1]];
    this.ctx.acceptWebSocket(server, [LISTENER_TAG]);
    server.serializeAttachment({ operator });
    server.send(JSON.stringify({ type: "snapshot", ...this.#liveView(meta) }));
    this.#timeline("listen", { operator });
    return new Response(null, { status: 101, webSocket: client });
  }

  /** What an operator opening the call sees; null when this session holds no call. */
  async liveView(): Promise<LiveView | null> {
    const meta = this.#get<CallMeta>("call");
    return meta ? this.#liveView(meta) : null;
  }

  #liveView(meta: CallMeta): LiveView {
    const sql = this.ctx.storage.sql;
    const intent = sql
      .exec<{ intent: string }>(
        "SELECT intent FROM turns WHERE speaker = 'agent' AND intent IS NOT NULL ORDER BY seq DESC LIMIT 1",
      )
      .toArray()[0];
    return {
      overlay: this.#overlay(meta)!,
      control: this.#liveControl(meta),
      patient_entity_id: meta.patientEntityId,
      verified: meta.verified,
      turns: this.#desk.turns(),
      timeline: this.#desk.points(),
      tools: sql
        .exec<{ name: string; outcome: string; at: string }>(
          "SELECT name, outcome, at FROM tool_runs ORDER BY id",
        )
        .toArray()
        .map((t) => ({ ...t })),
      intent: intent?.intent ?? null,
      guidance_pending: (this.#get<string[]>("guidance") ?? []).length,
      ended_at: this.#get<string>("ended_at"),
    };
  }

  /** Who controls the call now; null when this session holds no call. */
  async control(): Promise<LiveControl | null> {
    const meta = this.#get<CallMeta>("call");
    return meta ? this.#liveControl(meta) : null;
  }

  #liveControl(meta: CallMeta): LiveControl {
    return liveControl(meta.callId, this.#desk.control(), this.#get<string>("finished_at") !== null);
  }

  /** The live call, or null once it is over (its goodbye said) or before it started. */
  #liveCall(): CallMeta | null {
    if (this.#get<string>("ended_at") || this.#get<string>("finished_at")) return null;
    return this.#get<CallMeta>("call");
  }

  /** Listeners and the hub hear of a control change. */
  async #controlChanged(meta: CallMeta): Promise<LiveControl> {
    const control = this.#liveControl(meta);
    this.#desk.tell({ type: "control", ...control });
    await this.#publishOverlay(meta);
    return control;
  }

  /**
   * A listen socket closed. The call goes on as it is; an operator with no other socket open who is not in
   * control has left it: without anyone else on it, an escalation is waiting again (with a fresh operator
   * wait). The operator in control keeps it through a blip (their page reconnects).
   */
  async #listenerClosed(ws: WebSocket): Promise<void> {
    closeQuietly(ws);
    const operatorOf = (socket: WebSocket) =>
      (socket.deserializeAttachment() as { operator?: string } | null)?.operator ?? null;
    const operator = operatorOf(ws);
    if (!operator) return;
    await this.#enqueue(async () => {
      const meta = this.#liveCall();
      if (!meta) return;
      const stillHere = this.ctx
        .getWebSockets(LISTENER_TAG)
        .some((s) => s !== ws && s.readyState === WebSocket.OPEN && operatorOf(s) === operator);
      const before = this.#desk.control();
      if (stillHere || !before.connected.includes(operator)) return;
      if (before.mode === "operator" && before.operatorUserId === operator) return;
      const connected = before.connected.filter((o) => o !== operator);
      const nobody = connected.length === 0 && before.escalation === "connected";
      this.#desk.update({
        connected,
        ...(nobody
          ? { escalation: before.escalatedAt ? "waiting" : "none", operatorUserId: null }
          : before.operatorUserId === operator
            ? { operatorUserId: connected.at(-1) ?? null }
            : {}),
      });
      if (nobody && before.escalatedAt) {
        this.#put("operator_wait_deadline", Date.now() + operatorWaitLimit());
        await this.#scheduleAlarm();
      }
      this.#timeline("operator_left", { operator });
      await publish(this.env, meta.workspaceId, {
        type: "operator.left",
        data: { call_id: meta.callId, operator_user_id: operator },
      });
      await this.#controlChanged(meta);
    });
  }

  /** An operator opened the call (to listen or guide): a waiting escalation is connected. */
  async connectOperator(input: { operator: string }): Promise<LiveControl | null> {
    const meta = this.#liveCall();
    if (!meta) return null;
    const before = this.#desk.control();
    if (before.connected.includes(input.operator) && before.escalation !== "waiting")
      return this.#liveControl(meta);
    this.#desk.update({
      connected: [...new Set([...before.connected, input.operator])],
      escalation: before.escalation === "operator_active" ? "operator_active" : "connected",
      operatorUserId: before.mode === "operator" ? before.operatorUserId : input.operator,
    });
    this.#delete("operator_wait_deadline");
    this.#timeline("operator_joined", { operator: input.operator });
    await publish(this.env, meta.workspaceId, {
      type: "operator.joined",
      data: { call_id: meta.callId, operator_user_id: input.operator },
    });
    return this.#controlChanged(meta);
  }

  /** The operator speaks for the call from now on: the agent keeps listening and scoring, and stays quiet. */
  async takeover(input: { operator: string }): Promise<LiveControl | null> {
    const meta = this.#liveCall();
    if (!meta) return null;
    const before = this.#desk.control();
    if (before.mode === "operator" && before.operatorUserId === input.operator)
      return this.#liveControl(meta);
    this.#desk.update({
      mode: "operator",
      operatorUserId: input.operator,
      escalation: "operator_active",
      connected: [...new Set([...before.connected, input.operator])],
      takeoverAt: new Date().toISOString(),
    });
    this.#delete("operator_wait_deadline");
    this.#timeline("takeover", { operator: input.operator });
    await publish(this.env, meta.workspaceId, {
      type: "operator.takeover",
      data: { call_id: meta.callId, operator_user_id: input.operator },
    });
    return this.#controlChanged(meta);
  }

  /**
   * The operator's words to the caller, in the call's voice (relay tokens, synthesized audio, or a text
   * message), stored as their turn. Only the operator in control speaks.
   */
  async operatorSay(input: {
    operator: string;
    text: string;
  }): Promise<{ spoken: boolean; reason?: "not_in_control" | "over" }> {
    if (!this.#liveCall()) return { spoken: false, reason: "over" };
    const inControl = () => {
      const control = this.#desk.control();
      return control.mode === "operator" && control.operatorUserId === input.operator;
    };
    if (!inControl()) return { spoken: false, reason: "not_in_control" };
    let outcome: { spoken: boolean; reason?: "not_in_control" | "over" } = { spoken: false, reason: "over" };
    await this.#enqueue(async () => {
      const channel = this.#liveCall() ? this.#currentChannel() : null;
      if (!channel) return;
      if (!inControl()) {
        outcome = { spoken: false, reason: "not_in_control" };
        return;
      }
      await this.#speakAgent(channel, input.text.trim().slice(0, 1000), input.operator);
      this.#timeline("operator_said", { operator: input.operator, length: input.text.length });
      outcome = { spoken: true };
    });
    return outcome;
  }

  /** Control back to the agent, its context intact (the operator's lines are in its history); it re-enters. */
  async handback(input: { operator: string }): Promise<LiveControl | null> {
    const meta = this.#liveCall();
    if (!meta) return null;
    const before = this.#desk.control();
    if (before.mode !== "operator") return this.#liveControl(meta);
    const activeMs = before.takeoverAt ? Math.max(0, Date.now() - Date.parse(before.takeoverAt)) : 0;
    this.#desk.update({
      mode: "agent",
      escalation: "connected",
      takeoverAt: null,
      operatorUserId: input.operator,
    });
    this.#timeline("handback", { operator: input.operator, active_ms: activeMs });
    await publish(this.env, meta.workspaceId, {
      type: "operator.handback",
      data: { call_id: meta.callId, operator_user_id: input.operator, active_ms: activeMs },
    });
    const control = await this.#controlChanged(meta);
    await this.#enqueue(async () => {
      const channel = this.#liveCall() ? this.#currentChannel() : null;
      if (!channel || this.#desk.control().mode !== "agent") return;
      await this.#speakAgent(channel, LINES.reentry);
      this.#put("reprompted", false);
      if (channel.transport !== "sms") this.#put("silence_deadline", Date.now() + SILENCE_TIMEOUT_MS);
      await this.#scheduleAlarm();
    });
    return control;
  }

  /**
   * The operator wrapped up while the call is live: it is the agent's again (handed back first if they were
   * speaking for it, so the caller is never left alone), and with nobody else on it the escalation is
   * handled (`none`: off the operators' waiting list, no operator wait). Null when the call is over.
   */
  async release(input: { operator: string }): Promise<{ handedBack: boolean } | null> {
    const meta = this.#liveCall();
    if (!meta) return null;
    const before = this.#desk.control();
    const handedBack =
      before.mode === "operator" && before.operatorUserId === input.operator
        ? (await this.handback(input)) !== null
        : false;
    const after = this.#desk.control();
    const connected = after.connected.filter((o) => o !== input.operator);
    const nobody = connected.length === 0 && after.mode === "agent";
    this.#desk.update({
      connected,
      ...(nobody
        ? { escalation: after.escalation === "fallback" ? "fallback" : "none", operatorUserId: null }
        : {}),
    });
    if (nobody) this.#delete("operator_wait_deadline");
    this.#timeline("operator_released", { operator: input.operator, handed_back: handedBack });
    await this.#controlChanged(meta);
    return { handedBack };
  }

  /**
   * Transfers the call to a clinic line once the agent's announcement has played: ConversationRelay
   * `end` with `{reason: "transfer", to}` after its last token; Media Streams a REST redirect when its
   * last mark returns (`pending_transfer` until then).
   */
  async transfer(input: {
    operator: string;
    to: string;
    announcement?: string;
  }): Promise<LiveControl | null> {
    const meta = this.#liveCall();
    if (!meta) return null;
    if (this.#desk.control().transferTo) return this.#liveControl(meta);
    const to = normalizeE164(input.to) ?? input.to;
    this.#desk.update({ transferTo: to });
    this.#timeline("operator_transfer", { operator: input.operator });
    await publish(this.env, meta.workspaceId, {
      type: "operator.transfer",
      data: { call_id: meta.callId, operator_user_id: input.operator },
    });
    const control = await this.#controlChanged(meta);
    await this.#enqueue(async () => {
      if (this.#get<string>("ended_at")) return;
      const channel = this.#currentChannel();
      if (!channel) return this.#finish("transfer");
      const lastMark = await this.#speakAgent(channel, input.announcement?.trim() || LINES.transfer);
      await this.#end(channel, { reason: "transfer", handoff: { reason: "transfer", to } }, lastMark);
    });
    return control;
  }

  // -------------------------------------------------------------------------------------------------------
  // For tests and the calls API: what the session holds (ids, states, timings; turn text while live)

  /**
   * Operator guidance: hidden instructions the agent works into its next reply (never spoken as such,
   * never in a log or the timeline: it may name the patient). False when the call is over.
   */
  async guide(input: { text: string; operator: string }): Promise<{ accepted: boolean }> {
    if (this.#get<string>("ended_at") || this.#get<string>("finished_at")) return { accepted: false };
    const pending = this.#get<string[]>("guidance") ?? [];
    this.#put("guidance", [...pending, input.text.slice(0, 500)].slice(-5));
    this.#timeline("guidance", { operator: input.operator, length: input.text.length });
    return { accepted: true };
  }

  /**
   * The patient finished a form sent on this call while the call is live: the agent says so at once
   * (between turns, never over one). Told twice, it acknowledges once.
   */
  async surfaceCompleted(input: { surfaceId: string }): Promise<{ acknowledged: boolean }> {
    let acknowledged = false;
    await this.#enqueue(async () => {
      if (this.#get<string>("ended_at") || !this.#get<CallMeta>("call")) return;
      const done = this.#get<string[]>("surfaces_completed") ?? [];
      if (done.includes(input.surfaceId)) return;
      this.#put("surfaces_completed", [...done, input.surfaceId]);
      this.#timeline("surface_completed", { surface_id: input.surfaceId });
      const channel = this.#currentChannel();
      if (!channel) return;
      await this.#speakAgent(channel, SURFACE_COMPLETED);
      acknowledged = true;
    });
    return { acknowledged };
  }

  /** Guidance waiting for the next turn, taken once (the engine sees it on one reply). */
  #takeGuidance(): string[] {
    const pending = this.#get<string[]>("guidance") ?? [];
    if (pending.length > 0) this.#delete("guidance");
    return pending;
  }

  /**
   * How the call left the agent, for the `<Connect action>` request Twilio makes when the session ends
   * (ConversationRelay after `end`; Media Streams when the stream closes without a REST redirect).
   */
  async handoff(): Promise<Handoff | null> {
    const ending = this.#get<Ending>("ending");
    return ending ? { reason: ending.handoff.reason, to: ending.handoff.to ?? null } : null;
  }

  async snapshot() {
    const sql = this.ctx.storage.sql;
    return {
      call: this.#get<CallMeta>("call"),
      engineState: this.#get<EngineState>("engine_state"),
      endedAt: this.#get<string>("ended_at"),
      finishedAt: this.#get<string>("finished_at"),
      turns: sql
        .exec<{ seq: number; speaker: string; text: string; heard: string | null; state_id: string | null }>(
          "SELECT seq, speaker, text, heard, state_id FROM turns ORDER BY seq",
        )
        .toArray(),
      tools: sql
        .exec<{ name: string; outcome: string; latency_ms: number }>(
          "SELECT name, outcome, latency_ms FROM tool_runs ORDER BY id",
        )
        .toArray(),
    };
  }
}
