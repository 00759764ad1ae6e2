/**
 * Issue "World model" figure: `POST /v1/{ws}/world/entities/resolve` by phone in a workspace of 100k
 * patients (each with external id, phone and name + birth date in the blind index), p50/p95 at
 * concurrency 1 and 10, against `wrangler dev`. Baselines measured in the same run, rounds alternating:
 * the bare `/healthz` route (the Worker's floor), and the same resolve in a workspace of 100 patients
 * (what the 100k index itself costs). A resolve by phone + name + birth date (three keys) at 100k shows
 * how the index lookup holds with more than one key. Target: p95 under 10 ms at concurrency 1.
 */
import {
  BENCH_WORKSPACE,
  backgroundPatients,
  intoFiles,
  keepAlive,
  type Latency,
  latencyOf,
  latencyRun,
  machineLoad,
  ms,
  patientRowsSql,
  reloadWarning,
  type SeedTiming,
  type SyntheticPatient,
  timedRequest,
  withWorldPlatform,
  workspaceCrypto,
} from "./world-lib";

const SMALL_WORKSPACE = "demo";

const VARIANTS = ["healthz", "resolveSmall", "resolveLarge", "resolveLargeThreeKeys"] as const;
type Variant = (typeof VARIANTS)[number];
/** Measured at concurrency 10 too; the three-key lookup only at 1 (it is there to show its plan). */
const CONCURRENT: readonly Variant[] = ["healthz", "resolveSmall", "resolveLarge"];

export interface WorldResolve {
  load: string;
  reloads: number;
  patients: number;
  smallPatients: number;
  seed: SeedTiming;
  concurrency1: Record<Variant, Latency>;
  concurrency10: Partial<Record<Variant, Latency & { requestsPerSecond: number }>>;
}

export async function worldResolve(
  options = {
    patients: 100_000,
    smallPatients: 100,
    rounds: 3,
    count1: 300,
    count10: 1000,
    /** Each run of one variant stops at its count or after this long, whichever comes first. */
    seconds: 4,
    port: 8796,
  },
): Promise<WorldResolve> {
  return withWorldPlatform(
    options.port,
    async (vars) => {
      const large = backgroundPatients(options.patients, "r");
      const small = backgroundPatients(options.smallPatients, "s");
      const largeCrypto = await workspaceCrypto(vars.ENCRYPTION_KEY!, BENCH_WORKSPACE);
      const smallCrypto = await workspaceCrypto(vars.ENCRYPTION_KEY!, SMALL_WORKSPACE);
      const statements = [
        ...patientRowsSql(largeCrypto, BENCH_WORKSPACE, large),
        ...patientRowsSql(smallCrypto, SMALL_WORKSPACE, small),
      ];
      return { files: intoFiles(statements, 16), info: { large, small } };
    },
    async (platform, { large, small }) => {
      const agent = keepAlive(10);
      const resolveUrl = (ws: string) => `${platform.url}/v1/${ws}/world/entities/resolve`;
      const largeHeaders = { Authorization: `Bearer ${platform.apiKey}` };
      const smallHeaders = { Authorization: `Bearer ${platform.vars.DEMO_API_KEY!}` };
      const any = (patients: SyntheticPatient[]) => patients[Math.floor(Math.random() * patients.length)]!;
      const byPhone = (p: SyntheticPatient) => ({ phone: p.phone });
      const byThreeKeys = (p: SyntheticPatient) => ({
        phone: p.phone,
        given_name: p.givenName,
        family_name: p.familyName,
        birth_date: p.birthDate,
      });

      // The seeded index answers as one the Worker built would.
      const checks = [
        [BENCH_WORKSPACE, largeHeaders, large, byPhone],
        [BENCH_WORKSPACE, largeHeaders, large, byThreeKeys],
        [SMALL_WORKSPACE, smallHeaders, small, byPhone],
      ] as const;
      for (const [ws, headers, patients, details] of checks) {
        for (const p of [patients[0]!, patients.at(-1)!]) {
          const answer = await timedRequest(agent, resolveUrl(ws), {
            method: "POST",
            headers,
            body: JSON.stringify(details(p)),
          });
          const best = (
            JSON.parse(answer.body) as { candidates?: { entity_id: string; display_name: string }[] }
          ).candidates?.[0];
          if (answer.status !== 200 || best?.entity_id !== p.id || best.display_name !== p.displayName)
            throw new Error(
              `resolve did not find seeded patient ${p.id} in ${ws}: ${answer.status} ${answer.body}`,
            );
        }
      }

      const resolve =
        (
          ws: string,
          headers: Record<string, string>,
          patients: SyntheticPatient[],
          details: typeof byPhone,
        ) =>
        (concurrency: number, count: number) =>
          latencyRun({
            agent,
            url: resolveUrl(ws),
            method: "POST",
            headers,
            body: () => JSON.stringify(details(any(patients))),
            count,
            seconds: options.seconds,
            concurrency,
          });
      const runs: Record<Variant, (concurrency: number, count: number) => Promise<number[]>> = {
        healthz: (concurrency, count) =>
          latencyRun({ agent, url: `${platform.url}/healthz`, count, seconds: options.seconds, concurrency }),
        resolveSmall: resolve(SMALL_WORKSPACE, smallHeaders, small, byPhone),
        resolveLarge: resolve(BENCH_WORKSPACE, largeHeaders, large, byPhone),
        resolveLargeThreeKeys: resolve(BENCH_WORKSPACE, largeHeaders, large, byThreeKeys),
      };
      // Warm-up: JIT, D1 page cache, isolate.
      for (const name of VARIANTS) await runs[name](10, 100);

      const loadBefore = machineLoad();
      const reloadsBefore = platform.reloads();
      const c1 = Object.fromEntries(VARIANTS.map((v) => [v, [] as number[]])) as Record<Variant, number[]>;
      const c10 = Object.fromEntries(CONCURRENT.map((v) => [v, [] as number[]])) as Record<Variant, number[]>;
      const wall: Partial<Record<Variant, number>> = {};
      for (let round = 0; round < options.rounds; round++) {
        for (const name of VARIANTS) c1[name].push(...(await runs[name](1, options.count1)));
        for (const name of CONCURRENT) {
          const started = performance.now();
          c10[name].push(...(await runs[name](10, options.count10)));
          wall[name] = (wall[name] ?? 0) + performance.now() - started;
        }
      }
      agent.destroy();
      return {
        load: `${loadBefore} before, ${machineLoad()} after`,
        reloads: platform.reloads() - reloadsBefore,
        patients: options.patients,
        smallPatients: options.smallPatients,
        seed: platform.seedTiming,
        concurrency1: Object.fromEntries(VARIANTS.map((v) => [v, latencyOf(c1[v])])) as Record<
          Variant,
          Latency
        >,
        concurrency10: Object.fromEntries(
          CONCURRENT.map((v) => [
            v,
            { ...latencyOf(c10[v]), requestsPerSecond: (c10[v].length / wall[v]!) * 1000 },
          ]),
        ),
      };
    },
  );
}

