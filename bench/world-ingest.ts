/**
 * Issue "World model" figure: ingest throughput of a 1,000-resource batch, `POST /v1/{ws}/world/events`
 * with 250 new patients × 4 events (demographics, contact, allergy, medication), each named by external
 * id, into a workspace that already holds 100k patients. Every round sends a fresh batch (new external
 * ids, phones, names and idempotency keys), so every round creates 250 entities and 250 PatientModels.
 * Baselines in the same run, rounds alternating:
 * - validation only: the same batch with its last event invalid, answered 422 after every event is
 *   parsed and checked, before anything is written (the cost of the request itself);
 * - replay: a batch already stored, sent again: every event a duplicate (lookups, no writes).
 * A fresh batch into the demo workspace (100 patients, plus earlier rounds') shows what the 100k cost.
 */
import { median } from "./lib";
import {
  BENCH_WORKSPACE,
  backgroundPatients,
  intoFiles,
  keepAlive,
  machineLoad,
  patientRowsSql,
  type SeedTiming,
  syntheticPatient,
  timedRequest,
  withWorldPlatform,
  workerRestarted,
  workspaceCrypto,
} from "./world-lib";

const SMALL_WORKSPACE = "demo";
const PATIENTS_PER_BATCH = 250;

/** A request dropped because `wrangler dev` reloaded under it. */
class WorkerRestarted extends Error {}

export interface BatchFigures {
  rounds: number;
  /** Median and worst batch time, ms. */
  p50: number;
  max: number;
  eventsPerSecond: number;
}

export interface WorldIngest {
  background: number;
  load: string;
  reloads: number;
  seed: SeedTiming;
  events: number;
  payloadBytes: number;
  validationOnly: BatchFigures;
  replay: BatchFigures;
  fresh: BatchFigures;
  freshSmall: BatchFigures;
}

/** `patients` × 4 events, all new for `round`; with `invalid`, the last event fails validation. */
export function ingestBatch(tag: string, round: number, invalid = false, patients = PATIENTS_PER_BATCH) {
  const events: Record<string, unknown>[] = [];
  for (let i = 0; i < patients; i++) {
    const n = 2_000_000 + round * PATIENTS_PER_BATCH + i;
    const p = syntheticPatient(n, `${tag}${round}-`);
    const entity = { entity_type: "patient", external_id: p.externalId };
    const base = { entity, source: "ehr", source_system: "bench-ehr" };
    const key = (k: string) => `${tag}:${round}:${i}:${k}`;
    events.push(
      {
        ...base,
        idempotency_key: key("demographics"),
        event_type: "demographics.recorded",
        data: {
          given_name: p.givenName,
          family_name: p.familyName,
          birth_date: p.birthDate,
          gender: "unknown",
        },
        fhir_resource_type: "Patient",
      },
      { ...base, idempotency_key: key("contact"), event_type: "contact.recorded", data: { phone: p.phone } },
      {
        ...base,
        idempotency_key: key("allergy"),
        event_type: "allergy.recorded",
        data: { substance: "Penicillin", reaction: "hives", severity: "moderate" },
        fhir_resource_type: "AllergyIntolerance",
      },
      {
        ...base,
        idempotency_key: key("medication"),
        event_type: "medication.recorded",
        data: { name: "Lisinopril", dose: "10 mg", frequency: "daily" },
        fhir_resource_type: "MedicationStatement",
      },
    );
  }
  if (invalid) events[events.length - 1] = { ...events.at(-1), data: { name: "" } };
  return JSON.stringify({ events });
}

