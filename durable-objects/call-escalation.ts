/**
 * A `CallSession`'s escalation routing: a new escalation goes to the operators when one of the routed type
 * (and skill) is online, the call waiting with the agent, else to the service's fallback (forward, call
 * back or continue); a wait nobody answered falls back the same way. Recorded on the call, in D1 and as an
 * `alert` on the workspace's stream (ids only).
 */
import { routeEscalation } from "../shared/operators/routing";
import { EscalationRules } from "../shared/schemas/tenancy";
import { database } from "../workers/db/client";
import { availableOperators } from "../workers/db/operators";
import { publish } from "../workers/events";
import { recordEscalation } from "../workers/operators/assignments";
import {
  type Fallback,
  fallbackOf,
  LINES,
  type OperatorDesk,
  operatorEngaged,
  operatorWaitLimit,
} from "./call-operators";
import {
  type CallContext,
  type CallMeta,
  type CallStore,
  type Channel,
  type Ending,
  errorName,
  log,
  type ServiceEscalationRules,
  type SessionSteps,
  SILENCE_TIMEOUT_MS,
} from "./call-state";

/** The service's escalation rules (the defaults when stored ones no longer parse). */
export function escalationRules(rules: unknown): ServiceEscalationRules {
  const parsed = EscalationRules.safeParse(rules);
  return parsed.success ? parsed.data : EscalationRules.parse({});
}

/** How an escalation the fallback ends leaves the agent: forwarded to the fallback number, or a call back. */
export function fallbackEnding(reasonCode: string, rules: ServiceEscalationRules): Ending {
  const to = rules.fallback === "forward" ? rules.fallback_number : null;
  return {
    reason: "escalation",
    handoff: { reason: "escalation", reason_code: reasonCode, ...(to ? { to } : {}) },
  };
}

/** What the escalation routing needs of the session. */
export type EscalationSteps = Pick<SessionSteps, "speakAgent" | "end" | "finish" | "scheduleAlarm"> & {
  /** `call.updated` with the call's overlay. */
  publishOverlay(): Promise<void>;
};

/** Routes the call's escalations and runs the service's fallback. */
export class EscalationRouter {
  readonly #env: Env;
  readonly #store: CallStore;
  readonly #desk: OperatorDesk;
  readonly #steps: EscalationSteps;

  constructor(env: Env, store: CallStore, desk: OperatorDesk, steps: EscalationSteps) {
    this.#env = env;
    this.#store = store;
    this.#desk = desk;
    this.#steps = steps;
  }

  rules(context: CallContext): ServiceEscalationRules {
    return context.escalation ?? EscalationRules.parse({});
  }

  /**
   * Where a new escalation goes: to the operators when one of the routed type (and skill) is online (the
   * call stays with the agent, waiting), else to the service's fallback. Recorded on the call and in D1.
   */
  async route(meta: CallMeta, context: CallContext, reason: string): Promise<{ fallback: Fallback | null }> {
    const rules = this.rules(context);
    const route = routeEscalation(reason, rules);
    const db = database(this.#env.DB);
    // An operator who opened the call before it escalated already has it.
    const before = this.#desk.control();
    const engaged = operatorEngaged(before);
    let online = 0;
    try {
      online = engaged ? 0 : (await availableOperators(db, meta.workspaceId, route)).length;
    } catch (err) {
      log("warn", "call.operators_unavailable", { call_id: meta.callId, error: errorName(err) });
    }
    const fallback = engaged || online > 0 ? null : fallbackOf(rules);
    const at = new Date();
    meta.escalated = true;
    meta.escalationReason = reason;
    this.#store.put("call", meta);
    this.#desk.update({
      escalation: fallback ? "fallback" : engaged ? before.escalation : "waiting",
      escalatedAt: at.toISOString(),
      fallback,
    });
    if (!fallback && !engaged) this.#store.put("operator_wait_deadline", at.getTime() + operatorWaitLimit());
    this.#store.timeline("escalation_routed", {
      routed: fallback ? "fallback" : "operator",
      fallback,
      operator_type: route.type,
      skill: route.skill,
      online,
      already_connected: engaged,
    });
    try {
      await recordEscalation(db, {
        workspaceId: meta.workspaceId,
        callId: meta.callId,
        serviceId: meta.serviceId,
        reason,
        at: at.toISOString(),
      });
    } catch (err) {
      log("warn", "call.escalation_not_recorded", { call_id: meta.callId, error: errorName(err) });
    }
    if (fallback) await this.#alertUnanswered(meta, "no_operator_online", reason, fallback);
    return { fallback };
  }

  /**
   * Nobody connected within the operator-wait limit: the service's fallback, as at escalation time (a
   * forward or a call back end the call after a short apology; `continue` keeps the agent going).
   */
  async fallBackAfterWait(channel: Channel | null) {
    const meta = this.#store.get<CallMeta>("call");
    const context = this.#store.get<CallContext>("context");
    if (!meta || !context) return;
    const rules = this.rules(context);
    const fallback = fallbackOf(rules);
    this.#store.delete("operator_wait_deadline");
    this.#desk.update({ escalation: "fallback", fallback });
    this.#store.timeline("operator_wait_expired", { fallback });
    await this.#steps.publishOverlay();
    const reason = meta.escalationReason ?? "operator_wait";
    await this.#alertUnanswered(meta, "operator_wait_expired", reason, fallback);
    if (fallback === "continue") {
      if (channel) await this.#steps.speakAgent(channel, LINES.continue);
      this.#store.put("silence_deadline", Date.now() + SILENCE_TIMEOUT_MS);
      return this.#steps.scheduleAlarm();
    }
    const line = fallback === "forward" ? LINES.forwardAfterWait : LINES.callbackAfterWait;
    if (!channel) return this.#steps.finish("escalation");
    const lastMark = await this.#steps.speakAgent(channel, line);
    await this.#steps.end(channel, fallbackEnding(reason, rules), lastMark);
  }

  /** An escalation nobody took: an `alert` on the workspace's stream for whoever supervises (ids only). */
  async #alertUnanswered(
    meta: CallMeta,
    kind: "no_operator_online" | "operator_wait_expired",
    reason: string,
    fallback: Fallback,
  ) {
    await publish(this.#env, meta.workspaceId, {
      type: "alert",
      data: { kind, call_id: meta.callId, service_id: meta.serviceId, reason, fallback },
    });
  }
}
