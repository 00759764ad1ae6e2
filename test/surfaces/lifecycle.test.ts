/**
 * A surface's life through the API and the service: an invalid spec is refused with every reason;
 * creation prefills from the patient's facts (never a sensitive field); each transition leaves its world
 * event and audit row; PATCH stops once the patient has opened it; answers with a target land as 0.5
 * facts with review items; a double submit stores once; uploads are checked for type and size; reshape
 * asks only for what is unfilled; the cron expires what is past its expiry.
 */
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { TASKS } from "../../workers/scheduled";
import { answers, create, get, open, saveField, saveUpload, submit } from "../../workers/surfaces/service";
import { insertPhoneNumber } from "../helpers/workspace";
import { auditActions, ingestPatient, published, type WorldFixture, worldWorkspace } from "../world/fixtures";

const SPEC = {
  title: "Insurance update",
  fields: [
    {
      key: "email",
      label: "Email address",
      field_type: "email",
      target: { event_type: "contact.recorded", data_key: "email" },
    },
    {
      key: "has_insurance",
      label: "Do you have insurance?",
      field_type: "select",
      options: [
        { value: "yes", label: "Yes" },
        { value: "no", label: "No" },
      ],
    },
    {
      key: "payer",
      label: "Insurance company",
      field_type: "text",
      condition: { field: "has_insurance", op: "=", value: "yes" },
      target: { event_type: "coverage.recorded", data_key: "payer" },
    },
    {
      key: "member_id",
      label: "Member ID",
      field_type: "text",
      sensitive: true,
      condition: { field: "has_insurance", op: "=", value: "yes" },
      target: { event_type: "coverage.recorded", data_key: "member_id" },
    },
    { key: "notes", label: "Anything else?", field_type: "textarea", required: false },
    {
      key: "insurance_card_front",
      label: "Photo of your card (front)",
      field_type: "photo",
      required: false,
      validation: { max_bytes: 2048 },
    },
  ],
};

async function setup() {
  const f = await worldWorkspace();
  const entityId = await ingestPatient(f, { email: "maria@example.test", phone: "+12125550188" });
  return { f, entityId };
}

async function createVia(f: WorldFixture, entityId: string, spec: unknown = SPEC, extra = {}) {
  const res = await f.call("operator", "POST", "/surfaces", { entity_id: entityId, spec, ...extra });
  expect(res.status, res.text).toBe(201);
  return res.body;
}

async function surfaceEvents(workspaceId: string, surfaceId: string) {
  const rows = await env.DB.prepare(
    "SELECT event_type, confidence, source FROM world_events WHERE workspace_id = ? AND produced_by = ? ORDER BY rowid",
  )
    .bind(workspaceId, `surface:${surfaceId}`)
    .all<{ event_type: string; confidence: number; source: string }>();
  return rows.results;
}

const count = async (sql: string, ...bind: unknown[]) =>
  (await env.DB.prepare(sql)
    .bind(...bind)
    .first<{ n: number }>())!.n;

describe("creating a surface", () => {
  it("refuses an invalid spec with every reason (422) and writes nothing", async () => {
    const { f, entityId } = await setup();
    const res = await f.call("operator", "POST", "/surfaces", {
      entity_id: entityId,
      spec: {
        title: "Broken",
        fields: [
          { key: "a", label: "A", field_type: "text" },
          { key: "a", label: "A again", field_type: "text" },
          { key: "pick", label: "Pick", field_type: "select" },
          { key: "b", label: "B", field_type: "text", condition: { field: "nowhere", op: "exists" } },
        ],
      },
    });
    expect(res.status, res.text).toBe(422);
    expect(res.body.error.code).toBe("unprocessable");
    expect(res.body.error.details.problems.length).toBeGreaterThanOrEqual(3);
    expect(await count("SELECT count(*) AS n FROM surfaces WHERE workspace_id = ?", f.ws.id)).toBe(0);
  });

  it("prefills target fields from the patient's facts, never a sensitive one", async () => {
    const { f, entityId } = await setup();
    const body = await createVia(f, entityId);
    expect(body).toMatchObject({ status: "created", entity_id: entityId, channel: "sms", answers: {} });
    const byKey = Object.fromEntries(body.spec.fields.map((x: { key: string }) => [x.key, x]));
    expect(byKey.email.prefill_value).toBe("maria@example.test");
    expect(byKey.member_id.prefill_value).toBeUndefined();
    // Viewers see neither answers nor prefilled values.
    const asViewer = await f.call("viewer", "GET", `/surfaces/${body.id}`);
    expect(asViewer.status).toBe(200);
    expect(asViewer.body.answers).toBeNull();
    expect(asViewer.text).not.toContain("maria@example.test");
    expect(await surfaceEvents(f.ws.id, body.id)).toEqual([
      { event_type: "surface.created", confidence: 0.5, source: "surface" },
    ]);
    expect((await auditActions(f.ws.id, "surface.created")).map((r) => r.target_id)).toEqual([body.id]);
  });
});

