/**
 * `WorkersAiEngine`: the model-backed reasoning engine. An instruction model with tool calling (through
 * the Workers AI binding) decides what to say, which of the current state's tools to call and which
 * exit to take; the LocalEngine's deterministic machinery keeps everything that must not depend on a
 * model:
 * - Safety red flags, a caller asking for a person, a dynamic behavior that escalates, and a caller
 *   speaking while tools run are answered by the LocalEngine's own turn, without calling the model.
 * - Emotion, intent, fired behaviors and the fields the caller gave are read by the LocalEngine; risk,
 *   the loop limit and tool-outcome exits are computed its way (`turnRisk`, `resultExit`).
 * - The model is offered exactly the current state's tools (plus those fired behaviors add) and a
 *   synthetic `transition` tool whose enum is the state's exits a caller turn can take. Tool-outcome and
 *   verification exits follow the real tool results, so a model cannot skip identity verification.
 *   Anything else it returns (unknown tool, exit not allowed, bad arguments) is dropped and logged by
 *   id, never executed.
 * - Patient context reaches the prompt only once the caller's identity is verified: before that the
 *   model never sees PHI, so it cannot read any to the caller.
 * A failed, slow, unreadable or empty model turn falls back to the fallback engine (the LocalEngine by
 * default) for that turn, marked `fallback:<name>` in `instructions`. Unlike the LocalEngine this engine
 * does I/O (the binding) and measures its own timeout.
 */
import {
  type ContextGraph,
  type ExitCondition,
  type GraphState,
  isToolName,
  type ToolName,
} from "../calls/context-graph";
import type {
  EnginePatient,
  EngineState,
  Escalation,
  ReasoningEngine,
  SlotValue,
  ToolCall,
  TurnInput,
  TurnOutput,
} from "./engine";
import { extractBirthDate, extractDateTimes, extractPhone, type OfferedOption } from "./extract";
import { searchKnowledge } from "./knowledge";
import {
  graphState,
  LocalEngine,
  maxLoops,
  offeredFrom,
  respondLocally,
  resultExit,
  turnRisk,
} from "./local-engine";
import { emotionTier } from "./risk";
import * as say from "./templates";

/** A Workers AI instruction model with function calling (developers.cloudflare.com/workers-ai/function-calling). */
export const DEFAULT_CHAT_MODEL = "@cf/meta/llama-3.3-70b-instruct-fp8-fast";
/** A live caller is waiting: past this the turn is answered by the fallback engine. */
export const DEFAULT_MODEL_TIMEOUT_MS = 8000;
/** The synthetic tool the model moves between states with. */
export const TRANSITION_TOOL = "transition";
/** Model rounds per turn: a transition into a state with tools of its own earns another round there. */
const MAX_ROUNDS = 3;

export interface ChatMessage {
  role: "system" | "user" | "assistant";
  content: string;
}

export interface ChatToolParameter {
  type: "string";
  description: string;
  enum?: string[];
}

/** A tool in the "traditional function calling" shape of Workers AI. */
export interface ChatTool {
  name: string;
  description: string;
  parameters: { type: "object"; properties: Record<string, ChatToolParameter>; required?: string[] };
}

export interface ChatRequest {
  messages: ChatMessage[];
  tools?: ChatTool[];
  max_tokens?: number;
  temperature?: number;
}

export interface ChatResponse {
  response?: string;
  tool_calls?: { name?: string; arguments?: unknown }[];
}

/** Why a model call was dropped; logged with ids only. */
export type DropReason = "unknown_tool" | "tool_not_allowed" | "exit_not_allowed" | "bad_args";

export interface WorkersAiEngineOptions {
  /** A Workers AI text-generation model that supports function calling. */
  model?: string;
  /** Answers a turn the model could not (default: a LocalEngine). */
  fallback?: ReasoningEngine;
  /** Per turn, across its model rounds (default 8 s). */
  timeoutMs?: number;
  /** Structured log sink (default: console.warn of one JSON line). Fields are ids and codes only. */
  log?: (event: string, fields: Record<string, string | number>) => void;
}

