/**
 * A `CallSession`'s end-of-call records: the timeline and outcome in D1 (ids, states, timings: no PHI),
 * the speaker-attributed transcript in R2 or on the patient (memory L0), the Media Streams recording as a
 * stereo WAV in R2, and the provider status a simulated call or text session never gets from Twilio. It
 * reads the session's SQLite (turns, tool runs, timeline) and never writes it.
 */
import { newId } from "../shared/ids";
import { findCallById, finishCallRow } from "../workers/calls/session-client";
import {
  applyCallStatus,
  applyRecording,
  callRecordingKey,
  insertEventUnlessDuplicate,
  RECORDING_STATUS_RANK,
} from "../workers/db/calls";
import { database, type Statement } from "../workers/db/client";
import { putTranscript, rememberInteraction } from "../workers/world/memory";
import type { MediaLeg } from "./call-media";
import { type CallMeta, errorName, log } from "./call-state";

/** Writes what a finished call leaves behind; each method is one record, called once by `#finish`. */
export class CallRecords {
  readonly #env: Env;
  readonly #sql: SqlStorage;
  readonly #media: MediaLeg;

  constructor(env: Env, sql: SqlStorage, media: MediaLeg) {
    this.#env = env;
    this.#sql = sql;
    this.#media = media;
  }

  /**
   * No provider sends status callbacks for a simulated call or a text session: the session's end is the
   * call's end (and a text session that ended takes no more messages; the next one opens a new session).
   */
  async completeWithoutProvider(meta: CallMeta, endedAt: string) {
    const db = database(this.#env.DB);
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
  async storeRecording(meta: CallMeta) {
    const recording = this.#media.recording();
    if (recording.seconds <= 0) return;
    const db = database(this.#env.DB);
    const call = await findCallById(db, meta.callId);
    if (!call) return;
    const key = callRecordingKey({ workspaceId: meta.workspaceId, id: meta.callId, recording: null });
    const { readable, writable } = new FixedLengthStream(recording.byteLength);
    const stored = this.#env.FILES.put(key, readable, { httpMetadata: { contentType: "audio/wav" } });
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

  async writeTimeline(meta: CallMeta, finalState: string | null) {
    const db = database(this.#env.DB);
    const sql = this.#sql;
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

  async writeTranscript(meta: CallMeta) {
    const turns = this.#sql
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
          this.#env,
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
    await putTranscript(this.#env, meta.workspaceId, meta.callId, turns);
  }
}
