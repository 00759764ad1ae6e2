/**
 * The local platform, shared by `npm start`, the end-to-end tests and the benchmarks: secrets in
 * .dev.vars, the dashboard build, D1 migrations, the demo seed, `wrangler dev` on a port, and the FHIR
 * EHR sandbox (`ehr-sandbox/`) on its own port. `persistTo` keeps each user of it apart: `npm start`
 * uses .wrangler/state, tests a temp folder.
 */

import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import path from "node:path";
import { type EhrSandbox, startEhrSandbox } from "../ehr-sandbox/server";
import { generateApiKey } from "../shared/auth/api-key";
import { generateMasterKey } from "../shared/crypto/encryption";
import { randomBytes, toBase64Url } from "../shared/encoding";
import { specForPaths } from "../shared/surfaces/from-paths";
import { DEMO_WORKSPACE } from "./demo-data";
import { demoPatientBatches } from "./demo-patients";
import { DEMO_TEMPLATES } from "./demo-templates";
import { demoSql } from "./seed-sql";

export const ROOT = path.resolve(import.meta.dirname, "..");
const WRANGLER = path.join(ROOT, "node_modules", ".bin", "wrangler");

export type DevVars = Record<string, string>;

/** Reads .dev.vars, writing fresh random secrets for any that are missing. Never overwrites a value. */
export function ensureDevVars(): DevVars {
  const file = path.join(ROOT, ".dev.vars");
  const vars: DevVars = {};
  if (existsSync(file)) {
    for (const line of readFileSync(file, "utf8").split("\n")) {
      const match = /^([A-Z0-9_]+)=(.*)$/.exec(line.trim());
      if (match) vars[match[1]!] = match[2]!;
    }
  }
  const wanted: DevVars = {
    SESSION_SECRET: toBase64Url(randomBytes(32)),
    ENCRYPTION_KEY: generateMasterKey(),
    SIGNING_SECRET: toBase64Url(randomBytes(32)),
    TWILIO_AUTH_TOKEN: toBase64Url(randomBytes(16)),
    DEMO_API_KEY: generateApiKey(),
  };
  let changed = false;
  for (const [name, value] of Object.entries(wanted)) {
    if (!vars[name] || vars[name] === "x") {
      vars[name] = value;
      changed = true;
    }
  }
  if (changed) {
    const body = Object.entries(vars)
      .map(([k, v]) => `${k}=${v}`)
      .join("\n");
    writeFileSync(file, `# Local secrets written by npm start. Never commit this file.\n${body}\n`, {
      mode: 0o600,
    });
  }
  return vars;
}

export function run(
  command: string,
  args: string[],
  options: { quiet?: boolean; env?: NodeJS.ProcessEnv } = {},
): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, {
      cwd: ROOT,
      env: { ...process.env, CI: "true", WRANGLER_SEND_METRICS: "false", ...options.env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let output = "";
    child.stdout.on("data", (d) => {
      output += d;
      if (!options.quiet) process.stdout.write(d);
    });
    child.stderr.on("data", (d) => {
      output += d;
      if (!options.quiet) process.stderr.write(d);
    });
    child.on("error", reject);
    child.on("close", (code) =>
      code === 0
        ? resolve(output)
        : reject(
            new Error(`${path.basename(command)} ${args.join(" ")} exited ${code}\n${output.slice(-4000)}`),
          ),
    );
  });
}

export async function buildWeb(quiet = true): Promise<void> {
  await run(
    path.join(ROOT, "node_modules", ".bin", "vite"),
    ["build", "--config", "web/vite.config.ts", "--logLevel", "warn"],
    { quiet },
  );
}

export async function migrate(persistTo: string, quiet = true): Promise<void> {
  await run(WRANGLER, ["d1", "migrations", "apply", "DB", "--local", "--persist-to", persistTo], { quiet });
}

