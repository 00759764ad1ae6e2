/**
 * The FHIR notification receiver, `POST|PUT /webhooks/fhir/{workspace_id}/{data_source_id}[/...]`, as an
 * EHR uses it: R4 rest-hook notifications (a resource, as the sandbox sends it, or an empty ping) and
 * Subscriptions Backport IG notification Bundles (handshake, heartbeat, event notifications with full
 * resources, ids only or nothing, and event numbers whose gaps are filled by a poll). Authenticated by
 * the source's webhook secret; a duplicate delivery, a wrong credential or another workspace's source
 * writes nothing.
 */
import { describe, expect, it, vi } from "vitest";
import { eventGap } from "../../workers/ehr/inbound";
import { expectError } from "../helpers/http";
import { worldWorkspace } from "../world/fixtures";
import {
  backportNotification,
  ehr,
  entityByExternalId,
  hmacHex,
  inboundCounts,
  insertSource,
  invalidPatient,
  notify,
  patient,
  resourceNotification,
  sandboxPatient,
  sandboxRead,
  sourceEvents,
  sourceState,
  type WebhookOptions,
  webhookSecret,
} from "./inbound-fixtures";

interface Parameter {
  name: string;
  valueCode?: string;
  valueString?: string;
  part?: Parameter[];
}

/** The SubscriptionStatus parameters of a notification built by `backportNotification`. */
const statusParameters = (notification: Record<string, unknown>) =>
  (notification.entry as { resource: { parameter: Parameter[] } }[])[0]!.resource.parameter;

/** Cursors just behind now: a poll requested by a test reads only the sandbox's latest changes. */
const recentCursors = () => ({ Patient: { last_updated: new Date().toISOString() } });

async function setup(options: Parameters<typeof insertSource>[1] = {}) {
  const f = await worldWorkspace();
  const secret = webhookSecret();
  const id = await insertSource(f.ws.id, {
    type: "fhir_webhook",
    webhookSecret: secret,
    cursors: recentCursors(),
    ...options,
  });
  return { ...f, id, secret };
}

/** Everything a refused or duplicate notification must leave as it was. */
async function snapshot(workspaceId: string, sourceId: string) {
  return { counts: await inboundCounts(workspaceId), source: await sourceState(sourceId) };
}

/** The poll a notification asked for ran: the queue delivered the job and it completed. */
async function expectPollRan(sourceId: string, after: string) {
  await vi.waitFor(
    async () => {
      const state = await sourceState(sourceId);
      expect(state.last_poll_started_at ?? "").toBeTruthy();
      expect(state.last_poll_started_at! > after).toBe(true);
      expect(state.status).toBe("idle");
    },
    { timeout: 30_000, interval: 200 },
  );
}

describe("R4 rest-hook notifications", () => {
  it("applies the resource the EHR sends, and the same notification twice changes nothing", async () => {
    const { ws, id, secret } = await setup();
    // What the sandbox POSTs for a Subscription with payload application/fhir+json and
    // header "Authorization: Bearer <secret>": the new version, as stored.
    const created = await sandboxPatient();
    const resource = await sandboxRead("Patient", created.id!);
    const first = await notify(ws.id, id, resource, { secret });
    expect(first.status, first.text).toBe(200);
    expect(first.body).toMatchObject({ kind: "resource", applied: 1, duplicates: 0, failed: 0 });
    expect(await entityByExternalId(ws.id, ws.keys.viewer, `ehr:Patient:${created.id}`)).not.toBeNull();

    const before = await snapshot(ws.id, id);
    const second = await notify(ws.id, id, resource, { secret });
    expect(second.status).toBe(200);
    expect(second.body).toMatchObject({ kind: "resource", applied: 0, duplicates: 1 });
    expect(await snapshot(ws.id, id)).toEqual(before);
  });

  it("takes the resource at any path below the endpoint (PUT [endpoint]/[type]/[id]), signed instead", async () => {
    const { ws, id, secret } = await setup();
    const p = patient();
    const res = await notify(ws.id, id, p, { signWith: secret, method: "PUT", suffix: `/Patient/${p.id}` });
    expect(res.status, res.text).toBe(200);
    expect(res.body.applied).toBe(1);
    expect((await sourceEvents(ws.id, id))[0]).toMatchObject({ channel: "webhook", resource_id: p.id });
  });

  it("logs an invalid resource as a failed source event and answers 200, so the EHR does not retry", async () => {
    const { ws, id, secret } = await setup();
    const res = await notify(ws.id, id, invalidPatient(), { secret });
    expect(res.status, res.text).toBe(200);
    expect(res.body).toMatchObject({ applied: 0, failed: 1 });
    const [row] = await sourceEvents(ws.id, id);
    expect(row!.status).toBe("failed");
    expect(JSON.parse(row!.error!)).toEqual(
      expect.arrayContaining([expect.objectContaining({ path: "Patient.birthDate" })]),
    );
    expect((await inboundCounts(ws.id)).world_events).toBe(0);
  });

  it("polls the source for a notification without payload", async () => {
    const { ws, id, secret } = await setup();
    const sent = new Date().toISOString();
    const res = await notify(ws.id, id, undefined, { secret });
    expect(res.status, res.text).toBe(200);
    expect(res.body).toMatchObject({ kind: "ping", poll_requested: true });
    expect((await sourceState(id)).last_notification_at! >= sent).toBe(true);
    await expectPollRan(id, sent);
  }, 40_000);
});

