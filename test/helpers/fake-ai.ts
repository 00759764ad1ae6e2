/**
 * A stand-in for the Workers AI binding (`env.AI`) in tests of the speech path. It refuses requests the
 * real models would refuse, the way their schemas (workers/worker-configuration.d.ts) and Deepgram's
 * rules for raw audio say, so a test passes only when the request is one Workers AI would take:
 *
 * - `@cf/deepgram/nova-3`: `audio: { body: ReadableStream, contentType }`; raw μ-law needs `encoding`
 *   and `sample_rate`; only the schema's keys. Answers with Deepgram's shape, the transcript chosen by
 *   the test (`transcripts`: a queue, or a function of the audio heard and the call's index).
 * - `@cf/deepgram/aura-1`: `text` required; `encoding`/`container`/`sample_rate` from the schema's
 *   values, μ-law only at 8 or 16 kHz. Answers with {@link fakeSpeech}: 60 ms of a 440 Hz tone per
 *   character, μ-law, as a ReadableStream (what the binding returns) or bytes (`ttsOutput: "bytes"`).
 * - any other model goes to `other`, or is refused.
 *
 * Every call is recorded (`calls`: the model and a summary of its inputs); every refused request is
 * also kept in `violations`, so a test can assert there were none even when the code under test
 * swallowed the error.
 */
import { pcmToMulaw, SAMPLE_RATE } from "../../shared/audio/mulaw";

export const NOVA_3 = "@cf/deepgram/nova-3";
export const AURA_1 = "@cf/deepgram/aura-1";

/** What the fake recorded about one call. */
export interface FakeAiCall {
  model: string;
  inputs: Record<string, unknown>;
  /** Nova-3: the audio body's bytes (read from the stream). */
  audio?: Uint8Array;
}

export interface FakeAiOptions {
  /** Nova-3 transcripts: a queue (empty text once it runs out), or chosen from the audio heard. */
  transcripts?: string[] | ((audio: Uint8Array, callIndex: number) => string);
  /** Nova-3's confidence for every transcript; null leaves it out of the answer. */
  confidence?: number | null;
  /** How Aura-1's audio comes back: a stream (the real binding's form, the default) or bytes. */
  ttsOutput?: "stream" | "bytes";
  /** An error to throw instead of answering (after the request passed the checks), per call. */
  fail?: (model: string, callIndex: number) => Error | undefined;
  /** Delay before answering, in ms (honours the request's abort signal like the binding). */
  delayMs?: number;
  /** Any other model (e.g. a chat model): answer for it, or leave unset to refuse it. */
  other?: (model: string, inputs: Record<string, unknown>) => unknown;
  /** Answer Nova-3 with this raw output instead of a transcript (to test parsing). */
  novaOutput?: (audio: Uint8Array, callIndex: number) => unknown;
}

export interface FakeAi {
  run: Ai["run"];
  readonly calls: FakeAiCall[];
  /** Why requests were refused, in order. */
  readonly violations: string[];
}

const NOVA_KEYS = new Set([
  "audio",
  "custom_topic_mode",
  "custom_topic",
  "custom_intent_mode",
  "custom_intent",
  "detect_entities",
  "detect_language",
  "diarize",
  "dictation",
  "encoding",
  "extra",
  "filler_words",
  "keyterm",
  "keywords",
  "language",
  "measurements",
  "mip_opt_out",
  "mode",
  "multichannel",
  "numerals",
  "paragraphs",
  "profanity_filter",
  "punctuate",
  "redact",
  "replace",
  "search",
  "sentiment",
  "smart_format",
  "topics",
  "utterances",
  "utt_split",
  "channels",
  "interim_results",
  "endpointing",
  "vad_events",
  "utterance_end_ms",
  // Not in the typed schema, but Deepgram requires it for headerless audio (with `encoding`).
  "sample_rate",
]);
const NOVA_ENCODINGS = ["linear16", "flac", "mulaw", "amr-nb", "amr-wb", "opus", "speex", "g729"];
const NOVA_BOOLEANS = [
  "detect_entities",
  "detect_language",
  "diarize",
  "dictation",
  "filler_words",
  "measurements",
  "mip_opt_out",
  "multichannel",
  "numerals",
  "paragraphs",
  "profanity_filter",
  "punctuate",
  "sentiment",
  "smart_format",
  "topics",
  "utterances",
];
/** Content types that carry their own format: with these, `encoding` and `sample_rate` are left out. */
const CONTAINER_TYPES = /^audio\/(wav|wave|x-wav|mpeg|mp3|mp4|ogg|webm|flac|aac|m4a)\b/i;