export async function worldIngest(
  options = { background: 100_000, smallBackground: 100, rounds: 3, budgetSeconds: 60, port: 8798 },
): Promise<WorldIngest> {
  return withWorldPlatform(
    options.port,
    async (vars) => ({
      files: intoFiles(
        [
          ...patientRowsSql(
            await workspaceCrypto(vars.ENCRYPTION_KEY!, BENCH_WORKSPACE),
            BENCH_WORKSPACE,
            backgroundPatients(options.background, "r"),
          ),
          ...patientRowsSql(
            await workspaceCrypto(vars.ENCRYPTION_KEY!, SMALL_WORKSPACE),
            SMALL_WORKSPACE,
            backgroundPatients(options.smallBackground, "s"),
          ),
        ],
        16,
      ),
      info: null,
    }),
    async (platform) => {
      const agent = keepAlive(1);
      const post = async (
        ws: string,
        key: string,
        body: string,
        expect: number,
        events = PATIENTS_PER_BATCH * 4,
      ) => {
        const answer = await timedRequest(agent, `${platform.url}/v1/${ws}/world/events`, {
          method: "POST",
          headers: { Authorization: `Bearer ${key}` },
          body,
        });
        if (workerRestarted(answer)) throw new WorkerRestarted();
        if (answer.status !== expect)
          throw new Error(
            `ingest answered ${answer.status}, expected ${expect}: ${answer.body.slice(0, 1000)}`,
          );
        if (expect === 200) {
          const outcome = JSON.parse(answer.body) as { stored: number; duplicates: number };
          if (outcome.stored + outcome.duplicates !== events)
            throw new Error(`ingest accounted for ${outcome.stored + outcome.duplicates} events`);
        }
        return answer;
      };
      const large = (body: string, expect = 200, events?: number) =>
        post(BENCH_WORKSPACE, platform.apiKey, body, expect, events);
      const small = (body: string, events?: number) =>
        post(SMALL_WORKSPACE, platform.vars.DEMO_API_KEY!, body, 200, events);

      // Warm-up, not a figure: JIT, first Durable Objects, audit chain heads. 25 patients are enough.
      await large(ingestBatch("warm", 0, false, 25), 200, 100);
      await small(ingestBatch("warm", 0, false, 25), 100);
      const loadBefore = machineLoad();
      const started = performance.now();

      const times = {
        validationOnly: [] as number[],
        replay: [] as number[],
        fresh: [] as number[],
        freshSmall: [] as number[],
      };
      let previous: string | null = null;
      let payloadBytes = 0;
      let retries = 0;
      const reloadsBefore = platform.reloads();
      // Bounded in rounds and in time: a slow machine still finishes, with fewer rounds. A round cut by
      // a wrangler dev reload is dropped and run again with fresh batches, at most twice.
      for (
        let round = 1, done = 0;
        done < options.rounds && (done === 0 || performance.now() - started < options.budgetSeconds * 1000);
        round++
      ) {
        const batch = ingestBatch("fresh", round);
        payloadBytes = batch.length;
        try {
          const rejected = await large(ingestBatch("fresh", round, true), 422);
          const stored = await large(batch);
          if ((JSON.parse(stored.body) as { stored: number }).stored !== PATIENTS_PER_BATCH * 4)
            throw new Error("a fresh batch was not stored in full");
          const replayed = await large(previous ?? batch);
          if ((JSON.parse(replayed.body) as { duplicates: number }).duplicates !== PATIENTS_PER_BATCH * 4)
            throw new Error("a replayed batch was not all duplicates");
          const storedSmall = await small(ingestBatch("small", round));
          times.validationOnly.push(rejected.ms);
          times.fresh.push(stored.ms);
          times.replay.push(replayed.ms);
          times.freshSmall.push(storedSmall.ms);
          previous = batch;
          done++;
        } catch (err) {
          if (!(err instanceof WorkerRestarted) || ++retries > 2) throw err;
        }
      }
      agent.destroy();
      const figures = (values: number[]): BatchFigures => {
        const p50 = median(values);
        return {
          rounds: values.length,
          p50,
          max: Math.max(...values),
          eventsPerSecond: (PATIENTS_PER_BATCH * 4 * 1000) / p50,
        };
      };
      return {
        background: options.background,
        seed: platform.seedTiming,
        load: `${loadBefore} before, ${machineLoad()} after`,
        reloads: platform.reloads() - reloadsBefore,
        events: PATIENTS_PER_BATCH * 4,
        payloadBytes,
        validationOnly: figures(times.validationOnly),
        replay: figures(times.replay),
        fresh: figures(times.fresh),
        freshSmall: figures(times.freshSmall),
      };
    },
  );
}

export function report(r: WorldIngest): string {
  const row = (name: string, x: BatchFigures) =>
    `  ${name.padEnd(44)} batch p50 ${(x.p50 / 1000).toFixed(2).padStart(6)} s  max ${(x.max / 1000).toFixed(2).padStart(6)} s   ${x.eventsPerSecond.toFixed(0).padStart(6)} events/s   ${(x.p50 / r.validationOnly.p50).toFixed(1).padStart(5)}x validation`;
  return [
    `World ingest of a ${r.events}-event batch (${PATIENTS_PER_BATCH} new patients × 4 events, ${(r.payloadBytes / 1e6).toFixed(2)} MB; wrangler dev; ${r.validationOnly.rounds} rounds; ${(r.background / 1000).toFixed(0)}k patients seeded in ${(r.seed.loadMs / 1000).toFixed(1)} s; ${r.load})`,
    row("validation only: 422, nothing written (base)", r.validationOnly),
    row("replay: all 1000 duplicates", r.replay),
    row(`fresh batch, workspace of ${(r.background / 1000).toFixed(0)}k patients`, r.fresh),
    row("fresh batch, small workspace (100 + earlier)", r.freshSmall),
    ...(r.reloads > 0
      ? [`  (wrangler dev reloaded ${r.reloads} time(s); the rounds it cut were dropped and run again)`]
      : []),
  ].join("\n");
}