export async function seedDemo(persistTo: string, vars: DevVars, quiet = true): Promise<void> {
  const dir = path.join(ROOT, ".wrangler", "tmp");
  mkdirSync(dir, { recursive: true });
  const file = path.join(dir, `seed-${process.pid}-${Date.now()}.sql`);
  writeFileSync(file, (await demoSql(vars.DEMO_API_KEY!)).join("\n"));
  await run(WRANGLER, ["d1", "execute", "DB", "--local", "--persist-to", persistTo, "--file", file], {
    quiet,
  });
}

/**
 * Seeds the demo patients through the running Worker's ingest API, as the EHR would send them. Stable
 * idempotency keys make it a no-op the second time.
 */
export async function seedDemoPatients(
  url: string,
  apiKey: string,
): Promise<{ patients: number; stored: number; duplicates: number; ms: number }> {
  const started = performance.now();
  let stored = 0;
  let duplicates = 0;
  const post = async (events: unknown[]) => {
    const res = await fetch(`${url}/v1/${DEMO_WORKSPACE.id}/world/events`, {
      method: "POST",
      headers: { Authorization: `Bearer ${apiKey}`, "Content-Type": "application/json" },
      body: JSON.stringify({ events }),
    });
    if (!res.ok)
      throw new Error(`Seeding demo patients failed: ${res.status} ${(await res.text()).slice(0, 2000)}`);
    const outcome = (await res.json()) as { stored: number; duplicates: number };
    stored += outcome.stored;
    duplicates += outcome.duplicates;
  };
  const batches = demoPatientBatches();
  // The originals are distinct people, sent side by side; the near-duplicates go last, once they exist.
  await Promise.all(batches.slice(0, -1).map(post));
  await post(batches.at(-1)!);
  const patients = new Set(batches.flat().map((e) => e.entity?.external_id)).size;
  return { patients, stored, duplicates, ms: Math.round(performance.now() - started) };
}

