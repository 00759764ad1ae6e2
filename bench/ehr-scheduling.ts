/**
 * Issue "EHR integration" figure: a slot search and a booking, the round trip the agent makes to book a
 * visit, through the local platform's API (`GET /v1/demo/scheduling/slots` for the next free slot, then
 * `POST /v1/demo/scheduling/appointments`) against the benchmark's own FHIR sandbox; p50/p95 over 100
 * round trips at concurrency 1, each round trip a different free slot and patient. Baselines measured in
 * the same run, rounds interleaved so machine noise hits all alike: the same round trip made directly
 * against the sandbox (a Slot search, then a conditional Appointment create: what the EHR itself costs),
 * a bare FHIR read (the sandbox's floor), and an authenticated `GET /v1/demo/services` (the platform's
 * floor for an authenticated route). Switchboard's share is the round trip minus the direct one.
 */
import { randomUUID } from "node:crypto";
import type { Agent } from "node:http";
import { type EhrSandbox, startEhrSandbox } from "../ehr-sandbox/server";
import { withPlatform } from "./lib";
import {
  type HttpAnswer,
  keepAlive,
  type Latency,
  latencyOf,
  machineLoad,
  ms,
  timedRequest,
} from "./world-lib";

const PRACTITIONERS = ["pr-okafor", "pr-lindqvist", "pr-reyes", "pr-chen"];
const BENCH_IDENTIFIER_SYSTEM = "https://switchboard.health/bench";

export interface EhrScheduling {
  load: string;
  iterations: number;
  /** Search + book through the platform, and its two halves. */
  roundTrip: Latency;
  search: Latency;
  book: Latency;
  /** The same round trip made straight to the sandbox. */
  directRoundTrip: Latency;
  fhirRead: Latency;
  servicesGet: Latency;
}

export async function ehrScheduling(
  options = { iterations: 100, warmup: 5, port: 8805, sandboxPort: 8815 },
): Promise<EhrScheduling> {
  const ehr = await startEhrSandbox({ port: options.sandboxPort });
  try {
    return await withPlatform(options.port, async (platform) => {
      const agent = keepAlive(4);
      const key = platform.vars.DEMO_API_KEY!;
      const auth = { Authorization: `Bearer ${key}` };
      const api = (method: string, path: string, body?: unknown) =>
        timedRequest(agent, `${platform.url}/v1/demo${path}`, {
          method,
          headers: auth,
          ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
        });

      // The demo workspace's EHR is this sandbox: a fhir_store with writeback, through the admin API.
      // Its source system is the demo seed's, so the demo patients' FHIR ids are taken as they are.
      const created = await api("POST", "/data-sources", {
        name: `Bench sandbox ${randomUUID().slice(0, 8)}`,
        type: "fhir_store",
        base_url: ehr.fhirBaseUrl,
        source_system: "demo-ehr",
        auth: { type: "static_bearer" },
        secrets: { bearer_token: ehr.staticToken },
        resource_types: ["Appointment"],
        writeback: true,
      });
      expectStatus(created, 201, "create the data source");
      const patients = await demoPatients(api);

      let turn = 0;
      const next = () => {
        const i = turn++;
        return {
          practitioner: PRACTITIONERS[i % PRACTITIONERS.length]!,
          patient: patients[i % patients.length]!,
        };
      };
      const viaPlatform = async () => {
        const { practitioner, patient } = next();
        const start = new Date().toISOString();
        const search = await api(
          "GET",
          `/scheduling/slots?practitioner_id=${practitioner}&start_after=${start}&limit=1`,
        );
        expectStatus(search, 200, "slot search");
        const slot = JSON.parse(search.body).results[0];
        if (!slot) throw new Error(`no free slot left for ${practitioner}`);
        const book = await api("POST", "/scheduling/appointments", {
          slot_id: slot.slot_id,
          patient,
          idempotency_key: `bench-${randomUUID()}`,
        });
        expectStatus(book, 201, "booking");
        return { search: search.ms, book: book.ms };
      };
      const direct = () => directRoundTrip(agent, ehr, next().practitioner);
      const fhirRead = async () => {
        const read = await timedRequest(agent, `${ehr.fhirBaseUrl}/Practitioner/pr-chen`, {
          headers: fhirHeaders(ehr),
        });
        expectStatus(read, 200, "FHIR read");
        return read.ms;
      };
      const services = async () => {
        const res = await api("GET", "/services");
        expectStatus(res, 200, "GET /services");
        return res.ms;
      };

      // Warm-up: isolate, JIT, the scheduling module's schedule and capability caches, token paths.
      for (let i = 0; i < options.warmup; i++) {
        await viaPlatform();
        await direct();
        await fhirRead();
        await services();
      }
      const samples = { roundTrip: [] as number[], search: [] as number[], book: [] as number[] };
      const baseline = { direct: [] as number[], read: [] as number[], services: [] as number[] };
      for (let i = 0; i < options.iterations; i++) {
        const { search, book } = await viaPlatform();
        samples.search.push(search);
        samples.book.push(book);
        samples.roundTrip.push(search + book);
        baseline.direct.push(await direct());
        baseline.read.push(await fhirRead());
        baseline.services.push(await services());
      }
      agent.destroy();
      return {
        load: machineLoad(),
        iterations: options.iterations,
        roundTrip: latencyOf(samples.roundTrip),
        search: latencyOf(samples.search),
        book: latencyOf(samples.book),
        directRoundTrip: latencyOf(baseline.direct),
        fhirRead: latencyOf(baseline.read),
        servicesGet: latencyOf(baseline.services),
      };
    });
  } finally {
    await ehr.stop();
  }
}

