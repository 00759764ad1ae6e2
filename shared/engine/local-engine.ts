/**
 * `LocalEngine`: the deterministic reasoning engine, the embedded default. Per turn, in this order:
 * safety rules (escalate at once), language emotion, then either the results of the tools it asked
 * for or the caller's words (intent, slots, a choice among offered options, knowledge, out-of-scope,
 * a request for a person), dynamic behaviors, the state's exits, entering the next state (its tools,
 * its prompt), the loop limit, and risk. How it reads a graph (a model-backed engine reads the
 * instructions instead):
 * - Tools named by a state's `tool` exits (and `verify_identity` for `verified`/`unverified` exits)
 *   are the state's own: lookups run on entry once the state's required fields are filled; commits
 *   (book/reschedule/cancel) run on entry too, except in a state with intents, where they wait for
 *   the caller's yes. Of several commits, the one matching the call's task (the book/reschedule/cancel
 *   intent taken earlier) runs. `answer_from_knowledge` is answered by the engine itself.
 * - A double-quoted sentence in a state's or behavior's instructions, or in operator guidance, is said
 *   word for word; otherwise the engine uses its templates.
 * - A `default` exit holds once the state has nothing left to collect. An action state with nothing
 *   to do and a default exit is passed through. Re-entering a state clears what it collected.
 * - A behavior's `escalate` tool escalates when its instructions say "escalate"; otherwise it is only
 *   made available.
 */
import {
  type CollectField,
  type ContextGraph,
  DEFAULT_COOLDOWN_TURNS,
  DEFAULT_MAX_LOOPS,
  type DynamicBehavior,
  type EmotionTier,
  type ExitCondition,
  emotionTierRank,
  type GraphState,
  type ToolName,
} from "../calls/context-graph";
import type {
  EngineState,
  Escalation,
  ReasoningEngine,
  SlotValue,
  ToolCall,
  ToolResult,
  TurnInput,
  TurnOutput,
} from "./engine";
import {
  extractBirthDate,
  extractChoice,
  extractDateTimes,
  extractName,
  extractPhone,
  extractYesNo,
  type OfferedOption,
} from "./extract";
import { DEFAULT_INTENT_THRESHOLD, type IntentMatch, matchIntent } from "./intents";
import { isQuestion, searchKnowledge } from "./knowledge";
import {
  assessRisk,
  durationRisk,
  emotionTier,
  languageEmotion,
  loopRisk,
  type RiskAssessment,
  smoothEmotion,
  thresholdsFor,
} from "./risk";
import { safetyCheck } from "./safety";
import * as say from "./templates";
import { containsPhrase, normalize } from "./text";

export interface LocalEngineOptions {
  /** Minimum similarity for an intent to match (default 0.5). */
  intentThreshold?: number;
}

export class LocalEngine implements ReasoningEngine {
  readonly #options: LocalEngineOptions;

  constructor(options: LocalEngineOptions = {}) {
    this.#options = options;
  }

