/**
 * The model-backed engine against a fake chat model that checks requests the way Workers AI does: what
 * the model is offered (the state's tools, a transition enum of its exits), what is refused, where PHI
 * may appear in the prompt, and the deterministic guards and fallback around the model.
 */
import { describe, expect, it } from "vitest";
import { type EngineState, initialEngineState, type TurnInput } from "../../shared/engine/engine";
import { LocalEngine, respondLocally } from "../../shared/engine/local-engine";
import { engineName, selectEngine } from "../../shared/engine/select";
import { DEFAULT_CHAT_MODEL, WorkersAiEngine } from "../../shared/engine/workers-ai-engine";
import { fakeAiChat, type Script } from "../helpers/fake-ai-chat";
import { graph, KNOWLEDGE, NOW, PATIENT, PERSONA, PHI_STRINGS, TIME_ZONE } from "../unit/engine/fixtures";

const G = graph();

function input(extra: Partial<TurnInput> = {}, state?: Partial<EngineState>): TurnInput {
  return {
    graph: G,
    state: {
      ...initialEngineState(G, { returning: false, now: NOW }),
      turn: 1,
      loops: { greet: 0 },
      ...state,
    },
    utterance: "",
    heard: "",
    history: [],
    knowledge: KNOWLEDGE,
    patient: null,
    identity_verified: false,
    guidance: [],
    persona: PERSONA,
    now: NOW,
    time_zone: TIME_ZONE,
    ...extra,
  };
}

function engine(script: Script[], options: { timeoutMs?: number } = {}) {
  const fake = fakeAiChat(script);
  const logs: { event: string; fields: Record<string, string | number> }[] = [];
  const e = new WorkersAiEngine(fake.ai, {
    ...options,
    log: (event, fields) => logs.push({ event, fields }),
  });
  return { fake, logs, engine: e };
}

