import { describe, expect, it } from "vitest";
import { initialEngineState } from "../../../shared/engine/engine";
import { LocalEngine } from "../../../shared/engine/local-engine";
import { Conversation, graph, NOW, PATIENT, PERSONA, PHI_STRINGS, SLOTS, TIME_ZONE } from "./fixtures";

describe("LocalEngine: booking conversation", () => {
  it("greets, verifies, finds slots, offers, books the second one and ends", () => {
    const call = new Conversation(graph(), { patient: PATIENT });
    const greet = call.turn("");
    expect(greet.reply).toBe("Thank you for calling Riverside Clinic. How can I help you today?");
    expect(greet.next_state).toBe("greet");

    const book = call.turn("Hi, I'd like to book an appointment please");
    expect(book.intent?.name).toBe("book");
    expect(book.next_state).toBe("verify");
    expect(book.reply).toContain("full name");

    const name = call.turn("My name is Jane Doe");
    expect(name.extracted).toEqual({ full_name: "Jane Doe" });
    expect(name.next_state).toBe("verify");
    expect(name.reply).toContain("date of birth");

    const dob = call.turn("March 5th, 1980");
    expect(dob.extracted).toEqual({ dob: "1980-03-05" });
    expect(dob.tool_calls).toEqual([
      { name: "verify_identity", args: { name: "Jane Doe", birth_date: "1980-03-05" } },
    ]);
    expect(dob.state.pending_tools).toEqual(["verify_identity"]);

    const verified = call.tools([{ name: "verify_identity", outcome: "ok" }], { identity_verified: true });
    expect(verified.next_state).toBe("when");
    expect(verified.reply).toContain("What day and time");

    const when = call.turn("next Tuesday afternoon", { identity_verified: true });
    expect(when.next_state).toBe("find");
    expect(when.extracted.preferred).toMatchObject({ date: "2026-12-08", part_of_day: "afternoon" });
    expect(when.tool_calls.map((c) => c.name)).toEqual(["find_slots"]);
    expect(when.tool_calls[0]?.args.preferred).toMatchObject({ date: "2026-12-08" });

    const offer = call.tools([{ name: "find_slots", outcome: "ok", data: { options: SLOTS } }], {
      identity_verified: true,
    });
    expect(offer.next_state).toBe("offer");
    expect(offer.reply).toContain("Tuesday, December 8 at 10 AM");
    expect(offer.reply).toContain("Thursday, December 10 at 9 AM");
    expect(offer.state.offered).toHaveLength(3);

    const choose = call.turn("the second one", { identity_verified: true });
    expect(choose.extracted.slot).toEqual(SLOTS[1]);
    expect(choose.next_state).toBe("book");
    expect(choose.tool_calls).toHaveLength(1);
    expect(choose.tool_calls[0]?.name).toBe("book_appointment");
    expect(choose.tool_calls[0]?.args.slot).toEqual(SLOTS[1]);

    const done = call.tools([{ name: "book_appointment", outcome: "ok" }], { identity_verified: true });
    expect(done.next_state).toBe("booked");
    expect(done.end_call).toBe(true);
    expect(done.reply).toBe(
      "You're booked for Wednesday, December 9 at 2 PM. You are all set. Thank you for calling, goodbye!",
    );
    expect(done.escalate).toBeNull();
  });

  it("chooses by day and hour, and only among the options the caller heard", () => {
    const call = new Conversation();
    call.turn("I need to make an appointment");
    call.turn("This is John Smith");
    call.turn("3/5/1980");
    call.tools([{ name: "verify_identity", outcome: "ok" }]);
    call.turn("tomorrow morning");
    call.tools([{ name: "find_slots", outcome: "ok", data: { options: SLOTS } }]);
    // The caller barged in after the first two options: "the last one" is the last one heard.
    const out = call.turn("the last one", {
      heard: "I have Tuesday, December 8 at 10 AM, Wednesday, December 9 at 2 PM",
    });
    expect(out.extracted.slot).toEqual(SLOTS[1]);
  });

  it("picks a slot named by weekday and time", () => {
    const call = new Conversation();
    for (const u of ["book an appointment", "my name is Sam Lee", "the fifth of March nineteen eighty"])
      call.turn(u);
    call.tools([{ name: "verify_identity", outcome: "ok" }]);
    call.turn("next week");
    call.tools([{ name: "find_slots", outcome: "ok", data: { options: SLOTS } }]);
    const out = call.turn("Thursday at 9 works");
    expect(out.extracted.slot).toEqual(SLOTS[2]);
  });

  it("hands a failed verification to an operator", () => {
    const call = new Conversation();
    call.turn("I'd like to book an appointment");
    call.turn("my name is Jane Doe");
    call.turn("January 1st 1990");
    const out = call.tools([{ name: "verify_identity", outcome: "none" }]);
    expect(out.next_state).toBe("handoff");
    expect(out.escalate?.reason).toBe("state:handoff");
    expect(out.tool_calls.map((c) => c.name)).toContain("escalate");
  });

  it("re-asks for an impossible birth date instead of accepting it", () => {
    const call = new Conversation();
    call.turn("book an appointment");
    call.turn("my name is Jane Doe");
    const out = call.turn("February 30th 1980");
    expect(out.extracted).toEqual({});
    expect(out.reply).toContain("doesn't seem to exist");
    expect(out.tool_calls).toEqual([]);
  });

  it("is usable through the ReasoningEngine interface", async () => {
    const g = graph();
    const out = await new LocalEngine().respond({
      graph: g,
      state: initialEngineState(g, { returning: false, now: NOW }),
      utterance: "schedule a visit",
      heard: "",
      history: [],
      knowledge: [],
      patient: null,
      identity_verified: false,
      guidance: [],
      persona: PERSONA,
      now: NOW,
      time_zone: TIME_ZONE,
    });
    expect(out.next_state).toBe("verify");
  });
});

