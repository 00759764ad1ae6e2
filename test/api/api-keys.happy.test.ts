/** API keys: shown once, usable at once, listed by hint, touched on use, revoked for good. */
import { env } from "cloudflare:workers";
import { beforeAll, describe, expect, it } from "vitest";
import { hashApiKey } from "../../shared/auth/api-key";
import { api } from "../helpers/http";
import { createWorkspace, insertApiKey, sessionCookie, type TestWorkspace } from "../helpers/workspace";

let ws: TestWorkspace;
let base: string;

beforeAll(async () => {
  ws = await createWorkspace();
  base = `/v1/${ws.id}/api-keys`;
});

const listed = async (id: string) =>
  (await api("GET", `${base}?limit=100`, { key: ws.keys.admin })).body.results.find(
    (k: { id: string }) => k.id === id,
  );

describe("API keys", () => {
  it("are shown once at creation, work at once, and are stored only as a hash", async () => {
    const created = await api("POST", base, {
      key: ws.keys.admin,
      body: { name: "EHR sync", role: "operator" },
    });
    expect(created.status, created.text).toBe(201);
    const { key, ...view } = created.body;
    expect(key).toMatch(/^sb_[A-Za-z0-9_-]{43}$/);
    expect(view).toMatchObject({
      workspace_id: ws.id,
      name: "EHR sync",
      role: "operator",
      key_hint: key.slice(0, 9),
      created_by: ws.keyIds.admin,
      expires_at: null,
      revoked_at: null,
      last_used_at: null,
    });
    expect((await api("GET", `/v1/${ws.id}/services`, { key })).status).toBe(200);

    const row = await env.DB.prepare("SELECT * FROM api_keys WHERE id = ?").bind(view.id).first();
    expect(row?.key_hash).toBe(await hashApiKey(key));
    expect(JSON.stringify(row)).not.toContain(key);

    const entry = await listed(view.id);
    expect(entry).toMatchObject({ id: view.id, key_hint: key.slice(0, 9) });
    expect(entry.key).toBeUndefined();
    const list = await api("GET", `${base}?limit=100`, { key: ws.keys.admin });
    expect(list.text).not.toContain(key);
  });

  it("record who created them: the signed-in user", async () => {
    const { cookie } = await sessionCookie(ws.members.owner.id);
    const created = await api("POST", base, { cookie, body: { name: "From the dashboard", role: "viewer" } });
    expect(created.body.created_by).toBe(ws.members.owner.id);
  });

  it("record when they were last used", async () => {
    const { id, key } = await insertApiKey(ws.id, "viewer");
    expect((await listed(id)).last_used_at).toBeNull();
    const before = new Date().toISOString();
    expect((await api("GET", `/v1/${ws.id}`, { key })).status).toBe(200);
    let lastUsed: string | null = null;
    for (let i = 0; i < 50 && !lastUsed; i++) {
      lastUsed = (await listed(id)).last_used_at;
      if (!lastUsed) await new Promise((resolve) => setTimeout(resolve, 20));
    }
    expect(lastUsed).not.toBeNull();
    expect(lastUsed! >= before.slice(0, 19)).toBe(true);
  });

  it("keep an expiry date in the future, and work until then", async () => {
    const expiresAt = new Date(Date.now() + 86_400_000).toISOString();
    const created = await api("POST", base, {
      key: ws.keys.admin,
      body: { name: "Temporary", role: "viewer", expires_at: expiresAt },
    });
    expect(created.body.expires_at).toBe(expiresAt);
    expect((await api("GET", `/v1/${ws.id}`, { key: created.body.key })).status).toBe(200);
  });

  it("stop working the moment they are revoked, and stay listed as revoked", async () => {
    const created = await api("POST", base, {
      key: ws.keys.admin,
      body: { name: "Short lived", role: "viewer" },
    });
    const { id, key } = created.body;
    expect((await api("GET", `/v1/${ws.id}`, { key })).status).toBe(200);
    expect((await api("DELETE", `${base}/${id}`, { key: ws.keys.admin })).status).toBe(204);
    const refused = await api("GET", `/v1/${ws.id}`, { key });
    expect(refused.status).toBe(401);
    expect((await listed(id)).revoked_at).not.toBeNull();
    // Revoking again is a no-op.
    expect((await api("DELETE", `${base}/${id}`, { key: ws.keys.admin })).status).toBe(204);
  });

  it("can revoke themselves", async () => {
    const { id, key } = await insertApiKey(ws.id, "admin");
    expect((await api("DELETE", `${base}/${id}`, { key })).status).toBe(204);
    expect((await api("GET", `/v1/${ws.id}`, { key })).status).toBe(401);
  });
});
