/**
 * `npm start`: the whole platform locally, with the demo workspace. Idempotent: data in
 * .wrangler/state survives restarts, and seeding only fills what is missing.
 */
import path from "node:path";
import { DEFAULT_EHR_SANDBOX_PORT, startEhrSandbox } from "../ehr-sandbox/server";
import { DEMO_USERS, DEMO_WORKSPACE } from "./demo-data";
import {
  buildWeb,
  ensureDevVars,
  migrate,
  ROOT,
  seedDemo,
  seedDemoDataSource,
  seedDemoPatients,
  seedDemoSurface,
  startWorker,
} from "./local-platform";

const port = Number(process.env.PORT ?? 8787);
const ehrPort = Number(process.env.EHR_SANDBOX_PORT ?? DEFAULT_EHR_SANDBOX_PORT);
const persistTo = path.join(ROOT, ".wrangler", "state");

const step = (text: string) => console.log(`\u25b8 ${text}`);

step("Secrets: .dev.vars");
const vars = ensureDevVars();
step("Building the dashboard (web/ → web/dist)");
await buildWeb();
step("Applying D1 migrations locally");
await migrate(persistTo);
step(`Seeding the demo workspace "${DEMO_WORKSPACE.id}"`);
await seedDemo(persistTo, vars);
step(`Starting the FHIR EHR sandbox on port ${ehrPort}`);
const ehr = await startEhrSandbox({ port: ehrPort });
console.log(
  `  ${ehr.seeded.Patient ?? 0} patients, ${ehr.seeded.Slot ?? 0} free slots (${(ehr.startupMs / 1000).toFixed(1)} s)`,
);
step(`Starting wrangler dev on port ${port}`);
const platform = await startWorker({ port, persistTo, vars, inherit: true }).catch(async (err) => {
  await ehr.stop();
  throw err;
});
step("Seeding the demo patients through the ingest API");
const seeded = await seedDemoPatients(platform.url, vars.DEMO_API_KEY!).catch(async (err) => {
  await platform.stop();
  await ehr.stop();
  throw err;
});
console.log(
  `  ${seeded.patients} patients: ${seeded.stored} events stored, ${seeded.duplicates} already there (${(seeded.ms / 1000).toFixed(1)} s)`,
);
step("Connecting the demo workspace to the EHR sandbox (data source, Subscription, first poll)");
const source = await seedDemoDataSource(platform.url, vars.DEMO_API_KEY!, ehr).catch(async (err) => {
  await platform.stop();
  await ehr.stop();
  throw err;
});
console.log(`  data source ${source.id} (${source.created ? "created" : "updated"}); polling every 5 min`);
step("A demo patient form (surface) and the gap requirement that asks for it");
const surface = await seedDemoSurface(platform.url, vars.DEMO_API_KEY!).catch(async (err) => {
  await platform.stop();
  await ehr.stop();
  throw err;
});

const url = platform.url.replace("127.0.0.1", "localhost");
console.log(`
  Switchboard is running.

  Dashboard      ${url}/
  API reference  ${url}/docs   (OpenAPI: ${url}/openapi.json)
  Workspace      ${DEMO_WORKSPACE.id} — ${DEMO_WORKSPACE.name}

  Demo logins
${DEMO_USERS.map((u) => `    ${u.role.padEnd(9)} ${u.email.padEnd(30)} ${u.password}`).join("\n")}

  API key (owner, from .dev.vars DEMO_API_KEY)
    curl -H "Authorization: Bearer ${vars.DEMO_API_KEY}" ${url}/v1/demo/services

  EHR sandbox    ${ehr.fhirBaseUrl}   (FHIR R4, in memory, fresh on every start)
    curl -H "Authorization: Bearer ${ehr.staticToken}" "${ehr.fhirBaseUrl}/Patient?_count=2"
    SMART Backend Services: ${ehr.tokenUrl}; see ehr-sandbox/README.md
    Pipeline health: ${url}/pipeline   (data source ${source.id})

  A patient's form (what they get by text; open it on a phone-sized window)
    ${surface.link.replace("127.0.0.1", "localhost")}
    Surfaces: ${url}/surfaces   Outbox (what would be sent): ${url}/outbox

  Ctrl-C to stop. Data is kept in .wrangler/state.
`);

const shutdown = () => Promise.all([platform.stop(), ehr.stop()]).then(() => process.exit(0));
process.on("SIGINT", shutdown);
process.on("SIGTERM", shutdown);