/** Calls the demo workspace's API (`/v1/demo{route}`) as the demo owner; throws on any non-2xx. */
export function demoApi(url: string, apiKey: string) {
  return async (method: string, route: string, body?: unknown) => {
    const res = await fetch(`${url}/v1/${DEMO_WORKSPACE.id}${route}`, {
      method,
      headers: { Authorization: `Bearer ${apiKey}`, "Content-Type": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    if (!res.ok) throw new Error(`${method} ${route} failed: ${res.status} ${text.slice(0, 1000)}`);
    return text ? JSON.parse(text) : null;
  };
}

/** The demo workspace's gap requirement: email and insurance on file three days before a visit. */
export const DEMO_REQUIREMENT_NAME = "Before the visit: email and insurance";

/**
 * The demo's surfaces, through the API as an operator would: the gap requirement and the form templates
 * (idempotent by name) and one pre-visit form for a demo patient, delivered as a web link (nothing is texted locally), so
 * the page can be opened from the terminal. Reuses the demo form while its link still works.
 */
export async function seedDemoSurface(
  url: string,
  apiKey: string,
): Promise<{ link: string; created: boolean }> {
  const api = demoApi(url, apiKey);
  const requirements = (await api("GET", "/gap-requirements?limit=100")) as { results: { name: string }[] };
  if (!requirements.results.some((r) => r.name === DEMO_REQUIREMENT_NAME)) {
    await api("POST", "/gap-requirements", {
      name: DEMO_REQUIREMENT_NAME,
      trigger: "upcoming_appointment",
      lookahead_hours: 72,
      required_paths: ["contact.email", "coverage"],
      channel: "sms",
      priority: "medium",
    });
  }
  const templates = (await api("GET", "/surface-templates?limit=100")) as { results: { name: string }[] };
  for (const template of DEMO_TEMPLATES) {
    if (templates.results.some((t) => t.name === template.name)) continue;
    await api("POST", "/surface-templates", template);
  }
  const open = (await api("GET", "/surfaces?status=delivered&channel=web&limit=1")) as {
    results: { id: string }[];
  };
  let id = open.results[0]?.id;
  const created = !id;
  if (!id) {
    const patients = (await api("GET", "/world/entities?entity_type=patient&limit=1")) as {
      results: { id: string }[];
    };
    const patient = patients.results[0];
    if (!patient) throw new Error("no demo patient to make a form for");
    const spec = specForPaths(["contact.email", "coverage", "allergies"], { title: "Before your visit" });
    id = ((await api("POST", "/surfaces", { entity_id: patient.id, channel: "web", spec })) as { id: string })
      .id;
  }
  const sent = (await api("POST", `/surfaces/${id}/deliver`, { channel: "web" })) as { link: string };
  return { link: sent.link, created };
}

/** The demo workspace's EHR connection, to the local FHIR sandbox. */
export const DEMO_DATA_SOURCE_NAME = "Riverside EHR (local sandbox)";

/**
 * Connects the demo workspace to the EHR sandbox through the admin API, as a clinic's IT would: a
 * polled `fhir_store` source that also takes writebacks, a rest-hook Subscription in the EHR that
 * notifies Switchboard when an Appointment changes, and a first poll. The sandbox is fresh on every
 * start while the workspace persists, so an existing source gets the sandbox's URL and a new webhook
 * secret, which the new Subscription carries.
 */
export async function seedDemoDataSource(
  url: string,
  apiKey: string,
  ehr: EhrSandbox,
): Promise<{ id: string; created: boolean }> {
  const api = demoApi(url, apiKey);
  const webhookSecret = toBase64Url(randomBytes(32));
  const secrets = { bearer_token: ehr.staticToken!, webhook_secret: webhookSecret };
  const list = (await api("GET", "/data-sources?limit=100")) as { results: { id: string; name: string }[] };
  const existing = list.results.find((s) => s.name === DEMO_DATA_SOURCE_NAME);
  let id: string;
  if (existing) {
    id = existing.id;
    await api("PATCH", `/data-sources/${id}`, { base_url: ehr.fhirBaseUrl, secrets });
  } else {
    const created = (await api("POST", "/data-sources", {
      name: DEMO_DATA_SOURCE_NAME,
      type: "fhir_store",
      base_url: ehr.fhirBaseUrl,
      source_system: "ehr",
      auth: { type: "static_bearer" },
      secrets,
      poll_interval_seconds: 300,
      writeback: true,
    })) as { id: string };
    id = created.id;
  }
  const subscription = await fetch(`${ehr.fhirBaseUrl}/Subscription`, {
    method: "POST",
    headers: { Authorization: `Bearer ${ehr.staticToken}`, "Content-Type": "application/fhir+json" },
    body: JSON.stringify({
      resourceType: "Subscription",
      status: "requested",
      reason: "Switchboard: appointment changes",
      criteria: "Appointment?status=proposed,pending,booked,arrived,fulfilled,cancelled,noshow,checked-in",
      channel: {
        type: "rest-hook",
        endpoint: `${url}/webhooks/fhir/${DEMO_WORKSPACE.id}/${id}`,
        payload: "application/fhir+json",
        header: [`Authorization: Bearer ${webhookSecret}`],
      },
    }),
  });
  if (!subscription.ok)
    throw new Error(
      `Creating the sandbox Subscription failed: ${subscription.status} ${await subscription.text()}`,
    );
  await api("POST", `/data-sources/${id}/sync`);
  return { id, created: !existing };
}

export interface RunningPlatform {
  url: string;
  vars: DevVars;
  process: ChildProcess;
  /** The tail of wrangler's output (when not inherited), and how often it reloaded the Worker. */
  log(): string;
  reloads(): number;
  /** The FHIR EHR sandbox, when it was asked for; `stop()` stops it too. */
  ehrSandbox?: EhrSandbox;
  stop(): Promise<void>;
}

/** Whether nothing listens on `port` yet (else `/healthz` would be answered by someone else's Worker). */
function portIsFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const probe = createServer()
      .once("error", () => resolve(false))
      .once("listening", () => probe.close(() => resolve(true)))
      .listen(port, "127.0.0.1");
  });
}

