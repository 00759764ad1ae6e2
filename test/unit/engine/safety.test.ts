import { describe, expect, it } from "vitest";
import { isUrgent, redFlag, SAFETY_PHRASES, safetyCheck, urgentPivot } from "../../../shared/engine/safety";

describe("redFlag", () => {
  it.each([
    ["I want to kill myself", "crisis"],
    ["sometimes I think I'd be better off dead", "crisis"],
    ["I don't want to live anymore", "crisis"],
    ["I took an overdose", "crisis"],
    ["I have chest pain", "chest_pain"],
    ["there's a lot of pressure in my chest", "chest_pain"],
    ["I think I'm having a heart attack", "chest_pain"],
    ["her face is drooping", "stroke"],
    ["he has slurred speech all of a sudden", "stroke"],
    ["I can't move my arm", "stroke"],
    ["the cut won't stop bleeding", "severe_bleeding"],
    ["I'm coughing up blood", "severe_bleeding"],
    ["I can't breathe", "breathing"],
    ["I'm really short of breath", "breathing"],
    ["my throat is closing up", "anaphylaxis"],
    ["I had to use my EpiPen, I used my epipen", "anaphylaxis"],
    ["my mom passed out and won't wake up", "unresponsive"],
  ])("%j → %s", (text, category) => {
    expect(redFlag(text)?.category).toBe(category);
  });

  it.each([
    "no chest pain",
    "I don't have chest pain",
    "I don't have chest pain or trouble breathing",
    "not having any chest pain",
    "without shortness of breath",
    "she denies chest pain",
    "I'm calling to book a checkup",
    "my arm hurts a little",
    "I need a refill of my inhaler",
  ])("does not fire on %j", (text) => {
    expect(redFlag(text)).toBeNull();
  });

  it("still fires when a later symptom is not negated", () => {
    expect(redFlag("no fever but I have chest pain")?.category).toBe("chest_pain");
    expect(redFlag("no cough, but now I can't breathe")?.category).toBe("breathing");
  });

  it("every category has phrases", () => {
    for (const phrases of Object.values(SAFETY_PHRASES)) expect(phrases.length).toBeGreaterThan(3);
  });
});

describe("casual-to-urgent pivots", () => {
  it("fires when a routine call turns urgent", () => {
    const before = ["I'd like to book a checkup", "my name is Ann Lee"];
    expect(urgentPivot(before, "actually the pain is getting worse right now")).toBe(true);
    expect(safetyCheck("actually it's an emergency", before)?.category).toBe("urgent_pivot");
  });

  it("does not fire on a call that was urgent from the start, or too early to tell", () => {
    expect(urgentPivot(["this is urgent", "my name is Ann"], "it's getting worse")).toBe(false);
    expect(urgentPivot(["hello"], "it's getting worse")).toBe(false);
  });

  it("ignores negated urgency", () => {
    expect(isUrgent("it's not urgent")).toBe(false);
    expect(isUrgent("no emergency, just a question")).toBe(false);
    expect(isUrgent("it's an emergency")).toBe(true);
  });

  it("prefers a red flag over a pivot", () => {
    expect(safetyCheck("I have chest pain right now", ["hi", "book please"])?.category).toBe("chest_pain");
  });
});
