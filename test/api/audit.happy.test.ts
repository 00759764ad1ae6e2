/**
 * The audit log as a user relies on it: every successful write appends its row(s) to the workspace
 * chain with the right action, target and actor (every operation, enumerated from `/openapi.json`);
 * reads append nothing; `/audit` filters and pages; `/audit/verify` vouches for the chain.
 */
import { beforeAll, describe, expect, it } from "vitest";
import { ACCOUNT_CHAIN } from "../../workers/db/audit";
import { auditRows } from "../helpers/db";
import { api } from "../helpers/http";
import { documentedOperations, isMutating } from "../helpers/openapi";
import { hasFixture, prepare } from "../helpers/operations";
import { currentTotp } from "../helpers/totp";
import {
  createWorkspace,
  insertMember,
  insertService,
  sessionCookie,
  TEST_PASSWORD,
  type TestWorkspace,
  unique,
} from "../helpers/workspace";

const operations = await documentedOperations();
/** Operations with a successful-request fixture (test/helpers/operations.ts says which must have one). */
const v1 = operations.filter((op) => op.path.startsWith("/v1/") && hasFixture(op));

let ws: TestWorkspace;
let ownerCookie: string;

beforeAll(async () => {
  ws = await createWorkspace();
  ownerCookie = (await sessionCookie(ws.members.owner.id)).cookie;
});

describe.each(v1)("$id", (op) => {
  it(isMutating(op) ? "appends its audit rows, naming the actor" : "appends nothing", async () => {
    const callers = [
      { credentials: { key: ws.keys.owner }, actorType: "api_key", actorId: ws.keyIds.owner },
      { credentials: { cookie: ownerCookie }, actorType: "user", actorId: ws.members.owner.id },
    ];
    for (const caller of callers) {
      const prepared = await prepare(op.id, ws);
      const before = (await auditRows(ws.id)).length;
      const res = await api(op.method, prepared.path, { ...caller.credentials, body: prepared.body });
      expect(res.status, res.text).toBe(prepared.status);
      const appended = (await auditRows(ws.id)).slice(before);
      const expected = (prepared.audit ?? []).map((row) => ({
        action: row.action,
        targetType: row.targetType,
        targetId: typeof row.targetId === "function" ? row.targetId(res.body) : (row.targetId ?? res.body.id),
        actorType: row.bySystem ? "system" : caller.actorType,
        actorId: row.bySystem ? null : caller.actorId,
        requestId: res.headers.get("X-Request-Id"),
        workspaceId: ws.id,
      }));
      expect(appended, caller.actorType).toMatchObject(expected);
      expect(appended).toHaveLength(expected.length);
    }
  });
});

/**
 * Account operations write to the `_account` chain (a new workspace starts its own). For each mutating
 * `/auth` operation: how to get it ready, the request, and the one row it must append.
 */
const AUTH_WRITES: Record<
  string,
  () => Promise<{ cookie?: string; body?: unknown; chain: string; action: string; actorId: string }>
> = {
  "POST /auth/login": async () => {
    const member = await insertMember(ws.id, "viewer");
    return {
      body: { email: member.email, password: TEST_PASSWORD },
      chain: ACCOUNT_CHAIN,
      action: "auth.login",
      actorId: member.id,
    };
  },
  "POST /auth/logout": async () => {
    const member = await insertMember(ws.id, "viewer");
    const { cookie } = await sessionCookie(member.id);
    return { cookie, chain: ACCOUNT_CHAIN, action: "auth.logout", actorId: member.id };
  },
  "POST /auth/mfa/setup": async () => {
    const member = await insertMember(ws.id, "viewer");
    const { cookie } = await sessionCookie(member.id);
    return { cookie, chain: ACCOUNT_CHAIN, action: "auth.mfa_setup_started", actorId: member.id };
  },
  "POST /auth/mfa/enable": async () => {
    const member = await insertMember(ws.id, "viewer");
    const { cookie } = await sessionCookie(member.id);
    const { secret } = (await api("POST", "/auth/mfa/setup", { cookie })).body;
    return {
      cookie,
      body: { code: currentTotp(secret) },
      chain: ACCOUNT_CHAIN,
      action: "auth.mfa_enabled",
      actorId: member.id,
    };
  },
  "POST /auth/mfa/disable": async () => {
    const member = await insertMember(ws.id, "viewer");
    const { cookie } = await sessionCookie(member.id);
    const { secret } = (await api("POST", "/auth/mfa/setup", { cookie })).body;
    await api("POST", "/auth/mfa/enable", { cookie, body: { code: currentTotp(secret) } });
    return {
      cookie,
      body: { code: currentTotp(secret) },
      chain: ACCOUNT_CHAIN,
      action: "auth.mfa_disabled",
      actorId: member.id,
    };
  },
  "POST /auth/workspaces": async () => {
    const { cookie } = await sessionCookie(ws.members.viewer.id);
    const id = `t-audit-${unique()}`;
    return {
      cookie,
      body: { id, name: "Audited Clinic" },
      chain: id,
      action: "workspace.created",
      actorId: ws.members.viewer.id,
    };
  },
};