export class WorkersAiEngine implements ReasoningEngine {
  readonly #ai: Pick<Ai, "run">;
  readonly #model: string;
  readonly #fallback: ReasoningEngine;
  readonly #timeoutMs: number;
  readonly #log: NonNullable<WorkersAiEngineOptions["log"]>;

  constructor(ai: Pick<Ai, "run">, options: WorkersAiEngineOptions = {}) {
    this.#ai = ai;
    this.#model = options.model ?? DEFAULT_CHAT_MODEL;
    this.#fallback = options.fallback ?? new LocalEngine();
    this.#timeoutMs = options.timeoutMs ?? DEFAULT_MODEL_TIMEOUT_MS;
    this.#log =
      options.log ?? ((event, fields) => console.warn(JSON.stringify({ level: "warn", event, ...fields })));
  }

  async respond(input: TurnInput): Promise<TurnOutput> {
    // The deterministic reading of the same turn: guards, emotion, intent, behaviors, fields.
    const local = respondLocally(input);
    if (deterministicTurn(input, local)) return local;
    try {
      return await this.#respondWithModel(input, local);
    } catch (err) {
      this.#log("engine.fallback", {
        state: input.state.state_id,
        turn: input.state.turn + 1,
        reason: err instanceof ModelTurnError ? err.code : "model_error",
      });
      const out = await this.#fallback.respond(input);
      return { ...out, instructions: [...out.instructions, `fallback:${fallbackName(this.#fallback)}`] };
    }
  }

  async #respondWithModel(input: TurnInput, local: TurnOutput): Promise<TurnOutput> {
    const deadline = Date.now() + this.#timeoutMs;
    const t = startTurn(input, local, (reason, fields) =>
      this.#log("engine.model_call_dropped", { state: t.state.state_id, reason, ...fields }),
    );
    const { state } = t;
    if (input.tool_results?.length && !applyToolResults(t)) return finish(t, local);
    if (graphState(input.graph, state.state_id).type === "terminal") return finish(t, local);

    for (let round = 0; round < MAX_ROUNDS; round++) {
      const before = state.state_id;
      const offer = offerFor(t);
      const request = buildChatRequest(t, offer, round);
      const response = await this.#run(request, deadline);
      const text = response.response?.trim();
      if (text) t.replies.push(text);
      applyModelCalls(t, response.tool_calls ?? [], offer);
      const moved = state.state_id !== before;
      if (round === 0 && !text && !moved && t.toolCalls.length === 0 && !t.escalate && !t.endCall)
        throw new ModelTurnError("empty_response");
      const next = graphState(input.graph, state.state_id);
      const external = t.toolCalls.some((c) => c.name !== "escalate");
      const hasWork = next.tools.some((tool) => tool !== "answer_from_knowledge");
      if (!moved || t.escalate || t.endCall || external || next.type === "terminal" || !hasWork) break;
    }
    return finish(t, local);
  }

  async #run(request: ChatRequest, deadline: number): Promise<ChatResponse> {
    const remaining = deadline - Date.now();
    if (remaining <= 0) throw new ModelTurnError("timeout");
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new ModelTurnError("timeout")), remaining);
    });
    let raw: unknown;
    try {
      // Every function-calling model of Workers AI takes this request shape; the literal only picks types.
      raw = await Promise.race([this.#ai.run(this.#model as typeof DEFAULT_CHAT_MODEL, request), timeout]);
    } catch (err) {
      if (err instanceof ModelTurnError) throw err;
      throw new ModelTurnError("model_error");
    } finally {
      clearTimeout(timer);
    }
    const response = readChatResponse(raw);
    if (!response) throw new ModelTurnError("unreadable_response");
    return response;
  }
}

class ModelTurnError extends Error {
  constructor(readonly code: "timeout" | "model_error" | "unreadable_response" | "empty_response") {
    super(code);
  }
}

const fallbackName = (engine: ReasoningEngine) =>
  engine instanceof LocalEngine ? "local" : engine.constructor.name.toLowerCase() || "engine";