/** Starts `wrangler dev` and resolves once `/healthz` answers. */
export async function startWorker(options: {
  port: number;
  persistTo: string;
  vars: DevVars;
  inherit?: boolean;
  /** Extra `--var NAME:value` bindings, over wrangler.toml's (e.g. a benchmark's own PUBLIC_BASE_URL). */
  extraVars?: Record<string, string>;
}): Promise<RunningPlatform> {
  if (!(await portIsFree(options.port)))
    throw new Error(`Port ${options.port} is already in use: stop what runs there or pick another port`);
  const child = spawn(
    WRANGLER,
    [
      "dev",
      "--port",
      String(options.port),
      "--ip",
      "127.0.0.1",
      "--persist-to",
      options.persistTo,
      "--show-interactive-dev-session=false",
      ...Object.entries(options.extraVars ?? {}).flatMap(([name, value]) => ["--var", `${name}:${value}`]),
    ],
    {
      cwd: ROOT,
      env: { ...process.env, WRANGLER_SEND_METRICS: "false", CI: options.inherit ? process.env.CI : "true" },
      stdio: options.inherit ? ["ignore", "inherit", "inherit"] : ["ignore", "pipe", "pipe"],
    },
  );
  let log = "";
  let reloads = 0;
  const keep = (d: Buffer) => {
    const text = d.toString();
    reloads += text.split("Reloading local server").length - 1;
    log = (log + text).slice(-20_000);
  };
  child.stdout?.on("data", keep);
  child.stderr?.on("data", keep);
  const url = `http://127.0.0.1:${options.port}`;
  const deadline = Date.now() + 90_000;
  for (;;) {
    if (child.exitCode !== null)
      throw new Error(`wrangler dev exited ${child.exitCode}\n${log.slice(-4000)}`);
    try {
      const res = await fetch(`${url}/healthz`);
      if (res.ok) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      child.kill("SIGTERM");
      throw new Error(`wrangler dev did not answer on ${url} within 90 s\n${log.slice(-4000)}`);
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  return {
    url,
    vars: options.vars,
    process: child,
    log: () => log,
    reloads: () => reloads,
    stop: () =>
      new Promise((resolve) => {
        if (child.exitCode !== null) return resolve();
        child.once("exit", () => resolve());
        child.kill("SIGTERM");
        setTimeout(() => child.kill("SIGKILL"), 5000).unref();
      }),
  };
}

/**
 * Everything `npm start` does, on a given port and state folder: for tests and benchmarks. The EHR
 * sandbox starts only when `ehrSandboxPort` is given (`npm start` uses 8103; tests pick their own).
 */
export async function startLocalPlatform(options: {
  port: number;
  persistTo: string;
  build?: boolean;
  ehrSandboxPort?: number;
}): Promise<RunningPlatform> {
  const vars = ensureDevVars();
  if (options.build !== false || !existsSync(path.join(ROOT, "web", "dist", "index.html"))) await buildWeb();
  await migrate(options.persistTo);
  await seedDemo(options.persistTo, vars);
  const ehrSandbox =
    options.ehrSandboxPort === undefined
      ? undefined
      : await startEhrSandbox({ port: options.ehrSandboxPort });
  let platform: RunningPlatform;
  try {
    platform = await startWorker({ port: options.port, persistTo: options.persistTo, vars });
  } catch (err) {
    await ehrSandbox?.stop();
    throw err;
  }
  const stop = async () => {
    await platform.stop();
    await ehrSandbox?.stop();
  };
  try {
    await seedDemoPatients(platform.url, vars.DEMO_API_KEY!);
    if (ehrSandbox) await seedDemoDataSource(platform.url, vars.DEMO_API_KEY!, ehrSandbox);
  } catch (err) {
    await stop();
    throw err;
  }
  return { ...platform, ehrSandbox, stop };
}
