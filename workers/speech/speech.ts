/**
 * Speech-to-text and text-to-speech for the Media Streams path: the CallSession hears the caller as
 * μ-law 8 kHz (what Twilio sends) and answers in the same format, so neither direction needs resampling
 * or a container.
 *
 * Workers AI: Deepgram Nova-3 transcribes a finished utterance (raw μ-law, declared with `encoding` and
 * `sample_rate` as Deepgram requires for headerless audio; opted out of Deepgram's model-improvement
 * programme, since callers are patients); Deepgram Aura-1 speaks a reply as raw μ-law at 8 kHz
 * (`container: "none"`), ready to cut into 160-byte frames.
 *
 * Failures become a {@link SpeechError} with a code (and Workers AI's numeric error code when it gave
 * one), never the audio or the text. Chosen in one place, {@link speechServices}; tests swap the binding
 * with {@link setSpeechBinding}.
 */

import { SAMPLE_RATE } from "../../shared/audio/mulaw";
import { fromBase64 } from "../../shared/encoding";

export interface Transcript {
  text: string;
  /** The model's confidence in the transcript (0..1), when it gave one. */
  confidence: number | null;
}

export interface SpeechServices {
  readonly provider: string;
  /** Transcribes one utterance of μ-law 8 kHz mono audio; empty text when nothing was said. */
  transcribe(audio: Uint8Array): Promise<Transcript>;
  /** Speaks `text` as raw μ-law 8 kHz mono (no header). */
  synthesize(text: string): Promise<Uint8Array>;
}

export const STT_MODEL = "@cf/deepgram/nova-3";
export const TTS_MODEL = "@cf/deepgram/aura-1";
/** The Aura voice: a calm, clear female voice. */
export const TTS_SPEAKER = "asteria";
/** The Twilio media type of what we send; Deepgram reads the format from `encoding` and `sample_rate`. */
export const MULAW_CONTENT_TYPE = "audio/x-mulaw";

export type SpeechErrorCode =
  /** The binding threw (network, capacity, validation): see `upstreamCode`. */
  | "upstream_error"
  /** No answer within the time a caller can wait. */
  | "timeout"
  /** An answer, but not in the shape the model documents. */
  | "invalid_output";

/** Why speech failed, without the audio or the text. */
export class SpeechError extends Error {
  override readonly name = "SpeechError";
  constructor(
    readonly code: SpeechErrorCode,
    readonly operation: "transcribe" | "synthesize",
    /** Workers AI's numeric error code (e.g. "3040" for capacity), when its message carried one. */
    readonly upstreamCode: string | null = null,
  ) {
    super(`${operation} failed: ${code}${upstreamCode ? ` (${upstreamCode})` : ""}`);
  }
}

export interface SpeechOptions {
  /** How long one model call may take before it is abandoned, in ms. */
  timeoutMs?: number;
}

/** An utterance is at most 15 s; Nova-3 answers in well under a second, Aura streams from the start. */
const DEFAULT_TIMEOUT_MS = 10_000;

/** The Nova-3 input we send: the documented schema plus `sample_rate`, which raw audio requires. */
type NovaInput = Ai_Cf_Deepgram_Nova_3_Input & { sample_rate: number };

/** The error a binding call raised, as a {@link SpeechError}: a code and at most a 4-digit number. */
function speechError(operation: SpeechError["operation"], error: unknown): SpeechError {
  if (error instanceof SpeechError) return error;
  const name = error instanceof Error ? error.name : "";
  if (name === "TimeoutError" || name === "AbortError") return new SpeechError("timeout", operation);
  const message = error instanceof Error ? error.message : String(error);
  const upstreamCode = /\b(\d{4})\b/.exec(message)?.[1] ?? null;
  return new SpeechError("upstream_error", operation, upstreamCode);
}

