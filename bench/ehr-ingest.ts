/**
 * Issue "EHR integration" figure: ingest of a 1,000-resource FHIR Bundle into the world model through
 * `POST /v1/{ws}/data-sources/{id}/bundle`: 200 new patients, each with an AllergyIntolerance, a
 * MedicationStatement, a Condition and a Coverage. Every resource is validated as FHIR R4, mapped to
 * world events (about 1,600: two ingest batches), ingested, and logged as a source event. Every round
 * sends a fresh Bundle (new ids, names, phones), so every round creates 200 patient entities.
 * Baselines in the same run, rounds alternating:
 * - re-delivery: the previous round's Bundle again, every resource a duplicate found by its version in
 *   `source_events` before validation, nothing written (the cost of the request and the dedupe);
 * - world ingest: another fresh Bundle's resources mapped to world events here in Node (with the same
 *   mapping.ts) and sent to `POST /world/events` in batches of at most 1,000: ingestion without FHIR
 *   validation, mapping or the source-event log.
 */
import { resourceToEvents } from "../workers/ehr/mapping";
import { median } from "./lib";
import {
  BENCH_WORKSPACE,
  keepAlive,
  machineLoad,
  reloadWarning,
  syntheticPatient,
  timedRequest,
  withWorldPlatform,
  workerRestarted,
} from "./world-lib";

const PATIENTS = 200;
const RESOURCES = PATIENTS * 5;
const SOURCE_ID = "ds_benchehringest01";
const SOURCE_SYSTEM = "ehr";

/** A request dropped because `wrangler dev` reloaded under it. */
class WorkerRestarted extends Error {}

type Resource = Record<string, unknown> & { resourceType: string; id: string };

const SNOMED = "http://snomed.info/sct";
const ALLERGIES = [
  ["91936005", "Allergy to penicillin", "Penicillin"],
  ["300913006", "Shellfish allergy", "Shellfish"],
  ["300916003", "Latex allergy", "Latex"],
  ["91935009", "Allergy to peanuts", "Peanuts"],
];
const MEDICATIONS = [
  ["314076", "Lisinopril 10 MG Oral Tablet", 10],
  ["860975", "Metformin 500 MG Oral Tablet", 500],
  ["617312", "Atorvastatin 20 MG Oral Tablet", 20],
];
const CONDITIONS = [
  ["38341003", "Hypertension"],
  ["44054006", "Type 2 diabetes mellitus"],
  ["55822004", "Hyperlipidemia"],
];
const PAYERS = ["Aetna", "Blue Cross Blue Shield", "UnitedHealthcare", "Medicare"];

