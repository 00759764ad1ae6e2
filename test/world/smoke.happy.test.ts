import { env, exports } from "cloudflare:workers";
import { expect, it } from "vitest";
import { apiKeyHint, generateApiKey, hashApiKey } from "../../shared/auth/api-key";

async function workspaceWithKey() {
  const ws = `w-${crypto.randomUUID().slice(0, 8)}`;
  const key = generateApiKey();
  await env.DB.batch([
    env.DB.prepare("INSERT INTO workspaces (id, name) VALUES (?, ?)").bind(ws, "World test"),
    env.DB.prepare(
      "INSERT INTO api_keys (id, workspace_id, name, role, key_hash, key_hint) VALUES (?, ?, 'k', 'owner', ?, ?)",
    ).bind(`key_${crypto.randomUUID().slice(0, 12)}`, ws, await hashApiKey(key), apiKeyHint(key)),
  ]);
  const call = (method: string, path: string, body?: unknown) =>
    exports.default.fetch(`https://sb.test/v1/${ws}${path}`, {
      method,
      headers: { Authorization: `Bearer ${key}`, ...(body ? { "Content-Type": "application/json" } : {}) },
      body: body ? JSON.stringify(body) : undefined,
    });
  return { ws, call };
}

it("ingests a patient from the EHR, projects it, searches and resolves it", async () => {
  const { call } = await workspaceWithKey();
  const events = [
    {
      idempotency_key: "p1-demo",
      entity: { entity_type: "patient", external_id: "ehr:Patient:p1" },
      event_type: "demographics.recorded",
      data: { given_name: "Maria", family_name: "Lopez", birth_date: "1980-04-02" },
      source: "ehr",
    },
    {
      idempotency_key: "p1-contact",
      entity: { entity_type: "patient", external_id: "ehr:Patient:p1" },
      event_type: "contact.recorded",
      data: { phone: "+14155550123" },
      source: "ehr",
    },
    {
      idempotency_key: "p1-allergy",
      entity: { entity_type: "patient", external_id: "ehr:Patient:p1" },
      event_type: "allergy.recorded",
      data: { substance: "Penicillin", severity: "severe" },
      source: "ehr",
    },
  ];
  const res = await call("POST", "/world/events", { events });
  expect(res.status).toBe(200);
  const body = (await res.json()) as { stored: number; results: { entity_id: string }[] };
  expect(body.stored).toBe(3);
  const entityId = body.results[0]!.entity_id;

  const again = (await (await call("POST", "/world/events", { events })).json()) as {
    stored: number;
    duplicates: number;
  };
  expect(again).toMatchObject({ stored: 0, duplicates: 3 });

  const detail = (await (await call("GET", `/world/entities/${entityId}`)).json()) as {
    display_name: string;
    facts: { path: string; confidence: number }[];
  };
  expect(detail.display_name).toBe("Maria Lopez");
  expect(detail.facts.map((f) => f.path)).toEqual(
    expect.arrayContaining([
      "allergies.penicillin",
      "contact.phone",
      "demographics.birth_date",
      "demographics.family_name",
    ]),
  );
  expect(detail.facts.find((f) => f.path === "allergies.penicillin")?.confidence).toBe(1);

  const search = (await (await call("GET", "/world/entities?q=mar%20lo")).json()) as { total: number };
  expect(search.total).toBe(1);
  const resolve = (await (
    await call("POST", "/world/entities/resolve", { phone: "(415) 555-0123" })
  ).json()) as { candidates: { entity_id: string }[] };
  expect(resolve.candidates[0]?.entity_id).toBe(entityId);

  const extraction = await call("POST", "/world/extractions", {
    entity_id: entityId,
    interaction_id: "call-1",
    channel: "voice",
    transcript: [{ speaker: "caller", text: "I'm allergic to latex and I take metformin" }],
    facts: [
      { event_type: "allergy.recorded", data: { substance: "latex" }, basis: "agent_confirmed" },
      { event_type: "medication.recorded", data: { name: "lisinopril" }, basis: "agent_mentioned" },
    ],
  });
  expect(extraction.status).toBe(200);
  const verdicts = (await extraction.json()) as {
    results: { path: string; verified: boolean; priority: string }[];
  };
  expect(verdicts.results).toMatchObject([
    { path: "allergies.latex", verified: true, priority: "high" },
    { path: "medications.lisinopril", verified: false, priority: "high" },
  ]);
});
