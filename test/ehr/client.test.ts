/**
 * The FHIR client against the sandbox: static bearer and SMART Backend Services (RS384 with a JWK,
 * ES384 with a PEM), the token cache (one token request for many calls, a new one after expiry or a
 * 401), the assertions it signs, paging that stays on the server's origin, conditional writes, and
 * failures as `FhirError`s that say whether to retry. Token requests are counted through a wrapped
 * `fetch`; each test files its tokens under its own cache key, so none reuses another's token.
 */
import { decodeJwt, decodeProtectedHeader, exportJWK, exportPKCS8, generateKeyPair } from "jose";
import { describe, expect, inject, it } from "vitest";
import { type FhirClientConfig, FhirError, fhirClientFor, importPrivateKey } from "../../workers/ehr/client";
import type { SourceAuth } from "../../workers/ehr/contracts";
import { unique } from "../helpers/workspace";

const ehr = inject("ehrSandbox");
const { rs384, es384 } = ehr.smartClients;

/** Every request the client makes, in order, passed on to the real `fetch` (or to `answer`). */
function recorder(answer?: (url: URL, init: RequestInit, real: typeof fetch) => Promise<Response>) {
  const calls: { method: string; url: URL; body: string | undefined }[] = [];
  const real: typeof fetch = (input, init) => fetch(input, init);
  const wrapped: typeof fetch = async (input, init = {}) => {
    const url = new URL(input instanceof Request ? input.url : String(input));
    calls.push({
      method: init.method ?? "GET",
      url,
      body: typeof init.body === "string" ? init.body : undefined,
    });
    return answer ? answer(url, init, real) : real(input, init);
  };
  return {
    fetch: wrapped,
    calls,
    tokenRequests: () => calls.filter((c) => c.url.href === ehr.tokenUrl),
    discoveries: () => calls.filter((c) => c.url.pathname.endsWith("/.well-known/smart-configuration")),
    fhirCalls: () =>
      calls.filter(
        (c) => c.url.href.startsWith(`${ehr.fhirBaseUrl}/`) && !c.url.pathname.includes("/.well-known/"),
      ),
  };
}

function smartConfig(
  client: typeof rs384,
  privateKey: string,
  extra: Partial<SourceAuth> = {},
): FhirClientConfig {
  return {
    baseUrl: ehr.fhirBaseUrl,
    auth: {
      type: "smart_backend",
      client_id: client.clientId,
      scope: "system/*.*",
      alg: client.alg,
      // A PEM carries no kid: the admin configures the one the EHR registered (a JWK names its own).
      ...(privateKey.startsWith("-----") ? { kid: client.kid } : {}),
      ...extra,
    } as SourceAuth,
    secrets: { private_key: privateKey },
  };
}

const staticConfig = (token = ehr.staticToken): FhirClientConfig => ({
  baseUrl: ehr.fhirBaseUrl,
  auth: { type: "static_bearer" },
  secrets: { bearer_token: token },
});

/** What a caught promise rejected with, asserted to be a FhirError. */
async function fhirError(promise: Promise<unknown>): Promise<FhirError> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(FhirError);
  return err as FhirError;
}

const outcome = (text: string) =>
  new Response(
    JSON.stringify({
      resourceType: "OperationOutcome",
      issue: [{ severity: "error", code: "exception", diagnostics: text }],
    }),
    { status: 500, headers: { "Content-Type": "application/fhir+json" } },
  );

