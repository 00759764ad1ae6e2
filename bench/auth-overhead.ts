/**
 * Issue "Foundation" figure: authenticated `GET /v1/demo/services` (API key lookup + workspace check +
 * role check + query validation + two D1 queries) against the bare `/healthz` route of the same Worker,
 * under autocannon against `wrangler dev`. Rounds alternate bare/authenticated so noise hits both alike.
 * Target: the authenticated route costs under 3x the bare one.
 */
import { type LoadResult, load, summarize, withPlatform } from "./lib";

export interface AuthOverhead {
  bare: LoadResult;
  authenticated: LoadResult;
  latencyRatio: number;
  throughputRatio: number;
}

export async function authOverhead(
  options = { rounds: 3, seconds: 5, connections: 10, port: 8795 },
): Promise<AuthOverhead> {
  return withPlatform(options.port, async (platform) => {
    const bareUrl = `${platform.url}/healthz`;
    const authUrl = `${platform.url}/v1/demo/services`;
    const headers = { Authorization: `Bearer ${platform.vars.DEMO_API_KEY}` };
    const check = await fetch(authUrl, { headers });
    if (check.status !== 200) throw new Error(`authenticated route answered ${check.status}`);
    // Warm-up: JIT, D1 page cache, isolate.
    await load(bareUrl, { seconds: 2, connections: options.connections });
    await load(authUrl, { headers, seconds: 2, connections: options.connections });
    const bare: LoadResult[] = [];
    const authenticated: LoadResult[] = [];
    for (let i = 0; i < options.rounds; i++) {
      bare.push(await load(bareUrl, { seconds: options.seconds, connections: options.connections }));
      authenticated.push(
        await load(authUrl, { headers, seconds: options.seconds, connections: options.connections }),
      );
    }
    const b = summarize(bare);
    const a = summarize(authenticated);
    if (a.non2xx > 0 || b.non2xx > 0)
      throw new Error(`non-2xx answers during the run: bare ${b.non2xx}, auth ${a.non2xx}`);
    return {
      bare: b,
      authenticated: a,
      latencyRatio: a.mean / b.mean,
      throughputRatio: b.requestsPerSecond / a.requestsPerSecond,
    };
  });
}

export function report(r: AuthOverhead): string {
  const row = (name: string, x: LoadResult) =>
    `${name.padEnd(28)} ${x.requestsPerSecond.toFixed(0).padStart(8)} req/s   p50 ${String(x.p50).padStart(4)} ms   p99 ${String(x.p99).padStart(4)} ms   mean ${x.mean.toFixed(2)} ms`;
  return [
    "Authenticated GET /v1/demo/services vs bare /healthz (wrangler dev, autocannon, 10 connections)",
    row("bare /healthz", r.bare),
    row("GET /v1/demo/services (key)", r.authenticated),
    `cost ratio (mean latency): ${r.latencyRatio.toFixed(2)}x   throughput ratio: ${r.throughputRatio.toFixed(2)}x   target < 3x: ${r.latencyRatio < 3 ? "met" : "NOT met"}`,
  ].join("\n");
}
