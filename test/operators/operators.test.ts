/**
 * The operator registry: registering members (and refusing those who cannot take calls), reading,
 * changing and removing operators, statuses (their own for operators, anyone's for admins) published to
 * the workspace's stream, the audit trail, routing's view of who is available, and the demo's operators.
 */
import { env } from "cloudflare:workers";
import { and, eq } from "drizzle-orm";
import { beforeAll, describe, expect, it } from "vitest";
import { demoSql } from "../../scripts/seed-sql";
import { newId } from "../../shared/ids";
import type { Statement } from "../../workers/db/client";
import { availableOperators, deleteOperatorStatements, setOperatorStatus } from "../../workers/db/operators";
import { memberships, operatorAssignments, operators } from "../../workers/db/schema";
import { auditRows, databaseState, db } from "../helpers/db";
import { api, expectError } from "../helpers/http";
import { newOperator, registerOperator } from "../helpers/operations";
import {
  createWorkspace,
  insertMember,
  insertService,
  insertUser,
  sessionCookie,
  type TestWorkspace,
} from "../helpers/workspace";
import { published } from "../world/fixtures";

let ws: TestWorkspace;
const path = (suffix = "") => `/v1/${ws.id}/operators${suffix}`;

beforeAll(async () => {
  ws = await createWorkspace();
});

/** The workspace's `operator.status` events, oldest first. */
async function statusEvents(workspaceId: string) {
  return (await published(workspaceId, "operator.status")).map((e) => e.data);
}

/** An assignment row: the operator connected to a call (and wrapped it up when `wrapped`). */
async function connectTo(workspaceId: string, userId: string, wrapped = false) {
  const at = new Date().toISOString();
  await db()
    .insert(operatorAssignments)
    .values({
      id: newId("asg"),
      workspaceId,
      callId: newId("call"),
      operatorUserId: userId,
      connectedAt: at,
      wrappedAt: wrapped ? at : null,
      outcome: wrapped ? "resolved" : null,
    });
}

describe("registering an operator", () => {
  it("registers a member with the operator role, offline, with normalized skills, and audits it", async () => {
    const member = await insertMember(ws.id, "operator");
    const res = await api("POST", path(), {
      key: ws.keys.admin,
      body: { user_id: member.id, type: "clinical", skills: [" Triage ", "spanish"] },
    });
    expect(res.status, res.text).toBe(201);
    expect(res.body).toMatchObject({
      user_id: member.id,
      email: member.email,
      name: expect.stringMatching(/^operator /),
      type: "clinical",
      skills: ["triage", "spanish"],
      status: "offline",
      active_calls: 0,
    });
    const audit = (await auditRows(ws.id)).at(-1)!;
    expect(audit).toMatchObject({
      action: "operator.registered",
      targetType: "operator",
      targetId: member.id,
      actorType: "api_key",
      actorId: ws.keyIds.admin,
      details: { type: "clinical", skills: ["triage", "spanish"] },
    });
    const got = await api("GET", path(`/${member.id}`), { key: ws.keys.viewer });
    expect(got.status).toBe(200);
    expect(got.body).toEqual(res.body);
  });

  it("registers admins and owners too, with no skills by default", async () => {
    const admin = await insertMember(ws.id, "admin");
    const res = await api("POST", path(), {
      key: ws.keys.owner,
      body: { user_id: admin.id, type: "administrative" },
    });
    expect(res.status, res.text).toBe(201);
    expect(res.body.skills).toEqual([]);
  });

  it.each([
    ["a viewer", async () => (await insertMember(ws.id, "viewer")).id, 422, /viewer cannot take calls/],
    ["a user of no workspace", async () => (await insertUser()).id, 422, /member of this workspace/],
    ["an unknown user", async () => newId("usr"), 422, /member of this workspace/],
    [
      "another workspace's operator",
      async () => (await insertMember((await createWorkspace()).id, "operator")).id,
      422,
      /member of this workspace/,
    ],
    ["an operator already registered", () => newOperator(ws), 409, /already an operator/],
  ] as const)("refuses %s, storing nothing", async (_, userId, status, message) => {
    const body = { user_id: await userId(), type: "clinical", skills: ["triage"] };
    const before = await databaseState();
    const res = await api("POST", path(), { key: ws.keys.admin, body });
    expectError(res, status === 409 ? "conflict" : "unprocessable", status);
    expect(res.body.error.message).toMatch(message);
    expect(await databaseState()).toEqual(before);
  });

  it.each([
    ["a skill with spaces", { skills: ["night shift"] }],
    ["a skill with markup", { skills: ["<b>"] }],
    ["an empty skill", { skills: [""] }],
    ["too many skills", { skills: Array.from({ length: 21 }, (_, i) => `s${i}`) }],
    ["an unknown type", { type: "physician" }],
    ["a malformed user id", { user_id: "svc_abcdefghijk" }],
  ])("answers 400 to %s", async (_, change) => {
    const member = await insertMember(ws.id, "operator");
    const body = { user_id: member.id, type: "clinical", skills: [], ...change };
    const before = await databaseState();
    expectError(await api("POST", path(), { key: ws.keys.admin, body }), "validation_failed", 400);
    expect(await databaseState()).toEqual(before);
  });
});

