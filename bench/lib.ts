/**
 * Shared benchmark plumbing: a private local platform (its own port and state folder), autocannon runs,
 * and alternating baseline/subject rounds so both see the same machine noise.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import autocannon from "autocannon";
import { type RunningPlatform, startLocalPlatform } from "../scripts/local-platform";

export interface LoadResult {
  requestsPerSecond: number;
  p50: number;
  p99: number;
  mean: number;
  non2xx: number;
  errors: number;
}

export async function withPlatform<T>(
  port: number,
  body: (platform: RunningPlatform) => Promise<T>,
): Promise<T> {
  const persistTo = mkdtempSync(path.join(tmpdir(), "switchboard-bench-"));
  const platform = await startLocalPlatform({ port, persistTo, build: false });
  try {
    return await body(platform);
  } finally {
    await platform.stop();
    rmSync(persistTo, { recursive: true, force: true });
  }
}

export async function load(
  url: string,
  options: { headers?: Record<string, string>; seconds: number; connections: number },
): Promise<LoadResult> {
  const result = await autocannon({
    url,
    headers: options.headers,
    duration: options.seconds,
    connections: options.connections,
  });
  return {
    requestsPerSecond: result.requests.average,
    p50: result.latency.p50,
    p99: result.latency.p99,
    mean: result.latency.average,
    non2xx: result.non2xx,
    errors: result.errors,
  };
}

export const median = (values: number[]): number => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
};

export function summarize(rounds: LoadResult[]): LoadResult {
  return {
    requestsPerSecond: median(rounds.map((r) => r.requestsPerSecond)),
    p50: median(rounds.map((r) => r.p50)),
    p99: median(rounds.map((r) => r.p99)),
    mean: median(rounds.map((r) => r.mean)),
    non2xx: rounds.reduce((n, r) => n + r.non2xx, 0),
    errors: rounds.reduce((n, r) => n + r.errors, 0),
  };
}
