/**
 * A `CallSession`'s Media Streams socket: Twilio's frames (`start`, inbound `media`, `mark`, `dtmf`, `stop`)
 * through `MediaLeg` (barge-in, utterances, marks), each utterance transcribed into a turn, and the end once
 * the goodbye's last mark is back (a transfer redirected through Twilio's REST API). Also the voice of the
 * operator in control, sent from their listen socket to the caller and transcribed into their turn.
 */
import { z } from "zod";
import type { EngineState } from "../shared/engine/engine";
import { speechServices } from "../workers/speech/speech";
import { redirectCall, twilioCredentials } from "../workers/telephony/twilio-rest";
import { handoffTwiml } from "../workers/telephony/twiml";
import { type CallChannels, sendFrame } from "./call-channels";
import { MediaFrame, type MediaLeg } from "./call-media";
import type { OperatorDesk } from "./call-operators";
import { type CallMeta, type CallStore, type Ending, errorName, log, type SessionSteps } from "./call-state";

/** What a listen socket may send: the voice of the operator in control, 20 ms of base64 μ-law a frame. */
const ListenerInbound = z.discriminatedUnion("type", [
  z.object({ type: z.literal("media"), payload: z.string().max(16_000) }),
]);

/** What the Media Streams frames need of the session. */
export type StreamSteps = Pick<SessionSteps, "enqueue" | "setup" | "turn" | "finish">;

/** Handles the frames of the call's Media Streams socket and of the operator's voice. */
export class MediaStreams {
  readonly #ctx: Pick<DurableObjectState, "getWebSockets">;
  readonly #env: Env;
  readonly #sql: SqlStorage;
  readonly #store: CallStore;
  readonly #media: MediaLeg;
  readonly #desk: OperatorDesk;
  readonly #channels: CallChannels;
  readonly #steps: StreamSteps;

  constructor(
    ctx: DurableObjectState,
    env: Env,
    parts: { store: CallStore; media: MediaLeg; desk: OperatorDesk; channels: CallChannels },
    steps: StreamSteps,
  ) {
    this.#ctx = ctx;
    this.#env = env;
    this.#sql = ctx.storage.sql;
    this.#store = parts.store;
    this.#media = parts.media;
    this.#desk = parts.desk;
    this.#channels = parts.channels;
    this.#steps = steps;
  }