/**
 * Turns the LocalEngine answers as is: a safety red flag, a caller asking for a person or a behavior
 * that escalates (immediately, whatever a model would say), and the caller speaking while the tools
 * asked for still run (nothing to decide until their results arrive).
 */
export function deterministicTurn(input: TurnInput, local: TurnOutput): boolean {
  const reason = local.escalate?.reason ?? "";
  if (/^(safety:|behavior:|caller_request$)/.test(reason)) return true;
  return !input.tool_results?.length && input.utterance.trim() !== "" && input.state.pending_tools.length > 0;
}

// ---------------------------------------------------------------------------------------------------
// A turn in progress.

interface ModelTurn {
  input: TurnInput;
  graph: ContextGraph;
  state: EngineState;
  replies: string[];
  /** Said after the replies: a terminal state's line. */
  closing: string | null;
  toolCalls: ToolCall[];
  instructions: string[];
  extracted: Record<string, SlotValue>;
  escalate: Escalation | null;
  endCall: boolean;
  knowledgeUsed: string | null;
  /** Behavior ids fired this turn (from the LocalEngine's reading). */
  behaviors: string[];
  drop: (reason: DropReason, fields: Record<string, string>) => void;
}

function startTurn(input: TurnInput, local: TurnOutput, drop: ModelTurn["drop"]): ModelTurn {
  const { graph } = input;
  const previous = input.state;
  const current = graphState(graph, previous.state_id);
  const state: EngineState = {
    ...previous,
    turn: previous.turn + 1,
    loops: { ...previous.loops },
    collected: { ...previous.collected },
    // Emotion and behaviors are read before any transition, so the LocalEngine's reading holds.
    emotion: local.state.emotion,
    behavior_fired_at: { ...local.state.behavior_fired_at },
    offered: [...previous.offered],
    pending_tools: [],
    tools_done: [...(previous.tools_done ?? [])],
  };
  if (!(state.state_id in state.loops)) state.loops[state.state_id] = 0;
  // The fields the caller gave for this state (the LocalEngine's extractors), not those it carried on.
  const extracted: Record<string, SlotValue> = {};
  const names = new Set([...current.collect.map((f) => f.name), "selected_option"]);
  for (const [name, value] of Object.entries(local.extracted)) {
    if (!names.has(name)) continue;
    extracted[name] = value;
    state.collected[name] = value;
  }
  const behaviors = local.fired_behaviors;
  const behaviorInstructions = behaviors
    .map((id) => graph.dynamic_behaviors.find((b) => b.id === id)?.instructions)
    .filter((i): i is string => !!i);
  return {
    input,
    graph,
    state,
    replies: [],
    closing: null,
    toolCalls: [],
    instructions: [
      ...graph.global_guidelines,
      current.instructions,
      ...current.guardrails,
      ...behaviorInstructions,
      ...input.guidance,
    ],
    extracted,
    escalate: null,
    endCall: false,
    knowledgeUsed: null,
    behaviors,
    drop,
  };
}

function escalateNow(t: ModelTurn, escalation: Escalation, line: string) {
  if (t.escalate || t.state.escalated) return;
  t.escalate = escalation;
  t.state.escalated = true;
  if (line) t.replies.push(line);
  t.toolCalls.push({ name: "escalate", args: { reason: escalation.reason } });
}

/**
 * Moves to state `id` (counting a return as a loop unless a tool just succeeded, clearing what the
 * state collected before). A terminal state ends the turn the LocalEngine's way: its quoted line or a
 * goodbye, its escalation or transfer.
 */
function enter(t: ModelTurn, id: string, options: { progressed?: boolean } = {}) {
  const { state } = t;
  const next = graphState(t.graph, id);
  if (id !== state.state_id) {
    const revisit = id in state.loops;
    state.loops[id] = revisit && !options.progressed ? (state.loops[id] ?? 0) + 1 : 0;
    if (revisit) for (const f of next.collect) delete state.collected[f.name];
    state.state_id = id;
    state.tools_done = [];
    t.instructions.push(next.instructions, ...next.guardrails);
  }
  if (next.type !== "terminal") return;
  if (next.tools.includes("escalate"))
    escalateNow(t, { reason: `state:${id}` }, say.escalationReply("handoff"));
  const line = say.quoted(next.instructions);
  if (line || !state.escalated) t.closing = line ?? say.GOODBYE(t.input.persona);
  if (next.tools.includes("transfer")) {
    const to = extractPhone(next.instructions);
    t.toolCalls.push({ name: "transfer", args: to ? { to } : {} });
  }
  t.endCall = !state.escalated && !next.tools.includes("transfer");
}

