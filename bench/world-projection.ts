/**
 * Issue "World model" figure: projecting a patient with 10k events from cold storage. The first
 * `GET /v1/{ws}/world/entities/{id}` of a patient reaches a `PatientModel` that has never run, so it
 * counts the patient's events in D1, loads and decrypts all of them, stores them in its SQLite and
 * projects them. Baseline, same run: warm reads of the same patient (object verified, projection cached:
 * the same response, without the rebuild). Each cold read uses a patient never read before; patients
 * alternate with warm reads of themselves. A 100-event patient, cold and warm, shows the fixed part.
 */
import {
  BENCH_WORKSPACE,
  backgroundPatients,
  historySql,
  intoFiles,
  keepAlive,
  type Latency,
  latencyOf,
  machineLoad,
  ms,
  patientRowsSql,
  reloadWarning,
  type SeedTiming,
  type SyntheticPatient,
  syntheticPatient,
  timedRequest,
  withWorldPlatform,
  workspaceCrypto,
} from "./world-lib";

export interface ProjectionFigures {
  events: number;
  facts: number;
  responseBytes: number;
  cold: Latency;
  warm: Latency;
}

export interface WorldProjection {
  load: string;
  reloads: number;
  workspace: { patients: number; events: number };
  seed: SeedTiming;
  large: ProjectionFigures;
  small: ProjectionFigures;
}

export async function worldProjection(
  options = {
    largeEvents: 10_000,
    smallEvents: 100,
    /** Each patient gives one cold read, then `warmReads` warm ones. One more small one warms up. */
    largePatients: 5,
    /** Small cold reads are cheap and noisier: four per large one. */
    smallPatients: 20,
    warmReads: 15,
    budgetSeconds: 90,
    /** Patients with identity and no events, so the workspace is not just the patients under test. */
    background: 10_000,
    port: 8797,
  },
): Promise<WorldProjection> {
  return withWorldPlatform(
    options.port,
    async (vars) => {
      const wc = await workspaceCrypto(vars.ENCRYPTION_KEY!, BENCH_WORKSPACE);
      const large = Array.from({ length: options.largePatients }, (_, n) =>
        syntheticPatient(900_000 + n, "big"),
      );
      const small = Array.from({ length: options.smallPatients + 1 }, (_, n) =>
        syntheticPatient(950_000 + n, "small"),
      );
      const sizes = new Map<SyntheticPatient, number>([
        ...large.map((p) => [p, options.largeEvents] as const),
        ...small.map((p) => [p, options.smallEvents] as const),
      ]);
      const statements = [
        ...patientRowsSql(wc, BENCH_WORKSPACE, backgroundPatients(options.background, "bg")),
        ...patientRowsSql(wc, BENCH_WORKSPACE, [...sizes.keys()], (p) => sizes.get(p)!),
        ...[...sizes].flatMap(([p, n]) => historySql(wc, BENCH_WORKSPACE, p, n)),
      ];
      return { files: intoFiles(statements, 16), info: { large, small } };
    },
    async (platform, { large, small }) => {
      const agent = keepAlive(1);
      const headers = { Authorization: `Bearer ${platform.apiKey}` };
      const read = async (p: SyntheticPatient) => {
        const answer = await timedRequest(
          agent,
          `${platform.url}/v1/${BENCH_WORKSPACE}/world/entities/${p.id}`,
          {
            headers,
          },
        );
        if (answer.status !== 200)
          throw new Error(`GET ${p.id} answered ${answer.status}: ${answer.body.slice(0, 500)}`);
        return answer;
      };
      const samples = (events: number) => ({
        events,
        facts: 0,
        responseBytes: 0,
        cold: [] as number[],
        warm: [] as number[],
      });
      const figures = { large: samples(options.largeEvents), small: samples(options.smallEvents) };
      const measure = async (p: SyntheticPatient, into: ReturnType<typeof samples>) => {
        const first = await read(p);
        into.cold.push(first.ms);
        into.facts = (JSON.parse(first.body) as { facts: unknown[] }).facts.length;
        into.responseBytes = first.body.length;
        if (into.facts === 0) throw new Error(`patient ${p.id} projected no facts`);
        for (let i = 0; i < options.warmReads; i++) {
          const again = await read(p);
          if (again.body.length !== first.body.length)
            throw new Error(`warm read of ${p.id} differs from cold`);
          into.warm.push(again.ms);
        }
      };
      // Warm-up patient: JIT and the Worker's own first request, not a figure.
      const [warmup, ...smallMeasured] = small;
      for (let i = 0; i < 5; i++) await read(warmup!);
      // Sizes interleaved, so drift in the machine's load touches both alike. Bounded in time as well.
      const loadBefore = machineLoad();
      const reloadsBefore = platform.reloads();
      const started = performance.now();
      for (
        let i = 0;
        i < large.length && (i < 2 || performance.now() - started < options.budgetSeconds * 1000);
        i++
      ) {
        await measure(large[i]!, figures.large);
        const perLarge = Math.ceil(smallMeasured.length / large.length);
        for (const p of smallMeasured.slice(i * perLarge, (i + 1) * perLarge))
          await measure(p, figures.small);
      }
      agent.destroy();
      return {
        load: `${loadBefore} before, ${machineLoad()} after`,
        reloads: platform.reloads() - reloadsBefore,
        workspace: {
          patients: options.background + large.length + small.length,
          events: large.length * options.largeEvents + small.length * options.smallEvents,
        },
        seed: platform.seedTiming,
        large: { ...figures.large, cold: latencyOf(figures.large.cold), warm: latencyOf(figures.large.warm) },
        small: { ...figures.small, cold: latencyOf(figures.small.cold), warm: latencyOf(figures.small.warm) },
      };
    },
  );
}

export function report(r: WorldProjection): string {
  const row = (name: string, x: Latency, base: Latency) =>
    `  ${name.padEnd(30)} n=${String(x.requests).padStart(3)}   p50 ${ms(x.p50).padStart(10)}   p95 ${ms(x.p95).padStart(10)}   p50 ${(x.p50 / base.p50).toFixed(1).padStart(6)}x warm`;
  const block = (f: ProjectionFigures) => [
    `${f.events} events → ${f.facts} facts, ${(f.responseBytes / 1e6).toFixed(2)} MB response`,
    row("warm read (baseline)", f.warm, f.warm),
    row("cold read (rebuild from D1)", f.cold, f.warm),
    `  cold cost above warm: ${ms(f.cold.p50 - f.warm.p50)} (${((f.cold.p50 - f.warm.p50) / f.events).toFixed(3)} ms per event)`,
  ];
  return [
    `World projection from cold storage (wrangler dev; workspace of ${r.workspace.patients} patients, ${r.workspace.events} events; seed ${r.seed.megabytes.toFixed(0)} MB loaded in ${(r.seed.loadMs / 1000).toFixed(1)} s; ${r.load})`,
    ...block(r.large),
    ...block(r.small),
    ...reloadWarning(r.reloads),
  ].join("\n");
}