describe("the account chain", () => {
  const authWrites = operations.filter((op) => op.path.startsWith("/auth/") && isMutating(op));

  it("has a scenario for every mutating /auth operation", () => {
    expect(authWrites.map((op) => op.id).sort()).toEqual(Object.keys(AUTH_WRITES).sort());
  });

  it.each(authWrites.map((op) => [op.id, op] as const))(
    "%s appends exactly one row, naming the user",
    async (_, op) => {
      const scenario = await AUTH_WRITES[op.id]!();
      const before = (await auditRows(scenario.chain)).length;
      const res = await api(op.method, op.path, { cookie: scenario.cookie, body: scenario.body });
      expect(res.status, res.text).toBeLessThan(300);
      const appended = (await auditRows(scenario.chain)).slice(before);
      expect(appended).toHaveLength(1);
      expect(appended[0]).toMatchObject({
        action: scenario.action,
        actorType: "user",
        actorId: scenario.actorId,
        requestId: res.headers.get("X-Request-Id"),
      });
    },
  );
});

describe("GET /v1/{workspace_id}/audit", () => {
  let filtered: TestWorkspace;
  const serviceIds: string[] = [];

  beforeAll(async () => {
    filtered = await createWorkspace();
    for (let i = 0; i < 7; i++) {
      const res = await api("POST", `/v1/${filtered.id}/services`, {
        key: i % 2 === 0 ? filtered.keys.owner : filtered.keys.admin,
        body: { name: `Line ${i}` },
      });
      serviceIds.push(res.body.id);
    }
    await api("PATCH", `/v1/${filtered.id}/services/${serviceIds[0]}`, {
      key: filtered.keys.owner,
      body: { description: "Updated" },
    });
    await api("DELETE", `/v1/${filtered.id}/services/${serviceIds[1]}`, { key: filtered.keys.owner });
  });

  const list = (query = "") => api("GET", `/v1/${filtered.id}/audit${query}`, { key: filtered.keys.admin });

  it("lists the workspace's entries newest first, with their chain fields", async () => {
    const res = await list();
    expect(res.status).toBe(200);
    expect(res.body.total).toBe(9);
    expect(res.body.results.map((r: { seq: number }) => r.seq)).toEqual([9, 8, 7, 6, 5, 4, 3, 2, 1]);
    expect(res.body.results[0]).toMatchObject({
      action: "service.deleted",
      target_type: "service",
      target_id: serviceIds[1],
      actor_type: "api_key",
      actor_id: filtered.keyIds.owner,
      prev_hash: res.body.results[1].hash,
    });
    expect(res.body.results.at(-1).prev_hash).toBe("0".repeat(64));
    expect(res.body.continuation_token).toBeNull();
  });

  it("filters by action, actor, target type and target id", async () => {
    const created = await list("?action=service.created");
    expect(created.body.total).toBe(7);
    expect(created.body.results.every((r: { action: string }) => r.action === "service.created")).toBe(true);

    const byAdmin = await list(`?actor_id=${filtered.keyIds.admin}`);
    expect(byAdmin.body.total).toBe(3);

    const byTarget = await list(`?target_type=service&target_id=${serviceIds[0]}`);
    expect(byTarget.body.results.map((r: { action: string }) => r.action)).toEqual([
      "service.updated",
      "service.created",
    ]);

    const none = await list("?action=service.created&actor_id=key_nobodyatall0");
    expect(none.body).toEqual({ results: [], total: 0, continuation_token: null });
  });

  it("filters by time, comparing instants rather than spellings", async () => {
    const all = (await list()).body.results as { seq: number; created_at: string }[];
    const fifth = all.find((r) => r.seq === 5)!;
    // The same instant written without milliseconds must still include the rows at or after it.
    const sinceSecond = `${fifth.created_at.slice(0, 19)}Z`;
    const since = await list(`?since=${encodeURIComponent(sinceSecond)}&limit=100`);
    const expectedSince = all.filter((r) => r.created_at >= new Date(sinceSecond).toISOString());
    expect(since.body.total).toBe(expectedSince.length);
    expect(since.body.results.map((r: { seq: number }) => r.seq)).toContain(5);

    const until = await list(`?until=${encodeURIComponent(fifth.created_at)}`);
    expect(until.body.results.every((r: { created_at: string }) => r.created_at <= fifth.created_at)).toBe(
      true,
    );
    expect(until.body.results.map((r: { seq: number }) => r.seq)).toContain(5);

    const future = await list(`?since=${encodeURIComponent(new Date(Date.now() + 60_000).toISOString())}`);
    expect(future.body.total).toBe(0);
  });

  it("pages with limit and offset", async () => {
    const page = await list("?limit=4&offset=2");
    expect(page.body.results.map((r: { seq: number }) => r.seq)).toEqual([7, 6, 5, 4]);
    expect(page.body.total).toBe(9);
  });

  it("walks every entry once with continuation_token, also under a filter", async () => {
    for (const [filter, total] of [
      ["", 9],
      ["&action=service.created", 7],
    ] as const) {
      const seen: number[] = [];
      let token: string | null = null;
      let pages = 0;
      do {
        const res = await list(`?limit=2${filter}${token ? `&continuation_token=${token}` : ""}`);
        expect(res.status).toBe(200);
        seen.push(...res.body.results.map((r: { seq: number }) => r.seq));
        token = res.body.continuation_token;
        pages++;
      } while (token && pages < 20);
      expect(seen).toHaveLength(total);
      expect(new Set(seen).size).toBe(total);
      expect(seen).toEqual([...seen].sort((a, b) => b - a));
    }
  });

  it("shows nothing of another workspace's chain", async () => {
    const res = await list();
    const ids = new Set(res.body.results.map((r: { id: string }) => r.id));
    const foreign = await auditRows(ws.id);
    expect(foreign.length).toBeGreaterThan(0);
    for (const row of foreign) expect(ids.has(row.id)).toBe(false);
  });
});