describe("reading operators", () => {
  let other: TestWorkspace;
  let online: string;
  let busy: string;

  beforeAll(async () => {
    other = await createWorkspace();
    busy = await registerOperator(other, (await insertMember(other.id, "operator")).id, {
      type: "administrative",
    });
    online = await registerOperator(other, (await insertMember(other.id, "admin")).id, {
      skills: ["triage"],
    });
    await db().batch([
      setOperatorStatus(db(), other.id, online, "online"),
      setOperatorStatus(db(), other.id, busy, "busy"),
    ]);
    // Two calls: one still connected, one wrapped up.
    await connectTo(other.id, busy);
    await connectTo(other.id, busy, true);
  });

  it("lists them in registration order, with the calls each is connected to now", async () => {
    const res = await api("GET", `/v1/${other.id}/operators`, { key: other.keys.viewer });
    expect(res.status).toBe(200);
    expect(res.body.total).toBe(2);
    expect(res.body.results.map((o: { user_id: string }) => o.user_id)).toEqual([busy, online]);
    expect(res.body.results[0]).toMatchObject({ status: "busy", type: "administrative", active_calls: 1 });
    expect(res.body.results[1]).toMatchObject({ status: "online", skills: ["triage"], active_calls: 0 });
  });

  it.each([
    ["status=online", () => [online]],
    ["status=busy&type=administrative", () => [busy]],
    ["status=offline", () => []],
    ["type=clinical", () => [online]],
    ["type=crisis_counselor", () => []],
  ])("filters by %s", async (query, expected) => {
    const res = await api("GET", `/v1/${other.id}/operators?${query}`, { key: other.keys.viewer });
    expect(res.status).toBe(200);
    expect(res.body.results.map((o: { user_id: string }) => o.user_id)).toEqual(expected());
    expect(res.body.total).toBe(expected().length);
  });

  it.each(["status=away", "type=nurse"])("answers 400 to the filter %s", async (query) => {
    expectError(
      await api("GET", `/v1/${other.id}/operators?${query}`, { key: other.keys.viewer }),
      "validation_failed",
      400,
    );
  });

  it("answers 404 for a user who is not an operator, and 400 for an id that is not a user's", async () => {
    expectError(
      await api("GET", path(`/${ws.members.viewer.id}`), { key: ws.keys.viewer }),
      "not_found",
      404,
    );
    expectError(await api("GET", path(`/${online}`), { key: ws.keys.viewer }), "not_found", 404);
    expectError(await api("GET", path("/usr_x"), { key: ws.keys.viewer }), "validation_failed", 400);
  });
});

