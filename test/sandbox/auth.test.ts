import { randomUUID } from "node:crypto";
import type { CapabilityStatement, Patient } from "@medplum/fhirtypes";
import { type CryptoKey, exportJWK, generateKeyPair, type JWK, SignJWT } from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type EhrSandbox, startEhrSandbox } from "../../ehr-sandbox/server";
import { fhir, issues, PORTS } from "./helpers";

interface KeyPair {
  alg: "RS384" | "ES384";
  kid: string;
  privateKey: CryptoKey;
  publicJwk: JWK;
}

async function keyPair(alg: KeyPair["alg"]): Promise<KeyPair> {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
  const kid = randomUUID();
  return { alg, kid, privateKey, publicJwk: { ...(await exportJWK(publicKey)), kid, alg, use: "sig" } };
}

let sandbox: EhrSandbox;
let rsa: KeyPair;
let ec: KeyPair;
let stranger: KeyPair;

beforeAll(async () => {
  [rsa, ec, stranger] = await Promise.all([keyPair("RS384"), keyPair("ES384"), keyPair("RS384")]);
  sandbox = await startEhrSandbox({
    port: PORTS.auth,
    seed: { slotsFrom: "2026-12-07", days: 1 },
    clients: [{ clientId: "switchboard-rsa", jwks: { keys: [rsa.publicJwk] } }],
  });
  sandbox.registerClient({ clientId: "switchboard-ec", jwks: { keys: [ec.publicJwk] } });
  sandbox.registerClient({ clientId: "reporting", jwks: { keys: [rsa.publicJwk] }, scope: "system/*.read" });
});
afterAll(() => sandbox?.stop());

/** A client assertion as SMART Backend Services specifies it; `claims` overrides any part. */
function assertion(
  clientId: string,
  key: KeyPair,
  claims: { exp?: number; jti?: string; aud?: string; sub?: string } = {},
): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT({})
    .setProtectedHeader({ alg: key.alg, kid: key.kid, typ: "JWT" })
    .setIssuer(clientId)
    .setSubject(claims.sub ?? clientId)
    .setAudience(claims.aud ?? sandbox.tokenUrl)
    .setExpirationTime(claims.exp ?? now + 240)
    .setJti(claims.jti ?? randomUUID())
    .sign(key.privateKey);
}

async function requestToken(
  clientAssertion: string,
  scope = "system/*.read",
  overrides: Record<string, string> = {},
  tokenUrl = sandbox.tokenUrl,
): Promise<{ status: number; body: Record<string, string | number> }> {
  const res = await fetch(tokenUrl, {
    method: "POST",
    headers: { "Content-Type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams({
      grant_type: "client_credentials",
      client_assertion_type: "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
      client_assertion: clientAssertion,
      scope,
      ...overrides,
    }),
  });
  return { status: res.status, body: (await res.json()) as Record<string, string | number> };
}

describe("without a usable token", () => {
  it("answers 401 with an OperationOutcome and says where to get a token", async () => {
    for (const token of [null, "not-a-token"]) {
      const { status, body, headers } = await fhir(sandbox, "GET", "Patient/demo-001", { token });
      expect(status).toBe(401);
      expect(issues(body)).not.toHaveLength(0);
      expect(headers.get("www-authenticate")).toContain(sandbox.tokenUrl);
    }
  });

  it("still serves discovery: smart-configuration and the CapabilityStatement", async () => {
    const config = (await (
      await fetch(`${sandbox.fhirBaseUrl}/.well-known/smart-configuration`)
    ).json()) as Record<string, string[]>;
    expect(config.token_endpoint).toBe(sandbox.tokenUrl);
    expect(config.grant_types_supported).toContain("client_credentials");
    expect(config.token_endpoint_auth_methods_supported).toContain("private_key_jwt");
    expect(config.token_endpoint_auth_signing_alg_values_supported).toEqual(["RS384", "ES384"]);
    const metadata = await fhir<CapabilityStatement>(sandbox, "GET", "metadata", { token: null });
    expect(metadata.status).toBe(200);
    expect(metadata.body.fhirVersion).toBe("4.0.1");
    expect(metadata.body.rest?.[0]?.resource?.map((r) => r.type)).toContain("Appointment");
  });
});

describe("the static bearer token", () => {
  it("reads and writes", async () => {
    expect((await fhir(sandbox, "GET", "Patient/demo-001")).status).toBe(200);
    const made = await fhir(sandbox, "POST", "Communication", {
      body: {
        resourceType: "Communication",
        status: "completed",
        subject: { reference: "Patient/demo-001" },
      },
    });
    expect(made.status).toBe(201);
  });
});

