/**
 * The polling connector against the shared FHIR sandbox: `_lastUpdated` walks page by page with the
 * cursor saved after each page, continuations when a job's budget runs out, the poll lease (one poll of
 * a source at a time; a crashed one taken over after 15 minutes), EHR failures recorded on the source
 * (retried when they may pass, not when they cannot), and the five-minute cron choosing the sources
 * that are due and inside their business hours.
 */
import { createExecutionContext, createMessageBatch, getQueueResult } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { afterAll, describe, expect, it } from "vitest";
import {
  POLL_LIMITS,
  PollBusyError,
  type PollJob,
  pollDueSources,
  pollSource,
  requestPoll,
} from "../../workers/ehr/inbound";
import { getSource } from "../../workers/ehr/sources";
import { handleQueue, type JobEnvelope } from "../../workers/queue";
import { CRONS, TASKS } from "../../workers/scheduled";
import { worldWorkspace } from "../world/fixtures";
import {
  entityByExternalId,
  inboundCounts,
  insertSource,
  sandboxPatient,
  sourceEvents,
  sourceState,
} from "./inbound-fixtures";

const MINUTE = 60_000;

/**
 * This file's workspaces: their stores are disabled at the end, so a five-minute cron run by a later
 * suite in the same database does not poll them.
 */
const workspaces: string[] = [];
async function workspace() {
  const f = await worldWorkspace();
  workspaces.push(f.ws.id);
  return f;
}

afterAll(async () => {
  await env.DB.prepare(
    `UPDATE data_sources SET enabled = 0 WHERE workspace_id IN (${workspaces.map(() => "?").join(",")})`,
  )
    .bind(...workspaces)
    .run();
});

/** `env` with the ehr-sync queue replaced by a recorder: jobs are run by the test, not the consumer. */
function recordingEnv() {
  const sent: JobEnvelope[] = [];
  const queue = {
    send: async (body: JobEnvelope) => {
      sent.push(body);
    },
    sendBatch: async (messages: { body: JobEnvelope }[]) => {
      for (const m of messages) sent.push(m.body);
    },
  };
  return { env: { ...env, EHR_SYNC_QUEUE: queue } as unknown as Env, sent };
}

const manual = (dataSourceId: string): PollJob => ({ data_source_id: dataSourceId, trigger: "manual" });