/**
 * Tool results drive the state's tool and verification exits, as in the LocalEngine. Returns false
 * when the turn is settled without the model (a tool failed and no exit handles it: escalate).
 */
function applyToolResults(t: ModelTurn): boolean {
  const results = t.input.tool_results ?? [];
  for (const r of results)
    if (r.name === "find_slots" && r.outcome === "ok") t.state.offered = offeredFrom(r.data);
  const current = graphState(t.graph, t.state.state_id);
  const exit = resultExit(current, results);
  if (exit) {
    const terminal = graphState(t.graph, exit.to).type === "terminal";
    // The call ends here: say the outcome the LocalEngine's way, no model needed.
    if (terminal)
      for (const r of results) {
        const line = say.toolOutcome(r, t.state.collected, t.input.time_zone);
        if (line) t.replies.push(line);
      }
    enter(t, exit.to, { progressed: results.some((r) => r.outcome === "ok") });
    return true;
  }
  const failed = results.find((r) => r.outcome === "error");
  if (failed) {
    escalateNow(t, { reason: `tool_error:${failed.name}` }, say.escalationReply("tool_error"));
    return false;
  }
  return true;
}

function finish(t: ModelTurn, local: TurnOutput): TurnOutput {
  const { state, input } = t;
  const current = graphState(t.graph, state.state_id);
  const progressed =
    t.toolCalls.length > 0 ||
    Object.keys(t.extracted).length > 0 ||
    t.knowledgeUsed !== null ||
    state.state_id !== input.state.state_id ||
    !!input.tool_results?.length;
  if (input.utterance.trim() && !progressed && !t.escalate) {
    const loops = (state.loops[state.state_id] ?? 0) + 1;
    state.loops[state.state_id] = loops;
    if (loops >= maxLoops(current))
      escalateNow(t, { reason: "loop_limit" }, say.escalationReply("loop_limit"));
  }
  const risk = turnRisk(input, state);
  if (risk.level === "escalate") escalateNow(t, { reason: "risk" }, say.escalationReply("risk"));

  const external = t.toolCalls
    .filter((c) => c.name !== "escalate" && c.name !== "transfer")
    .map((c) => c.name);
  state.pending_tools = external;
  for (const tool of external) if (!state.tools_done.includes(tool)) state.tools_done.push(tool);

  const speech = [...t.replies];
  if (speech.length === 0 && !t.closing) {
    if (external.length > 0) speech.push(say.CHECKING);
    else if (current.type !== "terminal")
      speech.push(say.statePrompt(current, input.persona, state.collected, input.time_zone));
  }
  if (t.closing) speech.push(t.closing);
  return {
    reply: speech.join(" ").replace(/\s+/g, " ").trim(),
    tool_calls: t.toolCalls,
    next_state: state.state_id,
    state,
    intent: local.intent,
    extracted: t.extracted,
    risk,
    escalate: t.escalate,
    fired_behaviors: t.behaviors,
    instructions: t.instructions,
    knowledge_used: t.knowledgeUsed,
    emotion_tier: local.emotion_tier,
    end_call: t.endCall,
  };
}

// ---------------------------------------------------------------------------------------------------
// What the model is offered.

interface Offer {
  tools: ToolName[];
  /** Exit targets the `transition` tool accepts. */
  exits: string[];
}

/** The exits a caller turn can take; tool and verification exits wait for real results. */
const callerExits = (state: GraphState): ExitCondition[] =>
  state.exits.filter((e) => e.on === "intent" || e.on === "collected" || e.on === "default");