const AURA_KEYS = new Set(["speaker", "encoding", "container", "text", "sample_rate", "bit_rate"]);
const AURA_SPEAKERS = [
  "angus",
  "asteria",
  "arcas",
  "orion",
  "orpheus",
  "athena",
  "luna",
  "zeus",
  "perseus",
  "helios",
  "hera",
  "stella",
];
const AURA_ENCODINGS = ["linear16", "flac", "mulaw", "alaw", "mp3", "opus", "aac"];
const AURA_CONTAINERS = ["none", "wav", "ogg"];

/** Aura-1's fake voice: 60 ms of a 440 Hz tone per character of `text`, μ-law 8 kHz. */
export function fakeSpeech(text: string): Uint8Array {
  const samples = new Int16Array(text.length * 60 * (SAMPLE_RATE / 1000));
  for (let i = 0; i < samples.length; i++)
    samples[i] = Math.round(8000 * Math.sin((2 * Math.PI * 440 * i) / SAMPLE_RATE));
  return pcmToMulaw(samples);
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function refuse(violations: string[], model: string, problem: string): never {
  violations.push(`${model}: ${problem}`);
  throw new Error(`fakeAi: ${model} refused the request: ${problem}`);
}

function checkNova(inputs: Record<string, unknown>, fail: (problem: string) => never): ReadableStream {
  for (const key of Object.keys(inputs)) if (!NOVA_KEYS.has(key)) fail(`unknown input "${key}"`);
  const audio = inputs.audio;
  if (!isRecord(audio)) fail("audio must be { body, contentType }");
  if (!(audio.body instanceof ReadableStream))
    fail(`audio.body must be a ReadableStream, got ${audio.body?.constructor?.name ?? typeof audio.body}`);
  if (typeof audio.contentType !== "string" || audio.contentType === "")
    fail("audio.contentType must be a non-empty string");
  for (const key of Object.keys(audio))
    if (key !== "body" && key !== "contentType") fail(`unknown audio field "${key}"`);
  const contained = CONTAINER_TYPES.test(audio.contentType);
  if (inputs.encoding !== undefined && !NOVA_ENCODINGS.includes(inputs.encoding as string))
    fail(`encoding must be one of ${NOVA_ENCODINGS.join(", ")}`);
  if (!contained) {
    if (inputs.encoding === undefined) fail("raw audio needs an encoding");
    if (inputs.sample_rate === undefined) fail("raw audio needs a sample_rate");
  }
  if (inputs.sample_rate !== undefined) {
    if (inputs.encoding === undefined) fail("sample_rate without encoding");
    if (!Number.isInteger(inputs.sample_rate) || (inputs.sample_rate as number) <= 0)
      fail("sample_rate must be a positive integer");
  }
  for (const key of NOVA_BOOLEANS)
    if (inputs[key] !== undefined && typeof inputs[key] !== "boolean") fail(`${key} must be a boolean`);
  if (inputs.language !== undefined && typeof inputs.language !== "string") fail("language must be a string");
  return audio.body;
}

function checkAura(inputs: Record<string, unknown>, fail: (problem: string) => never) {
  for (const key of Object.keys(inputs)) if (!AURA_KEYS.has(key)) fail(`unknown input "${key}"`);
  if (typeof inputs.text !== "string" || inputs.text === "") fail("text must be a non-empty string");
  if (inputs.speaker !== undefined && !AURA_SPEAKERS.includes(inputs.speaker as string))
    fail(`speaker must be one of ${AURA_SPEAKERS.join(", ")}`);
  if (inputs.encoding !== undefined && !AURA_ENCODINGS.includes(inputs.encoding as string))
    fail(`encoding must be one of ${AURA_ENCODINGS.join(", ")}`);
  if (inputs.container !== undefined && !AURA_CONTAINERS.includes(inputs.container as string))
    fail(`container must be one of ${AURA_CONTAINERS.join(", ")}`);
  if (inputs.sample_rate !== undefined && typeof inputs.sample_rate !== "number")
    fail("sample_rate must be a number");
  if (inputs.encoding === "mulaw") {
    if (inputs.sample_rate === undefined) fail("mulaw needs a sample_rate");
    if (inputs.sample_rate !== 8000 && inputs.sample_rate !== 16000) fail("mulaw is 8000 or 16000 Hz");
    if (inputs.container === "ogg") fail("mulaw cannot go in an ogg container");
  }
}

function wait(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const timer = setTimeout(resolve, ms);
    signal?.addEventListener("abort", () => {
      clearTimeout(timer);
      reject(signal.reason);
    });
  });
}

