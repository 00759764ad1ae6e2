import { describe, expect, it } from "vitest";
import { matchIntent } from "../../../shared/engine/intents";
import { isQuestion, searchKnowledge } from "../../../shared/engine/knowledge";
import { KNOWLEDGE } from "./fixtures";

const INTENTS = [
  { name: "book", examples: ["I'd like to book an appointment", "schedule a visit", "make an appointment"] },
  {
    name: "reschedule",
    examples: ["I need to reschedule my appointment", "move my appointment", "change my visit"],
  },
  { name: "cancel", examples: ["cancel my appointment", "I can't make it, please cancel"] },
  { name: "refill", examples: ["I need a prescription refill", "refill my medication"] },
];

describe("matchIntent", () => {
  it.each([
    ["Hi, I want to book an appointment for next week", "book"],
    ["could I schedule a visit?", "book"],
    ["I need to move my appointment to Friday", "reschedule"],
    ["please cancel my appointment", "cancel"],
    ["I'm running out of my medication, can I get a refill", "refill"],
  ])("%j → %s", (text, name) => {
    expect(matchIntent(text, INTENTS)?.name).toBe(name);
  });

  it("returns null below the threshold", () => {
    expect(matchIntent("what's the weather like", INTENTS)).toBeNull();
    expect(matchIntent("", INTENTS)).toBeNull();
    expect(matchIntent("appointment", INTENTS, 0.95)).toBeNull();
  });

  it("matches yes/no intents without examples of every way to say yes", () => {
    const yesNo = [
      { name: "yes", examples: ["yes"] },
      { name: "no", examples: ["no"] },
    ];
    expect(matchIntent("yep, that's right", yesNo)?.name).toBe("yes");
    expect(matchIntent("nope", yesNo)?.name).toBe("no");
    expect(matchIntent("I'm not sure", yesNo)).toBeNull();
  });

  it("scores in 0..1", () => {
    const m = matchIntent("make an appointment", INTENTS);
    expect(m?.score).toBeGreaterThan(0.9);
    expect(m?.score).toBeLessThanOrEqual(1);
  });
});

describe("knowledge", () => {
  it("finds entries by keyword and by title", () => {
    expect(searchKnowledge("what time do you close today?", KNOWLEDGE)?.entry.id).toBe("kn_hours");
    expect(searchKnowledge("what are your office hours", KNOWLEDGE)?.entry.id).toBe("kn_hours");
    expect(searchKnowledge("how should I prep for the colonoscopy", KNOWLEDGE)?.entry.id).toBe("kn_prep");
  });

  it("finds nothing for questions it has no entry for", () => {
    expect(searchKnowledge("do you take Blue Cross insurance?", KNOWLEDGE)).toBeNull();
    expect(searchKnowledge("why was I charged twice", KNOWLEDGE)).toBeNull();
  });

  it.each([
    ["what are your hours", true],
    ["Is Dr. Patel in on Friday?", true],
    ["so, how do I get there", true],
    ["I was wondering about parking", true],
    ["I want to book an appointment", false],
    ["my name is Jane", false],
    ["hello?", false],
  ])("isQuestion(%j) = %s", (text, yes) => {
    expect(isQuestion(text)).toBe(yes);
  });
});
