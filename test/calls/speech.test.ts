/**
 * Speech for the Media Streams path against a fake Workers AI binding that refuses what the real models
 * would refuse: the requests Nova-3 and Aura-1 get (raw μ-law 8 kHz both ways), how their answers are
 * read (transcript and confidence; audio as a stream or bytes), failures mapped to SpeechError codes
 * with nothing of the audio or text in them, the timeout, and the one place the services are chosen.
 */
import { env } from "cloudflare:workers";
import { afterEach, describe, expect, it } from "vitest";
import { pcmToMulaw } from "../../shared/audio/mulaw";
import { toBase64 } from "../../shared/encoding";
import {
  audioBytes,
  MULAW_CONTENT_TYPE,
  parseNovaOutput,
  SpeechError,
  setSpeechBinding,
  speechServices,
  workersAiSpeech,
} from "../../workers/speech/speech";
import { AURA_1, fakeAi, fakeSpeech, NOVA_3 } from "../helpers/fake-ai";

/** Half a second of a caller's μ-law audio (a tone stands in for a voice). */
const UTTERANCE = pcmToMulaw(Int16Array.from({ length: 4000 }, (_, i) => Math.round(6000 * Math.sin(i / 4))));
const REPLY = "Your appointment is on Tuesday at 3 PM.";

