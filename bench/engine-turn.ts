/**
 * LocalEngine turn time in Node, in-process: one `respond()` per caller or tool-result turn of a
 * scripted booking call (greet, intent, name, birth date, verification result, date, slots, choice,
 * booking, and a knowledge question), repeated over 10,000 turns. Beside it, measured in the same run
 * and interleaved turn by turn: a no-op engine, and `JSON.parse` of a ConversationRelay `prompt` frame.
 * This is the engine's share only, NOT the issue's figure (prompt received → first token sent through
 * the CallSession at 1/50/200 concurrent calls against `wrangler dev`), which needs the CallSession.
 */
import {
  type EngineState,
  initialEngineState,
  type TurnInput,
  type TurnOutput,
} from "../shared/engine/engine";
import { LocalEngine } from "../shared/engine/local-engine";
import { graph, KNOWLEDGE, NOW, PATIENT, PERSONA, SLOTS, TIME_ZONE } from "../test/unit/engine/fixtures";

export interface TurnStats {
  p50: number;
  p95: number;
  p99: number;
  mean: number;
}

export interface EngineTurn {
  turns: number;
  /** Microseconds per turn. */
  localEngine: TurnStats;
  noopEngine: TurnStats;
  relayParse: TurnStats;
  /** Calls completed (each ends in the terminal state) — proves the script ran end to end. */
  callsCompleted: number;
  /** LocalEngine p50 (µs) per step of the script, to show where a turn's time goes. */
  perStep: { step: string; p50: number }[];
}

type Step = { utterance: string; tool?: TurnInput["tool_results"]; verified?: boolean };

const SCRIPT: Step[] = [
  { utterance: "" },
  { utterance: "What are your hours on Friday?" },
  { utterance: "Hi, I'd like to book an appointment please" },
  { utterance: "My name is Jane Doe" },
  { utterance: "March 5th, 1980" },
  { utterance: "", tool: [{ name: "verify_identity", outcome: "ok" }], verified: true },
  { utterance: "next Tuesday afternoon if possible", verified: true },
  { utterance: "", tool: [{ name: "find_slots", outcome: "ok", data: { options: SLOTS } }], verified: true },
  { utterance: "the second one", verified: true },
  { utterance: "", tool: [{ name: "book_appointment", outcome: "ok" }], verified: true },
];

const NOOP = { respond: async (input: TurnInput) => ({ state: input.state }) as unknown as TurnOutput };

function stats(samples: number[]): TurnStats {
  const sorted = [...samples].sort((a, b) => a - b);
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? 0;
  const round = (x: number) => Math.round(x * 1000) / 1000;
  return {
    p50: round(at(0.5)),
    p95: round(at(0.95)),
    p99: round(at(0.99)),
    mean: round(sorted.reduce((s, x) => s + x, 0) / sorted.length),
  };
}

export async function engineTurn(options = { turns: 10_000, warmup: 2_000 }): Promise<EngineTurn> {
  const g = graph();
  const engine = new LocalEngine();
  const frame = (text: string) =>
    JSON.stringify({ type: "prompt", voicePrompt: text, lang: "en-US", last: true });
  const local: number[] = [];
  const noop: number[] = [];
  const parse: number[] = [];
  const byStep: number[][] = SCRIPT.map(() => []);
  let state: EngineState = initialEngineState(g, { returning: true, now: NOW });
  let history: TurnInput["history"] = [];
  let heard = "";
  let callsCompleted = 0;
  let sink = 0;
  for (let i = 0; i < options.warmup + options.turns; i++) {
    const step = SCRIPT[i % SCRIPT.length] as Step;
    if (i % SCRIPT.length === 0) {
      state = initialEngineState(g, { returning: true, now: NOW });
      history = [];
      heard = "";
    }
    const input: TurnInput = {
      graph: g,
      state,
      utterance: step.utterance,
      heard,
      history,
      knowledge: KNOWLEDGE,
      patient: PATIENT,
      identity_verified: step.verified === true,
      guidance: [],
      persona: PERSONA,
      now: NOW,
      time_zone: TIME_ZONE,
      ...(step.tool ? { tool_results: step.tool } : {}),
    };
    const raw = frame(step.utterance);
    const t0 = performance.now();
    sink += (JSON.parse(raw) as { voicePrompt: string }).voicePrompt.length;
    const t1 = performance.now();
    await NOOP.respond(input);
    const t2 = performance.now();
    const out = await engine.respond(input);
    const t3 = performance.now();
    if (i >= options.warmup) {
      parse.push((t1 - t0) * 1000);
      noop.push((t2 - t1) * 1000);
      local.push((t3 - t2) * 1000);
      byStep[i % SCRIPT.length]?.push((t3 - t2) * 1000);
      if (out.end_call) callsCompleted++;
    }
    state = out.state;
    heard = out.reply;
    history = [
      ...history,
      ...(step.utterance ? [{ speaker: "caller" as const, text: step.utterance }] : []),
      { speaker: "agent" as const, text: out.reply },
    ].slice(-10);
  }
  if (sink < 0) throw new Error("unreachable");
  if (callsCompleted === 0) throw new Error("the scripted call never reached its terminal state");
  return {
    turns: options.turns,
    localEngine: stats(local),
    noopEngine: stats(noop),
    relayParse: stats(parse),
    callsCompleted,
    perStep: SCRIPT.map((step, k) => ({
      step: step.tool
        ? `[${step.tool.map((r) => `${r.name}:${r.outcome}`).join(",")}]`
        : JSON.stringify(step.utterance),
      p50: stats(byStep[k] ?? []).p50,
    })),
  };
}

export function report(r: EngineTurn): string {
  const row = (name: string, s: TurnStats) =>
    `${name.padEnd(34)} p50 ${s.p50.toFixed(1).padStart(7)} µs   p95 ${s.p95.toFixed(1).padStart(7)} µs   p99 ${s.p99.toFixed(1).padStart(7)} µs   mean ${s.mean.toFixed(1)} µs`;
  return [
    `LocalEngine turn time in Node (in-process, ${r.turns} turns of a scripted booking call; ${r.callsCompleted} calls completed)`,
    "NOT the issue's CallSession figure (prompt → first token at 1/50/200 calls against wrangler dev).",
    row("JSON.parse(ConversationRelay prompt)", r.relayParse),
    row("no-op engine (await respond)", r.noopEngine),
    row("LocalEngine.respond", r.localEngine),
    `target well under 1 ms per turn (p99): ${r.localEngine.p99 < 1000 ? "met" : "NOT met"}`,
    "per step (LocalEngine p50):",
    ...r.perStep.map((s) => `  ${s.p50.toFixed(1).padStart(7)} µs  ${s.step}`),
  ].join("\n");
}
