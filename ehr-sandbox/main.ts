/**
 * `npm run ehr-sandbox`: the FHIR R4 sandbox on its own, for working on an EHR integration without the
 * rest of the platform. `EHR_SANDBOX_PORT` picks the port (default 8103); `EHR_SANDBOX_CLIENTS` may
 * name a JSON file of SMART Backend Services clients (`[{ "clientId", "jwks" | "jwksUrl", "scope"? }]`).
 */
import { readFileSync } from "node:fs";
import { z } from "zod";
import { DEFAULT_EHR_SANDBOX_PORT, type SmartClient, startEhrSandbox } from "./server";

const Clients = z.array(
  z
    .object({
      clientId: z.string().min(1),
      jwks: z.object({ keys: z.array(z.record(z.string(), z.unknown())) }).optional(),
      jwksUrl: z.url().optional(),
      scope: z.string().optional(),
    })
    .refine((c) => !c.jwks !== !c.jwksUrl, "give exactly one of jwks, jwksUrl"),
);

const clientsFile = process.env.EHR_SANDBOX_CLIENTS;
const clients = clientsFile
  ? (Clients.parse(JSON.parse(readFileSync(clientsFile, "utf8"))) as SmartClient[])
  : [];
const sandbox = await startEhrSandbox({
  port: Number(process.env.EHR_SANDBOX_PORT ?? DEFAULT_EHR_SANDBOX_PORT),
  clients,
});
const counts = Object.entries(sandbox.seeded)
  .map(([type, n]) => `${n} ${type}`)
  .join(", ");
console.info(`
  EHR sandbox (FHIR R4) is running, started in ${(sandbox.startupMs / 1000).toFixed(1)} s.

  FHIR base      ${sandbox.fhirBaseUrl}
  Token URL      ${sandbox.tokenUrl}   (SMART Backend Services; ${clients.length} client(s) registered)
  Static token   ${sandbox.staticToken}
  Seeded         ${counts}

    curl -H "Authorization: Bearer ${sandbox.staticToken}" "${sandbox.fhirBaseUrl}/Patient?_count=2"

  Ctrl-C to stop. Data lives in memory: every start is the same fresh clinic.
`);

const shutdown = () => sandbox.stop().then(() => process.exit(0));
process.on("SIGINT", shutdown);
process.on("SIGTERM", shutdown);
