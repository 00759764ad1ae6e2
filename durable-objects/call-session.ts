/**
 * `CallSession`: one object per live call (named by the call id). It holds the call's sockets with the
 * Hibernation API and keeps everything a turn needs in its SQLite storage (call meta, engine state, turns
 * with timings, tool runs, the timeline: call-state.ts), so an evicted or hibernated object picks the
 * conversation up where it was. This class runs the call: setup, each turn (engine, tools, reply), the
 * alarms (silence, operator wait, maximum duration, the SMS inbox) and the end; the rest is composed:
 *
 * - call-channels.ts: where a reply goes (ConversationRelay tokens, Media Streams audio, SMS).
 * - call-relay.ts: ConversationRelay's frames; `end` with `handoffData` goes after the goodbye's last token.
 * - call-streams.ts (over call-media.ts): Media Streams frames; the goodbye's `mark` coming back ends the
 *   call (a transfer is redirected through Twilio's REST API). Without speech services the voice webhook
 *   never opens this path; a socket that arrives anyway is closed with a logged reason.
 * - call-escalation.ts: an escalation waits for an online operator, else the service's fallback runs.
 * - call-live.ts (over call-operators.ts): operators listen, take over (the agent keeps scoring the caller
 *   and stays quiet), speak, hand back and transfer through the RPC methods below; every turn publishes the
 *   call's live overlay to the workspace hub.
 * - call-records.ts: at the end, the outcome and timeline in D1 (no PHI) and the speaker-attributed
 *   transcript in R2 (memory L0); then the session forgets the PHI it held.
 *
 * SMS text sessions (`textMessage`): each inbound message is stored, then handled by the alarm as a turn
 * of the same engine; replies go out through the Messaging adapter's queue. The session ends a day after
 * the last message.
 */
import { DurableObject } from "cloudflare:workers";
import {
  type EnginePatient,
  type EngineState,
  initialEngineState,
  type TurnInput,
  type TurnOutput,
} from "../shared/engine/engine";
import { languageValence } from "../shared/engine/risk";
import { engineName, selectEngine } from "../shared/engine/select";
import { SURFACE_COMPLETED } from "../shared/engine/templates";
import type { LiveControl, LiveView } from "../shared/operators/live";
import type { ToolExecution } from "../workers/calls/tools";
import { TEXT_SESSION_IDLE_MS } from "../workers/db/calls";
import { publish } from "../workers/events";
import { speechServices } from "../workers/speech/speech";
import type { Handoff } from "../workers/telephony/twiml";
import { CallChannels } from "./call-channels";
import { EscalationRouter, fallbackEnding } from "./call-escalation";
import { LiveOperators } from "./call-live";
import { MediaLeg } from "./call-media";
import {
  clinicalRisk,
  HOLD_LINE_INTERVAL_MS,
  holdsOnSilence,
  LINES,
  LISTENER_TAG,
  OPERATOR_HEADER,
  OperatorDesk,
  routesEscalation,
} from "./call-operators";
import { CallRecords } from "./call-records";
import { RelayFrames } from "./call-relay";
import { loadCall } from "./call-setup";
import { SmsInbox } from "./call-sms";
import {
  type CallContext,
  type CallMeta,
  CallStore,
  type Channel,
  type Ending,
  type EndReason,
  errorName,
  log,
  MAX_CALL_DURATION_MS,
  SCHEMA,
  type SessionSteps,
  SILENCE_TIMEOUT_MS,
} from "./call-state";
import { MediaStreams } from "./call-streams";
import { ToolRunner } from "./call-tools";
import { migrate } from "./sql-migrations";

export { replyTokens } from "./call-channels";
export { LINES, setOperatorWaitLimit } from "./call-operators";
export { MAX_CALL_DURATION_MS, SILENCE_TIMEOUT_MS } from "./call-state";
export { setToolExecutor, type ToolExecutor } from "./call-tools";

