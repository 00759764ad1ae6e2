/**
 * What a `CallSession` keeps and the words its modules share: the SQLite schema (append-only), the call's
 * meta and context as stored, how a call ends, and `CallStore` (the `meta` rows, the timeline, the turn
 * history the engine reads, and frame parsing that logs codes only). No bindings, no sockets.
 */
import type { z } from "zod";
import type { ContextGraph } from "../shared/calls/context-graph";
import type { EnginePersona, EngineState, HistoryTurn, KnowledgeEntry } from "../shared/engine/engine";
import type { EscalationRules } from "../shared/schemas/tenancy";
import type { Handoff } from "../workers/telephony/twiml";
import { MEDIA_SCHEMA } from "./call-media";

/** The session's SQLite schema steps, applied in order by `migrate`; append only. */
export const SCHEMA: readonly string[] = [
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

/** No prompt for this long after the agent spoke: ask once if the caller is there, then end politely. */
export const SILENCE_TIMEOUT_MS = 12_000;
/** A call never lasts longer than this. */
export const MAX_CALL_DURATION_MS = 30 * 60_000;
const HISTORY_TURNS = 12;

/** What the session knows about its call; no PHI (the caller's number stays sealed as D1 holds it). */
export interface CallMeta {
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
export interface CallContext {
  graph: ContextGraph;
  knowledge: KnowledgeEntry[];
  persona: EnginePersona;
  timeZone: string;
  /** Who takes the service's escalations, and what happens when nobody can (absent on older sessions). */
  escalation?: ServiceEscalationRules;
}

export type ServiceEscalationRules = z.infer<typeof EscalationRules>;

export type Transport = "conversation_relay" | "media_streams" | "sms";

/** Where a turn's reply goes: the relay's text tokens, synthesized audio, or a text message. */
export interface Channel {
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
export interface Ending {
  reason: EndReason;
  handoff: Handoff & Record<string, unknown>;
}

export type EndReason =
  | "completed"
  | "escalation"
  | "transfer"
  | "silence"
  | "max_duration"
  | "unavailable"
  | "hangup";

export function log(level: "info" | "warn" | "error", event: string, fields: Record<string, unknown>) {
  const line = JSON.stringify({ level, event, ...fields });
  if (level === "error") console.error(line);
  else if (level === "warn") console.warn(line);
  else console.info(line);
}

/** Why a frame was refused, as a code: a parser's message may quote the frame (what the caller said). */
const frameProblem = (err: unknown) =>
  err instanceof SyntaxError
    ? "not_json"
    : err instanceof Error && err.message === "binary"
      ? "binary"
      : "schema";

export const errorName = (err: unknown) => (err instanceof Error ? err.name : "Error");

export function closeQuietly(ws: WebSocket) {
  try {
    ws.close(1000, "closed");
  } catch {
    // Already closed.
  }
}

/** The session's `meta` rows (JSON values), its timeline and the turns the engine reads back. */
export class CallStore {
  readonly #sql: SqlStorage;

  constructor(sql: SqlStorage) {
    this.#sql = sql;
  }

  get<T>(key: string): T | null {
    const row = this.#sql.exec<{ value: string }>("SELECT value FROM meta WHERE key = ?", key).toArray()[0];
    return row ? (JSON.parse(row.value) as T) : null;
  }

  put(key: string, value: unknown) {
    this.#sql.exec(
      "INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
      key,
      JSON.stringify(value),
    );
  }

  delete(key: string) {
    this.#sql.exec("DELETE FROM meta WHERE key = ?", key);
  }

  timeline(kind: string, data: Record<string, unknown>, at = new Date().toISOString()) {
    this.#sql.exec("INSERT INTO timeline (kind, data, at) VALUES (?, ?, ?)", kind, JSON.stringify(data), at);
  }

  history(): HistoryTurn[] {
    return this.#sql
      .exec<{ speaker: HistoryTurn["speaker"]; text: string; heard: string | null }>(
        "SELECT speaker, text, heard FROM turns ORDER BY seq DESC LIMIT ?",
        HISTORY_TURNS,
      )
      .toArray()
      .reverse()
      .map((t) => ({ speaker: t.speaker, text: t.heard ?? t.text }));
  }

  /** What the caller heard of the agent's last turn (trimmed by a barge-in). */
  lastHeard(): string {
    const row = this.#sql
      .exec<{ text: string; heard: string | null }>(
        "SELECT text, heard FROM turns WHERE speaker = 'agent' ORDER BY seq DESC LIMIT 1",
      )
      .toArray()[0];
    return row ? (row.heard ?? row.text) : "";
  }

  /** A frame of the socket's protocol, or null (logged with a code and on the timeline) when it is not one. */
  parseFrame<T>(schema: z.ZodType<T>, message: string | ArrayBuffer): T | null {
    try {
      if (typeof message !== "string") throw new Error("binary");
      const parsed = schema.safeParse(JSON.parse(message));
      if (!parsed.success) throw new Error("schema");
      return parsed.data;
    } catch (err) {
      // A code only: the frame may carry what the caller said.
      log("warn", "call.invalid_frame", { call_id: this.get<string>("call_id"), reason: frameProblem(err) });
      this.timeline("invalid_frame", {});
      return null;
    }
  }

  snapshot() {
    const sql = this.#sql;
    return {
      call: this.get<CallMeta>("call"),
      engineState: this.get<EngineState>("engine_state"),
      endedAt: this.get<string>("ended_at"),
      finishedAt: this.get<string>("finished_at"),
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

/**
 * The steps of a call the session runs, as its modules may ask for them (each takes only the ones it
 * needs). All of them keep the session's order: work joins the frame queue through `enqueue`.
 */
export interface SessionSteps {
  /** Runs work after everything queued before it (frames, turns, alarms), one at a time. */
  enqueue(work: () => Promise<void>): Promise<void>;
  setup(channel: Channel, callSid: string | null): Promise<void>;
  /** One caller turn ("" for the greeting). */
  turn(channel: Channel, utterance: string): Promise<void>;
  /** Something said outside a caller turn (or an operator's words); returns the last mark. */
  speakAgent(channel: Channel, text: string, operator?: string | null): Promise<string | null>;
  /** Ends the call once the goodbye is out. */
  end(channel: Channel, ending: Ending, lastMark: string | null): Promise<void>;
  /** The end's records, once. */
  finish(reason: EndReason): Promise<void>;
  scheduleAlarm(): Promise<void>;
}
