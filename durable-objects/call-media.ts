/**
 * The Media Streams leg of a `CallSession` (https://www.twilio.com/docs/voice/media-streams/websocket-messages):
 * raw 8 kHz μ-law audio both ways over the call's WebSocket, with speech-to-text and text-to-speech here
 * (workers/speech/speech.ts) instead of at Twilio.
 *
 * In: `connected`, `start` (stream and call SIDs, media format), `media` (base64 μ-law, ~20 ms frames),
 * `mark` (a mark we sent came back: the audio before it has played, or a `clear` dropped it), `dtmf`,
 * `stop`. Out: `media` (the agent's speech, 20 ms frames), `mark` after each sentence, `clear` on barge-in.
 *
 * Every caller frame is kept in the session's SQLite storage as it arrives (the recording's left channel;
 * an utterance is read back from it for transcription), and each synthesized sentence with the sample it
 * starts at (the right channel), so an evicted session loses no audio. Voice activity detection and
 * endpointing run per frame in memory; an utterance that ends is handed to the session as a turn. While
 * the agent's audio is still playing (marks outstanding), caller speech is a barge-in: `clear` goes out,
 * unplayed sentences are dropped (and cut from the recording), and the agent's turn is trimmed to the
 * sentences the caller heard. At the end the two tracks become a stereo WAV in R2.
 */
import { z } from "zod";
import {
  FRAME_BYTES,
  msToSamples,
  mulawToPcm,
  SAMPLE_RATE,
  samplesToMs,
  splitFrames,
} from "../shared/audio/mulaw";
import { initialVad, type VadState, vadStep } from "../shared/audio/vad";
import { stereoWav, type TrackSegment } from "../shared/audio/wav";
import { fromBase64, toBase64 } from "../shared/encoding";

/** Storage for the media leg, appended to the CallSession's schema steps. */
export const MEDIA_SCHEMA: readonly string[] = [
  // Audio is PHI: kept while the call lives, deleted once the recording is in R2.
  `CREATE TABLE audio (
     id INTEGER PRIMARY KEY AUTOINCREMENT,
     track TEXT NOT NULL,
     start_sample INTEGER NOT NULL,
     end_sample INTEGER NOT NULL,
     cut_sample INTEGER,
     bytes BLOB NOT NULL
   )`,
  "CREATE INDEX audio_track ON audio (track, start_sample)",
  `CREATE TABLE marks (
     name TEXT PRIMARY KEY,
     turn_seq INTEGER NOT NULL,
     text TEXT NOT NULL,
     audio_id INTEGER,
     status TEXT NOT NULL
   )`,
];

/** Audio kept before the moment speech was detected, so the first syllable reaches the transcriber. */
const PRE_ROLL_MS = 300;