describe("WorkersAiEngine: what the model is offered", () => {
  it("sends a valid function-calling request: the state's tools and a transition enum of its exits", async () => {
    const { fake, engine: e } = engine([
      {
        response: "Of course, I can book that for you.",
        tool_calls: [{ name: "transition", arguments: { to: "verify" } }],
      },
      { response: "Can I have your full name, please?" },
    ]);
    const turn = input({
      utterance: "Hi, I'd like to book an appointment please",
      history: [
        { speaker: "agent", text: "Thank you for calling Riverside Clinic. How can I help you today?" },
      ],
      heard: "Thank you for calling Riverside Clinic.",
    });
    const out = await e.respond(turn);

    expect(fake.violations).toEqual([]);
    expect(fake.requests[0]?.model).toBe(DEFAULT_CHAT_MODEL);
    const first = fake.requests[0]!.inputs;
    expect(first.tools?.map((t) => t.name)).toEqual(["answer_from_knowledge", "transition"]);
    expect(first.tools?.find((t) => t.name === "transition")?.parameters.properties.to?.enum).toEqual([
      "verify",
    ]);
    // History with the agent's turn as the caller heard it, then this turn.
    expect(first.messages.map((m) => m.role)).toEqual(["system", "assistant", "user"]);
    expect(first.messages[1]?.content).toBe("Thank you for calling Riverside Clinic.");
    expect(first.messages[2]?.content).toBe("Hi, I'd like to book an appointment please");
    expect(fake.system(0)).toContain("Current step: greet");

    // The transition into a state with tools of its own earns a round there, with that state's tools.
    expect(fake.requests).toHaveLength(2);
    expect(fake.toolNames(1)).toEqual(["verify_identity"]);
    expect(fake.system(1)).toContain("Current step: verify");

    expect(out.next_state).toBe("verify");
    expect(out.state.state_id).toBe("verify");
    expect(out.reply).toBe("Of course, I can book that for you. Can I have your full name, please?");
    expect(out.tool_calls).toEqual([]);
    expect(out.intent?.name).toBe("book");
    // Risk the LocalEngine's way.
    expect(out.risk).toEqual(respondLocally(turn).risk);
  });

  it("drops a tool the state does not allow and an unknown tool, logging ids only", async () => {
    const {
      fake,
      logs,
      engine: e,
    } = engine([
      {
        response: "Let me help you with that.",
        tool_calls: [
          { name: "book_appointment", arguments: { slot_id: "slot_a" } },
          { name: "delete_records", arguments: { who: "Jane Doe" } },
        ],
      },
    ]);
    const out = await e.respond(input({ utterance: "Can you just book me in for tomorrow?" }));
    expect(fake.violations).toEqual([]);
    expect(out.tool_calls).toEqual([]);
    expect(out.state.pending_tools).toEqual([]);
    expect(out.reply).toBe("Let me help you with that.");
    const drops = logs.filter((l) => l.event === "engine.model_call_dropped").map((l) => l.fields);
    expect(drops).toEqual([
      { state: "greet", reason: "tool_not_allowed", tool: "book_appointment" },
      { state: "greet", reason: "unknown_tool", tool: "unknown" },
    ]);
    expect(JSON.stringify(logs)).not.toContain("Jane");
  });

  it("refuses a transition to a state that is not an exit of the current one", async () => {
    const { logs, engine: e } = engine([
      { response: "You are all set.", tool_calls: [{ name: "transition", arguments: { to: "booked" } }] },
    ]);
    const out = await e.respond(input({ utterance: "I'd like to book an appointment" }));
    expect(out.next_state).toBe("greet");
    expect(out.end_call).toBe(false);
    expect(logs.map((l) => l.fields.reason)).toEqual(["exit_not_allowed"]);
    expect(logs[0]?.fields.to).toBe("booked");
  });

  it("runs an allowed tool with checked arguments, then follows its real outcome, not the model", async () => {
    const verify = { state_id: "verify", loops: { greet: 0, verify: 0 } };
    const { fake, engine: e } = engine([
      {
        response: "Thank you, one moment.",
        tool_calls: [
          { name: "verify_identity", arguments: { name: "Sam Carter", birth_date: "July 4, 1975" } },
        ],
      },
      { response: "Thanks, you're verified. What day and time would work best for you?" },
    ]);
    const asked = await e.respond(input({ utterance: "It's Sam Carter, born July 4th 1975" }, verify));
    expect(asked.tool_calls).toEqual([
      { name: "verify_identity", args: { name: "Sam Carter", birth_date: "1975-07-04" } },
    ]);
    expect(asked.state.pending_tools).toEqual(["verify_identity"]);
    expect(asked.next_state).toBe("verify");

    const verified = await e.respond(
      input(
        { tool_results: [{ name: "verify_identity", outcome: "ok" }], identity_verified: true },
        asked.state,
      ),
    );
    expect(verified.next_state).toBe("when");
    expect(fake.toolNames(1)).toEqual(["transition"]);
    expect(fake.requests[1]?.inputs.tools?.[0]?.parameters.properties.to?.enum).toEqual(["find"]);
    expect(fake.system(1)).toContain("verify_identity: ok");

    // A failed verification routes to the handoff state: escalated without asking the model.
    const failed = await e.respond(
      input({ tool_results: [{ name: "verify_identity", outcome: "none" }] }, asked.state),
    );
    expect(failed.next_state).toBe("handoff");
    expect(failed.escalate?.reason).toBe("state:handoff");
    expect(fake.requests).toHaveLength(2);
    expect(fake.violations).toEqual([]);
  });
});

