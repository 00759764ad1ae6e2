/**
 * Paging on every list that takes a `continuation_token` (enumerated from `/openapi.json`): the token
 * walks all pages with no duplicates or gaps, `limit`/`offset` page too, and a bad token is a 400.
 */
import { beforeAll, describe, expect, it } from "vitest";
import { newId } from "../../shared/ids";
import { gateDecisions } from "../../workers/db/schema";
import { db } from "../helpers/db";
import { type ApiResponse, api, expectError } from "../helpers/http";
import { documentedOperations } from "../helpers/openapi";
import {
  FIXTURE_REQUIRED_TAGS,
  insertCall,
  insertGapRequirement,
  insertSandboxSource,
  newOperator,
} from "../helpers/operations";
import {
  createWorkspace,
  insertApiKey,
  insertMember,
  insertPhoneNumber,
  insertService,
  type TestWorkspace,
} from "../helpers/workspace";

// Lists directly under the workspace; nested ones (a service's knowledge, say) page in their own suites.
const lists = (await documentedOperations()).filter(
  (op) =>
    op.method === "GET" &&
    op.path.startsWith("/v1/") &&
    op.queryParams.includes("continuation_token") &&
    !op.path.replace("{workspace_id}", "").includes("{"),
);

let ws: TestWorkspace;
let other: TestWorkspace;
const ROWS = 7;

/** How to add one more row to each paged list. */
const GROW: Record<string, (workspaceId: string) => Promise<unknown>> = {
  "GET /v1/{workspace_id}/services": (id) => insertService(id),
  "GET /v1/{workspace_id}/phone-numbers": (id) => insertPhoneNumber(id),
  "GET /v1/{workspace_id}/users": (id) => insertMember(id, "viewer"),
  "GET /v1/{workspace_id}/api-keys": (id) => insertApiKey(id, "viewer"),
  "GET /v1/{workspace_id}/audit": (id) => insertService(id).then(() => undefined),
  // Disabled, so no cron run polls them while the suite walks the list.
  "GET /v1/{workspace_id}/data-sources": (id) => insertSandboxSource({ id }, { enabled: false }),
  "GET /v1/{workspace_id}/calls": (id) => insertCall({ id }),
  "GET /v1/{workspace_id}/surfaces/gate-decisions": (id) =>
    db()
      .insert(gateDecisions)
      .values({
        id: newId("gd"),
        workspaceId: id,
        entityId: newId("ent"),
        decision: "block",
        reason: "cooldown",
        at: new Date().toISOString(),
      }),
  "GET /v1/{workspace_id}/gap-requirements": (id) => insertGapRequirement({ id }),
  "GET /v1/{workspace_id}/operators": (id) => newOperator({ id }),
};

beforeAll(async () => {
  [ws, other] = await Promise.all([createWorkspace(), createWorkspace()]);
});

it("knows how to grow every paged list of the resources these suites own", () => {
  const owned = lists.filter((op) => op.tags.some((tag) => FIXTURE_REQUIRED_TAGS.includes(tag)));
  expect(owned.map((op) => op.id).filter((id) => !GROW[id])).toEqual([]);
});