async function speechFailure(promise: Promise<unknown>): Promise<SpeechError> {
  const error = await promise.then(
    () => null,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(SpeechError);
  return error as SpeechError;
}

afterEach(() => setSpeechBinding());

describe("transcribe (Nova-3)", () => {
  it("sends raw μ-law at 8 kHz as a stream, and reads the first alternative", async () => {
    const ai = fakeAi({ transcripts: ["  I'd like to book an appointment. "], confidence: 0.87 });
    const transcript = await workersAiSpeech(ai).transcribe(UTTERANCE);
    expect(transcript).toEqual({ text: "I'd like to book an appointment.", confidence: 0.87 });
    expect(ai.violations).toEqual([]);
    expect(ai.calls).toHaveLength(1);
    const [call] = ai.calls;
    expect(call!.model).toBe(NOVA_3);
    expect(call!.inputs).toMatchObject({
      audio: { contentType: MULAW_CONTENT_TYPE, bytes: UTTERANCE.length },
      encoding: "mulaw",
      sample_rate: 8000,
      mip_opt_out: true,
    });
    expect(call!.audio).toEqual(UTTERANCE);
  });

  it("hands each utterance's own audio to the model, in order", async () => {
    const heard: number[] = [];
    const ai = fakeAi({
      transcripts: (audio, index) => {
        heard.push(audio.length);
        return `utterance ${index} of ${audio.length} bytes`;
      },
    });
    const speech = workersAiSpeech(ai);
    expect((await speech.transcribe(UTTERANCE.subarray(0, 800))).text).toBe("utterance 0 of 800 bytes");
    expect((await speech.transcribe(UTTERANCE)).text).toBe("utterance 1 of 4000 bytes");
    expect(heard).toEqual([800, 4000]);
  });

  it("gives a null confidence when the model gives none, and empty text for silence", async () => {
    const ai = fakeAi({ transcripts: [""], confidence: null });
    expect(await workersAiSpeech(ai).transcribe(UTTERANCE)).toEqual({ text: "", confidence: null });
  });

  it("does not call the model for no audio", async () => {
    const ai = fakeAi();
    expect(await workersAiSpeech(ai).transcribe(new Uint8Array(0))).toEqual({ text: "", confidence: null });
    expect(ai.calls).toEqual([]);
  });

  it.each([
    ["no results", {}],
    ["no channels", { results: { channels: [] } }],
    ["no transcript", { results: { channels: [{ alternatives: [{ confidence: 0.9 }] }] } }],
    ["not an object", "hello"],
  ])("refuses an answer with %s as invalid_output", async (_, output) => {
    const ai = fakeAi({ novaOutput: () => output });
    const error = await speechFailure(workersAiSpeech(ai).transcribe(UTTERANCE));
    expect(error).toMatchObject({ code: "invalid_output", operation: "transcribe" });
  });

  it("parses Deepgram's shape directly", () => {
    const output = {
      results: {
        channels: [{ alternatives: [{ transcript: "yes", confidence: 0.5 }, { transcript: "no" }] }],
      },
    };
    expect(parseNovaOutput(output)).toEqual({ text: "yes", confidence: 0.5 });
  });
});

describe("synthesize (Aura-1)", () => {
  it("asks for raw μ-law at 8 kHz and returns the streamed audio whole", async () => {
    const ai = fakeAi();
    const audio = await workersAiSpeech(ai).synthesize(REPLY);
    expect(ai.violations).toEqual([]);
    expect(ai.calls).toEqual([
      {
        model: AURA_1,
        inputs: { text: REPLY, speaker: "asteria", encoding: "mulaw", sample_rate: 8000, container: "none" },
      },
    ]);
    expect(audio).toEqual(fakeSpeech(REPLY));
    expect(audio).toHaveLength(REPLY.length * 480); // 60 ms a character at 8 kHz
  });

  it("takes the audio as bytes too", async () => {
    const ai = fakeAi({ ttsOutput: "bytes" });
    expect(await workersAiSpeech(ai).synthesize("Hello.")).toEqual(fakeSpeech("Hello."));
  });

  it("does not call the model for blank text", async () => {
    const ai = fakeAi();
    expect(await workersAiSpeech(ai).synthesize("  ")).toHaveLength(0);
    expect(ai.calls).toEqual([]);
  });

  it("reads every form the binding may answer in, and refuses others", async () => {
    const bytes = Uint8Array.of(1, 2, 255);
    expect(await audioBytes(new Blob([bytes]).stream())).toEqual(bytes);
    expect(await audioBytes(new Response(bytes))).toEqual(bytes);
    expect(await audioBytes(bytes.buffer)).toEqual(bytes);
    expect(await audioBytes(new DataView(bytes.buffer))).toEqual(bytes);
    expect(await audioBytes(toBase64(bytes))).toEqual(bytes);
    for (const bad of [null, 42, { audio: "x" }, "not base64!"])
      await expect(audioBytes(bad)).rejects.toMatchObject({ code: "invalid_output" });
  });
});

describe("failures", () => {
  it("maps a binding error to upstream_error with Workers AI's code, and nothing of the text", async () => {
    const ai = fakeAi({
      fail: (model) => new Error(`AiError: 3040: Capacity temporarily exceeded (${model}): "${REPLY}"`),
    });
    const speech = workersAiSpeech(ai);
    const tts = await speechFailure(speech.synthesize(REPLY));
    expect(tts).toMatchObject({ code: "upstream_error", operation: "synthesize", upstreamCode: "3040" });
    expect(tts.message).not.toContain("Tuesday");
    expect(tts.cause).toBeUndefined();
    const stt = await speechFailure(speech.transcribe(UTTERANCE));
    expect(stt).toMatchObject({ code: "upstream_error", operation: "transcribe", upstreamCode: "3040" });
    expect(stt.message).toBe("transcribe failed: upstream_error (3040)");
  });

  it("gives upstreamCode null when the error carries no code", async () => {
    const ai = fakeAi({ fail: () => new TypeError("network connection lost") });
    const error = await speechFailure(workersAiSpeech(ai).transcribe(UTTERANCE));
    expect(error).toMatchObject({ code: "upstream_error", upstreamCode: null });
  });

  it("times out a model that takes too long", async () => {
    const ai = fakeAi({ delayMs: 1000 });
    const speech = workersAiSpeech(ai, { timeoutMs: 30 });
    expect(await speechFailure(speech.transcribe(UTTERANCE))).toMatchObject({ code: "timeout" });
    expect(await speechFailure(speech.synthesize(REPLY))).toMatchObject({ code: "timeout" });
  });

  it("times out even a binding that ignores the abort signal", async () => {
    const stuck = { run: (() => new Promise(() => {})) as unknown as Ai["run"] };
    const error = await speechFailure(workersAiSpeech(stuck, { timeoutMs: 20 }).synthesize(REPLY));
    expect(error.code).toBe("timeout");
  });
});

describe("the fake binding refuses what Workers AI would", () => {
  const stream = () => new Blob([UTTERANCE]).stream();
  const run = (ai: ReturnType<typeof fakeAi>, model: string, inputs: unknown) =>
    (ai.run as unknown as (model: string, inputs: unknown) => Promise<unknown>)(model, inputs);

  it.each([
    [
      "no encoding",
      { audio: { body: stream(), contentType: "audio/x-mulaw" }, sample_rate: 8000 },
      /encoding/,
    ],
    [
      "no sample_rate",
      { audio: { body: stream(), contentType: "audio/x-mulaw" }, encoding: "mulaw" },
      /sample_rate/,
    ],
    [
      "bytes for a body",
      { audio: { body: UTTERANCE, contentType: "audio/x-mulaw" }, encoding: "mulaw", sample_rate: 8000 },
      /ReadableStream/,
    ],
    ["no contentType", { audio: { body: stream() }, encoding: "mulaw", sample_rate: 8000 }, /contentType/],
    [
      "an unknown encoding",
      { audio: { body: stream(), contentType: "audio/x-mulaw" }, encoding: "ulaw", sample_rate: 8000 },
      /encoding/,
    ],
    [
      "an unknown key",
      {
        audio: { body: stream(), contentType: "audio/x-mulaw" },
        encoding: "mulaw",
        sample_rate: 8000,
        model: "nova-3",
      },
      /unknown input "model"/,
    ],
  ])("Nova-3 with %s", async (_, inputs, problem) => {
    const ai = fakeAi();
    await expect(run(ai, NOVA_3, inputs)).rejects.toThrow(problem);
    expect(ai.violations).toHaveLength(1);
  });

  it("Nova-3 takes a WAV without encoding or sample_rate", async () => {
    const ai = fakeAi({ transcripts: ["ok"] });
    await run(ai, NOVA_3, { audio: { body: stream(), contentType: "audio/wav" } });
    expect(ai.violations).toEqual([]);
  });

  it.each([
    ["no text", { encoding: "mulaw", sample_rate: 8000 }, /text/],
    ["μ-law at 24 kHz", { text: "hi", encoding: "mulaw", sample_rate: 24000 }, /8000 or 16000/],
    ["μ-law without a rate", { text: "hi", encoding: "mulaw" }, /sample_rate/],
    ["an unknown speaker", { text: "hi", speaker: "alice" }, /speaker/],
    ["an unknown container", { text: "hi", container: "raw" }, /container/],
  ])("Aura-1 with %s", async (_, inputs, problem) => {
    const ai = fakeAi();
    await expect(run(ai, AURA_1, inputs)).rejects.toThrow(problem);
  });

  it("refuses a misspelt model, and passes other models to `other`", async () => {
    await expect(run(fakeAi(), "@cf/deepgram/nova3", { audio: {} })).rejects.toThrow(/no such model/);
    const ai = fakeAi({ other: (model, inputs) => ({ response: `${model}:${Object.keys(inputs)}` }) });
    expect(await run(ai, "@cf/meta/llama", { messages: [] })).toEqual({
      response: "@cf/meta/llama:messages",
    });
    expect(ai.calls).toEqual([{ model: "@cf/meta/llama", inputs: { messages: [] } }]);
  });
});

describe("speechServices", () => {
  it("is null without an AI binding, and Workers AI with one", async () => {
    expect((env as Env).AI).toBeUndefined();
    expect(speechServices(env)).toBeNull();
    const ai = fakeAi({ transcripts: ["hello"] });
    setSpeechBinding(ai);
    const services = speechServices(env);
    expect(services?.provider).toBe("workers-ai");
    expect((await services!.transcribe(UTTERANCE)).text).toBe("hello");
    expect(ai.calls).toHaveLength(1);
    setSpeechBinding();
    expect(speechServices(env)).toBeNull();
  });

  it("uses env.AI when it is there", async () => {
    const ai = fakeAi({ transcripts: ["from env"] });
    const services = speechServices({ ...env, AI: ai as unknown as Ai });
    expect((await services!.transcribe(UTTERANCE)).text).toBe("from env");
  });
});
