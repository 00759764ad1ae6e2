/**
 * The Calls API: list (filters, paging, masking, simulated calls marked), detail with timeline, volume
 * (simulated calls left out unless asked for), signed recording URLs.
 */
import { env, exports } from "cloudflare:workers";
import { beforeAll, describe, expect, it } from "vitest";
import { newId } from "../../shared/ids";
import { signRecordingPath } from "../../workers/api/calls";
import { SIMULATOR_PROVIDER } from "../../workers/api/simulator";
import { callEvents, phoneNumbers, worldEntities } from "../../workers/db/schema";
import { sealDisplayName } from "../../workers/world/codec";
import { auditRows, db } from "../helpers/db";
import { api, BASE_URL, expectError } from "../helpers/http";
import { insertCall } from "../helpers/operations";
import { createWorkspace, insertService, type TestWorkspace } from "../helpers/workspace";

const HOUR = 3600_000;
const ago = (ms: number) => new Date(Date.now() - ms).toISOString();
const ids = (body: { results: { id: string }[] }) => body.results.map((r) => r.id);

describe("listing calls", () => {
  let ws: TestWorkspace;
  let serviceId: string;
  // Newest first: c[0] is the most recent.
  const c: string[] = [];

  beforeAll(async () => {
    ws = await createWorkspace();
    serviceId = await insertService(ws.id, "Scheduling line");
    const specs = [
      { startedAt: "2026-11-20T10:00:00.000Z", durationSeconds: 30 },
      { startedAt: "2026-11-19T10:00:00.000Z", durationSeconds: 300, direction: "outbound" as const },
      { startedAt: "2026-11-18T10:00:00.000Z", status: "no-answer", statusRank: 4, durationSeconds: 0 },
      { startedAt: "2026-11-17T10:00:00.000Z", channel: "sms" as const, durationSeconds: null },
      { startedAt: "2026-11-16T10:00:00.000Z", durationSeconds: 90, escalated: true, finalState: "escalate" },
      {
        startedAt: "2026-11-15T10:00:00.000Z",
        durationSeconds: 45,
        provider: SIMULATOR_PROVIDER,
        transport: "conversation_relay",
      },
    ];
    for (const spec of specs) c.push(await insertCall(ws, { serviceId, ...spec }));
  });

  it("lists newest first with the service, a masked caller and nulls until scored", async () => {
    const res = await api("GET", `/v1/${ws.id}/calls`, { key: ws.keys.viewer });
    expect(res.status, res.text).toBe(200);
    expect(ids(res.body)).toEqual(c);
    expect(res.body.total).toBe(6);
    expect(res.body.continuation_token).toBeNull();
    expect(res.body.results[0]).toMatchObject({
      service: { id: serviceId, name: "Scheduling line" },
      channel: "voice",
      direction: "inbound",
      transport: null,
      simulated: false,
      status: "completed",
      to_number: "+14155550100",
      caller: "•••• 0177",
      duration_seconds: 30,
      quality_score: null,
      escalated: false,
    });
    expect(res.body.results[4]).toMatchObject({ escalated: true, final_state: "escalate" });
    expect(res.body.results[3]).toMatchObject({ channel: "sms", simulated: false });
    expect(res.body.results[5]).toMatchObject({
      channel: "voice",
      transport: "conversation_relay",
      simulated: true,
    });
    expect(res.body.results.filter((r: { simulated: boolean }) => r.simulated)).toHaveLength(1);
    // The caller's full number never appears in a list, in any format.
    expect(res.text).not.toContain("5550177");
  });

  it("pages with continuation_token and with offset", async () => {
    const seen: string[] = [];
    let token: string | null = null;
    do {
      const query: string = token ? `limit=2&continuation_token=${token}` : "limit=2";
      const page = await api("GET", `/v1/${ws.id}/calls?${query}`, { key: ws.keys.viewer });
      expect(page.status, page.text).toBe(200);
      expect(page.body.total).toBe(6);
      seen.push(...ids(page.body));
      token = page.body.continuation_token;
    } while (token);
    expect(seen).toEqual(c);
    const offset = await api("GET", `/v1/${ws.id}/calls?limit=2&offset=3`, { key: ws.keys.viewer });
    expect(ids(offset.body)).toEqual(c.slice(3, 5));
    // Paging keeps the filter.
    const filtered = await api("GET", `/v1/${ws.id}/calls?limit=1&channel=voice`, { key: ws.keys.viewer });
    const next = await api(
      "GET",
      `/v1/${ws.id}/calls?limit=1&channel=voice&continuation_token=${filtered.body.continuation_token}`,
      { key: ws.keys.viewer },
    );
    expect([...ids(filtered.body), ...ids(next.body)]).toEqual([c[0], c[1]]);
    // And the simulated flag: the last real call's page ends the list, the simulated one never follows.
    const real: string[] = [];
    let realToken: string | null = null;
    do {
      const query: string = `limit=2&simulated=false${realToken ? `&continuation_token=${realToken}` : ""}`;
      const page = await api("GET", `/v1/${ws.id}/calls?${query}`, { key: ws.keys.viewer });
      expect(page.body.total).toBe(5);
      real.push(...ids(page.body));
      realToken = page.body.continuation_token;
    } while (realToken);
    expect(real).toEqual(c.slice(0, 5));
  });

  it.each([
    ["status=no-answer", [2]],
    ["direction=outbound", [1]],
    ["channel=sms", [3]],
    ["channel=voice", [0, 1, 2, 4, 5]],
    ["min_duration=90", [1, 4]],
    ["max_duration=30", [0, 2]],
    ["min_duration=30&max_duration=90", [0, 4, 5]],
    ["from=2026-11-18", [0, 1, 2]],
    ["to=2026-11-17", [3, 4, 5]],
    ["from=2026-11-17&to=2026-11-18", [2, 3]],
    ["from=2026-11-19T10:00:00Z", [0, 1]],
    ["status=completed&direction=inbound&channel=voice", [0, 4, 5]],
    ["simulated=true", [5]],
    ["simulated=false", [0, 1, 2, 3, 4]],
    ["simulated=false&channel=voice", [0, 1, 2, 4]],
    ["simulated=true&channel=sms", []],
    ["simulated=true&min_duration=30", [5]],
  ])("filters by %s", async (query, expected) => {
    const res = await api("GET", `/v1/${ws.id}/calls?${query}`, { key: ws.keys.viewer });
    expect(res.status, res.text).toBe(200);
    expect(ids(res.body)).toEqual(expected.map((i) => c[i]));
    expect(res.body.total).toBe(expected.length);
  });

  it.each([
    "status=bogus",
    "direction=sideways",
    "channel=fax",
    "simulated=yes",
    "simulated=1",
    "simulated=",
    "simulated=TRUE",
    "from=yesterday",
    "to=2026-13-01",
    "min_duration=-1",
    "max_duration=abc",
    "min_duration=100&max_duration=10",
    "from=2026-11-20&to=2026-11-19",
    "limit=0",
  ])("refuses %s with 400", async (query) => {
    expectError(
      await api("GET", `/v1/${ws.id}/calls?${query}`, { key: ws.keys.viewer }),
      "validation_failed",
      400,
    );
  });

  it("refuses a continuation_token it did not issue", async () => {
    const res = await api("GET", `/v1/${ws.id}/calls?continuation_token=bm9wZQ`, { key: ws.keys.viewer });
    expectError(res, "invalid_continuation_token", 400);
  });

  it("shows a linked patient's name instead of the number", async () => {
    const other = await createWorkspace();
    const entityId = newId("ent");
    await db()
      .insert(worldEntities)
      .values({
        id: entityId,
        workspaceId: other.id,
        entityType: "patient",
        source: "ehr",
        displayNameEnc: await sealDisplayName(env, other.id, entityId, "Maria Lopez"),
      });
    const linked = await insertCall(other, { patientEntityId: entityId });
    const unlinked = await insertCall(other, { from: "+14155550123", startedAt: ago(HOUR) });
    const res = await api("GET", `/v1/${other.id}/calls`, { key: other.keys.viewer });
    const byId = Object.fromEntries(res.body.results.map((r: { id: string }) => [r.id, r]));
    expect(byId[linked]).toMatchObject({ caller: "Maria Lopez", patient_entity_id: entityId });
    expect(byId[unlinked]).toMatchObject({ caller: "•••• 0123", patient_entity_id: null });
  });

  it("never shows another workspace's calls", async () => {
    const other = await createWorkspace();
    const res = await api("GET", `/v1/${other.id}/calls`, { key: other.keys.viewer });
    expect(res.body).toMatchObject({ results: [], total: 0 });
    expectError(
      await api("GET", `/v1/${other.id}/calls/${c[0]}`, { key: other.keys.viewer }),
      "not_found",
      404,
    );
    expectError(await api("GET", `/v1/${ws.id}/calls`, { key: other.keys.viewer }), undefined, 403);
  });
});

