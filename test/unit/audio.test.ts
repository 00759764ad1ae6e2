/**
 * The Media Streams audio building blocks on synthetic audio: the μ-law codec and frame sums, base64 for
 * media payloads, the voice activity detector (silence, line noise, tones and noise bursts as speech at
 * telephone levels after a μ-law round trip, clicks, pauses shorter and longer than the end of an
 * utterance, the length cut, state surviving JSON), and the streamed stereo WAV (parsed by `wavefile`,
 * samples on the right channel at the right offset, mixing, cutting, lazy reading of the segments).
 */
import { describe, expect, it } from "vitest";
import { WaveFile } from "wavefile";
import {
  FRAME_BYTES,
  msToSamples,
  mulawToPcm,
  pcmToMulaw,
  SAMPLE_RATE,
  samplesToMs,
  splitFrames,
} from "../../shared/audio/mulaw";
import {
  DEFAULT_VAD,
  frameLevelDb,
  initialVad,
  type VadEvent,
  type VadState,
  vadStep,
} from "../../shared/audio/vad";
import { stereoWav, type TrackSegment } from "../../shared/audio/wav";
import { fromBase64, fromBase64Url, toBase64, toBase64Url } from "../../shared/encoding";

// ---------------------------------------------------------------------------------------------------------
// Synthetic audio

/** A deterministic PRNG (mulberry32), so noise is the same on every run. */
function random(seed: number) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const silence = (ms: number) => new Float64Array(msToSamples(ms));
const tone = (ms: number, amplitude: number, hz = 300) =>
  Float64Array.from(
    { length: msToSamples(ms) },
    (_, i) => amplitude * Math.sin((2 * Math.PI * hz * i) / SAMPLE_RATE),
  );
function noise(ms: number, amplitude: number, seed = 1) {
  const next = random(seed);
  return Float64Array.from({ length: msToSamples(ms) }, () => amplitude * (2 * next() - 1));
}
function concat(...parts: Float64Array[]) {
  const out = new Float64Array(parts.reduce((n, p) => n + p.length, 0));
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}
/** Sums signals of the same length (speech over the line's noise). */
const over = (a: Float64Array, b: Float64Array) => a.map((x, i) => x + (b[i] ?? 0));
/** What the session sees: the signal through μ-law (as Twilio sends it) and back to PCM. */
const telephone = (signal: Float64Array) =>
  mulawToPcm(pcmToMulaw(Int16Array.from(signal, (x) => Math.max(-32768, Math.min(32767, Math.round(x))))));

/** Line noise at about -55 dBFS (uniform, amplitude 100: RMS 58). */
const LINE_NOISE = 100;
/** A voice at about -17.8 dBFS (a 300 Hz tone, amplitude 6000). */
const VOICE = 6000;
/** Speech over line noise for `ms`, then line noise only (`seed` keeps noise from repeating exactly). */
const spoken = (ms: number, seed: number, amplitude = VOICE) =>
  over(tone(ms, amplitude), noise(ms, LINE_NOISE, seed));

interface Timed {
  event: VadEvent;
  /** The end of the frame that raised it, in ms from the start. */
  atMs: number;
}

/** Runs the detector over 20 ms frames; `persist` sends the state through JSON between frames. */
function detect(pcm: Int16Array, options: { persist?: boolean } = {}) {
  let state: VadState = initialVad();
  const events: Timed[] = [];
  let atMs = 0;
  for (let offset = 0; offset < pcm.length; offset += FRAME_BYTES) {
    const frame = pcm.subarray(offset, offset + FRAME_BYTES);
    const step = vadStep(state, frame);
    atMs += samplesToMs(frame.length);
    if (step.event !== "none") events.push({ event: step.event, atMs });
    expect(step.speaking).toBe(step.state.speaking);
    state = options.persist ? (JSON.parse(JSON.stringify(step.state)) as VadState) : step.state;
  }
  return { events, state };
}
const kinds = (events: Timed[]) => events.map((e) => e.event);