describe("authentication and scope", () => {
  it("refuses a missing, wrong or mis-signed credential with 401, writing nothing", async () => {
    const { ws, id, secret } = await setup();
    const p = patient();
    const body = JSON.stringify(p);
    const before = await snapshot(ws.id, id);
    const attempts: WebhookOptions[] = [
      {},
      { secret: `${secret}x` },
      { secret: secret.slice(0, -1) },
      { secret: webhookSecret() },
      { headers: { Authorization: `Basic ${btoa(`user:${secret}`)}` } },
      { headers: { Authorization: secret } },
      { signWith: webhookSecret() },
      { headers: { "X-Switchboard-Signature": `sha256=${"0".repeat(64)}` } },
      { headers: { "X-Switchboard-Signature": "sha256=zz" } },
      { headers: { "X-Switchboard-Signature": secret } },
    ];
    for (const attempt of attempts) {
      const res = await notify(ws.id, id, body, attempt);
      expectError(res, "unauthorized", 401);
    }
    // A signature is over the exact bytes: the same resource re-serialized does not carry it.
    const signature = await hmacHex(secret, JSON.stringify(p, null, 2));
    expectError(
      await notify(ws.id, id, body, { headers: { "X-Switchboard-Signature": `sha256=${signature}` } }),
      "unauthorized",
      401,
    );
    expect(await snapshot(ws.id, id)).toEqual(before);
  });

  it("accepts no notification for a source without a webhook secret", async () => {
    const { ws } = await setup();
    const id = await insertSource(ws.id, { type: "fhir_webhook", webhookSecret: null });
    for (const secret of ["", "undefined", "null"])
      expectError(
        await notify(ws.id, id, patient(), { headers: { Authorization: `Bearer ${secret}` } }),
        "unauthorized",
        401,
      );
    expect((await inboundCounts(ws.id)).source_events).toBe(0);
  });

  it("does not find another workspace's source, even with that source's own secret", async () => {
    const mine = await setup();
    const theirs = await setup();
    const before = [await snapshot(mine.ws.id, mine.id), await snapshot(theirs.ws.id, theirs.id)];
    const p = patient();
    expectError(await notify(mine.ws.id, theirs.id, p, { secret: theirs.secret }), "not_found", 404);
    expectError(await notify(mine.ws.id, theirs.id, p, { signWith: theirs.secret }), "not_found", 404);
    for (const bad of ["ds_doesnotexist000", "..%2F..%2Fv1", "ds_x'%20OR%201=1"])
      expectError(await notify(mine.ws.id, bad, p, { secret: mine.secret }), "not_found", 404);
    expect([await snapshot(mine.ws.id, mine.id), await snapshot(theirs.ws.id, theirs.id)]).toEqual(before);
  });

  it("refuses notifications for a disabled source once the sender is known", async () => {
    const { ws, secret } = await setup();
    const id = await insertSource(ws.id, { type: "fhir_webhook", webhookSecret: secret, enabled: false });
    expectError(await notify(ws.id, id, patient()), "unauthorized", 401);
    expectError(await notify(ws.id, id, patient(), { secret }), "forbidden", 403);
    expect((await inboundCounts(ws.id)).source_events).toBe(0);
  });

  it("answers 400 to a body that is not JSON or not FHIR, 415 to another media type", async () => {
    const { ws, id, secret } = await setup();
    const before = await snapshot(ws.id, id);
    expectError(await notify(ws.id, id, '{"resourceType": "Patient",', { secret }), "invalid_json", 400);
    expectError(await notify(ws.id, id, { hello: "world" }, { secret }), "bad_request", 400);
    expectError(await notify(ws.id, id, [patient()], { secret }), "bad_request", 400);
    expectError(await notify(ws.id, id, { resourceType: "not a type" }, { secret }), "bad_request", 400);
    expectError(
      await notify(ws.id, id, patient(), { secret, contentType: "application/fhir+xml" }),
      "unsupported_media_type",
      415,
    );
    expectError(
      await notify(ws.id, id, JSON.stringify(backportNotification({ type: "heartbeat" })), {
        secret,
        contentType: "text/plain",
      }),
      "unsupported_media_type",
      415,
    );
    expect(await snapshot(ws.id, id)).toEqual(before);
  });
});

