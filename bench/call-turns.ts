import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import twilio from "twilio";
import { WebSocket } from "undici";
import {
  ensureDevVars,
  migrate,
  type RunningPlatform,
  seedDemo,
  seedDemoPatients,
  startWorker,
} from "../scripts/local-platform";
import { type Latency, latencyOf, machineLoad, ms } from "./world-lib";

const SCHEDULING_SERVICE = "svc_demo-scheduling";
const SCHEDULING_NUMBER = "+14155550100";

/** A short booking call as a patient would start it; the birth date runs `verify_identity` (a D1 lookup). */
const SCRIPT = [
  "Hi, I'd like to book an appointment please",
  "My name is Maria Lopez",
  "March 5th, 1980",
  "What are your hours on Friday?",
];

export interface Level {
  concurrency: number;
  calls: number;
  /** Engine turns, server side (ms resolution; see the header). */
  server: Latency;
  /** The same, turns without a tool run only (a tool turn's first words go out before the tool runs). */
  serverNoTool: Latency;
  /** Engine turns, prompt sent → first token received. */
  client: Latency;
  /** Echo baseline, prompt sent → first token received. */
  echo: Latency;
  /** Client p50 per script step, to show where a turn's time goes. */
  clientPerStep: { prompt: string; p50: number; p95: number }[];
  /** Agent turns that ran a tool. */
  toolTurns: number;
  /** Calls that ended (an `end` frame) before the script did. */
  endedEarly: number;
  /** Calls cut by a `wrangler dev` reload (another process changed a watched file): run again, not counted. */
  droppedByReload: number;
}

export interface CallTurns {
  load: string;
  thinkMs: [number, number];
  levels: Level[];
}

export async function callTurns(
  options = {
    port: 8811,
    levels: [
      { concurrency: 1, calls: 15 },
      { concurrency: 50, calls: 50 },
      { concurrency: 200, calls: 200 },
    ],
    thinkMs: [1000, 3000] as [number, number],
  },
): Promise<CallTurns> {
  const platform = await startBenchPlatform(options.port);
  try {
    const key = platform.vars.DEMO_API_KEY!;
    const patch = await fetch(`${platform.url}/v1/demo/services/${SCHEDULING_SERVICE}`, {
      method: "PATCH",
      headers: { Authorization: `Bearer ${key}`, "Content-Type": "application/json" },
      body: JSON.stringify({ voice_transport: "conversation_relay" }),
    });
    if (!patch.ok)
      throw new Error(`switching the line to ConversationRelay: ${patch.status} ${await patch.text()}`);
    const sim = new Simulator(
      platform.url,
      platform.vars.TWILIO_AUTH_TOKEN!,
      key,
      options.thinkMs,
      platform.reloads,
    );
    // Warm-up: isolate, JIT, the session's code paths, both modes.
    await sim.runCalls(2, 2, "engine");
    await sim.runCalls(2, 2, "echo");
    const levels: Level[] = [];
    for (const level of options.levels) {
      const echo = await sim.runCalls(level.calls, level.concurrency, "echo");
      const engine = await sim.runCalls(level.calls, level.concurrency, "engine");
      const server = await sim.serverTurns(engine.callIds);
      levels.push({
        concurrency: level.concurrency,
        calls: level.calls,
        server: latencyOf(server.samples),
        serverNoTool: latencyOf(server.noTool),
        client: latencyOf(engine.samples.map((s) => s.ms)),
        echo: latencyOf(echo.samples.map((s) => s.ms)),
        clientPerStep: SCRIPT.map((prompt, step) => {
          const l = latencyOf(engine.samples.filter((s) => s.step === step).map((s) => s.ms));
          return { prompt, p50: l.p50, p95: l.p95 };
        }),
        toolTurns: server.toolTurns,
        endedEarly: engine.endedEarly,
        droppedByReload: engine.droppedByReload + echo.droppedByReload,
      });
    }
    return { load: machineLoad(), thinkMs: options.thinkMs, levels };
  } catch (err) {
    throw new Error(
      `${(err as Error).message}\n--- wrangler dev log (tail) ---\n${platform.log().slice(-3000)}`,
    );
  } finally {
    await platform.stop();
  }
}