// ---------------------------------------------------------------------------------------------------------

describe("μ-law", () => {
  it("uses G.711's code points: silence is 0xFF, full scale is 0x80 / 0x00", () => {
    expect([...pcmToMulaw(Int16Array.of(0, 32767, -32768))]).toEqual([0xff, 0x80, 0x00]);
    expect([...mulawToPcm(Uint8Array.of(0xff, 0x80, 0x00))]).toEqual([0, 32124, -32124]);
  });

  it("round-trips speech-level audio within μ-law's quantisation (SNR over 30 dB)", () => {
    const original = Int16Array.from(tone(200, 10_000));
    const decoded = mulawToPcm(pcmToMulaw(original));
    expect(decoded).toHaveLength(original.length);
    let signal = 0;
    let error = 0;
    for (let i = 0; i < original.length; i++) {
      signal += original[i]! ** 2;
      error += (original[i]! - decoded[i]!) ** 2;
    }
    expect(10 * Math.log10(signal / error)).toBeGreaterThan(30);
  });

  it("splits into 20 ms frames of 160 bytes, the last one shorter, as views", () => {
    const bytes = Uint8Array.from({ length: 400 }, (_, i) => i % 256);
    const frames = splitFrames(bytes);
    expect(frames.map((f) => f.length)).toEqual([160, 160, 80]);
    expect(frames[2]![0]).toBe(320 % 256);
    expect(frames[1]!.buffer).toBe(bytes.buffer);
    expect(splitFrames(bytes, 100).map((f) => f.length)).toEqual([100, 100, 100, 100]);
    expect(splitFrames(new Uint8Array(0))).toEqual([]);
    expect(() => splitFrames(bytes, 0)).toThrow(RangeError);
  });

  it("converts samples and milliseconds at 8 kHz", () => {
    expect(samplesToMs(FRAME_BYTES)).toBe(20);
    expect(samplesToMs(8000)).toBe(1000);
    expect(msToSamples(20)).toBe(160);
    expect(msToSamples(700)).toBe(5600);
    expect(msToSamples(0.06)).toBe(0);
  });
});

describe("base64", () => {
  it("encodes and decodes standard, padded base64 (Twilio media payloads)", () => {
    expect(toBase64(new TextEncoder().encode("hello"))).toBe("aGVsbG8=");
    expect(toBase64(Uint8Array.of(0xfb, 0xff))).toBe("+/8=");
    expect([...fromBase64("+/8=")]).toEqual([0xfb, 0xff]);
    expect(toBase64(new Uint8Array(0))).toBe("");
    expect(() => fromBase64("not base64!")).toThrow();
  });

  it("round-trips a minute of audio, and base64url stays what it was", () => {
    const audio = Uint8Array.from({ length: 60 * SAMPLE_RATE }, (_, i) => (i * 7919) % 256);
    expect(fromBase64(toBase64(audio))).toEqual(audio);
    expect(toBase64Url(Uint8Array.of(0xfb, 0xff))).toBe("-_8");
    expect([...fromBase64Url("-_8")]).toEqual([0xfb, 0xff]);
  });
});

