/**
 * Fault injection (`faults: true`): a token registered with `POST /_sandbox/faults` gets the static
 * token's access, and the failures set for it hit only requests carrying it, so test files sharing one
 * sandbox never see each other's faults. Without the option the control does not exist.
 */
import type { Patient } from "@medplum/fhirtypes";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type EhrSandbox, startEhrSandbox } from "../../ehr-sandbox/server";
import { fhir, TEST_SEED } from "./helpers";

let sandbox: EhrSandbox;
let plain: EhrSandbox;

beforeAll(async () => {
  // Port 0: a free port each, so this file needs no entry in the suite's port table.
  [sandbox, plain] = await Promise.all([
    startEhrSandbox({ port: 0, seed: TEST_SEED, faults: true }),
    startEhrSandbox({ port: 0, seed: false }),
  ]);
});
afterAll(async () => {
  await Promise.all([sandbox?.stop(), plain?.stop()]);
});

let counter = 0;
const freshToken = () => `fault-token-${Date.now()}-${++counter}`;

async function control(
  target: EhrSandbox,
  method: string,
  path: string,
  body?: unknown,
  token?: string | null,
) {
  const res = await fetch(`${target.url}${path}`, {
    method,
    headers: {
      ...(token === null ? {} : { Authorization: `Bearer ${token ?? target.staticToken}` }),
      ...(body === undefined ? {} : { "Content-Type": "application/json" }),
    },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : null };
}

describe("fault injection", () => {
  it("fails the next N requests carrying the token, then answers normally", async () => {
    const token = freshToken();
    const set = await control(sandbox, "POST", "/_sandbox/faults", { token, status: 503, count: 2 });
    expect(set.status).toBe(200);
    expect(set.body).toMatchObject({ token, status: 503, remaining: 2, requests: 0, faulted: 0 });

    const statuses: number[] = [];
    for (let i = 0; i < 3; i++)
      statuses.push((await fhir<Patient>(sandbox, "GET", "Patient/demo-001", { token })).status);
    expect(statuses).toEqual([503, 503, 200]);
    // Other callers (the static token) were never affected.
    expect((await fhir(sandbox, "GET", "Patient/demo-001")).status).toBe(200);

    const counters = await control(sandbox, "GET", `/_sandbox/faults/${token}`);
    expect(counters.body).toMatchObject({ remaining: 0, requests: 3, faulted: 2 });
  });

  it("answers a failed request with an OperationOutcome, and writes nothing", async () => {
    const token = freshToken();
    await control(sandbox, "POST", "/_sandbox/faults", { token, status: 500, count: 1 });
    const identifier = { system: "urn:test:faults", value: token };
    const failed = await fhir(sandbox, "POST", "AllergyIntolerance", {
      token,
      body: {
        resourceType: "AllergyIntolerance",
        identifier: [identifier],
        patient: { reference: "Patient/demo-001" },
      },
    });
    expect(failed.status).toBe(500);
    expect(failed.body).toMatchObject({ resourceType: "OperationOutcome" });
    const found = await fhir<{ total: number }>(
      sandbox,
      "GET",
      `AllergyIntolerance?identifier=${identifier.system}|${identifier.value}&_summary=count`,
    );
    expect(found.body.total).toBe(0);
  });

  it("limits faults to a path prefix when given one", async () => {
    const token = freshToken();
    await control(sandbox, "POST", "/_sandbox/faults", {
      token,
      status: 429,
      count: 5,
      path_prefix: "/AllergyIntolerance",
    });
    expect((await fhir(sandbox, "GET", "Patient/demo-002", { token })).status).toBe(200);
    expect(
      (await fhir(sandbox, "GET", "AllergyIntolerance?patient=Patient/demo-002", { token })).status,
    ).toBe(429);
    expect((await control(sandbox, "GET", `/_sandbox/faults/${token}`)).body).toMatchObject({
      remaining: 4,
      requests: 2,
      faulted: 1,
    });
  });

  it("holds a request unanswered for a timeout fault, until the client gives up", async () => {
    const token = freshToken();
    await control(sandbox, "POST", "/_sandbox/faults", { token, status: "timeout", count: 1 });
    const started = Date.now();
    const outcome = await fetch(`${sandbox.fhirBaseUrl}/Patient/demo-003`, {
      headers: { Authorization: `Bearer ${token}` },
      signal: AbortSignal.timeout(300),
    }).then(
      (res) => `answered ${res.status}`,
      (err: Error) => err.name,
    );
    expect(outcome).toBe("TimeoutError");
    expect(Date.now() - started).toBeGreaterThanOrEqual(290);
    expect((await fhir(sandbox, "GET", "Patient/demo-003", { token })).status).toBe(200);
  });

  it("clears a token's faults with count 0; the token keeps working", async () => {
    const token = freshToken();
    await control(sandbox, "POST", "/_sandbox/faults", { token, status: 500, count: 10 });
    await control(sandbox, "POST", "/_sandbox/faults", { token, status: 500, count: 0 });
    expect((await fhir(sandbox, "GET", "Patient/demo-004", { token })).status).toBe(200);
  });

  it("requires the static token, and refuses invalid rules", async () => {
    const token = freshToken();
    expect(
      (await control(sandbox, "POST", "/_sandbox/faults", { token, status: 500, count: 1 }, null)).status,
    ).toBe(401);
    expect(
      (
        await control(
          sandbox,
          "POST",
          "/_sandbox/faults",
          { token, status: 500, count: 1 },
          "not-the-static-token",
        )
      ).status,
    ).toBe(401);
    for (const bad of [
      { token, status: 404, count: 1 },
      { token, status: 500, count: -1 },
      { token: "short", status: 500, count: 1 },
      { token: sandbox.staticToken, status: 500, count: 1 },
      { token, status: 500, count: 1, path_prefix: "Patient" },
    ])
      expect((await control(sandbox, "POST", "/_sandbox/faults", bad)).status).toBe(400);
    // An unregistered token is no token at all.
    expect((await fhir(sandbox, "GET", "Patient/demo-001", { token })).status).toBe(401);
    expect((await control(sandbox, "GET", `/_sandbox/faults/${token}`)).status).toBe(404);
  });

  it("does not exist unless the sandbox was started with faults: true", async () => {
    const res = await control(plain, "POST", "/_sandbox/faults", {
      token: freshToken(),
      status: 500,
      count: 1,
    });
    expect(res.status).toBe(404);
  });
});
