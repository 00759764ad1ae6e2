/**
 * Issue "Surfaces" figures for the patient's page `/s/{token}`:
 * - bytes on first load: the document (headers + body as sent, and the body gzipped as an edge would
 *   send it), and that it needs nothing else (every `src`/`href` in it is inline or same-origin);
 * - time to first byte under concurrent load against `wrangler dev`: `GET /s/{token}` (token check, the
 *   surface and its answers read and decrypted, the page rendered) beside a static asset of the same
 *   Worker (the dashboard's stylesheet from the assets binding), as p50/p95 and their ratio. Rounds
 *   alternate asset/page so machine noise hits both alike; TTFB is the time to the response headers,
 *   measured per request on kept-alive connections, then autocannon gives each one's throughput.
 */
import { readdirSync } from "node:fs";
import { Agent, request as httpRequest } from "node:http";
import path from "node:path";
import { gzipSync } from "node:zlib";
import { type LoadResult, load, median, summarize, withPlatform } from "./lib";

export interface Ttfb {
  p50: number;
  p95: number;
  p99: number;
  requests: number;
}

export interface SurfacePage {
  firstLoad: { documentBytes: number; headerBytes: number; gzipBytes: number; otherRequests: string[] };
  asset: { path: string; ttfb: Ttfb; load: LoadResult };
  page: { ttfb: Ttfb; load: LoadResult };
  ratioP50: number;
  ratioP95: number;
  concurrency: number;
}

const SPEC = {
  title: "Before your visit",
  description: "A few questions for the clinic.",
  sections: [
    { title: "About you", field_keys: ["full_name", "birth_date", "mobile", "email", "ssn_last4"] },
    { title: "Your visit", field_keys: ["reason", "symptoms", "pain", "pain_detail", "consent"] },
    { title: "Documents", field_keys: ["card", "signature"] },
  ],
  fields: [
    { key: "full_name", label: "Full name", field_type: "text" },
    { key: "birth_date", label: "Date of birth", field_type: "date" },
    { key: "mobile", label: "Mobile phone", field_type: "phone", prefill_value: "+14155550123" },
    { key: "email", label: "Email", field_type: "email", required: false },
    { key: "ssn_last4", label: "Last 4 of SSN", field_type: "text", sensitive: true },
    {
      key: "reason",
      label: "Reason",
      field_type: "select",
      options: [
        { value: "checkup", label: "Check-up" },
        { value: "pain", label: "Pain" },
      ],
    },
    {
      key: "symptoms",
      label: "Symptoms",
      field_type: "multiselect",
      options: [
        { value: "fever", label: "Fever" },
        { value: "cough", label: "Cough" },
      ],
    },
    { key: "pain", label: "Pain 0-10", field_type: "number" },
    {
      key: "pain_detail",
      label: "About the pain",
      field_type: "textarea",
      condition: { field: "pain", op: ">", value: 5 },
    },
    { key: "consent", label: "Consent", field_type: "checkbox", consent_text: "I agree." },
    { key: "card", label: "Insurance card", field_type: "photo" },
    { key: "signature", label: "Signature", field_type: "signature" },
  ],
};