describe.each(lists.filter((op) => op.id !== "GET /v1/{workspace_id}/audit"))("$id", (op) => {
  const grow = GROW[op.id];
  let path: string;
  let total: number;

  beforeAll(async () => {
    path = op.path.replace("{workspace_id}", ws.id);
    if (!grow) return;
    for (let i = 0; i < ROWS; i++) {
      await grow(ws.id);
      await grow(other.id);
    }
    total = (await api("GET", path, { key: ws.keys.owner })).body.total;
    expect(total).toBeGreaterThanOrEqual(ROWS);
  });

  // Rows are named by `id`; an operator by its `user_id`.
  const ids = (res: { body: { results: { id?: string; user_id?: string }[] } }): string[] =>
    res.body.results.map((r) => r.id ?? r.user_id ?? "");

  it.skipIf(!grow).each([1, 2, 3, 100])(
    "walks every row exactly once with continuation_token, %i at a time",
    async (limit) => {
      const everything = ids(await api("GET", `${path}?limit=100`, { key: ws.keys.owner }));
      const seen: string[] = [];
      let token: string | null = null;
      let pages = 0;
      do {
        const res: ApiResponse<{
          results: { id: string }[];
          total: number;
          continuation_token: string | null;
        }> = await api("GET", `${path}?limit=${limit}${token ? `&continuation_token=${token}` : ""}`, {
          key: ws.keys.owner,
        });
        expect(res.status, res.text).toBe(200);
        expect(res.body.total).toBe(total);
        expect(res.body.results.length).toBeLessThanOrEqual(limit);
        seen.push(...ids(res));
        token = res.body.continuation_token;
        pages++;
      } while (token && pages <= total + 1);
      expect(seen).toEqual(everything);
      expect(new Set(seen).size).toBe(total);
    },
  );

  it.runIf(grow)("pages with limit and offset in the same order", async () => {
    const everything = ids(await api("GET", `${path}?limit=100`, { key: ws.keys.owner }));
    const page = ids(await api("GET", `${path}?limit=3&offset=2`, { key: ws.keys.owner }));
    expect(page).toEqual(everything.slice(2, 5));
    const past = await api("GET", `${path}?offset=${total}`, { key: ws.keys.owner });
    expect(past.body).toMatchObject({ results: [], total, continuation_token: null });
  });

  it.runIf(grow)("never shows another workspace's rows", async () => {
    const mine = new Set(ids(await api("GET", `${path}?limit=100`, { key: ws.keys.owner })));
    const theirs = ids(
      await api("GET", `${op.path.replace("{workspace_id}", other.id)}?limit=100`, { key: other.keys.owner }),
    );
    for (const id of theirs) expect(mine.has(id)).toBe(false);
  });

  it("answers 400 to a continuation_token it did not issue", async () => {
    const tokens = [
      "garbage",
      "e30",
      btoa("[]"),
      btoa('["only-one"]'),
      btoa("[1, 2]"),
      btoa('{"a":1}'),
      "%00",
      "x".repeat(513),
      btoa(JSON.stringify([7])),
    ];
    for (const token of tokens) {
      const res = await api("GET", `${path}?continuation_token=${encodeURIComponent(token)}`, {
        key: ws.keys.owner,
      });
      expect(res.status, token).toBe(400);
      expectError(res);
      expect(["invalid_continuation_token", "validation_failed"]).toContain(res.body.error.code);
    }
  });

  it.each(["limit=0", "limit=101", "limit=-1", "limit=abc", "offset=-1", "offset=1.5"])(
    "answers 400 to %s",
    async (query) => {
      expectError(await api("GET", `${path}?${query}`, { key: ws.keys.owner }), "validation_failed", 400);
    },
  );
});

describe("GET /v1/{workspace_id}/audit", () => {
  it("answers 400 to a continuation_token it did not issue, including one from another list", async () => {
    await insertService(ws.id);
    const services = await api("GET", `/v1/${ws.id}/services?limit=1`, { key: ws.keys.owner });
    const foreignToken = services.body.continuation_token;
    expect(foreignToken).toEqual(expect.any(String));
    for (const token of ["garbage", foreignToken, btoa('["x"]')]) {
      const res = await api("GET", `/v1/${ws.id}/audit?continuation_token=${encodeURIComponent(token)}`, {
        key: ws.keys.admin,
      });
      expectError(res, "invalid_continuation_token", 400);
    }
  });

  it.each([
    "action=a%20b",
    "actor_id=x'--",
    "since=yesterday",
    "until=2026-01-01",
    `target_id=${"x".repeat(121)}`,
  ])("answers 400 to the filter %s", async (query) => {
    expectError(
      await api("GET", `/v1/${ws.id}/audit?${query}`, { key: ws.keys.admin }),
      "validation_failed",
      400,
    );
  });
});
