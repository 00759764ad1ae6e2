/**
 * A `CallSession`'s operators on a live call (docs/design/operators.md): the call's live overlay published
 * to the workspace hub and the listeners, the listen sockets (a snapshot, then what happens), and the
 * control RPC bodies: connect, take over, speak, hand back, release, transfer. Control changes are written
 * at once (switching is instant, even while a turn runs); what is spoken joins the session's frame queue.
 * Control state, points and listener fan-out are `OperatorDesk`'s (call-operators.ts).
 */
import type { EnginePatient, EngineState } from "../shared/engine/engine";
import { turnRisk } from "../shared/engine/local-engine";
import { languageEmotion, languageValence, smoothEmotion } from "../shared/engine/risk";
import type { LiveControl, LiveView } from "../shared/operators/live";
import type { CallOverlay } from "../shared/schemas/operators";
import { normalizeE164 } from "../shared/tenancy/phone";
import { publish } from "../workers/events";
import type { CallChannels } from "./call-channels";
import {
  clinicalRisk,
  LINES,
  LISTENER_TAG,
  liveControl,
  type OperatorDesk,
  operatorWaitLimit,
  overlayOf,
} from "./call-operators";
import {
  type CallContext,
  type CallMeta,
  type CallStore,
  closeQuietly,
  type SessionSteps,
  SILENCE_TIMEOUT_MS,
} from "./call-state";

/** What the operators' side needs of the session. */
export type LiveSteps = Pick<SessionSteps, "enqueue" | "speakAgent" | "end" | "finish" | "scheduleAlarm">;

/** The operators' view of the call and what they may do to it. */
export class LiveOperators {
  readonly #ctx: Pick<DurableObjectState, "acceptWebSocket" | "getWebSockets">;
  readonly #env: Env;
  readonly #sql: SqlStorage;
  readonly #store: CallStore;
  readonly #desk: OperatorDesk;
  readonly #channels: CallChannels;
  readonly #steps: LiveSteps;

  constructor(
    ctx: DurableObjectState,
    env: Env,
    parts: { store: CallStore; desk: OperatorDesk; channels: CallChannels },
    steps: LiveSteps,
  ) {
    this.#ctx = ctx;
    this.#env = env;
    this.#sql = ctx.storage.sql;
    this.#store = parts.store;
    this.#desk = parts.desk;
    this.#channels = parts.channels;
    this.#steps = steps;
  }

  /** The call's live overlay now (null before setup). */
  overlay(meta = this.#store.get<CallMeta>("call")): CallOverlay | null {
    if (!meta) return null;
    const state = this.#store.get<EngineState>("engine_state");
    const callerTurns = this.#sql
      .exec<{ n: number }>("SELECT count(*) AS n FROM turns WHERE speaker = 'caller'")
      .one().n;
    return overlayOf(
      {
        callId: meta.callId,
        serviceId: meta.serviceId,
        transport: meta.transport,
        simulated: this.#store.get<boolean>("simulator") ?? false,
        startedAt: meta.startedAt,
        stateId: state?.state_id ?? null,
        callerTurns,
        emotion: state?.emotion ?? 0,
        loops: state?.loops ?? {},
        latest: this.#desk.latestPoint(),
        escalationReason: meta.escalationReason,
        verified: meta.verified,
      },
      this.#desk.control(),
    );
  }

  /**
   * `call.updated` with the full overlay (ids, codes, numbers), and the verified caller's name given to the
   * hub privately (it shows only in the operators' queue); listeners get the overlay too.
   */
  async publishOverlay(meta = this.#store.get<CallMeta>("call")) {
    const overlay = this.overlay(meta);
    if (!meta || !overlay) return;
    this.#desk.tell({ type: "overlay", overlay });
    await publish(
      this.#env,
      meta.workspaceId,
      { type: "call.updated", data: overlay },
      {
        caller_name: this.#callerName(meta),
      },
    );
  }