describe("polling a source", () => {
  it("brings a patient created in the EHR into the world model; polling again writes nothing new", async () => {
    const { ws } = await workspace();
    const id = await insertSource(ws.id, { resourceTypes: ["Patient"] });

    // The first poll has no cursor: it reads every Patient, the demo clinic's included.
    const first = await pollSource(env, ws.id, manual(id));
    expect(first.outcome).toBe("completed");
    expect(first.applied).toBeGreaterThanOrEqual(52);
    expect(await entityByExternalId(ws.id, ws.keys.viewer, "ehr:Patient:demo-001")).not.toBeNull();
    const afterFirst = await sourceState(id);
    expect(afterFirst).toMatchObject({ status: "idle", last_error: null });
    expect(afterFirst.last_success_at).not.toBeNull();
    const firstCursor = afterFirst.cursors.Patient!.last_updated;

    const created = await sandboxPatient();
    const second = await pollSource(env, ws.id, manual(id));
    expect(second.applied).toBeGreaterThanOrEqual(1);
    const entityId = await entityByExternalId(ws.id, ws.keys.viewer, `ehr:Patient:${created.id}`);
    expect(entityId).not.toBeNull();
    const cursor = (await sourceState(id)).cursors.Patient!.last_updated;
    expect(cursor > firstCursor).toBe(true);
    expect(Date.parse(cursor)).toBeGreaterThanOrEqual(Date.parse(created.meta!.lastUpdated!));

    // The next poll starts a little before the cursor (`ge`, with an overlap): it reads the new patient
    // again, as a duplicate that writes nothing.
    const before = await inboundCounts(ws.id);
    const mine = (await sourceEvents(ws.id, id)).filter((e) => e.resource_id === created.id);
    const third = await pollSource(env, ws.id, manual(id));
    expect(third.duplicates).toBeGreaterThanOrEqual(1);
    expect((await sourceEvents(ws.id, id)).filter((e) => e.resource_id === created.id)).toEqual(mine);
    if (third.applied + third.failed + third.skipped === 0)
      expect(await inboundCounts(ws.id)).toEqual(before);
    expect(mine).toHaveLength(1);
    expect(mine[0]).toMatchObject({ channel: "poll", status: "applied", entity_id: entityId });
  }, 120_000);

  it("walks `next` links page by page and continues in a new job holding the lease", async () => {
    const { ws } = await workspace();
    const since = new Date().toISOString();
    const id = await insertSource(ws.id, { cursors: { Patient: { last_updated: since } } });
    const created = [];
    for (let i = 0; i < 5; i++) created.push(await sandboxPatient());
    const limits = { ...POLL_LIMITS, pageSize: 2, maxPages: 2, overlapMs: 0 };
    const { env: recording, sent } = recordingEnv();

    // Requested as requestPoll requests it: the continuations must not count as "covered" by the walk
    // they continue (its start is after the request).
    const requested = { ...manual(id), requested_at: new Date(Date.now() - 1000).toISOString() };
    const first = await pollSource(recording, ws.id, requested, limits);
    expect(first).toMatchObject({ outcome: "continued", pages: 2 });
    const state = await sourceState(id);
    expect(state.status).toBe("polling");
    // The cursor moved after each page: it stands at the newest resource of the second page.
    expect(state.cursors.Patient!.last_updated > since).toBe(true);
    expect(sent).toHaveLength(1);
    const continuation = sent[0]!;
    expect(continuation).toMatchObject({
      type: "ehr.poll",
      workspace_id: ws.id,
      payload: {
        data_source_id: id,
        lease: state.last_poll_started_at,
        resume: { resource_type: "Patient" },
      },
    });
    expect((continuation.payload as PollJob).resume!.url).toMatch(/^http/);

    // Continuations run until the walk is done (other suites may add patients meanwhile).
    let job = continuation.payload as PollJob;
    for (let round = 0; round < 20; round++) {
      sent.length = 0;
      const next = await pollSource(recording, ws.id, job, limits);
      expect(next.outcome).not.toBe("covered");
      if (next.outcome === "completed") break;
      job = sent[0]!.payload as PollJob;
    }
    const done = await sourceState(id);
    expect(done.status).toBe("idle");
    const applied = new Set((await sourceEvents(ws.id, id)).map((e) => e.resource_id));
    for (const p of created) expect(applied.has(p.id!)).toBe(true);
  }, 120_000);

  it("runs one poll of a source at a time, and takes over a lease left by a crashed poll", async () => {
    const { ws } = await workspace();
    const now = Date.now();
    const cursors = { Patient: { last_updated: new Date(now).toISOString() } };
    const running = await insertSource(ws.id, {
      cursors,
      status: "polling",
      lastPollStartedAt: new Date(now - 2 * MINUTE).toISOString(),
    });
    await expect(pollSource(env, ws.id, manual(running))).rejects.toBeInstanceOf(PollBusyError);
    expect((await sourceState(running)).last_poll_started_at).toBe(new Date(now - 2 * MINUTE).toISOString());

    // Through the queue: the job is retried later, not dropped.
    const batch = createMessageBatch<JobEnvelope>("ehr-sync", [
      {
        id: "msg-busy",
        timestamp: new Date(),
        attempts: 1,
        body: {
          type: "ehr.poll",
          workspace_id: ws.id,
          idempotency_key: `poll:${running}:t`,
          payload: manual(running),
        },
      },
    ]);
    await handleQueue(batch, env);
    const result = await getQueueResult(batch, createExecutionContext());
    expect(result.retryMessages.map((m) => m.msgId)).toEqual(["msg-busy"]);
    expect(result.explicitAcks).toEqual([]);

    const crashed = await insertSource(ws.id, {
      cursors,
      status: "polling",
      lastPollStartedAt: new Date(now - 20 * MINUTE).toISOString(),
    });
    expect((await pollSource(env, ws.id, manual(crashed))).outcome).toBe("completed");
    expect((await sourceState(crashed)).status).toBe("idle");
  }, 60_000);

  it("does not poll again for a request a later poll already covered", async () => {
    const { ws } = await workspace();
    const now = Date.now();
    const id = await insertSource(ws.id, { lastPollStartedAt: new Date(now).toISOString() });
    const covered = await pollSource(env, ws.id, {
      ...manual(id),
      requested_at: new Date(now - MINUTE).toISOString(),
    });
    expect(covered.outcome).toBe("covered");
    expect((await sourceState(id)).last_poll_started_at).toBe(new Date(now).toISOString());
  });

  it("records an EHR that refuses the credentials as an error, and does not retry it", async () => {
    const { ws } = await workspace();
    const id = await insertSource(ws.id, { bearerToken: "not-the-sandbox-token" });
    const batch = createMessageBatch<JobEnvelope>("ehr-sync", [
      {
        id: "msg-401",
        timestamp: new Date(),
        attempts: 1,
        body: { type: "ehr.poll", workspace_id: ws.id, idempotency_key: `poll:${id}:t`, payload: manual(id) },
      },
    ]);
    await handleQueue(batch, env);
    const result = await getQueueResult(batch, createExecutionContext());
    expect(result.explicitAcks).toEqual(["msg-401"]);
    expect(result.retryMessages).toEqual([]);
    expect(await sourceState(id)).toMatchObject({
      status: "error",
      last_error: "Patient: the EHR answered HTTP 401",
      last_success_at: null,
    });
  });

  it("records an EHR that does not answer as an error, and retries it", async () => {
    const { ws } = await workspace();
    const id = await insertSource(ws.id, { baseUrl: "http://127.0.0.1:9/fhir/R4" });
    const batch = createMessageBatch<JobEnvelope>("ehr-sync", [
      {
        id: "msg-down",
        timestamp: new Date(),
        attempts: 1,
        body: { type: "ehr.poll", workspace_id: ws.id, idempotency_key: `poll:${id}:t`, payload: manual(id) },
      },
    ]);
    await handleQueue(batch, env);
    const result = await getQueueResult(batch, createExecutionContext());
    expect(result.retryMessages.map((m) => m.msgId)).toEqual(["msg-down"]);
    const state = await sourceState(id);
    expect(state.status).toBe("error");
    expect(state.last_error).toMatch(/^Patient: the EHR did not answer/);
    // The next poll may run at once: the lease was released.
    await expect(pollSource(env, ws.id, manual(id))).rejects.toMatchObject({ name: "FhirError" });
  }, 60_000);

  it("polls nothing for a disabled or unknown source", async () => {
    const { ws } = await workspace();
    const id = await insertSource(ws.id, { enabled: false });
    expect((await pollSource(env, ws.id, manual(id))).outcome).toBe("not_polled");
    expect((await pollSource(env, ws.id, manual("ds_doesnotexist000"))).outcome).toBe("not_polled");
    expect((await sourceState(id)).last_poll_started_at).toBeNull();
  });
});