// ---------------------------------------------------------------------------------------------------------
// The simulated calls

type Mode = "engine" | "echo";
type Sample = { step: number; ms: number };
type CallResult = { callId: string; samples: Sample[]; endedEarly: boolean };
// biome-ignore lint/suspicious/noExplicitAny: ConversationRelay frames, read field by field
type Frame = any;

class Simulator {
  constructor(
    readonly url: string,
    readonly authToken: string,
    readonly apiKey: string,
    readonly thinkMs: [number, number],
    readonly reloads: () => number,
  ) {}

  /** `calls` calls, at most `concurrency` at a time; each runs the whole script. */
  async runCalls(calls: number, concurrency: number, mode: Mode) {
    const samples: Sample[] = [];
    const callIds: string[] = [];
    let endedEarly = 0;
    let droppedByReload = 0;
    let next = 0;
    const worker = async (w: number) => {
      // Spread the starts, as calls arrive over time rather than in one instant.
      if (concurrency > 1) await sleep((w / concurrency) * 2000);
      while (next < calls) {
        next++;
        const reloadsBefore = this.reloads();
        let result: CallResult;
        try {
          result = await this.#call(mode);
        } catch (err) {
          // `wrangler dev` reloads when a watched source changes, dropping every socket: such a call is
          // not counted (and is run again); any other failure stops the benchmark.
          if (this.reloads() === reloadsBefore) throw err;
          droppedByReload++;
          next--;
          continue;
        }
        if (this.reloads() !== reloadsBefore) {
          droppedByReload++;
          next--;
          continue;
        }
        samples.push(...result.samples);
        callIds.push(result.callId);
        if (result.endedEarly) endedEarly++;
      }
    };
    await Promise.all(Array.from({ length: concurrency }, (_, w) => worker(w)));
    return { samples, callIds, endedEarly, droppedByReload };
  }

  async #call(mode: Mode): Promise<CallResult> {
    const params: Record<string, string> = {
      CallSid: `CA${randomHex(32)}`,
      AccountSid: `AC${"0".repeat(32)}`,
      From: "+14155550123",
      To: SCHEDULING_NUMBER,
      CallStatus: "ringing",
      Direction: "inbound",
      ApiVersion: "2010-04-01",
      Caller: "+14155550123",
      Called: SCHEDULING_NUMBER,
    };
    const webhook = `${this.url}/telephony/twilio/voice`;
    const res = await fetch(webhook, {
      method: "POST",
      headers: {
        "Content-Type": "application/x-www-form-urlencoded",
        "X-Twilio-Signature": twilio.getExpectedTwilioSignature(this.authToken, webhook, params),
      },
      body: new URLSearchParams(params).toString(),
    });
    const twiml = await res.text();
    if (res.status !== 200) throw new Error(`voice webhook answered ${res.status}: ${twiml.slice(0, 300)}`);
    const socketUrl = /<ConversationRelay[^>]*\surl="([^"]+)"/.exec(twiml)?.[1]?.replaceAll("&amp;", "&");
    const callId = /<Parameter name="call_id" value="([^"]+)"/.exec(twiml)?.[1];
    if (!socketUrl || !callId) throw new Error(`no ConversationRelay in the TwiML: ${twiml.slice(0, 300)}`);

    const socket = new RelaySocket(
      new WebSocket(socketUrl, {
        headers: { "X-Twilio-Signature": twilio.getExpectedTwilioSignature(this.authToken, socketUrl, {}) },
      }),
    );
    await socket.opened;
    const samples: Sample[] = [];
    let endedEarly = false;
    try {
      socket.send({
        type: "setup",
        sessionId: `VX${randomHex(32)}`,
        accountSid: params.AccountSid,
        callSid: params.CallSid,
        from: params.From,
        to: params.To,
        direction: "inbound",
        callType: "PSTN",
        customParameters: mode === "echo" ? { call_id: callId, bench: "echo" } : { call_id: callId },
      });
      const greeting = await socket.reply();
      if (greeting.end) return { callId, samples, endedEarly: true };
      for (const [step, prompt] of SCRIPT.entries()) {
        await sleep(this.thinkMs[0] + Math.random() * (this.thinkMs[1] - this.thinkMs[0]));
        const sent = performance.now();
        socket.send({ type: "prompt", voicePrompt: prompt, lang: "en-US", last: true });
        const reply = await socket.reply();
        samples.push({ step, ms: reply.firstAt - sent });
        if (reply.end) {
          endedEarly = step < SCRIPT.length - 1;
          break;
        }
      }
    } finally {
      await socket.close();
    }
    return { callId, samples, endedEarly };
  }

  /**
   * The session's own turn times, from each ended call's timeline: agent turns after the greeting. The
   * timeline is written when the session sees the socket close, so it is waited for.
   */
  async serverTurns(callIds: string[]): Promise<{ samples: number[]; noTool: number[]; toolTurns: number }> {
    const samples: number[] = [];
    const noTool: number[] = [];
    let toolTurns = 0;
    let next = 0;
    const worker = async () => {
      while (next < callIds.length) {
        const id = callIds[next++]!;
        const detail = await this.#endedCall(id);
        const agent = detail.turns.filter((t) => t.data.speaker === "agent").slice(1);
        const toolSeqs = new Set(detail.tools.map((t) => t.data.turn));
        for (const turn of agent) {
          if (typeof turn.data.first_token_ms !== "number") continue;
          samples.push(turn.data.first_token_ms);
          // A tool run is stored against the agent turn it serves (its first words go out before it runs).
          if (toolSeqs.has(turn.data.seq)) toolTurns++;
          else noTool.push(turn.data.first_token_ms);
        }
      }
    };
    await Promise.all(Array.from({ length: 4 }, worker));
    return { samples, noTool, toolTurns };
  }

  async #endedCall(id: string): Promise<CallDetail> {
    const deadline = Date.now() + 30_000;
    for (;;) {
      const res = await fetch(`${this.url}/v1/demo/calls/${id}`, {
        headers: { Authorization: `Bearer ${this.apiKey}` },
      });
      if (res.status !== 200) throw new Error(`call detail answered ${res.status}: ${await res.text()}`);
      const detail = (await res.json()) as CallDetail;
      if (detail.timeline.some((e) => e.kind === "end")) return detail;
      if (Date.now() > deadline) throw new Error(`call ${id} has no timeline 30 s after it ended`);
      await sleep(200);
    }
  }
}