/** The current state's tools plus those fired behaviors add, and the exits the model may take. */
export function offerFor(t: Pick<ModelTurn, "graph" | "state" | "behaviors">): Offer {
  const current = graphState(t.graph, t.state.state_id);
  const tools = [...current.tools];
  for (const id of t.behaviors)
    for (const tool of t.graph.dynamic_behaviors.find((b) => b.id === id)?.tools ?? [])
      if (!tools.includes(tool)) tools.push(tool);
  const exits = [...new Set(callerExits(current).map((e) => e.to))];
  return { tools, exits };
}

const str = (description: string, extra: Partial<ChatToolParameter> = {}): ChatToolParameter => ({
  type: "string",
  description,
  ...extra,
});

/** What each tool does and takes, as the model reads it. */
const TOOL_SPECS: Record<ToolName, Omit<ChatTool, "name">> = {
  patient_context: {
    description: "Load the verified patient's context (upcoming appointments).",
    parameters: { type: "object", properties: {} },
  },
  find_slots: {
    description: "Search open appointment slots around the time the caller prefers.",
    parameters: {
      type: "object",
      properties: { preferred_time: str("The day and time the caller asked for, in their words.") },
    },
  },
  book_appointment: {
    description: "Book the offered slot the caller chose, once they have confirmed it.",
    parameters: {
      type: "object",
      properties: { slot_id: str("The id of the offered option the caller chose.") },
      required: ["slot_id"],
    },
  },
  reschedule_appointment: {
    description: "Move the caller's appointment to the offered slot they chose, once confirmed.",
    parameters: {
      type: "object",
      properties: {
        slot_id: str("The id of the offered option the caller chose."),
        appointment_id: str("The id of the appointment to move, when known."),
      },
      required: ["slot_id"],
    },
  },
  cancel_appointment: {
    description: "Cancel the caller's appointment, once they have confirmed.",
    parameters: {
      type: "object",
      properties: { appointment_id: str("The id of the appointment to cancel, when known.") },
    },
  },
  record_fact: {
    description: "Record what the caller reported (collected fields) in the patient's record.",
    parameters: { type: "object", properties: {} },
  },
  escalate: {
    description: "Hand the call to a member of the clinic's team.",
    parameters: {
      type: "object",
      properties: { reason: str("Why, in a few words, without patient details.") },
    },
  },
  transfer: {
    description: "Transfer the call to the number this step names.",
    parameters: { type: "object", properties: {} },
  },
  end_call: {
    description: "End the call after saying goodbye.",
    parameters: { type: "object", properties: {} },
  },
  send_sms: {
    description: "Text the caller (a confirmation, directions).",
    parameters: {
      type: "object",
      properties: { kind: str("What the text is: confirmation, directions…", {}) },
    },
  },
  record_promise: {
    description: "Record a promise made to the caller (a call back).",
    parameters: {
      type: "object",
      properties: {
        note: str("What was promised, without patient details."),
        due_at: str("When it is due, ISO 8601, when agreed."),
      },
      required: ["note"],
    },
  },
  answer_from_knowledge: {
    description: "Answer the caller's question from the clinic's knowledge entries.",
    parameters: {
      type: "object",
      properties: { question: str("The caller's question.") },
      required: ["question"],
    },
  },
  verify_identity: {
    description: "Verify the caller's identity from their full name and date of birth.",
    parameters: {
      type: "object",
      properties: {
        name: str("The caller's full name as they said it."),
        birth_date: str("The caller's date of birth, YYYY-MM-DD."),
      },
      required: ["name", "birth_date"],
    },
  },
  create_surface: {
    description:
      "Make a short form for what the verified patient's record lacks (or for the given paths), to send them.",
    parameters: {
      type: "object",
      properties: {
        paths: str(
          "Comma-separated record paths to ask for: contact.email, contact.phone, contact.address, demographics.birth_date, coverage, allergies, medications, preferences.channel. Empty: what is missing.",
        ),
        title: str("A short title the patient sees, e.g. Insurance update."),
      },
    },
  },
  deliver_surface: {
    description: "Send the form made on this call to the patient (by text unless they asked for email).",
    parameters: {
      type: "object",
      properties: { channel: str("How to send it.", { enum: ["sms", "email", "whatsapp"] }) },
    },
  },
  check_surface_status: {
    description: "See whether the patient has opened, started or finished the form sent on this call.",
    parameters: { type: "object", properties: {} },
  },
  list_surfaces: {
    description: "List the patient's forms by status, so no duplicate is sent.",
    parameters: { type: "object", properties: {} },
  },
};