describe("changing and removing an operator", () => {
  it("changes the type and skills (admin+), audited with what changed", async () => {
    const id = await newOperator(ws);
    const res = await api("PATCH", path(`/${id}`), {
      key: ws.keys.admin,
      body: { type: "crisis_counselor", skills: ["Spanish"] },
    });
    expect(res.status, res.text).toBe(200);
    expect(res.body).toMatchObject({ type: "crisis_counselor", skills: ["spanish"], status: "offline" });
    expect((await auditRows(ws.id)).at(-1)).toMatchObject({
      action: "operator.updated",
      targetId: id,
      details: {
        fields: ["type", "skills"],
        from: { type: "clinical", skills: [] },
        to: { type: "crisis_counselor", skills: ["spanish"] },
      },
    });
    const skillsOnly = await api("PATCH", path(`/${id}`), { key: ws.keys.owner, body: { skills: [] } });
    expect(skillsOnly.body).toMatchObject({ type: "crisis_counselor", skills: [] });
  });

  it("refuses an empty change, and changes to an operator that does not exist", async () => {
    const id = await newOperator(ws);
    const before = await databaseState();
    expectError(
      await api("PATCH", path(`/${id}`), { key: ws.keys.admin, body: {} }),
      "validation_failed",
      400,
    );
    expectError(
      await api("PATCH", path(`/${newId("usr")}`), { key: ws.keys.admin, body: { skills: [] } }),
      "not_found",
      404,
    );
    expect(await databaseState()).toEqual(before);
  });

  it("removes an operator (the member stays), audited; a second removal is a 404", async () => {
    const id = await newOperator(ws);
    expect((await api("DELETE", path(`/${id}`), { key: ws.keys.admin })).status).toBe(204);
    expect((await auditRows(ws.id)).at(-1)).toMatchObject({ action: "operator.removed", targetId: id });
    expectError(await api("GET", path(`/${id}`), { key: ws.keys.admin }), "not_found", 404);
    expectError(await api("DELETE", path(`/${id}`), { key: ws.keys.admin }), "not_found", 404);
    const member = await db().query.memberships.findFirst({
      where: and(eq(memberships.workspaceId, ws.id), eq(memberships.userId, id)),
    });
    expect(member?.role).toBe("operator");
  });

  it("refuses to remove an operator connected to a call, storing nothing; after the wrap-up it may", async () => {
    const id = await newOperator(ws);
    await connectTo(ws.id, id);
    const before = await databaseState();
    const res = await api("DELETE", path(`/${id}`), { key: ws.keys.admin });
    expectError(res, "conflict", 409);
    expect(res.body.error.details).toEqual({ active_calls: 1 });
    expect(await databaseState()).toEqual(before);
    await db()
      .update(operatorAssignments)
      .set({ wrappedAt: new Date().toISOString(), outcome: "resolved" })
      .where(and(eq(operatorAssignments.workspaceId, ws.id), eq(operatorAssignments.operatorUserId, id)));
    expect((await api("DELETE", path(`/${id}`), { key: ws.keys.admin })).status).toBe(204);
  });

  it("removes in one batch that fails whole when the operator connected in the meantime", async () => {
    const id = await newOperator(ws);
    await connectTo(ws.id, id);
    await expect(
      db().batch(deleteOperatorStatements(db(), ws.id, id) as [Statement, ...Statement[]]),
    ).rejects.toThrow();
    expect(
      await db().query.operators.findFirst({
        where: and(eq(operators.workspaceId, ws.id), eq(operators.userId, id)),
      }),
    ).toBeDefined();
  });

  it("is for admins: operators and viewers are refused, storing nothing", async () => {
    const id = await newOperator(ws);
    const member = await insertMember(ws.id, "operator");
    const before = await databaseState();
    for (const key of [ws.keys.operator, ws.keys.viewer]) {
      expectError(await api("PATCH", path(`/${id}`), { key, body: { skills: [] } }), "forbidden", 403);
      expectError(await api("DELETE", path(`/${id}`), { key }), "forbidden", 403);
      expectError(
        await api("POST", path(), { key, body: { user_id: member.id, type: "clinical" } }),
        "forbidden",
        403,
      );
    }
    expect(await databaseState()).toEqual(before);
  });
});