describe("LocalEngine: knowledge and scope", () => {
  it("answers from knowledge when the state allows it", () => {
    const out = new Conversation().turn("What are your hours on Friday?");
    expect(out.reply).toContain("Monday to Friday, 8 AM to 5 PM");
    expect(out.escalate).toBeNull();
    expect(out.knowledge_used).toBe("kn_hours");
    expect(out.tool_calls).toEqual([]);
    expect(out.next_state).toBe("greet");
  });

  it("answers preparation questions", () => {
    const out = new Conversation().turn("How do I prepare for my colonoscopy?");
    expect(out.reply).toContain("clear liquids");
  });

  it("escalates a question outside the service's knowledge instead of guessing", () => {
    const out = new Conversation().turn("I have a question about a charge on my bill");
    expect(out.escalate).toEqual({ reason: "out_of_scope" });
    expect(out.tool_calls).toEqual([{ name: "escalate", args: { reason: "out_of_scope" } }]);
    expect(out.reply).not.toMatch(/\$|dollar|charge is/i);
  });

  it("does not answer from knowledge in a state that does not allow it", () => {
    const call = new Conversation();
    call.turn("book an appointment");
    const out = call.turn("what time do you close?");
    expect(out.reply).not.toContain("8 AM to 5 PM");
    expect(out.reply).toContain("full name");
    expect(out.escalate).toBeNull();
  });
});