describe("Subscriptions Backport IG notifications", () => {
  it("answers a handshake and a heartbeat, recording them and nothing else", async () => {
    const { ws, id, secret } = await setup({ lastEventNumber: 41 });
    const counts = await inboundCounts(ws.id);
    const handshake = await notify(
      ws.id,
      id,
      backportNotification({ type: "handshake", eventsSinceStart: 0 }),
      {
        secret,
      },
    );
    expect(handshake.status, handshake.text).toBe(200);
    expect(handshake.body).toMatchObject({ kind: "handshake", poll_requested: false });
    const afterHandshake = await sourceState(id);
    // A new subscription counts from zero again.
    expect(afterHandshake.last_event_number).toBe(0);
    expect(afterHandshake.last_notification_at).not.toBeNull();

    const heartbeat = await notify(
      ws.id,
      id,
      backportNotification({ type: "heartbeat", eventsSinceStart: 0 }),
      {
        secret,
      },
    );
    expect(heartbeat.body).toMatchObject({ kind: "heartbeat", gap: false, poll_requested: false });
    expect(await inboundCounts(ws.id)).toEqual(counts);
  });

  it("applies full-resource event notifications; the same notification twice changes nothing", async () => {
    const { ws, id, secret } = await setup({ lastEventNumber: 0 });
    const p = patient();
    const notification = backportNotification({
      type: "event-notification",
      eventsSinceStart: 1,
      events: [{ number: 1, focus: `https://ehr.example/fhir/Patient/${p.id}` }],
      resources: [p],
    });
    const first = await notify(ws.id, id, notification, { secret });
    expect(first.status, first.text).toBe(200);
    expect(first.body).toMatchObject({ kind: "event-notification", events: 1, applied: 1, gap: false });
    expect((await sourceState(id)).last_event_number).toBe(1);
    expect(await entityByExternalId(ws.id, ws.keys.viewer, `ehr:Patient:${p.id}`)).not.toBeNull();

    const before = await snapshot(ws.id, id);
    const second = await notify(ws.id, id, notification, { secret });
    expect(second.status).toBe(200);
    expect(second.body).toMatchObject({ applied: 0, duplicates: 1, gap: false, poll_requested: false });
    expect(await snapshot(ws.id, id)).toEqual(before);
  });

  it("reads the focus of an id-only notification from the EHR", async () => {
    const { ws, id, secret } = await setup({ lastEventNumber: 6 });
    const created = await sandboxPatient();
    const res = await notify(
      ws.id,
      id,
      backportNotification({
        type: "event-notification",
        eventsSinceStart: 7,
        events: [{ number: 7, focus: `${ehr().fhirBaseUrl}/Patient/${created.id}` }],
        integers: true,
      }),
      { secret },
    );
    expect(res.status, res.text).toBe(200);
    expect(res.body).toMatchObject({ applied: 1, gap: false, poll_requested: false });
    expect(await entityByExternalId(ws.id, ws.keys.viewer, `ehr:Patient:${created.id}`)).not.toBeNull();
    expect((await sourceState(id)).last_event_number).toBe(7);
  });

  it("requests a poll when an event number was skipped, and records the newest", async () => {
    const { ws, id, secret } = await setup({ lastEventNumber: 1 });
    const sent = new Date().toISOString();
    const p = patient();
    const res = await notify(ws.id, id, resourceNotification(p, 3), { secret });
    expect(res.status, res.text).toBe(200);
    expect(res.body).toMatchObject({ applied: 1, gap: true, poll_requested: true });
    expect((await sourceState(id)).last_event_number).toBe(3);
    await expectPollRan(id, sent);
  }, 40_000);

  it("still applies an event that arrives after a later one (out of order), without a poll", async () => {
    const { ws, id, secret } = await setup({ lastEventNumber: 5 });
    const p = patient();
    const res = await notify(ws.id, id, resourceNotification(p, 4), { secret });
    expect(res.body).toMatchObject({ applied: 1, gap: false, poll_requested: false });
    expect((await sourceState(id)).last_event_number).toBe(5);
  });

  it("requests a poll when a heartbeat counts more events than were received", async () => {
    const { ws, id, secret } = await setup({ lastEventNumber: 4 });
    const sent = new Date().toISOString();
    const res = await notify(ws.id, id, backportNotification({ type: "heartbeat", eventsSinceStart: 6 }), {
      secret,
    });
    expect(res.body).toMatchObject({ kind: "heartbeat", gap: true, poll_requested: true });
    expect((await sourceState(id)).last_event_number).toBe(6);
    await expectPollRan(id, sent);
  }, 40_000);

  it("requests a poll for an empty event notification (no resources, no focus)", async () => {
    const { ws, id, secret } = await setup({ lastEventNumber: 9 });
    const res = await notify(
      ws.id,
      id,
      backportNotification({ type: "event-notification", eventsSinceStart: 10, events: [{ number: 10 }] }),
      { secret },
    );
    expect(res.body).toMatchObject({ gap: false, poll_requested: true, applied: 0 });
    expect((await sourceState(id)).last_event_number).toBe(10);
  });

  it("logs invalid resources inside a notification as failed, answering 200", async () => {
    const { ws, id, secret } = await setup({ lastEventNumber: 0 });
    const bad = invalidPatient();
    const res = await notify(ws.id, id, resourceNotification(bad, 1), { secret });
    expect(res.status, res.text).toBe(200);
    expect(res.body).toMatchObject({ failed: 1, applied: 0 });
    expect((await sourceEvents(ws.id, id))[0]!.status).toBe("failed");
  });

  it("refuses a notification whose status is not one it knows", async () => {
    const { ws, id, secret } = await setup();
    const notification = backportNotification({ type: "heartbeat" });
    statusParameters(notification).find((p) => p.name === "type")!.valueCode = "event-storm";
    expectError(await notify(ws.id, id, notification, { secret }), "bad_request", 400);
    const broken = backportNotification({ type: "event-notification", events: [{ number: 1 }] });
    statusParameters(broken).find((p) => p.name === "notification-event")!.part![0]!.valueString = "one";
    expectError(await notify(ws.id, id, broken, { secret }), "bad_request", 400);
    expect((await sourceState(id)).last_notification_at).toBeNull();
  });
});

describe("eventGap", () => {
  const status = (numbers: number[], eventsSinceStart: number | null = null) => ({
    type: "event-notification" as const,
    eventsSinceStart,
    events: numbers.map((number) => ({ number, focus: null })),
  });

  it("sees a gap only where a number after the last one seen is missing", () => {
    expect(eventGap(1, status([2]))).toBe(false);
    expect(eventGap(1, status([2, 3], 3))).toBe(false);
    expect(eventGap(1, status([3]))).toBe(true);
    expect(eventGap(1, status([2], 3))).toBe(true);
    // Already past these numbers (a re-delivery, or out of order): nothing missing.
    expect(eventGap(5, status([3]))).toBe(false);
    // Nothing seen yet: events before the first one received are missing, unless it is the first.
    expect(eventGap(null, status([1]))).toBe(false);
    expect(eventGap(null, status([4]))).toBe(true);
    expect(eventGap(4, { type: "heartbeat", eventsSinceStart: 4, events: [] })).toBe(false);
    expect(eventGap(4, { type: "heartbeat", eventsSinceStart: 6, events: [] })).toBe(true);
  });
});