/** Header names the Worker's upgrade route uses to hand the verified call id and transport over. */
export const CALL_ID_HEADER = "X-Switchboard-Call-Id";
export const TRANSPORT_HEADER = "X-Switchboard-Transport";

/** Tool rounds per caller turn (a tool result may lead the engine to the next lookup). */
const MAX_TOOL_ROUNDS = 4;

export class CallSession extends DurableObject<Env> {
  readonly #schemaVersion: number;
  readonly #engine;
  readonly #store: CallStore;
  readonly #media: MediaLeg;
  readonly #desk: OperatorDesk;
  readonly #channels: CallChannels;
  readonly #relay: RelayFrames;
  readonly #streams: MediaStreams;
  readonly #live: LiveOperators;
  readonly #escalation: EscalationRouter;
  readonly #records: CallRecords;
  readonly #sms: SmsInbox;
  readonly #tools: ToolRunner;
  /** Frames are handled one after another: a turn awaits D1 and tools, and the next frame must wait. */
  #queue: Promise<void> = Promise.resolve();

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.#schemaVersion = migrate(ctx.storage.sql, SCHEMA);
    this.#engine = selectEngine(env);
    this.#store = new CallStore(ctx.storage.sql);
    this.#media = new MediaLeg(ctx.storage.sql);
    this.#desk = new OperatorDesk(ctx);
    this.#channels = new CallChannels(ctx, env, this.#store, this.#media, this.#desk);
    const steps: SessionSteps = {
      enqueue: (work) => this.#enqueue(work),
      setup: (channel, callSid) => this.#setup(channel, callSid),
      turn: (channel, utterance) => this.#turn(channel, utterance),
      speakAgent: (channel, text, operator) => this.#speakAgent(channel, text, operator),
      end: (channel, ending, lastMark) => this.#end(channel, ending, lastMark),
      finish: (reason) => this.#finish(reason),
      scheduleAlarm: () => this.#scheduleAlarm(),
    };
    const parts = { store: this.#store, media: this.#media, desk: this.#desk, channels: this.#channels };
    this.#relay = new RelayFrames(env, ctx.storage.sql, this.#store, this.#channels, steps);
    this.#streams = new MediaStreams(ctx, env, parts, steps);
    this.#live = new LiveOperators(ctx, env, parts, steps);
    this.#escalation = new EscalationRouter(env, this.#store, this.#desk, {
      ...steps,
      publishOverlay: () => this.#live.publishOverlay(),
    });
    this.#records = new CallRecords(env, ctx.storage.sql, this.#media);
    this.#sms = new SmsInbox(ctx.storage, this.#store, this.#channels, steps);
    this.#tools = new ToolRunner(env, ctx.storage.sql, this.#store);
  }

  /** Liveness and storage schema version, for health checks. */
  async describe(): Promise<{ kind: "CallSession"; schemaVersion: number }> {
    return { kind: "CallSession", schemaVersion: this.#schemaVersion };
  }

  // -------------------------------------------------------------------------------------------------------
  // The socket

  override async fetch(request: Request): Promise<Response> {
    if (request.headers.get("Upgrade")?.toLowerCase() !== "websocket")
      return new Response("Expected a WebSocket upgrade", { status: 426 });
    // An operator's listen socket (the Worker's listen route authenticated the operator). Twilio's sockets
    // come to `/socket` with the call id, so a header slipped into one never makes it a listener.
    if (new URL(request.url).pathname === "/listen" && !request.headers.has(CALL_ID_HEADER)) {
      const operator = request.headers.get(OPERATOR_HEADER);
      if (!operator) return new Response("Missing operator", { status: 400 });
      return this.#live.listen(operator);
    }
    const callId = request.headers.get(CALL_ID_HEADER);
    const transport = request.headers.get(TRANSPORT_HEADER);
    if (!callId || !transport) return new Response("Missing call", { status: 400 });
    const pair = new WebSocketPair();
    const [client, server] = [pair[0], pair[1]];
    this.ctx.acceptWebSocket(server, [transport]);
    if (this.#store.get<string>("call_id") === null) this.#store.put("call_id", callId);
    if (transport === "media_streams" && !speechServices(this.env)) {
      // The voice webhook says this and hangs up before a socket opens; one that arrives anyway is closed.
      log("warn", "call.speech_unavailable", { call_id: callId, reason: "speech services not configured" });
      this.#store.timeline("speech_unavailable", {});
      server.close(1011, "speech services not configured");
    }
    return new Response(null, { status: 101, webSocket: client });
  }

  override async webSocketMessage(ws: WebSocket, message: string | ArrayBuffer): Promise<void> {
    // Media frames arrive every 20 ms and are handled at once (a turn in progress must not hold up
    // barge-in detection); what they lead to (a transcription and a turn) joins the queue.
    const tag = this.ctx.getTags(ws)[0];
    if (tag === "media_streams") return this.#streams.onFrame(ws, message);
    // Listen sockets carry only an operator's voice (Media Streams); everything else goes through the API.
    if (tag === LISTENER_TAG) return this.#streams.onListenerFrame(ws, message);
    return this.#enqueue(() => this.#relay.onMessage(ws, message));
  }

  /** Runs work after everything queued before it (frames, turns, alarms), one at a time. */
  #enqueue(work: () => Promise<void>): Promise<void> {
    const run = this.#queue.then(work);
    this.#queue = run.catch(() => {});
    return run;
  }

  override async webSocketClose(ws: WebSocket, code: number): Promise<void> {
    if (this.ctx.getTags(ws)[0] === LISTENER_TAG) return this.#live.listenerClosed(ws);
    await this.#queue;
    log("info", "call.socket_closed", { call_id: this.#store.get<string>("call_id"), code });
    await this.#finish("hangup");
    try {
      ws.close(1000, "closed");
    } catch {
      // Already closed.
    }
  }

  override async webSocketError(ws: WebSocket, error: unknown): Promise<void> {
    if (this.ctx.getTags(ws)[0] === LISTENER_TAG) return this.#live.listenerClosed(ws);
    log("warn", "call.socket_error", {
      call_id: this.#store.get<string>("call_id"),
      error: errorName(error),
    });
    await this.#queue;
    await this.#finish("hangup");
  }

  // -------------------------------------------------------------------------------------------------------
  // SMS text sessions

  /**
   * An inbound text message of this session (the SMS webhook calls this once per new message). It is
   * stored and handled by the alarm, so a failure is retried and a redelivery is a no-op.
   */
  async textMessage(input: { callId: string; messageId: string; body: string; at: string }): Promise<void> {
    return this.#sms.receive(input);
  }

  // -------------------------------------------------------------------------------------------------------
  // Setup and turns

  async #setup(channel: Channel, callSid: string | null) {
    const callId = this.#store.get<string>("call_id")!;
    if (this.#store.get<CallMeta>("call")) return; // Twilio reconnected, or a duplicate setup: the call goes on.
    const loaded = await loadCall(this.env, callId, channel.transport, callSid);
    if (!loaded.ok) {
      log("warn", "call.unavailable", { call_id: callId, reason: loaded.reason });
      this.#store.put("ended_at", new Date().toISOString());
      if (channel.transport === "conversation_relay") {
        await channel.say(
          "I'm sorry, this line can't take calls right now. Please try again later. Goodbye.",
          0,
          true,
        );
        channel.send?.({ type: "end", handoffData: JSON.stringify({ reason: "unavailable" }) });
      } else {
        for (const ws of this.ctx.getWebSockets()) ws.close(1011, "call unavailable");
      }
      return;
    }
    const { meta, context, patient, now } = loaded;
    this.#store.put("call", meta);
    this.#store.put("context", context);
    // The dashboard's phone simulator gets `debug` frames; Twilio never does (the call row says which it is).
    this.#store.put("simulator", loaded.simulator);
    // PHI: the caller's L3 context, held only while the call lives.
    if (patient) this.#store.put("patient", patient);
    this.#store.put("engine_state", initialEngineState(context.graph, { returning: meta.returning, now }));
    this.#store.put("max_deadline", now.getTime() + MAX_CALL_DURATION_MS);
    this.#store.timeline("setup", {
      graph_id: meta.graphId,
      graph_version: meta.graphVersion,
      returning: meta.returning,
      transport: channel.transport,
      engine: engineName(this.env),
    });
    log("info", "call.session_started", { call_id: callId, workspace_id: meta.workspaceId });
    // A voice call is greeted; a text session answers the message that opened it.
    if (channel.transport !== "sms") await this.#turn(channel, "");
  }

  /** One caller turn ("" for the greeting): engine, tools, engine again, reply, persistence, events. */
  async #turn(channel: Channel, utterance: string) {
    const meta = this.#store.get<CallMeta>("call");
    const context = this.#store.get<CallContext>("context");
    const state = this.#store.get<EngineState>("engine_state");
    if (!meta || !context || !state) {
      log("warn", "call.prompt_before_setup", { call_id: this.#store.get<string>("call_id") });
      return;
    }
    const startedAt = new Date();
    const heard = this.#store.lastHeard();
    const history = this.#store.history();
    const callerSeq = utterance
      ? this.ctx.storage.sql
          .exec<{ seq: number }>(
            "INSERT INTO turns (speaker, text, state_id, started_at, ended_at) VALUES ('caller', ?, ?, ?, ?) RETURNING seq",
            utterance,
            state.state_id,
            startedAt.toISOString(),
            startedAt.toISOString(),
          )
          .one().seq
      : null;
    if (callerSeq !== null) this.#desk.tellTurn(callerSeq);
    // An operator has the call: the caller's words are kept and scored; the agent neither answers nor acts.
    if (this.#desk.control().mode === "operator") {
      if (callerSeq !== null)
        await this.#live.scoreOnly(meta, context, state, utterance, callerSeq, startedAt);
      return;
    }
    this.#store.put("reprompted", false);
    const base: Omit<TurnInput, "state" | "utterance" | "heard" | "history"> = {
      graph: context.graph,
      knowledge: context.knowledge,
      patient: this.#store.get<EnginePatient>("patient"),
      identity_verified: meta.verified,
      guidance: this.#live.takeGuidance(),
      persona: context.persona,
      now: startedAt,
      time_zone: context.timeZone,
    };
    let out = await this.#engine.respond({ ...base, state, utterance, heard, history });
    const toolsRun: ToolExecution[] = [];
    const replies = [out.reply];
    let ending: Ending | null = null;
    let escalation = out.escalate?.reason ?? null;
    this.#persistState(out, state.state_id);

    // The agent's turn: its row first (marks and a barge-in name it), its words streamed as they come.
    const agentSeq = this.ctx.storage.sql
      .exec<{ seq: number }>(
        "INSERT INTO turns (speaker, text, started_at) VALUES ('agent', '', ?) RETURNING seq",
        startedAt.toISOString(),
      )
      .one().seq;
    let spokenUpTo = 0;
    let firstAt: string | null = null;
    let lastMark: string | null = null;
    const speak = async (final: boolean) => {
      const text = replies
        .slice(spokenUpTo)
        .filter((r) => r.trim())
        .join(" ");
      spokenUpTo = replies.length;
      if (!text && !(final && firstAt)) return;
      // A later part continues the sentence stream: a space keeps the words apart once joined.
      const spoken = await channel.say(firstAt && text ? ` ${text}` : text, agentSeq, final);
      firstAt ??= spoken.firstAt;
      lastMark = spoken.lastMark ?? lastMark;
    };

    for (let round = 0; out.tool_calls.length > 0 && round < MAX_TOOL_ROUNDS && !ending; round++) {
      // What the agent says before a lookup ("One moment while I check that.") goes out at once; a text
      // message waits for the whole answer.
      if (channel.transport !== "sms") await speak(false);
      const executions = await this.#tools.run(meta, out.tool_calls, out.state.turn, agentSeq);
      toolsRun.push(...executions);
      for (const ex of executions) {
        if (ex.patientEntityId) meta.patientEntityId = ex.patientEntityId;
        if (ex.patient) this.#store.put("patient", ex.patient);
        if (ex.result.name === "verify_identity" && ex.result.outcome === "ok") meta.verified = true;
        if (ex.escalation) escalation ??= ex.escalation.reason;
        if (ex.transfer) ending = { reason: "transfer", handoff: { reason: "transfer", to: ex.transfer.to } };
        else if (ex.end) ending ??= { reason: "completed", handoff: { reason: "completed" } };
      }
      this.#store.put("call", meta);
      if (escalation || ending || this.#desk.control().mode === "operator") break;
      const previous = out.state.state_id;
      out = await this.#engine.respond({
        ...base,
        patient: this.#store.get<EnginePatient>("patient"),
        identity_verified: meta.verified,
        state: out.state,
        utterance: "",
        heard: "",
        history: [...history, ...(utterance ? [{ speaker: "caller" as const, text: utterance }] : [])],
        tool_results: executions.map((e) => e.result),
      });
      replies.push(out.reply);
      escalation ??= out.escalate?.reason ?? null;
      this.#persistState(out, previous);
    }
    // An escalation waits for an operator when one is online; otherwise the service's fallback runs. A call
    // already waiting for (or with) an operator is not routed again; one the fallback kept going may be.
    const routed =
      escalation && routesEscalation(this.#desk.control())
        ? await this.#escalation.route(meta, context, escalation)
        : null;
    if (escalation && routed?.fallback === "continue") replies.push(LINES.continue);
    else if (escalation && routed?.fallback)
      ending ??= fallbackEnding(escalation, this.#escalation.rules(context));
    if (!ending && out.end_call) ending = { reason: "completed", handoff: { reason: "completed" } };

    // An operator took over while this turn ran: what the agent had not said yet stays unsaid, and it no
    // longer ends the call on its own.
    if (this.#desk.control().mode === "operator") {
      replies.splice(spokenUpTo);
      if (ending?.reason === "completed") ending = null;
    }
    const reply = replies.filter((r) => r.trim()).join(" ");
    if (this.#store.get<boolean>("simulator") && channel.send) {
      // Ids, codes and numbers only: what the agent says goes out as `text` like on any call.
      channel.send({
        type: "debug",
        state_id: out.state.state_id,
        previous_state_id: state.state_id,
        intent: out.intent?.name ?? null,
        risk: { score: out.risk.score, level: out.risk.level },
        tools: toolsRun.map((e) => ({
          name: e.result.name,
          outcome: e.result.outcome,
          latency_ms: Math.round(e.latency_ms),
        })),
        escalation,
        identity_verified: meta.verified,
        patient_known: meta.patientEntityId !== null,
        ending: ending?.reason ?? null,
      });
    }
    await speak(true);
    this.ctx.storage.sql.exec(
      `UPDATE turns SET text = ?, state_id = ?, intent = ?, risk_score = ?, risk_level = ?, first_token_at = ?,
         ended_at = ? WHERE seq = ?`,
      reply,
      out.state.state_id,
      out.intent?.name ?? null,
      out.risk.score,
      out.risk.level,
      firstAt,
      new Date().toISOString(),
      agentSeq,
    );
    this.#desk.tellTurn(agentSeq);
    if (callerSeq !== null)
      this.#desk.addPoint({
        seq: callerSeq,
        at: startedAt.toISOString(),
        ...clinicalRisk(out.risk, escalation ?? meta.escalationReason),
        emotion_score: Math.round(out.state.emotion * 1000) / 1000,
        valence: languageValence(utterance),
      });
    if (escalation && routed) {
      this.#store.timeline("escalation", { reason: escalation, state_id: out.state.state_id });
      await publish(this.env, meta.workspaceId, {
        type: "call.escalated",
        data: {
          call_id: meta.callId,
          service_id: meta.serviceId,
          reason: escalation,
          routed: routed.fallback ? "fallback" : "operator",
          fallback: routed.fallback,
        },
      });
    }
    await this.#live.publishOverlay();
    if (ending) return this.#end(channel, ending, lastMark);
    if (channel.transport === "sms") this.#store.put("idle_deadline", Date.now() + TEXT_SESSION_IDLE_MS);
    else this.#store.put("silence_deadline", Date.now() + SILENCE_TIMEOUT_MS);
    await this.#scheduleAlarm();
  }

  /**
   * Ends the call once the goodbye is out. ConversationRelay: `end` after the last token (Twilio plays it,
   * then requests the `<Connect action>` with the handoff). Media Streams: when the goodbye's last mark
   * comes back. SMS: at once.
   */
  async #end(channel: Channel, ending: Ending, lastMark: string | null) {
    // What Twilio's `<Connect action>` request is answered with (see `handoff()`).
    this.#store.put("ending", ending);
    if (channel.transport === "conversation_relay") {
      channel.send?.({ type: "end", handoffData: JSON.stringify(ending.handoff) });
      return this.#finish(ending.reason);
    }
    if (channel.transport === "media_streams") {
      this.#store.put("ended_at", new Date().toISOString());
      this.#store.put("pending_end", { ...ending, mark: lastMark });
      // Should the mark never come back, the stream's stop (or the max-duration alarm) still ends the call.
      const ws = this.ctx.getWebSockets("media_streams")[0];
      if (ws) await this.#streams.endIfGoodbyeDone(ws);
      else await this.#finish(ending.reason);
      return;
    }
    await this.#finish(ending.reason);
  }

  #persistState(out: TurnOutput, previousStateId: string) {
    this.#store.put("engine_state", out.state);
    if (out.state.state_id !== previousStateId)
      this.#store.timeline("state", { from: previousStateId, to: out.state.state_id });
  }

  // -------------------------------------------------------------------------------------------------------
  // Alarms: silence, the operator wait and maximum duration

  async #scheduleAlarm() {
    const next = [
      this.#store.get<number>("silence_deadline"),
      this.#store.get<number>("max_deadline"),
      this.#store.get<number>("idle_deadline"),
      this.#store.get<number>("operator_wait_deadline"),
    ].filter((t): t is number => typeof t === "number");
    if (next.length > 0) await this.ctx.storage.setAlarm(Math.min(...next));
  }

  override async alarm(): Promise<void> {
    return this.#enqueue(() => this.#onAlarm());
  }

  async #onAlarm() {
    // Text messages waiting for their turn come first (the alarm is how they are handled, and retried).
    await this.#sms.drain();
    if (this.#store.get<string>("ended_at") || !this.#store.get<CallMeta>("call")) return;
    const channel = this.#channels.current();
    const now = Date.now();
    const idleDeadline = this.#store.get<number>("idle_deadline");
    if (idleDeadline !== null && now >= idleDeadline) return this.#finish("completed");
    const maxDeadline = this.#store.get<number>("max_deadline");
    const silenceDeadline = this.#store.get<number>("silence_deadline");
    if (maxDeadline !== null && now >= maxDeadline) {
      return this.#closePolitely(
        channel,
        "max_duration",
        "We've reached the time limit for this call. Thank you for calling. Goodbye.",
      );
    }
    const waitDeadline = this.#store.get<number>("operator_wait_deadline");
    const control = this.#desk.control();
    if (waitDeadline !== null && now >= waitDeadline) {
      if (control.escalation === "waiting") return this.#escalation.fallBackAfterWait(channel);
      this.#store.delete("operator_wait_deadline");
    }
    if (silenceDeadline !== null && now >= silenceDeadline && holdsOnSilence(control)) {
      // Waiting for a person, or one is on the call: never hang up for silence; hold while the agent has it.
      if (control.mode === "operator") this.#store.delete("silence_deadline");
      else {
        if (channel) await this.#speakAgent(channel, LINES.hold);
        this.#store.timeline("hold_line", {});
        this.#store.put("silence_deadline", now + HOLD_LINE_INTERVAL_MS);
      }
    } else if (silenceDeadline !== null && now >= silenceDeadline) {
      if (!this.#store.get<boolean>("reprompted")) {
        this.#store.put("reprompted", true);
        if (channel) await this.#speakAgent(channel, "Are you still there?");
        this.#store.timeline("silence_reprompt", {});
        this.#store.put("silence_deadline", now + SILENCE_TIMEOUT_MS);
      } else {
        return this.#closePolitely(
          channel,
          "silence",
          "I haven't heard from you, so I'll end the call now. Please call back anytime. Goodbye.",
        );
      }
    }
    await this.#scheduleAlarm();
  }

  /**
   * Something the agent says outside a caller turn (a re-prompt, a goodbye), or an operator's words in the
   * call's voice (`operator` set: stored as their turn); returns the last mark.
   */
  async #speakAgent(channel: Channel, text: string, operator: string | null = null): Promise<string | null> {
    const state = this.#store.get<EngineState>("engine_state");
    const seq = this.ctx.storage.sql
      .exec<{ seq: number }>(
        "INSERT INTO turns (speaker, text, state_id, started_at, operator_user_id) VALUES (?, ?, ?, ?, ?) RETURNING seq",
        operator ? "operator" : "agent",
        text,
        state?.state_id ?? null,
        new Date().toISOString(),
        operator,
      )
      .one().seq;
    const spoken = await channel.say(text, seq, true).catch((err) => {
      log("warn", "call.speak_failed", {
        call_id: this.#store.get<string>("call_id"),
        error: errorName(err),
      });
      return { firstAt: null, lastMark: null };
    });
    this.ctx.storage.sql.exec(
      "UPDATE turns SET first_token_at = ?, ended_at = ? WHERE seq = ?",
      spoken.firstAt,
      new Date().toISOString(),
      seq,
    );
    this.#desk.tellTurn(seq);
    return spoken.lastMark;
  }

  async #closePolitely(channel: Channel | null, reason: EndReason, goodbye: string) {
    if (!channel) return this.#finish(reason);
    const lastMark = await this.#speakAgent(channel, goodbye);
    await this.#end(channel, { reason, handoff: { reason } }, lastMark);
  }

  // -------------------------------------------------------------------------------------------------------
  // The end: D1 timeline and outcome, R2 transcript, then forget the PHI

  async #finish(reason: EndReason) {
    const meta = this.#store.get<CallMeta>("call");
    if (this.#store.get<string>("finished_at")) return;
    const endedAt = new Date().toISOString();
    if (!this.#store.get<string>("ended_at")) this.#store.put("ended_at", endedAt);
    await this.ctx.storage.deleteAlarm();
    if (!meta) return;
    this.#store.timeline("end", { reason });
    const state = this.#store.get<EngineState>("engine_state");
    try {
      await this.#records.writeTimeline(meta, state?.state_id ?? null);
      if (this.#store.get<boolean>("simulator") || meta.transport === "sms")
        await this.#records.completeWithoutProvider(meta, endedAt);
      if (meta.transport === "media_streams") await this.#records.storeRecording(meta);
      await this.#records.writeTranscript(meta);
      this.#store.put("finished_at", new Date().toISOString());
      // PHI held for the call's life only: turn text, the caller's context, the sealed number.
      this.ctx.storage.sql.exec("UPDATE turns SET text = '', heard = NULL");
      this.#store.delete("patient");
      this.#store.put("call", { ...meta, fromNumberEnc: null });
      log("info", "call.session_ended", { call_id: meta.callId, reason });
    } catch (err) {
      log("error", "call.finish_failed", { call_id: meta.callId, error: errorName(err) });
    }
    this.#desk.closeListeners(reason);
    // Once per session; the hub ignores a second one (the status callback publishes its own).
    if (this.#store.get<boolean>("ended_published")) return;
    this.#store.put("ended_published", true);
    await publish(this.env, meta.workspaceId, { type: "call.ended", data: { call_id: meta.callId, reason } });
  }

  // -------------------------------------------------------------------------------------------------------
  // Operators (call-live.ts): listen, connect, take over, speak, hand back, release, transfer

  /** What an operator opening the call sees; null when this session holds no call. */
  async liveView(): Promise<LiveView | null> {
    return this.#live.liveView();
  }

  /** Who controls the call now; null when this session holds no call. */
  async control(): Promise<LiveControl | null> {
    return this.#live.control();
  }

  /** An operator opened the call (to listen or guide): a waiting escalation is connected. */
  async connectOperator(input: { operator: string }): Promise<LiveControl | null> {
    return this.#live.connectOperator(input);
  }

  /** The operator speaks for the call from now on: the agent keeps listening and scoring, and stays quiet. */
  async takeover(input: { operator: string }): Promise<LiveControl | null> {
    return this.#live.takeover(input);
  }

  /** The operator's words to the caller, in the call's voice, stored as their turn (the one in control only). */
  async operatorSay(input: {
    operator: string;
    text: string;
  }): Promise<{ spoken: boolean; reason?: "not_in_control" | "over" }> {
    return this.#live.operatorSay(input);
  }

  /** Control back to the agent, its context intact (the operator's lines are in its history); it re-enters. */
  async handback(input: { operator: string }): Promise<LiveControl | null> {
    return this.#live.handback(input);
  }

  /** The operator wrapped up while the call is live (handed back first if they were speaking for it). */
  async release(input: { operator: string }): Promise<{ handedBack: boolean } | null> {
    return this.#live.release(input);
  }

  /** Transfers the call to a clinic line once the agent's announcement has played. */
  async transfer(input: {
    operator: string;
    to: string;
    announcement?: string;
  }): Promise<LiveControl | null> {
    return this.#live.transfer(input);
  }

  // -------------------------------------------------------------------------------------------------------
  // For tests and the calls API: what the session holds (ids, states, timings; turn text while live)

  /**
   * Operator guidance: hidden instructions the agent works into its next reply (never spoken as such,
   * never in a log or the timeline: it may name the patient). False when the call is over.
   */
  async guide(input: { text: string; operator: string }): Promise<{ accepted: boolean }> {
    return this.#live.guide(input);
  }

  /**
   * The patient finished a form sent on this call while the call is live: the agent says so at once
   * (between turns, never over one). Told twice, it acknowledges once.
   */
  async surfaceCompleted(input: { surfaceId: string }): Promise<{ acknowledged: boolean }> {
    let acknowledged = false;
    await this.#enqueue(async () => {
      if (this.#store.get<string>("ended_at") || !this.#store.get<CallMeta>("call")) return;
      const done = this.#store.get<string[]>("surfaces_completed") ?? [];
      if (done.includes(input.surfaceId)) return;
      this.#store.put("surfaces_completed", [...done, input.surfaceId]);
      this.#store.timeline("surface_completed", { surface_id: input.surfaceId });
      const channel = this.#channels.current();
      if (!channel) return;
      await this.#speakAgent(channel, SURFACE_COMPLETED);
      acknowledged = true;
    });
    return { acknowledged };
  }

  /**
   * How the call left the agent, for the `<Connect action>` request Twilio makes when the session ends
   * (ConversationRelay after `end`; Media Streams when the stream closes without a REST redirect).
   */
  async handoff(): Promise<Handoff | null> {
    const ending = this.#store.get<Ending>("ending");
    return ending ? { reason: ending.handoff.reason, to: ending.handoff.to ?? null } : null;
  }

  /** What the session holds: ids, states, timings; turn text while live. */
  async snapshot() {
    return this.#store.snapshot();
  }
}