/** The n-th patient of a round and its four clinical resources, as an EHR stores them (version 1). */
function patientResources(tag: string, n: number): Resource[] {
  const p = syntheticPatient(n, tag);
  const id = `${tag}${n}`;
  const subject = { reference: `Patient/${id}` };
  const meta = { versionId: "1", lastUpdated: "2026-11-20T10:00:00.000Z" };
  const [allergyCode, allergyDisplay, allergyText] = ALLERGIES[n % ALLERGIES.length]!;
  const [rxCode, rxDisplay, dose] = MEDICATIONS[n % MEDICATIONS.length]!;
  const [conditionCode, conditionDisplay] = CONDITIONS[n % CONDITIONS.length]!;
  return [
    {
      resourceType: "Patient",
      id,
      meta,
      identifier: [
        {
          use: "usual",
          type: { coding: [{ system: "http://terminology.hl7.org/CodeSystem/v2-0203", code: "MR" }] },
          system: "urn:oid:2.16.840.1.113883.19.5",
          // Per round, like the ids: a repeated MRN would be the same person, and merge.
          value: `MRN-${tag}${n}`,
        },
      ],
      name: [{ use: "official", family: p.familyName, given: [p.givenName] }],
      telecom: [{ system: "phone", value: p.phone, use: "mobile" }],
      gender: n % 2 ? "female" : "male",
      birthDate: p.birthDate,
      address: [
        {
          use: "home",
          line: [`${100 + (n % 900)} Main Street`],
          city: "Springfield",
          state: "MA",
          postalCode: "01101",
        },
      ],
    },
    {
      resourceType: "AllergyIntolerance",
      id: `${id}-allergy`,
      meta,
      clinicalStatus: {
        coding: [
          { system: "http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical", code: "active" },
        ],
      },
      verificationStatus: {
        coding: [
          {
            system: "http://terminology.hl7.org/CodeSystem/allergyintolerance-verification",
            code: "confirmed",
          },
        ],
      },
      code: { coding: [{ system: SNOMED, code: allergyCode, display: allergyDisplay }], text: allergyText },
      patient: subject,
      reaction: [{ manifestation: [{ text: "Hives" }], severity: "moderate" }],
    },
    {
      resourceType: "MedicationStatement",
      id: `${id}-medication`,
      meta,
      status: "active",
      medicationCodeableConcept: {
        coding: [{ system: "http://www.nlm.nih.gov/research/umls/rxnorm", code: rxCode, display: rxDisplay }],
        text: rxDisplay,
      },
      subject,
      dosage: [
        {
          text: `${dose} mg daily`,
          timing: { repeat: { frequency: 1, period: 1, periodUnit: "d" } },
          doseAndRate: [{ doseQuantity: { value: dose, unit: "mg" } }],
        },
      ],
    },
    {
      resourceType: "Condition",
      id: `${id}-condition`,
      meta,
      clinicalStatus: {
        coding: [{ system: "http://terminology.hl7.org/CodeSystem/condition-clinical", code: "active" }],
      },
      verificationStatus: {
        coding: [{ system: "http://terminology.hl7.org/CodeSystem/condition-ver-status", code: "confirmed" }],
      },
      code: {
        coding: [{ system: SNOMED, code: conditionCode, display: conditionDisplay }],
        text: conditionDisplay,
      },
      subject,
    },
    {
      resourceType: "Coverage",
      id: `${id}-coverage`,
      meta,
      status: "active",
      beneficiary: subject,
      subscriberId: `M${String(n).padStart(8, "0")}`,
      payor: [{ display: PAYERS[n % PAYERS.length] }],
      class: [
        {
          type: {
            coding: [{ system: "http://terminology.hl7.org/CodeSystem/coverage-class", code: "group" }],
          },
          value: `GRP-${100 + (n % 50)}`,
          name: "Employer group",
        },
      ],
    },
  ];
}

/** `patients` patients of round `tag`, with their resources (five each), as one `collection` Bundle. */
export function bundleResources(tag: string, patients = PATIENTS): Resource[] {
  return Array.from({ length: patients }, (_, i) => patientResources(tag, 3_000_000 + i)).flat();
}

const bundleBody = (resources: Resource[]) =>
  JSON.stringify({
    resourceType: "Bundle",
    type: "collection",
    entry: resources.map((resource) => ({
      fullUrl: `https://ehr.example.test/fhir/${resource.resourceType}/${resource.id}`,
      resource,
    })),
  });

/** The same resources as world events (what the Worker's mapping makes of them), in ≤ 1,000-event batches. */
function eventBatches(resources: Resource[]): string[] {
  const events = resources.flatMap((resource) => {
    const mapped = resourceToEvents(resource, { id: SOURCE_ID, sourceSystem: SOURCE_SYSTEM });
    if (!mapped.ok) throw new Error(`${resource.resourceType} does not map: ${mapped.reason}`);
    return mapped.events;
  });
  const batches: string[] = [];
  for (let i = 0; i < events.length; i += 1000)
    batches.push(JSON.stringify({ events: events.slice(i, i + 1000) }));
  return batches;
}

export interface Figures {
  rounds: number;
  /** Median and worst time for the 1,000 resources, ms. */
  p50: number;
  max: number;
  resourcesPerSecond: number;
}

export interface EhrIngest {
  load: string;
  reloads: number;
  resources: number;
  events: number;
  payloadBytes: number;
  fresh: Figures;
  redelivery: Figures;
  worldIngest: Figures;
}