describe("operator status", () => {
  let team: TestWorkspace;
  let me: string;
  let colleague: string;
  let cookies: Record<"operator" | "admin" | "viewer", string>;

  beforeAll(async () => {
    team = await createWorkspace();
    me = await registerOperator(team, team.members.operator.id);
    colleague = await newOperator(team);
    cookies = {
      operator: (await sessionCookie(team.members.operator.id)).cookie,
      admin: (await sessionCookie(team.members.admin.id)).cookie,
      viewer: (await sessionCookie(team.members.viewer.id)).cookie,
    };
  });

  const statusPath = (id: string) => `/v1/${team.id}/operators/${id}/status`;

  it("lets an operator go online and come back, publishing each change (ids only) and auditing each", async () => {
    const events = (await statusEvents(team.id)).length;
    const online = await api("PUT", statusPath(me), { cookie: cookies.operator, body: { status: "online" } });
    expect(online.status, online.text).toBe(200);
    expect(online.body).toMatchObject({ user_id: me, status: "online" });
    expect(Date.parse(online.body.status_changed_at)).toBeGreaterThan(Date.now() - 10_000);
    expect((await auditRows(team.id)).at(-1)).toMatchObject({
      action: "operator.status_set",
      targetType: "operator",
      targetId: me,
      actorType: "user",
      actorId: me,
      details: { from: "offline", to: "online" },
    });

    // The same status again: audited, but no change to publish, and the operator keeps their place.
    const again = await api("PUT", statusPath(me), { cookie: cookies.operator, body: { status: "online" } });
    expect(again.body.status_changed_at).toBe(online.body.status_changed_at);
    expect((await auditRows(team.id)).at(-1)).toMatchObject({ details: { from: "online", to: "online" } });

    const busy = await api("PUT", statusPath(me), { cookie: cookies.operator, body: { status: "busy" } });
    expect(busy.body.status).toBe("busy");
    expect((await statusEvents(team.id)).slice(events)).toEqual([
      { operator_user_id: me, status: "online" },
      { operator_user_id: me, status: "busy" },
    ]);
  });

  it("refuses an operator setting a colleague's status, storing and publishing nothing", async () => {
    const events = (await statusEvents(team.id)).length;
    const before = await databaseState();
    const res = await api("PUT", statusPath(colleague), {
      cookie: cookies.operator,
      body: { status: "online" },
    });
    expectError(res, "forbidden", 403);
    expect(res.body.error.message).toMatch(/only their own/);
    expect(await databaseState()).toEqual(before);
    expect(await statusEvents(team.id)).toHaveLength(events);
  });

  it("refuses viewers, even for themselves", async () => {
    expectError(
      await api("PUT", statusPath(team.members.viewer.id), {
        cookie: cookies.viewer,
        body: { status: "online" },
      }),
      "forbidden",
      403,
    );
  });

  it("lets an admin set anyone's, and answers 404 for someone who is not an operator", async () => {
    const res = await api("PUT", statusPath(colleague), {
      cookie: cookies.admin,
      body: { status: "online" },
    });
    expect(res.status).toBe(200);
    expect((await auditRows(team.id)).at(-1)).toMatchObject({
      actorId: team.members.admin.id,
      targetId: colleague,
    });
    expectError(
      await api("PUT", statusPath(team.members.admin.id), {
        cookie: cookies.admin,
        body: { status: "online" },
      }),
      "not_found",
      404,
    );
  });

  it.each([{ status: "away" }, { status: null }, {}, { status: "online", note: "x" }])(
    "answers 400 to %j",
    async (body) => {
      expectError(
        await api("PUT", statusPath(me), { cookie: cookies.operator, body }),
        "validation_failed",
        400,
      );
    },
  );

  it("publishes offline when an online operator is removed", async () => {
    const id = await newOperator(team);
    await api("PUT", statusPath(id), { key: team.keys.admin, body: { status: "online" } });
    expect((await api("DELETE", `/v1/${team.id}/operators/${id}`, { key: team.keys.admin })).status).toBe(
      204,
    );
    expect((await statusEvents(team.id)).at(-1)).toEqual({ operator_user_id: id, status: "offline" });
  });
});