describe("a static bearer token", () => {
  it("reads, searches and pages through the sandbox with FHIR JSON headers", async () => {
    const rec = recorder();
    const client = fhirClientFor(staticConfig(), { fetch: rec.fetch });
    const practitioner = await client.read("Practitioner", "pr-okafor");
    expect(practitioner).toMatchObject({ resourceType: "Practitioner", id: "pr-okafor" });

    // The four seeded practitioners by id: other files share this sandbox and may add their own.
    const first = await client.search("Practitioner", {
      _id: "pr-okafor,pr-lindqvist,pr-reyes,pr-chen",
      _count: "3",
    });
    expect(first.total).toBe(4);
    expect(first.entry).toHaveLength(3);
    const next = first.link?.find((l) => l.relation === "next")?.url;
    expect(next).toBeDefined();
    const second = await client.page(next!);
    expect(second.entry).toHaveLength(1);
    const ids = [...first.entry!, ...second.entry!].map((e) => e.resource?.id).sort();
    expect(ids).toEqual(["pr-chen", "pr-lindqvist", "pr-okafor", "pr-reyes"]);
    expect(rec.calls).toHaveLength(3);
    expect(rec.tokenRequests()).toHaveLength(0);
  });

  it("sends repeated search parameters once per value", async () => {
    const client = fhirClientFor(staticConfig());
    const bundle = await client.search("Practitioner", { _id: ["pr-okafor,pr-chen"], _count: "10" });
    expect(bundle.entry?.map((e) => e.resource?.id).sort()).toEqual(["pr-chen", "pr-okafor"]);
  });

  it("fails with a non-retryable 401 when the token is wrong, without retrying", async () => {
    const rec = recorder();
    const client = fhirClientFor(staticConfig("not-the-sandbox-token"), { fetch: rec.fetch });
    const err = await fhirError(client.read("Practitioner", "pr-okafor"));
    expect(err.status).toBe(401);
    expect(err.retryable).toBe(false);
    expect(rec.calls).toHaveLength(1);
  });

  it("answers 404 for a resource that does not exist, not retryable", async () => {
    const err = await fhirError(fhirClientFor(staticConfig()).read("Patient", `nobody-${unique()}`));
    expect(err.status).toBe(404);
    expect(err.retryable).toBe(false);
  });

  it("sends no Authorization header with auth none (the sandbox refuses it)", async () => {
    const rec = recorder();
    const client = fhirClientFor(
      { baseUrl: ehr.fhirBaseUrl, auth: { type: "none" }, secrets: {} },
      { fetch: rec.fetch },
    );
    const err = await fhirError(client.read("Practitioner", "pr-okafor"));
    expect(err.status).toBe(401);
    const res = await client.request("GET", "metadata");
    expect(res.status).toBe(200);
    expect(((await res.json()) as { resourceType: string }).resourceType).toBe("CapabilityStatement");
  });
});