  async onFrame(ws: WebSocket, message: string | ArrayBuffer): Promise<void> {
    const callId = this.#store.get<string>("call_id");
    if (this.#store.get<string>("finished_at")) return;
    const frame = this.#store.parseFrame(MediaFrame, message);
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
        this.#store.put("stream_sid", frame.start.streamSid);
        return this.#steps.enqueue(() => this.#steps.setup(this.#channels.media(ws), frame.start.callSid));
      }
      case "media": {
        if (frame.media.track && frame.media.track !== "inbound") return;
        if (this.#store.get<string>("ended_at")) return;
        const signal = this.#media.receiveAudio(frame.media.payload);
        this.#desk.tell({ type: "audio", track: "inbound", payload: frame.media.payload });
        if (signal.kind === "barge_in") {
          sendFrame(ws, { event: "clear", streamSid: this.#store.get<string>("stream_sid") });
          this.#sql.exec("UPDATE turns SET heard = ? WHERE seq = ?", signal.heard, signal.turnSeq);
          this.#store.timeline("interrupt", { turn: signal.turnSeq, at_ms: Math.round(signal.atMs) });
          return this.#steps.enqueue(() => this.endIfGoodbyeDone(ws));
        }
        if (signal.kind === "utterance") {
          const audio = signal.audio;
          return this.#steps.enqueue(() => this.#transcribeAndTurn(ws, audio));
        }
        return;
      }
      case "mark":
        this.#media.markReturned(frame.mark.name);
        return this.#steps.enqueue(() => this.endIfGoodbyeDone(ws));
      case "dtmf":
        return this.#steps.enqueue(() => this.#steps.turn(this.#channels.media(ws), frame.dtmf.digit));
      case "stop":
        return this.#steps.enqueue(() => this.#steps.finish("hangup"));
    }
  }

  async #transcribeAndTurn(ws: WebSocket, audio: Uint8Array) {
    if (this.#store.get<string>("ended_at") || !this.#store.get<CallMeta>("call")) return;
    const speech = speechServices(this.#env);
    if (!speech) return;
    const started = performance.now();
    let text: string;
    try {
      text = (await speech.transcribe(audio)).text.trim();
    } catch (err) {
      log("warn", "call.transcription_failed", {
        call_id: this.#store.get<string>("call_id"),
        error: errorName(err),
      });
      this.#store.timeline("stt_failed", { code: (err as { code?: string }).code ?? null });
      return;
    }
    this.#store.timeline("stt", { ms: Math.round(performance.now() - started), empty: text === "" });
    // Noise that passed the voice detector transcribes to nothing: not a turn.
    if (text) await this.#steps.turn(this.#channels.media(ws), text);
  }

  /** On Media Streams the call ends once the goodbye's last mark has come back (or was cleared). */
  async endIfGoodbyeDone(ws: WebSocket) {
    const pending = this.#store.get<Ending & { mark: string | null }>("pending_end");
    if (!pending || (pending.mark && !this.#media.done(pending.mark))) return;
    this.#store.delete("pending_end");
    await this.#completeEnding(pending, ws);
  }

  /** After the goodbye: a transfer is made through Twilio's REST API; then the stream closes. */
  async #completeEnding(ending: Ending, ws: WebSocket) {
    const meta = this.#store.get<CallMeta>("call");
    if (meta && (ending.reason === "transfer" || ending.reason === "escalation")) {
      const creds = twilioCredentials(this.#env);
      if (creds && meta.callSid) {
        const twiml = handoffTwiml(ending.handoff);
        try {
          await redirectCall(creds, meta.callSid, twiml);
          this.#store.timeline("handoff", { reason: ending.reason, redirected: true });
        } catch (err) {
          log("warn", "call.redirect_failed", { call_id: meta.callId, error: errorName(err) });
          this.#store.timeline("handoff", {
            reason: ending.reason,
            redirected: false,
            error: errorName(err),
          });
        }
      } else {
        log("warn", "call.handoff_unavailable", { call_id: meta.callId, reason: ending.reason });
        this.#store.timeline("handoff", { reason: ending.reason, redirected: false });
      }
    }
    try {
      ws.close(1000, "call ended");
    } catch {
      // Already closed.
    }
    await this.#steps.finish(ending.reason);
  }

  /**
   * The operator in control speaking on a Media Streams call through their listen socket: the audio goes to
   * the caller (and to the other listeners) at once, and each utterance is transcribed into their turn.
   */
  onListenerFrame(ws: WebSocket, message: string | ArrayBuffer) {
    const frame = this.#store.parseFrame(ListenerInbound, message);
    if (!frame || this.#store.get<string>("ended_at")) return;
    const { operator } = (ws.deserializeAttachment() ?? {}) as { operator?: string };
    const control = this.#desk.control();
    if (control.mode !== "operator" || !operator || control.operatorUserId !== operator) return;
    const twilio = this.#ctx.getWebSockets("media_streams")[0];
    if (!twilio) return;
    sendFrame(twilio, {
      event: "media",
      streamSid: this.#store.get<string>("stream_sid"),
      media: { payload: frame.payload },
    });
    this.#desk.tell({ type: "audio", track: "outbound", payload: frame.payload }, ws);
    const utterance = this.#media.operatorAudio(frame.payload);
    if (utterance) return this.#steps.enqueue(() => this.#transcribeOperator(operator, utterance));
  }

  /** An operator's spoken utterance becomes their turn (already heard by the caller: nothing is said). */
  async #transcribeOperator(operator: string, audio: Uint8Array) {
    const speech = speechServices(this.#env);
    if (!speech || this.#store.get<string>("finished_at")) return;
    const at = new Date().toISOString();
    let text: string;
    try {
      text = (await speech.transcribe(audio)).text.trim();
    } catch (err) {
      log("warn", "call.transcription_failed", {
        call_id: this.#store.get<string>("call_id"),
        error: errorName(err),
      });
      this.#store.timeline("stt_failed", { operator, code: (err as { code?: string }).code ?? null });
      return;
    }
    if (!text) return;
    const seq = this.#sql
      .exec<{ seq: number }>(
        `INSERT INTO turns (speaker, text, state_id, started_at, ended_at, operator_user_id)
         VALUES ('operator', ?, ?, ?, ?, ?) RETURNING seq`,
        text,
        this.#store.get<EngineState>("engine_state")?.state_id ?? null,
        at,
        new Date().toISOString(),
        operator,
      )
      .one().seq;
    this.#desk.tellTurn(seq);
    this.#store.timeline("operator_said", { operator, length: text.length, voice: true });
  }
}