describe("WorkersAiEngine: PHI and guidance in the prompt", () => {
  it("puts no patient information in the prompt until the caller is verified", async () => {
    const { fake, engine: e } = engine([{ response: "Sure." }, { response: "Sure." }]);
    await e.respond(input({ utterance: "When is my next appointment?", patient: PATIENT }));
    const unverified = JSON.stringify(fake.requests[0]?.inputs);
    for (const phi of [...PHI_STRINGS, "1980-03-05", "+14155550132"]) expect(unverified).not.toContain(phi);
    expect(fake.system(0)).toContain("identity not verified: do not disclose any patient information");

    await e.respond(
      input({ utterance: "When is my next appointment?", patient: PATIENT, identity_verified: true }),
    );
    const verified = fake.system(1);
    for (const phi of ["Janie", "1980-03-05", "Lisinopril", "Dr. Whitfield", "Suite 400"])
      expect(verified).toContain(phi);
    expect(verified).not.toContain("identity not verified");
  });

  it("gives the model operator guidance, marked hidden from the caller", async () => {
    const { fake, engine: e } = engine([{ response: "We have Thursday openings." }]);
    const out = await e.respond(
      input({
        utterance: "What days can I come in?",
        guidance: ["Mention the Thursday walk-in clinic first."],
      }),
    );
    const system = fake.system();
    expect(system).toMatch(
      /Operator guidance \(hidden from the caller[^\n]*\n- Mention the Thursday walk-in clinic first\./,
    );
    expect(out.instructions).toContain("Mention the Thursday walk-in clinic first.");
    expect(out.reply).toBe("We have Thursday openings.");
  });

  it("gives the model the knowledge entry the question is about", async () => {
    const { fake, engine: e } = engine([{ response: "We are open Monday to Friday, 8 AM to 5 PM." }]);
    await e.respond(input({ utterance: "What are your opening hours?" }));
    expect(fake.system()).toContain("Office hours: We are open Monday to Friday, 8 AM to 5 PM.");
    expect(fake.system()).not.toContain("Colonoscopy");
  });
});

describe("WorkersAiEngine: guards and fallback", () => {
  it("escalates chest pain at once without calling the model", async () => {
    const { fake, engine: e } = engine([{ response: "Let's book you in." }]);
    const turn = input({ utterance: "I have crushing chest pain right now" });
    const out = await e.respond(turn);
    expect(fake.requests).toHaveLength(0);
    expect(out.escalate).toEqual({ reason: "safety:chest_pain", safety: "chest_pain" });
    expect(out.reply).toBe(respondLocally(turn).reply);
    expect(out.tool_calls.map((c) => c.name)).toEqual(["escalate"]);
  });

  it("escalates crisis language without calling the model", async () => {
    const { fake, engine: e } = engine([{ response: "Okay." }]);
    const out = await e.respond(input({ utterance: "honestly I want to end my life" }));
    expect(fake.requests).toHaveLength(0);
    expect(out.escalate?.safety).toBe("crisis");
    expect(out.reply).toContain("988");
  });

  it("answers with the LocalEngine, marked, when the model fails or times out", async () => {
    const turn = input({ utterance: "I'd like to book an appointment" });
    const expected = await new LocalEngine().respond(turn);

    const failing = engine([new Error("AiError: 5xx")]);
    const out = await failing.engine.respond(turn);
    expect(out.reply).toBe(expected.reply);
    expect(out.next_state).toBe("verify");
    expect(out.instructions).toContain("fallback:local");
    expect(failing.logs.map((l) => l.fields.reason)).toEqual(["model_error"]);

    const slow = engine(["hang"], { timeoutMs: 50 });
    const late = await slow.engine.respond(turn);
    expect(late.reply).toBe(expected.reply);
    expect(late.instructions).toContain("fallback:local");
    expect(slow.logs.map((l) => l.fields.reason)).toEqual(["timeout"]);
  });

  it("falls back when the model returns nothing usable", async () => {
    const { engine: e, logs } = engine([
      { tool_calls: [{ name: "transition", arguments: { to: "nowhere" } }] },
    ]);
    const out = await e.respond(input({ utterance: "I'd like to book an appointment" }));
    expect(out.instructions).toContain("fallback:local");
    expect(logs.map((l) => l.fields.reason)).toEqual(["exit_not_allowed", "empty_response"]);
  });

  it("escalates after the state's loop limit when the model makes no progress", async () => {
    const { engine: e } = engine([{ response: "Sorry, could you say that again?" }]);
    const out = await e.respond(
      input({ utterance: "hmm, the thing with the stuff" }, { loops: { greet: 2 } }),
    );
    expect(out.escalate?.reason).toBe("loop_limit");
    expect(out.state.loops.greet).toBe(3);
    expect(out.reply).toContain("connect you with a member of our team");
  });
});

describe("selectEngine", () => {
  const { ai } = fakeAiChat();
  it("uses the model when the AI binding exists, unless AGENT_ENGINE=local", () => {
    expect(selectEngine({ AI: ai })).toBeInstanceOf(WorkersAiEngine);
    expect(engineName({ AI: ai })).toBe("workers-ai");
    expect(selectEngine({ AI: ai, AGENT_ENGINE: "local" })).toBeInstanceOf(LocalEngine);
    expect(engineName({ AI: ai, AGENT_ENGINE: "local" })).toBe("local");
    expect(selectEngine({})).toBeInstanceOf(LocalEngine);
    expect(engineName({ AGENT_ENGINE: "workers-ai" })).toBe("local");
  });
});