export function report(r: WorldResolve): string {
  const k = `${(r.patients / 1000).toFixed(0)}k`;
  const names: Record<Variant, string> = {
    healthz: "GET /healthz (baseline)",
    resolveSmall: `resolve by phone, ${r.smallPatients} patients`,
    resolveLarge: `resolve by phone, ${k} patients`,
    resolveLargeThreeKeys: `resolve phone+name+dob, ${k}`,
  };
  const row = (name: string, x: Latency & { requestsPerSecond?: number }, base: Latency) =>
    `  ${name.padEnd(34)} n=${String(x.requests).padStart(5)}   p50 ${ms(x.p50).padStart(9)}   p95 ${ms(x.p95).padStart(9)}   p99 ${ms(x.p99).padStart(9)}   ${(x.p50 / base.p50).toFixed(1).padStart(5)}x / ${(x.p95 / base.p95).toFixed(1).padStart(5)}x healthz p50 / p95${x.requestsPerSecond ? `   ${x.requestsPerSecond.toFixed(0)} req/s` : ""}`;
  const block = (title: string, v: Partial<Record<Variant, Latency & { requestsPerSecond?: number }>>) => [
    title,
    ...VARIANTS.filter((name) => v[name]).map((name) => row(names[name], v[name]!, v.healthz!)),
  ];
  const c1 = r.concurrency1;
  return [
    `World resolve (wrangler dev; ${r.patients} patients seeded: ${r.seed.megabytes.toFixed(0)} MB of SQL generated in ${(r.seed.generateMs / 1000).toFixed(1)} s, loaded with wrangler d1 execute in ${(r.seed.loadMs / 1000).toFixed(1)} s; ${r.load})`,
    ...block("concurrency 1", c1),
    ...block("concurrency 10", r.concurrency10),
    `  by phone, ${k} vs ${r.smallPatients} patients (concurrency 1): p50 ${(c1.resolveLarge.p50 / c1.resolveSmall.p50).toFixed(2)}x, p95 ${(c1.resolveLarge.p95 / c1.resolveSmall.p95).toFixed(2)}x`,
    `  target p95 < 10 ms at concurrency 1: ${c1.resolveLarge.p95 < 10 ? "met" : "NOT met"} (${ms(c1.resolveLarge.p95)}; healthz p95 ${ms(c1.healthz.p95)} on this machine)`,
    ...reloadWarning(r.reloads),
  ].join("\n");
}