describe("SMART Backend Services", () => {
  it.each([
    ["RS384 with a private JWK", rs384, JSON.stringify(rs384.privateJwk)],
    ["ES384 with a PKCS#8 PEM", es384, es384.privatePem],
  ])("%s: discovers the token endpoint, gets one token and reuses it", async (_, client, key) => {
    const rec = recorder();
    const cacheKey = `test-${unique()}`;
    const fhir = fhirClientFor(smartConfig(client, key), { fetch: rec.fetch, cacheKey });
    expect((await fhir.read("Practitioner", "pr-reyes")).id).toBe("pr-reyes");
    expect((await fhir.search("Location", { _count: "5" })).total).toBe(2);
    // A second client for the same source and credentials shares the token.
    const again = fhirClientFor(smartConfig(client, key), { fetch: rec.fetch, cacheKey });
    expect((await again.read("Practitioner", "pr-chen")).id).toBe("pr-chen");

    expect(rec.tokenRequests()).toHaveLength(1);
    expect(rec.fhirCalls()).toHaveLength(3);
    // The token request is the form SMART specifies.
    const form = new URLSearchParams(rec.tokenRequests()[0]!.body);
    expect(form.get("grant_type")).toBe("client_credentials");
    expect(form.get("scope")).toBe("system/*.*");
    expect(form.get("client_assertion_type")).toBe("urn:ietf:params:oauth:client-assertion-type:jwt-bearer");
    expect(rec.discoveries().length).toBeLessThanOrEqual(1);
  });

  it("signs assertions with the registered kid, iss = sub = client id, aud = token URL, exp ≤ 5 min, a fresh jti", async () => {
    const rec = recorder();
    const assertions: string[] = [];
    for (let i = 0; i < 3; i++) {
      // A fresh cache key each time forces a new token request.
      const fhir = fhirClientFor(smartConfig(rs384, JSON.stringify(rs384.privateJwk)), {
        fetch: rec.fetch,
        cacheKey: `test-${unique()}`,
      });
      await fhir.read("Practitioner", "pr-okafor");
    }
    for (const request of rec.tokenRequests()) {
      assertions.push(new URLSearchParams(request.body).get("client_assertion")!);
    }
    expect(assertions).toHaveLength(3);
    const now = Math.floor(Date.now() / 1000);
    for (const assertion of assertions) {
      expect(decodeProtectedHeader(assertion)).toEqual({ alg: "RS384", kid: rs384.kid, typ: "JWT" });
      const claims = decodeJwt(assertion);
      expect(claims.iss).toBe(rs384.clientId);
      expect(claims.sub).toBe(rs384.clientId);
      expect(claims.aud).toBe(ehr.tokenUrl);
      expect(claims.exp! - now).toBeGreaterThan(60);
      expect(claims.exp! - now).toBeLessThanOrEqual(300);
    }
    const jtis = assertions.map((a) => decodeJwt(a).jti);
    expect(new Set(jtis).size).toBe(3);
    expect(jtis.every((jti) => typeof jti === "string" && jti.length >= 16)).toBe(true);
  });

  it("uses a configured token URL without discovery", async () => {
    const rec = recorder();
    const fhir = fhirClientFor(smartConfig(es384, es384.privatePem, { token_url: ehr.tokenUrl }), {
      fetch: rec.fetch,
      cacheKey: `test-${unique()}`,
    });
    await fhir.read("Location", "loc-main");
    expect(rec.discoveries()).toHaveLength(0);
    expect(rec.tokenRequests()).toHaveLength(1);
  });

  it("shares one token request among concurrent calls", async () => {
    const rec = recorder();
    const fhir = fhirClientFor(smartConfig(rs384, rs384.privatePem), {
      fetch: rec.fetch,
      cacheKey: `test-${unique()}`,
    });
    const read = await Promise.all(
      ["pr-okafor", "pr-lindqvist", "pr-reyes", "pr-chen"].map((id) => fhir.read("Practitioner", id)),
    );
    expect(read.map((p) => p.id)).toEqual(["pr-okafor", "pr-lindqvist", "pr-reyes", "pr-chen"]);
    expect(rec.tokenRequests()).toHaveLength(1);
  });

  it("gets a new token once the old one is about to expire", async () => {
    // The sandbox's tokens live 300 s; this EHR says 4 s, so the client keeps it for 2 s.
    const rec = recorder(async (url, init, real) => {
      const res = await real(url, init);
      if (url.href !== ehr.tokenUrl || !res.ok) return res;
      const body = (await res.json()) as Record<string, unknown>;
      return Response.json({ ...body, expires_in: 4 });
    });
    const fhir = fhirClientFor(smartConfig(rs384, rs384.privatePem), {
      fetch: rec.fetch,
      cacheKey: `test-${unique()}`,
    });
    await fhir.read("Practitioner", "pr-okafor");
    await fhir.read("Practitioner", "pr-okafor");
    expect(rec.tokenRequests()).toHaveLength(1);
    await new Promise((resolve) => setTimeout(resolve, 2_100));
    await fhir.read("Practitioner", "pr-okafor");
    expect(rec.tokenRequests()).toHaveLength(2);
  });

  it("drops a token the FHIR server rejects (401) and retries once with a new one", async () => {
    let rejectNext = true;
    const rec = recorder(async (url, init, real) => {
      if (url.href.startsWith(`${ehr.fhirBaseUrl}/Practitioner`) && rejectNext) {
        rejectNext = false;
        return new Response(null, { status: 401 });
      }
      return real(url, init);
    });
    const fhir = fhirClientFor(smartConfig(rs384, rs384.privatePem), {
      fetch: rec.fetch,
      cacheKey: `test-${unique()}`,
    });
    expect((await fhir.read("Practitioner", "pr-okafor")).id).toBe("pr-okafor");
    expect(rec.tokenRequests()).toHaveLength(2);
    expect(rec.fhirCalls()).toHaveLength(2);
    const [first, second] = rec
      .tokenRequests()
      .map((r) => new URLSearchParams(r.body).get("client_assertion"));
    expect(first).not.toBe(second);
  });

  it("gives up after one retry when the server keeps answering 401", async () => {
    const rec = recorder(async (url, init, real) =>
      url.href.startsWith(`${ehr.fhirBaseUrl}/`) ? new Response(null, { status: 401 }) : real(url, init),
    );
    const fhir = fhirClientFor(smartConfig(es384, es384.privatePem), {
      fetch: rec.fetch,
      cacheKey: `test-${unique()}`,
    });
    const err = await fhirError(fhir.read("Practitioner", "pr-okafor"));
    expect(err.status).toBe(401);
    expect(err.retryable).toBe(false);
    expect(rec.fhirCalls()).toHaveLength(2);
  });

  it("fails with a non-retryable 401 (invalid_client) when signed by a key the EHR does not know", async () => {
    const { privateKey } = await generateKeyPair("RS384", { extractable: true });
    const stranger = JSON.stringify({ ...(await exportJWK(privateKey)), kid: rs384.kid });
    const rec = recorder();
    const fhir = fhirClientFor(smartConfig(rs384, stranger), {
      fetch: rec.fetch,
      cacheKey: `test-${unique()}`,
    });
    const err = await fhirError(fhir.read("Practitioner", "pr-okafor"));
    expect(err.status).toBe(401);
    expect(err.retryable).toBe(false);
    expect(err.issues.join(" ")).toMatch(/invalid_client/);
    expect(rec.fhirCalls()).toHaveLength(0);
    // Nothing was cached: the next call asks again, and fails the same way.
    await fhirError(fhir.read("Practitioner", "pr-okafor"));
    expect(rec.tokenRequests()).toHaveLength(2);
  });

  it("reports a scope the EHR cannot grant as a non-retryable 400", async () => {
    const config = smartConfig(rs384, rs384.privatePem, { scope: "patient/*.read" });
    const err = await fhirError(
      fhirClientFor(config, { cacheKey: `test-${unique()}` }).read("Practitioner", "pr-okafor"),
    );
    expect(err.status).toBe(400);
    expect(err.retryable).toBe(false);
    expect(err.issues.join(" ")).toMatch(/invalid_scope/);
  });

  it("retries a token endpoint that answers 503, as a retryable error", async () => {
    const rec = recorder(async (url, init, real) =>
      url.href === ehr.tokenUrl
        ? new Response("busy", { status: 503, headers: { "Retry-After": "7" } })
        : real(url, init),
    );
    const fhir = fhirClientFor(smartConfig(rs384, rs384.privatePem), {
      fetch: rec.fetch,
      cacheKey: `test-${unique()}`,
    });
    const err = await fhirError(fhir.read("Practitioner", "pr-okafor"));
    expect(err).toMatchObject({ status: 503, retryable: true, retryAfterSeconds: 7 });
  });
});

