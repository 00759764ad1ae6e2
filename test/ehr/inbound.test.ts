/**
 * Applying FHIR resources to the world model (`applyResources`) and the admin's Bundle import
 * (`POST /v1/{ws}/data-sources/{id}/bundle`): valid resources become world events on entities named by
 * external id, a version delivered again writes nothing at all, invalid resources are failed source
 * events with their validation issues (and nothing else), types Switchboard does not model are skipped.
 */
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import type { DataSource, FhirResource } from "../../workers/ehr/contracts";
import { applyResources } from "../../workers/ehr/inbound";
import { getSource } from "../../workers/ehr/sources";
import { auditRows } from "../helpers/db";
import { api, expectError } from "../helpers/http";
import { worldWorkspace } from "../world/fixtures";
import {
  allergy,
  entityByExternalId,
  inboundCounts,
  insertSource,
  invalidPatient,
  patient,
  sourceEvents,
} from "./inbound-fixtures";

async function setup(options: Parameters<typeof insertSource>[1] = {}) {
  const f = await worldWorkspace();
  const id = await insertSource(f.ws.id, { type: "fhir_webhook", ...options });
  const source = (await getSource(env, f.ws.id, id)) as DataSource;
  return { ...f, source };
}

describe("applyResources", () => {
  it("turns a Patient into an entity named by its external id, with its facts, and logs the version", async () => {
    const { ws, source, call } = await setup();
    const p = patient();
    const outcome = await applyResources(env, source, [p], "manual");
    expect(outcome).toMatchObject({ applied: 1, duplicates: 0, failed: 0, skipped: 0 });
    const [result] = outcome.results;
    expect(result).toMatchObject({ resource_type: "Patient", resource_id: p.id, status: "applied" });
    expect(result!.events_stored).toBeGreaterThan(0);

    const entityId = await entityByExternalId(ws.id, ws.keys.viewer, `ehr:Patient:${p.id}`);
    expect(entityId).toBe(result!.entity_id);
    const entity = await call("viewer", "GET", `/world/entities/${entityId}`);
    const facts = Object.fromEntries(
      entity.body.facts.map((f: { path: string; value: unknown }) => [f.path, f]),
    );
    const family = (p.name as { family: string }[])[0]!.family;
    expect(facts["demographics.family_name"]).toMatchObject({ value: family, confidence: 1, source: "ehr" });
    expect(facts["demographics.birth_date"].value).toBe("1984-03-12");

    expect(await sourceEvents(ws.id, source.id)).toEqual([
      {
        channel: "manual",
        resource_type: "Patient",
        resource_id: p.id,
        version_key: "1",
        status: "applied",
        error: null,
        events_stored: result!.events_stored,
        entity_id: entityId,
      },
    ]);
  });

  it("puts clinical resources on the patient they name", async () => {
    const { source, call } = await setup();
    const p = patient();
    const outcome = await applyResources(env, source, [p, allergy(p.id!, "Latex")], "manual");
    expect(outcome.applied).toBe(2);
    expect(outcome.results[1]!.entity_id).toBe(outcome.results[0]!.entity_id);
    const entity = await call("viewer", "GET", `/world/entities/${outcome.results[0]!.entity_id}`);
    const paths = entity.body.facts.map((f: { path: string }) => f.path);
    expect(paths.some((path: string) => path.startsWith("allergies.latex"))).toBe(true);
  });

  it("writes nothing at all for a version delivered again, in a later delivery or the same one", async () => {
    const { ws, source } = await setup();
    const p = patient();
    await applyResources(env, source, [p], "webhook");
    const before = await inboundCounts(ws.id);

    const again = await applyResources(env, source, [p, structuredClone(p)], "poll");
    expect(again).toMatchObject({ applied: 0, duplicates: 2, failed: 0, skipped: 0 });
    expect(await inboundCounts(ws.id)).toEqual(before);

    const fresh = patient();
    const twice = await applyResources(env, source, [fresh, structuredClone(fresh)], "poll");
    expect(twice).toMatchObject({ applied: 1, duplicates: 1 });
    expect((await sourceEvents(ws.id, source.id)).filter((e) => e.resource_id === fresh.id)).toHaveLength(1);
  });

  it("applies a new version of a resource it has seen", async () => {
    const { ws, source, call } = await setup();
    const p = patient();
    await applyResources(env, source, [p], "poll");
    const renamed = {
      ...p,
      meta: { versionId: "2", lastUpdated: "2026-11-21T09:00:00.000Z" },
      name: [{ use: "official", family: "Newname", given: ["Ada"] }],
    };
    const outcome = await applyResources(env, source, [renamed], "poll");
    expect(outcome.applied).toBe(1);
    expect(outcome.results[0]!.events_stored).toBeGreaterThan(0);
    const versions = (await sourceEvents(ws.id, source.id)).map((e) => e.version_key);
    expect(versions).toEqual(["1", "2"]);
    const entity = await call("viewer", "GET", `/world/entities/${outcome.results[0]!.entity_id}`);
    const family = entity.body.facts.find((f: { path: string }) => f.path === "demographics.family_name");
    expect(family.value).toBe("Newname");
  });

  it("logs an invalid resource as a failed source event naming paths, not values, and writes nothing else", async () => {
    const { ws, source } = await setup();
    const before = await inboundCounts(ws.id);
    const bad = invalidPatient();
    const outcome = await applyResources(env, source, [bad], "webhook");
    expect(outcome).toMatchObject({ applied: 0, failed: 1 });
    const issues = outcome.results[0]!.issues!;
    const paths = issues.map((i) => i.path);
    expect(paths).toEqual(expect.arrayContaining(["Patient.birthDate", "Patient.gender"]));

    const [row] = await sourceEvents(ws.id, source.id);
    expect(row).toMatchObject({ status: "failed", resource_id: bad.id, events_stored: 0, entity_id: null });
    expect(JSON.parse(row!.error!)).toEqual(issues);
    for (const value of ["19840312", "sometimes", "Qxvwz"]) expect(row!.error).not.toContain(value);

    const after = await inboundCounts(ws.id);
    expect(after).toEqual({ ...before, source_events: before.source_events + 1 });
    // Delivered again, the same invalid version is a duplicate too.
    expect((await applyResources(env, source, [bad], "webhook")).duplicates).toBe(1);
    expect(await inboundCounts(ws.id)).toEqual(after);
  });

  it("names a malformed delivery without storing what it carried", async () => {
    const { ws, source } = await setup();
    const outcome = await applyResources(
      env,
      source,
      [{ resourceType: "Patient", id: "has spaces; DROP TABLE" }, "not an object", { resourceType: 7 }],
      "webhook",
    );
    expect(outcome.failed).toBe(3);
    const rows = await sourceEvents(ws.id, source.id);
    expect(rows.map((r) => [r.resource_type, r.resource_id])).toEqual([
      ["Patient", "-"],
      ["Unknown", "-"],
      ["Unknown", "-"],
    ]);
    expect(JSON.stringify(rows)).not.toMatch(/DROP|not an object/);
  });

  it("applies the valid resources of a delivery that also carries invalid ones", async () => {
    const { source } = await setup();
    const p = patient();
    const outcome = await applyResources(env, source, [invalidPatient(), p, allergy(p.id!)], "bundle");
    expect(outcome).toMatchObject({ applied: 2, failed: 1 });
    expect(outcome.results.map((r) => r.status)).toEqual(["failed", "applied", "applied"]);
  });

  it("skips a type Switchboard does not model, recording why", async () => {
    const { ws, source } = await setup();
    const before = await inboundCounts(ws.id);
    const organization = { resourceType: "Organization", id: "org-acme", name: "Acme Health" };
    const outcome = await applyResources(env, source, [organization], "bundle");
    expect(outcome).toMatchObject({ skipped: 1, applied: 0 });
    expect(outcome.results[0]!.reason).toMatch(/Organization/);
    const [row] = await sourceEvents(ws.id, source.id);
    expect(row).toMatchObject({ status: "skipped", resource_type: "Organization" });
    expect(await inboundCounts(ws.id)).toEqual({ ...before, source_events: before.source_events + 1 });
  });

  it("ingests a delivery of more than 1,000 events in several ingest batches", async () => {
    const { ws, source } = await setup();
    // Each patient is three events (demographics, contact, its id as an identifier).
    const patients = Array.from({ length: 360 }, (_, i) =>
      patient({
        telecom: [
          { system: "phone", value: `+1212${230 + Math.floor(i / 100)}${String(i % 100).padStart(4, "0")}` },
        ],
      }),
    );
    const outcome = await applyResources(env, source, patients, "bundle");
    expect(outcome.applied).toBe(360);
    const stored = outcome.results.reduce((n, r) => n + r.events_stored, 0);
    expect(stored).toBe(1080);
    const ingests = (await auditRows(ws.id)).filter((r) => r.action === "world.events_ingested");
    expect(ingests).toHaveLength(2);
    expect(ingests.every((r) => r.actorType === "system" && r.actorId === source.id)).toBe(true);
  }, 120_000);
});

