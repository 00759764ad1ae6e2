/** Services (agent configurations): create, read, list, update, delete, as an admin does. */
import { beforeAll, describe, expect, it } from "vitest";
import { api } from "../helpers/http";
import { createWorkspace, insertPhoneNumber, type TestWorkspace } from "../helpers/workspace";

let ws: TestWorkspace;
let base: string;

beforeAll(async () => {
  ws = await createWorkspace();
  base = `/v1/${ws.id}/services`;
});

describe("services", () => {
  it("are created with defaults filled in, and read back the same", async () => {
    const created = await api("POST", base, { key: ws.keys.admin, body: { name: "Scheduling" } });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({
      id: expect.stringMatching(/^svc_/),
      workspace_id: ws.id,
      name: "Scheduling",
      description: "",
      persona: { agent_name: "Alex", tone: "warm", greeting: "", language: "en-US" },
      context_graph_id: null,
      escalation_rules: {
        risk_threshold: 0.7,
        keywords: [],
        operator_type: "administrative",
        fallback: "callback",
        fallback_number: null,
      },
    });
    const read = await api("GET", `${base}/${created.body.id}`, { key: ws.keys.viewer });
    expect(read.status).toBe(200);
    expect(read.body).toEqual(created.body);
  });

  it("keep everything given, with the fallback number in E.164", async () => {
    const body = {
      name: "Refills & Pharmacy (Dr. O'Brien)",
      description: "Prescription refills.\nNot for emergencies.",
      persona: {
        agent_name: "Sam",
        tone: "professional",
        greeting: "Thanks for calling.",
        language: "es-MX",
      },
      context_graph_id: "refills-v2",
      escalation_rules: {
        risk_threshold: 0.4,
        keywords: ["chest pain", "overdose"],
        operator_type: "clinical",
        fallback: "forward",
        fallback_number: "(201) 555-0123",
      },
    };
    const created = await api("POST", base, { key: ws.keys.owner, body });
    expect(created.status, created.text).toBe(201);
    expect(created.body).toMatchObject({
      ...body,
      escalation_rules: { ...body.escalation_rules, fallback_number: "+12015550123" },
    });
  });

  it("are listed oldest first with a total", async () => {
    const fresh = await createWorkspace();
    for (const name of ["First", "Second", "Third"]) {
      await api("POST", `/v1/${fresh.id}/services`, { key: fresh.keys.admin, body: { name } });
    }
    const list = await api("GET", `/v1/${fresh.id}/services`, { key: fresh.keys.viewer });
    expect(list.body.total).toBe(3);
    expect(list.body.results.map((s: { name: string }) => s.name)).toEqual(["First", "Second", "Third"]);
    expect(list.body.continuation_token).toBeNull();
  });

  it("are updated field by field, leaving the rest alone", async () => {
    const created = await api("POST", base, { key: ws.keys.admin, body: { name: "Billing" } });
    const id = created.body.id;
    const renamed = await api("PATCH", `${base}/${id}`, {
      key: ws.keys.admin,
      body: { name: "Billing and Insurance", persona: { tone: "concise" } },
    });
    expect(renamed.status, renamed.text).toBe(200);
    expect(renamed.body).toMatchObject({
      name: "Billing and Insurance",
      description: "",
      persona: { agent_name: "Alex", tone: "concise" },
    });
    expect(renamed.body.updated_at >= created.body.updated_at).toBe(true);
    const cleared = await api("PATCH", `${base}/${id}`, {
      key: ws.keys.admin,
      body: { context_graph_id: null },
    });
    expect(cleared.body.context_graph_id).toBeNull();
    expect(cleared.body.name).toBe("Billing and Insurance");
  });

  it("may keep their own name on update", async () => {
    const created = await api("POST", base, { key: ws.keys.admin, body: { name: "Same Name" } });
    const res = await api("PATCH", `${base}/${created.body.id}`, {
      key: ws.keys.admin,
      body: { name: "Same Name", description: "changed" },
    });
    expect(res.status).toBe(200);
  });

  it("are deleted, and their phone numbers stay, unassigned", async () => {
    const created = await api("POST", base, { key: ws.keys.admin, body: { name: "Closing Line" } });
    const number = await insertPhoneNumber(ws.id, created.body.id);
    const deleted = await api("DELETE", `${base}/${created.body.id}`, { key: ws.keys.admin });
    expect(deleted.status).toBe(204);
    expect(deleted.text).toBe("");
    expect((await api("GET", `${base}/${created.body.id}`, { key: ws.keys.admin })).status).toBe(404);
    const kept = await api("GET", `/v1/${ws.id}/phone-numbers/${number.id}`, { key: ws.keys.admin });
    expect(kept.body).toMatchObject({ number: number.e164, service_id: null });
  });

  it("may reuse the name of a deleted one, and the same name in another workspace", async () => {
    const first = await api("POST", base, { key: ws.keys.admin, body: { name: "Reused" } });
    await api("DELETE", `${base}/${first.body.id}`, { key: ws.keys.admin });
    expect((await api("POST", base, { key: ws.keys.admin, body: { name: "Reused" } })).status).toBe(201);
    const other = await createWorkspace();
    const elsewhere = await api("POST", `/v1/${other.id}/services`, {
      key: other.keys.admin,
      body: { name: "Reused" },
    });
    expect(elsewhere.status).toBe(201);
  });
});
