/** The context graph validator: the demo graphs pass, and each structural fault is reported with its path. */
import { describe, expect, it } from "vitest";
import { DEMO_SERVICES } from "../../scripts/demo-data";
import {
  DEMO_GRAPHS,
  DEMO_KNOWLEDGE,
  demoKnowledgeRows,
  INQUIRIES_GRAPH,
  SCHEDULING_GRAPH,
  TRIAGE_GRAPH,
} from "../../scripts/demo-graphs";
import {
  type ContextGraphInput,
  DEFAULT_COOLDOWN_TURNS,
  DEFAULT_MAX_LOOPS,
  jsonPath,
  parseContextGraph,
  validateContextGraph,
} from "../../shared/calls/context-graph";
import { KnowledgeCreate } from "../../shared/schemas/context-graphs";
import { Conversation, PATIENT, PHI_STRINGS, SLOTS } from "./engine/fixtures";

/** A small valid graph: greet → ask (intent) → end, with an escalate path. */
function minimalGraph(): ContextGraphInput {
  return {
    name: "Test line",
    initial_states: { new_patient: "greet", returning_patient: "greet" },
    states: {
      greet: { type: "action", instructions: "Say hello.", exits: [{ on: "default", to: "ask" }] },
      ask: {
        type: "decision",
        instructions: "Ask what they need.",
        intents: [
          { name: "done", examples: ["that's all", "bye"] },
          { name: "help", examples: ["talk to a person"] },
        ],
        tools: ["escalate"],
        exits: [
          { on: "intent", intent: "done", to: "end" },
          { on: "intent", intent: "help", to: "handoff" },
        ],
      },
      handoff: {
        type: "action",
        instructions: "Escalate.",
        tools: ["escalate"],
        exits: [{ on: "tool", tool: "escalate", outcome: "any", to: "end" }],
      },
      end: { type: "terminal", instructions: "Goodbye." },
    },
  };
}

function reasonsOf(graph: unknown) {
  const result = validateContextGraph(graph);
  if (result.ok) throw new Error("expected the graph to be refused");
  return result.reasons;
}