describe("LocalEngine: no PHI for an unverified caller", () => {
  const leaks = (text: string) => PHI_STRINGS.filter((s) => text.includes(s));

  it("keeps the patient's name out of the greeting until verified", () => {
    expect(leaks(new Conversation(graph({ persona: {} }), { patient: PATIENT }).turn("").reply)).toEqual([]);
    const noQuotedGreeting = graph();
    const greet = noQuotedGreeting.states.greet;
    if (greet) greet.instructions = "Greet the caller.";
    const unverified = new Conversation(noQuotedGreeting, { patient: PATIENT }).turn("");
    expect(unverified.reply).toContain("Riverside Clinic");
    expect(leaks(unverified.reply)).toEqual([]);
    const verified = new Conversation(noQuotedGreeting, { patient: PATIENT, identity_verified: true }).turn(
      "",
    );
    expect(verified.reply).toContain("Janie");
  });

  it("refuses appointment details until verified, gives them after", () => {
    const unverified = new Conversation(graph(), { patient: PATIENT }).turn("When is my next appointment?");
    expect(leaks(unverified.reply)).toEqual([]);
    expect(unverified.reply).toContain("verified your identity");
    const verified = new Conversation(graph(), { patient: PATIENT, identity_verified: true }).turn(
      "When is my next appointment?",
    );
    expect(verified.reply).toContain("Dr. Whitfield");
    expect(verified.reply).toContain("December 3");
  });

  it("never speaks PHI through a whole call whose verification failed", () => {
    const call = new Conversation(graph(), { patient: PATIENT });
    for (const u of [
      "",
      "When is my appointment?",
      "book an appointment",
      "my name is Jane Doe",
      "March 5 1980",
    ])
      call.turn(u);
    call.tools([{ name: "verify_identity", outcome: "error" }]);
    for (const reply of call.replies) expect(leaks(reply)).toEqual([]);
  });
});

describe("LocalEngine: safety and risk", () => {
  it.each([
    ["I've had chest pain since this morning", "safety:chest_pain"],
    ["I just want to end my life", "safety:crisis"],
    ["my husband's face is drooping and he has slurred speech", "safety:stroke"],
    ["I can't breathe very well", "safety:breathing"],
  ])("escalates %j at once, in any state", (utterance, reason) => {
    const call = new Conversation();
    call.turn("book an appointment");
    const out = call.turn(utterance);
    expect(out.escalate?.reason).toBe(reason);
    expect(out.tool_calls[0]?.name).toBe("escalate");
    expect(out.next_state).toBe("verify");
    expect(out.reply).toMatch(/911/);
  });

  it("does not escalate a denied symptom", () => {
    const call = new Conversation();
    call.turn("book an appointment");
    const out = call.turn("no chest pain, my name is Ann Lee");
    expect(out.escalate).toBeNull();
    expect(out.extracted.full_name).toBe("Ann Lee");
  });

  it("escalates a casual-to-urgent pivot", () => {
    const call = new Conversation();
    call.turn("book an appointment");
    call.turn("my name is Ann Lee");
    const out = call.turn("actually the pain is getting worse right now");
    expect(out.escalate?.reason).toBe("safety:urgent_pivot");
  });

  it("escalates after the loop limit (3 turns without progress)", () => {
    const call = new Conversation();
    const first = call.turn("blah blah");
    expect(first.reply).toContain("didn't quite catch");
    expect(first.risk.components.loops).toBeCloseTo(1 / 3, 3);
    expect(call.turn("hmm purple").escalate).toBeNull();
    const third = call.turn("banana");
    expect(third.escalate).toEqual({ reason: "loop_limit" });
    expect(third.risk.components.loops).toBe(1);
  });

  it("honours a state's max_loops", () => {
    const g = graph();
    const greet = g.states.greet;
    if (greet) greet.risk = { max_loops: 1 };
    expect(new Conversation(g).turn("blah").escalate).toEqual({ reason: "loop_limit" });
  });

  it("computes risk every turn and escalates when it crosses the state's threshold", () => {
    const g = graph();
    const greet = g.states.greet;
    if (greet) greet.risk = { max_loops: 10, escalate_threshold: 0.3 };
    const out = new Conversation(g).turn(
      "I'm so scared and upset and frustrated, this is awful and terrible",
    );
    expect(out.emotion_tier).toBe("distressed");
    expect(out.risk.components.emotion).toBeGreaterThan(0.75);
    expect(out.risk.level).toBe("escalate");
    expect(out.escalate).toEqual({ reason: "risk" });
  });

  it("counts duration: a long call carries risk", () => {
    const call = new Conversation();
    const late = new Date(NOW.getTime() + 25 * 60 * 1000);
    const out = call.turn("book an appointment", { now: late });
    expect(out.risk.components.duration).toBe(1);
    expect(out.risk.score).toBeCloseTo(0.3, 3);
    expect(out.risk.level).toBe("monitor");
  });
});

