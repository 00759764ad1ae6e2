/**
 * Issue "Operator command center" figures for the live event stream's fan-out: against `wrangler dev`,
 * 1, 100 and 1000 Server-Sent Events subscribers of one workspace (`GET /v1/demo/events/stream`, an API
 * key each, one Node process holding every connection), while `call.started` events are published the
 * way a call publishes them: a simulated call started through `POST /v1/demo/simulator/calls` (audited,
 * D1 rows, then the hub). Per-subscriber delivery latency = received (client clock) − the event's `at`
 * (stamped by the WorkspaceHub as it records it; same machine, same clock, ms resolution), so the
 * route's own D1 work is not counted. Beside it, in the same run, a bare Node SSE broadcaster (node:http
 * in a child process, like workerd is one) with the same subscribers, events and pacing, measured the
 * same way. Target: p95 < 100 ms at 1000 subscribers.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import { Agent, type ClientRequest, request } from "node:http";
import { withPlatform } from "./lib";
import { type Latency, latencyOf, machineLoad, ms, reloadWarning } from "./world-lib";

const CLINIC_NUMBER = "+14155550100";

export interface FanoutLevel {
  subscribers: number;
  events: number;
  /** Deliveries expected (subscribers × events) and received. */
  expected: number;
  hub: { latency: Latency; received: number; connectMs: number };
  baseline: { latency: Latency; received: number; connectMs: number };
}

export interface EventFanout {
  load: string;
  intervalMs: number;
  levels: FanoutLevel[];
  reloads: number;
}

/** Holds `n` SSE connections; every received event of `type` is timed against its `at`. */
class Subscribers {
  readonly latencies: number[] = [];
  readonly #requests: ClientRequest[] = [];
  readonly #agent = new Agent({ keepAlive: true, maxSockets: Number.POSITIVE_INFINITY });

