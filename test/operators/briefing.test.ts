/**
 * `GET /v1/{ws}/calls/{id}/briefing` over a real ConversationRelay call (CallSession, LocalEngine, the
 * real tools and world model): the linked record before and after verification, a chest-pain escalation
 * waiting for an operator, a finished call briefed from its record; 404 and 403; the model path against
 * the fake chat binding (request shape, invalid or slow answers → rules, no PHI in logs); and the time
 * it takes (p95 over 20 requests, printed).
 */
import { afterEach, describe, expect, it, vi } from "vitest";
import { SCHEDULING_GRAPH } from "../../scripts/demo-graphs";
import { newId } from "../../shared/ids";
import { BriefingSchema } from "../../shared/schemas/operators";
import { operators } from "../../workers/db/schema";
import { setBriefingAi } from "../../workers/operators/briefing";
import { endedCall, linePatient, RelayCall, relayLine } from "../calls/relay-client";
import { db } from "../helpers/db";
import { fakeAiChat } from "../helpers/fake-ai-chat";
import { api, expectError } from "../helpers/http";
import { insertCall } from "../helpers/operations";

afterEach(() => setBriefingAi());

/** A scheduling line with a clinician online, and a patient (with an allergy) calling from their number. */
async function patientCall() {
  const line = await relayLine(SCHEDULING_GRAPH);
  await db().insert(operators).values({
    workspaceId: line.ws.id,
    userId: line.ws.members.operator.id,
    type: "clinical",
    status: "online",
  });
  const { patientId, family, phone } = await linePatient(line, "Brief", {
    allergies: [{ substance: "Penicillin", severity: "severe", reaction: "hives" }],
  });
  const call = await RelayCall.connect(line.number.e164, phone);
  await call.reply();
  const briefing = async (key = line.ws.keys.operator) => {
    const res = await api("GET", `/v1/${line.ws.id}/calls/${call.callId}/briefing`, { key });
    return res;
  };
  return { line, call, patientId, family, briefing };
}

async function ok(res: Awaited<ReturnType<typeof api>>) {
  expect(res.status, res.text).toBe(200);
  return BriefingSchema.parse(res.body);
}

describe("the briefing of a live call", () => {
  it("shows the linked record before verification, then the verified caller's context and a chest-pain escalation", async () => {
    const { line, call, patientId, family, briefing } = await patientCall();

    // Before verification: the record is there, marked unverified; verify first.
    const before = await ok(await briefing());
    expect(before).toMatchObject({ call_id: call.callId, source: "rules" });
    expect(before.patient).toMatchObject({ entity_id: patientId, verified: false, name: `Maria ${family}` });
    expect(before.patient!.allergies).toEqual(["Penicillin (severe, hives)"]);
    expect(before.recommended_actions[0]).toMatch(/^Verify identity first/);
    expect(before.key_issues).toContain("Identity not verified: the record is linked by phone number only");

    await call.say(`This is Maria ${family}`);
    await call.say("April 2nd 1980");
    await call.say("I need to reschedule my appointment");
    const verified = await ok(await briefing());
    expect(verified.patient).toMatchObject({
      verified: true,
      age: expect.any(Number),
      birth_date: "1980-04-02",
    });
    expect(verified.situation.turn_count).toBeGreaterThanOrEqual(3);
    expect(verified.situation.summary).toMatch(new RegExp(`^Maria ${family} \\(verified\\)`));
    expect(verified.situation.summary).toContain('Last said: "I need to reschedule my appointment"');
    expect(verified.recommended_actions.join("\n")).not.toMatch(/Verify identity/);

    const urgent = await call.say("I'm having chest pain right now");
    expect(urgent.text).toMatch(/911/);
    const escalated = await ok(await briefing());
    expect(escalated.situation.caller_need).toMatch(/^Reported chest pain/);
    expect(escalated.recommended_actions[0]).toMatch(
      /^Take over now and assess the symptoms \(chest pain\).*911/,
    );
    expect(escalated.key_issues[0]).toBe("Safety: chest pain reported on this call");
    expect(escalated.risk.drivers).toContain("Safety rule fired: chest pain");

    // A viewer may not read it (PHI); an unknown call is a 404.
    expectError(await briefing(line.ws.keys.viewer), "forbidden", 403);
    expectError(
      await api("GET", `/v1/${line.ws.id}/calls/${newId("call")}/briefing`, { key: line.ws.keys.operator }),
      "not_found",
      404,
    );
    call.ws.close();
  });

  it("briefs a finished call from its record: the transcript in R2, the session's overlay", async () => {
    const { call, briefing, patientId } = await patientCall();
    await call.say("I need to reschedule my appointment");
    // The caller hangs up: the session writes its timeline and the transcript, then blanks its turn text.
    call.ws.close();
    await endedCall(call.callId);
    const b = await ok(await briefing());
    expect(b.patient).toMatchObject({ entity_id: patientId, verified: false });
    expect(b.situation.summary).toContain('Last said: "I need to reschedule my appointment"');
    expect(b.situation.turn_count).toBe(1);
    expect(b.key_issues).toContain("The call has ended");
    expect(b.recommended_actions).toEqual(["Wrap up with the outcome and notes"]);
  });

  it("briefs a call with no session from its record", async () => {
    const line = await relayLine(SCHEDULING_GRAPH);
    const id = await insertCall(line.ws, { patientEntityId: null });
    const res = await api("GET", `/v1/${line.ws.id}/calls/${id}/briefing`, { key: line.ws.keys.operator });
    const b = await ok(res);
    expect(b).toMatchObject({ call_id: id, source: "rules", patient: null });
    expect(b.key_issues).toContain("The call has ended");
    expect(b.recommended_actions).toEqual(["Wrap up with the outcome and notes"]);
  });
});

