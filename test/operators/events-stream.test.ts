/**
 * The workspace's live event stream (`GET /v1/{ws}/events/stream`), through the Worker's own `fetch`:
 * read raw, as the WHATWG processing model would, and with the real `eventsource` client (its `fetch`
 * option routed to the Worker). Order and ids, the retry line, heartbeats, reconnecting with
 * `Last-Event-ID`, overflow (replay older than the buffer, slow consumers), the type filter, replay-only
 * streams, tickets (once, this workspace, unexpired), who may open it, closing on abort, and the error
 * event when the hub cannot be reached.
 */
import { runInDurableObject } from "cloudflare:test";
import { env, exports } from "cloudflare:workers";
import { EventSource } from "eventsource";
import { beforeAll, describe, expect, it } from "vitest";
import { HubStreams } from "../../durable-objects/hub-streams";
import type { WorkspaceEvent } from "../../shared/events/workspace-events";
import { issueStreamTicket, openStream, publish, workspaceHub } from "../../workers/events";
import { api, BASE_URL, expectError } from "../helpers/http";
import { createWorkspace, sessionCookie, type TestWorkspace } from "../helpers/workspace";

let ws: TestWorkspace;
let other: TestWorkspace;

beforeAll(async () => {
  [ws, other] = await Promise.all([createWorkspace(), createWorkspace()]);
});

const streamPath = (workspaceId: string, query = "") => `/v1/${workspaceId}/events/stream${query}`;

/** A parsed Server-Sent Events block: its fields, or a comment. */
interface Frame {
  id?: string;
  event?: string;
  data?: string;
  retry?: string;
  comment?: string;
}

/** Splits a stream's text into its blocks (a blank line ends each), fields as the spec parses them. */
function parseFrames(text: string): Frame[] {
  return text
    .split("\n\n")
    .filter((block) => block.length > 0)
    .map((block) => {
      const frame: Frame = {};
      for (const line of block.split("\n")) {
        if (line.startsWith(":")) frame.comment = line.slice(1).trim();
        else {
          const colon = line.indexOf(":");
          const field = line.slice(0, colon) as keyof Frame;
          frame[field] = line.slice(colon + 1).replace(/^ /, "");
        }
      }
      return frame;
    });
}

/** An open stream read as raw text: wait until a predicate over the frames so far holds. */
async function openRaw(path: string, headers: Record<string, string>) {
  const controller = new AbortController();
  const res = await exports.default.fetch(`${BASE_URL}${path}`, { headers, signal: controller.signal });
  const reader = res.body!.getReader();
  const decoder = new TextDecoder();
  let text = "";
  return {
    res,
    frames: () => parseFrames(text),
    async until(done: (frames: Frame[]) => boolean, timeoutMs = 5000): Promise<Frame[]> {
      const deadline = Date.now() + timeoutMs;
      while (!done(parseFrames(text))) {
        const left = deadline - Date.now();
        if (left <= 0) throw new Error(`stream timed out; got:\n${text}`);
        const next = await Promise.race([
          reader.read(),
          new Promise<null>((resolve) => setTimeout(() => resolve(null), left)),
        ]);
        if (next === null) continue;
        if (next.done) break;
        text += decoder.decode(next.value, { stream: true });
      }
      return parseFrames(text);
    },
    close() {
      controller.abort();
      reader.cancel().catch(() => {});
    },
  };
}

const eventsIn = (frames: Frame[]) => frames.filter((f) => f.id !== undefined);

const callEvent = (callId: string, type: "call.started" | "call.updated" = "call.started") => ({
  type,
  data: { call_id: callId, service_id: null },
});

async function publishMany(workspaceId: string, n: number): Promise<WorkspaceEvent[]> {
  const out: WorkspaceEvent[] = [];
  for (let i = 0; i < n; i++) {
    out.push((await publish(env, workspaceId, { type: "alert", data: { code: `test-${i}` } }))!);
  }
  return out;
}