describe("a call's detail", () => {
  it("has the timeline, turns, state transitions, tool calls and escalations, without sealed fields", async () => {
    const ws = await createWorkspace();
    const id = await insertCall(ws, {
      finalState: "escalate",
      escalated: true,
      transport: "conversation_relay",
    });
    const t = (s: number) => new Date(Date.parse("2026-11-20T10:00:00.000Z") + s * 1000).toISOString();
    const events = [
      { kind: "status", data: { status: "in-progress" }, at: t(0) },
      { kind: "state", data: { from: null, to: "greeting" }, at: t(1) },
      { kind: "turn", data: { speaker: "agent", state: "greeting", latency_ms: 4 }, at: t(2) },
      { kind: "tool", data: { name: "find_slots", outcome: "ok", latency_ms: 31 }, at: t(3) },
      { kind: "escalation", data: { reason: "billing" }, at: t(4) },
      { kind: "sms", data: { message_sid: "SM1", body_enc: "sealed" }, at: t(5) },
    ];
    await db()
      .insert(callEvents)
      .values(
        events.map((e, i) => ({
          id: newId("cev"),
          workspaceId: ws.id,
          callId: id,
          dedupeKey: `k${i}`,
          ...e,
        })),
      );
    const res = await api("GET", `/v1/${ws.id}/calls/${id}`, { key: ws.keys.viewer });
    expect(res.status, res.text).toBe(200);
    expect(res.body).toMatchObject({
      id,
      caller: "•••• 0177",
      transport: "conversation_relay",
      final_state: "escalate",
      escalated: true,
      recording: null,
    });
    expect(res.body.timeline.map((e: { kind: string }) => e.kind)).toEqual(events.map((e) => e.kind));
    expect(res.body.turns).toHaveLength(1);
    expect(res.body.states[0].data).toEqual({ from: null, to: "greeting" });
    expect(res.body.tools[0].data).toEqual({ name: "find_slots", outcome: "ok", latency_ms: 31 });
    expect(res.body.escalations[0].data).toEqual({ reason: "billing" });
    expect(res.body.timeline[5].data).toEqual({ message_sid: "SM1" });
    expect(res.text).not.toContain("5550177");
  });

  it("marks a simulated call, and not a text session", async () => {
    const ws = await createWorkspace();
    const simulated = await insertCall(ws, { provider: SIMULATOR_PROVIDER, transport: "conversation_relay" });
    const text = await insertCall(ws, { channel: "sms", transport: "sms", durationSeconds: null });
    const sim = await api("GET", `/v1/${ws.id}/calls/${simulated}`, { key: ws.keys.viewer });
    expect(sim.status, sim.text).toBe(200);
    expect(sim.body).toMatchObject({ channel: "voice", transport: "conversation_relay", simulated: true });
    const sms = await api("GET", `/v1/${ws.id}/calls/${text}`, { key: ws.keys.viewer });
    expect(sms.body).toMatchObject({ channel: "sms", transport: "sms", simulated: false });
  });

  it("shows recording metadata, available once the media is stored", async () => {
    const ws = await createWorkspace();
    const id = await insertCall(ws, {
      recording: {
        sid: "RE1",
        status: "completed",
        duration_seconds: 42,
        channels: 2,
        source: "StartCallRecordingAPI",
      },
    });
    const before = await api("GET", `/v1/${ws.id}/calls/${id}`, { key: ws.keys.viewer });
    expect(before.body.recording).toMatchObject({ available: false, duration_seconds: 42, channels: 2 });
    await env.FILES.put(`recordings/${ws.id}/${id}.wav`, new Uint8Array(44));
    const after = await api("GET", `/v1/${ws.id}/calls/${id}`, { key: ws.keys.viewer });
    expect(after.body.recording).toMatchObject({ available: true, status: "completed" });
  });

  it("is 404 for an unknown id and 400 for a malformed one", async () => {
    const ws = await createWorkspace();
    expectError(
      await api("GET", `/v1/${ws.id}/calls/${newId("call")}`, { key: ws.keys.viewer }),
      "not_found",
      404,
    );
    expectError(
      await api("GET", `/v1/${ws.id}/calls/nope`, { key: ws.keys.viewer }),
      "validation_failed",
      400,
    );
  });
});

