/** A tiny booking graph, a patient full of recognizable PHI, and a turn driver for the engine tests. */
import { type ContextGraphInput, parseContextGraph } from "../../../shared/calls/context-graph";
import {
  type EnginePatient,
  type EngineState,
  type HistoryTurn,
  initialEngineState,
  type KnowledgeEntry,
  type ToolResult,
  type TurnInput,
  type TurnOutput,
} from "../../../shared/engine/engine";
import { respondLocally } from "../../../shared/engine/local-engine";

export const TIME_ZONE = "America/New_York";
/** Tuesday 1 December 2026, 10:00 in New York. */
export const NOW = new Date("2026-12-01T15:00:00Z");

export const BOOKING_GRAPH: ContextGraphInput = {
  name: "Scheduling line",
  initial_states: { new_patient: "greet", returning_patient: "greet" },
  global_guidelines: ["Be brief and kind."],
  states: {
    greet: {
      type: "decision",
      instructions:
        'Greet the caller. Say: "Thank you for calling Riverside Clinic. How can I help you today?"',
      intents: [
        {
          name: "book",
          examples: [
            "I'd like to book an appointment",
            "schedule a visit",
            "make an appointment",
            "I need to see the doctor",
          ],
        },
      ],
      tools: ["answer_from_knowledge"],
      exits: [{ on: "intent", intent: "book", to: "verify" }],
    },
    verify: {
      type: "data_collection",
      instructions: "Verify the caller's identity.",
      collect: [
        { name: "full_name", kind: "name", prompt: "Can I have your full name, please?" },
        { name: "dob", kind: "birth_date", prompt: "And your date of birth?" },
      ],
      tools: ["verify_identity"],
      exits: [
        { on: "verified", to: "when" },
        { on: "unverified", to: "handoff" },
      ],
    },
    when: {
      type: "data_collection",
      instructions: "Ask when the caller would like to come in.",
      collect: [
        { name: "preferred", kind: "date_time", prompt: "What day and time would work best for you?" },
      ],
      exits: [{ on: "collected", to: "find" }],
    },
    find: {
      type: "action",
      instructions: "Look for open slots.",
      tools: ["find_slots"],
      exits: [
        { on: "tool", tool: "find_slots", outcome: "ok", to: "offer" },
        { on: "tool", tool: "find_slots", outcome: "none", to: "when" },
      ],
    },
    offer: {
      type: "data_collection",
      instructions: "Offer the slots found and let the caller choose.",
      collect: [{ name: "slot", kind: "date_time", prompt: "Which of those works best for you?" }],
      exits: [{ on: "collected", to: "book" }],
    },
    book: {
      type: "action",
      instructions: "Book the chosen slot.",
      tools: ["book_appointment"],
      exits: [
        { on: "tool", tool: "book_appointment", outcome: "ok", to: "booked" },
        { on: "tool", tool: "book_appointment", outcome: "any", to: "handoff" },
      ],
    },
    booked: { type: "terminal", instructions: 'Say: "You are all set. Thank you for calling, goodbye!"' },
    handoff: { type: "terminal", instructions: "Hand the call to an operator.", tools: ["escalate"] },
  },
};

export const graph = (overrides: Partial<ContextGraphInput> = {}) =>
  parseContextGraph({ ...BOOKING_GRAPH, ...overrides });

export const KNOWLEDGE: KnowledgeEntry[] = [
  {
    id: "kn_hours",
    kind: "hours",
    title: "Office hours",
    body: "We are open Monday to Friday, 8 AM to 5 PM.",
    keywords: ["hours", "open", "close", "closing"],
  },
  {
    id: "kn_prep",
    kind: "preparation",
    title: "Colonoscopy preparation",
    body: "Stop eating solid food the day before your colonoscopy and drink only clear liquids.",
    keywords: ["colonoscopy", "prep", "preparation"],
  },
];

export const SLOTS = [
  { id: "slot_a", label: "Tuesday, December 8 at 10 AM", start: "2026-12-08T15:00:00Z" },
  { id: "slot_b", label: "Wednesday, December 9 at 2 PM", start: "2026-12-09T19:00:00Z" },
  { id: "slot_c", label: "Thursday, December 10 at 9 AM", start: "2026-12-10T14:00:00Z" },
];

/** Every string here is PHI that must never reach an unverified caller. */
export const PHI_STRINGS = [
  "Jane",
  "Janie",
  "Doe",
  "Whitfield",
  "Suite 400",
  "December 3",
  "Lisinopril",
  "1980",
];

export const PATIENT: EnginePatient = {
  entity_id: "ent_patient",
  identity: {
    display_name: "Jane Doe",
    preferred_name: "Janie",
    birth_date: "1980-03-05",
    gender: "female",
    phone: "+14155550132",
    email: "jane@example.com",
    external_ids: [],
    verified: { name: true, birth_date: true, phone: true, email: false },
  },
  safety: [],
  medications: [{ value: { name: "Lisinopril", status: "active" }, confidence: 0.95 }],
  conditions: [],
  coverage: [],
  preferences: {},
  open_tasks: [],
  recent_interactions: [],
  patterns: null,
  patterns_computed_at: null,
  upcoming_appointments: [
    {
      start: "2026-12-03T15:00:00Z",
      provider: "Dr. Whitfield",
      location: "Suite 400",
      description: "Lisinopril review",
    },
  ],
};

export const PERSONA = { name: "Ava", tone: "warm", clinic_name: "Riverside Clinic" };

/** Drives one call through the engine, keeping state and history like the CallSession will. */
export class Conversation {
  state: EngineState;
  history: HistoryTurn[] = [];
  replies: string[] = [];
  constructor(
    readonly g = graph(),
    readonly base: Partial<TurnInput> = {},
    returning = false,
  ) {
    this.state = initialEngineState(this.g, { returning, now: NOW });
  }
  turn(utterance: string, extra: Partial<TurnInput> = {}): TurnOutput {
    const out = respondLocally({
      graph: this.g,
      state: this.state,
      utterance,
      heard: this.history.filter((h) => h.speaker === "agent").at(-1)?.text ?? "",
      history: this.history.slice(-10),
      knowledge: KNOWLEDGE,
      patient: null,
      identity_verified: false,
      guidance: [],
      persona: PERSONA,
      now: NOW,
      time_zone: TIME_ZONE,
      ...this.base,
      ...extra,
    });
    this.state = out.state;
    if (utterance) this.history.push({ speaker: "caller", text: utterance });
    this.history.push({ speaker: "agent", text: out.reply });
    this.replies.push(out.reply);
    return out;
  }
  tools(results: ToolResult[], extra: Partial<TurnInput> = {}): TurnOutput {
    return this.turn("", { ...extra, tool_results: results });
  }
}