/** Waits until `check` holds (polling), for what happens behind the stream. */
async function eventually(check: () => Promise<boolean>, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error("condition not met in time");
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe("the stream, read raw", () => {
  it("starts with the retry line, then sends each event with its id, type and JSON data, in order", async () => {
    const stream = await openRaw(streamPath(ws.id), { Authorization: `Bearer ${ws.keys.viewer}` });
    expect(stream.res.status).toBe(200);
    expect(stream.res.headers.get("Content-Type")).toBe("text/event-stream");
    expect(stream.res.headers.get("Cache-Control")).toBe("no-store");
    await stream.until((f) => f.length >= 1);
    const published = await publishMany(ws.id, 3);
    const frames = await stream.until((f) => eventsIn(f).length >= 3);
    stream.close();
    expect(frames[0]).toEqual({ retry: "3000" });
    expect(eventsIn(frames)).toEqual(
      published.map((e) => ({
        id: String(e.id),
        event: "alert",
        data: JSON.stringify({ id: e.id, type: "alert", at: e.at, data: e.data }),
      })),
    );
    expect(published.map((e) => e.id)).toEqual([
      published[0]!.id,
      published[0]!.id + 1,
      published[0]!.id + 2,
    ]);
  });

  it("sends a heartbeat comment when idle (the interval is shortened for the test)", async () => {
    const hub = workspaceHub(env, ws.id);
    await hub.tuneStreams({ heartbeatMs: 50 });
    try {
      const stream = await openRaw(streamPath(ws.id), { Authorization: `Bearer ${ws.keys.viewer}` });
      const frames = await stream.until((f) => f.some((x) => x.comment === "heartbeat"));
      stream.close();
      expect(frames.find((f) => f.comment !== undefined)).toEqual({ comment: "heartbeat" });
    } finally {
      await hub.tuneStreams({ heartbeatMs: 30_000 });
    }
  });

  it("replays exactly the events after Last-Event-ID (the header wins over the query)", async () => {
    const published = await publishMany(ws.id, 5);
    const stream = await openRaw(streamPath(ws.id, `?last_event_id=${published[0]!.id}`), {
      Authorization: `Bearer ${ws.keys.viewer}`,
      "Last-Event-ID": String(published[2]!.id),
    });
    const frames = await stream.until((f) => eventsIn(f).length >= 2);
    stream.close();
    expect(frames.some((f) => f.event === "overflow")).toBe(false);
    expect(eventsIn(frames).map((f) => Number(f.id))).toEqual([published[3]!.id, published[4]!.id]);
  });

  it("says `overflow` when the requested id is older than the buffer, then replays what it has", async () => {
    const fresh = await createWorkspace();
    const published = await publishMany(fresh.id, 5);
    // What trimming does to an old buffer: the first two events are gone.
    await runInDurableObject(workspaceHub(env, fresh.id), (_, state) => {
      state.storage.sql.exec("DELETE FROM events WHERE id <= ?", published[1]!.id);
    });
    const stream = await openRaw(streamPath(fresh.id, `?last_event_id=${published[0]!.id}`), {
      Authorization: `Bearer ${fresh.keys.viewer}`,
    });
    const frames = await stream.until((f) => eventsIn(f).length >= 3);
    stream.close();
    expect(frames[1]).toEqual({
      event: "overflow",
      data: JSON.stringify({ oldest_id: published[2]!.id, requested_id: published[0]!.id }),
    });
    expect(eventsIn(frames).map((f) => Number(f.id))).toEqual(published.slice(2).map((e) => e.id));
  });

  it("sends only the types asked for", async () => {
    const stream = await openRaw(streamPath(ws.id, "?types=call.ended,alert"), {
      Authorization: `Bearer ${ws.keys.viewer}`,
    });
    await stream.until((f) => f.length >= 1);
    const callId = `call_types${crypto.randomUUID().slice(0, 8)}`;
    await publish(env, ws.id, callEvent(callId));
    await publish(env, ws.id, { type: "call.ended", data: { call_id: callId, reason: "completed" } });
    const frames = await stream.until((f) => eventsIn(f).length >= 1);
    stream.close();
    expect(eventsIn(frames).map((f) => f.event)).toEqual(["call.ended"]);
  });

  it("refuses an unknown type or a malformed id with 400", async () => {
    const headers = { key: ws.keys.viewer };
    expectError(
      await api("GET", streamPath(ws.id, "?types=call.nope&replay_only=true"), headers),
      "validation_failed",
      400,
    );
    expectError(
      await api("GET", streamPath(ws.id, "?last_event_id=-1&replay_only=true"), headers),
      "validation_failed",
      400,
    );
    expectError(
      await api("GET", streamPath(ws.id, "?replay_only=true"), {
        ...headers,
        headers: { "Last-Event-ID": "abc" },
      }),
      "validation_failed",
      400,
    );
  });

  it("ends after the replay with replay_only=true (for clients that poll)", async () => {
    const published = await publishMany(ws.id, 2);
    const res = await api(
      "GET",
      streamPath(ws.id, `?replay_only=true&last_event_id=${published[0]!.id - 1}`),
      {
        key: ws.keys.viewer,
      },
    );
    expect(res.status).toBe(200);
    const frames = parseFrames(res.text);
    expect(frames[0]).toEqual({ retry: "3000" });
    expect(
      eventsIn(frames)
        .slice(0, 2)
        .map((f) => Number(f.id)),
    ).toEqual(published.map((e) => e.id));
  });

  it("lets go of a stream the client abandoned (no subscriber left behind)", async () => {
    const fresh = await createWorkspace();
    const hub = workspaceHub(env, fresh.id);
    const stream = await openRaw(streamPath(fresh.id), { Authorization: `Bearer ${fresh.keys.viewer}` });
    await stream.until((f) => f.length >= 1);
    expect((await hub.describe()).streams).toBe(1);
    stream.close();
    await publishMany(fresh.id, 1);
    await eventually(async () => (await hub.describe()).streams === 0);
  });
});

describe("an operator's presence", () => {
  /** A workspace whose operator-role member is a registered operator, online. */
  async function onDuty() {
    const w = await createWorkspace();
    const userId = w.members.operator.id;
    await env.DB.prepare(
      "INSERT INTO operators (workspace_id, user_id, type, skills, status) VALUES (?, ?, 'clinical', '[]', 'online')",
    )
      .bind(w.id, userId)
      .run();
    const hub = workspaceHub(env, w.id);
    await hub.tunePresence(100);
    await hub.tuneStreams({ heartbeatMs: 30 });
    const status = async () =>
      (
        await env.DB.prepare("SELECT status FROM operators WHERE workspace_id = ? AND user_id = ?")
          .bind(w.id, userId)
          .first<{ status: string }>()
      )?.status;
    const open = async () => {
      const { cookie } = await sessionCookie(userId);
      const stream = await openRaw(streamPath(w.id), { cookie });
      await stream.until((f) => f.length >= 1);
      return stream;
    };
    return { w, userId, hub, status, open };
  }

  it("goes offline once their last stream has been closed for the grace period: audited, announced", async () => {
    const { w, userId, status, open } = await onDuty();
    const first = await open();
    const second = await open();
    first.close();
    // One stream still open: still on duty.
    await new Promise((r) => setTimeout(r, 400));
    expect(await status()).toBe("online");
    second.close();
    await eventually(async () => (await status()) === "offline", 5000);
    const audit = await env.DB.prepare(
      "SELECT actor_type, actor_id, details FROM audit_log WHERE workspace_id = ? AND action = 'operator.status_set'",
    )
      .bind(w.id)
      .all<{ actor_type: string; actor_id: string | null; details: string }>();
    expect(audit.results).toHaveLength(1);
    expect(audit.results[0]).toMatchObject({ actor_type: "system", actor_id: null });
    expect(JSON.parse(audit.results[0]!.details)).toEqual({
      from: "online",
      to: "offline",
      reason: "disconnected",
    });
    const { events } = (await workspaceHub(env, w.id).since(0)) as unknown as { events: WorkspaceEvent[] };
    expect(events.filter((e) => e.type === "operator.status").map((e) => e.data)).toEqual([
      { operator_user_id: userId, status: "offline", reason: "disconnected" },
    ]);
  });

  it("stays on duty through a blip (a new stream within the grace period)", async () => {
    const { status, open } = await onDuty();
    const first = await open();
    first.close();
    const again = await open();
    await new Promise((r) => setTimeout(r, 600));
    expect(await status()).toBe("online");
    again.close();
  });

  it("leaves alone an operator without streams, and API-key streams count for nobody", async () => {
    const { w, status } = await onDuty();
    const keyed = await openRaw(streamPath(w.id), { Authorization: `Bearer ${w.keys.operator}` });
    await keyed.until((f) => f.length >= 1);
    keyed.close();
    await new Promise((r) => setTimeout(r, 600));
    expect(await status()).toBe("online");
  });
});

describe("a slow consumer", () => {
  it("has its oldest undelivered events dropped behind one overflow notice (the hub's queue, unread)", async () => {
    const streams = new HubStreams();
    streams.tune({ maxBacklog: 5 });
    const body = streams.open({ lastId: 0, replay: [], overflow: null, types: null, replayOnly: false });
    const at = new Date().toISOString();
    for (let id = 1; id <= 20; id++) streams.broadcast({ id, type: "alert", at, data: { n: id } });
    const reader = body.getReader();
    const decoder = new TextDecoder();
    let text = "";
    while (!text.includes("id: 20\n")) text += decoder.decode((await reader.read()).value);
    await reader.cancel();
    const frames = parseFrames(text);
    expect(frames[0]).toEqual({ retry: "3000" });
    expect(frames[1]).toEqual({
      event: "overflow",
      data: JSON.stringify({ oldest_id: 16, requested_id: 0 }),
    });
    expect(eventsIn(frames).map((f) => Number(f.id))).toEqual([16, 17, 18, 19, 20]);
    // The next write finds the stream cancelled: the subscriber leaves.
    streams.broadcast({ id: 21, type: "alert", at, data: { n: 21 } });
    await eventually(async () => streams.size === 0);
  });

  it("is told through the Worker's stream, and what follows the overflow is contiguous", async () => {
    const fresh = await createWorkspace();
    const hub = workspaceHub(env, fresh.id);
    await hub.tuneStreams({ maxBacklog: 20 });
    const stream = await openRaw(streamPath(fresh.id), { Authorization: `Bearer ${fresh.keys.viewer}` });
    await stream.until((f) => f.length >= 1);
    // Not reading while ~4 MB of events are published: the pipe fills, then the hub's queue overflows.
    const pad = "x".repeat(2000);
    let last = 0;
    for (let i = 0; i < 2000; i++) {
      last = (await publish(env, fresh.id, { type: "alert", data: { code: "slow", pad } }))!.id;
    }
    const frames = await stream.until((f) => eventsIn(f).some((x) => Number(x.id) === last), 20_000);
    stream.close();
    const overflowAt = frames.findIndex((f) => f.event === "overflow");
    expect(overflowAt).toBeGreaterThan(0);
    const overflow = JSON.parse(frames[overflowAt]!.data!) as { oldest_id: number; requested_id: number };
    const before = eventsIn(frames.slice(0, overflowAt)).map((f) => Number(f.id));
    const after = eventsIn(frames.slice(overflowAt)).map((f) => Number(f.id));
    expect(overflow.requested_id).toBe(before.at(-1) ?? 0);
    expect(after[0]).toBe(overflow.oldest_id);
    expect(after).toEqual(Array.from({ length: after.length }, (_, i) => overflow.oldest_id + i));
    expect(after.length).toBeLessThan(2000);
  }, 60_000);
});

describe("the eventsource client", () => {
  /** `fetch` for the client: the Worker's own, with an API key, recording each request's Last-Event-ID. */
  function workerFetch(key: string, seen: (string | null)[], cutAfterEvents?: number) {
    let connections = 0;
    return async (input: string | URL | Request, init?: RequestInit) => {
      const headers = new Headers(init?.headers);
      headers.set("Authorization", `Bearer ${key}`);
      seen.push(headers.get("Last-Event-ID"));
      const res = await exports.default.fetch(String(input), { ...init, headers });
      connections++;
      if (connections > 1 || cutAfterEvents === undefined || !res.body) return res;
      // The first connection drops after `cutAfterEvents` events, as a network would.
      let events = 0;
      const reader = res.body.getReader();
      const decoder = new TextDecoder();
      const cut = new ReadableStream<Uint8Array>({
        async pull(controller) {
          const { done, value } = await reader.read();
          if (done) return controller.close();
          controller.enqueue(value);
          events += (decoder.decode(value).match(/^id: /gm) ?? []).length;
          if (events >= cutAfterEvents) {
            await reader.cancel();
            controller.close();
          }
        },
      });
      return new Response(cut, res);
    };
  }

  function collect(source: EventSource, types: string[]) {
    const received: { type: string; lastEventId: string; data: string }[] = [];
    for (const type of types) {
      source.addEventListener(type, (e) => {
        const m = e as MessageEvent;
        received.push({ type, lastEventId: m.lastEventId, data: String(m.data) });
      });
    }
    return received;
  }

  it("receives events in order with their ids, and after a dropped connection gets exactly the missed ones", async () => {
    const fresh = await createWorkspace();
    const seen: (string | null)[] = [];
    const source = new EventSource(`${BASE_URL}${streamPath(fresh.id)}`, {
      fetch: workerFetch(fresh.keys.viewer, seen, 2),
    });
    const received = collect(source, ["alert"]);
    await new Promise<void>((resolve) => source.addEventListener("open", () => resolve(), { once: true }));
    const first = await publishMany(fresh.id, 2);
    await eventually(async () => received.length >= 2);
    // The connection dropped after those two; these happen while the client waits to reconnect (3 s).
    const missed = await publishMany(fresh.id, 3);
    await eventually(async () => received.length >= 5, 10_000);
    source.close();
    expect(seen).toEqual([null, String(first[1]!.id)]);
    expect(received.map((r) => Number(r.lastEventId))).toEqual([...first, ...missed].map((e) => e.id));
    expect(JSON.parse(received[4]!.data)).toMatchObject({
      id: missed[2]!.id,
      type: "alert",
      data: { code: "test-2" },
    });
  }, 20_000);

  it("opens a stream with a ticket, once", async () => {
    const issued = await api("POST", `/v1/${ws.id}/events/tickets`, { key: ws.keys.viewer });
    expect(issued.status, issued.text).toBe(201);
    const url = new URL(issued.body.stream_url);
    expect(url.pathname).toBe(streamPath(ws.id));
    expect(Date.parse(issued.body.expires_at) - Date.now()).toBeLessThanOrEqual(60_000);
    const source = new EventSource(url.toString(), {
      fetch: (input, init) => exports.default.fetch(String(input), init),
    });
    const received = collect(source, ["alert"]);
    await new Promise<void>((resolve) => source.addEventListener("open", () => resolve(), { once: true }));
    const [event] = await publishMany(ws.id, 1);
    await eventually(async () => received.length >= 1);
    source.close();
    expect(Number(received[0]!.lastEventId)).toBe(event!.id);
    // Used: the same URL is refused.
    expectError(await api("GET", `${url.pathname}${url.search}&replay_only=true`), "unauthorized", 401);
  });
});

describe("who may open the stream", () => {
  const replayOnly = (workspaceId: string) => streamPath(workspaceId, "?replay_only=true");

  it("refuses anonymous callers and other workspaces' credentials", async () => {
    expectError(await api("GET", replayOnly(ws.id)), "unauthorized", 401);
    expectError(await api("GET", replayOnly(ws.id), { key: other.keys.owner }), "forbidden", 403);
  });

  it("accepts the session cookie (what a same-origin EventSource sends)", async () => {
    const { cookie } = await sessionCookie(ws.members.viewer.id);
    const res = await api("GET", replayOnly(ws.id), { cookie });
    expect(res.status).toBe(200);
    expect(res.headers.get("Content-Type")).toBe("text/event-stream");
  });

  it("lets a viewer read events, but the queue needs an operator", async () => {
    expect((await api("GET", replayOnly(ws.id), { key: ws.keys.viewer })).status).toBe(200);
    expectError(await api("GET", `/v1/${ws.id}/queue`, { key: ws.keys.viewer }), "forbidden", 403);
    expect((await api("GET", `/v1/${ws.id}/queue`, { key: ws.keys.operator })).status).toBe(200);
  });

  it("refuses a ticket for another workspace (403), an expired or tampered one (401), and tickets on other paths", async () => {
    const ticketOf = async (workspaceId: string, key: string) =>
      (await api("POST", `/v1/${workspaceId}/events/tickets`, { key })).body.ticket as string;
    const mine = await ticketOf(ws.id, ws.keys.viewer);
    expectError(await api("GET", `${replayOnly(other.id)}&ticket=${mine}`), "forbidden", 403);
    const expired = await issueStreamTicket(
      env,
      { workspaceId: ws.id, role: "viewer", subject: { kind: "api_key", keyId: ws.keyIds.viewer } },
      new Date(Date.now() - 120_000),
    );
    expectError(await api("GET", `${replayOnly(ws.id)}&ticket=${expired.ticket}`), "unauthorized", 401);
    const fresh = await ticketOf(ws.id, ws.keys.viewer);
    const tampered = `${fresh.slice(0, -3)}${fresh.endsWith("AAA") ? "BBB" : "AAA"}`;
    expectError(await api("GET", `${replayOnly(ws.id)}&ticket=${tampered}`), "unauthorized", 401);
    expectError(await api("GET", `/v1/${ws.id}/queue?ticket=${fresh}`), "unauthorized", 401);
    // Still unused: it works where it belongs.
    expect((await api("GET", `${replayOnly(ws.id)}&ticket=${fresh}`)).status).toBe(200);
  });

  it("refuses a ticket whose session has ended", async () => {
    const { cookie, sessionId } = await sessionCookie(ws.members.viewer.id);
    const issued = await api("POST", `/v1/${ws.id}/events/tickets`, { cookie });
    expect(issued.status, issued.text).toBe(201);
    await env.DB.prepare("UPDATE sessions SET revoked_at = ? WHERE id = ?")
      .bind(new Date().toISOString(), sessionId)
      .run();
    expectError(await api("GET", `${replayOnly(ws.id)}&ticket=${issued.body.ticket}`), "unauthorized", 401);
  });
});

describe("when the hub cannot be reached", () => {
  it("answers the stream with one `error` event and ends it", async () => {
    const broken = {
      ...env,
      WORKSPACE_HUB: {
        idFromName: (name: string) => env.WORKSPACE_HUB.idFromName(name),
        get: () => ({
          fetch: () => Promise.reject(new Error("hub unreachable")),
        }),
      },
    } as unknown as Env;
    const res = await openStream(broken, ws.id, { lastEventId: null, types: null, replayOnly: false });
    expect(res.status).toBe(200);
    expect(res.headers.get("Content-Type")).toBe("text/event-stream");
    const frames = parseFrames(await res.text());
    expect(frames).toEqual([
      { retry: "3000" },
      {
        event: "error",
        data: JSON.stringify({
          code: "service_unavailable",
          message: "The event stream is unavailable; reconnecting",
        }),
      },
    ]);
  });
});
