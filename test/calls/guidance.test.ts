/**
 * Operator guidance on a live call: `POST /v1/{ws}/calls/{id}/guidance` hands hidden instructions to the
 * call's session, the agent works them into its next reply (a quoted sentence is said as written) and
 * only that one, the audit and the timeline record that guidance was given (its length, never its text),
 * and a call that is over answers 409.
 */
import { eq } from "drizzle-orm";
import { afterEach, describe, expect, it, vi } from "vitest";
import { setToolExecutor } from "../../durable-objects/call-session";
import { SCHEDULING_GRAPH } from "../../scripts/demo-graphs";
import { auditLog, callEvents, calls } from "../../workers/db/schema";
import { db } from "../helpers/db";
import { api, expectError } from "../helpers/http";
import { published } from "../world/fixtures";
import { RelayCall, relayLine } from "./relay-client";

afterEach(() => setToolExecutor());

describe("operator guidance", () => {
  it("shows up in the agent's next reply only, audited without its text", async () => {
    setToolExecutor(async (_env, _context, toolCalls) =>
      toolCalls.map((call) => ({ latency_ms: 1, result: { name: call.name, outcome: "ok" } })),
    );
    const line = await relayLine(SCHEDULING_GRAPH);
    const call = await RelayCall.connect(line.number.e164);
    await call.reply();
    const path = `/v1/${line.ws.id}/calls/${call.callId}/guidance`;
    const sent = await api("POST", path, {
      key: line.ws.keys.operator,
      body: { text: 'Mention parking. "The parking garage on Elm Street is free for patients."' },
    });
    expect(sent.status, sent.text).toBe(202);
    expect(sent.body).toEqual({ call_id: call.callId, accepted: true, applies_to: "next_reply" });

    const next = await call.say("This is Jane Doe");
    expect(next.text).toContain("The parking garage on Elm Street is free for patients.");
    const after = await call.say("March 5th 1980");
    expect(after.text).not.toContain("parking");

    // A viewer may not guide; bad input is a 400 with the field named.
    expectError(
      await api("POST", path, { key: line.ws.keys.viewer, body: { text: "hi" } }),
      "forbidden",
      403,
    );
    expectError(
      await api("POST", path, { key: line.ws.keys.operator, body: { text: "" } }),
      "validation_failed",
      400,
    );

    const audit = await db().select().from(auditLog).where(eq(auditLog.targetId, call.callId));
    expect(audit.map((a) => a.action)).toContain("call.guidance_sent");
    // The stream tells other operators that guidance went in: its length, never its words.
    const streamed = await published(line.ws.id, "operator.guidance");
    expect(streamed.map((e) => e.data)).toEqual([
      { call_id: call.callId, operator_user_id: expect.any(String), length: 73 },
    ]);
    expect(JSON.stringify(audit)).not.toContain("parking");
    call.ws.close();

    // Once the call is over, guidance is refused.
    await db().update(calls).set({ status: "completed" }).where(eq(calls.id, call.callId));
    expectError(
      await api("POST", path, { key: line.ws.keys.operator, body: { text: "hello" } }),
      "conflict",
      409,
    );
    // The session's timeline (written to D1 when it ends) says guidance was given, not what it said.
    const guidance = await vi.waitFor(
      async () => {
        const events = await db().select().from(callEvents).where(eq(callEvents.callId, call.callId));
        const found = events.filter((e) => e.kind === "guidance");
        if (found.length === 0) throw new Error("timeline not written yet");
        return found;
      },
      { timeout: 5000, interval: 20 },
    );
    expect(guidance).toHaveLength(1);
    expect(guidance[0]!.data).toMatchObject({ operator: expect.any(String), length: 73 });
    expect(JSON.stringify(guidance)).not.toContain("parking");
  });
});