describe("the lifecycle", () => {
  it("delivered → opened → partial → completed, each with its world event and audit row", async () => {
    const { f, entityId } = await setup();
    await insertPhoneNumber(f.ws.id);
    const created = await createVia(f, entityId);
    const id = created.id as string;

    const delivered = await f.call("operator", "POST", `/surfaces/${id}/deliver`, {});
    expect(delivered.status, delivered.text).toBe(200);
    expect(delivered.body.surface.status).toBe("delivered");
    expect(delivered.body.link).toMatch(/\/l\/srf_/);
    expect(delivered.body.delivery_id).toEqual(expect.any(String));

    const patched = await f.call("operator", "PATCH", `/surfaces/${id}`, { ttl_seconds: 7200 });
    expect(patched.status, patched.text).toBe(200);

    const opened = await open(env, f.ws.id, id);
    expect(opened?.surface.status).toBe("opened");
    const refused = await f.call("operator", "PATCH", `/surfaces/${id}`, { ttl_seconds: 3 * 3600 });
    expect(refused.status).toBe(409);

    const bad = await saveField(env, f.ws.id, id, "email", "not an email");
    expect(bad).toMatchObject({ ok: false, status: "opened" });
    expect(bad.error).toEqual(expect.any(String));
    const saved = await saveField(env, f.ws.id, id, "email", "new@example.test");
    expect(saved).toMatchObject({ ok: true, status: "partial", answered: 1, required: 2 });

    const missing = await submit(env, f.ws.id, id);
    expect(missing.ok).toBe(false);
    expect(Object.keys(missing.errors ?? {})).toEqual(["has_insurance"]);

    const done = await submit(env, f.ws.id, id, {
      has_insurance: "yes",
      payer: "Aetna",
      member_id: "XK-20391",
    });
    expect(done).toMatchObject({ ok: true, status: "completed", answered: 4, required: 4 });

    expect((await surfaceEvents(f.ws.id, id)).map((e) => e.event_type)).toEqual([
      "surface.created",
      "surface.delivered",
      "surface.opened",
      "surface.field_saved",
      "surface.field_saved",
      "surface.submitted",
    ]);
    for (const action of [
      "surface.created",
      "surface.delivered",
      "surface.updated",
      "surface.opened",
      "surface.submitted",
    ]) {
      expect(
        (await auditActions(f.ws.id, action)).map((r) => r.target_id),
        action,
      ).toEqual([id]);
    }
    expect(await auditActions(f.ws.id, "surface.field_saved")).toHaveLength(2);
    // The live stream heard each transition once, with ids and counts only.
    const streamed = (await published(f.ws.id)).filter((e) => e.type.startsWith("surface."));
    expect(streamed.map((e) => e.type)).toEqual([
      "surface.created",
      "surface.delivered",
      "surface.opened",
      "surface.submitted",
    ]);
    expect(JSON.stringify(streamed)).not.toMatch(/XK-20391|Aetna|new@example/);
    const detail = await f.call("operator", "GET", `/surfaces/${id}`);
    expect(detail.body).toMatchObject({
      status: "completed",
      answers: { email: "new@example.test", has_insurance: "yes", payer: "Aetna", member_id: "XK-20391" },
      progress: { complete: true, missing: [] },
    });
    // The patient's answers are sealed at rest.
    const stored = await env.DB.prepare("SELECT value_enc FROM surface_answers WHERE surface_id = ?")
      .bind(id)
      .all<{ value_enc: string }>();
    expect(stored.results.map((r) => r.value_enc).join()).not.toContain("XK-20391");
  });

  it("sends targeted answers to the world model at 0.5 with review items, once for a double submit", async () => {
    const { f, entityId } = await setup();
    const { id } = await createVia(f, entityId);
    await open(env, f.ws.id, id);
    const raw = { email: "maria@example.test", has_insurance: "yes", payer: "Cigna", member_id: "C-778" };
    const first = await submit(env, f.ws.id, id, raw);
    expect(first).toMatchObject({ ok: true, status: "completed" });
    const extracted = await env.DB.prepare(
      "SELECT id, event_type, confidence, source FROM world_events WHERE workspace_id = ? AND produced_by = ? ORDER BY event_type",
    )
      .bind(f.ws.id, `interaction:${id}`)
      .all<{ id: string; event_type: string; confidence: number; source: string }>();
    expect(extracted.results.map(({ id: _, ...e }) => e)).toEqual([
      { event_type: "contact.recorded", confidence: 0.5, source: "surface" },
      { event_type: "coverage.recorded", confidence: 0.5, source: "surface" },
    ]);
    const reviews = await env.DB.prepare(
      "SELECT subject_id, path, status FROM review_items WHERE workspace_id = ? AND entity_id = ? ORDER BY path",
    )
      .bind(f.ws.id, entityId)
      .all<{ subject_id: string; path: string; status: string }>();
    expect(reviews.results.map((r) => r.path)).toEqual(["contact.email", "coverage.cigna"]);

    const counts = async () => ({
      events: await count("SELECT count(*) AS n FROM world_events WHERE workspace_id = ?", f.ws.id),
      audit: await count("SELECT count(*) AS n FROM audit_log WHERE workspace_id = ?", f.ws.id),
      reviews: await count("SELECT count(*) AS n FROM review_items WHERE workspace_id = ?", f.ws.id),
      answers: await count("SELECT count(*) AS n FROM surface_answers WHERE surface_id = ?", id),
    });
    const before = await counts();
    const second = await submit(env, f.ws.id, id, { ...raw, payer: "Someone else" });
    expect(second).toEqual(first);
    expect(await counts()).toEqual(before);
    expect((await answers(env, f.ws.id, id)).payer).toBe("Cigna");
  });

  it("refuses changes to a completed, archived or expired surface", async () => {
    const { f, entityId } = await setup();
    const { id } = await createVia(f, entityId);
    const archived = await f.call("operator", "POST", `/surfaces/${id}/archive`);
    expect(archived.status, archived.text).toBe(200);
    expect(archived.body.status).toBe("archived");
    expect(await open(env, f.ws.id, id)).toBeNull();
    expect(await saveField(env, f.ws.id, id, "notes", "hello")).toMatchObject({
      ok: false,
      status: "archived",
    });
    expect((await f.call("operator", "POST", `/surfaces/${id}/archive`)).status).toBe(200);
    expect((await f.call("operator", "PATCH", `/surfaces/${id}`, { channel: "email" })).status).toBe(409);
    expect((await f.call("operator", "POST", `/surfaces/${id}/deliver`, {})).status).toBe(409);
    expect(await auditActions(f.ws.id, "surface.archived")).toHaveLength(1);
    expect((await surfaceEvents(f.ws.id, id)).map((e) => e.event_type)).toEqual([
      "surface.created",
      "surface.archived",
    ]);
  });
});

