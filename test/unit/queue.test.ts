/**
 * The queue consumer with hand-made batches: registered handlers get their parsed payload; poison
 * messages are acked and never retried; transient failures are retried with exponential backoff.
 */
import { env } from "cloudflare:workers";
import { afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import { z } from "zod";
import {
  backoffSeconds,
  handleQueue,
  type JobContext,
  PermanentError,
  registerJob,
} from "../../workers/queue";

const received: { payload: unknown; context: Omit<JobContext, "env"> }[] = [];
let flakyFailures = 0;

beforeAll(() => {
  registerJob("post-call", "test.echo", {
    payload: z.strictObject({ call_id: z.string(), turns: z.number().int() }),
    async handle(payload, { env: _env, ...context }) {
      received.push({ payload, context });
    },
  });
  registerJob("post-call", "test.flaky", {
    payload: z.object({}),
    async handle() {
      flakyFailures++;
      throw new Error("upstream timed out");
    },
  });
  registerJob("post-call", "test.permanent", {
    payload: z.object({}),
    async handle() {
      throw new PermanentError("the record can never be processed");
    },
  });
});

afterEach(() => {
  received.length = 0;
  flakyFailures = 0;
  vi.restoreAllMocks();
});

let counter = 0;
const message = (body: unknown, attempts = 1) => ({ id: `msg-${++counter}`, attempts, body });
const envelope = (type: string, payload: unknown, key = `idem-${counter}`) => ({
  type,
  workspace_id: "t-queue",
  idempotency_key: key,
  payload,
});

/**
 * Delivers `messages` as a fake MessageBatch and reports how each was settled. A message settled twice
 * (or never) fails the test: the runtime would keep only one answer.
 */
async function consume(queue: string, messages: ReturnType<typeof message>[]) {
  const settled = new Map<string, { ack: true } | { retry: true; delaySeconds?: number }>();
  const settle = (id: string, outcome: { ack: true } | { retry: true; delaySeconds?: number }) => {
    expect(settled.has(id), `${id} settled twice`).toBe(false);
    settled.set(id, outcome);
  };
  const batch = {
    queue,
    messages: messages.map((m) => ({
      ...m,
      timestamp: new Date(),
      ack: () => settle(m.id, { ack: true }),
      retry: (options?: QueueRetryOptions) =>
        settle(m.id, { retry: true, delaySeconds: options?.delaySeconds }),
    })),
    ackAll: () => expect.fail("the consumer settles messages one by one"),
    retryAll: () => expect.fail("the consumer settles messages one by one"),
  } as unknown as MessageBatch<unknown>;
  await handleQueue(batch, env);
  for (const m of messages) expect(settled.has(m.id), `${m.id} never settled`).toBe(true);
  return {
    explicitAcks: messages.filter((m) => "ack" in settled.get(m.id)!).map((m) => m.id),
    retryMessages: messages
      .filter((m) => "retry" in settled.get(m.id)!)
      .map((m) => ({
        msgId: m.id,
        delaySeconds: (settled.get(m.id) as { delaySeconds?: number }).delaySeconds,
      })),
  };
}

describe("handleQueue", () => {
  it("hands a registered handler its parsed payload and context, then acks", async () => {
    const msg = message(envelope("test.echo", { call_id: "call-1", turns: 12 }, "call-1:post"), 2);
    const result = await consume("post-call", [msg]);
    expect(received).toEqual([
      {
        payload: { call_id: "call-1", turns: 12 },
        context: { workspaceId: "t-queue", idempotencyKey: "call-1:post", attempts: 2 },
      },
    ]);
    expect(result.explicitAcks).toEqual([msg.id]);
    expect(result.retryMessages).toEqual([]);
  });

  it("acks poison messages without retrying them, and logs why", async () => {
    const warn = vi.spyOn(console, "warn").mockImplementation(() => {});
    const poison = [
      message("not an object"),
      message(null),
      message({ type: "test.echo", payload: {} }),
      message(envelope("Bad Type!", {})),
      message({ ...envelope("test.echo", { call_id: "c", turns: 1 }), workspace_id: "../other" }),
      message(envelope("test.unknown", {})),
      message(envelope("test.echo", { call_id: "c", turns: "twelve" })),
      message(envelope("test.echo", { call_id: "c", turns: 1, extra: true })),
      message(envelope("test.permanent", {})),
    ];
    const result = await consume("post-call", poison);
    expect(result.explicitAcks.sort()).toEqual(poison.map((m) => m.id).sort());
    expect(result.retryMessages).toEqual([]);
    expect(received).toEqual([]);
    const logged = warn.mock.calls.map((call) => JSON.parse(call[0] as string));
    expect(logged).toHaveLength(poison.length);
    for (const line of logged)
      expect(line).toMatchObject({ level: "warn", event: "queue.poison", queue: "post-call" });
    // Logs carry ids and reasons, never the message body.
    expect(JSON.stringify(logged)).not.toContain("twelve");
  });

  it("retries transient failures with exponential backoff from the message's attempts", async () => {
    vi.spyOn(console, "warn").mockImplementation(() => {});
    const messages = [1, 2, 3, 6, 20].map((attempts) => message(envelope("test.flaky", {}), attempts));
    const result = await consume("post-call", messages);
    expect(flakyFailures).toBe(5);
    expect(result.explicitAcks).toEqual([]);
    expect(result.retryMessages).toEqual([
      { msgId: messages[0]!.id, delaySeconds: 10 },
      { msgId: messages[1]!.id, delaySeconds: 20 },
      { msgId: messages[2]!.id, delaySeconds: 40 },
      { msgId: messages[3]!.id, delaySeconds: 320 },
      { msgId: messages[4]!.id, delaySeconds: 3600 },
    ]);
  });

  it("settles each message of a mixed batch on its own", async () => {
    vi.spyOn(console, "warn").mockImplementation(() => {});
    const good = message(envelope("test.echo", { call_id: "c2", turns: 3 }));
    const bad = message("garbage");
    const flaky = message(envelope("test.flaky", {}));
    const result = await consume("post-call", [bad, flaky, good]);
    expect(result.explicitAcks.sort()).toEqual([bad.id, good.id].sort());
    expect(result.retryMessages.map((r) => r.msgId)).toEqual([flaky.id]);
    expect(received).toHaveLength(1);
  });

  it("keeps job types to their own queue, and acks messages from a queue it does not consume", async () => {
    vi.spyOn(console, "warn").mockImplementation(() => {});
    const elsewhere = message(envelope("test.echo", { call_id: "c", turns: 1 }));
    const unknownQueue = message(envelope("test.echo", { call_id: "c", turns: 1 }));
    expect((await consume("delivery", [elsewhere])).explicitAcks).toEqual([elsewhere.id]);
    expect((await consume("not-a-queue", [unknownQueue])).explicitAcks).toEqual([unknownQueue.id]);
    expect(received).toEqual([]);
  });
});

describe("backoffSeconds", () => {
  it("doubles from 10 s and stops at an hour", () => {
    expect([0, 1, 2, 3, 4, 9, 10, 50].map(backoffSeconds)).toEqual([10, 10, 20, 40, 80, 2560, 3600, 3600]);
  });
});