/** Media Streams' inbound messages, as Twilio documents them (other fields are ignored). */
export const MediaFrame = z.discriminatedUnion("event", [
  z.object({ event: z.literal("connected"), protocol: z.string().max(32).optional() }),
  z.object({
    event: z.literal("start"),
    streamSid: z.string().max(64).optional(),
    start: z.object({
      streamSid: z.string().max(64),
      callSid: z.string().max(64),
      customParameters: z.record(z.string(), z.string()).optional(),
      mediaFormat: z
        .object({ encoding: z.string(), sampleRate: z.number(), channels: z.number() })
        .optional(),
    }),
  }),
  z.object({
    event: z.literal("media"),
    media: z.object({
      track: z.string().max(16).optional(),
      payload: z.string().max(16_000),
    }),
  }),
  z.object({ event: z.literal("mark"), mark: z.object({ name: z.string().max(120) }) }),
  z.object({
    event: z.literal("dtmf"),
    dtmf: z.object({ digit: z.string().regex(/^[0-9*#A-D]$/) }),
  }),
  z.object({ event: z.literal("stop") }),
]);
export type MediaFrame = z.infer<typeof MediaFrame>;

/** What the leg tells the session after a frame. */
export type MediaSignal =
  | { kind: "none" }
  | { kind: "utterance"; audio: Uint8Array; durationMs: number }
  | { kind: "barge_in"; turnSeq: number; heard: string; atMs: number }
  | { kind: "played"; name: string };

/** Splits a reply into sentences, each synthesized and marked on its own. */
export function sentences(reply: string): string[] {
  const parts = reply.match(/[^.!?]+(?:[.!?]+["')\]]?|$)\s*/g) ?? [reply];
  return parts.map((p) => p.trim()).filter((p) => p.length > 0);
}

export class MediaLeg {
  readonly #sql: SqlStorage;
  #vad: VadState = initialVad();
  /** Samples of caller audio received so far (the caller track's clock). */
  #callerSamples: number;
  /** Where the agent's next audio starts (Twilio plays what it is sent in order). */
  #agentCursor: number;
  /** The caller track's sample where the current utterance began, or null while silent. */
  #utteranceStart: number | null = null;
  /** Bumped on every barge-in, so a reply being synthesized stops sending. */
  #interruptions = 0;
  /** The voice of an operator in control (their listen socket): VAD, recent frames, the utterance so far. */
  #operatorVad: VadState = initialVad();
  #operatorRecent: Uint8Array[] = [];
  #operatorUtterance: Uint8Array[] | null = null;

  constructor(sql: SqlStorage) {
    this.#sql = sql;
    const ends = sql
      .exec<{ caller: number | null; agent: number | null }>(
        `SELECT max(CASE WHEN track = 'caller' THEN end_sample END) AS caller,
                max(CASE WHEN track = 'agent' THEN coalesce(cut_sample, end_sample) END) AS agent FROM audio`,
      )
      .toArray()[0];
    this.#callerSamples = ends?.caller ?? 0;
    this.#agentCursor = ends?.agent ?? 0;
  }

  get callerMs(): number {
    return samplesToMs(this.#callerSamples);
  }

  /** A caller frame: stored, run through VAD; returns an utterance that ended or a barge-in. */
  receiveAudio(payload: string): MediaSignal {
    const bytes = fromBase64(payload);
    if (bytes.length === 0) return { kind: "none" };
    const start = this.#callerSamples;
    this.#callerSamples += bytes.length;
    this.#sql.exec(
      "INSERT INTO audio (track, start_sample, end_sample, bytes) VALUES ('caller', ?, ?, ?)",
      start,
      this.#callerSamples,
      bytes,
    );
    const step = vadStep(this.#vad, mulawToPcm(bytes));
    this.#vad = step.state;
    if (step.event === "speech_start") {
      this.#utteranceStart = Math.max(0, start - msToSamples(PRE_ROLL_MS) - this.#speechLead());
      const barge = this.#bargeIn();
      if (barge) return barge;
    }
    if (step.event === "speech_end" && this.#utteranceStart !== null) {
      const from = this.#utteranceStart;
      this.#utteranceStart = null;
      const audio = this.#callerAudio(from, this.#callerSamples);
      return { kind: "utterance", audio, durationMs: samplesToMs(audio.length) };
    }
    return { kind: "none" };
  }

  /** Samples of speech already heard when VAD confirmed it (it waits for a minimum length). */
  #speechLead(): number {
    return msToSamples(120);
  }

  #callerAudio(from: number, to: number): Uint8Array {
    const rows = this.#sql
      .exec<{ start_sample: number; bytes: ArrayBuffer }>(
        "SELECT start_sample, bytes FROM audio WHERE track = 'caller' AND end_sample > ? AND start_sample < ? ORDER BY start_sample",
        from,
        to,
      )
      .toArray();
    const out = new Uint8Array(Math.max(0, to - from));
    for (const row of rows) {
      const bytes = new Uint8Array(row.bytes);
      const offset = row.start_sample - from;
      const skip = Math.max(0, -offset);
      out.set(bytes.subarray(skip, Math.min(bytes.length, out.length - offset)), Math.max(0, offset));
    }
    return out;
  }

  /** Marks sent and not yet played: the agent is still talking. */
  speaking(): boolean {
    return (
      (this.#sql.exec<{ n: number }>("SELECT count(*) AS n FROM marks WHERE status = 'pending'").toArray()[0]
        ?.n ?? 0) > 0
    );
  }

  #bargeIn(): MediaSignal | null {
    const pending = this.#sql
      .exec<{ turn_seq: number }>(
        "SELECT turn_seq FROM marks WHERE status = 'pending' ORDER BY turn_seq DESC LIMIT 1",
      )
      .toArray()[0];
    if (!pending) return null;
    this.#interruptions++;
    const now = this.#callerSamples;
    this.#sql.exec("UPDATE marks SET status = 'cleared' WHERE status = 'pending'");
    // The recording keeps what was played: agent audio past this moment is cut.
    this.#sql.exec(
      "UPDATE audio SET cut_sample = max(start_sample, ?) WHERE track = 'agent' AND end_sample > ? AND cut_sample IS NULL",
      now,
      now,
    );
    this.#agentCursor = now;
    const heard = this.#sql
      .exec<{ text: string }>(
        "SELECT text FROM marks WHERE turn_seq = ? AND status = 'played' ORDER BY rowid",
        pending.turn_seq,
      )
      .toArray()
      .map((m) => m.text)
      .join(" ");
    return { kind: "barge_in", turnSeq: pending.turn_seq, heard, atMs: samplesToMs(now) };
  }

  /** A mark came back: its sentence has played (a mark for audio dropped by `clear` stays cleared). */
  markReturned(name: string): MediaSignal {
    this.#sql.exec("UPDATE marks SET status = 'played' WHERE name = ? AND status = 'pending'", name);
    return { kind: "played", name };
  }

  /** Whether a mark has come back (or was dropped by a barge-in), i.e. nothing of it is left to play. */
  done(name: string): boolean {
    const row = this.#sql
      .exec<{ status: string }>("SELECT status FROM marks WHERE name = ?", name)
      .toArray()[0];
    return row?.status !== "pending";
  }

  /**
   * Speaks a reply: each sentence synthesized, sent as 20 ms `media` frames and followed by a `mark`.
   * Stops early when the caller barges in meanwhile. Returns when the first audio went out (ISO) and the
   * last mark's name.
   */
  async speak(
    reply: string,
    turnSeq: number,
    synthesize: (text: string) => Promise<Uint8Array>,
    send: (frame: Record<string, unknown>) => void,
  ): Promise<{ firstAudioAt: string | null; lastMark: string | null }> {
    const interruptions = this.#interruptions;
    let firstAudioAt: string | null = null;
    let lastMark: string | null = null;
    const parts = sentences(reply);
    for (let i = 0; i < parts.length; i++) {
      const audio = await synthesize(parts[i]!);
      if (this.#interruptions !== interruptions) break;
      if (audio.length === 0) continue;
      const start = Math.max(this.#agentCursor, this.#callerSamples);
      this.#agentCursor = start + audio.length;
      const audioId = this.#sql
        .exec<{ id: number }>(
          "INSERT INTO audio (track, start_sample, end_sample, bytes) VALUES ('agent', ?, ?, ?) RETURNING id",
          start,
          this.#agentCursor,
          audio,
        )
        .one().id;
      for (const frame of splitFrames(audio, FRAME_BYTES))
        send({ event: "media", media: { payload: toBase64(frame) } });
      firstAudioAt ??= new Date().toISOString();
      const name = `t${turnSeq}.${i}`;
      this.#sql.exec(
        "INSERT OR REPLACE INTO marks (name, turn_seq, text, audio_id, status) VALUES (?, ?, ?, ?, 'pending')",
        name,
        turnSeq,
        parts[i]!,
        audioId,
      );
      send({ event: "mark", mark: { name } });
      lastMark = name;
    }
    return { firstAudioAt, lastMark };
  }

  /**
   * A frame of the operator's voice, already sent to the caller: kept on the outbound track of the
   * recording (after whatever was queued to play before it) and run through VAD; returns the operator's
   * utterance once it ends, for transcription into their turn. Held in memory only: an eviction mid-
   * sentence loses that sentence's transcript, never the recording.
   */
  operatorAudio(payload: string): Uint8Array | null {
    const bytes = fromBase64(payload);
    if (bytes.length === 0) return null;
    const start = Math.max(this.#agentCursor, this.#callerSamples);
    this.#agentCursor = start + bytes.length;
    this.#sql.exec(
      "INSERT INTO audio (track, start_sample, end_sample, bytes) VALUES ('agent', ?, ?, ?)",
      start,
      this.#agentCursor,
      bytes,
    );
    const step = vadStep(this.#operatorVad, mulawToPcm(bytes));
    this.#operatorVad = step.state;
    if (this.#operatorUtterance) this.#operatorUtterance.push(bytes);
    else {
      this.#operatorRecent.push(bytes);
      while (this.#operatorRecent.length * FRAME_BYTES > msToSamples(PRE_ROLL_MS))
        this.#operatorRecent.shift();
    }
    if (step.event === "speech_start" && !this.#operatorUtterance) {
      this.#operatorUtterance = this.#operatorRecent;
      this.#operatorRecent = [];
    }
    if (step.event !== "speech_end" || !this.#operatorUtterance) return null;
    const frames = this.#operatorUtterance;
    this.#operatorUtterance = null;
    const audio = new Uint8Array(frames.reduce((n, f) => n + f.length, 0));
    let offset = 0;
    for (const frame of frames) {
      audio.set(frame, offset);
      offset += frame.length;
    }
    return audio;
  }

  /** Seconds of call audio so far (the longer of the two tracks). */
  durationSamples(): number {
    return Math.max(this.#callerSamples, this.#agentCursor);
  }

  /** The two tracks as a stereo WAV stream (caller left, agent right), read lazily from storage. */
  recording(): { byteLength: number; stream: ReadableStream<Uint8Array>; seconds: number } {
    const total = this.durationSamples();
    const sql = this.#sql;
    // Paged reads, not one open cursor: the stream is consumed across awaits while other statements run.
    function* track(name: "caller" | "agent"): Iterable<TrackSegment> {
      let after = { start: -1, id: 0 };
      for (;;) {
        const rows = sql
          .exec<{ id: number; start_sample: number; cut_sample: number | null; bytes: ArrayBuffer }>(
            `SELECT id, start_sample, cut_sample, bytes FROM audio
              WHERE track = ? AND (start_sample > ? OR (start_sample = ? AND id > ?))
              ORDER BY start_sample, id LIMIT 250`,
            name,
            after.start,
            after.start,
            after.id,
          )
          .toArray();
        if (rows.length === 0) return;
        for (const row of rows) {
          const bytes = new Uint8Array(row.bytes);
          const keep =
            row.cut_sample === null ? bytes.length : Math.max(0, row.cut_sample - row.start_sample);
          if (keep > 0) yield { startSample: row.start_sample, audio: bytes.subarray(0, keep) };
          after = { start: row.start_sample, id: row.id };
        }
      }
    }
    const wav = stereoWav(total, track("caller"), track("agent"));
    return { ...wav, seconds: total / SAMPLE_RATE };
  }

  /** Forgets the audio (PHI) once the recording is stored. */
  forget() {
    this.#sql.exec("DELETE FROM audio");
    this.#sql.exec("UPDATE marks SET text = ''");
  }
}
