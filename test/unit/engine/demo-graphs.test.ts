/**
 * The LocalEngine against the demo clinic's real graphs (scripts/demo-graphs.ts): each line's main
 * conversations reach the right state with the right tool calls, and nothing from the record is read
 * to a caller who failed verification.
 */
import { describe, expect, it } from "vitest";
import {
  DEMO_KNOWLEDGE,
  INQUIRIES_GRAPH,
  SCHEDULING_GRAPH,
  TRIAGE_GRAPH,
} from "../../../scripts/demo-graphs";
import { type ContextGraphInput, parseContextGraph } from "../../../shared/calls/context-graph";
import type { ToolResult, TurnOutput } from "../../../shared/engine/engine";
import { Conversation, PATIENT, PHI_STRINGS, SLOTS } from "./fixtures";

const knowledge = DEMO_KNOWLEDGE.map((k) => ({
  id: k.slug,
  kind: k.kind,
  title: k.title,
  body: k.body,
  keywords: [...k.keywords],
}));

type Step = string | { tools: ToolResult[] };

function call(graph: ContextGraphInput, steps: Step[], verifiedAfterCheck = true) {
  const c = new Conversation(parseContextGraph(graph), { knowledge, patient: PATIENT }, true);
  let verified = false;
  const outs: TurnOutput[] = [];
  for (const step of steps) {
    if (typeof step === "string") outs.push(c.turn(step, { identity_verified: verified }));
    else {
      const ok = step.tools.some((r) => r.name === "verify_identity" && r.outcome === "ok");
      if (ok && verifiedAfterCheck) verified = true;
      outs.push(c.tools(step.tools, { identity_verified: verified }));
    }
  }
  return { outs, last: outs.at(-1) as TurnOutput, replies: c.replies };
}

const VERIFIED: Step[] = [
  "",
  "This is Jane Doe",
  "March 5th 1980",
  { tools: [{ name: "verify_identity", outcome: "ok" }] },
];
const toolNames = (outs: TurnOutput[]) => outs.flatMap((o) => o.tool_calls.map((c) => c.name));

describe("demo scheduling line", () => {
  it("books a new appointment choosing among offered slots", () => {
    const { outs, last } = call(SCHEDULING_GRAPH, [
      ...VERIFIED,
      "I need to make an appointment",
      "next Tuesday afternoon",
      { tools: [{ name: "find_slots", outcome: "ok", data: { options: SLOTS } }] },
      "the second one",
      "yes please",
      { tools: [{ name: "book_appointment", outcome: "ok" }] },
      "no that's all, thanks",
    ]);
    expect(toolNames(outs)).toEqual(["verify_identity", "find_slots", "book_appointment"]);
    const book = outs.flatMap((o) => o.tool_calls).find((c) => c.name === "book_appointment");
    expect(book?.args.selected_option).toEqual(SLOTS[1]);
    expect(outs[1]?.next_state).toBe("verify_identity");
    expect(last.next_state).toBe("end");
    expect(last.end_call).toBe(true);
    expect(outs.every((o) => o.escalate === null)).toBe(true);
  });

  it("reschedules with reschedule_appointment, not book_appointment", () => {
    const { outs } = call(SCHEDULING_GRAPH, [
      ...VERIFIED,
      "I need to reschedule",
      { tools: [{ name: "patient_context", outcome: "ok" }] },
      "the first one",
      "Friday morning",
      { tools: [{ name: "find_slots", outcome: "ok", data: { options: SLOTS } }] },
      "Thursday at 9",
      "yes",
      { tools: [{ name: "reschedule_appointment", outcome: "ok" }] },
    ]);
    expect(toolNames(outs)).toEqual([
      "verify_identity",
      "patient_context",
      "find_slots",
      "reschedule_appointment",
    ]);
    expect(outs.at(-1)?.next_state).toBe("wrap_up");
  });

  it("answers preparation from knowledge, and escalates billing and unknown questions", () => {
    const prep = call(SCHEDULING_GRAPH, [...VERIFIED, "how do I prepare for my colonoscopy?"]).last;
    expect(prep.knowledge_used).toBe("prep-colonoscopy");
    expect(prep.escalate).toBeNull();
    const billing = call(SCHEDULING_GRAPH, [...VERIFIED, "I have a question about my bill"]).last;
    expect(billing.escalate?.reason).toMatch(/billing/);
    const unknown = call(SCHEDULING_GRAPH, [...VERIFIED, "do you do MRI scans?"]).last;
    expect(unknown.escalate?.reason).toBe("out_of_scope");
  });

  it("escalates chest pain at once, from the first answer", () => {
    const { last } = call(SCHEDULING_GRAPH, ["", "I'm having chest pain right now"]);
    expect(last.escalate?.reason).toBe("safety:chest_pain");
    expect(last.tool_calls[0]?.name).toBe("escalate");
  });

  it("reads nothing from the record after a failed verification", () => {
    const { replies, last } = call(
      SCHEDULING_GRAPH,
      [
        "",
        "Jane Doe",
        "3/5/1980",
        { tools: [{ name: "verify_identity", outcome: "none" }] },
        "when is my appointment?",
        "call me back",
      ],
      false,
    );
    for (const reply of replies) for (const phi of PHI_STRINGS) expect(reply).not.toContain(phi);
    expect(last.escalate).not.toBeNull();
  });
});

describe("demo inquiries line", () => {
  it("answers hours and parking from knowledge", () => {
    const { outs } = call(INQUIRIES_GRAPH, ["", "what are your hours?", "is there parking at Harbor View?"]);
    expect(outs[1]?.reply).toContain("Monday to Friday");
    expect(outs[2]?.knowledge_used).toBe("directions-harbor");
    expect(outs.every((o) => o.escalate === null)).toBe(true);
  });

  it("escalates what it has no entry for", () => {
    const { last } = call(INQUIRIES_GRAPH, ["", "can you tell me the results of my blood test?"]);
    expect(last.escalate).not.toBeNull();
    expect(last.reply).not.toMatch(/result(s)? (is|are|was)/i);
  });
});

describe("demo inquiries line: scheduling requests", () => {
  it("transfers to the scheduling line's number after the goodbye", () => {
    const { last } = call(INQUIRIES_GRAPH, ["", "I need an appointment"]);
    expect(last.next_state).toBe("transfer_to_scheduling");
    expect(last.tool_calls).toEqual([{ name: "transfer", args: { to: "+14155550100" } }]);
    expect(last.end_call).toBe(false);
  });
});

describe("demo triage line", () => {
  it("screens, collects symptoms and hands over to a nurse", () => {
    const { outs, last } = call(TRIAGE_GRAPH, [
      "",
      "no, nothing like that",
      "Jane Doe",
      "March 5 1980",
      { tools: [{ name: "verify_identity", outcome: "ok" }] },
      "a sore throat",
      "since yesterday",
      "moderate",
    ]);
    expect(outs[5]?.extracted.main_symptom).toBe("a sore throat");
    expect(outs[7]?.extracted.severity).toBe("moderate");
    expect(last.next_state).toBe("nurse_handoff");
    expect(last.escalate?.reason).toBe("state:nurse_handoff");
  });
});
