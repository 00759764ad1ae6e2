/**
 * The queue consumer for `post-call`, `outbound`, `ehr-sync` and `delivery`. Every message is an
 * envelope `{type, workspace_id, idempotency_key, payload}`, parsed again on arrival. Poison messages
 * (unparseable, unknown type, invalid payload, or a handler's PermanentError) are acked and logged, never
 * retried; anything else thrown is retried with exponential backoff until the queue's max_retries, after
 * which Cloudflare moves it to the queue's dead-letter queue. Handlers must be idempotent on
 * `idempotency_key`: delivery is at-least-once.
 */
import { z } from "zod";
import { WorkspaceId } from "../shared/schemas/common";

export const QUEUE_NAMES = ["post-call", "outbound", "ehr-sync", "delivery"] as const;
export type QueueName = (typeof QUEUE_NAMES)[number];

export const JobEnvelope = z.object({
  type: z.string().regex(/^[a-z][a-z0-9_.]{0,63}$/),
  workspace_id: WorkspaceId,
  idempotency_key: z.string().min(1).max(200),
  payload: z.unknown(),
});
export type JobEnvelope = z.infer<typeof JobEnvelope>;

export interface JobContext {
  env: Env;
  workspaceId: string;
  idempotencyKey: string;
  attempts: number;
}

export interface JobHandler<T = unknown> {
  payload: z.ZodType<T>;
  handle(payload: T, context: JobContext): Promise<void>;
}

/** Thrown by a handler when retrying cannot help (the data is wrong, not the weather). */
export class PermanentError extends Error {}

const handlers: Record<QueueName, Map<string, JobHandler>> = {
  "post-call": new Map(),
  outbound: new Map(),
  "ehr-sync": new Map(),
  delivery: new Map(),
};

/** Feature modules register their job types at import time. */
export function registerJob<T>(queue: QueueName, type: string, handler: JobHandler<T>): void {
  handlers[queue].set(type, handler as JobHandler);
}

/** 10 s, 20 s, 40 s ... capped at one hour. */
export function backoffSeconds(attempts: number): number {
  return Math.min(3600, 10 * 2 ** Math.max(0, attempts - 1));
}

function queueOf(name: string): QueueName | undefined {
  return QUEUE_NAMES.find((q) => name === q);
}

function logPoison(queue: string, message: Message, reason: string) {
  console.warn(
    JSON.stringify({ level: "warn", event: "queue.poison", queue, messageId: message.id, reason }),
  );
}

export async function handleQueue(batch: MessageBatch<unknown>, env: Env): Promise<void> {
  const queue = queueOf(batch.queue);
  for (const message of batch.messages) {
    if (!queue) {
      logPoison(batch.queue, message, "no consumer for this queue");
      message.ack();
      continue;
    }
    const envelope = JobEnvelope.safeParse(message.body);
    if (!envelope.success) {
      logPoison(queue, message, "invalid envelope");
      message.ack();
      continue;
    }
    const handler = handlers[queue].get(envelope.data.type);
    if (!handler) {
      logPoison(queue, message, `unknown job type ${envelope.data.type}`);
      message.ack();
      continue;
    }
    const payload = handler.payload.safeParse(envelope.data.payload);
    if (!payload.success) {
      logPoison(queue, message, `invalid payload for ${envelope.data.type}`);
      message.ack();
      continue;
    }
    try {
      await handler.handle(payload.data, {
        env,
        workspaceId: envelope.data.workspace_id,
        idempotencyKey: envelope.data.idempotency_key,
        attempts: message.attempts,
      });
      message.ack();
    } catch (err) {
      if (err instanceof PermanentError) {
        logPoison(queue, message, `permanent failure in ${envelope.data.type}`);
        message.ack();
      } else {
        const name = err instanceof Error ? err.name : "Error";
        console.warn(
          JSON.stringify({
            level: "warn",
            event: "queue.retry",
            queue,
            messageId: message.id,
            attempts: message.attempts,
            error: name,
          }),
        );
        message.retry({ delaySeconds: backoffSeconds(message.attempts) });
      }
    }
  }
}

/** Sends a job; the idempotency key is what makes a re-delivery harmless downstream. */
export function enqueue(binding: Queue, job: JobEnvelope, delaySeconds?: number): Promise<void> {
  return binding
    .send(JobEnvelope.parse(job), delaySeconds ? { delaySeconds } : undefined)
    .then(() => undefined);
}