describe("context graph validation", () => {
  it.each(DEMO_GRAPHS.map((g) => [g.id, g.graph] as const))("passes the demo graph %s", (_id, graph) => {
    const result = validateContextGraph(graph);
    expect(result.ok ? [] : result.reasons).toEqual([]);
  });

  it("points each demo service at its own version-1 demo graph", () => {
    for (const service of DEMO_SERVICES) {
      const graph = DEMO_GRAPHS.find((g) => g.id === service.context_graph_id);
      expect(graph?.serviceId, service.id).toBe(service.id);
      expect(graph?.version).toBe(1);
    }
  });

  it("fills defaults: max_loops 3, cooldown 3 turns, empty lists", () => {
    const graph = minimalGraph();
    graph.dynamic_behaviors = [{ id: "calm_down", emotion_tier: "distressed", instructions: "Slow down." }];
    const result = validateContextGraph(graph);
    if (!result.ok) throw new Error(JSON.stringify(result.reasons));
    expect(result.graph.states.greet?.risk.max_loops).toBe(DEFAULT_MAX_LOOPS);
    expect(DEFAULT_MAX_LOOPS).toBe(3);
    expect(result.graph.states.greet?.tools).toEqual([]);
    expect(result.graph.states.end?.exits).toEqual([]);
    expect(result.graph.dynamic_behaviors[0]?.cooldown_turns).toBe(DEFAULT_COOLDOWN_TURNS);
    expect(DEFAULT_COOLDOWN_TURNS).toBe(3);
    expect(result.graph.global_guidelines).toEqual([]);
  });

  it("reports an unreachable state at its path", () => {
    const graph = minimalGraph();
    graph.states.orphan = {
      type: "action",
      instructions: "Nobody comes here.",
      exits: [{ on: "default", to: "end" }],
    };
    expect(reasonsOf(graph)).toEqual([
      { path: "$.states.orphan", message: 'state "orphan" is not reachable from an initial state' },
    ]);
  });

  it("reports a graph without a terminal state", () => {
    const graph = minimalGraph();
    graph.states.end = { type: "action", instructions: "Loop.", exits: [{ on: "default", to: "greet" }] };
    expect(reasonsOf(graph)).toEqual([
      { path: "$.states", message: "a graph needs at least one terminal state" },
    ]);
  });

  it("reports a terminal state that nothing reaches", () => {
    const graph = minimalGraph();
    graph.states.ask!.exits = [{ on: "default", to: "greet" }];
    graph.states.handoff!.exits = [{ on: "default", to: "greet" }];
    graph.initial_states.new_patient = "greet";
    const reasons = reasonsOf(graph);
    expect(reasons).toContainEqual({ path: "$.states", message: "no terminal state is reachable" });
    expect(reasons).toContainEqual({
      path: "$.states.end",
      message: 'state "end" is not reachable from an initial state',
    });
  });

  it("reports unknown tools in states, exits and behaviors", () => {
    const graph = minimalGraph();
    graph.states.greet!.tools = ["launch_rockets"];
    graph.states.handoff!.exits = [{ on: "tool", tool: "page_the_president", outcome: "ok", to: "end" }];
    graph.dynamic_behaviors = [{ id: "x", keywords: ["help"], tools: ["escalate", "rm_rf"] }];
    expect(reasonsOf(graph)).toEqual([
      { path: "$.states.greet.tools[0]", message: 'unknown tool "launch_rockets"' },
      { path: "$.states.handoff.exits[0].tool", message: 'unknown tool "page_the_president"' },
      { path: "$.dynamic_behaviors[0].tools[1]", message: 'unknown tool "rm_rf"' },
    ]);
  });

  it("reports an exit to a state that does not exist", () => {
    const graph = minimalGraph();
    graph.states.greet!.exits = [{ on: "default", to: "nowhere" }];
    const reasons = reasonsOf(graph);
    expect(reasons).toContainEqual({
      path: "$.states.greet.exits[0].to",
      message: 'exit target "nowhere" does not exist',
    });
  });

  it("reports a terminal state with exits", () => {
    const graph = minimalGraph();
    graph.states.end!.exits = [{ on: "default", to: "greet" }];
    expect(reasonsOf(graph)).toEqual([
      { path: "$.states.end.exits", message: "a terminal state has no exits" },
    ]);
  });

  it("reports every reason at once", () => {
    const graph = minimalGraph();
    graph.states.greet!.tools = ["nope"];
    graph.states.greet!.exits = [{ on: "default", to: "missing" }];
    graph.states.end!.exits = [{ on: "default", to: "greet" }];
    graph.initial_states.returning_patient = "absent";
    const paths = reasonsOf(graph).map((r) => r.path);
    expect(paths).toEqual(
      expect.arrayContaining([
        "$.initial_states.returning_patient",
        "$.states.greet.tools[0]",
        "$.states.greet.exits[0].to",
        "$.states.end.exits",
        "$.states.ask",
        "$.states.handoff",
      ]),
    );
  });

  it("reports exits that cannot hold: intents without examples, tools not allowed, collected without fields", () => {
    const graph = minimalGraph();
    graph.states.greet!.exits = [
      { on: "intent", intent: "book", to: "ask" },
      { on: "tool", tool: "find_slots", outcome: "ok", to: "ask" },
      { on: "collected", to: "ask" },
    ];
    expect(reasonsOf(graph)).toEqual([
      { path: "$.states.greet.exits[0].intent", message: 'intent "book" has no examples in this state' },
      { path: "$.states.greet.exits[1].tool", message: 'tool "find_slots" is not allowed in this state' },
      { path: "$.states.greet.exits[2].on", message: "a collected exit needs fields to collect" },
    ]);
  });

  it("reports a non-terminal dead end and a data_collection state without fields", () => {
    const graph = minimalGraph();
    graph.states.greet = { type: "data_collection", instructions: "Collect.", exits: [] };
    const reasons = reasonsOf(graph);
    expect(reasons).toContainEqual({
      path: "$.states.greet.collect",
      message: "a data_collection state lists the fields it collects",
    });
    expect(reasons).toContainEqual({
      path: "$.states.greet.exits",
      message: "a non-terminal state needs at least one exit",
    });
  });

  it("reports shape errors with their paths before structure", () => {
    const reasons = reasonsOf({
      name: "x",
      initial_states: { new_patient: "a", returning_patient: "a" },
      states: {
        a: { type: "teleport", instructions: "" },
        b: {
          type: "data_collection",
          instructions: "Collect.",
          collect: [{ name: "pick", kind: "choice", prompt: "Pick one" }],
          exits: [{ on: "sometimes", to: "a" }],
        },
      },
      dynamic_behaviors: [{ id: "quiet", priority: 1 }],
    });
    const paths = reasons.map((r) => r.path);
    expect(paths).toEqual(
      expect.arrayContaining([
        "$.states.a.type",
        "$.states.a.instructions",
        "$.states.b.collect[0].choices",
        "$.states.b.exits[0].on",
        "$.dynamic_behaviors[0]",
      ]),
    );
  });

  it("refuses what is not a graph", () => {
    expect(reasonsOf(null)[0]?.path).toBe("$");
    expect(reasonsOf({ name: "x", initial_states: {}, states: {} }).map((r) => r.path)).toEqual(
      expect.arrayContaining(["$.initial_states.new_patient", "$.states"]),
    );
  });

  it("reports behaviors naming missing states, and duplicate ids", () => {
    const graph = minimalGraph();
    graph.dynamic_behaviors = [
      { id: "b", states: ["ghost"], instructions: "x" },
      { id: "b", keywords: ["y"], instructions: "y" },
    ];
    expect(reasonsOf(graph)).toEqual([
      { path: "$.dynamic_behaviors[0].states[0]", message: 'state "ghost" does not exist' },
      { path: "$.dynamic_behaviors[1].id", message: 'behavior "b" is listed twice' },
    ]);
  });

  it("writes JSON paths", () => {
    expect(jsonPath([])).toBe("$");
    expect(jsonPath(["states", "greet", "exits", 0, "to"])).toBe("$.states.greet.exits[0].to");
    expect(jsonPath(["states", "with space"])).toBe('$.states["with space"]');
  });
});