describe("SMART Backend Services", () => {
  it.each([
    ["RS384", "switchboard-rsa"],
    ["ES384", "switchboard-ec"],
  ] as const)("issues a working access token for a valid %s assertion", async (_alg, clientId) => {
    const key = clientId === "switchboard-rsa" ? rsa : ec;
    const { status, body } = await requestToken(
      await assertion(clientId, key),
      "system/*.read system/*.write",
    );
    expect(status).toBe(200);
    expect(body).toMatchObject({
      token_type: "bearer",
      expires_in: 300,
      scope: "system/*.read system/*.write",
    });
    const token = String(body.access_token);
    const patient = await fhir<Patient>(sandbox, "GET", "Patient/demo-001", { token });
    expect(patient.status).toBe(200);
    expect(patient.body.id).toBe("demo-001");
    const written = await fhir(sandbox, "POST", "Communication", {
      token,
      body: { resourceType: "Communication", status: "completed" },
    });
    expect(written.status).toBe(201);
  });

  it("accepts an assertion addressed to the token URL under localhost", async () => {
    const localhost = sandbox.tokenUrl.replace("127.0.0.1", "localhost");
    const { status } = await requestToken(
      await assertion("switchboard-rsa", rsa, { aud: localhost }),
      undefined,
      {},
      localhost,
    );
    expect(status).toBe(200);
  });

  it("refuses an expired assertion with 401", async () => {
    const expired = await assertion("switchboard-rsa", rsa, { exp: Math.floor(Date.now() / 1000) - 60 });
    const { status, body } = await requestToken(expired);
    expect(status).toBe(401);
    expect(body.error).toBe("invalid_client");
  });

  it("refuses an assertion that lives longer than five minutes with 401", async () => {
    const tooLong = await assertion("switchboard-rsa", rsa, { exp: Math.floor(Date.now() / 1000) + 600 });
    const { status, body } = await requestToken(tooLong);
    expect(status).toBe(401);
    expect(String(body.error_description)).toContain("five minutes");
  });

  it("refuses a replayed jti with 401", async () => {
    const jti = randomUUID();
    expect((await requestToken(await assertion("switchboard-rsa", rsa, { jti }))).status).toBe(200);
    const replay = await requestToken(await assertion("switchboard-rsa", rsa, { jti }));
    expect(replay.status).toBe(401);
    expect(String(replay.body.error_description)).toContain("jti");
  });

  it("refuses an assertion signed with a key the client did not register, with 401", async () => {
    const forged = await assertion("switchboard-rsa", { ...stranger, kid: rsa.kid });
    const { status, body } = await requestToken(forged);
    expect(status).toBe(401);
    expect(body.error).toBe("invalid_client");
  });

  it("refuses another audience, a sub that is not the client, an unknown client and HS256, with 401", async () => {
    const cases = [
      await assertion("switchboard-rsa", rsa, { aud: "https://ehr.example.org/token" }),
      await assertion("switchboard-rsa", rsa, { sub: "someone-else" }),
      await assertion("unknown-client", rsa),
      await new SignJWT({})
        .setProtectedHeader({ alg: "HS256" })
        .setIssuer("switchboard-rsa")
        .setSubject("switchboard-rsa")
        .setAudience(sandbox.tokenUrl)
        .setExpirationTime("4m")
        .setJti(randomUUID())
        .sign(new TextEncoder().encode("a shared secret is not a private key")),
    ];
    for (const bad of cases) expect((await requestToken(bad)).status).toBe(401);
  });

  it("refuses malformed token requests with OAuth errors", async () => {
    const good = await assertion("switchboard-rsa", rsa);
    expect((await requestToken(good, "system/*.read", { grant_type: "password" })).body.error).toBe(
      "unsupported_grant_type",
    );
    expect((await requestToken(good, "system/*.read", { client_assertion_type: "basic" })).status).toBe(400);
    expect((await requestToken(await assertion("switchboard-rsa", rsa), "")).body.error).toBe(
      "invalid_request",
    );
  });

  it("grants no more than the client's registered scope, and enforces what it grants", async () => {
    const tooMuch = await requestToken(await assertion("reporting", rsa), "system/*.write");
    expect(tooMuch).toMatchObject({ status: 400, body: { error: "invalid_scope" } });

    const reader = await requestToken(await assertion("reporting", rsa), "system/*.read");
    const token = String(reader.body.access_token);
    expect((await fhir(sandbox, "GET", "Patient?_count=1", { token })).status).toBe(200);
    const write = await fhir(sandbox, "POST", "Communication", {
      token,
      body: { resourceType: "Communication", status: "completed" },
    });
    expect(write.status).toBe(403);

    const narrow = await requestToken(await assertion("switchboard-rsa", rsa), "system/Patient.rs");
    const patientsOnly = String(narrow.body.access_token);
    expect((await fhir(sandbox, "GET", "Patient/demo-001", { token: patientsOnly })).status).toBe(200);
    expect((await fhir(sandbox, "GET", "Practitioner/pr-okafor", { token: patientsOnly })).status).toBe(403);
  });

  it("stops accepting an access token once it expires", async () => {
    const shortLived = await startEhrSandbox({
      port: PORTS.authShortLived,
      seed: false,
      accessTokenSeconds: 1,
      clients: [{ clientId: "switchboard-rsa", jwks: { keys: [rsa.publicJwk] } }],
    });
    try {
      const signed = await new SignJWT({})
        .setProtectedHeader({ alg: rsa.alg, kid: rsa.kid })
        .setIssuer("switchboard-rsa")
        .setSubject("switchboard-rsa")
        .setAudience(shortLived.tokenUrl)
        .setExpirationTime("4m")
        .setJti(randomUUID())
        .sign(rsa.privateKey);
      const { body } = await requestToken(signed, "system/*.read", {}, shortLived.tokenUrl);
      const token = String(body.access_token);
      expect((await fhir(shortLived, "GET", "Patient?_count=1", { token })).status).toBe(200);
      await new Promise((r) => setTimeout(r, 1100));
      expect((await fhir(shortLived, "GET", "Patient?_count=1", { token })).status).toBe(401);
    } finally {
      await shortLived.stop();
    }
  });
});
