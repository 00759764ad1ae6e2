/**
 * How a `CallSession`'s replies reach the caller: a `Channel` per transport (ConversationRelay text tokens,
 * Media Streams synthesized audio through `MediaLeg`, or one SMS per reply through the Messaging queue),
 * and which one a call has now. Listeners hear the audio the caller hears.
 */
import { openFromNumber } from "../workers/db/calls";
import { speechServices } from "../workers/speech/speech";
import { queueSms } from "../workers/telephony/messaging";
import type { MediaLeg } from "./call-media";
import type { OperatorDesk } from "./call-operators";
import type { CallMeta, CallStore, Channel } from "./call-state";

/** Splits a reply into a few tokens the way a streaming model would send them (words keep their spaces). */
export function replyTokens(reply: string, parts = 3): string[] {
  const words = reply.match(/\S+\s*/g) ?? [];
  if (words.length === 0) return [reply];
  const size = Math.max(1, Math.ceil(words.length / parts));
  const tokens: string[] = [];
  for (let i = 0; i < words.length; i += size) tokens.push(words.slice(i, i + size).join(""));
  return tokens;
}

/** One JSON frame to a socket (Twilio's or a simulator's). */
export function sendFrame(ws: WebSocket, frame: Record<string, unknown>) {
  ws.send(JSON.stringify(frame));
}

/**
 * Streams (part of) a reply as a few `text` tokens, the last of the final part with `last: true` (an
 * empty final part is just that marker); returns when the first went out.
 */
export function speakTokens(ws: WebSocket, reply: string, final = true): string {
  const tokens = reply ? replyTokens(reply) : [""];
  // A part that continues the reply starts with its space; tokens keep only spaces after words.
  if (/^\s/.test(reply)) tokens[0] = ` ${tokens[0]}`;
  let firstAt = "";
  tokens.forEach((token, i) => {
    sendFrame(ws, { type: "text", token, last: final && i === tokens.length - 1 });
    if (i === 0) firstAt = new Date().toISOString();
  });
  return firstAt;
}

/** Builds the call's channels over the session's sockets, storage and media leg. */
export class CallChannels {
  readonly #ctx: Pick<DurableObjectState, "getWebSockets">;
  readonly #env: Env;
  readonly #store: CallStore;
  readonly #media: MediaLeg;
  readonly #desk: OperatorDesk;

  constructor(
    ctx: Pick<DurableObjectState, "getWebSockets">,
    env: Env,
    store: CallStore,
    media: MediaLeg,
    desk: OperatorDesk,
  ) {
    this.#ctx = ctx;
    this.#env = env;
    this.#store = store;
    this.#media = media;
    this.#desk = desk;
  }

  /** The channel a ConversationRelay socket speaks through. */
  relay(ws: WebSocket): Channel {
    return {
      transport: "conversation_relay",
      say: async (text, _turnSeq, final) => ({ firstAt: speakTokens(ws, text, final), lastMark: null }),
      send: (frame) => sendFrame(ws, frame),
    };
  }

  /** The channel a Media Streams socket speaks through: synthesized sentences, each followed by a mark. */
  media(ws: WebSocket): Channel {
    return {
      transport: "media_streams",
      say: async (reply, turnSeq) => {
        const speech = speechServices(this.#env);
        if (!speech) throw new Error("speech services not configured");
        const streamSid = this.#store.get<string>("stream_sid");
        const spoken = await this.#media.speak(
          reply,
          turnSeq,
          (text) => speech.synthesize(text),
          (frame) => {
            sendFrame(ws, { ...frame, streamSid });
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
  sms(): Channel {
    return {
      transport: "sms",
      say: async (reply, turnSeq) => {
        const meta = this.#store.get<CallMeta>("call");
        if (!meta?.fromNumberEnc) return { firstAt: null, lastMark: null };
        const to = await openFromNumber(
          this.#env.ENCRYPTION_KEY,
          meta.workspaceId,
          meta.callId,
          meta.fromNumberEnc,
        );
        await queueSms(this.#env, {
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
  current(): Channel | null {
    const meta = this.#store.get<CallMeta>("call");
    if (meta?.transport === "sms") return this.sms();
    const media = this.#ctx.getWebSockets("media_streams")[0];
    if (media) return this.media(media);
    const relay = this.#ctx.getWebSockets("conversation_relay")[0];
    return relay ? this.relay(relay) : null;
  }
}
