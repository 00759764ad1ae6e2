/**
 * The CallSession over a real Media Streams WebSocket (signed upgrade through the Worker's route), with a
 * fake Workers AI binding standing in for Deepgram's speech-to-text and text-to-speech (it refuses any
 * request the real models would refuse): caller audio in as 20 ms μ-law frames, voice activity detection
 * and endpointing, transcription, the agent's speech out as `media` frames each sentence followed by a
 * `mark`, `clear` on barge-in with the turn trimmed to the sentences that played, the goodbye's mark
 * ending the call, and a stereo WAV of both tracks in R2. Without speech services the voice webhook says
 * so and hangs up.
 */
import { evictDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { eq } from "drizzle-orm";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { WaveFile } from "wavefile";
import { type CallSession, setToolExecutor } from "../../durable-objects/call-session";
import { SCHEDULING_GRAPH } from "../../scripts/demo-graphs";
import { FRAME_BYTES, mulawToPcm, SAMPLE_RATE, splitFrames } from "../../shared/audio/mulaw";
import { fromBase64, toBase64 } from "../../shared/encoding";
import { callSession } from "../../workers/calls/session-client";
import { callEvents, calls, services } from "../../workers/db/schema";
import { setSpeechBinding } from "../../workers/speech/speech";
import { db } from "../helpers/db";
import { type FakeAi, fakeAi, fakeSpeech } from "../helpers/fake-ai";
import { fakeSid, parseXml, twilioPost, voiceParams } from "../telephony/helpers";
import { type Frame, relayLine, upgrade } from "./relay-client";

const session = (callId: string) => callSession(env, callId) as unknown as DurableObjectStub<CallSession>;
const snapshot = (callId: string) => session(callId).snapshot();

/** μ-law silence (0xFF is zero) for `ms` milliseconds. */
const silence = (ms: number) => new Uint8Array((ms * SAMPLE_RATE) / 1000).fill(0xff);

/** A Media Streams line answering with the demo scheduling graph on a fresh number. */
async function mediaLine() {
  const line = await relayLine(SCHEDULING_GRAPH);
  await db().update(services).set({ voiceTransport: "media_streams" }).where(eq(services.id, line.serviceId));
  return line;
}

/** Twilio's side of a bidirectional Media Stream. */
class StreamCall {
  readonly frames: Frame[] = [];
  readonly streamSid = fakeSid("MZ");
  closed: CloseEvent | null = null;
  #chunk = 0;
  #cursor = 0;

  constructor(
    readonly ws: WebSocket,
    readonly callId: string,
    readonly callSid: string,
  ) {
    ws.addEventListener("message", (e) => {
      this.frames.push(JSON.parse(e.data as string));
    });
    ws.addEventListener("close", (e) => {
      this.closed = e;
    });
  }

  static async connect(to: string): Promise<StreamCall> {
    const params = voiceParams(to);
    const res = await twilioPost("/telephony/twilio/voice", params);
    expect(res.status, res.text).toBe(200);
    const connect = parseXml(res.text).children[0]!;
    expect(connect.name).toBe("Connect");
    const stream = connect.children[0]!;
    expect(stream.name).toBe("Stream");
    expect(connect.attributes.action).toMatch(/\/telephony\/twilio\/handoff\/call_/);
    const callId = stream.children.find((p) => p.attributes.name === "call_id")!.attributes.value!;
    const upgraded = await upgrade(stream.attributes.url!);
    expect(upgraded.status).toBe(101);
    const ws = upgraded.webSocket!;
    ws.accept();
    const call = new StreamCall(ws, callId, params.CallSid);
    call.send({ event: "connected", protocol: "Call", version: "1.0.0" });
    call.send({
      event: "start",
      sequenceNumber: "1",
      streamSid: call.streamSid,
      start: {
        streamSid: call.streamSid,
        accountSid: params.AccountSid,
        callSid: params.CallSid,
        tracks: ["inbound"],
        customParameters: { call_id: callId },
        mediaFormat: { encoding: "audio/x-mulaw", sampleRate: 8000, channels: 1 },
      },
    });
    return call;
  }

  send(frame: Frame) {
    this.ws.send(JSON.stringify(frame));
  }

  /** Caller audio as Twilio sends it: 20 ms frames, base64 μ-law. */
  audio(bytes: Uint8Array) {
    for (const frame of splitFrames(bytes, FRAME_BYTES)) {
      this.#chunk++;
      this.send({
        event: "media",
        sequenceNumber: String(this.#chunk + 1),
        streamSid: this.streamSid,
        media: {
          track: "inbound",
          chunk: String(this.#chunk),
          timestamp: String(this.#chunk * 20),
          payload: toBase64(frame),
        },
      });
    }
  }

  /** The caller says something (a tone the fake transcriber turns into the queued words), then pauses. */
  speak(ms = 600) {
    this.audio(silence(200));
    this.audio(fakeSpeech("x".repeat(Math.ceil(ms / 60))));
    this.audio(silence(900));
  }

  /**
   * The agent's next reply: its media frames and marks, once at least one mark came and nothing more
   * for a moment (each sentence is synthesized on its own, so the frames come in bursts).
   */
  async reply(): Promise<{ media: Frame[]; marks: string[] }> {
    const start = this.#cursor;
    let seen = -1;
    await vi.waitFor(
      () => {
        const count = this.frames.length;
        const marked = this.frames.slice(start).some((f) => f.event === "mark");
        const settled = count === seen && this.frames.at(-1)?.event === "mark";
        seen = count;
        if (!marked || !settled) throw new Error("no complete reply yet");
      },
      { timeout: 5000, interval: 40 },
    );
    const frames = this.frames.slice(start);
    this.#cursor = this.frames.length;
    return {
      media: frames.filter((f) => f.event === "media"),
      marks: frames.filter((f) => f.event === "mark").map((f) => f.mark.name as string),
    };
  }

  /** Twilio played the audio before these marks: it sends them back. */
  played(names: string[]) {
    for (const name of names)
      this.send({ event: "mark", sequenceNumber: "0", streamSid: this.streamSid, mark: { name } });
  }
}

let ai: FakeAi;
beforeEach(() => {
  setToolExecutor(async (_env, _context, toolCalls) =>
    toolCalls.map((call) => ({ latency_ms: 2, result: { name: call.name, outcome: "ok" } })),
  );
});
afterEach(() => {
  setSpeechBinding();
  setToolExecutor();
});

describe("CallSession over Media Streams", () => {
  it("greets with synthesized audio and marks, hears an utterance through VAD and STT, and answers", async () => {
    ai = fakeAi({ transcripts: ["This is Jane Doe"] });
    setSpeechBinding(ai);
    const line = await mediaLine();
    const call = await StreamCall.connect(line.number.e164);

    const greeting = await call.reply();
    expect(greeting.media.length).toBeGreaterThan(10);
    for (const frame of greeting.media) {
      expect(frame.streamSid).toBe(call.streamSid);
      expect(fromBase64(frame.media.payload).length).toBeLessThanOrEqual(FRAME_BYTES);
    }
    // All but the last frame of a sentence are exactly 20 ms.
    expect(fromBase64(greeting.media[0].media.payload).length).toBe(FRAME_BYTES);
    const tts = ai.calls.filter((c) => c.model === "@cf/deepgram/aura-1");
    expect(tts.length).toBeGreaterThan(0);
    expect(tts[0]!.inputs).toMatchObject({ encoding: "mulaw", sample_rate: 8000, container: "none" });
    expect(ai.violations).toEqual([]);
    call.played(greeting.marks);

    call.speak(700);
    const answer = await call.reply();
    expect(answer.media.length).toBeGreaterThan(0);
    const stt = ai.calls.filter((c) => c.model === "@cf/deepgram/nova-3");
    expect(stt).toHaveLength(1);
    // The utterance: the speech with its pre-roll and the trailing pause that ended it (~0.7 s + 0.3–1 s).
    const heardMs = (stt[0]!.audio!.length / SAMPLE_RATE) * 1000;
    expect(heardMs).toBeGreaterThan(900);
    expect(heardMs).toBeLessThan(2200);
    // It carries the caller's tone, not silence.
    expect(Math.max(...mulawToPcm(stt[0]!.audio!).map(Math.abs))).toBeGreaterThan(4000);

    const snap = await snapshot(call.callId);
    expect(snap.turns.filter((t) => t.speaker === "caller").map((t) => t.text)).toEqual(["This is Jane Doe"]);
    expect(snap.engineState?.state_id).toBe("verify_identity");
    expect(ai.violations).toEqual([]);
    call.ws.close();
  });

  it("treats silence and line noise as no turn at all", async () => {
    ai = fakeAi({ transcripts: ["should not be asked"] });
    setSpeechBinding(ai);
    const line = await mediaLine();
    const call = await StreamCall.connect(line.number.e164);
    call.played((await call.reply()).marks);
    call.audio(silence(2000));
    await new Promise((r) => setTimeout(r, 100));
    expect(ai.calls.filter((c) => c.model === "@cf/deepgram/nova-3")).toHaveLength(0);
    call.ws.close();
  });

  it("on barge-in sends clear and keeps only the sentences that played", async () => {
    ai = fakeAi({ transcripts: ["This is Jane Doe", "sorry, what?"] });
    setSpeechBinding(ai);
    const line = await mediaLine();
    const call = await StreamCall.connect(line.number.e164);
    call.played((await call.reply()).marks);
    call.speak(700);
    // The reply to a name has more than one sentence; only the first plays before the caller talks.
    const answer = await call.reply();
    await new Promise((r) => setTimeout(r, 50));
    const before = (await snapshot(call.callId)).turns.filter((t) => t.speaker === "agent").at(-1)!;
    expect(answer.marks.length).toBeGreaterThan(1);
    call.played(answer.marks.slice(0, 1));
    call.audio(fakeSpeech("x".repeat(10)));
    await vi.waitFor(
      () => {
        if (!call.frames.some((f) => f.event === "clear")) throw new Error("no clear yet");
      },
      { timeout: 3000, interval: 5 },
    );
    expect(call.frames.find((f) => f.event === "clear")).toEqual({
      event: "clear",
      streamSid: call.streamSid,
    });
    const after = await snapshot(call.callId);
    const trimmed = after.turns.find((t) => t.seq === before.seq)!;
    const firstSentence = before.text.match(/^[^.!?]+[.!?]/)![0];
    expect(trimmed.heard).toBe(firstSentence);
    expect(trimmed.text.startsWith(firstSentence)).toBe(true);
    call.ws.close();
  });

  it("ends after the goodbye's mark comes back and stores a stereo WAV of both tracks", async () => {
    ai = fakeAi({ transcripts: ["I'm having chest pain right now"] });
    setSpeechBinding(ai);
    const line = await mediaLine();
    const call = await StreamCall.connect(line.number.e164);
    const greeting = await call.reply();
    call.played(greeting.marks);
    call.speak(700);
    // Escalation: the agent says its piece; the call ends only once that has played.
    const goodbye = await call.reply();
    expect(call.closed).toBeNull();
    expect((await snapshot(call.callId)).finishedAt).toBeNull();
    call.played(goodbye.marks);
    await vi.waitFor(
      async () => {
        if (!(await snapshot(call.callId)).finishedAt) throw new Error("not finished");
      },
      { timeout: 5000, interval: 20 },
    );
    expect(goodbye.media.length).toBeGreaterThan(0);

    const row = (await db().query.calls.findFirst({ where: eq(calls.id, call.callId) }))!;
    expect(row.escalated).toBe(true);
    expect(row.recording).toMatchObject({ channels: 2, source: "media_streams", status: "completed" });
    const object = (await env.FILES.get(`recordings/${line.ws.id}/${call.callId}.wav`))!;
    expect(object.httpMetadata?.contentType).toBe("audio/wav");
    const wav = new WaveFile(new Uint8Array(await object.arrayBuffer()));
    const fmt = wav.fmt as { numChannels: number; sampleRate: number; bitsPerSample: number };
    expect(fmt).toMatchObject({ numChannels: 2, sampleRate: 8000, bitsPerSample: 16 });
    const [left, right] = wav.getSamples(false, Int16Array) as unknown as [Int16Array, Int16Array];
    // The caller spoke ~0.7 s of tone, the agent several sentences: both channels carry sound.
    const loud = (s: Int16Array) => s.filter((v) => Math.abs(v) > 4000).length / SAMPLE_RATE;
    expect(loud(left)).toBeGreaterThan(0.4); // a sine is over half its peak two thirds of the time
    expect(loud(right)).toBeGreaterThan(1);
    // The duration is the longer track: the caller's audio plus the agent's after it.
    expect(left.length).toBe(right.length);
    expect(left.length / SAMPLE_RATE).toBeGreaterThan(1.5);
    expect(String(row.recording?.duration_seconds)).toBe(String(Math.round(left.length / SAMPLE_RATE)));
    // The session forgot the audio once it was stored.
    const events = await db().select().from(callEvents).where(eq(callEvents.callId, call.callId));
    expect(events.map((e) => e.kind)).toContain("session.recording");
  });

  it("ends on the stream's stop and still stores the recording", async () => {
    ai = fakeAi({ transcripts: [] });
    setSpeechBinding(ai);
    const line = await mediaLine();
    const call = await StreamCall.connect(line.number.e164);
    call.played((await call.reply()).marks);
    call.audio(silence(500));
    call.send({
      event: "stop",
      sequenceNumber: "99",
      streamSid: call.streamSid,
      stop: { callSid: call.callSid },
    });
    await vi.waitFor(
      async () => {
        if (!(await snapshot(call.callId)).finishedAt) throw new Error("not finished");
      },
      { timeout: 5000, interval: 20 },
    );
    expect(await env.FILES.head(`recordings/${line.ws.id}/${call.callId}.wav`)).not.toBeNull();
  });

  it("resumes after the object is evicted mid-call: the next utterance is heard and answered", async () => {
    ai = fakeAi({ transcripts: ["This is Jane Doe"] });
    setSpeechBinding(ai);
    const line = await mediaLine();
    const call = await StreamCall.connect(line.number.e164);
    call.played((await call.reply()).marks);
    call.audio(silence(300));
    await new Promise((r) => setTimeout(r, 100));
    await evictDurableObject(session(call.callId));
    call.speak(700);
    await call.reply();
    const snap = await snapshot(call.callId);
    expect(snap.turns.map((t) => t.speaker)).toEqual(["agent", "caller", "agent"]);
    expect(snap.engineState?.state_id).toBe("verify_identity");
    call.ws.close();
  });

  it("logs invalid frames and goes on", async () => {
    ai = fakeAi({ transcripts: ["This is Jane Doe"] });
    setSpeechBinding(ai);
    const line = await mediaLine();
    const call = await StreamCall.connect(line.number.e164);
    call.played((await call.reply()).marks);
    call.ws.send("not json");
    call.send({ event: "media", media: { payload: 42 } });
    call.speak(700);
    await call.reply();
    expect((await snapshot(call.callId)).turns.some((t) => t.text === "This is Jane Doe")).toBe(true);
    call.ws.close();
  });
});

describe("Media Streams without speech services", () => {
  it("says so in the TwiML, hangs up, and logs it on the call", async () => {
    const line = await mediaLine();
    const params = voiceParams(line.number.e164);
    const res = await twilioPost("/telephony/twilio/voice", params);
    const response = parseXml(res.text);
    expect(response.children.map((c) => c.name)).toEqual(["Say", "Hangup"]);
    expect(response.children[0]!.text).toMatch(/speech services are not configured/);
    const row = (await db().query.calls.findFirst({ where: eq(calls.providerSid, params.CallSid) }))!;
    const events = await db().select().from(callEvents).where(eq(callEvents.callId, row.id));
    expect(events.map((e) => e.kind)).toContain("speech_unavailable");
  });
});