describe("demo knowledge", () => {
  it("is valid as the API would accept it, with unique stable ids", () => {
    for (const entry of DEMO_KNOWLEDGE) {
      const { kind, title, body, keywords } = entry;
      expect(KnowledgeCreate.safeParse({ kind, title, body, keywords }).success, entry.slug).toBe(true);
    }
    const rows = demoKnowledgeRows();
    expect(new Set(rows.map((r) => r.id)).size).toBe(rows.length);
    for (const row of rows) expect(row.id).toMatch(/^kn_[A-Za-z0-9_-]{8,43}$/);
    const inquiries = rows.filter((r) => r.serviceId === "svc_demo-inquiries").map((r) => r.kind);
    expect(new Set(inquiries)).toEqual(
      new Set(["hours", "location", "directions", "preparation", "policy", "faq"]),
    );
    const prep = rows.filter((r) => r.kind === "preparation").map((r) => r.title);
    expect(prep.some((t) => /colonoscopy/i.test(t))).toBe(true);
    expect(prep.some((t) => /fasting blood test/i.test(t))).toBe(true);
  });
});

/** The demo graphs as the LocalEngine runs them: states, tool calls and escalations, not wording. */
describe("demo graphs with the LocalEngine", () => {
  const knowledgeOf = (serviceId: string) => demoKnowledgeRows().filter((r) => r.serviceId === serviceId);
  const call = (graph: ContextGraphInput, serviceId: string, withPatient = true) =>
    new Conversation(parseContextGraph(graph), {
      knowledge: knowledgeOf(serviceId),
      ...(withPatient ? { patient: PATIENT } : {}),
    });
  const verified = { identity_verified: true };
  const APPOINTMENT = { id: "appt_1", label: "Thursday, December 3 at 10 AM", start: "2026-12-03T15:00:00Z" };

  it("scheduling: verifies, reschedules to an offered slot, and ends", () => {
    const c = call(SCHEDULING_GRAPH, "svc_demo-scheduling");
    expect(c.turn("").next_state).toBe("verify_identity");
    c.turn("Jane Doe");
    expect(c.turn("March 5th, 1980").tool_calls.map((t) => t.name)).toEqual(["verify_identity"]);
    expect(c.tools([{ name: "verify_identity", outcome: "ok" }], verified).next_state).toBe("identify_need");
    const hours = c.turn("What are your hours?", verified);
    expect(hours.knowledge_used).toBe("kn_demo-scheduling-hours");
    expect(hours.next_state).toBe("identify_need");
    const move = c.turn("I need to reschedule my appointment", verified);
    expect(move.tool_calls.map((t) => t.name)).toEqual(["patient_context"]);
    c.tools([{ name: "patient_context", outcome: "ok", data: { options: [APPOINTMENT] } }], verified);
    expect(c.turn("yes that one", verified).next_state).toBe("collect_preferences");
    expect(c.turn("next Tuesday afternoon", verified).tool_calls.map((t) => t.name)).toEqual(["find_slots"]);
    const offer = c.tools([{ name: "find_slots", outcome: "ok", data: { options: SLOTS } }], verified);
    expect(offer.next_state).toBe("offer_slots");
    expect(c.turn("the second one", verified).next_state).toBe("confirm_booking");
    const commit = c.turn("yes", verified);
    expect(commit.tool_calls.map((t) => t.name)).toEqual(["reschedule_appointment"]);
    expect(commit.tool_calls[0]?.args.selected_option).toEqual(SLOTS[1]);
    expect(c.tools([{ name: "reschedule_appointment", outcome: "ok" }], verified).next_state).toBe("wrap_up");
    const bye = c.turn("no that's all, thanks", verified);
    expect(bye.next_state).toBe("end");
    expect(bye.end_call).toBe(true);
  });

  it("scheduling: books for a verified caller with the book tool", () => {
    const c = call(SCHEDULING_GRAPH, "svc_demo-scheduling");
    c.turn("");
    c.turn("Jane Doe");
    c.turn("March 5th, 1980");
    c.tools([{ name: "verify_identity", outcome: "ok" }], verified);
    const book = c.turn("I'd like to book an appointment for next Tuesday morning", verified);
    expect(book.tool_calls.map((t) => t.name)).toEqual(["find_slots"]);
    c.tools([{ name: "find_slots", outcome: "ok", data: { options: SLOTS } }], verified);
    c.turn("the first one", verified);
    expect(c.turn("yes please", verified).tool_calls.map((t) => t.name)).toEqual(["book_appointment"]);
    expect(c.tools([{ name: "book_appointment", outcome: "ok" }], verified).next_state).toBe("wrap_up");
  });

  it("scheduling: a new patient leaves details and gets a promised call back", () => {
    const c = call(SCHEDULING_GRAPH, "svc_demo-scheduling", false);
    c.turn("");
    expect(c.turn("I'm a new patient").next_state).toBe("new_patient_intake");
    c.turn("Maria Lopez");
    c.turn("June 2, 1990");
    const phone = c.turn("415 555 0199");
    expect(phone.tool_calls.map((t) => t.name)).toEqual(["record_promise"]);
    expect(phone.tool_calls[0]?.args.callback_phone).toBe("+14155550199");
    expect(c.tools([{ name: "record_promise", outcome: "ok" }]).next_state).toBe("wrap_up");
  });

  it("scheduling: a billing question is escalated, and a failed verification discloses nothing", () => {
    const billing = call(SCHEDULING_GRAPH, "svc_demo-scheduling");
    billing.turn("");
    billing.turn("Jane Doe");
    billing.turn("March 5th, 1980");
    billing.tools([{ name: "verify_identity", outcome: "ok" }], verified);
    expect(billing.turn("I have a question about my bill", verified).escalate).not.toBeNull();

    const failed = call(SCHEDULING_GRAPH, "svc_demo-scheduling");
    failed.turn("");
    failed.turn("Jane Doe");
    failed.turn("March 5th, 1980");
    expect(failed.tools([{ name: "verify_identity", outcome: "error" }]).next_state).toBe(
      "verification_failed",
    );
    failed.turn("When is my next appointment?");
    for (const reply of failed.replies.slice(3)) {
      for (const phi of PHI_STRINGS) expect(reply).not.toContain(phi);
    }
  });

  it("inquiries: answers hours, locations and preparation from knowledge; escalates the rest", () => {
    const c = call(INQUIRIES_GRAPH, "svc_demo-inquiries", false);
    expect(c.turn("").next_state).toBe("questions");
    expect(c.turn("What are your hours?").knowledge_used).toBe("kn_demo-inquiries-hours");
    expect(c.turn("How do I prepare for my colonoscopy?").knowledge_used).toBe(
      "kn_demo-inquiries-prep-colonoscopy",
    );
    const where = c.turn("Where is the Harbor View office?");
    expect(where.reply).toContain("45 Harbor Blvd");
    expect(where.escalate).toBeNull();
    expect(c.turn("Do you do acupuncture?").escalate).toMatchObject({ reason: "out_of_scope" });

    const billing = call(INQUIRIES_GRAPH, "svc_demo-inquiries", false);
    billing.turn("");
    const out = billing.turn("I have a question about my bill");
    expect(out.next_state).toBe("out_of_scope");
    expect(out.tool_calls.map((t) => t.name)).toEqual(["escalate"]);
  });

  it("triage: chest pain escalates at once; other symptoms are collected and handed to a nurse", () => {
    const urgent = call(TRIAGE_GRAPH, "svc_demo-triage", false);
    expect(urgent.turn("").next_state).toBe("red_flag_screen");
    const chest = urgent.turn("I have chest pain and my arm is numb");
    expect(chest.escalate).not.toBeNull();
    expect(chest.tool_calls.map((t) => t.name)).toContain("escalate");

    const c = call(TRIAGE_GRAPH, "svc_demo-triage", false);
    c.turn("");
    expect(c.turn("No, none of those. I've had a fever since yesterday").next_state).toBe("verify_identity");
    c.turn("Jane Doe");
    c.turn("March 5th, 1980");
    expect(c.tools([{ name: "verify_identity", outcome: "error" }]).next_state).toBe("collect_symptoms");
    c.turn("a fever and a sore throat");
    c.turn("yesterday morning");
    const handoff = c.turn("moderate");
    expect(handoff.next_state).toBe("nurse_handoff");
    expect(handoff.tool_calls.map((t) => t.name)).toEqual(["escalate"]);
  });
});