describe("voice activity detection", () => {
  it("measures frame levels in dBFS", () => {
    expect(frameLevelDb(new Int16Array(160))).toBe(-100);
    expect(frameLevelDb(Int16Array.from(tone(20, (32767 / Math.SQRT2 / Math.SQRT2) * 2)))).toBeCloseTo(-3, 0);
    expect(frameLevelDb(telephone(tone(20, VOICE)))).toBeCloseTo(-17.8, 0);
    expect(frameLevelDb(telephone(noise(20, LINE_NOISE)))).toBeLessThan(-50);
  });

  it("hears nothing in digital silence or in low line noise", () => {
    expect(detect(telephone(silence(3000))).events).toEqual([]);
    const { events, state } = detect(telephone(noise(5000, LINE_NOISE)));
    expect(events).toEqual([]);
    expect(state.speaking).toBe(false);
  });

  it("does not take steady or slowly rising line noise for speech; the floor follows it", () => {
    // Loud hum-like noise (about -40 dBFS, over the absolute minimum) from the start.
    const loud = detect(telephone(noise(5000, 1700, 3)));
    expect(loud.events).toEqual([]);
    expect(loud.state.noiseFloorDb).toBeGreaterThan(-45);
    // Noise that swells 20 dB over 10 s (2 dB/s): the floor keeps up.
    const swell = concat(
      ...Array.from({ length: 50 }, (_, i) => noise(200, LINE_NOISE * 10 ** ((i * 0.4) / 20), 100 + i)),
    );
    const swelling = detect(telephone(swell));
    expect(swelling.events).toEqual([]);
    expect(swelling.state.noiseFloorDb).toBeGreaterThan(-40);
  });

  it("starts an utterance once speech has lasted minSpeechMs and ends it after endSilenceMs", () => {
    const audio = concat(noise(1000, LINE_NOISE, 1), spoken(1000, 2), noise(1500, LINE_NOISE, 3));
    const { events, state } = detect(telephone(audio));
    expect(events).toEqual([
      { event: "speech_start", atMs: 1000 + DEFAULT_VAD.minSpeechMs },
      { event: "speech_end", atMs: 2000 + DEFAULT_VAD.endSilenceMs },
    ]);
    expect(state.endedBy).toBe("silence");
    expect(state.speaking).toBe(false);
  });

  it("hears quiet speech (-30 dBFS) and noise bursts as speech too", () => {
    const quiet = concat(noise(1000, LINE_NOISE, 4), spoken(800, 5, 1460), noise(1000, LINE_NOISE, 6));
    expect(kinds(detect(telephone(quiet)).events)).toEqual(["speech_start", "speech_end"]);
    const burst = concat(
      noise(1000, LINE_NOISE, 7),
      over(noise(600, 5000, 8), noise(600, LINE_NOISE, 9)),
      noise(1000, LINE_NOISE, 10),
    );
    expect(detect(telephone(burst)).events).toEqual([
      { event: "speech_start", atMs: 1080 },
      { event: "speech_end", atMs: 1600 + DEFAULT_VAD.endSilenceMs },
    ]);
  });

  it("ignores clicks: loud bursts shorter than minSpeechMs", () => {
    const parts = [noise(1000, LINE_NOISE, 11)];
    for (let i = 0; i < 10; i++) {
      const click = i % 2 ? 20 : 40; // one or two frames of a loud crackle
      parts.push(
        over(noise(click, 20_000, 20 + i), noise(click, LINE_NOISE, 40 + i)),
        noise(300, LINE_NOISE, 60 + i),
      );
    }
    expect(detect(telephone(concat(...parts))).events).toEqual([]);
  });

  it("keeps a pause shorter than endSilenceMs inside one utterance", () => {
    const audio = concat(
      noise(500, LINE_NOISE, 1),
      spoken(700, 2),
      noise(400, LINE_NOISE, 3),
      spoken(700, 4),
      noise(1500, LINE_NOISE, 5),
    );
    expect(detect(telephone(audio)).events).toEqual([
      { event: "speech_start", atMs: 580 },
      { event: "speech_end", atMs: 2300 + DEFAULT_VAD.endSilenceMs },
    ]);
  });

  it("splits at a pause longer than endSilenceMs into two utterances", () => {
    const audio = concat(
      noise(500, LINE_NOISE, 1),
      spoken(700, 2),
      noise(1000, LINE_NOISE, 3),
      spoken(700, 4),
      noise(1500, LINE_NOISE, 5),
    );
    expect(detect(telephone(audio)).events).toEqual([
      { event: "speech_start", atMs: 580 },
      { event: "speech_end", atMs: 1200 + DEFAULT_VAD.endSilenceMs },
      { event: "speech_start", atMs: 2280 },
      { event: "speech_end", atMs: 2900 + DEFAULT_VAD.endSilenceMs },
    ]);
  });

  it("cuts an utterance at maxUtteranceMs, and speech that goes on starts the next one", () => {
    const audio = concat(noise(500, LINE_NOISE, 1), spoken(20_000, 2), noise(1500, LINE_NOISE, 3));
    const events: Timed[] = [];
    let state = initialVad();
    let atMs = 0;
    let endedBy: VadState["endedBy"] = null;
    for (const frame of splitFrames(pcmToMulaw(telephone(audio)))) {
      const step = vadStep(state, mulawToPcm(frame));
      atMs += 20;
      if (step.event !== "none") events.push({ event: step.event, atMs });
      if (step.event === "speech_end" && !endedBy) endedBy = step.state.endedBy;
      state = step.state;
    }
    expect(events[0]).toEqual({ event: "speech_start", atMs: 580 });
    // The utterance counts from its first voiced frame (500 ms in).
    expect(events[1]).toEqual({ event: "speech_end", atMs: 500 + DEFAULT_VAD.maxUtteranceMs });
    expect(endedBy).toBe("max_length");
    expect(events[2]).toEqual({ event: "speech_start", atMs: 500 + DEFAULT_VAD.maxUtteranceMs + 80 });
    expect(events[3]).toEqual({ event: "speech_end", atMs: 20_500 + DEFAULT_VAD.endSilenceMs });
    expect(state.endedBy).toBe("silence");
  });

  it("counts the onset frames into the utterance at speech_start", () => {
    let state = initialVad();
    const frames = splitFrames(pcmToMulaw(telephone(concat(noise(200, LINE_NOISE), spoken(200, 2)))));
    let started: VadState | null = null;
    for (const frame of frames) {
      const step = vadStep(state, mulawToPcm(frame));
      if (step.event === "speech_start") started = step.state;
      state = step.state;
    }
    expect(started?.utteranceMs).toBe(DEFAULT_VAD.minSpeechMs);
  });

  it("gives the same answers when its state goes through JSON between frames, and never mutates it", () => {
    const audio = telephone(
      concat(
        noise(500, LINE_NOISE, 1),
        spoken(700, 2),
        noise(1000, LINE_NOISE, 3),
        spoken(700, 4),
        noise(900, LINE_NOISE),
      ),
    );
    const direct = detect(audio);
    const persisted = detect(audio, { persist: true });
    expect(persisted.events).toEqual(direct.events);
    expect(direct.events).toHaveLength(4);
    const state = initialVad();
    const frozen = JSON.stringify(state);
    vadStep(state, Int16Array.from(tone(20, VOICE)));
    expect(JSON.stringify(state)).toBe(frozen);
  });

  it("honours a custom configuration", () => {
    const audio = telephone(concat(noise(500, LINE_NOISE, 1), spoken(700, 2), noise(600, LINE_NOISE, 3)));
    expect(detect(audio).events.map((e) => e.event)).toEqual(["speech_start"]);
    let state = initialVad();
    const events: Timed[] = [];
    for (let offset = 0, atMs = 20; offset < audio.length; offset += 160, atMs += 20) {
      const step = vadStep(state, audio.subarray(offset, offset + 160), {
        ...DEFAULT_VAD,
        endSilenceMs: 300,
        minSpeechMs: 200,
      });
      if (step.event !== "none") events.push({ event: step.event, atMs });
      state = step.state;
    }
    expect(events).toEqual([
      { event: "speech_start", atMs: 700 },
      { event: "speech_end", atMs: 1500 },
    ]);
  });
});

