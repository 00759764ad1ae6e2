/** The cron handler: the daily retention sweep removes stale sessions and keeps live ones. */
import { createScheduledController } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { afterEach, describe, expect, it, vi } from "vitest";
import { newId } from "../../shared/ids";
import { CRONS, handleScheduled, TASKS } from "../../workers/scheduled";
import { insertUser } from "../helpers/workspace";

const HOUR = 3_600_000;
const DAY = 24 * HOUR;

async function session(userId: string, expiresAt: Date, revokedAt: Date | null = null) {
  const id = newId("ses");
  await env.DB.prepare("INSERT INTO sessions (id, user_id, expires_at, revoked_at) VALUES (?, ?, ?, ?)")
    .bind(id, userId, expiresAt.toISOString(), revokedAt?.toISOString() ?? null)
    .run();
  return id;
}

const remaining = async (ids: string[]) =>
  (
    await env.DB.prepare(`SELECT id FROM sessions WHERE id IN (${ids.map(() => "?").join(",")})`)
      .bind(...ids)
      .all<{ id: string }>()
  ).results.map((r) => r.id);

afterEach(() => vi.restoreAllMocks());

describe("handleScheduled", () => {
  it("deletes sessions expired or revoked over a day ago, and keeps the rest", async () => {
    const user = await insertUser();
    const now = Date.now();
    const keep = [
      await session(user.id, new Date(now + 12 * HOUR)),
      await session(user.id, new Date(now - HOUR)),
      await session(user.id, new Date(now + HOUR), new Date(now - HOUR)),
    ];
    const drop = [
      await session(user.id, new Date(now - 2 * DAY)),
      await session(user.id, new Date(now + HOUR), new Date(now - 2 * DAY)),
    ];
    await handleScheduled(createScheduledController({ cron: CRONS.daily, scheduledTime: now }), env);
    expect((await remaining([...keep, ...drop])).sort()).toEqual([...keep].sort());
  });

  it("measures staleness from the scheduled time, not the clock", async () => {
    const user = await insertUser();
    const now = Date.now();
    const id = await session(user.id, new Date(now + HOUR));
    await handleScheduled(
      createScheduledController({ cron: CRONS.daily, scheduledTime: now + 3 * DAY }),
      env,
    );
    expect(await remaining([id])).toEqual([]);
  });

  it("runs nothing for a schedule it does not know", async () => {
    const user = await insertUser();
    const id = await session(user.id, new Date(Date.now() - 2 * DAY));
    await handleScheduled(createScheduledController({ cron: "1 2 3 4 5", scheduledTime: Date.now() }), env);
    expect(await remaining([id])).toEqual([id]);
  });

  it("logs a failing task and still runs the others", async () => {
    const error = vi.spyOn(console, "error").mockImplementation(() => {});
    const user = await insertUser();
    const id = await session(user.id, new Date(Date.now() - 2 * DAY));
    const failing = { name: "test.always_fails", run: () => Promise.reject(new Error("boom")) };
    TASKS[CRONS.daily]!.unshift(failing);
    try {
      await handleScheduled(createScheduledController({ cron: CRONS.daily, scheduledTime: Date.now() }), env);
    } finally {
      TASKS[CRONS.daily]!.splice(TASKS[CRONS.daily]!.indexOf(failing), 1);
    }
    expect(await remaining([id])).toEqual([]);
    expect(error).toHaveBeenCalledTimes(1);
    expect(JSON.parse(error.mock.calls[0]![0] as string)).toEqual({
      level: "error",
      event: "cron.task_failed",
      cron: CRONS.daily,
      task: "test.always_fails",
    });
  });

  it("has a task list for every cron trigger in wrangler.toml", () => {
    expect(Object.keys(TASKS).sort()).toEqual(Object.values(CRONS).sort());
  });
});
