/**
 * Data sources as a clinic admin configures them, against the test FHIR sandbox: credentials sealed
 * and never shown (only `has_*`; a webhook secret once), the connection test, enable/disable/sync,
 * delete refused once a source has history, and every bad configuration refused with nothing stored.
 */
import { env } from "cloudflare:workers";
import { eq } from "drizzle-orm";
import { exportJWK, generateKeyPair } from "jose";
import { beforeAll, describe, expect, inject, it } from "vitest";
import { newId } from "../../shared/ids";
import { buildApp } from "../../workers/app";
import { dataSources, sourceEvents } from "../../workers/db/schema";
import { INBOUND_RESOURCE_TYPES } from "../../workers/ehr/contracts";
import { getSource, openSecrets } from "../../workers/ehr/sources";
import { auditRows, databaseState, db } from "../helpers/db";
import { api, expectError } from "../helpers/http";
import { insertSandboxSource } from "../helpers/operations";
import { createWorkspace, type TestWorkspace, unique } from "../helpers/workspace";

const ehr = inject("ehrSandbox");
const { rs384, es384 } = ehr.smartClients;

let ws: TestWorkspace;
let other: TestWorkspace;
let base: string;

beforeAll(async () => {
  [ws, other] = await Promise.all([createWorkspace(), createWorkspace()]);
  base = `/v1/${ws.id}/data-sources`;
});

const staticSource = (fields: Record<string, unknown> = {}) => ({
  name: `EHR ${unique()}`,
  type: "fhir_store",
  base_url: ehr.fhirBaseUrl,
  auth: { type: "static_bearer" },
  secrets: { bearer_token: ehr.staticToken },
  ...fields,
});

const smartSource = (client: typeof rs384, privateKey: string, auth: Record<string, unknown> = {}) => ({
  name: `EHR ${unique()}`,
  type: "fhir_store",
  base_url: ehr.fhirBaseUrl,
  auth: {
    type: "smart_backend",
    client_id: client.clientId,
    scope: "system/*.read",
    alg: client.alg,
    ...auth,
  },
  secrets: { private_key: privateKey },
});