describe("GET /v1/{workspace_id}/audit/verify", () => {
  it("reports an empty chain as intact", async () => {
    const fresh = await createWorkspace();
    const res = await api("GET", `/v1/${fresh.id}/audit/verify`, { key: fresh.keys.admin });
    expect(res.body).toEqual({ intact: true, checked: 0, last_seq: null, broken_at_seq: null, reason: null });
  });

  it("reports the chain intact after many writes of every kind", async () => {
    const busy = await createWorkspace();
    for (let i = 0; i < 30; i++) {
      const id = await insertService(busy.id);
      await api("PATCH", `/v1/${busy.id}/services/${id}`, {
        key: busy.keys.owner,
        body: { description: `v${i}` },
      });
    }
    for (const op of v1.filter(isMutating)) {
      const prepared = await prepare(op.id, busy);
      await api(op.method, prepared.path, { key: busy.keys.owner, body: prepared.body });
    }
    const rows = await auditRows(busy.id);
    const res = await api("GET", `/v1/${busy.id}/audit/verify`, { key: busy.keys.admin });
    expect(res.body).toEqual({
      intact: true,
      checked: rows.length,
      last_seq: rows.length,
      broken_at_seq: null,
      reason: null,
    });
    expect(rows.length).toBeGreaterThan(40);
    // Every write route's fixture, some opening live simulated calls: seconds, not the default 5.
  }, 60_000);
});
