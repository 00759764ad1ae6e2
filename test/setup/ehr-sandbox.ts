import { exportJWK, exportPKCS8, generateKeyPair, type JWK } from "jose";
import type { TestProject } from "vitest/node";
import { startEhrSandbox } from "../../ehr-sandbox/server";

/** A SMART Backend Services client registered with the sandbox, with the private key a data source holds. */
export interface SandboxSmartClient {
  clientId: string;
  alg: "RS384" | "ES384";
  kid: string;
  /** The private key as a JWK (with its `kid` and `alg`). */
  privateJwk: JWK;
  /** The same key as a PKCS#8 PEM. */
  privatePem: string;
}

declare module "vitest" {
  export interface ProvidedContext {
    ehrSandbox: {
      url: string;
      fhirBaseUrl: string;
      tokenUrl: string;
      staticToken: string;
      /** One client per signing algorithm, granted `system/*.*`. */
      smartClients: Record<"rs384" | "es384", SandboxSmartClient>;
    };
  }
}

/** A fresh key pair for `alg`, registered as `clientId`'s only key (the sandbox checks `kid`). */
async function smartClient(alg: "RS384" | "ES384", clientId: string) {
  const { publicKey, privateKey } = await generateKeyPair(alg, { extractable: true });
  const kid = `${clientId}-key-1`;
  const client: SandboxSmartClient = {
    clientId,
    alg,
    kid,
    privateJwk: { ...(await exportJWK(privateKey)), kid, alg },
    privatePem: await exportPKCS8(privateKey),
  };
  const publicJwk = { ...(await exportJWK(publicKey)), kid, alg, use: "sig" };
  return { client, registration: { clientId, jwks: { keys: [publicJwk] }, scope: "system/*.*" } };
}

/**
 * One FHIR R4 sandbox (the demo clinic, slots from 2027-01-04) for the whole workerd suite, which
 * reaches it over the loopback: `inject("ehrSandbox")`. It is shared by every file, so tests create
 * their own patients and book slots no other test books (each file its own practitioner or day).
 * Keys are made here, in Node, because the sandbox registers SMART clients only through its options.
 */
export default async function setup(project: TestProject) {
  const [rs384, es384] = await Promise.all([
    smartClient("RS384", "switchboard-test-rs384"),
    smartClient("ES384", "switchboard-test-es384"),
  ]);
  const ehr = await startEhrSandbox({
    port: Number(process.env.EHR_TEST_PORT ?? 0),
    seed: { slotsFrom: "2027-01-04" },
    clients: [rs384.registration, es384.registration],
    // `/_sandbox/faults`: a test fails its own token's requests (writeback retries) without touching others'.
    faults: true,
  });
  project.provide("ehrSandbox", {
    url: ehr.url,
    fhirBaseUrl: ehr.fhirBaseUrl,
    tokenUrl: ehr.tokenUrl,
    staticToken: ehr.staticToken ?? "",
    smartClients: { rs384: rs384.client, es384: es384.client },
  });
  return () => ehr.stop();
}