export function chatTools(offer: Offer): ChatTool[] {
  const tools: ChatTool[] = offer.tools.map((name) => ({ name, ...TOOL_SPECS[name] }));
  if (offer.exits.length > 0)
    tools.push({
      name: TRANSITION_TOOL,
      description: "Move the conversation to the next step once this step's goal is met.",
      parameters: {
        type: "object",
        properties: { to: str("The step to move to.", { enum: offer.exits }) },
        required: ["to"],
      },
    });
  return tools;
}

// ---------------------------------------------------------------------------------------------------
// The prompt.

function buildChatRequest(t: ModelTurn, offer: Offer, round: number): ChatRequest {
  const messages: ChatMessage[] = [{ role: "system", content: systemPrompt(t, offer, round) }];
  const { history, heard, utterance } = t.input;
  const lastAgent = history.map((h) => h.speaker).lastIndexOf("agent");
  history.forEach((h, i) => {
    // The agent's last turn as the caller heard it (a barge-in cut the rest).
    const text = (i === lastAgent && heard.trim() ? heard : h.text).trim();
    if (!text) return;
    if (h.speaker === "caller") messages.push({ role: "user", content: text });
    else
      messages.push({ role: "assistant", content: h.speaker === "operator" ? `(operator) ${text}` : text });
  });
  if (utterance.trim()) messages.push({ role: "user", content: utterance.trim() });
  const tools = chatTools(offer);
  return { messages, ...(tools.length ? { tools } : {}), max_tokens: 256, temperature: 0.2 };
}

function systemPrompt(t: ModelTurn, offer: Offer, round: number): string {
  const { input, state, graph } = t;
  const { persona } = input;
  const current = graphState(graph, state.state_id);
  const lines: string[] = [
    `You are ${persona.name}, the phone agent of ${persona.clinic_name}, on a live call. Tone: ${persona.tone}.`,
    "Speak in one to three short, plain sentences: no lists, no markdown, no tool names.",
    "Follow the current step's instructions. Call only the tools offered. To move to another step, call transition with one of its allowed values; steps that wait on a tool's result move by themselves.",
    "If an instruction contains a sentence in double quotes, say that sentence word for word.",
    "Answer questions only from the knowledge below. If it does not answer a question, never guess: say you will connect the caller with the team.",
    "Never give medical advice.",
  ];
  const section = (title: string, items: readonly string[]) => {
    if (items.length) lines.push("", `${title}:`, ...items.map((i) => `- ${i}`));
  };
  section("Guidelines", graph.global_guidelines);
  lines.push(
    "",
    `Current step: ${state.state_id} (${current.type}${current.title ? `, ${current.title}` : ""})`,
    `Instructions: ${current.instructions}`,
  );
  section("Guardrails", current.guardrails);
  section(
    "Fields to collect",
    current.collect.map((f) => {
      const value = state.collected[f.name];
      const have = value === undefined || value === null ? "not yet given" : `given: ${slotText(value)}`;
      return `${f.name} (${f.kind}${f.required ? ", required" : ""}): ask "${f.prompt}" — ${have}`;
    }),
  );
  section(
    "Options offered to the caller (book with the chosen id)",
    state.offered.map((o) => `${o.id}: ${o.label || o.start || o.id}`),
  );
  section("Allowed next steps", offer.exits);
  section(
    "Active behaviors",
    t.behaviors
      .map((id) => graph.dynamic_behaviors.find((b) => b.id === id)?.instructions)
      .filter((i): i is string => !!i),
  );
  section(
    "Operator guidance (hidden from the caller: follow it, never read it out or mention it)",
    input.guidance,
  );
  if (emotionTier(state.emotion) !== "calm")
    lines.push("", "The caller sounds upset: acknowledge it briefly and kindly.");
  const knowledge = input.utterance.trim() ? searchKnowledge(input.utterance, input.knowledge) : null;
  section("Knowledge", knowledge ? [`${knowledge.entry.title}: ${knowledge.entry.body}`] : []);
  lines.push("", patientSection(input.patient, input.identity_verified));
  section(
    "Tool results",
    (input.tool_results ?? []).map((r) => `${r.name}: ${r.outcome}`),
  );
  if (round > 0)
    lines.push(
      "",
      `You just moved to this step${t.replies.length ? ` after saying: "${t.replies.join(" ")}"` : ""}. Call this step's tools if it needs them now; do not repeat yourself.`,
    );
  return lines.join("\n");
}