/** A fake Workers AI binding; see the module comment. */
export function fakeAi(options: FakeAiOptions = {}): FakeAi {
  const calls: FakeAiCall[] = [];
  const violations: string[] = [];
  const queue = Array.isArray(options.transcripts) ? [...options.transcripts] : [];
  const counts = new Map<string, number>();

  async function run(model: string, inputs: unknown, runOptions?: AiOptions): Promise<unknown> {
    const callIndex = counts.get(model) ?? 0;
    counts.set(model, callIndex + 1);
    const fail = (problem: string): never => refuse(violations, model, problem);
    if (!isRecord(inputs)) return fail("inputs must be an object");

    if (model === NOVA_3) {
      const body = checkNova(inputs, fail);
      const audio = new Uint8Array(await new Response(body).arrayBuffer());
      const { audio: _stream, ...rest } = inputs;
      const contentType = (inputs.audio as { contentType: string }).contentType;
      calls.push({ model, inputs: { ...rest, audio: { contentType, bytes: audio.length } }, audio });
      await answerAfterDelay(model, callIndex, runOptions);
      if (options.novaOutput) return options.novaOutput(audio, callIndex);
      const transcript =
        typeof options.transcripts === "function"
          ? options.transcripts(audio, callIndex)
          : (queue.shift() ?? "");
      const confidence = options.confidence === undefined ? 0.93 : options.confidence;
      return {
        results: {
          channels: [
            { alternatives: [{ transcript, ...(confidence === null ? {} : { confidence }), words: [] }] },
          ],
        },
      };
    }

    if (model === AURA_1) {
      checkAura(inputs, fail);
      calls.push({ model, inputs: { ...inputs } });
      await answerAfterDelay(model, callIndex, runOptions);
      const audio = fakeSpeech(inputs.text as string);
      return options.ttsOutput === "bytes" ? audio : new Blob([audio as Uint8Array<ArrayBuffer>]).stream();
    }

    if (options.other) {
      calls.push({ model, inputs: { ...inputs } });
      return options.other(model, inputs);
    }
    return fail("no such model in this fake (pass `other` to answer it)");
  }

  async function answerAfterDelay(model: string, callIndex: number, runOptions?: AiOptions) {
    if (options.delayMs) await wait(options.delayMs, runOptions?.signal);
    const error = options.fail?.(model, callIndex);
    if (error) throw error;
  }

  return { run: run as unknown as Ai["run"], calls, violations };
}
