/**
 * Plumbing for the world-model benchmarks. Large worlds are written as SQL in Node, with the blind indexes
 * and field encryption the Worker computes (same derivations, same ENCRYPTION_KEY from .dev.vars, checked
 * against shared/crypto before use), and loaded with `wrangler d1 execute --file` before `wrangler dev`
 * starts: going through the ingest API for 100k patients would take far longer than the figure measured. Requests are timed one by one
 * with `performance.now()` over keep-alive sockets, bounded in count and in time.
 */
import { createCipheriv, createHmac, hkdfSync } from "node:crypto";
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { Agent, request } from "node:http";
import { cpus, loadavg, tmpdir } from "node:os";
import path from "node:path";
import {
  buildWeb,
  type DevVars,
  ensureDevVars,
  migrate,
  ROOT,
  type RunningPlatform,
  run,
  seedDemo,
  startWorker,
} from "../scripts/local-platform";
import { apiKeyHint, generateApiKey, hashApiKey } from "../shared/auth/api-key";
import { blindIndex } from "../shared/crypto/blind-index";
import { decryptField } from "../shared/crypto/encryption";
import { fromBase64Url, randomBytes, toBase64Url, utf8 } from "../shared/encoding";
import { type EventType, parseEventData } from "../shared/world/events";
import { identifierKeys } from "../shared/world/resolution";

/** The benchmarks' own workspace, so their data never mixes with the demo's. */
export const BENCH_WORKSPACE = "bench-world";

// ---------------------------------------------------------------------------------------------------------
// Platform

export interface SeedTiming {
  /** Computing hashes, ciphertexts and SQL text in Node. */
  generateMs: number;
  /** `wrangler d1 execute --file`, all files. */
  loadMs: number;
  files: number;
  megabytes: number;
}

export interface WorldPlatform extends RunningPlatform {
  /** An owner key of BENCH_WORKSPACE. */
  apiKey: string;
  seedTiming: SeedTiming;
  /**
   * How often `wrangler dev` has reloaded so far. It reloads when a file it watches changes (sources,
   * `web/dist` rebuilt by another process), which drops requests in flight and evicts every Durable
   * Object: figures taken across a reload are suspect.
   */
  reloads(): number;
}

/** Statements for one `wrangler d1 execute` each: D1 runs a file as one batch, kept to a few MB. */
export type SeedFiles = string[][];

/**
 * A private platform on `port` whose D1 holds the demo seed, BENCH_WORKSPACE with an owner key, and
 * whatever `seed` returns, loaded before `wrangler dev` starts.
 */
export async function withWorldPlatform<S, T>(
  port: number,
  seed: (vars: DevVars) => Promise<{ files: SeedFiles; info: S }>,
  body: (platform: WorldPlatform, info: S) => Promise<T>,
): Promise<T> {
  const persistTo = mkdtempSync(path.join(stateRoot(), "switchboard-bench-world-"));
  const sqlDir = path.join(persistTo, "seed-sql");
  mkdirSync(sqlDir);
  let platform: RunningPlatform | null = null;
  try {
    const vars = ensureDevVars();
    if (!existsDist()) await buildWeb();
    await migrate(persistTo);
    await seedDemo(persistTo, vars);
    const apiKey = generateApiKey();
    const started = performance.now();
    const seeded = await seed(vars);
    const files = [await workspaceSql(apiKey), ...seeded.files];
    const generateMs = performance.now() - started;
    let bytes = 0;
    const paths = files.map((statements, i) => {
      const file = path.join(sqlDir, `${String(i).padStart(3, "0")}.sql`);
      const text = statements.join("\n");
      bytes += Buffer.byteLength(text);
      writeFileSync(file, text);
      return file;
    });
    const loadStarted = performance.now();
    for (const file of paths) {
      await run(
        path.join(ROOT, "node_modules", ".bin", "wrangler"),
        ["d1", "execute", "DB", "--local", "--persist-to", persistTo, "--file", file],
        { quiet: true },
      );
    }
    const seedTiming: SeedTiming = {
      generateMs,
      loadMs: performance.now() - loadStarted,
      files: paths.length,
      megabytes: bytes / 1e6,
    };
    rmSync(sqlDir, { recursive: true, force: true });
    platform = await startWorker({ port, persistTo, vars });
    // The Worker's log, kept for the error message when a request fails.
    let log = "";
    let reloads = 0;
    const keep = (d: Buffer) => {
      const text = d.toString();
      reloads += text.split("Reloading local server").length - 1;
      log = (log + text).slice(-200_000);
    };
    platform.process.stdout?.on("data", keep);
    platform.process.stderr?.on("data", keep);
    try {
      return await body({ ...platform, apiKey, seedTiming, reloads: () => reloads }, seeded.info);
    } catch (err) {
      await new Promise((r) => setTimeout(r, 1000));
      // Log lines are cut short: a failed query's message carries every bound value.
      const tail = log
        .split("\n")
        .slice(-40)
        .map((line) => (line.length > 800 ? `${line.slice(0, 400)} … ${line.slice(-400)}` : line))
        .join("\n");
      if (err instanceof Error) err.message += `\n--- wrangler dev log (tail) ---\n${tail}`;
      throw err;
    }
  } finally {
    await platform?.stop();
    rmSync(persistTo, { recursive: true, force: true });
  }
}

