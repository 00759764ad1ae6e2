/**
 * The reasoning engine's contract: one interface, two engines (the deterministic `LocalEngine`, the
 * embedded default, and a model-backed one later). The CallSession (or a text session) calls
 * `respond()` once per caller turn, and again with `tool_results` after running the tools the engine
 * asked for; it persists the returned `state` and passes it back next turn. Engines are pure: no
 * bindings, no clock of their own (`now` comes in), no I/O.
 */
import type { ContextGraph, EmotionTier, ToolName, ToolOutcome } from "../calls/context-graph";
import type { PatientMemory } from "../world/memory";
import type { ExtractedDateTime, OfferedOption } from "./extract";
import type { RiskAssessment, RiskThresholds } from "./risk";
import type { SafetyCategory } from "./safety";

export type { OfferedOption } from "./extract";

/** A curated answer of the service (the `knowledge_entries` row, as the engine reads it). */
export interface KnowledgeEntry {
  id: string;
  kind: string;
  title: string;
  body: string;
  keywords: string[];
}

export interface UpcomingAppointment {
  start: string;
  description?: string;
  provider?: string;
  location?: string;
}

/** The patient's L3 context, with the upcoming appointments the `patient_context` tool adds. PHI. */
export type EnginePatient = PatientMemory & { upcoming_appointments?: UpcomingAppointment[] };

export interface EnginePersona {
  /** The agent's name ("Ava"). */
  name: string;
  /** "warm", "concise", "formal"…; unknown tones read as warm. */
  tone: string;
  clinic_name: string;
}

export interface HistoryTurn {
  speaker: "caller" | "agent" | "operator";
  text: string;
}

/** A value the engine collected, as stored in `EngineState.collected`. */
export type SlotValue = string | number | boolean | OfferedOption | ExtractedDateTime | null;

/** What the engine carries from turn to turn; the session persists it as JSON. */
export interface EngineState {
  /** Current state id of the graph. */
  state_id: string;
  /** Turns handled so far (caller turns and tool-result turns). */
  turn: number;
  /** Turns spent in each state without progress. */
  loops: Record<string, number>;
  /** Fields collected so far, by field name. */
  collected: Record<string, SlotValue>;
  /** The turn on which each dynamic behavior last fired, by behavior id. */
  behavior_fired_at: Record<string, number>;
  /** Options the agent offered last (slots from `find_slots`); a choice is made among these. */
  offered: OfferedOption[];
  /** Smoothed language-emotion score (0..1) of the caller so far. */
  emotion: number;
  /** When the call started (ISO); duration risk counts from here. */
  started_at: string;
  /** Tool calls emitted and not yet answered, so a result turn knows what it answers. */
  pending_tools: ToolName[];
  /** Tools already called in the current visit of the current state (a lookup runs once per visit). */
  tools_done: ToolName[];
  /** Set once the engine has escalated, so it does not escalate again every turn. */
  escalated: boolean;
}

export interface ToolCall {
  name: ToolName;
  args: Record<string, unknown>;
}

/**
 * The outcome of a tool the engine asked for. `data` by tool: `find_slots` → `{ options:
 * OfferedOption[] }`; `book_appointment`/`reschedule_appointment` → `{ label?: string }`; others free.
 */
export interface ToolResult {
  name: ToolName;
  outcome: Exclude<ToolOutcome, "any">;
  data?: unknown;
}

export interface TurnInput {
  graph: ContextGraph;
  state: EngineState;
  /** What the caller said this turn; "" on a turn that only carries tool results. */
  utterance: string;
  /** The agent's last reply as the caller actually heard it (after a barge-in, only the part before it). */
  heard: string;
  /** Recent turns, oldest first, not including this one. */
  history: HistoryTurn[];
  knowledge: KnowledgeEntry[];
  /** L3 context of the caller, or null when unknown. Read only through `revealPatient`. */
  patient: EnginePatient | null;
  /** Name + birth date matched against the world model this call. Without it no PHI is spoken. */
  identity_verified: boolean;
  /** Operator guidance (hidden from the caller), newest last. */
  guidance: string[];
  persona: EnginePersona;
  now: Date;
  /** IANA zone of the clinic ("America/New_York"); dates the caller says are read in it. */
  time_zone: string;
  /** Results of the tools asked for last turn. */
  tool_results?: ToolResult[];
  /** Service-level risk thresholds; states may override the escalate threshold. */
  risk_thresholds?: Partial<RiskThresholds>;
}

export interface Escalation {
  /**
   * `safety:<category>`, `risk`, `loop_limit`, `out_of_scope`, `caller_request`, `behavior:<id>`,
   * `tool_error:<tool>`, `state:<id>` (the graph routed the call to a state that escalates).
   */
  reason: string;
  safety?: SafetyCategory;
}

export interface TurnOutput {
  /** What to say, in the persona: plain sentences, ready to stream as tokens. */
  reply: string;
  tool_calls: ToolCall[];
  next_state: string;
  /** The new engine state to persist. */
  state: EngineState;
  intent: { name: string; score: number } | null;
  /** Fields extracted this turn, by field name. */
  extracted: Record<string, SlotValue>;
  risk: RiskAssessment;
  escalate: Escalation | null;
  /** Ids of the dynamic behaviors that fired this turn, highest priority first. */
  fired_behaviors: string[];
  /** Instructions active this turn (state, behaviors, guidance), for logs and model-backed engines. */
  instructions: string[];
  /** The knowledge entry the reply answered from, if any (the engine answers `answer_from_knowledge` itself). */
  knowledge_used: string | null;
  emotion_tier: EmotionTier;
  end_call: boolean;
}

export interface ReasoningEngine {
  respond(input: TurnInput): Promise<TurnOutput>;
}

/** The state a new call starts in: the graph's initial state for a new or a returning patient. */
export function initialEngineState(
  graph: ContextGraph,
  options: { returning: boolean; now: Date },
): EngineState {
  return {
    state_id: options.returning ? graph.initial_states.returning_patient : graph.initial_states.new_patient,
    turn: 0,
    loops: {},
    collected: {},
    behavior_fired_at: {},
    offered: [],
    emotion: 0,
    started_at: options.now.toISOString(),
    pending_tools: [],
    tools_done: [],
    escalated: false,
  };
}