interface CallDetail {
  timeline: { kind: string }[];
  turns: { data: { seq: number; speaker: string; first_token_ms: number | null } }[];
  tools: { data: { turn: number | null } }[];
}

/** A relay WebSocket: frames as they arrive, and replies read up to their `last` token. */
class RelaySocket {
  readonly opened: Promise<void>;
  readonly #frames: { frame: Frame; at: number }[] = [];
  #cursor = 0;
  #wake: (() => void) | null = null;
  #closed = false;
  closeCode: number | null = null;

  constructor(readonly ws: WebSocket) {
    this.opened = new Promise((resolve, reject) => {
      ws.addEventListener("open", () => resolve());
      ws.addEventListener("error", () => reject(new Error("the relay socket failed to open")));
    });
    ws.addEventListener("message", (e) => {
      this.#frames.push({ frame: JSON.parse(String(e.data)), at: performance.now() });
      this.#wake?.();
    });
    ws.addEventListener("close", (e) => {
      this.#closed = true;
      this.closeCode = e.code;
      this.#wake?.();
    });
  }

  send(frame: Frame) {
    this.ws.send(JSON.stringify(frame));
  }

  async #nextFrame(): Promise<{ frame: Frame; at: number }> {
    const deadline = Date.now() + 30_000;
    while (this.#cursor >= this.#frames.length) {
      if (this.#closed) throw new Error(`the relay socket closed mid-reply (${this.closeCode})`);
      if (Date.now() > deadline) throw new Error("no reply within 30 s");
      await new Promise<void>((resolve) => {
        this.#wake = resolve;
        setTimeout(resolve, 1000);
      });
      this.#wake = null;
    }
    return this.#frames[this.#cursor++]!;
  }