  static async open(url: string, n: number, headers: Record<string, string>, type: string) {
    const subs = new Subscribers();
    const started = performance.now();
    // In batches, so a thousand handshakes do not all queue behind each other's TLS-free accept.
    for (let i = 0; i < n; i += 100) {
      await Promise.all(
        Array.from({ length: Math.min(100, n - i) }, () => subs.#connect(url, headers, type)),
      );
    }
    return { subs, connectMs: performance.now() - started };
  }

  #connect(url: string, headers: Record<string, string>, type: string): Promise<void> {
    return new Promise((resolve, reject) => {
      const req = request(
        url,
        { agent: this.#agent, headers: { Accept: "text/event-stream", ...headers } },
        (res) => {
          if (res.statusCode !== 200) {
            reject(new Error(`${url} answered ${res.statusCode}`));
            res.resume();
            return;
          }
          res.setEncoding("utf8");
          let buffer = "";
          let opened = false;
          res.on("data", (chunk: string) => {
            const now = Date.now();
            buffer += chunk;
            let end = buffer.indexOf("\n\n");
            while (end !== -1) {
              const block = buffer.slice(0, end);
              buffer = buffer.slice(end + 2);
              end = buffer.indexOf("\n\n");
              if (!opened && block.startsWith("retry:")) {
                opened = true;
                resolve();
                continue;
              }
              if (!block.includes(`event: ${type}\n`)) continue;
              const data = block.slice(block.indexOf("data: ") + 6);
              this.latencies.push(now - Date.parse((JSON.parse(data) as { at: string }).at));
            }
          });
          res.on("error", () => {});
        },
      );
      req.on("error", reject);
      req.end();
      this.#requests.push(req);
    });
  }

  close() {
    for (const req of this.#requests) req.destroy();
    this.#agent.destroy();
  }
}

/** Waits until `done()` or `timeoutMs`. */
async function until(done: () => boolean, timeoutMs: number) {
  const deadline = Date.now() + timeoutMs;
  while (!done() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
}

/** The baseline: a bare SSE broadcaster. `POST /publish` writes one event to every open stream. */
const BASELINE_SERVER = `
import { createServer } from "node:http";
const streams = new Set();
let id = 0;
const server = createServer((req, res) => {
  if (req.method === "POST") {
    id++;
    const event = { id, type: "call.started", at: new Date().toISOString(), data: { call_id: "call_" + id } };
    const frame = "id: " + id + "\\nevent: call.started\\ndata: " + JSON.stringify(event) + "\\n\\n";
    for (const s of streams) s.write(frame);
    res.writeHead(201).end();
    return;
  }
  res.writeHead(200, { "Content-Type": "text/event-stream", "Cache-Control": "no-store" });
  res.write("retry: 3000\\n\\n");
  streams.add(res);
  req.on("close", () => streams.delete(res));
});
server.listen(0, "127.0.0.1", () => console.log(server.address().port));
`;

async function startBaseline(): Promise<{ url: string; child: ChildProcess }> {
  const child = spawn(process.execPath, ["--input-type=module", "-e", BASELINE_SERVER], {
    stdio: ["ignore", "pipe", "inherit"],
  });
  const [line] = (await once(child.stdout!, "data")) as [Buffer];
  return { url: `http://127.0.0.1:${line.toString().trim()}`, child };
}

async function post(url: string, headers: Record<string, string>, body?: unknown): Promise<void> {
  for (let attempt = 0; ; attempt++) {
    const res = await fetch(url, {
      method: "POST",
      headers: body === undefined ? headers : { ...headers, "Content-Type": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    if (res.status === 201) return;
    const text = await res.text();
    // `wrangler dev` reloaded (another process changed a watched file): the report warns; try again.
    if (res.status === 503 && text.includes("restarted mid-request") && attempt < 3) continue;
    throw new Error(`${url} answered ${res.status}: ${text}`);
  }
}

async function measure(options: {
  streamUrl: string;
  headers: Record<string, string>;
  subscribers: number;
  events: number;
  intervalMs: number;
  publish: () => Promise<void>;
}) {
  const { subs, connectMs } = await Subscribers.open(
    options.streamUrl,
    options.subscribers,
    options.headers,
    "call.started",
  );
  try {
    for (let i = 0; i < options.events; i++) {
      await options.publish();
      await new Promise((r) => setTimeout(r, options.intervalMs));
    }
    await until(() => subs.latencies.length >= options.subscribers * options.events, 10_000);
    return { latency: latencyOf(subs.latencies), received: subs.latencies.length, connectMs };
  } finally {
    subs.close();
  }
}

export async function eventFanout(
  options = { port: 8813, subscribers: [1, 100, 1000], events: 20, intervalMs: 200 },
): Promise<EventFanout> {
  const baseline = await startBaseline();
  try {
    return await withPlatform(options.port, async (platform) => {
      const key = platform.vars.DEMO_API_KEY!;
      const auth = { Authorization: `Bearer ${key}` };
      const streamUrl = `${platform.url}/v1/demo/events/stream?types=call.started`;
      let caller = 0;
      const startCall = () =>
        post(`${platform.url}/v1/demo/simulator/calls`, auth, {
          to: CLINIC_NUMBER,
          from: `+1212555${String(1000 + (caller++ % 9000)).padStart(4, "0")}`,
        });
      // Warm-up: the hub, the route, the isolate.
      await measure({
        streamUrl,
        headers: auth,
        subscribers: 5,
        events: 3,
        intervalMs: 50,
        publish: startCall,
      });
      const levels: FanoutLevel[] = [];
      for (const n of options.subscribers) {
        const base = await measure({
          streamUrl: `${baseline.url}/stream`,
          headers: {},
          subscribers: n,
          events: options.events,
          intervalMs: options.intervalMs,
          publish: () => post(`${baseline.url}/publish`, {}),
        });
        const hub = await measure({
          streamUrl,
          headers: auth,
          subscribers: n,
          events: options.events,
          intervalMs: options.intervalMs,
          publish: startCall,
        });
        levels.push({
          subscribers: n,
          events: options.events,
          expected: n * options.events,
          hub,
          baseline: base,
        });
      }
      return { load: machineLoad(), intervalMs: options.intervalMs, levels, reloads: platform.reloads() };
    });
  } finally {
    baseline.child.kill("SIGTERM");
  }
}

export function report(r: EventFanout): string {
  const row = (cells: (string | number)[]) => cells.map((c) => String(c).padStart(13)).join("");
  const lines = [
    `Event stream fan-out: publish (the hub's \`at\`) → received by each subscriber, ${r.levels[0]?.events ?? 0} ` +
      `call.started events ${r.intervalMs} ms apart per level (${r.load})`,
    row(["subscribers", "received", "hub p50", "hub p95", "hub p99", "node p50", "node p95", "node p99"]),
  ];
  for (const l of r.levels) {
    lines.push(
      row([
        l.subscribers,
        `${l.hub.received}/${l.expected}`,
        ms(l.hub.latency.p50),
        ms(l.hub.latency.p95),
        ms(l.hub.latency.p99),
        ms(l.baseline.latency.p50),
        ms(l.baseline.latency.p95),
        ms(l.baseline.latency.p99),
      ]),
    );
  }
  const top = r.levels.at(-1);
  if (top) {
    lines.push(
      `  target p95 < 100 ms at ${top.subscribers}: ${top.hub.latency.p95 < 100 ? "met" : "NOT met"} ` +
        `(${ms(top.hub.latency.p95)}); connecting ${top.subscribers} streams took ${ms(top.hub.connectMs)} ` +
        `(baseline ${ms(top.baseline.connectMs)}); baseline received ${top.baseline.received}/${top.expected}`,
    );
  }
  lines.push(...reloadWarning(r.reloads));
  return lines.join("\n");
}