async function json<T>(url: string, key: string, method: string, body?: unknown): Promise<T> {
  const response = await fetch(url, {
    method,
    headers: { Authorization: `Bearer ${key}`, "Content-Type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (!response.ok) throw new Error(`${method} ${url}: ${response.status} ${await response.text()}`);
  return (await response.json()) as T;
}

/** A surface in the demo workspace, delivered on the web channel; its short link followed once. */
async function surfacePath(base: string, key: string): Promise<string> {
  const events = await json<{ results: { entity_id: string }[] }>(
    `${base}/v1/demo/world/events`,
    key,
    "POST",
    {
      events: [
        {
          idempotency_key: `bench-surface:${crypto.randomUUID()}`,
          entity: {
            entity_type: "patient",
            external_id: `ehr:Patient:bench-srf-${crypto.randomUUID().slice(0, 8)}`,
          },
          event_type: "demographics.recorded",
          data: { given_name: "Bench", family_name: "Patient", birth_date: "1980-01-01" },
          source: "ehr",
        },
      ],
    },
  );
  const surface = await json<{ id: string }>(`${base}/v1/demo/surfaces`, key, "POST", {
    entity_id: events.results[0]!.entity_id,
    spec: SPEC,
    channel: "web",
  });
  const delivered = await json<{ link: string }>(
    `${base}/v1/demo/surfaces/${surface.id}/deliver`,
    key,
    "POST",
    {
      channel: "web",
    },
  );
  const redirect = await fetch(`${base}${new URL(delivered.link, base).pathname}`, { redirect: "manual" });
  const location = redirect.headers.get("location");
  if (redirect.status !== 302 || !location) throw new Error(`short link answered ${redirect.status}`);
  return location;
}

/** Time to the response headers of `count` GETs over `connections` kept-alive connections. */
async function ttfb(url: string, connections: number, count: number, seconds: number): Promise<Ttfb> {
  const agent = new Agent({ keepAlive: true, maxSockets: connections });
  const times: number[] = [];
  const deadline = Date.now() + seconds * 1000;
  let left = count;
  const one = () =>
    new Promise<void>((resolve, reject) => {
      const start = performance.now();
      const req = httpRequest(url, { agent }, (res) => {
        times.push(performance.now() - start);
        if (res.statusCode !== 200) reject(new Error(`${url} answered ${res.statusCode}`));
        res.resume();
        res.on("end", resolve);
      });
      req.on("error", reject);
      req.end();
    });
  await Promise.all(
    Array.from({ length: connections }, async () => {
      while (left-- > 0 && Date.now() < deadline) await one();
    }),
  );
  agent.destroy();
  const sorted = times.sort((a, b) => a - b);
  const at = (q: number) =>
    Number(sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!.toFixed(2));
  return { p50: at(0.5), p95: at(0.95), p99: at(0.99), requests: sorted.length };
}

const mergeTtfb = (rounds: Ttfb[]): Ttfb => ({
  p50: median(rounds.map((r) => r.p50)),
  p95: median(rounds.map((r) => r.p95)),
  p99: median(rounds.map((r) => r.p99)),
  requests: rounds.reduce((n, r) => n + r.requests, 0),
});

export async function surfacePage(
  options = { rounds: 3, requests: 1500, seconds: 5, connections: 10, port: 8799 },
): Promise<SurfacePage> {
  const css = readdirSync(path.join(import.meta.dirname, "..", "web", "dist", "assets")).find((f) =>
    f.endsWith(".css"),
  );
  if (!css) throw new Error("web/dist has no stylesheet: run npm run build:web first");
  return withPlatform(options.port, async (platform) => {
    const key = platform.vars.DEMO_API_KEY!;
    const pagePath = await surfacePath(platform.url, key);
    const pageUrl = `${platform.url}${pagePath}`;
    const assetPath = `/assets/${css}`;
    const assetUrl = `${platform.url}${assetPath}`;

    const first = await fetch(pageUrl);
    if (first.status !== 200) throw new Error(`the page answered ${first.status}`);
    const body = Buffer.from(await first.arrayBuffer());
    const headerBytes = [...first.headers].reduce((n, [k, v]) => n + k.length + v.length + 4, 17);
    const html = body.toString("utf8");
    const otherRequests = [...html.matchAll(/\b(?:src|href)="([^"]+)"/g)]
      .map((m) => m[1]!)
      .filter((u) => !u.startsWith("data:") && !u.startsWith("#") && !u.startsWith("/s/"));

    // Warm-up: isolate, JIT, D1 page cache.
    await ttfb(assetUrl, options.connections, 300, 10);
    await ttfb(pageUrl, options.connections, 300, 10);
    const assetTtfb: Ttfb[] = [];
    const pageTtfb: Ttfb[] = [];
    const assetLoad: LoadResult[] = [];
    const pageLoad: LoadResult[] = [];
    for (let i = 0; i < options.rounds; i++) {
      assetTtfb.push(await ttfb(assetUrl, options.connections, options.requests, 30));
      pageTtfb.push(await ttfb(pageUrl, options.connections, options.requests, 30));
      assetLoad.push(await load(assetUrl, { seconds: options.seconds, connections: options.connections }));
      pageLoad.push(await load(pageUrl, { seconds: options.seconds, connections: options.connections }));
    }
    const asset = { path: assetPath, ttfb: mergeTtfb(assetTtfb), load: summarize(assetLoad) };
    const page = { ttfb: mergeTtfb(pageTtfb), load: summarize(pageLoad) };
    if (asset.load.non2xx > 0 || page.load.non2xx > 0)
      throw new Error(`non-2xx answers: asset ${asset.load.non2xx}, page ${page.load.non2xx}`);
    return {
      firstLoad: { documentBytes: body.length, headerBytes, gzipBytes: gzipSync(body).length, otherRequests },
      asset,
      page,
      ratioP50: page.ttfb.p50 / asset.ttfb.p50,
      ratioP95: page.ttfb.p95 / asset.ttfb.p95,
      concurrency: options.connections,
    };
  });
}

export function report(r: SurfacePage): string {
  const row = (name: string, t: Ttfb, l: LoadResult) =>
    `${name.padEnd(34)} TTFB p50 ${t.p50.toFixed(2).padStart(6)} ms  p95 ${t.p95.toFixed(2).padStart(6)} ms  p99 ${t.p99.toFixed(2).padStart(6)} ms   ${l.requestsPerSecond.toFixed(0).padStart(6)} req/s`;
  const f = r.firstLoad;
  return [
    `Surface page /s/{token} vs a static asset of the same Worker (wrangler dev, ${r.concurrency} connections)`,
    `first load: 1 request, document ${f.documentBytes} B + headers ~${f.headerBytes} B (gzip ${f.gzipBytes} B); other requests: ${f.otherRequests.length ? f.otherRequests.join(", ") : "none"}   target < 30 KB: ${f.documentBytes + f.headerBytes < 30 * 1024 && f.otherRequests.length === 0 ? "met" : "NOT met"}`,
    row(`static ${r.asset.path.slice(0, 24)}`, r.asset.ttfb, r.asset.load),
    row("GET /s/{token}", r.page.ttfb, r.page.load),
    `TTFB ratio page/asset: p50 ${r.ratioP50.toFixed(2)}x   p95 ${r.ratioP95.toFixed(2)}x`,
  ].join("\n");
}
