/**
 * A `CallSession`'s ConversationRelay socket (https://www.twilio.com/docs/voice/conversationrelay/websocket-messages):
 * the inbound frames parsed (`setup`, `prompt` with partial pieces, `dtmf`, `interrupt`, `error`) and turned
 * into the session's setup and turns, a barge-in trimming what the caller heard, and the bench echo.
 */
import { z } from "zod";
import { type CallChannels, sendFrame } from "./call-channels";
import { type CallStore, errorName, log, type SessionSteps } from "./call-state";

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

/** Handles the frames of a ConversationRelay socket (one at a time: the session queues them). */
export class RelayFrames {
  readonly #env: Env;
  readonly #sql: SqlStorage;
  readonly #store: CallStore;
  readonly #channels: CallChannels;
  readonly #steps: Pick<SessionSteps, "setup" | "turn">;

  constructor(
    env: Env,
    sql: SqlStorage,
    store: CallStore,
    channels: CallChannels,
    steps: Pick<SessionSteps, "setup" | "turn">,
  ) {
    this.#env = env;
    this.#sql = sql;
    this.#store = store;
    this.#channels = channels;
    this.#steps = steps;
  }

  async onMessage(ws: WebSocket, message: string | ArrayBuffer): Promise<void> {
    const callId = this.#store.get<string>("call_id");
    if (this.#store.get<string>("ended_at")) return;
    const frame = this.#store.parseFrame(InboundFrame, message);
    if (!frame) return;
    if (this.#env.BENCH_ECHO === "1" && this.#benchEcho(ws, frame)) return;
    try {
      switch (frame.type) {
        case "setup":
          return await this.#steps.setup(this.#channels.relay(ws), frame.callSid ?? null);
        case "prompt": {
          // With partial prompts on, `last: false` pieces come first; the turn runs on the complete one.
          const pending = (this.#store.get<string>("partial_prompt") ?? "") + frame.voicePrompt;
          if (frame.last === false) return this.#store.put("partial_prompt", pending);
          this.#store.delete("partial_prompt");
          return await this.#steps.turn(this.#channels.relay(ws), pending.trim());
        }
        case "dtmf":
          return await this.#steps.turn(this.#channels.relay(ws), frame.digit);
        case "interrupt":
          return this.#interrupted(frame.utteranceUntilInterrupt, frame.durationUntilInterruptMs);
        case "error":
          log("warn", "call.relay_error", { call_id: callId });
          this.#store.timeline("relay_error", {});
          return;
      }
    } catch (err) {
      log("error", "call.turn_failed", { call_id: callId, error: errorName(err) });
      this.#store.timeline("turn_failed", { error: errorName(err) });
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
      this.#store.put("bench_echo", true);
      sendFrame(ws, { type: "text", token: "echo", last: true });
      return true;
    }
    if (frame.type !== "prompt" || !this.#store.get<boolean>("bench_echo")) return false;
    sendFrame(ws, { type: "text", token: frame.voicePrompt, last: true });
    return true;
  }

  /** The caller barged in: the agent's last turn is what they heard, and the engine gets that next turn. */
  #interrupted(heard: string, durationMs: number | undefined) {
    const last = this.#sql
      .exec<{ seq: number; text: string }>(
        "SELECT seq, text FROM turns WHERE speaker IN ('agent', 'operator') ORDER BY seq DESC LIMIT 1",
      )
      .toArray()[0];
    if (!last) return;
    // Twilio reports the words spoken; never more than what was said.
    const trimmed = heard.length <= last.text.length ? heard : last.text;
    this.#sql.exec("UPDATE turns SET heard = ? WHERE seq = ?", trimmed, last.seq);
    this.#store.timeline("interrupt", { turn: last.seq, duration_ms: durationMs ?? null });
  }
}