describe("a surface made on a call", () => {
  it("submits even when its call is over (telling the call cannot fail the submit)", async () => {
    const { f, entityId } = await setup();
    const surface = await create(env, f.ws.id, {
      entityId,
      spec: {
        title: "Quick check",
        fields: [{ key: "nickname", label: "Nickname", field_type: "text" }],
      } as never,
      channel: "sms",
      createdBy: { type: "agent", callId: "call_finishedlongago000" },
    });
    expect(surface).toMatchObject({ callId: "call_finishedlongago000", createdBy: { type: "agent" } });
    await open(env, f.ws.id, surface.id);
    const done = await submit(env, f.ws.id, surface.id, { nickname: "Mo" });
    expect(done).toMatchObject({ ok: true, status: "completed", answered: 1, required: 1 });
  });
});

describe("uploads", () => {
  const png = (bytes: number) => new File([new Uint8Array(bytes).fill(7)], "card.png", { type: "image/png" });

  it("refuses a file too big or of the wrong type, storing nothing", async () => {
    const { f, entityId } = await setup();
    const { id } = await createVia(f, entityId);
    const tooBig = await saveUpload(env, f.ws.id, id, "insurance_card_front", png(4096));
    expect(tooBig.ok).toBe(false);
    expect(tooBig.error).toMatch(/too large/);
    const wrongType = await saveUpload(
      env,
      f.ws.id,
      id,
      "insurance_card_front",
      new File(["<html>"], "card.html", { type: "text/html" }),
    );
    expect(wrongType.ok).toBe(false);
    expect((await env.FILES.list({ prefix: `surfaces/${f.ws.id}/${id}/` })).objects).toHaveLength(0);
    expect(await answers(env, f.ws.id, id)).toEqual({});
  });

  it("stores an insurance card photo in R2 and sends it with the coverage it documents, for review", async () => {
    const { f, entityId } = await setup();
    const { id } = await createVia(f, entityId);
    await open(env, f.ws.id, id);
    const result = await saveUpload(env, f.ws.id, id, "insurance_card_front", png(1000));
    expect(result).toMatchObject({ ok: true, status: "partial" });
    const answer = (await answers(env, f.ws.id, id)).insurance_card_front as {
      upload: string;
      bytes: number;
    };
    expect(answer).toMatchObject({ content_type: "image/png", bytes: 1000 });
    expect(answer.upload).toMatch(new RegExp(`^surfaces/${f.ws.id}/${id}/insurance_card_front-`));
    const object = await env.FILES.get(answer.upload);
    expect((await object!.arrayBuffer()).byteLength).toBe(1000);
    // Nothing reaches review before the patient submits.
    const before = await env.DB.prepare(
      "SELECT count(*) AS n FROM review_items WHERE workspace_id = ? AND entity_id = ?",
    )
      .bind(f.ws.id, entityId)
      .first<{ n: number }>();
    expect(before?.n).toBe(0);
    const done = await submit(env, f.ws.id, id, {
      email: "card@example.test",
      has_insurance: "yes",
      payer: "Aetna",
      member_id: "XK-1",
    });
    expect(done.status).toBe("completed");
    const coverage = await env.DB.prepare(
      "SELECT path, domain FROM review_items WHERE workspace_id = ? AND entity_id = ? AND domain = 'coverage'",
    )
      .bind(f.ws.id, entityId)
      .all<{ path: string; domain: string }>();
    expect(coverage.results).toHaveLength(1);
    // The coverage fact at 0.5 carries the card photo.
    const state = await f.call("operator", "GET", `/world/entities/${entityId}`);
    const fact = JSON.stringify(state.body);
    expect(fact).toContain(answer.upload);
  });
});