/** The next free slot of a practitioner and a conditional create of its Appointment, straight to FHIR. */
async function directRoundTrip(agent: Agent, ehr: EhrSandbox, practitioner: string): Promise<number> {
  const headers = fhirHeaders(ehr);
  const schedule = `Schedule/sch-${practitioner.replace(/^pr-/, "")}`;
  const query = new URLSearchParams({
    schedule,
    status: "free",
    start: `ge${new Date().toISOString()}`,
    _sort: "start",
    _count: "1",
  });
  const search = await timedRequest(agent, `${ehr.fhirBaseUrl}/Slot?${query}`, { headers });
  expectStatus(search, 200, "direct Slot search");
  const slot = JSON.parse(search.body).entry?.[0]?.resource;
  if (!slot) throw new Error(`no free slot left for ${practitioner}`);
  const value = randomUUID();
  const create = await timedRequest(agent, `${ehr.fhirBaseUrl}/Appointment`, {
    method: "POST",
    headers: { ...headers, "If-None-Exist": `identifier=${BENCH_IDENTIFIER_SYSTEM}|${value}` },
    body: JSON.stringify({
      resourceType: "Appointment",
      identifier: [{ system: BENCH_IDENTIFIER_SYSTEM, value }],
      status: "booked",
      start: slot.start,
      end: slot.end,
      slot: [{ reference: `Slot/${slot.id}` }],
      participant: [
        { actor: { reference: "Patient/demo-001" }, status: "accepted" },
        { actor: { reference: `Practitioner/${practitioner}` }, status: "accepted" },
      ],
    }),
  });
  expectStatus(create, 201, "direct Appointment create");
  return search.ms + create.ms;
}

const fhirHeaders = (ehr: EhrSandbox) => ({
  Authorization: `Bearer ${ehr.staticToken}`,
  Accept: "application/fhir+json",
});

/** The demo patients' entity ids (their events name their sandbox Patient). */
async function demoPatients(api: (method: string, path: string) => Promise<HttpAnswer>): Promise<string[]> {
  const res = await api("GET", "/world/entities?entity_type=patient&limit=100");
  expectStatus(res, 200, "list patients");
  const ids = (JSON.parse(res.body).results as { id: string }[]).map((e) => e.id);
  if (ids.length === 0) throw new Error("the demo workspace has no patients");
  return ids;
}

function expectStatus(answer: HttpAnswer, status: number, what: string): void {
  if (answer.status !== status)
    throw new Error(`${what} answered ${answer.status}: ${answer.body.slice(0, 500)}`);
}

export function report(r: EhrScheduling): string {
  const row = (name: string, x: Latency) =>
    `${name.padEnd(44)} p50 ${ms(x.p50).padStart(9)}   p95 ${ms(x.p95).padStart(9)}   mean ${ms(x.mean).padStart(9)}`;
  return [
    `Slot search + booking round trip through the API against the FHIR sandbox, ${r.iterations} round trips at concurrency 1 (wrangler dev, ${r.load})`,
    row("search + book via /v1/demo/scheduling", r.roundTrip),
    row("  GET /scheduling/slots (next free slot)", r.search),
    row("  POST /scheduling/appointments (book)", r.book),
    row("baseline: the same round trip, direct FHIR", r.directRoundTrip),
    row("baseline: FHIR read Practitioner", r.fhirRead),
    row("baseline: GET /v1/demo/services (key)", r.servicesGet),
    `Switchboard's share of the round trip (p50): ${ms(r.roundTrip.p50 - r.directRoundTrip.p50)}`,
  ].join("\n");
}