describe("requestPoll and the five-minute cron", () => {
  it("enqueues an ehr.poll job; scheduled ones share a key per five-minute slot", async () => {
    const { ws } = await workspace();
    const source = (await getSource(env, ws.id, await insertSource(ws.id)))!;
    const { env: recording, sent } = recordingEnv();
    const at = new Date("2027-01-06T15:01:00.000Z");
    const a = await requestPoll(recording, source, "schedule", at);
    const b = await requestPoll(recording, source, "schedule", new Date("2027-01-06T15:04:59.000Z"));
    const c = await requestPoll(recording, source, "manual", at);
    expect(a.job_id).toBe(b.job_id);
    expect(c.job_id).not.toBe(a.job_id);
    expect(sent[0]).toEqual({
      type: "ehr.poll",
      workspace_id: ws.id,
      idempotency_key: a.job_id,
      payload: { data_source_id: source.id, trigger: "schedule", requested_at: at.toISOString() },
    });
  });

  it("requests polls of the enabled stores that are due and inside their business hours", async () => {
    const { ws } = await workspace();
    // Wednesday 2027-01-06, 10:00 in New York, 00:00 Thursday in Tokyo.
    const at = new Date("2027-01-06T15:00:00.000Z");
    const ago = (minutes: number) => new Date(at.getTime() - minutes * MINUTE).toISOString();
    const weekdays = [1, 2, 3, 4, 5];
    const sources = {
      neverPolled: await insertSource(ws.id),
      pollIntervalPassed: await insertSource(ws.id, { lastPollStartedAt: ago(6), lastPollAt: ago(6) }),
      polledAlmostAnIntervalAgo: await insertSource(ws.id, { lastPollStartedAt: ago(4.75) }),
      polledRecently: await insertSource(ws.id, { lastPollStartedAt: ago(2) }),
      longInterval: await insertSource(ws.id, { lastPollStartedAt: ago(30), pollIntervalSeconds: 3600 }),
      stillPolling: await insertSource(ws.id, { status: "polling", lastPollStartedAt: ago(7) }),
      crashedPoll: await insertSource(ws.id, { status: "polling", lastPollStartedAt: ago(20) }),
      disabled: await insertSource(ws.id, { enabled: false }),
      webhookOnly: await insertSource(ws.id, { type: "fhir_webhook" }),
      insideHours: await insertSource(ws.id, {
        businessHours: { timezone: "America/New_York", days: weekdays, start: "09:00", end: "17:00" },
      }),
      beforeHours: await insertSource(ws.id, {
        businessHours: { timezone: "America/New_York", days: weekdays, start: "10:01", end: "17:00" },
      }),
      weekendOnly: await insertSource(ws.id, {
        businessHours: { timezone: "America/New_York", days: [6, 7], start: "00:00", end: "23:59" },
      }),
      tokyoNight: await insertSource(ws.id, {
        businessHours: { timezone: "Asia/Tokyo", days: weekdays, start: "09:00", end: "17:00" },
      }),
    };
    const { env: recording, sent } = recordingEnv();
    const requested = await pollDueSources(recording, at);
    const mine = new Map(Object.entries(sources).map(([name, id]) => [id, name]));
    const polled = sent
      .map((job) => mine.get((job.payload as PollJob).data_source_id))
      .filter(Boolean)
      .sort();
    expect(polled).toEqual(
      ["crashedPoll", "insideHours", "neverPolled", "polledAlmostAnIntervalAgo", "pollIntervalPassed"].sort(),
    );
    expect(requested).toBe(sent.length);
    expect(sent.every((job) => (job.payload as PollJob).trigger === "schedule")).toBe(true);
  });

  it("is on the five-minute schedule", () => {
    expect(TASKS[CRONS.everyFiveMinutes]!.map((t) => t.name)).toContain("ehr.poll_due");
  });
});