export async function ehrIngest(options = { rounds: 3, budgetSeconds: 150, port: 8807 }): Promise<EhrIngest> {
  return withWorldPlatform(
    options.port,
    async () => ({
      // The source the Bundles come through: push-only, so no cron ever polls it.
      files: [
        [
          `INSERT INTO data_sources (id, workspace_id, name, type, base_url, source_system, auth, resource_types) VALUES ('${SOURCE_ID}', '${BENCH_WORKSPACE}', 'Benchmark EHR', 'fhir_webhook', 'https://ehr.example.test/fhir', '${SOURCE_SYSTEM}', '{"type":"none"}', '["Patient"]');`,
        ],
      ],
      info: null,
    }),
    async (platform) => {
      const agent = keepAlive(1);
      const send = async (path: string, body: string) => {
        const answer = await timedRequest(agent, `${platform.url}/v1/${BENCH_WORKSPACE}${path}`, {
          method: "POST",
          headers: { Authorization: `Bearer ${platform.apiKey}` },
          body,
        });
        if (workerRestarted(answer)) throw new WorkerRestarted();
        if (answer.status !== 200)
          throw new Error(`${path} answered ${answer.status}: ${answer.body.slice(0, 1000)}`);
        return { ms: answer.ms, result: JSON.parse(answer.body) as Record<string, number> };
      };
      const importBundle = async (resources: Resource[], expect: "applied" | "duplicates") => {
        const answer = await send(`/data-sources/${SOURCE_ID}/bundle`, bundleBody(resources));
        if (answer.result[expect] !== resources.length)
          throw new Error(
            `expected ${resources.length} ${expect}, got ${JSON.stringify({ ...answer.result, results: undefined })}: ${JSON.stringify(
              (answer.result.results as unknown as { status: string }[]).find((r) => r.status !== expect),
            )}`,
          );
        return answer.ms;
      };
      const ingestEvents = async (batches: string[]) => {
        let ms = 0;
        for (const batch of batches) ms += (await send("/world/events", batch)).ms;
        return ms;
      };

      // Warm-up, not a figure: JIT, first Durable Objects, the validator's definitions, audit chain head.
      await importBundle(bundleResources("warm-a", 20), "applied");
      await ingestEvents(eventBatches(bundleResources("warm-b", 20)));
      const loadBefore = machineLoad();
      const started = performance.now();
      const reloadsBefore = platform.reloads();
      const times = { fresh: [] as number[], redelivery: [] as number[], worldIngest: [] as number[] };
      let previous: Resource[] | null = null;
      let payloadBytes = 0;
      let events = 0;
      let retries = 0;
      for (
        let round = 1, done = 0;
        done < options.rounds && (done === 0 || performance.now() - started < options.budgetSeconds * 1000);
        round++
      ) {
        const fresh = bundleResources(`r${round}-`);
        const plain = eventBatches(bundleResources(`w${round}-`));
        payloadBytes = bundleBody(fresh).length;
        events = eventBatches(fresh).reduce(
          (n, b) => n + (JSON.parse(b) as { events: unknown[] }).events.length,
          0,
        );
        try {
          const freshMs = await importBundle(fresh, "applied");
          const redeliveryMs = await importBundle(previous ?? fresh, "duplicates");
          const worldMs = await ingestEvents(plain);
          times.fresh.push(freshMs);
          times.redelivery.push(redeliveryMs);
          times.worldIngest.push(worldMs);
          previous = fresh;
          done++;
        } catch (err) {
          if (!(err instanceof WorkerRestarted) || ++retries > 2) throw err;
        }
      }
      agent.destroy();
      const figures = (values: number[]): Figures => {
        const p50 = median(values);
        return {
          rounds: values.length,
          p50,
          max: Math.max(...values),
          resourcesPerSecond: (RESOURCES * 1000) / p50,
        };
      };
      return {
        load: `${loadBefore} before, ${machineLoad()} after`,
        reloads: platform.reloads() - reloadsBefore,
        resources: RESOURCES,
        events,
        payloadBytes,
        fresh: figures(times.fresh),
        redelivery: figures(times.redelivery),
        worldIngest: figures(times.worldIngest),
      };
    },
  );
}

export function report(r: EhrIngest): string {
  const row = (name: string, x: Figures) =>
    `  ${name.padEnd(52)} p50 ${(x.p50 / 1000).toFixed(2).padStart(6)} s  max ${(x.max / 1000).toFixed(2).padStart(6)} s   ${x.resourcesPerSecond.toFixed(0).padStart(6)} resources/s   ${(x.p50 / r.worldIngest.p50).toFixed(2).padStart(5)}x world ingest`;
  return [
    `EHR ingest of a ${r.resources}-resource FHIR Bundle (${PATIENTS} new patients, each with an allergy, a medication, a condition and a coverage; ${r.events} world events; ${(r.payloadBytes / 1e6).toFixed(2)} MB; wrangler dev; ${r.fresh.rounds} rounds; ${r.load})`,
    row("POST .../bundle, fresh (validate, map, ingest, log)", r.fresh),
    row("re-delivery of a stored Bundle: all duplicates", r.redelivery),
    row(`world ingest of the mapped events (base)`, r.worldIngest),
    ...reloadWarning(r.reloads),
  ].join("\n");
}
