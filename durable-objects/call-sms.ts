/**
 * A `CallSession`'s SMS text session inbox: each inbound message (PHI until its turn has run) is stored and
 * handled by the alarm as a turn of the same engine, so a failure is retried and a redelivery is a no-op.
 * Replies go out on the SMS channel (call-channels.ts).
 */
import type { CallChannels } from "./call-channels";
import type { CallMeta, CallStore, SessionSteps } from "./call-state";

/** The inbox table and its draining. */
export class SmsInbox {
  readonly #storage: Pick<DurableObjectStorage, "sql" | "setAlarm">;
  readonly #store: CallStore;
  readonly #channels: CallChannels;
  readonly #steps: Pick<SessionSteps, "setup" | "turn">;

  constructor(
    storage: Pick<DurableObjectStorage, "sql" | "setAlarm">,
    store: CallStore,
    channels: CallChannels,
    steps: Pick<SessionSteps, "setup" | "turn">,
  ) {
    this.#storage = storage;
    this.#store = store;
    this.#channels = channels;
    this.#steps = steps;
  }

  /** Stores an inbound message and wakes the alarm to handle it. */
  async receive(input: { callId: string; messageId: string; body: string; at: string }): Promise<void> {
    if (this.#store.get<string>("call_id") === null) this.#store.put("call_id", input.callId);
    if (this.#store.get<string>("finished_at")) return;
    this.#storage.sql.exec(
      "INSERT OR IGNORE INTO inbox (message_id, body, received_at) VALUES (?, ?, ?)",
      input.messageId,
      input.body.slice(0, 1600),
      input.at,
    );
    await this.#storage.setAlarm(Date.now());
  }

  /** Runs a turn for each message waiting (setting the session up on the first). */
  async drain() {
    const waiting = this.#storage.sql
      .exec<{ message_id: string; body: string }>(
        "SELECT message_id, body FROM inbox WHERE handled_at IS NULL ORDER BY received_at, rowid",
      )
      .toArray();
    if (waiting.length === 0) return;
    const channel = this.#channels.sms();
    if (!this.#store.get<CallMeta>("call")) await this.#steps.setup(channel, null);
    for (const message of waiting) {
      if (!this.#store.get<string>("ended_at")) await this.#steps.turn(channel, message.body.trim());
      this.#storage.sql.exec(
        "UPDATE inbox SET handled_at = ?, body = '' WHERE message_id = ?",
        new Date().toISOString(),
        message.message_id,
      );
    }
  }
}
