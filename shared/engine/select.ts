/**
 * Which reasoning engine a call runs on, chosen from configuration in one place: the model-backed
 * `WorkersAiEngine` when the Workers AI binding exists, unless `AGENT_ENGINE=local` pins the
 * deterministic `LocalEngine` (the embedded default, and the engine of local runs without `[ai]`).
 */
import type { ReasoningEngine } from "./engine";
import { LocalEngine } from "./local-engine";
import { WorkersAiEngine, type WorkersAiEngineOptions } from "./workers-ai-engine";

export interface EngineEnv {
  AI?: Pick<Ai, "run">;
  /** "local" pins the LocalEngine; anything else (or nothing) lets the binding decide. */
  AGENT_ENGINE?: string;
}

export type EngineName = "workers-ai" | "local";

/** The name of the engine `selectEngine` picks for `env`, for logs and call events. */
export function engineName(env: EngineEnv): EngineName {
  return env.AI && env.AGENT_ENGINE?.trim().toLowerCase() !== "local" ? "workers-ai" : "local";
}

export function selectEngine(
  env: EngineEnv,
  options: Omit<WorkersAiEngineOptions, "fallback"> = {},
): ReasoningEngine {
  const local = new LocalEngine();
  if (engineName(env) === "local" || !env.AI) return local;
  return new WorkersAiEngine(env.AI, { ...options, fallback: local });
}