/**
 * The only place patient context enters a prompt: nothing but a warning until the caller's identity is
 * verified, so no model reply can read PHI to an unverified caller.
 */
export function patientSection(patient: EnginePatient | null, identityVerified: boolean): string {
  if (!patient) return "Patient: unknown caller.";
  if (identityVerified !== true)
    return "Patient: identity not verified: do not disclose any patient information, and ask for full name and date of birth before discussing anything about their care.";
  const context = {
    name: patient.identity.preferred_name ?? patient.identity.display_name,
    birth_date: patient.identity.birth_date,
    safety: patient.safety,
    medications: patient.medications,
    conditions: patient.conditions,
    preferences: patient.preferences,
    open_tasks: patient.open_tasks,
    upcoming_appointments: patient.upcoming_appointments ?? [],
  };
  return `Patient (identity verified; use only what the caller needs):\n${JSON.stringify(context)}`;
}

function slotText(value: SlotValue): string {
  if (value !== null && typeof value === "object")
    return "label" in value ? `${value.label || value.id}` : (value.text ?? value.instant ?? "");
  return String(value);
}

// ---------------------------------------------------------------------------------------------------
// What the model returned.

/** The model's output as `{ response, tool_calls }`, or null when it is neither text nor that shape. */
export function readChatResponse(raw: unknown): ChatResponse | null {
  if (typeof raw === "string") return { response: raw };
  if (typeof raw !== "object" || raw === null) return null;
  const r = raw as Record<string, unknown>;
  const response = typeof r.response === "string" ? r.response : undefined;
  const calls = Array.isArray(r.tool_calls) ? r.tool_calls : undefined;
  if (response === undefined && calls === undefined) return null;
  return {
    ...(response !== undefined ? { response } : {}),
    ...(calls
      ? {
          tool_calls: calls
            .filter((c): c is Record<string, unknown> => typeof c === "object" && c !== null)
            .map((c) => ({
              ...(typeof c.name === "string" ? { name: c.name } : {}),
              arguments: c.arguments,
            })),
        }
      : {}),
  };
}

/** Arguments as an object (some models send a JSON string), or null. */
function argsOf(raw: unknown): Record<string, unknown> | null {
  let value = raw ?? {};
  if (typeof value === "string") {
    try {
      value = JSON.parse(value);
    } catch {
      return null;
    }
  }
  return typeof value === "object" && value !== null && !Array.isArray(value)
    ? (value as Record<string, unknown>)
    : null;
}

/** Declared string parameters only, required ones present; null when the arguments do not fit. */
function checkedArgs(spec: ChatTool["parameters"], raw: unknown): Record<string, string> | null {
  const args = argsOf(raw);
  if (!args) return null;
  const out: Record<string, string> = {};
  for (const [key, param] of Object.entries(spec.properties)) {
    const value = args[key];
    if (value === undefined || value === null || value === "") continue;
    if (typeof value !== "string") return null;
    if (param.enum && !param.enum.includes(value)) return null;
    out[key] = value.trim().slice(0, 500);
  }
  for (const key of spec.required ?? []) if (!out[key]) return null;
  return out;
}