describe("reshape and expiry", () => {
  it("reshape makes a new surface of the unfilled fields, its parent set", async () => {
    const { f, entityId } = await setup();
    const { id } = await createVia(f, entityId);
    await open(env, f.ws.id, id);
    await saveField(env, f.ws.id, id, "email", "x@example.test");
    await saveField(env, f.ws.id, id, "has_insurance", "no");
    const res = await f.call("operator", "POST", `/surfaces/${id}/reshape`, {});
    expect(res.status, res.text).toBe(201);
    expect(res.body).toMatchObject({ parent_id: id, status: "created", entity_id: entityId });
    const keys = res.body.spec.fields.map((x: { key: string }) => x.key);
    expect(keys).not.toContain("email");
    expect(keys).not.toContain("has_insurance");
    expect(keys).toContain("notes");
  });

  it("the cron expires surfaces past their expiry, with the event and audit row", async () => {
    const { f, entityId } = await setup();
    const { id } = await createVia(f, entityId);
    const { id: fresh } = await createVia(f, entityId);
    await env.DB.prepare("UPDATE surfaces SET expires_at = ? WHERE id = ?")
      .bind(new Date(Date.now() - 60_000).toISOString(), id)
      .run();
    const task = Object.values(TASKS)
      .flat()
      .find((t) => t.name === "surfaces.expire")!;
    await task.run(env, new Date());
    expect((await get(env, f.ws.id, id))?.status).toBe("expired");
    expect((await get(env, f.ws.id, fresh))?.status).toBe("created");
    expect((await surfaceEvents(f.ws.id, id)).map((e) => e.event_type)).toEqual([
      "surface.created",
      "surface.expired",
    ]);
    const audit = await auditActions(f.ws.id, "surface.expired");
    expect(audit.map((r) => [r.target_id, r.actor_id])).toEqual([[id, null]]);
    await task.run(env, new Date());
    expect(await auditActions(f.ws.id, "surface.expired")).toHaveLength(1);
  });

  it("a surface made by the service with an unknown patient is refused", async () => {
    const { f } = await setup();
    await expect(
      create(env, f.ws.id, {
        entityId: "ent_doesnotexist00",
        spec: SPEC as never,
        channel: "sms",
        createdBy: { type: "api", id: "t" },
      }),
    ).rejects.toThrow(/No such patient/);
  });
});