/** Polls `check` until it returns something (the queue consumer runs in the background), for up to 10 s. */
async function eventually<T>(check: () => Promise<T | null>): Promise<T> {
  for (let waited = 0; waited < 10_000; waited += 100) {
    const value = await check();
    if (value !== null) return value;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error("timed out waiting");
}

async function create(body: unknown) {
  const res = await api("POST", base, { key: ws.keys.admin, body });
  expect(res.status, res.text).toBe(201);
  return res;
}

describe("creating a data source", () => {
  it("fills in defaults, seals the token, and shows only that it is set", async () => {
    const body = staticSource();
    const created = await create(body);
    expect(created.body).toEqual({
      id: expect.stringMatching(/^ds_/),
      workspace_id: ws.id,
      name: body.name,
      type: "fhir_store",
      base_url: ehr.fhirBaseUrl,
      source_system: "ehr",
      auth: { type: "static_bearer" },
      has_bearer_token: true,
      has_private_key: false,
      has_webhook_secret: false,
      webhook_url: null,
      resource_types: [...INBOUND_RESOURCE_TYPES],
      poll_interval_seconds: 300,
      business_hours: null,
      writeback: false,
      enabled: true,
      status: "idle",
      last_error: null,
      last_poll_at: null,
      last_success_at: null,
      last_notification_at: null,
      created_at: expect.any(String),
      updated_at: expect.any(String),
    });
    expect(created.text).not.toContain(ehr.staticToken);

    const read = await api("GET", `${base}/${created.body.id}`, { key: ws.keys.viewer });
    expect(read.status).toBe(200);
    expect(read.body).toEqual(created.body);

    const [row] = await db().select().from(dataSources).where(eq(dataSources.id, created.body.id));
    expect(row!.secretsEnc).toMatch(/^v1\./);
    expect(row!.secretsEnc).not.toContain(ehr.staticToken);
    const source = await getSource(env, ws.id, created.body.id);
    expect(await openSecrets(env, source!)).toEqual({ bearer_token: ehr.staticToken });
    // The sealed value is bound to its row: copied to another source, it does not open.
    expect(await openSecrets(env, { ...source!, id: newId("ds") })).toEqual({});
  });

  it("keeps every field given, normalizing the base URL", async () => {
    const body = staticSource({
      base_url: `${ehr.fhirBaseUrl}/`,
      source_system: "epic.main-1",
      resource_types: ["Slot", "Patient"],
      poll_interval_seconds: 60,
      business_hours: { timezone: "America/Chicago", days: [5, 1, 3], start: "08:30", end: "17:00" },
      writeback: true,
    });
    const created = await create(body);
    expect(created.body).toMatchObject({
      base_url: ehr.fhirBaseUrl,
      source_system: "epic.main-1",
      resource_types: ["Slot", "Patient"],
      poll_interval_seconds: 60,
      business_hours: { timezone: "America/Chicago", days: [1, 3, 5], start: "08:30", end: "17:00" },
      writeback: true,
    });
  });

  it("generates a webhook secret for a fhir_webhook source, shows it once, and the webhook URL always", async () => {
    const created = await create(staticSource({ type: "fhir_webhook" }));
    const secret: string = created.body.webhook_secret;
    expect(secret).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(created.body.webhook_url).toBe(`${env.PUBLIC_BASE_URL}/webhooks/fhir/${ws.id}/${created.body.id}`);
    expect(created.body.has_webhook_secret).toBe(true);

    const read = await api("GET", `${base}/${created.body.id}`, { key: ws.keys.admin });
    expect(read.body).not.toHaveProperty("webhook_secret");
    expect(read.text).not.toContain(secret);
    expect(read.body.webhook_url).toBe(created.body.webhook_url);
    const listed = await api("GET", `${base}?limit=100`, { key: ws.keys.viewer });
    expect(listed.text).not.toContain(secret);

    const source = await getSource(env, ws.id, created.body.id);
    expect((await openSecrets(env, source!)).webhook_secret).toBe(secret);
  });

  it("keeps a webhook secret the admin chose", async () => {
    const chosen = `chosen-${unique()}-${unique()}-${unique()}`;
    const created = await create(
      staticSource({
        type: "fhir_webhook",
        secrets: { bearer_token: ehr.staticToken, webhook_secret: chosen },
      }),
    );
    expect(created.body.webhook_secret).toBe(chosen);
    const source = await getSource(env, ws.id, created.body.id);
    expect((await openSecrets(env, source!)).webhook_secret).toBe(chosen);
  });

  it.each([
    ["an RS384 private JWK", () => smartSource(rs384, JSON.stringify(rs384.privateJwk))],
    ["an ES384 PKCS#8 PEM with its kid", () => smartSource(es384, es384.privatePem, { kid: es384.kid })],
  ])("takes SMART Backend Services with %s", async (_, body) => {
    const created = await create(body());
    expect(created.body).toMatchObject({ has_private_key: true, has_bearer_token: false });
    expect(created.text).not.toContain("PRIVATE KEY");
    expect(created.text).not.toContain((rs384.privateJwk as { d: string }).d);
  });

  it("writes no secret into the audit log", async () => {
    const webhookSecret = `audit-${unique()}-${unique()}-${unique()}`;
    const created = await create(
      staticSource({
        type: "fhir_webhook",
        secrets: { bearer_token: ehr.staticToken, webhook_secret: webhookSecret },
      }),
    );
    await api("PATCH", `${base}/${created.body.id}`, {
      key: ws.keys.admin,
      body: { secrets: { bearer_token: `rotated-${unique()}` } },
    });
    const rows = await auditRows(ws.id);
    const mine = rows.filter((r) => r.targetId === created.body.id);
    expect(mine.map((r) => r.action)).toEqual(["data_source.created", "data_source.updated"]);
    expect(mine[1]!.details).toEqual({ fields: ["secrets.bearer_token"] });
    const text = JSON.stringify(rows);
    expect(text).not.toContain(ehr.staticToken);
    expect(text).not.toContain(webhookSecret);
    expect(text).not.toContain("rotated-");
  });
});

describe("listing data sources", () => {
  it("pages by limit and continuation token, and shows only the workspace's own", async () => {
    const own = await createWorkspace();
    const path = `/v1/${own.id}/data-sources`;
    const names = ["Alpha EHR", "Beta EHR", "Gamma EHR"];
    for (const name of names) {
      const res = await api("POST", path, { key: own.keys.admin, body: staticSource({ name }) });
      expect(res.status).toBe(201);
    }
    await insertSandboxSource(other);
    const first = await api("GET", `${path}?limit=2`, { key: own.keys.viewer });
    expect(first.body.total).toBe(3);
    expect(first.body.results.map((r: { name: string }) => r.name)).toEqual(names.slice(0, 2));
    const second = await api("GET", `${path}?limit=2&continuation_token=${first.body.continuation_token}`, {
      key: own.keys.viewer,
    });
    expect(second.body.results.map((r: { name: string }) => r.name)).toEqual(names.slice(2));
    expect(second.body.continuation_token).toBeNull();
  });
});

describe("updating a data source", () => {
  it("replaces the fields given and keeps the rest", async () => {
    const created = await create(staticSource());
    const res = await api("PATCH", `${base}/${created.body.id}`, {
      key: ws.keys.admin,
      body: { poll_interval_seconds: 3600, resource_types: ["Appointment"], business_hours: null },
    });
    expect(res.status, res.text).toBe(200);
    expect(res.body).toMatchObject({
      ...created.body,
      poll_interval_seconds: 3600,
      resource_types: ["Appointment"],
      updated_at: expect.any(String),
    });
  });

  it("switches auth, dropping the secrets the new auth does not use", async () => {
    const created = await create(staticSource());
    const res = await api("PATCH", `${base}/${created.body.id}`, {
      key: ws.keys.admin,
      body: {
        auth: { type: "smart_backend", client_id: rs384.clientId, scope: "system/*.read", alg: "RS384" },
        secrets: { private_key: JSON.stringify(rs384.privateJwk) },
      },
    });
    expect(res.status, res.text).toBe(200);
    expect(res.body).toMatchObject({ has_private_key: true, has_bearer_token: false });
    const source = await getSource(env, ws.id, created.body.id);
    expect(Object.keys(await openSecrets(env, source!))).toEqual(["private_key"]);
  });

  it("refuses a new auth without the secret it needs, or a new alg the stored key cannot sign", async () => {
    const plain = await create(staticSource());
    const before = await databaseState();
    const noKey = await api("PATCH", `${base}/${plain.body.id}`, {
      key: ws.keys.admin,
      body: {
        auth: { type: "smart_backend", client_id: rs384.clientId, scope: "system/*.read", alg: "RS384" },
      },
    });
    expectError(noKey, "validation_failed", 400);
    expect(noKey.body.error.details.issues[0].path).toBe("secrets.private_key");

    const smart = await create(smartSource(rs384, JSON.stringify(rs384.privateJwk)));
    const state = await databaseState();
    const wrongAlg = await api("PATCH", `${base}/${smart.body.id}`, {
      key: ws.keys.admin,
      body: { auth: { ...smart.body.auth, alg: "ES384" } },
    });
    expectError(wrongAlg, "validation_failed", 400);
    expect(wrongAlg.body.error.details.issues[0].path).toBe("secrets.private_key");
    expect(await databaseState()).toEqual(state);
    expect(before).not.toEqual(state);
  });

  it("starts the poll cursors over when the base URL changes, and not otherwise", async () => {
    const created = await create(staticSource());
    const cursors = { Patient: { last_updated: "2027-01-01T00:00:00.000Z" } };
    await db()
      .update(dataSources)
      .set({ cursors, lastEventNumber: 12 })
      .where(eq(dataSources.id, created.body.id));
    await api("PATCH", `${base}/${created.body.id}`, {
      key: ws.keys.admin,
      body: { poll_interval_seconds: 120 },
    });
    expect((await getSource(env, ws.id, created.body.id))!.cursors).toEqual(cursors);
    const moved = await api("PATCH", `${base}/${created.body.id}`, {
      key: ws.keys.admin,
      body: { base_url: `${ehr.url}/fhir/R4/other` },
    });
    expect(moved.status, moved.text).toBe(200);
    const source = await getSource(env, ws.id, created.body.id);
    expect(source).toMatchObject({ cursors: {}, lastEventNumber: null, baseUrl: `${ehr.url}/fhir/R4/other` });
  });
});

describe("enable, disable and sync", () => {
  it("are idempotent, auditing only a change", async () => {
    const created = await create(staticSource({ resource_types: ["Location"] }));
    const path = `${base}/${created.body.id}`;
    const count = async () => (await auditRows(ws.id)).filter((r) => r.targetId === created.body.id).length;
    const start = await count();
    for (let i = 0; i < 2; i++) {
      const res = await api("POST", `${path}/disable`, { key: ws.keys.admin });
      expect(res.status).toBe(200);
      expect(res.body.enabled).toBe(false);
    }
    expect(await count()).toBe(start + 1);
    expect((await api("GET", path, { key: ws.keys.viewer })).body.enabled).toBe(false);

    const refused = await api("POST", `${path}/sync`, { key: ws.keys.admin });
    expectError(refused, "conflict", 409);
    expect(refused.body.error.details).toEqual({ reason: "disabled" });
    expect(await count()).toBe(start + 1);

    const enabled = await api("POST", `${path}/enable`, { key: ws.keys.admin });
    expect(enabled.body.enabled).toBe(true);
    await api("POST", `${path}/enable`, { key: ws.keys.admin });
    expect(await count()).toBe(start + 2);
  });

  it("queues a manual poll that runs, fhir_webhook sources too", async () => {
    for (const type of ["fhir_store", "fhir_webhook"]) {
      const created = await create(staticSource({ type, resource_types: ["Location"] }));
      const res = await api("POST", `${base}/${created.body.id}/sync`, { key: ws.keys.admin });
      expect(res.status, res.text).toBe(202);
      expect(res.body).toEqual({
        job_id: expect.stringMatching(new RegExp(`^poll:${created.body.id}:manual-`)),
        data_source_id: created.body.id,
      });
      const [row] = (await auditRows(ws.id)).filter((r) => r.targetId === created.body.id).slice(-1);
      expect(row).toMatchObject({
        action: "data_source.sync_requested",
        details: { job_id: res.body.job_id },
      });
      // The ehr-sync queue runs the poll: the source reports a success (and later tests see a quiet D1).
      const polled = await eventually(async () => {
        const source = await getSource(env, ws.id, created.body.id);
        return source?.lastSuccessAt ? source : null;
      });
      expect(polled).toMatchObject({ status: "idle", lastError: null });
      expect(Object.keys(polled.cursors)).toEqual(["Location"]);
    }
  });
});

describe("the connection test", () => {
  it("reads the CapabilityStatement and proves the credentials, static or SMART", async () => {
    for (const body of [
      staticSource(),
      smartSource(rs384, JSON.stringify(rs384.privateJwk)),
      smartSource(es384, es384.privatePem, { kid: es384.kid }),
    ]) {
      const created = await create(body);
      const res = await api("POST", `${base}/${created.body.id}/test`, { key: ws.keys.admin });
      expect(res.status, res.text).toBe(200);
      expect(res.body).toEqual({
        ok: true,
        fhir_version: "4.0.1",
        software: "Switchboard EHR sandbox",
        latency_ms: expect.any(Number),
        auth_verified: true,
      });
      expect(res.body.latency_ms).toBeGreaterThanOrEqual(0);
    }
  });

  it("answers 502 upstream_error with the reason when the EHR refuses the token", async () => {
    const created = await create(staticSource({ secrets: { bearer_token: `wrong-${unique()}` } }));
    const res = await api("POST", `${base}/${created.body.id}/test`, { key: ws.keys.admin });
    expectError(res, "upstream_error", 502);
    expect(res.body.error.message).toMatch(/refused the credentials \(HTTP 401/);
    expect(res.body.error.details.status).toBe(401);
  });

  it("answers 502 when SMART authentication fails, with the token endpoint's reason", async () => {
    const { privateKey } = await generateKeyPair("RS384", { extractable: true });
    const stranger = JSON.stringify({ ...(await exportJWK(privateKey)), kid: rs384.kid });
    const created = await create(smartSource(rs384, stranger));
    const res = await api("POST", `${base}/${created.body.id}/test`, { key: ws.keys.admin });
    expectError(res, "upstream_error", 502);
    expect(res.body.error.details.status).toBe(401);
    expect(res.body.error.details.issues.join(" ")).toMatch(/invalid_client/);
    expect(res.text).not.toContain(JSON.parse(stranger).d);
  });

  it("answers 502 when the base URL is not a FHIR server or not reachable", async () => {
    const notFhir = await create(staticSource({ base_url: `${ehr.url}/not-fhir` }));
    const res = await api("POST", `${base}/${notFhir.body.id}/test`, { key: ws.keys.admin });
    expectError(res, "upstream_error", 502);
    expect(res.body.error.details.status).toBe(404);
  });
});

describe("rotating a webhook secret", () => {
  it("replaces it, shows the new one once, and the old one no longer opens", async () => {
    const created = await create(staticSource({ type: "fhir_webhook" }));
    const old: string = created.body.webhook_secret;
    const res = await api("POST", `${base}/${created.body.id}/rotate-webhook-secret`, { key: ws.keys.admin });
    expect(res.status, res.text).toBe(200);
    expect(res.body.webhook_secret).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(res.body.webhook_secret).not.toBe(old);
    const secrets = await openSecrets(env, (await getSource(env, ws.id, created.body.id))!);
    expect(secrets).toEqual({ bearer_token: ehr.staticToken, webhook_secret: res.body.webhook_secret });
  });

  it("gives a polling source its first secret, and with it a webhook URL", async () => {
    const created = await create(staticSource());
    expect(created.body.webhook_url).toBeNull();
    const res = await api("POST", `${base}/${created.body.id}/rotate-webhook-secret`, { key: ws.keys.admin });
    expect(res.status).toBe(200);
    expect(res.body.webhook_secret).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(res.body.has_webhook_secret).toBe(true);
    expect(res.body.webhook_url).toMatch(new RegExp(`/webhooks/fhir/${ws.id}/${created.body.id}$`));
  });
});

describe("deleting a data source", () => {
  it("removes one that never received or wrote anything", async () => {
    const created = await create(staticSource());
    expect((await api("DELETE", `${base}/${created.body.id}`, { key: ws.keys.admin })).status).toBe(204);
    expectError(await api("GET", `${base}/${created.body.id}`, { key: ws.keys.admin }), "not_found", 404);
  });

  it("refuses (409) once the source has history, which disabling keeps", async () => {
    const created = await create(staticSource());
    await db()
      .insert(sourceEvents)
      .values({
        id: newId("sev"),
        workspaceId: ws.id,
        dataSourceId: created.body.id,
        channel: "poll",
        resourceType: "Location",
        resourceId: "loc-main",
        versionKey: "1",
        status: "applied",
        receivedAt: new Date().toISOString(),
      });
    const before = await databaseState();
    const res = await api("DELETE", `${base}/${created.body.id}`, { key: ws.keys.admin });
    expectError(res, "conflict", 409);
    expect(res.body.error.details).toEqual({ reason: "has_history" });
    expect(res.body.error.message).toMatch(/disable it instead/);
    expect(await databaseState()).toEqual(before);
  });
});

describe("refusals", () => {
  it("answer 404 for another workspace's source on every route, leaving it alone", async () => {
    const theirs = await insertSandboxSource(other, { type: "fhir_webhook" });
    const path = `${base}/${theirs}`;
    const before = await databaseState();
    expectError(await api("GET", path, { key: ws.keys.admin }), "not_found", 404);
    expectError(
      await api("PATCH", path, { key: ws.keys.admin, body: { name: "Mine now" } }),
      "not_found",
      404,
    );
    expectError(await api("DELETE", path, { key: ws.keys.admin }), "not_found", 404);
    for (const action of ["enable", "disable", "sync", "test", "rotate-webhook-secret"]) {
      expectError(await api("POST", `${path}/${action}`, { key: ws.keys.admin }), "not_found", 404);
    }
    expect(await databaseState()).toEqual(before);
  });

  it("answer 409 to a name already used in the workspace, on create and on rename", async () => {
    const taken = await create(staticSource());
    const free = await create(staticSource());
    const before = await databaseState();
    const dup = await api("POST", base, {
      key: ws.keys.admin,
      body: staticSource({ name: taken.body.name }),
    });
    expectError(dup, "conflict", 409);
    expect(dup.body.error.details).toEqual({ field: "name" });
    const rename = await api("PATCH", `${base}/${free.body.id}`, {
      key: ws.keys.admin,
      body: { name: taken.body.name },
    });
    expectError(rename, "conflict", 409);
    expect(await databaseState()).toEqual(before);
    // Another workspace may use the name.
    expect(
      (
        await api("POST", `/v1/${other.id}/data-sources`, {
          key: other.keys.admin,
          body: staticSource({ name: taken.body.name }),
        })
      ).status,
    ).toBe(201);
  });

  it.each<[string, Record<string, unknown>, string]>([
    ["credentials in the base URL", { base_url: "https://user:pass@ehr.example.com/fhir" }, "base_url"],
    ["a base URL with a query", { base_url: "https://ehr.example.com/fhir?tenant=1" }, "base_url"],
    ["plain http to another host", { base_url: "http://ehr.example.com/fhir" }, "base_url"],
    ["a base URL that is not http(s)", { base_url: "ftp://ehr.example.com/fhir" }, "base_url"],
    ["a base URL that is not a URL", { base_url: "'; DROP TABLE data_sources;--" }, "base_url"],
    ["a source system with capitals", { source_system: "Epic" }, "source_system"],
    ["an unknown resource type", { resource_types: ["Observation"] }, "resource_types.0"],
    ["a repeated resource type", { resource_types: ["Patient", "Patient"] }, "resource_types"],
    ["no resource types", { resource_types: [] }, "resource_types"],
    ["a poll interval under a minute", { poll_interval_seconds: 59 }, "poll_interval_seconds"],
    ["a poll interval over a day", { poll_interval_seconds: 86_401 }, "poll_interval_seconds"],
    [
      "an unknown time zone",
      { business_hours: { timezone: "Mars/Olympus", days: [1], start: "08:00", end: "17:00" } },
      "business_hours.timezone",
    ],
    [
      "hours that end before they start",
      { business_hours: { timezone: "UTC", days: [1], start: "17:00", end: "08:00" } },
      "business_hours.end",
    ],
    [
      "a weekday 8",
      { business_hours: { timezone: "UTC", days: [8], start: "08:00", end: "17:00" } },
      "business_hours.days.0",
    ],
    [
      "a time that is not HH:MM",
      { business_hours: { timezone: "UTC", days: [1], start: "8am", end: "17:00" } },
      "business_hours.start",
    ],
    ["writeback on a webhook source", { type: "fhir_webhook", writeback: true }, "writeback"],
    ["static_bearer without a token", { secrets: {} }, "secrets.bearer_token"],
    ["a token with spaces", { secrets: { bearer_token: "two words here" } }, "secrets.bearer_token"],
    [
      "a private key for static_bearer auth",
      { secrets: { bearer_token: "abcdefghij", private_key: "x" } },
      "secrets.private_key",
    ],
    [
      "a short webhook secret",
      { type: "fhir_webhook", secrets: { bearer_token: "abcdefghij", webhook_secret: "short" } },
      "secrets.webhook_secret",
    ],
  ])("answer 400 to %s, naming the field, storing nothing", async (_, fields, path) => {
    const before = await databaseState();
    const res = await api("POST", base, { key: ws.keys.admin, body: staticSource(fields) });
    expectError(res, "validation_failed", 400);
    expect(res.body.error.details.issues.map((i: { path: string }) => i.path)).toContain(path);
    expect(await databaseState()).toEqual(before);
  });

  it.each<[string, () => Promise<Record<string, unknown>>]>([
    ["SMART without a private key", async () => ({ ...smartSource(rs384, "x"), secrets: {} })],
    ["a private key that is not a key", async () => smartSource(rs384, "not a key at all")],
    ["an RSA key declared ES384", async () => smartSource(es384, rs384.privatePem)],
    [
      "a bearer token for SMART auth",
      async () => ({
        ...smartSource(rs384, rs384.privatePem),
        secrets: { private_key: rs384.privatePem, bearer_token: "abcdefghij" },
      }),
    ],
    [
      "a P-256 key for ES384",
      async () => {
        const { privateKey } = await generateKeyPair("ES256", { extractable: true });
        return smartSource(es384, JSON.stringify(await exportJWK(privateKey)));
      },
    ],
    [
      "an http token URL to another host",
      async () => smartSource(rs384, rs384.privatePem, { token_url: "http://auth.example.com/token" }),
    ],
    ["an unknown signing alg", async () => smartSource(rs384, rs384.privatePem, { alg: "RS256" })],
    ["a scope with markup", async () => smartSource(rs384, rs384.privatePem, { scope: "system/*.read <b>" })],
  ])("answer 400 to %s", async (_, body) => {
    const before = await databaseState();
    const res = await api("POST", base, { key: ws.keys.admin, body: await body() });
    expectError(res, "validation_failed", 400);
    expect(res.text).not.toContain("PRIVATE KEY-----");
    expect(await databaseState()).toEqual(before);
  });

  it("refuse loopback, private-network and plain http URLs outside development", async () => {
    const production = { ...env, ENVIRONMENT: "production" } as unknown as Env;
    const app = buildApp();
    const send = (body: unknown) =>
      app.request(
        base,
        {
          method: "POST",
          headers: { Authorization: `Bearer ${ws.keys.admin}`, "Content-Type": "application/json" },
          body: JSON.stringify(body),
        },
        production,
        { waitUntil: () => {}, passThroughOnException: () => {}, props: {} } as unknown as ExecutionContext,
      );
    const before = await databaseState();
    for (const base_url of [
      ehr.fhirBaseUrl,
      "https://127.0.0.1/fhir",
      "https://localhost/fhir",
      "https://10.1.2.3/fhir",
      "https://192.168.0.10/fhir",
      "https://172.20.0.1/fhir",
      "https://169.254.169.254/latest",
      "https://[::1]/fhir",
      "https://[fd00::1]/fhir",
      "http://ehr.example.com/fhir",
    ]) {
      const res = await send(staticSource({ base_url }));
      expect(res.status, base_url).toBe(400);
      const body = (await res.json()) as { error: { code: string; details: { issues: { path: string }[] } } };
      expect(body.error.code).toBe("validation_failed");
      expect(body.error.details.issues[0]!.path).toBe("base_url");
    }
    expect(await databaseState()).toEqual(before);
  });
});