  /** The next reply: when its first token arrived, and whether an `end` followed its last one. */
  async reply(): Promise<{ firstAt: number; end: boolean }> {
    const first = await this.#nextFrame();
    if (first.frame.type !== "text") throw new Error(`expected a text token, got ${first.frame.type}`);
    let last = first;
    while (last.frame.last !== true) last = await this.#nextFrame();
    // An `end` comes right after the last token of a goodbye.
    await sleep(20);
    const end = this.#frames[this.#cursor]?.frame.type === "end";
    if (end) this.#cursor++;
    return { firstAt: first.at, end };
  }

  close(): Promise<void> {
    if (this.#closed) return Promise.resolve();
    return new Promise((resolve) => {
      this.ws.addEventListener("close", () => resolve());
      this.ws.close(1000, "caller hung up");
      setTimeout(resolve, 5000).unref();
    });
  }
}

// ---------------------------------------------------------------------------------------------------------
// A private platform with the bench's vars

interface BenchPlatform {
  url: string;
  vars: Record<string, string>;
  /** How often `wrangler dev` has reloaded (it drops every socket and evicts every Durable Object). */
  reloads(): number;
  log(): string;
  stop(): Promise<void>;
}

/**
 * Like `startLocalPlatform` (migrations, demo seed, demo patients, its own state folder), but `wrangler
 * dev` gets `--var BENCH_ECHO:1` (the echo baseline) and its own URL as PUBLIC_BASE_URL, so the TwiML's
 * socket URL and the signatures name the port it listens on.
 */
async function startBenchPlatform(port: number): Promise<BenchPlatform> {
  const persistTo = mkdtempSync(path.join(tmpdir(), "switchboard-bench-calls-"));
  const vars = ensureDevVars();
  await migrate(persistTo);
  await seedDemo(persistTo, vars);
  const url = `http://127.0.0.1:${port}`;
  let platform: RunningPlatform;
  try {
    platform = await startWorker({
      port,
      persistTo,
      vars,
      extraVars: { BENCH_ECHO: "1", PUBLIC_BASE_URL: url },
    });
  } catch (err) {
    rmSync(persistTo, { recursive: true, force: true });
    throw err;
  }
  const stop = async () => {
    await platform.stop();
    rmSync(persistTo, { recursive: true, force: true });
  };
  try {
    await seedDemoPatients(url, vars.DEMO_API_KEY!);
  } catch (err) {
    await stop();
    throw err;
  }
  return { url, vars, stop, reloads: platform.reloads, log: platform.log };
}

const sleep = (msec: number) => new Promise((r) => setTimeout(r, msec));
const randomHex = (n: number) =>
  Array.from({ length: n }, () => Math.floor(Math.random() * 16).toString(16)).join("");

export function report(r: CallTurns): string {
  const row = (name: string, x: Latency) =>
    `  ${name.padEnd(44)} p50 ${ms(x.p50).padStart(9)}   p95 ${ms(x.p95).padStart(9)}   p99 ${ms(x.p99).padStart(9)}   (${x.requests} turns)`;
  const at50 = r.levels.find((l) => l.concurrency === 50);
  return [
    `CallSession turn time, prompt → first reply token (LocalEngine, ConversationRelay, wrangler dev, ${r.load}); caller think time ${r.thinkMs[0]}–${r.thinkMs[1]} ms`,
    ...r.levels.flatMap((l) => [
      `${l.concurrency} concurrent calls (${l.calls} calls, ${l.toolTurns} turns with a tool run${l.endedEarly ? `, ${l.endedEarly} ended early` : ""}${l.droppedByReload ? `, ${l.droppedByReload} cut by a wrangler reload and run again` : ""})`,
      row("server: received → first token sent", l.server),
      row("  of which turns without a tool run", l.serverNoTool),
      row("client: prompt sent → first token received", l.client),
      row("baseline: echo CallSession (client)", l.echo),
      `  client p50/p95 per prompt: ${l.clientPerStep.map((s) => `${JSON.stringify(s.prompt)} ${ms(s.p50)}/${ms(s.p95)}`).join("; ")}`,
    ]),
    at50
      ? `target p95 under 10 ms at 50 calls: server ${at50.server.p95 < 10 ? "met" : "NOT met"} (${ms(at50.server.p95)}), client ${at50.client.p95 < 10 ? "met" : "NOT met"} (${ms(at50.client.p95)})`
      : "",
    "server times come from the session's ISO timestamps (ms resolution)",
  ].join("\n");
}