describe("importPrivateKey", () => {
  it("accepts the registered keys as JWK and PEM, keeping the JWK's kid or making a thumbprint", async () => {
    expect((await importPrivateKey(JSON.stringify(rs384.privateJwk), "RS384")).kid).toBe(rs384.kid);
    const fromPem = await importPrivateKey(rs384.privatePem, "RS384");
    expect(fromPem.kid).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect((await importPrivateKey(es384.privatePem, "ES384", "chosen-kid")).kid).toBe("chosen-kid");
  });

  it.each([
    ["an RSA key for ES384", async () => [rs384.privatePem, "ES384"] as const],
    ["a P-384 key for RS384", async () => [es384.privatePem, "RS384"] as const],
    [
      "a P-256 key for ES384",
      async () => {
        const { privateKey } = await generateKeyPair("ES256", { extractable: true });
        return [await exportPKCS8(privateKey), "ES384"] as const;
      },
    ],
    [
      "a public JWK",
      async () => {
        const { d: _d, p: _p, q: _q, dp: _dp, dq: _dq, qi: _qi, ...pub } = rs384.privateJwk;
        return [JSON.stringify(pub), "RS384"] as const;
      },
    ],
    [
      "a JWK for another alg",
      async () => [JSON.stringify({ ...es384.privateJwk, alg: "ES256" }), "ES384"] as const,
    ],
    [
      "a PKCS#1 PEM",
      async () => ["-----BEGIN RSA PRIVATE KEY-----\nMIIB\n-----END RSA PRIVATE KEY-----", "RS384"] as const,
    ],
    [
      "a PEM with a corrupt body",
      async () => ["-----BEGIN PRIVATE KEY-----\nnot base64!\n-----END PRIVATE KEY-----", "RS384"] as const,
    ],
    ["text", async () => ["my secret key", "RS384"] as const],
  ])("refuses %s, naming the problem without the key", async (_, make) => {
    const [key, alg] = await make();
    const err = await importPrivateKey(key, alg).then(
      () => undefined,
      (e: Error) => e,
    );
    expect(err).toBeInstanceOf(Error);
    expect(err!.message.length).toBeGreaterThan(5);
    expect(err!.message).not.toContain(key.length > 60 ? key.slice(30, 60) : key);
  });
});