describe("LocalEngine: dynamic behaviors and guidance", () => {
  const withBehavior = () =>
    graph({
      dynamic_behaviors: [
        {
          id: "empathy",
          emotion_tier: "concerned",
          instructions: 'Acknowledge the feeling. Say: "I understand, that sounds stressful."',
          cooldown_turns: 2,
        },
        { id: "billing", keywords: ["invoice"], intents: [], tools: ["escalate"], priority: 5 },
      ],
    });

  it("fires on the emotion tier, then stays quiet for its cooldown", () => {
    const call = new Conversation(withBehavior());
    const worried = "I'm worried and upset, I need to see the doctor";
    const fired: string[][] = [];
    for (let i = 0; i < 4; i++) {
      const out = call.turn(worried);
      fired.push(out.fired_behaviors);
      if (i === 0) expect(out.reply.startsWith("I understand, that sounds stressful.")).toBe(true);
      call.state = { ...call.state, state_id: "greet", escalated: true };
    }
    expect(fired).toEqual([["empathy"], [], [], ["empathy"]]);
  });

  it("fires on keywords and adds its tools (escalate)", () => {
    const out = new Conversation(withBehavior()).turn("I got an invoice I do not understand");
    expect(out.fired_behaviors).toEqual(["billing"]);
    expect(out.escalate).toEqual({ reason: "behavior:billing" });
  });

  it("says a quoted operator guidance line and keeps all guidance in the instructions", () => {
    const out = new Conversation().turn("book an appointment", {
      guidance: ['Tell them: "Dr. Patel is out this week."', "Be extra patient"],
    });
    expect(out.reply.startsWith("Dr. Patel is out this week.")).toBe(true);
    expect(out.instructions).toContain("Be extra patient");
  });
});

describe("LocalEngine: bookkeeping", () => {
  it("escalates once: later risky turns do not escalate again", () => {
    const g = graph();
    const greet = g.states.greet;
    if (greet) greet.risk = { max_loops: 10, escalate_threshold: 0.2 };
    const call = new Conversation(g);
    expect(call.turn("I'm so scared and upset, this is awful").escalate).toEqual({ reason: "risk" });
    const again = call.turn("I'm still so scared and upset");
    expect(again.escalate).toBeNull();
    expect(again.risk.level).toBe("escalate");
  });

  it("runs a state's lookup once per visit, not again on every unclear turn", () => {
    const call = new Conversation();
    call.turn("book an appointment");
    call.turn("my name is Ann Lee");
    expect(call.turn("3/5/1980").tool_calls.map((c) => c.name)).toEqual(["verify_identity"]);
    const waiting = call.turn("hello?");
    expect(waiting.tool_calls).toEqual([]);
    expect(waiting.reply).toContain("still checking");
    expect(waiting.state.pending_tools).toEqual(["verify_identity"]);
    expect(call.tools([{ name: "verify_identity", outcome: "ok" }]).next_state).toBe("when");
  });

  it("takes a name from the words that led into the state", () => {
    const call = new Conversation();
    const out = call.turn("Hi, this is Ann Lee, I'd like to book an appointment");
    expect(out.next_state).toBe("verify");
    expect(out.extracted.full_name).toBe("Ann Lee");
    expect(out.reply).toContain("date of birth");
  });

  it("escalates when the caller asks for a person", () => {
    const out = new Conversation().turn("can I talk to a real person please");
    expect(out.escalate).toEqual({ reason: "caller_request" });
  });
});