describe("call volume", () => {
  it("counts calls per clinic number per hour, zero-filled", async () => {
    const ws = await createWorkspace();
    const main = { id: newId("pn"), e164: `+1415555${String(Math.floor(Math.random() * 9000) + 1000)}` };
    await db()
      .insert(phoneNumbers)
      .values({ id: main.id, workspaceId: ws.id, e164: main.e164, label: "Main" });
    const now = Date.now();
    const hourStart = (ms: number) => new Date(Math.floor(ms / HOUR) * HOUR).toISOString();
    await insertCall(ws, { toNumber: main.e164, startedAt: new Date(now).toISOString() });
    await insertCall(ws, { toNumber: main.e164, startedAt: new Date(now - 1000).toISOString() });
    await insertCall(ws, { toNumber: main.e164, startedAt: new Date(now - 3 * HOUR).toISOString() });
    await insertCall(ws, { toNumber: "+14155550199", startedAt: new Date(now - 5 * HOUR).toISOString() });
    await insertCall(ws, { toNumber: main.e164, startedAt: new Date(now - 40 * HOUR).toISOString() });
    // Text sessions are not calls: not counted.
    await insertCall(ws, { toNumber: main.e164, channel: "sms", startedAt: new Date(now).toISOString() });

    const res = await api("GET", `/v1/${ws.id}/calls/volume?window=24h`, { key: ws.keys.viewer });
    expect(res.status, res.text).toBe(200);
    expect(res.body.bucket).toBe("hour");
    expect(res.body.buckets).toHaveLength(24);
    expect(res.body.buckets.at(-1)).toBe(hourStart(now));
    const [mainSeries, released] = res.body.numbers;
    expect(mainSeries).toMatchObject({
      phone_number_id: main.id,
      number: main.e164,
      label: "Main",
      total: 3,
    });
    expect(mainSeries.counts).toHaveLength(24);
    // The two calls of this hour fall in the last bucket (unless the hour turned between them).
    expect(mainSeries.counts[res.body.buckets.indexOf(hourStart(now - 3 * HOUR))]).toBe(1);
    expect(mainSeries.counts.reduce((a: number, b: number) => a + b, 0)).toBe(3);
    expect(mainSeries.counts.filter((n: number) => n === 0).length).toBeGreaterThanOrEqual(21);
    expect(released).toMatchObject({ phone_number_id: null, number: "+14155550199", total: 1 });

    const week = await api("GET", `/v1/${ws.id}/calls/volume?window=7d`, { key: ws.keys.viewer });
    expect(week.body.bucket).toBe("day");
    expect(week.body.buckets).toHaveLength(7);
    expect(week.body.numbers[0].total).toBe(4);

    const hourly = await api("GET", `/v1/${ws.id}/calls/volume?window=7d&bucket=hour`, {
      key: ws.keys.viewer,
    });
    expect(hourly.body.buckets).toHaveLength(168);
    expect(hourly.body.numbers[0].total).toBe(4);
  });

  it("leaves simulated calls out unless include_simulated=true", async () => {
    const ws = await createWorkspace();
    const main = { id: newId("pn"), e164: `+1415555${String(Math.floor(Math.random() * 9000) + 1000)}` };
    await db()
      .insert(phoneNumbers)
      .values({ id: main.id, workspaceId: ws.id, e164: main.e164, label: "Main" });
    const now = Date.now();
    await insertCall(ws, { toNumber: main.e164, startedAt: new Date(now - 2 * HOUR).toISOString() });
    for (const hoursAgo of [1, 2, 3]) {
      await insertCall(ws, {
        toNumber: main.e164,
        provider: SIMULATOR_PROVIDER,
        startedAt: new Date(now - hoursAgo * HOUR).toISOString(),
      });
    }
    // A simulated call to a number the workspace no longer has: no series of its own unless included.
    await insertCall(ws, {
      toNumber: "+14155550198",
      provider: SIMULATOR_PROVIDER,
      startedAt: new Date(now - HOUR).toISOString(),
    });
    const sum = (counts: number[]) => counts.reduce((a, b) => a + b, 0);

    for (const query of ["window=24h", "window=24h&include_simulated=false"]) {
      const real = await api("GET", `/v1/${ws.id}/calls/volume?${query}`, { key: ws.keys.viewer });
      expect(real.status, real.text).toBe(200);
      expect(real.body.include_simulated).toBe(false);
      expect(real.body.numbers).toHaveLength(1);
      expect(real.body.numbers[0]).toMatchObject({ number: main.e164, total: 1 });
      expect(sum(real.body.numbers[0].counts)).toBe(1);
    }

    const all = await api("GET", `/v1/${ws.id}/calls/volume?window=24h&include_simulated=true`, {
      key: ws.keys.viewer,
    });
    expect(all.status, all.text).toBe(200);
    expect(all.body.include_simulated).toBe(true);
    const [mainSeries, released] = all.body.numbers;
    expect(mainSeries).toMatchObject({ number: main.e164, total: 4 });
    expect(sum(mainSeries.counts)).toBe(4);
    expect(released).toMatchObject({ phone_number_id: null, number: "+14155550198", total: 1 });

    for (const q of ["include_simulated=yes", "include_simulated=1", "include_simulated="]) {
      expectError(
        await api("GET", `/v1/${ws.id}/calls/volume?${q}`, { key: ws.keys.viewer }),
        "validation_failed",
        400,
      );
    }
  });

  it("is empty but well formed for a new workspace, and refuses unknown windows", async () => {
    const ws = await createWorkspace();
    const res = await api("GET", `/v1/${ws.id}/calls/volume?window=30d`, { key: ws.keys.viewer });
    expect(res.body).toMatchObject({ bucket: "day", numbers: [] });
    expect(res.body.buckets).toHaveLength(30);
    for (const q of ["window=1y", "bucket=minute"]) {
      expectError(
        await api("GET", `/v1/${ws.id}/calls/volume?${q}`, { key: ws.keys.viewer }),
        "validation_failed",
        400,
      );
    }
  });
});

