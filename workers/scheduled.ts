/**
 * Cron triggers (see wrangler.toml). Each schedule runs its tasks independently: one task failing is
 * logged and does not stop the others. Feature modules add their tasks to the table below.
 */
import { database } from "./db/client";
import { deleteStaleSessions } from "./db/identity";
import { pollDueSources } from "./ehr/inbound";
import { expireHolds } from "./ehr/scheduling";
import { sweepWriteback } from "./ehr/writeback";
import { scanWorkspaces } from "./surfaces/scanner";
import { expireDue } from "./surfaces/service";
import { recomputePatterns } from "./world/memory";

export const CRONS = {
  everyFiveMinutes: "*/5 * * * *",
  hourly: "0 * * * *",
  daily: "0 3 * * *",
} as const;

type Task = { name: string; run(env: Env, at: Date): Promise<unknown> };

export const TASKS: Record<string, Task[]> = {
  [CRONS.everyFiveMinutes]: [
    { name: "ehr.poll_due", run: (env, at) => pollDueSources(env, at) },
    { name: "ehr.writeback_sweep", run: (env, at) => sweepWriteback(env, at) },
    { name: "scheduling.expire_holds", run: (env, at) => expireHolds(env, at) },
    { name: "surfaces.expire", run: (env, at) => expireDue(env, at) },
    { name: "surfaces.gap_scan", run: (env, at) => scanWorkspaces(env, at) },
  ],
  [CRONS.hourly]: [{ name: "memory.patterns", run: (env, at) => recomputePatterns(env, at) }],
  [CRONS.daily]: [
    { name: "retention.sessions", run: (env, at) => deleteStaleSessions(database(env.DB), at) },
  ],
};

export async function handleScheduled(controller: ScheduledController, env: Env): Promise<void> {
  const at = new Date(controller.scheduledTime);
  const tasks = TASKS[controller.cron] ?? [];
  const results = await Promise.allSettled(tasks.map((task) => task.run(env, at)));
  results.forEach((result, i) => {
    if (result.status === "rejected") {
      console.error(
        JSON.stringify({
          level: "error",
          event: "cron.task_failed",
          cron: controller.cron,
          task: tasks[i]!.name,
        }),
      );
    }
  });
}