describe("who routing sees", () => {
  it("offers online operators of the type and skill, longest idle first, and only current members who take calls", async () => {
    const w = await createWorkspace();
    const first = await registerOperator(w, (await insertMember(w.id, "operator")).id, {
      skills: ["triage"],
    });
    const second = await registerOperator(w, (await insertMember(w.id, "owner")).id, { skills: ["triage"] });
    const plain = await registerOperator(w, (await insertMember(w.id, "operator")).id);
    const demoted = await registerOperator(w, (await insertMember(w.id, "operator")).id, {
      skills: ["triage"],
    });
    const admin = await registerOperator(w, (await insertMember(w.id, "operator")).id, {
      type: "administrative",
    });
    const t0 = Date.now() - 60_000;
    await db().batch([
      setOperatorStatus(db(), w.id, second, "online", new Date(t0 + 2000)),
      setOperatorStatus(db(), w.id, first, "online", new Date(t0 + 1000)),
      setOperatorStatus(db(), w.id, plain, "online", new Date(t0 + 3000)),
      setOperatorStatus(db(), w.id, demoted, "online", new Date(t0)),
      setOperatorStatus(db(), w.id, admin, "online", new Date(t0)),
    ]);
    await db()
      .update(memberships)
      .set({ role: "viewer" })
      .where(and(eq(memberships.workspaceId, w.id), eq(memberships.userId, demoted)));
    const ids = async (want: Parameters<typeof availableOperators>[2]) =>
      (await availableOperators(db(), w.id, want)).map((o) => o.userId);
    expect(await ids({ type: "clinical", skill: "triage" })).toEqual([first, second]);
    expect(await ids({ type: "clinical", skill: null })).toEqual([first, second, plain]);
    expect(await ids({ type: "administrative", skill: null })).toEqual([admin]);
    expect(await ids({ type: "crisis_counselor", skill: null })).toEqual([]);
    // Busy is not available.
    await db().batch([setOperatorStatus(db(), w.id, first, "busy")]);
    expect(await ids({ type: "clinical", skill: "triage" })).toEqual([second]);
  });

  it("a member removed, or made a viewer, through the API stops being an operator with that change", async () => {
    const w = await createWorkspace();
    const leaving = await registerOperator(w, (await insertMember(w.id, "operator")).id);
    const demoted = await registerOperator(w, (await insertMember(w.id, "operator")).id);
    const kept = await registerOperator(w, (await insertMember(w.id, "operator")).id);
    const removed = await api("DELETE", `/v1/${w.id}/users/${leaving}`, { key: w.keys.admin });
    expect(removed.status, removed.text).toBe(204);
    const patched = await api("PATCH", `/v1/${w.id}/users/${demoted}`, {
      key: w.keys.admin,
      body: { role: "viewer" },
    });
    expect(patched.status, patched.text).toBe(200);
    const list = await api("GET", `/v1/${w.id}/operators`, { key: w.keys.viewer });
    expect(list.body.results.map((o: { user_id: string }) => o.user_id)).toEqual([kept]);
  });

  it("moves status_changed_at only when the status changes", async () => {
    const w = await createWorkspace();
    const id = await newOperator(w);
    const read = async () =>
      (await db().query.operators.findFirst({
        where: and(eq(operators.workspaceId, w.id), eq(operators.userId, id)),
      }))!;
    await db().batch([setOperatorStatus(db(), w.id, id, "online", new Date("2026-01-01T00:00:00.000Z"))]);
    await db().batch([setOperatorStatus(db(), w.id, id, "online", new Date("2026-01-01T01:00:00.000Z"))]);
    expect(await read()).toMatchObject({
      status: "online",
      statusChangedAt: "2026-01-01T00:00:00.000Z",
      updatedAt: "2026-01-01T01:00:00.000Z",
    });
    await db().batch([setOperatorStatus(db(), w.id, id, "offline", new Date("2026-01-01T02:00:00.000Z"))]);
    expect(await read()).toMatchObject({ status: "offline", statusChangedAt: "2026-01-01T02:00:00.000Z" });
  });
});

describe("services' escalation rules", () => {
  it("take an operator skill (a lowercase slug) and keep it", async () => {
    const id = await insertService(ws.id);
    const rules = {
      operator_type: "clinical",
      operator_skill: "pediatrics",
      fallback: "forward",
      fallback_number: "+14155550199",
    };
    const res = await api("PATCH", `/v1/${ws.id}/services/${id}`, {
      key: ws.keys.admin,
      body: { escalation_rules: rules },
    });
    expect(res.status, res.text).toBe(200);
    expect(res.body.escalation_rules).toMatchObject(rules);
    const created = await api("POST", `/v1/${ws.id}/services`, {
      key: ws.keys.admin,
      body: { name: "Billing line", escalation_rules: { operator_skill: "billing" } },
    });
    expect(created.body.escalation_rules).toMatchObject({
      operator_type: "administrative",
      operator_skill: "billing",
    });
    expectError(
      await api("PATCH", `/v1/${ws.id}/services/${id}`, {
        key: ws.keys.admin,
        body: { escalation_rules: { operator_skill: "Night Shift" } },
      }),
      "validation_failed",
      400,
    );
  });
});

describe("the demo seed", () => {
  it("registers the nurse (clinical, triage) and the owner (administrative), offline, idempotently", async () => {
    const statements = await demoSql("test-demo-key");
    for (let round = 0; round < 2; round++) {
      for (const sql of statements) await env.DB.prepare(sql).run();
    }
    const rows = await db().select().from(operators).where(eq(operators.workspaceId, "demo"));
    expect(rows.map((r) => [r.userId, r.type, r.skills, r.status]).sort()).toEqual([
      ["usr_demo-operator", "clinical", ["triage"], "offline"],
      ["usr_demo-owner", "administrative", ["billing", "scheduling"], "offline"],
    ]);
    // The triage line asks for triage; a safety escalation on any line goes to a clinician.
    const triage = await db().query.services.findFirst({
      where: (s, { eq }) => eq(s.id, "svc_demo-triage"),
    });
    expect(triage?.escalationRules).toMatchObject({ operator_type: "clinical", operator_skill: "triage" });
  });
});