describe("the model path", () => {
  const answer = {
    summary: "The caller wants to reschedule; identity verified.",
    caller_need: "Reschedule",
    risk_drivers: ["None"],
    key_issues: ["Reschedule request"],
    recommended_actions: ["Offer two times next week"],
  };

  it("asks the chat model in JSON mode and uses its answer", async () => {
    const ai = fakeAiChat([{ response: JSON.stringify(answer) }]);
    setBriefingAi(ai.ai);
    const { call, briefing, family } = await patientCall();
    const b = await ok(await briefing());
    expect(ai.violations).toEqual([]);
    expect(ai.requests).toHaveLength(1);
    const { model, inputs } = ai.requests[0]!;
    expect(model).toBe("@cf/meta/llama-3.3-70b-instruct-fp8-fast");
    expect(Object.keys(inputs).sort()).toEqual(["max_tokens", "messages", "response_format", "temperature"]);
    expect(inputs.response_format).toMatchObject({ type: "json_schema" });
    // The caller is not verified yet: nothing from the record reaches the model.
    expect(JSON.stringify(inputs)).not.toContain(family);
    expect(JSON.stringify(inputs)).not.toContain("Penicillin");
    expect(b.source).toBe("model");
    expect(b.situation.summary).toBe(answer.summary);
    // Verification stays first whatever the model says; the record is still shown to the operator.
    expect(b.recommended_actions).toEqual([
      expect.stringMatching(/^Verify identity first/),
      "Offer two times next week",
    ]);
    expect(b.patient?.name).toBe(`Maria ${family}`);
    call.ws.close();
  });

  it.each([
    ["invalid JSON", { response: "The caller wants to reschedule." }],
    ["a wrong shape", { response: JSON.stringify({ ...answer, recommended_actions: "call back" }) }],
    ["an error", new Error("AiError: 3040: capacity temporarily exceeded")],
    ["no answer in time", "hang" as const],
  ])("falls back to rules on %s, within the budget, logging ids only", async (_name, script) => {
    const ai = fakeAiChat([script]);
    setBriefingAi(ai.ai);
    const { call, briefing, family } = await patientCall();
    const warn = vi.spyOn(console, "warn");
    const started = performance.now();
    const b = await ok(await briefing());
    const ms = performance.now() - started;
    expect(b.source).toBe("rules");
    expect(ai.requests).toHaveLength(1);
    expect(ms).toBeLessThan(1000);
    const logged = warn.mock.calls.map((c) => String(c[0])).filter((l) => l.includes("briefing."));
    expect(logged).toEqual([expect.stringContaining('"event":"briefing.model_fallback"')]);
    expect(logged.join("")).not.toContain(family);
    warn.mockRestore();
    call.ws.close();
  });
});

describe("timing", () => {
  it("is ready in well under a second (p95 over 20 requests)", async () => {
    const { call, briefing } = await patientCall();
    await call.say("I need to reschedule my appointment");
    const times: number[] = [];
    for (let i = 0; i < 20; i++) {
      const started = performance.now();
      await ok(await briefing());
      times.push(performance.now() - started);
    }
    times.sort((a, b) => a - b);
    const p50 = times[Math.floor(times.length * 0.5)]!;
    const p95 = times[Math.ceil(times.length * 0.95) - 1]!;
    console.info(
      `briefing (rules, live call with a patient): p50 ${p50.toFixed(1)} ms, p95 ${p95.toFixed(1)} ms`,
    );
    expect(p95).toBeLessThan(1000);
    call.ws.close();
  });
});