  async respond(input: TurnInput): Promise<TurnOutput> {
    return respondLocally(input, this.#options);
  }
}

const COMMIT_TOOLS: ReadonlySet<ToolName> = new Set([
  "book_appointment",
  "reschedule_appointment",
  "cancel_appointment",
]);
const TASK_OF_TOOL: Partial<Record<ToolName, string>> = {
  book_appointment: "book",
  reschedule_appointment: "reschedule",
  cancel_appointment: "cancel",
};
/** Intents whose name sets the call's task ("book", "reschedule_appointment", "cancel_visit"…). */
const TASK_INTENT = /^(book|reschedule|cancel)/;
const CONFIRM_INTENT = /^(yes|confirm|affirm|accept|agree)/;
const ACCEPT_INTENT = /^(accept|choose|select|pick|confirm|yes)/;
/** "Can I talk to a person?" — the caller may always ask for a human. */
const WANTS_PERSON =
  /\b(speak|talk|transfer me|connect me|put me through)\b.*\b(person|human|someone|somebody|representative|operator|receptionist|front desk|staff|nurse|real person)\b|\b(representative|operator|real person|human being)\b/;
/** "When is my appointment?" */
const OWN_APPOINTMENT = /\b(my|our) (next |upcoming )?(appointment|visit|booking)\b/;

interface Turn {
  input: TurnInput;
  graph: ContextGraph;
  state: EngineState;
  utterance: string;
  speech: string[];
  toolCalls: ToolCall[];
  instructions: string[];
  extracted: Record<string, SlotValue>;
  extraTools: Set<ToolName>;
  escalate: Escalation | null;
  endCall: boolean;
  knowledgeUsed: string | null;
}

export function respondLocally(input: TurnInput, options: LocalEngineOptions = {}): TurnOutput {
  const { graph } = input;
  const state: EngineState = {
    ...input.state,
    turn: input.state.turn + 1,
    loops: { ...input.state.loops },
    collected: { ...input.state.collected },
    behavior_fired_at: { ...input.state.behavior_fired_at },
    offered: [...input.state.offered],
    pending_tools: [],
    tools_done: [...(input.state.tools_done ?? [])],
  };
  const current = graphState(graph, state.state_id);
  const utterance = input.utterance.trim();
  const t: Turn = {
    input,
    graph,
    state,
    utterance,
    speech: [],
    toolCalls: [],
    instructions: [...graph.global_guidelines, current.instructions, ...current.guardrails],
    extracted: {},
    extraTools: new Set(),
    escalate: null,
    endCall: false,
    knowledgeUsed: null,
  };
  if (utterance) state.emotion = smoothEmotion(state.emotion, languageEmotion(utterance));
  const tier = emotionTier(state.emotion);
  for (const g of input.guidance) {
    t.instructions.push(g);
    const line = say.quoted(g);
    if (line) t.speech.push(line);
  }

  // Proactive safety: before anything else, whatever the score.
  const callerTurns = input.history.filter((h) => h.speaker === "caller").map((h) => h.text);
  const hit = utterance ? safetyCheck(utterance, callerTurns) : null;
  if (hit) {
    t.speech = [say.safetyReply(hit.category)];
    escalateNow(t, { reason: `safety:${hit.category}`, safety: hit.category });
    return finish(t, null, tier);
  }

  let intent: IntentMatch | null = null;
  if (input.tool_results?.length) {
    handleToolResults(t, current, input.tool_results);
  } else if (utterance && input.state.pending_tools.length > 0 && !WANTS_PERSON.test(normalize(utterance))) {
    // The caller spoke while the session runs the tools asked for: hold on, nothing is lost.
    state.pending_tools = [...input.state.pending_tools];
    t.speech.push(say.STILL_CHECKING);
  } else if (utterance) {
    intent = matchIntent(utterance, current.intents, options.intentThreshold ?? DEFAULT_INTENT_THRESHOLD);
    fireBehaviors(t, intent, tier);
    if (!t.escalate) handleUtterance(t, current, intent);
    else t.speech.push(say.escalationReply("behavior"));
  } else if (state.turn === 1) {
    enter(t, state.state_id, { first: true });
  } else {
    // Nothing said and nothing returned (a re-prompt after silence): say the state's prompt again.
    t.speech.push(promptFor(t, current));
  }
  return finish(t, intent, tier);
}

function finish(t: Turn, intent: IntentMatch | null, tier: EmotionTier): TurnOutput {
  const { state, input } = t;
  const risk = turnRisk(input, state);
  if (risk.level === "escalate" && !t.escalate && !state.escalated) {
    t.speech.push(say.escalationReply("risk"));
    escalateNow(t, { reason: "risk" });
  }
  return {
    reply: t.speech.join(" ").replace(/\s+/g, " ").trim(),
    tool_calls: t.toolCalls,
    next_state: state.state_id,
    state,
    intent: intent ? { name: intent.name, score: intent.score } : null,
    extracted: t.extracted,
    risk,
    escalate: t.escalate,
    fired_behaviors: Object.entries(state.behavior_fired_at)
      .filter(([, turn]) => turn === state.turn)
      .map(([id]) => id),
    instructions: t.instructions,
    knowledge_used: t.knowledgeUsed,
    emotion_tier: tier,
    end_call: t.endCall,
  };
}

/**
 * The turn's risk composite over the state the turn ends in: emotion so far, loops in that state over
 * its allowance, call duration; the service's thresholds with the state's escalate override.
 */
export function turnRisk(
  input: Pick<TurnInput, "graph" | "now" | "risk_thresholds">,
  state: EngineState,
): RiskAssessment {
  const now = graphState(input.graph, state.state_id);
  const elapsed = (input.now.getTime() - Date.parse(state.started_at)) / 1000;
  return assessRisk(
    {
      emotion: state.emotion,
      loops: loopRisk(state.loops[state.state_id] ?? 0, maxLoops(now)),
      duration: durationRisk(elapsed),
    },
    thresholdsFor(input.risk_thresholds, now.risk?.escalate_threshold),
  );
}

/** The graph's state `id`; an engine state naming an unknown one is a bug, so it throws. */
export function graphState(graph: ContextGraph, id: string): GraphState {
  const s = graph.states[id];
  if (!s) throw new Error(`engine state names unknown graph state "${id}"`);
  return s;
}

/** How many turns without progress a state allows before the call counts as looping. */
export const maxLoops = (state: GraphState) => state.risk?.max_loops ?? DEFAULT_MAX_LOOPS;

function missingFields(state: GraphState, collected: EngineState["collected"]): CollectField[] {
  return state.collect.filter(
    (f) => f.required && (collected[f.name] === undefined || collected[f.name] === null),
  );
}

function escalateNow(t: Turn, escalation: Escalation) {
  t.escalate = escalation;
  t.state.escalated = true;
  t.toolCalls.push({
    name: "escalate",
    args: escalation.safety
      ? { reason: escalation.reason, category: escalation.safety }
      : { reason: escalation.reason },
  });
}

// ---------------------------------------------------------------------------------------------------
// Dynamic behaviors.

function fireBehaviors(t: Turn, intent: IntentMatch | null, tier: EmotionTier) {
  const behaviors = t.graph.dynamic_behaviors;
  if (behaviors.length === 0) return;
  const text = normalize(t.utterance);
  const ordered = [...behaviors].sort((a, b) => (b.priority ?? 0) - (a.priority ?? 0));
  for (const b of ordered) {
    if (!behaviorMatches(b, text, t.state.state_id, intent, tier)) continue;
    const last = t.state.behavior_fired_at[b.id];
    const cooldown = b.cooldown_turns ?? DEFAULT_COOLDOWN_TURNS;
    if (last !== undefined && t.state.turn - last <= cooldown) continue;
    t.state.behavior_fired_at[b.id] = t.state.turn;
    if (b.instructions) t.instructions.push(b.instructions);
    const line = b.instructions ? say.quoted(b.instructions) : null;
    if (line) t.speech.push(line);
    else if (b.emotion_tier) t.speech.push(say.EMPATHY);
    for (const tool of b.tools ?? []) {
      const told = !b.instructions || /\bescalate\b/i.test(b.instructions);
      if (tool === "escalate" && told && !t.escalate) escalateNow(t, { reason: `behavior:${b.id}` });
      else t.extraTools.add(tool);
    }
  }
}

/** Every trigger kind the behavior names must match. */
export function behaviorMatches(
  b: DynamicBehavior,
  normalizedText: string,
  stateId: string,
  intent: IntentMatch | null,
  tier: EmotionTier,
): boolean {
  if (b.keywords?.length && !b.keywords.some((k) => containsPhrase(normalizedText, normalize(k))))
    return false;
  if (b.intents?.length && !(intent && b.intents.includes(intent.name))) return false;
  if (b.states?.length && !b.states.includes(stateId)) return false;
  if (b.emotion_tier && emotionTierRank(tier) < emotionTierRank(b.emotion_tier)) return false;
  return true;
}

// ---------------------------------------------------------------------------------------------------
// The caller's words.

function handleUtterance(t: Turn, current: GraphState, intent: IntentMatch | null) {
  const { input, state, utterance } = t;
  const text = normalize(utterance);
  if (WANTS_PERSON.test(text) && !state.escalated) {
    t.speech.push(say.escalationReply("caller_request"));
    escalateNow(t, { reason: "caller_request" });
    return;
  }
  let filled = collectFields(t, current, { carried: false });
  if (state.offered.length > 0 && !t.extracted.selected_option && filled === 0) {
    const option = pickOffered(t);
    if (option) {
      state.collected.selected_option = option;
      t.extracted.selected_option = option;
      filled++;
    }
  }
  const missing = missingFields(current, state.collected);
  const exitIntent = intent && current.exits.some((e) => e.on === "intent" && e.intent === intent.name);

  // A question no intent or field explains: answer it from knowledge, or escalate it, never guess.
  if (!exitIntent && filled === 0 && isQuestion(utterance)) {
    const allowed =
      current.tools.includes("answer_from_knowledge") || t.extraTools.has("answer_from_knowledge");
    const match = searchKnowledge(utterance, input.knowledge);
    if (match && allowed) {
      t.knowledgeUsed = match.entry.id;
      t.speech.push(say.knowledgeAnswer(match.entry.body), promptFor(t, current, { again: true }));
      return;
    }
    if (OWN_APPOINTMENT.test(text) && input.patient) {
      const patient = say.revealPatient(input.patient, input.identity_verified);
      t.speech.push(patient ? say.nextAppointment(patient, input.time_zone) : say.NEED_VERIFICATION);
      return;
    }
    const graphHandles = current.exits.some((e) => e.on === "default") || intent !== null;
    if (match) {
      t.speech.push(say.KNOWLEDGE_LATER, promptFor(t, current));
      return;
    }
    if (!graphHandles && !state.escalated) {
      t.speech.push(say.escalationReply("out_of_scope"));
      escalateNow(t, { reason: "out_of_scope" });
      return;
    }
  }

  // Commits in a state with intents wait for the caller's yes.
  const commits = ownTools(t, current).filter((tool) => COMMIT_TOOLS.has(tool));
  const yes = (intent && CONFIRM_INTENT.test(intent.name)) || extractYesNo(utterance) === "yes";
  if (commits.length > 0 && current.intents.length > 0 && yes && missing.length === 0) {
    callTools(t, current, commits);
    return;
  }

  // An option picked in a state that listens for intents counts as its accepting intent.
  const accepting =
    !intent && t.extracted.selected_option
      ? current.exits.find((e) => e.on === "intent" && ACCEPT_INTENT.test(e.intent))
      : undefined;
  const exit = accepting ?? chooseExit(current, intent, missing.length === 0, filled > 0 || intent !== null);
  const lookups = ownTools(t, current).filter(
    (tool) => (!COMMIT_TOOLS.has(tool) || current.intents.length === 0) && !state.tools_done.includes(tool),
  );
  if (lookups.length > 0 && missing.length === 0 && exit?.on !== "intent") {
    if (filled > 0) t.speech.push(say.acknowledge(input.persona));
    callTools(t, current, lookups);
    return;
  }
  if (exit) {
    if (exit.on === "intent" && intent && TASK_INTENT.test(intent.name))
      state.collected.task = TASK_INTENT.exec(intent.name)?.[1] ?? intent.name;
    if (filled > 0 && exit.on === "collected") t.speech.push(say.acknowledge(input.persona));
    enter(t, exit.to);
    return;
  }
  if (filled > 0) {
    t.speech.push(say.acknowledge(input.persona), promptFor(t, current));
    return;
  }
  noProgress(t, current);
}

function noProgress(t: Turn, current: GraphState) {
  const loops = (t.state.loops[t.state.state_id] ?? 0) + 1;
  t.state.loops[t.state.state_id] = loops;
  if (loops >= maxLoops(current) && !t.state.escalated) {
    t.speech.push(say.escalationReply("loop_limit"));
    escalateNow(t, { reason: "loop_limit" });
    return;
  }
  if (t.speech.length === 0) t.speech.push(say.didNotCatch(promptFor(t, current)));
  else t.speech.push(promptFor(t, current));
}

/** First exit that holds on a caller turn; tool and verification exits wait for results. */
function chooseExit(
  state: GraphState,
  intent: IntentMatch | null,
  complete: boolean,
  progressed: boolean,
): ExitCondition | null {
  for (const exit of state.exits) {
    if (exit.on === "intent" && intent?.name === exit.intent) return exit;
    if (exit.on === "collected" && complete && state.collect.length > 0 && progressed) return exit;
    if (exit.on === "default" && complete && (state.collect.length === 0 || progressed)) return exit;
  }
  return null;
}

/** Fills the state's missing fields from this turn's words; returns how many it filled. */
function collectFields(t: Turn, state: GraphState, options: { carried: boolean }): number {
  if (!t.utterance) return 0;
  let filled = 0;
  const open = state.collect.filter(
    (f) => t.state.collected[f.name] === undefined || t.state.collected[f.name] === null,
  );
  open.forEach((field, index) => {
    const value = extractField(t, field, index === 0 && !options.carried, options.carried);
    if (value === null || value === undefined) return;
    t.state.collected[field.name] = value;
    t.extracted[field.name] = value;
    filled++;
  });
  return filled;
}

function extractField(t: Turn, field: CollectField, asked: boolean, carried: boolean): SlotValue | undefined {
  const { input, state, utterance } = t;
  switch (field.kind) {
    case "name":
      return extractName(utterance, { bare: asked });
    case "birth_date": {
      const result = extractBirthDate(utterance, input.now, input.time_zone);
      if (!result) return null;
      if (result.ok) return result.iso;
      if (!carried) t.speech.push(say.invalidBirthDate(result.reason));
      return null;
    }
    case "phone":
      return extractPhone(utterance);
    case "yes_no":
      return carried ? null : extractYesNo(utterance);
    case "choice": {
      if (state.offered.length) return pickOffered(t);
      const options = (field.choices ?? []).map((c) => ({ id: c, label: c }));
      const index = extractChoice(utterance, options, input.now, input.time_zone);
      return index === null ? null : (options[index]?.label ?? null);
    }
    case "date_time": {
      if (state.offered.length) return pickOffered(t);
      return extractDateTimes(utterance, input.now, input.time_zone)[0] ?? null;
    }
    case "free_text":
      return asked ? utterance : null;
    default:
      return null;
  }
}

/** A choice among the options offered, restricted to those the caller heard before any barge-in. */
function pickOffered(t: Turn): OfferedOption | null {
  const { input, state } = t;
  const heard = normalize(input.heard);
  const heardOptions = heard
    ? state.offered.filter((o) => o.label && heard.includes(normalize(o.label)))
    : [];
  const options = heardOptions.length > 0 ? heardOptions : state.offered;
  const index = extractChoice(t.utterance, options, input.now, input.time_zone);
  const option = index === null ? null : (options[index] ?? null);
  if (option) {
    t.speech.push(say.chosen(option, input.time_zone));
    state.offered = [];
  }
  return option;
}

// ---------------------------------------------------------------------------------------------------
// Tools.

/** The tools a state calls by itself: those its exits wait on, one commit (the call's task) at most. */
function ownTools(t: Turn, state: GraphState): ToolName[] {
  const tools: ToolName[] = [];
  for (const exit of state.exits) {
    const tool: ToolName | null =
      exit.on === "tool"
        ? exit.tool
        : exit.on === "verified" || exit.on === "unverified"
          ? "verify_identity"
          : null;
    if (tool && !tools.includes(tool)) tools.push(tool);
  }
  const commits = tools.filter((tool) => COMMIT_TOOLS.has(tool));
  if (commits.length <= 1) return tools;
  const task = t.state.collected.task;
  const chosen = commits.find((tool) => TASK_OF_TOOL[tool] === task) ?? commits[0];
  return tools.filter((tool) => !COMMIT_TOOLS.has(tool) || tool === chosen);
}

function toolArgs(t: Turn, tool: ToolName, state: GraphState): Record<string, unknown> {
  const collected = t.state.collected;
  const byKind = (kind: CollectField["kind"]) => {
    const f = state.collect.find((c) => c.kind === kind);
    return f ? (collected[f.name] ?? null) : null;
  };
  switch (tool) {
    case "verify_identity":
      return { name: byKind("name"), birth_date: byKind("birth_date") };
    case "escalate":
      return { reason: `state:${t.state.state_id}` };
    default:
      return { ...collected };
  }
}

function callTools(t: Turn, state: GraphState, tools: readonly ToolName[]) {
  const external: ToolName[] = [];
  for (const tool of tools) {
    if (tool === "answer_from_knowledge") continue;
    if (tool === "escalate") {
      if (!t.escalate) {
        t.speech.push(say.escalationReply("handoff"));
        escalateNow(t, { reason: `state:${t.state.state_id}` });
      }
    } else t.toolCalls.push({ name: tool, args: toolArgs(t, tool, state) });
    external.push(tool);
  }
  if (tools.includes("answer_from_knowledge")) {
    // Answered here, from the service's entries; the result drives the state's exits at once.
    const match = searchKnowledge(t.utterance, t.input.knowledge);
    if (match) {
      t.knowledgeUsed = match.entry.id;
      t.speech.push(say.knowledgeAnswer(match.entry.body));
    }
    handleToolResults(t, state, [{ name: "answer_from_knowledge", outcome: match ? "ok" : "none" }]);
    return;
  }
  t.state.pending_tools = external;
  for (const tool of tools) if (!t.state.tools_done.includes(tool)) t.state.tools_done.push(tool);
  if (external.some((tool) => tool !== "escalate") && !t.speech.includes(say.CHECKING))
    t.speech.push(say.CHECKING);
}

function handleToolResults(t: Turn, current: GraphState, results: readonly ToolResult[]) {
  for (const r of results) {
    if (r.name === "find_slots" && r.outcome === "ok") t.state.offered = offeredFrom(r.data);
    const line = say.toolOutcome(r, t.state.collected, t.input.time_zone);
    if (line) t.speech.push(line);
    // The appointments found are read to a verified caller, so they can say which one they mean.
    const patient = r.name === "patient_context" && r.outcome === "ok" ? revealed(t) : null;
    if (patient && patient.appointments.length > 0)
      t.speech.push(say.upcomingAppointments(patient, t.input.time_zone));
  }
  const exit = resultExit(current, results);
  if (exit) {
    const progressed = results.some((r) => r.outcome === "ok");
    enter(t, exit.to, { progressed });
    return;
  }
  const failed = results.find((r) => r.outcome === "error");
  if (failed && !t.state.escalated) {
    t.speech.push(say.escalationReply("tool_error"));
    escalateNow(t, { reason: `tool_error:${failed.name}` });
    return;
  }
  t.speech.push(promptFor(t, current));
}

/** The first exit of `current` that tool results make hold (tool outcomes, verification, default). */
export function resultExit(current: GraphState, results: readonly ToolResult[]): ExitCondition | null {
  const verification = results.find((r) => r.name === "verify_identity");
  for (const exit of current.exits) {
    const holds =
      (exit.on === "tool" &&
        results.some(
          (r) => r.name === exit.tool && (exit.outcome === "any" || exit.outcome === r.outcome),
        )) ||
      (exit.on === "verified" && verification?.outcome === "ok") ||
      (exit.on === "unverified" && verification !== undefined && verification.outcome !== "ok") ||
      exit.on === "default";
    if (holds) return exit;
  }
  return null;
}

/** The options a `find_slots` result offers (at most five, well-formed only). */
export function offeredFrom(data: unknown): OfferedOption[] {
  const options = (data as { options?: unknown } | undefined)?.options;
  if (!Array.isArray(options)) return [];
  return options
    .filter(
      (o): o is OfferedOption =>
        typeof o === "object" && o !== null && typeof (o as OfferedOption).id === "string",
    )
    .slice(0, 5)
    .map((o) => ({
      id: o.id,
      label: typeof o.label === "string" ? o.label : "",
      ...(typeof o.start === "string" ? { start: o.start } : {}),
    }));
}

// ---------------------------------------------------------------------------------------------------
// Entering a state.

/**
 * Moves to state `id` and says what it needs. Coming back to a state counts as a loop there (unless a
 * tool just succeeded: back to the menu after a booking is progress, not a loop).
 */
function enter(t: Turn, id: string, options: { first?: boolean; hops?: number; progressed?: boolean } = {}) {
  const { state } = t;
  const hops = options.hops ?? 0;
  const next = graphState(t.graph, id);
  if (id !== state.state_id || options.first) {
    const revisit = id in state.loops;
    state.loops[id] = revisit && !options.progressed ? (state.loops[id] ?? 0) + 1 : 0;
    if (revisit) for (const f of next.collect) delete state.collected[f.name];
    state.state_id = id;
    state.tools_done = [];
    if (!options.first) t.instructions.push(next.instructions, ...next.guardrails);
    // What the caller said on the way in may already answer this state ("book for Tuesday at 3").
    if (!options.first && next.collect.length > 0) collectFields(t, next, { carried: true });
  }
  if (next.type === "terminal") {
    const line = say.quoted(next.instructions);
    if (line || !state.escalated) t.speech.push(line ?? say.GOODBYE(t.input.persona));
    if (next.tools.includes("escalate") && !t.escalate) escalateNow(t, { reason: `state:${id}` });
    if (next.tools.includes("transfer")) {
      // The number to transfer to, when the state's instructions name one.
      const to = extractPhone(next.instructions);
      t.toolCalls.push({ name: "transfer", args: to ? { to } : {} });
    }
    t.endCall = !state.escalated && !next.tools.includes("transfer");
    return;
  }
  const own = ownTools(t, next);
  const onEntry = own.filter((tool) => !COMMIT_TOOLS.has(tool) || next.intents.length === 0);
  const missing = missingFields(next, state.collected);
  const onward = next.exits.find((e) => e.on === "default");
  const passThrough =
    hops < 5 && onward && onEntry.length === 0 && next.collect.length === 0 && next.type !== "decision";
  if (passThrough) {
    const line = say.quoted(next.instructions);
    if (line) t.speech.push(line);
    else if (options.first) t.speech.push(say.welcome(t.input.persona, revealed(t)));
    return enter(t, onward.to, { hops: hops + 1 });
  }
  if (onEntry.length > 0 && missing.length === 0 && hops < 5) {
    if (options.first) t.speech.push(say.welcome(t.input.persona, revealed(t)));
    callTools(t, next, onEntry);
    return;
  }
  if (options.first && missing.length > 0 && !say.quoted(next.instructions))
    t.speech.push(say.welcome(t.input.persona, revealed(t)));
  t.speech.push(promptFor(t, next));
}

const revealed = (t: Turn) => say.revealPatient(t.input.patient, t.input.identity_verified);

/** What to say to move the state on: the offered options and the first missing field, or its line. */
function promptFor(t: Turn, s: GraphState, options: { again?: boolean } = {}): string {
  const missing = missingFields(s, t.state.collected)[0];
  const parts: string[] = [];
  if (t.state.offered.length > 0 && !options.again)
    parts.push(say.offerOptions(t.state.offered, t.input.time_zone));
  if (missing) parts.push(missing.prompt);
  else {
    const initial =
      t.graph.initial_states.new_patient === t.state.state_id ||
      t.graph.initial_states.returning_patient === t.state.state_id;
    const line = say.quoted(s.instructions);
    if (line) parts.push(line);
    else if (initial && t.state.turn === 1)
      parts.push(say.greeting(t.input.persona, t.graph.persona?.greeting, revealed(t)));
    else if (options.again) parts.push(say.ANYTHING_ELSE);
    else parts.push(say.statePrompt(s, t.input.persona, t.state.collected, t.input.time_zone));
  }
  return parts.join(" ");
}
