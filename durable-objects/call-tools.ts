/**
 * A `CallSession`'s tool runs: the engine's tool calls executed with the call's context (the caller's
 * sealed number opened for the tool only), each run stored against the agent turn it serves. The executor
 * is W2's `executeTools`; tests may swap it.
 */
import type { ToolCall } from "../shared/engine/engine";
import { executeTools, type ToolContext, type ToolExecution } from "../workers/calls/tools";
import { openFromNumber } from "../workers/db/calls";
import { DEFAULT_TIME_ZONE } from "../workers/ehr/scheduling-slots";
import { type CallContext, type CallMeta, type CallStore, errorName, log } from "./call-state";

/** Executes the tools the engine asked for; the real one is W2's `executeTools`, tests may swap it. */
export type ToolExecutor = (env: Env, context: ToolContext, calls: ToolCall[]) => Promise<ToolExecution[]>;
let toolExecutor: ToolExecutor = executeTools;
/** For tests: replaces the tool executor (pass nothing to restore the real one). */
export function setToolExecutor(executor?: ToolExecutor) {
  toolExecutor = executor ?? executeTools;
}

/** Runs the engine's tool calls for a call and keeps a row per run in the session's `tool_runs`. */
export class ToolRunner {
  readonly #env: Env;
  readonly #sql: SqlStorage;
  readonly #store: CallStore;

  constructor(env: Env, sql: SqlStorage, store: CallStore) {
    this.#env = env;
    this.#sql = sql;
    this.#store = store;
  }

  /** Runs the engine's tool calls; each run is stored against the agent turn (`turnSeq`) it serves. */
  async run(meta: CallMeta, calls: ToolCall[], turn: number, turnSeq: number): Promise<ToolExecution[]> {
    const callerPhone = meta.fromNumberEnc
      ? await openFromNumber(
          this.#env.ENCRYPTION_KEY,
          meta.workspaceId,
          meta.callId,
          meta.fromNumberEnc,
        ).catch(() => null)
      : null;
    const context: ToolContext = {
      workspaceId: meta.workspaceId,
      callId: meta.callId,
      serviceId: meta.serviceId,
      callerPhone,
      serviceNumber: meta.serviceNumber,
      patientEntityId: meta.patientEntityId,
      now: new Date(),
      timeZone: this.#store.get<CallContext>("context")?.timeZone ?? DEFAULT_TIME_ZONE,
      turn,
    };
    let executions: ToolExecution[];
    try {
      executions = await toolExecutor(this.#env, context, calls);
    } catch (err) {
      log("error", "call.tools_failed", { call_id: meta.callId, error: errorName(err) });
      executions = calls.map((c) => ({
        result: { name: c.name, outcome: "error", data: { reason: "tool_failed" } },
        latency_ms: 0,
      }));
    }
    const at = new Date().toISOString();
    for (const ex of executions) {
      this.#sql.exec(
        "INSERT INTO tool_runs (turn_seq, name, outcome, latency_ms, at) VALUES (?, ?, ?, ?, ?)",
        turnSeq,
        ex.result.name,
        ex.result.outcome,
        Math.round(ex.latency_ms),
        at,
      );
    }
    return executions;
  }
}
