/**
 * The hold sweep (a cron task every five minutes): lapsed holds are cancelled, and the EHR frees their
 * slots. A hold carries its expiry on the Appointment (`HOLD_EXPIRES_URL`), so the EHR alone says which
 * have lapsed; D1 only says which appointments to ask about.
 */
import type { Appointment } from "@medplum/fhirtypes";
import { database } from "../db/client";
import { syncedResourceIdsSince } from "../db/sync-events";
import { ApiError } from "../errors";
import type { DataSource } from "./contracts";
import { SyncRecorder } from "./scheduling-record";
import { SchedulingSession } from "./scheduling-session";
import { holdExpiry, ownedBySwitchboard, participantId, resourcesOf, slotOf } from "./scheduling-support";
import { listEnabledSources } from "./sources";
import { connect, fhir } from "./upstream";

const SWEEP_BATCH = 50;
const SWEEP_LOOKBACK_MS = 24 * 60 * 60_000;
const SWEEP_MAX_CANDIDATES = 1000;
const SWEEP_CONCURRENCY = 4;
const FHIR_ID = /^[A-Za-z0-9.-]{1,64}$/;

/**
 * Cancels the lapsed holds of every workspace with a scheduling source; the EHR frees their slots. The
 * candidates are the appointments the workspace's own sync log shows Switchboard wrote lately (a hold
 * lives at most an hour; a day covers an EHR that was down meanwhile), asked for by `_id` and
 * `status=pending`: a workspace with no recent scheduling costs no EHR call, and one never touches
 * another's appointments on a shared EHR. A hold booked meanwhile is left alone (If-Match). One
 * workspace's EHR failing does not stop the others. Returns how many holds were released.
 */
export async function expireHolds(env: Env, at: Date): Promise<number> {
  const sinks = new Map<string, DataSource>();
  for (const source of await listEnabledSources(env, "fhir_store"))
    if (source.writeback && !sinks.has(source.workspaceId)) sinks.set(source.workspaceId, source);
  const queue = [...sinks.values()];
  // Counted as they go: a workspace whose EHR fails halfway has still released the ones before.
  const released = { count: 0 };
  // A few workspaces at a time: a cron invocation has a budget of subrequests and connections.
  const workers = Array.from({ length: Math.min(SWEEP_CONCURRENCY, queue.length) }, async () => {
    for (let sink = queue.shift(); sink; sink = queue.shift()) {
      try {
        await sweep(env, sink, at, released);
      } catch (err) {
        console.error(
          JSON.stringify({
            level: "error",
            event: "scheduling.hold_sweep_failed",
            workspaceId: sink.workspaceId,
            error: err instanceof ApiError ? err.message : err instanceof Error ? err.name : "Error",
          }),
        );
      }
    }
  });
  await Promise.all(workers);
  return released.count;
}

/** One workspace's lapsed holds, cancelled, each counted in `released`. */
async function sweep(env: Env, sink: DataSource, at: Date, released: { count: number }): Promise<void> {
  const since = new Date(at.getTime() - SWEEP_LOOKBACK_MS).toISOString();
  const recent = await syncedResourceIdsSince(
    database(env.DB),
    sink.workspaceId,
    "appointment",
    since,
    SWEEP_MAX_CANDIDATES,
  );
  const ids = recent.filter((id) => FHIR_ID.test(id));
  if (ids.length === 0) return;
  const session = new SchedulingSession(
    new SyncRecorder(env, sink.workspaceId, sink, {}),
    await connect(env, sink),
  );
  for (let i = 0; i < ids.length; i += SWEEP_BATCH) {
    const bundle = await fhir(() =>
      session.client.search("Appointment", {
        _id: ids.slice(i, i + SWEEP_BATCH).join(","),
        status: "pending",
        _count: String(SWEEP_BATCH),
      }),
    );
    for (const hold of resourcesOf<Appointment>(bundle, "Appointment")) {
      const expiry = holdExpiry(hold);
      if (!expiry || Date.parse(expiry) > at.getTime() || !ownedBySwitchboard(hold)) continue;
      const cancelled = await session.cancel(
        hold,
        { code: "hold-expired", text: "Hold expired" },
        (a) => a.status === "pending",
      );
      if (cancelled.status !== "cancelled") continue;
      const entityId = await session.entityOfPatient(participantId(cancelled, "Patient"));
      await session.log.record([{ resource: cancelled, entityId }], {
        action: "scheduling.hold_expired",
        targetType: "appointment",
        targetId: cancelled.id!,
        details: { slot_id: slotOf(cancelled) },
      });
      released.count++;
    }
  }
}