function applyModelCalls(
  t: ModelTurn,
  calls: readonly { name?: string; arguments?: unknown }[],
  offer: Offer,
) {
  let moved = false;
  for (const call of calls) {
    const name = call.name ?? "";
    if (name === TRANSITION_TOOL) {
      const args = argsOf(call.arguments);
      const to = typeof args?.to === "string" ? args.to : "";
      if (moved || !offer.exits.includes(to)) {
        t.drop("exit_not_allowed", { tool: TRANSITION_TOOL, to: to in t.graph.states ? to : "unknown" });
        continue;
      }
      moved = true;
      enter(t, to);
      continue;
    }
    if (!isToolName(name)) {
      t.drop("unknown_tool", { tool: "unknown" });
      continue;
    }
    if (!offer.tools.includes(name)) {
      t.drop("tool_not_allowed", { tool: name });
      continue;
    }
    const args = checkedArgs(TOOL_SPECS[name].parameters, call.arguments);
    if (!args || !applyToolCall(t, name, args)) t.drop("bad_args", { tool: name });
  }
}

const isOffered = (value: unknown, offered: readonly OfferedOption[]): value is OfferedOption =>
  typeof value === "object" && value !== null && offered.some((o) => o.id === (value as OfferedOption).id);

/** Turns one allowed call into what the session runs (or what the engine does itself); false if unusable. */
function applyToolCall(t: ModelTurn, name: ToolName, args: Record<string, string>): boolean {
  const { input, state } = t;
  const current = graphState(t.graph, state.state_id);
  const byKind = (kind: string) => {
    const f = current.collect.find((c) => c.kind === kind);
    return f ? (state.collected[f.name] ?? null) : null;
  };
  switch (name) {
    case "escalate":
      escalateNow(
        t,
        { reason: `state:${state.state_id}` },
        t.replies.length ? "" : say.escalationReply("handoff"),
      );
      return true;
    case "end_call":
      t.endCall = true;
      return true;
    case "transfer": {
      const to = extractPhone(current.instructions);
      t.toolCalls.push({ name, args: to ? { to } : {} });
      return true;
    }
    case "answer_from_knowledge": {
      // Answered here, from the service's entries, like the LocalEngine; the outcome drives tool exits.
      const match = searchKnowledge(args.question ?? input.utterance, input.knowledge);
      if (match) {
        t.knowledgeUsed = match.entry.id;
        if (!t.replies.some((r) => r.includes(match.entry.body.trim())))
          t.replies.push(say.knowledgeAnswer(match.entry.body));
      }
      const exit = resultExit({ ...current, exits: current.exits.filter((e) => e.on === "tool") }, [
        { name, outcome: match ? "ok" : "none" },
      ]);
      if (exit) enter(t, exit.to, { progressed: !!match });
      return true;
    }
    case "verify_identity": {
      const given = args.name ?? byKind("name");
      const parsed = args.birth_date ? extractBirthDate(args.birth_date, input.now, input.time_zone) : null;
      const birth = parsed?.ok ? parsed.iso : byKind("birth_date");
      if (typeof given !== "string" || !given || typeof birth !== "string") return false;
      t.toolCalls.push({ name, args: { name: given, birth_date: birth } });
      return true;
    }
    case "find_slots": {
      const preferred = args.preferred_time
        ? extractDateTimes(args.preferred_time, input.now, input.time_zone)[0]
        : undefined;
      t.toolCalls.push({
        name,
        args: { ...state.collected, ...(preferred ? { preferred_time: preferred } : {}) },
      });
      return true;
    }
    case "book_appointment":
    case "reschedule_appointment": {
      // Only an option the caller was actually offered can be booked.
      const chosen: OfferedOption | undefined =
        state.offered.find((o) => o.id === args.slot_id) ??
        [state.collected.selected_option, ...Object.values(state.collected)].find((v) =>
          isOffered(v, state.offered),
        );
      if (!chosen) return false;
      t.toolCalls.push({
        name,
        args: {
          ...state.collected,
          slot_id: chosen.id,
          selected_option: chosen,
          ...(args.appointment_id ? { appointment_id: args.appointment_id } : {}),
        },
      });
      return true;
    }
    default:
      t.toolCalls.push({ name, args: { ...state.collected, ...args } });
      return true;
  }
}