describe("failures", () => {
  it("turns a 500 into a retryable FhirError carrying the OperationOutcome's diagnostics", async () => {
    const fhir = fhirClientFor(staticConfig(), { fetch: async () => outcome("database unavailable") });
    const err = await fhirError(fhir.read("Patient", "demo-001"));
    expect(err).toMatchObject({ status: 500, retryable: true, issues: ["database unavailable"] });
    expect(err.message).not.toContain("demo-001");
  });

  it("truncates long diagnostics and keeps at most five", async () => {
    const body = {
      resourceType: "OperationOutcome",
      issue: Array.from({ length: 8 }, (_, i) => ({
        severity: "error",
        code: "invalid",
        diagnostics: `${i}${"x".repeat(1000)}`,
      })),
    };
    const fhir = fhirClientFor(staticConfig(), { fetch: async () => Response.json(body, { status: 422 }) });
    const err = await fhirError(fhir.create({ resourceType: "Patient" }));
    expect(err.status).toBe(422);
    expect(err.retryable).toBe(false);
    expect(err.issues).toHaveLength(5);
    expect(err.issues.every((issue) => issue.length <= 300)).toBe(true);
  });

  it.each([408, 429, 502, 503, 504])("treats %i as retryable", async (status) => {
    const fhir = fhirClientFor(staticConfig(), { fetch: async () => new Response("", { status }) });
    expect((await fhirError(fhir.search("Slot", { status: "free" }))).retryable).toBe(true);
  });

  it("turns a server that does not answer in time into a retryable status 0", async () => {
    const hang: typeof fetch = (_input, init) =>
      new Promise((_, reject) => init?.signal?.addEventListener("abort", () => reject(init.signal!.reason)));
    const fhir = fhirClientFor(staticConfig(), { fetch: hang, timeoutMs: 100 });
    const started = Date.now();
    const err = await fhirError(fhir.read("Patient", "demo-001"));
    expect(err).toMatchObject({ status: 0, retryable: true });
    expect(err.message).toMatch(/no answer within 100 ms/);
    expect(Date.now() - started).toBeLessThan(5_000);
  });

  it("turns a connection failure into a retryable status 0, without the URL", async () => {
    // What workerd's fetch throws for a refused connection (a real one also logs an internal uncaught error).
    const refused: typeof fetch = async () => {
      throw new Error("Network connection lost.");
    };
    const fhir = fhirClientFor(
      { ...staticConfig(), baseUrl: "http://127.0.0.1:9/fhir/R4" },
      { fetch: refused },
    );
    const err = await fhirError(fhir.search("Patient", { name: "Maria" }));
    expect(err).toMatchObject({ status: 0, retryable: true });
    expect(err.message).not.toMatch(/127\.0\.0\.1|Maria/);
  });

  it("refuses a next link on another origin, without calling it", async () => {
    const rec = recorder();
    const fhir = fhirClientFor(staticConfig(), { fetch: rec.fetch });
    const origin = new URL(ehr.fhirBaseUrl);
    const elsewhere = [
      "https://attacker.example/fhir/R4/Patient?_cursor=x",
      `https://${origin.host}/fhir/R4/Patient`,
      `http://${origin.hostname}:${Number(origin.port) + 1}/fhir/R4/Patient`,
      `http://localhost:${origin.port}/fhir/R4/Patient`,
      "//attacker.example/fhir/R4/Patient",
      "file:///etc/passwd",
    ];
    for (const url of elsewhere) {
      const err = await fhirError(fhir.page(url));
      expect(err.retryable, url).toBe(false);
    }
    await fhirError(fhir.request("GET", "https://attacker.example/metadata"));
    expect(rec.calls).toHaveLength(0);
  });
});