const bundleOf = (resources: FhirResource[], type = "collection") => ({
  resourceType: "Bundle",
  type,
  entry: resources.map((resource) => ({
    fullUrl: `https://ehr.example/fhir/${resource.resourceType}/${resource.id}`,
    resource,
  })),
});

describe("POST /v1/{workspace_id}/data-sources/{id}/bundle", () => {
  const importPath = (ws: string, id: string) => `/v1/${ws}/data-sources/${id}/bundle`;

  it("applies a Bundle sent as application/fhir+json, and a re-sent Bundle writes nothing", async () => {
    const { ws, source } = await setup();
    const p = patient();
    const body = JSON.stringify(
      bundleOf([
        p,
        allergy(p.id!),
        invalidPatient(),
        { resourceType: "Organization", id: "o1" } as FhirResource,
      ]),
    );
    const send = () =>
      api("POST", importPath(ws.id, source.id), {
        key: ws.keys.admin,
        raw: body,
        contentType: "application/fhir+json",
      });
    const res = await send();
    expect(res.status, res.text).toBe(200);
    expect(res.body).toMatchObject({ applied: 2, failed: 1, skipped: 1, duplicates: 0, ignored: 0 });
    expect(res.body.results.map((r: { status: string }) => r.status)).toEqual([
      "applied",
      "applied",
      "failed",
      "skipped",
    ]);
    const rows = await sourceEvents(ws.id, source.id);
    expect(rows.every((r) => r.channel === "bundle")).toBe(true);
    const audit = (await auditRows(ws.id)).slice(-2);
    expect(audit.map((r) => [r.action, r.actorType, r.actorId])).toEqual([
      ["world.events_ingested", "api_key", ws.keyIds.admin],
      ["data_source.bundle_imported", "api_key", ws.keyIds.admin],
    ]);

    const before = await inboundCounts(ws.id);
    const again = await send();
    expect(again.status).toBe(200);
    expect(again.body).toMatchObject({ applied: 0, failed: 0, skipped: 0, duplicates: 4 });
    expect(await inboundCounts(ws.id)).toEqual(before);
  });

  it("counts entries without a resource (a batch's DELETEs) as ignored", async () => {
    const { ws, source } = await setup();
    const res = await api("POST", importPath(ws.id, source.id), {
      key: ws.keys.owner,
      body: {
        resourceType: "Bundle",
        type: "batch",
        entry: [
          { resource: patient(), request: { method: "PUT", url: "Patient/x" } },
          { request: { method: "DELETE", url: "Patient/old" } },
        ],
      },
    });
    expect(res.status, res.text).toBe(200);
    expect(res.body).toMatchObject({ applied: 1, ignored: 1 });
  });

  it("refuses more than 1,000 entries, another media type, and other resources, writing nothing", async () => {
    const { ws, source } = await setup();
    const before = await inboundCounts(ws.id);
    const post = (options: Parameters<typeof api>[2]) =>
      api("POST", importPath(ws.id, source.id), { key: ws.keys.admin, ...options });
    const tooMany = bundleOf(Array.from({ length: 1001 }, () => ({ resourceType: "Basic", id: "b" })));
    expectError(await post({ body: tooMany }), "validation_failed", 400);
    expectError(
      await post({ body: { ...bundleOf([patient()]), type: "history" } }),
      "validation_failed",
      400,
    );
    expectError(await post({ body: patient() }), "validation_failed", 400);
    expectError(
      await post({ raw: JSON.stringify(bundleOf([patient()])), contentType: "application/json-patch+json" }),
      "unsupported_media_type",
      415,
    );
    expectError(
      await post({ raw: JSON.stringify(bundleOf([patient()])), contentType: "text/plain" }),
      "unsupported_media_type",
      415,
    );
    expect(await inboundCounts(ws.id)).toEqual(before);
  });

  it("is for admins, in their own workspace, through an enabled source", async () => {
    const { ws, source } = await setup();
    const other = await setup();
    const disabled = await insertSource(ws.id, { enabled: false });
    const body = bundleOf([patient()]);
    for (const role of ["viewer", "operator"] as const)
      expectError(
        await api("POST", importPath(ws.id, source.id), { key: ws.keys[role], body }),
        "forbidden",
        403,
      );
    expectError(
      await api("POST", importPath(ws.id, other.source.id), { key: ws.keys.admin, body }),
      "not_found",
      404,
    );
    expectError(
      await api("POST", importPath(ws.id, disabled), { key: ws.keys.admin, body }),
      "conflict",
      409,
    );
    expect((await inboundCounts(ws.id)).source_events).toBe(0);
    expect((await inboundCounts(other.ws.id)).source_events).toBe(0);
  });
});