// ---------------------------------------------------------------------------------------------------------

async function collect(stream: ReadableStream<Uint8Array>) {
  return new Uint8Array(await new Response(stream).arrayBuffer());
}
function parsed(bytes: Uint8Array) {
  const wav = new WaveFile(bytes);
  const fmt = wav.fmt as {
    audioFormat: number;
    numChannels: number;
    sampleRate: number;
    bitsPerSample: number;
    blockAlign: number;
    byteRate: number;
  };
  const [left, right] = wav.getSamples(false, Int16Array) as unknown as [Int16Array, Int16Array];
  return { fmt, left, right };
}
const mulawTone = (samples: number, amplitude: number, hz = 440) =>
  pcmToMulaw(
    Int16Array.from({ length: samples }, (_, i) =>
      Math.round(amplitude * Math.sin((2 * Math.PI * hz * i) / SAMPLE_RATE)),
    ),
  );
/** A generator over segments that says how far it was read and whether it was closed. */
function tracked(segments: TrackSegment[]) {
  const log = { pulled: 0, closed: false };
  function* source() {
    try {
      for (const segment of segments) {
        log.pulled++;
        yield segment;
      }
    } finally {
      log.closed = true;
    }
  }
  return { source: source(), log };
}

describe("stereo WAV", () => {
  it("writes a RIFF/WAVE header wavefile reads as PCM, 2 channels, 8 kHz, 16 bits", async () => {
    const { byteLength, stream } = stereoWav(SAMPLE_RATE * 3, [], []);
    const bytes = await collect(stream);
    expect(byteLength).toBe(44 + SAMPLE_RATE * 3 * 4);
    expect(bytes).toHaveLength(byteLength);
    const { fmt, left, right } = parsed(bytes);
    expect(fmt).toMatchObject({
      audioFormat: 1,
      numChannels: 2,
      sampleRate: 8000,
      bitsPerSample: 16,
      blockAlign: 4,
      byteRate: 32_000,
    });
    expect(left).toHaveLength(SAMPLE_RATE * 3); // 3 s
    expect(right.every((s) => s === 0)).toBe(true);
    const view = new DataView(bytes.buffer);
    expect(view.getUint32(4, true)).toBe(byteLength - 8);
    expect(view.getUint32(40, true)).toBe(byteLength - 44);
  });

  it("puts each segment on its channel at its offset, with silence in the gaps", async () => {
    const caller = mulawTone(1600, 8000);
    const agent = mulawTone(800, 12_000, 300);
    const later = mulawTone(500, 4000, 600);
    const { stream } = stereoWav(
      8000,
      [{ startSample: 800, audio: caller }],
      [
        { startSample: 4000, audio: agent },
        { startSample: 6000, audio: later },
      ],
      1000, // segments straddle chunk boundaries
    );
    const { left, right } = parsed(await collect(stream));
    expect([...left.subarray(800, 2400)]).toEqual([...mulawToPcm(caller)]);
    expect([...right.subarray(4000, 4800)]).toEqual([...mulawToPcm(agent)]);
    expect([...right.subarray(6000, 6500)]).toEqual([...mulawToPcm(later)]);
    const silentAt = (channel: Int16Array, ranges: [number, number][]) =>
      ranges.every(([a, b]) => channel.subarray(a, b).every((s) => s === 0));
    expect(
      silentAt(left, [
        [0, 800],
        [2400, 8000],
      ]),
    ).toBe(true);
    expect(
      silentAt(right, [
        [0, 4000],
        [4800, 6000],
        [6500, 8000],
      ]),
    ).toBe(true);
  });

  it("mixes overlapping segments on a channel, clipping at 16 bits", async () => {
    const a = mulawTone(400, 3000);
    const b = mulawTone(400, 2000, 300);
    const loud = pcmToMulaw(new Int16Array(100).fill(32767));
    const quietLoud = pcmToMulaw(new Int16Array(100).fill(-32768));
    const { stream } = stereoWav(
      1000,
      [
        { startSample: 0, audio: a },
        { startSample: 200, audio: b },
      ],
      [
        { startSample: 500, audio: loud },
        { startSample: 500, audio: loud },
        { startSample: 700, audio: quietLoud },
        { startSample: 700, audio: quietLoud },
      ],
      128,
    );
    const { left, right } = parsed(await collect(stream));
    const pa = mulawToPcm(a);
    const pb = mulawToPcm(b);
    for (const t of [0, 199, 200, 333, 399]) expect(left[t]).toBe(pa[t]! + (t >= 200 ? pb[t - 200]! : 0));
    for (const t of [400, 599]) expect(left[t]).toBe(pb[t - 200]);
    expect(left[600]).toBe(0);
    expect(right[500]).toBe(32767);
    expect(right[599]).toBe(32767);
    expect(right[700]).toBe(-32768);
  });

  it("cuts audio past the end and leaves later segments unread, closing the source", async () => {
    const left = tracked([
      { startSample: 900, audio: mulawTone(300, 5000) },
      { startSample: 1000, audio: mulawTone(300, 5000) },
      { startSample: 5000, audio: mulawTone(300, 5000) },
    ]);
    const { byteLength, stream } = stereoWav(1000, left.source, [
      { startSample: -50, audio: mulawTone(100, 5000) },
    ]);
    const bytes = await collect(stream);
    expect(bytes).toHaveLength(byteLength);
    const { left: l, right: r } = parsed(bytes);
    expect(l).toHaveLength(1000);
    expect([...l.subarray(900)]).toEqual([...mulawToPcm(mulawTone(100, 5000))]);
    expect([...r.subarray(0, 50)]).toEqual([...mulawToPcm(mulawTone(100, 5000)).subarray(50)]);
    expect(r[50]).toBe(0);
    expect(left.log.pulled).toBe(2);
    expect(left.log.closed).toBe(true);
  });

  it("reads segments lazily, a chunk at a time, and closes them when cancelled", async () => {
    const segments = Array.from({ length: 60 }, (_, i) => ({
      startSample: i * SAMPLE_RATE,
      audio: mulawTone(800, 3000),
    }));
    const left = tracked(segments);
    const right = tracked(segments.map((s) => ({ ...s, startSample: s.startSample + 4000 })));
    const { stream } = stereoWav(60 * SAMPLE_RATE, left.source, right.source);
    const reader = stream.getReader();
    await reader.read(); // header
    await reader.read(); // second 0
    await reader.read(); // second 1
    // Three chunks read, one more buffered ahead: its segments and a look at the next are all that was read.
    expect(left.log.pulled).toBe(4);
    expect(right.log.pulled).toBe(4);
    await reader.cancel();
    expect(left.log.closed && right.log.closed).toBe(true);
  });

  it("fails the stream when segments come out of order", async () => {
    const { stream } = stereoWav(
      4000,
      [
        { startSample: 2000, audio: mulawTone(10, 100) },
        { startSample: 100, audio: mulawTone(10, 100) },
      ],
      [],
      1000,
    );
    await expect(collect(stream)).rejects.toThrow(/sorted/);
  });

  it("has the exact length a FixedLengthStream (R2 put) needs", async () => {
    const { byteLength, stream } = stereoWav(
      12_345,
      [{ startSample: 10, audio: mulawTone(5000, 3000) }],
      [],
      777,
    );
    const fixed = new FixedLengthStream(byteLength);
    const [written, read] = await Promise.all([stream.pipeTo(fixed.writable), collect(fixed.readable)]);
    expect(written).toBeUndefined();
    expect(read).toHaveLength(44 + 12_345 * 4);
    expect(parsed(read).left).toHaveLength(12_345);
  });

  it("refuses lengths it cannot write", () => {
    expect(() => stereoWav(-1, [], [])).toThrow(RangeError);
    expect(() => stereoWav(1.5, [], [])).toThrow(RangeError);
    expect(() => stereoWav(2 ** 30, [], [])).toThrow(RangeError);
    expect(() => stereoWav(10, [], [], 0)).toThrow(RangeError);
  });
});