describe("writes", () => {
  const patient = (identifier: string) => ({
    resourceType: "Patient",
    identifier: [{ system: "urn:switchboard:test", value: identifier }],
    name: [{ family: "Testwrite", given: ["Ada"] }],
    gender: "female",
  });

  it("create with If-None-Exist makes one resource, however often it is sent", async () => {
    const fhir = fhirClientFor(staticConfig());
    const identifier = `client-${unique()}`;
    const ifNoneExist = `identifier=urn:switchboard:test|${identifier}`;
    const created = await fhir.create(patient(identifier), { ifNoneExist });
    expect(created.status).toBe(201);
    expect(created.resource).toMatchObject({ resourceType: "Patient", meta: { versionId: "1" } });
    expect(created.location).toBe(`${ehr.fhirBaseUrl}/Patient/${created.resource.id}/_history/1`);
    expect(created.etag).toBe('W/"1"');
    const again = await fhir.create(patient(identifier), { ifNoneExist: `?${ifNoneExist}` });
    expect(again.status).toBe(200);
    expect(again.resource.id).toBe(created.resource.id);
    const found = await fhir.search("Patient", { identifier: `urn:switchboard:test|${identifier}` });
    expect(found.total).toBe(1);
  });

  it("update with If-Match: the current version wins, a stale one gets a non-retryable 412", async () => {
    const fhir = fhirClientFor(staticConfig());
    const { resource } = await fhir.create(patient(`client-${unique()}`));
    const updated = await fhir.update({ ...resource, gender: "other" }, { ifMatch: "1" });
    expect(updated.status).toBe(200);
    expect(updated.resource).toMatchObject({ gender: "other", meta: { versionId: "2" } });
    expect(updated.etag).toBe('W/"2"');
    for (const stale of ["1", '"1"', 'W/"1"']) {
      const err = await fhirError(fhir.update({ ...resource, gender: "male" }, { ifMatch: stale }));
      expect(err).toMatchObject({ status: 412, retryable: false });
    }
    expect((await fhir.read("Patient", resource.id!)).gender).toBe("other");
  });

  it("reads the resource from Location when the server answers a create without a body", async () => {
    const rec = recorder(async (url, init, real) => {
      const res = await real(url, init);
      if (init.method !== "POST") return res;
      await res.arrayBuffer();
      return new Response(null, { status: res.status, headers: res.headers });
    });
    const fhir = fhirClientFor(staticConfig(), { fetch: rec.fetch });
    const created = await fhir.create(patient(`client-${unique()}`));
    expect(created.status).toBe(201);
    expect(created.resource).toMatchObject({ resourceType: "Patient", name: [{ family: "Testwrite" }] });
    expect(rec.calls.map((c) => c.method)).toEqual(["POST", "GET"]);
  });

  it("reads it back from its own server when the Location names an internal host", async () => {
    const rec = recorder(async (url, init, real) => {
      const res = await real(url, init);
      if (init.method !== "POST") return res;
      const { id } = (await res.json()) as { id: string };
      const headers = new Headers(res.headers);
      headers.set("Location", `http://fhir-internal:8080/fhir/Patient/${id}/_history/1`);
      return new Response(null, { status: res.status, headers });
    });
    const fhir = fhirClientFor(staticConfig(), { fetch: rec.fetch });
    const created = await fhir.create(patient(`client-${unique()}`));
    expect(created.location).toBe(`http://fhir-internal:8080/fhir/Patient/${created.resource.id}/_history/1`);
    expect(rec.calls.map((c) => c.url.origin)).toEqual([
      new URL(ehr.fhirBaseUrl).origin,
      new URL(ehr.fhirBaseUrl).origin,
    ]);
    expect(rec.calls[1]!.url.href).toBe(`${ehr.fhirBaseUrl}/Patient/${created.resource.id}`);
  });

  it("reports the server's validation messages on an invalid resource", async () => {
    const fhir = fhirClientFor(staticConfig());
    const err = await fhirError(fhir.create({ resourceType: "Patient", gender: 42 } as never));
    expect(err.status).toBe(400);
    expect(err.retryable).toBe(false);
    expect(err.issues.length).toBeGreaterThan(0);
  });
});