/**
 * Where the local D1 and Durable Object files go: tmpfs when there is one, so loading 100k patients takes
 * about half as long as on a VM disk, and figures do not swing with its fsync latency.
 * `BENCH_STATE_DIR` overrides.
 */
export const stateRoot = () =>
  process.env.BENCH_STATE_DIR ?? (existsSync("/dev/shm") ? "/dev/shm" : tmpdir());

const existsDist = () => existsSync(path.join(ROOT, "web", "dist", "index.html"));

async function workspaceSql(apiKey: string): Promise<string[]> {
  return [
    `INSERT INTO workspaces (id, name, timezone) VALUES (${q(BENCH_WORKSPACE)}, 'Benchmark clinic', 'UTC');`,
    insertRows(
      "api_keys",
      ["id", "workspace_id", "name", "role", "key_hash", "key_hint"],
      [
        [
          "key_bench-world",
          BENCH_WORKSPACE,
          "Benchmark owner key",
          "owner",
          await hashApiKey(apiKey),
          apiKeyHint(apiKey),
        ],
      ],
    )[0]!,
  ];
}

// ---------------------------------------------------------------------------------------------------------
// SQL

type SqlValue = string | number | null;

const q = (v: SqlValue): string =>
  v === null ? "NULL" : typeof v === "number" ? String(v) : `'${v.replaceAll("'", "''")}'`;

/**
 * Multi-row INSERTs of literal values (the 100-parameter limit is for binds), each statement kept under
 * D1's 100 KB statement limit.
 */
export function insertRows(
  table: string,
  columns: string[],
  rows: SqlValue[][],
  maxBytes = 90_000,
): string[] {
  const head = `INSERT INTO ${table} (${columns.join(", ")}) VALUES\n`;
  const out: string[] = [];
  let values: string[] = [];
  let size = head.length;
  for (const row of rows) {
    const tuple = `(${row.map(q).join(",")})`;
    if (size + tuple.length + 2 > maxBytes && values.length > 0) {
      out.push(`${head}${values.join(",\n")};`);
      values = [];
      size = head.length;
    }
    values.push(tuple);
    size += tuple.length + 2;
  }
  if (values.length > 0) out.push(`${head}${values.join(",\n")};`);
  return out;
}

/** Cuts statements into files of about `megabytes` each. */
export function intoFiles(statements: string[], megabytes = 8): SeedFiles {
  const files: SeedFiles = [];
  let current: string[] = [];
  let size = 0;
  for (const s of statements) {
    if (size + s.length > megabytes * 1e6 && current.length > 0) {
      files.push(current);
      current = [];
      size = 0;
    }
    current.push(s);
    size += s.length;
  }
  if (current.length > 0) files.push(current);
  return files;
}

// ---------------------------------------------------------------------------------------------------------
// Node-side crypto

/**
 * The Worker's blind index and field encryption, computed with node:crypto's synchronous calls: WebCrypto
 * in Node costs tens of microseconds per promise, about a minute for 100k patients. Same HKDF derivations
 * as shared/crypto/{blind-index,encryption}.ts; `workspaceCrypto` proves the match against those modules
 * before anything is generated.
 */
export interface WorkspaceCrypto {
  blindIndex(kind: string, value: string): string;
  seal(field: string, plaintext: string): string;
}