  /** The caller's name once they proved who they are (PHI: to the hub's queue only). */
  #callerName(meta: CallMeta): string | null {
    if (!meta.verified) return null;
    const identity = this.#store.get<EnginePatient>("patient")?.identity;
    return identity?.preferred_name ?? identity?.display_name ?? null;
  }

  /** An operator's listen socket: a snapshot, then turns, points, overlay and control as they happen. */
  listen(operator: string): Response {
    const meta = this.#store.get<CallMeta>("call");
    if (!meta) return new Response("No live call", { status: 404 });
    if (this.#store.get<string>("finished_at")) return new Response("The call is over", { status: 410 });
    const pair = new WebSocketPair();
    const [client, server] = [pair[0], pair[1]];
    this.#ctx.acceptWebSocket(server, [LISTENER_TAG]);
    server.serializeAttachment({ operator });
    server.send(JSON.stringify({ type: "snapshot", ...this.#view(meta) }));
    this.#store.timeline("listen", { operator });
    return new Response(null, { status: 101, webSocket: client });
  }

  /** What an operator opening the call sees; null when this session holds no call. */
  async liveView(): Promise<LiveView | null> {
    const meta = this.#store.get<CallMeta>("call");
    return meta ? this.#view(meta) : null;
  }

  #view(meta: CallMeta): LiveView {
    const sql = this.#sql;
    const intent = sql
      .exec<{ intent: string }>(
        "SELECT intent FROM turns WHERE speaker = 'agent' AND intent IS NOT NULL ORDER BY seq DESC LIMIT 1",
      )
      .toArray()[0];
    return {
      overlay: this.overlay(meta)!,
      control: this.liveControl(meta),
      patient_entity_id: meta.patientEntityId,
      verified: meta.verified,
      turns: this.#desk.turns(),
      timeline: this.#desk.points(),
      tools: sql
        .exec<{ name: string; outcome: string; at: string }>(
          "SELECT name, outcome, at FROM tool_runs ORDER BY id",
        )
        .toArray()
        .map((t) => ({ ...t })),
      intent: intent?.intent ?? null,
      guidance_pending: (this.#store.get<string[]>("guidance") ?? []).length,
      ended_at: this.#store.get<string>("ended_at"),
    };
  }

  /** Who controls the call now; null when this session holds no call. */
  async control(): Promise<LiveControl | null> {
    const meta = this.#store.get<CallMeta>("call");
    return meta ? this.liveControl(meta) : null;
  }

  liveControl(meta: CallMeta): LiveControl {
    return liveControl(meta.callId, this.#desk.control(), this.#store.get<string>("finished_at") !== null);
  }

  /** The live call, or null once it is over (its goodbye said) or before it started. */
  liveCall(): CallMeta | null {
    if (this.#store.get<string>("ended_at") || this.#store.get<string>("finished_at")) return null;
    return this.#store.get<CallMeta>("call");
  }

  /** Listeners and the hub hear of a control change. */
  async #controlChanged(meta: CallMeta): Promise<LiveControl> {
    const control = this.liveControl(meta);
    this.#desk.tell({ type: "control", ...control });
    await this.publishOverlay(meta);
    return control;
  }

  /**
   * A listen socket closed. The call goes on as it is; an operator with no other socket open who is not in
   * control has left it: without anyone else on it, an escalation is waiting again (with a fresh operator
   * wait). The operator in control keeps it through a blip (their page reconnects).
   */
  async listenerClosed(ws: WebSocket): Promise<void> {
    closeQuietly(ws);
    const operatorOf = (socket: WebSocket) =>
      (socket.deserializeAttachment() as { operator?: string } | null)?.operator ?? null;
    const operator = operatorOf(ws);
    if (!operator) return;
    await this.#steps.enqueue(async () => {
      const meta = this.liveCall();
      if (!meta) return;
      const stillHere = this.#ctx
        .getWebSockets(LISTENER_TAG)
        .some((s) => s !== ws && s.readyState === WebSocket.OPEN && operatorOf(s) === operator);
      const before = this.#desk.control();
      if (stillHere || !before.connected.includes(operator)) return;
      if (before.mode === "operator" && before.operatorUserId === operator) return;
      const connected = before.connected.filter((o) => o !== operator);
      const nobody = connected.length === 0 && before.escalation === "connected";
      this.#desk.update({
        connected,
        ...(nobody
          ? { escalation: before.escalatedAt ? "waiting" : "none", operatorUserId: null }
          : before.operatorUserId === operator
            ? { operatorUserId: connected.at(-1) ?? null }
            : {}),
      });
      if (nobody && before.escalatedAt) {
        this.#store.put("operator_wait_deadline", Date.now() + operatorWaitLimit());
        await this.#steps.scheduleAlarm();
      }
      this.#store.timeline("operator_left", { operator });
      await publish(this.#env, meta.workspaceId, {
        type: "operator.left",
        data: { call_id: meta.callId, operator_user_id: operator },
      });
      await this.#controlChanged(meta);
    });
  }

  /** An operator opened the call (to listen or guide): a waiting escalation is connected. */
  async connectOperator(input: { operator: string }): Promise<LiveControl | null> {
    const meta = this.liveCall();
    if (!meta) return null;
    const before = this.#desk.control();
    if (before.connected.includes(input.operator) && before.escalation !== "waiting")
      return this.liveControl(meta);
    this.#desk.update({
      connected: [...new Set([...before.connected, input.operator])],
      escalation: before.escalation === "operator_active" ? "operator_active" : "connected",
      operatorUserId: before.mode === "operator" ? before.operatorUserId : input.operator,
    });
    this.#store.delete("operator_wait_deadline");
    this.#store.timeline("operator_joined", { operator: input.operator });
    await publish(this.#env, meta.workspaceId, {
      type: "operator.joined",
      data: { call_id: meta.callId, operator_user_id: input.operator },
    });
    return this.#controlChanged(meta);
  }

  /** The operator speaks for the call from now on: the agent keeps listening and scoring, and stays quiet. */
  async takeover(input: { operator: string }): Promise<LiveControl | null> {
    const meta = this.liveCall();
    if (!meta) return null;
    const before = this.#desk.control();
    if (before.mode === "operator" && before.operatorUserId === input.operator) return this.liveControl(meta);
    this.#desk.update({
      mode: "operator",
      operatorUserId: input.operator,
      escalation: "operator_active",
      connected: [...new Set([...before.connected, input.operator])],
      takeoverAt: new Date().toISOString(),
    });
    this.#store.delete("operator_wait_deadline");
    this.#store.timeline("takeover", { operator: input.operator });
    await publish(this.#env, meta.workspaceId, {
      type: "operator.takeover",
      data: { call_id: meta.callId, operator_user_id: input.operator },
    });
    return this.#controlChanged(meta);
  }

  /**
   * The operator's words to the caller, in the call's voice (relay tokens, synthesized audio, or a text
   * message), stored as their turn. Only the operator in control speaks.
   */
  async operatorSay(input: {
    operator: string;
    text: string;
  }): Promise<{ spoken: boolean; reason?: "not_in_control" | "over" }> {
    if (!this.liveCall()) return { spoken: false, reason: "over" };
    const inControl = () => {
      const control = this.#desk.control();
      return control.mode === "operator" && control.operatorUserId === input.operator;
    };
    if (!inControl()) return { spoken: false, reason: "not_in_control" };
    let outcome: { spoken: boolean; reason?: "not_in_control" | "over" } = { spoken: false, reason: "over" };
    await this.#steps.enqueue(async () => {
      const channel = this.liveCall() ? this.#channels.current() : null;
      if (!channel) return;
      if (!inControl()) {
        outcome = { spoken: false, reason: "not_in_control" };
        return;
      }
      await this.#steps.speakAgent(channel, input.text.trim().slice(0, 1000), input.operator);
      this.#store.timeline("operator_said", { operator: input.operator, length: input.text.length });
      outcome = { spoken: true };
    });
    return outcome;
  }

  /** Control back to the agent, its context intact (the operator's lines are in its history); it re-enters. */
  async handback(input: { operator: string }): Promise<LiveControl | null> {
    const meta = this.liveCall();
    if (!meta) return null;
    const before = this.#desk.control();
    if (before.mode !== "operator") return this.liveControl(meta);
    const activeMs = before.takeoverAt ? Math.max(0, Date.now() - Date.parse(before.takeoverAt)) : 0;
    this.#desk.update({
      mode: "agent",
      escalation: "connected",
      takeoverAt: null,
      operatorUserId: input.operator,
    });
    this.#store.timeline("handback", { operator: input.operator, active_ms: activeMs });
    await publish(this.#env, meta.workspaceId, {
      type: "operator.handback",
      data: { call_id: meta.callId, operator_user_id: input.operator, active_ms: activeMs },
    });
    const control = await this.#controlChanged(meta);
    await this.#steps.enqueue(async () => {
      const channel = this.liveCall() ? this.#channels.current() : null;
      if (!channel || this.#desk.control().mode !== "agent") return;
      await this.#steps.speakAgent(channel, LINES.reentry);
      this.#store.put("reprompted", false);
      if (channel.transport !== "sms") this.#store.put("silence_deadline", Date.now() + SILENCE_TIMEOUT_MS);
      await this.#steps.scheduleAlarm();
    });
    return control;
  }

  /**
   * The operator wrapped up while the call is live: it is the agent's again (handed back first if they were
   * speaking for it, so the caller is never left alone), and with nobody else on it the escalation is
   * handled (`none`: off the operators' waiting list, no operator wait). Null when the call is over.
   */
  async release(input: { operator: string }): Promise<{ handedBack: boolean } | null> {
    const meta = this.liveCall();
    if (!meta) return null;
    const before = this.#desk.control();
    const handedBack =
      before.mode === "operator" && before.operatorUserId === input.operator
        ? (await this.handback(input)) !== null
        : false;
    const after = this.#desk.control();
    const connected = after.connected.filter((o) => o !== input.operator);
    const nobody = connected.length === 0 && after.mode === "agent";
    this.#desk.update({
      connected,
      ...(nobody
        ? { escalation: after.escalation === "fallback" ? "fallback" : "none", operatorUserId: null }
        : {}),
    });
    if (nobody) this.#store.delete("operator_wait_deadline");
    this.#store.timeline("operator_released", { operator: input.operator, handed_back: handedBack });
    await this.#controlChanged(meta);
    return { handedBack };
  }

  /**
   * Transfers the call to a clinic line once the agent's announcement has played: ConversationRelay
   * `end` with `{reason: "transfer", to}` after its last token; Media Streams a REST redirect when its
   * last mark returns (`pending_transfer` until then).
   */
  async transfer(input: {
    operator: string;
    to: string;
    announcement?: string;
  }): Promise<LiveControl | null> {
    const meta = this.liveCall();
    if (!meta) return null;
    if (this.#desk.control().transferTo) return this.liveControl(meta);
    const to = normalizeE164(input.to) ?? input.to;
    this.#desk.update({ transferTo: to });
    this.#store.timeline("operator_transfer", { operator: input.operator });
    await publish(this.#env, meta.workspaceId, {
      type: "operator.transfer",
      data: { call_id: meta.callId, operator_user_id: input.operator },
    });
    const control = await this.#controlChanged(meta);
    await this.#steps.enqueue(async () => {
      if (this.#store.get<string>("ended_at")) return;
      const channel = this.#channels.current();
      if (!channel) return this.#steps.finish("transfer");
      const lastMark = await this.#steps.speakAgent(channel, input.announcement?.trim() || LINES.transfer);
      await this.#steps.end(channel, { reason: "transfer", handoff: { reason: "transfer", to } }, lastMark);
    });
    return control;
  }

  /** A caller turn while an operator speaks for the call: stored (done), scored, told; no reply, no tools. */
  async scoreOnly(
    meta: CallMeta,
    context: CallContext,
    state: EngineState,
    utterance: string,
    callerSeq: number,
    at: Date,
  ) {
    const scored: EngineState = {
      ...state,
      emotion: smoothEmotion(state.emotion, languageEmotion(utterance)),
    };
    this.#store.put("engine_state", scored);
    const risk = turnRisk({ graph: context.graph, now: at }, scored);
    this.#sql.exec(
      "UPDATE turns SET risk_score = ?, risk_level = ? WHERE seq = ?",
      risk.score,
      risk.level,
      callerSeq,
    );
    this.#desk.addPoint({
      seq: callerSeq,
      at: at.toISOString(),
      ...clinicalRisk(risk, meta.escalationReason),
      emotion_score: Math.round(scored.emotion * 1000) / 1000,
      valence: languageValence(utterance),
    });
    await this.publishOverlay(meta);
  }

  /**
   * Operator guidance: hidden instructions the agent works into its next reply (never spoken as such,
   * never in a log or the timeline: it may name the patient). False when the call is over.
   */
  async guide(input: { text: string; operator: string }): Promise<{ accepted: boolean }> {
    if (this.#store.get<string>("ended_at") || this.#store.get<string>("finished_at"))
      return { accepted: false };
    const pending = this.#store.get<string[]>("guidance") ?? [];
    this.#store.put("guidance", [...pending, input.text.slice(0, 500)].slice(-5));
    this.#store.timeline("guidance", { operator: input.operator, length: input.text.length });
    return { accepted: true };
  }

  /** Guidance waiting for the next turn, taken once (the engine sees it on one reply). */
  takeGuidance(): string[] {
    const pending = this.#store.get<string[]>("guidance") ?? [];
    if (pending.length > 0) this.#store.delete("guidance");
    return pending;
  }
}