describe("recording playback URLs", () => {
  let ws: TestWorkspace;
  let id: string;
  const audio = new Uint8Array([82, 73, 70, 70, 1, 2, 3, 4]);

  beforeAll(async () => {
    ws = await createWorkspace();
    id = await insertCall(ws);
  });

  const pathOf = (url: string) => url.replace(/^https?:\/\/[^/]+/, "");
  const actions = async () => (await auditRows(ws.id)).map((r) => [r.action, r.actorType, r.targetId]);

  it("are 404 when the call has no recording, and need the operator role", async () => {
    const none = await insertCall(ws);
    expectError(
      await api("POST", `/v1/${ws.id}/calls/${none}/recording-url`, { key: ws.keys.operator }),
      "not_found",
      404,
    );
    expectError(
      await api("POST", `/v1/${ws.id}/calls/${id}/recording-url`, { key: ws.keys.viewer }),
      "forbidden",
      403,
    );
  });

  it("are signed, serve the recording from R2, and are audited on issue and on use", async () => {
    await env.FILES.put(`recordings/${ws.id}/${id}.wav`, audio, {
      httpMetadata: { contentType: "audio/wav" },
    });
    const before = (await auditRows(ws.id)).length;
    const issued = await api("POST", `/v1/${ws.id}/calls/${id}/recording-url`, { key: ws.keys.operator });
    expect(issued.status, issued.text).toBe(200);
    const expires = Date.parse(issued.body.expires_at);
    expect(expires - Date.now()).toBeGreaterThan(14 * 60_000);
    expect(expires - Date.now()).toBeLessThanOrEqual(15 * 60_000);
    expect(issued.body.url).toMatch(new RegExp(`/recordings/${ws.id}/${id}\\?exp=\\d+&sig=[\\w-]{43}$`));

    expect(pathOf(issued.body.url)).toBe(issued.body.path);
    const played = await exports.default.fetch(`${BASE_URL}${issued.body.path}`);
    expect(played.status).toBe(200);
    expect(played.headers.get("Content-Type")).toBe("audio/wav");
    expect(played.headers.get("Cache-Control")).toContain("no-store");
    expect(new Uint8Array(await played.arrayBuffer())).toEqual(audio);

    const rows = (await actions()).slice(before);
    expect(rows).toEqual([
      ["call.recording_url_issued", "api_key", id],
      ["call.recording_played", "system", id],
    ]);
  });

  it("refuse a tampered, expired, foreign or missing signature with 403 and audit nothing", async () => {
    const issued = await api("POST", `/v1/${ws.id}/calls/${id}/recording-url`, { key: ws.keys.operator });
    const path = pathOf(issued.body.url);
    const before = (await auditRows(ws.id)).length;
    const sig = new URL(`https://x${path}`).searchParams.get("sig")!;
    const flipped = `${sig[0] === "A" ? "B" : "A"}${sig.slice(1)}`;
    const other = await insertCall(ws);
    const secret = env.SIGNING_SECRET;
    const bad = [
      path.replace(`sig=${sig}`, `sig=${flipped}`),
      path.replace(/exp=(\d+)/, (_, e) => `exp=${Number(e) + 60}`),
      path.replace(id, other),
      await signRecordingPath(secret, ws.id, id, Math.floor(Date.now() / 1000) - 1),
      await signRecordingPath(
        "another-secret-0123456789abcdef0123456789",
        ws.id,
        id,
        Math.floor(Date.now() / 1000) + 60,
      ),
      `/recordings/${ws.id}/${id}`,
      `/recordings/${ws.id}/${id}?exp=abc&sig=${sig}`,
    ];
    for (const p of bad) {
      const res = await api("GET", p);
      expectError(res, "forbidden", 403);
    }
    expect((await auditRows(ws.id)).length).toBe(before);
  });

  it("are 404 when the signature is good but the media is gone", async () => {
    const gone = await insertCall(ws);
    const path = await signRecordingPath(env.SIGNING_SECRET, ws.id, gone, Math.floor(Date.now() / 1000) + 60);
    expectError(await api("GET", path), "not_found", 404);
  });
});