export async function workspaceCrypto(masterKey: string, workspaceId: string): Promise<WorkspaceCrypto> {
  const master = fromBase64Url(masterKey);
  const derive = (salt: string) =>
    Buffer.from(hkdfSync("sha256", master, utf8.encode(salt), utf8.encode(workspaceId), 32));
  const indexKey = derive("switchboard-blind-index");
  const fieldKey = derive("switchboard-field-encryption");
  const local: WorkspaceCrypto = {
    blindIndex: (kind, value) => createHmac("sha256", indexKey).update(`${kind}\u0000${value}`).digest("hex"),
    seal: (field, plaintext) => {
      const iv = randomBytes(12);
      const cipher = createCipheriv("aes-256-gcm", fieldKey, iv);
      cipher.setAAD(utf8.encode(`${workspaceId}:${field}`));
      const body = Buffer.concat([cipher.update(plaintext, "utf8"), cipher.final(), cipher.getAuthTag()]);
      return `v1.${toBase64Url(iv)}.${toBase64Url(body)}`;
    },
  };
  const probe = "+12125550123";
  if (local.blindIndex("phone", probe) !== (await blindIndex(masterKey, workspaceId, "phone", probe)))
    throw new Error("Node-side blind index differs from shared/crypto/blind-index.ts");
  if ((await decryptField(masterKey, workspaceId, "probe", local.seal("probe", probe))) !== probe)
    throw new Error("Node-side sealing does not open with shared/crypto/encryption.ts");
  return local;
}

// ---------------------------------------------------------------------------------------------------------
// Synthetic patients

const words = (text: string) => text.split(/\s+/).filter(Boolean);
const GIVEN = words(`Mary James Ana Wei Fatima Noah Olivia Liam Priya Mateo
  Chloe Omar Grace Diego Aisha Ethan Mei Lucas Zara Samuel`);
const FAMILY = words(`Garcia Smith Nguyen Okafor Kowalski Haddad Johnson Rossi Kim Silva
  Patel Muller Cohen Tanaka Ivanova Brown Dubois Hansen Lopez Osei`);
const AREA_CODES = ["212", "310", "415", "617", "312", "206", "303", "512", "404", "305"];
/** Central-office codes libphonenumber accepts for these area codes: not N11, 555, 950, 958, 959, 976. */
const EXCHANGES = Array.from({ length: 700 }, (_, i) => 230 + i)
  .filter((x) => x % 100 !== 11 && ![555, 950, 958, 959, 976].includes(x))
  .map(String);

export interface SyntheticPatient {
  id: string;
  externalId: string;
  phone: string;
  givenName: string;
  familyName: string;
  birthDate: string;
  displayName: string;
}

/**
 * The n-th patient of a run: distinct, valid phone and external id for every n below 69 million, and a
 * distinct name + birth date below 13 million (400 names × 34,000 birth dates), as in a real practice
 * where that pair rarely repeats.
 */
export function syntheticPatient(n: number, tag: string): SyntheticPatient {
  const area = AREA_CODES[n % AREA_CODES.length]!;
  const rest = Math.floor(n / AREA_CODES.length);
  const exchange = EXCHANGES[Math.floor(rest / 10_000) % EXCHANGES.length]!;
  const line = String(rest % 10_000).padStart(4, "0");
  const givenName = GIVEN[n % GIVEN.length]!;
  const familyName = FAMILY[Math.floor(n / GIVEN.length) % FAMILY.length]!;
  const day = Math.floor(n / (GIVEN.length * FAMILY.length)) % 34_000;
  const birthDate = new Date(Date.UTC(1930, 0, 1) + day * 86_400_000).toISOString().slice(0, 10);
  return {
    id: `ent_${toBase64Url(randomBytes(16))}`,
    externalId: `ehr:Patient:${tag}${n}`,
    phone: `+1${area}${exchange}${line}`,
    givenName,
    familyName,
    birthDate,
    displayName: `${givenName} ${familyName}`,
  };
}

/**
 * world_entities rows and their identifier index (external id, phone, name + birth date), hashed and
 * sealed as `refreshIdentity` in workers/world/ingest.ts does.
 */
export function patientRowsSql(
  wc: WorkspaceCrypto,
  workspaceId: string,
  patients: SyntheticPatient[],
  eventCount: (p: SyntheticPatient) => number = () => 0,
): string[] {
  // Timestamps are left to the column defaults: a fifth less SQL to load.
  const entities = patients.map((p) => [
    p.id,
    workspaceId,
    "patient",
    wc.seal(`world_entities.display_name:${p.id}`, p.displayName),
    "ehr",
    1,
    eventCount(p),
  ]);
  const identifiers = patients.flatMap((p) =>
    identifierKeys({
      external_id: p.externalId,
      phone: p.phone,
      given_name: p.givenName,
      family_name: p.familyName,
      birth_date: p.birthDate,
    }).map((k) => [workspaceId, k.kind, wc.blindIndex(k.kind, k.value), p.id]),
  );
  return [
    ...insertRows(
      "world_entities",
      ["id", "workspace_id", "entity_type", "display_name_enc", "source", "confidence", "event_count"],
      entities,
    ),
    ...insertRows("entity_identifiers", ["workspace_id", "kind", "value_hash", "entity_id"], identifiers),
  ];
}

