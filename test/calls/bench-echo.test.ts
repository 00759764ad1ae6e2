/**
 * The CallSession's bench-only echo baseline (`bench/call-turns.ts`) is off unless the Worker runs with
 * `BENCH_ECHO=1`, which only the benchmark passes: without it, a `setup` asking for echo gets the real
 * agent, and a prompt runs the engine.
 */
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { SCHEDULING_GRAPH } from "../../scripts/demo-graphs";
import { dial, RelayCall, relayLine, upgrade } from "./relay-client";

describe("the bench echo baseline", () => {
  it("is off without BENCH_ECHO: the call is answered by the agent", async () => {
    expect(Reflect.get(env, "BENCH_ECHO")).toBeUndefined();
    const line = await relayLine(SCHEDULING_GRAPH);
    const { url, callId, callSid } = await dial(line.number.e164);
    const res = await upgrade(url);
    expect(res.status).toBe(101);
    const ws = res.webSocket!;
    ws.accept();
    const call = new RelayCall(ws, callId, callSid);
    call.send({ type: "setup", callSid, customParameters: { call_id: callId, bench: "echo" } });
    const greeting = await call.reply();
    expect(greeting.text).not.toBe("echo");
    const prompt = "I'd like to book an appointment";
    const answer = await call.say(prompt);
    expect(answer.text).not.toBe(prompt);
    expect(answer.text.length).toBeGreaterThan(0);
    ws.close(1000, "done");
  });
});