/** Nova-3's answer: the first channel's best alternative. */
export function parseNovaOutput(output: unknown): Transcript {
  const alternative = (output as Ai_Cf_Deepgram_Nova_3_Output | null)?.results?.channels?.[0]
    ?.alternatives?.[0];
  if (!alternative || typeof alternative.transcript !== "string")
    throw new SpeechError("invalid_output", "transcribe");
  const confidence = alternative.confidence;
  return {
    text: alternative.transcript.trim(),
    confidence: typeof confidence === "number" && Number.isFinite(confidence) ? confidence : null,
  };
}

/** Aura's answer as bytes: the binding returns a stream; bytes, a Response or base64 text are taken too. */
export async function audioBytes(output: unknown): Promise<Uint8Array> {
  if (output instanceof ReadableStream || output instanceof Response)
    return new Uint8Array(
      await new Response(output instanceof Response ? output.body : output).arrayBuffer(),
    );
  if (output instanceof Uint8Array) return output;
  if (output instanceof ArrayBuffer) return new Uint8Array(output);
  if (ArrayBuffer.isView(output))
    return new Uint8Array(output.buffer, output.byteOffset, output.byteLength).slice();
  if (typeof output === "string") {
    try {
      return fromBase64(output);
    } catch {
      throw new SpeechError("invalid_output", "synthesize");
    }
  }
  throw new SpeechError("invalid_output", "synthesize");
}

/**
 * Runs `work` with a deadline: the signal goes to the binding, and the race holds even where the
 * binding does not listen to it.
 */
async function bounded<T>(timeoutMs: number, work: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const controller = new AbortController();
  let timer: ReturnType<typeof setTimeout> | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      const reason = new DOMException("The speech request timed out", "TimeoutError");
      controller.abort(reason);
      reject(reason);
    }, timeoutMs);
  });
  try {
    return await Promise.race([work(controller.signal), deadline]);
  } finally {
    // No timer outlives the request (a pending one keeps a Durable Object from being evicted).
    clearTimeout(timer);
  }
}

export function workersAiSpeech(ai: Pick<Ai, "run">, options: SpeechOptions = {}): SpeechServices {
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  return {
    provider: "workers-ai",

    async transcribe(audio) {
      if (audio.length === 0) return { text: "", confidence: null };
      const input: NovaInput = {
        audio: {
          body: new Blob([audio as Uint8Array<ArrayBuffer>]).stream(),
          contentType: MULAW_CONTENT_TYPE,
        },
        encoding: "mulaw",
        sample_rate: SAMPLE_RATE,
        language: "en",
        punctuate: true,
        smart_format: true,
        mip_opt_out: true,
      };
      let output: unknown;
      try {
        output = await bounded(timeoutMs, (signal) => ai.run(STT_MODEL, input, { signal }));
      } catch (error) {
        throw speechError("transcribe", error);
      }
      return parseNovaOutput(output);
    },

    async synthesize(text) {
      if (text.trim() === "") return new Uint8Array(0);
      const input: Ai_Cf_Deepgram_Aura_1_Input = {
        text,
        speaker: TTS_SPEAKER,
        encoding: "mulaw",
        sample_rate: SAMPLE_RATE,
        container: "none",
      };
      try {
        // The audio is read inside the deadline too: the binding answers with a stream.
        return await bounded(timeoutMs, async (signal) =>
          audioBytes(await ai.run(TTS_MODEL, input, { signal })),
        );
      } catch (error) {
        throw speechError("synthesize", error);
      }
    },
  };
}

let bindingOverride: Pick<Ai, "run"> | undefined;

/** Tests only: an AI binding to use instead of env.AI (pass nothing to restore). */
export function setSpeechBinding(ai?: Pick<Ai, "run">): void {
  bindingOverride = ai;
}

/** The speech services this environment has: Workers AI when env.AI exists, else null. */
export function speechServices(env: Env): SpeechServices | null {
  const ai = bindingOverride ?? env.AI;
  return ai ? workersAiSpeech(ai) : null;
}