/** `count` patients with identity but no events, in primary-key order (which loads about twice as fast). */
export function backgroundPatients(count: number, tag: string): SyntheticPatient[] {
  return Array.from({ length: count }, (_, n) => syntheticPatient(n, tag)).sort((a, b) =>
    a.id < b.id ? -1 : 1,
  );
}

// ---------------------------------------------------------------------------------------------------------
// Synthetic event histories

const MEDICATIONS = Array.from(
  { length: 40 },
  (_, i) => `Medication ${String.fromCharCode(65 + (i % 26))}${i}`,
);
const ALLERGENS = ["Penicillin", "Peanuts", "Latex", "Sulfa", "Shellfish", "Aspirin", "Iodine", "Codeine"];
const CONDITIONS = Array.from({ length: 25 }, (_, i) => `Condition ${i}`);
const PAYERS = ["Aetna", "Blue Cross", "Medicare"];

/**
 * The i-th event of a long patient history: half are interactions (calls, texts), a tenth tasks, the rest
 * repeated updates of demographics, contact, preferences, medications, allergies, conditions and
 * coverage. Valid for `parseEventData` (checked when the SQL is built).
 */
export function historyEvent(i: number, p: SyntheticPatient): { eventType: EventType; data: unknown } {
  const when = new Date(Date.UTC(2021, 0, 1) + i * 3_600_000 * 4).toISOString();
  switch (i % 20) {
    case 0:
      return {
        eventType: "demographics.recorded",
        data: { given_name: p.givenName, family_name: p.familyName, birth_date: p.birthDate, language: "en" },
      };
    case 1:
      return { eventType: "contact.recorded", data: { phone: p.phone } };
    case 2:
      return {
        eventType: "preference.recorded",
        data: { channel: i % 3 ? "sms" : "voice", contact_time: "any" },
      };
    case 3:
    case 4:
      return {
        eventType: "medication.recorded",
        data: { name: MEDICATIONS[i % MEDICATIONS.length], dose: "10 mg", frequency: "daily" },
      };
    case 5:
      return {
        eventType: "allergy.recorded",
        data: { substance: ALLERGENS[i % ALLERGENS.length], reaction: "rash", severity: "moderate" },
      };
    case 6:
      return { eventType: "condition.recorded", data: { name: CONDITIONS[i % CONDITIONS.length] } };
    case 7:
      return {
        eventType: "coverage.recorded",
        data: { payer: PAYERS[i % PAYERS.length], member_id: `M${i % 997}` },
      };
    case 8:
    case 9:
      return {
        eventType: "task.recorded",
        data: { task_id: `task-${i}`, kind: "callback", due_at: when, status: i % 4 ? "done" : "open" },
      };
    default:
      return {
        eventType: "interaction.recorded",
        data: {
          interaction_id: `int-${i}`,
          channel: i % 2 ? "voice" : "sms",
          direction: "inbound",
          occurred_at: when,
          summary: "Caller asked about an upcoming appointment and a prescription refill.",
          topics: ["scheduling", "refill"],
        },
      };
  }
}

/** `count` world_events rows for one patient, `data` sealed like `sealEventData` in workers/world/codec.ts. */
export function historySql(
  wc: WorkspaceCrypto,
  workspaceId: string,
  patient: SyntheticPatient,
  count: number,
): string[] {
  const now = new Date().toISOString();
  const rows = Array.from({ length: count }, (_, i) => {
    const { eventType, data } = historyEvent(i, patient);
    const parsed = parseEventData(eventType, "patient", data);
    if (!parsed.ok) throw new Error(`synthetic ${eventType} is invalid: ${JSON.stringify(parsed.issues)}`);
    const id = `evt_${toBase64Url(randomBytes(16))}`;
    const effectiveAt = new Date(Date.UTC(2021, 0, 1) + i * 3_600_000 * 4).toISOString();
    const source = i % 20 >= 10 ? "voice" : "ehr";
    return [
      id,
      workspaceId,
      patient.id,
      "patient",
      eventType.split(".")[0]!,
      eventType,
      wc.seal(`world_events.data:${id}`, JSON.stringify(parsed.data)),
      source === "ehr" ? 1 : 0.3,
      source,
      effectiveAt,
      now,
      `bench:${patient.id}:${i}`,
    ];
  });
  return insertRows(
    "world_events",
    [
      "id",
      "workspace_id",
      "entity_id",
      "entity_type",
      "domain",
      "event_type",
      "data_enc",
      "confidence",
      "source",
      "effective_at",
      "ingested_at",
      "idempotency_key",
    ],
    rows,
  );
}

// ---------------------------------------------------------------------------------------------------------
// Timed requests

export interface Latency {
  requests: number;
  p50: number;
  p95: number;
  p99: number;
  mean: number;
}

export function percentile(values: number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

export function latencyOf(samples: number[]): Latency {
  return {
    requests: samples.length,
    p50: percentile(samples, 50),
    p95: percentile(samples, 95),
    p99: percentile(samples, 99),
    mean: samples.reduce((a, b) => a + b, 0) / Math.max(1, samples.length),
  };
}

export interface HttpAnswer {
  status: number;
  body: string;
  ms: number;
}

/** One request over `agent`, timed from just before it is written to the last byte of the answer. */
export function timedRequest(
  agent: Agent,
  url: string,
  options: { method?: string; headers?: Record<string, string>; body?: string } = {},
): Promise<HttpAnswer> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const req = request(
      url,
      {
        agent,
        method: options.method ?? "GET",
        headers: {
          ...options.headers,
          ...(options.body !== undefined
            ? { "content-type": "application/json", "content-length": Buffer.byteLength(options.body) }
            : {}),
        },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () =>
          resolve({
            status: res.statusCode ?? 0,
            body: Buffer.concat(chunks).toString("utf8"),
            ms: performance.now() - started,
          }),
        );
        res.on("error", reject);
      },
    );
    req.setTimeout(120_000, () => req.destroy(new Error(`no answer from ${url} within 120 s`)));
    req.on("error", reject);
    req.end(options.body);
  });
}

/** `wrangler dev` answers this when it reloaded while the request was in flight. */
export const workerRestarted = (answer: HttpAnswer) =>
  answer.status === 503 && answer.body.includes("restarted mid-request");

/** The line a report adds when `wrangler dev` reloaded during the measurement. */
export const reloadWarning = (reloads: number) =>
  reloads > 0
    ? [
        `  WARNING: wrangler dev reloaded ${reloads} time(s) during the measurement (a watched file changed, e.g. web/dist rebuilt by another process): run again.`,
      ]
    : [];

/**
 * `concurrency` workers issue requests back to back until `count` requests are done or `seconds` have
 * passed. Every answer must have status `expect`, or be dropped by a `wrangler dev` reload (not counted:
 * the caller checks `reloads()`); returns each request's latency in ms.
 */
export async function latencyRun(options: {
  agent: Agent;
  url: string;
  method?: string;
  headers?: Record<string, string>;
  body?: (i: number) => string;
  count: number;
  seconds: number;
  concurrency: number;
  expect?: number;
}): Promise<number[]> {
  const samples: number[] = [];
  const deadline = performance.now() + options.seconds * 1000;
  let issued = 0;
  const worker = async () => {
    while (issued < options.count && performance.now() < deadline) {
      const i = issued++;
      const answer = await timedRequest(options.agent, options.url, {
        method: options.method,
        headers: options.headers,
        body: options.body?.(i),
      });
      if (workerRestarted(answer)) continue;
      if (answer.status !== (options.expect ?? 200))
        throw new Error(`${options.url} answered ${answer.status}: ${answer.body.slice(0, 500)}`);
      samples.push(answer.ms);
    }
  };
  await Promise.all(Array.from({ length: options.concurrency }, worker));
  return samples;
}

export const keepAlive = (sockets: number) => new Agent({ keepAlive: true, maxSockets: sockets });

/**
 * The 1-minute load average (this benchmark's own seeding and requests included) and the CPU count:
 * figures only compare across runs at similar load.
 */
export const machineLoad = () => `load ${loadavg()[0]!.toFixed(1)} on ${cpus().length} CPUs`;

export const ms = (v: number) => `${v.toFixed(v < 10 ? 2 : 1)} ms`;
