import { createServer, type IncomingHttpHeaders, type Server } from "node:http";
import type { Appointment, Slot, Subscription } from "@medplum/fhirtypes";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { type EhrSandbox, startEhrSandbox } from "../../ehr-sandbox/server";
import { fhir, issues, PORTS, TEST_SEED } from "./helpers";

interface Notification {
  path: string;
  method: string;
  headers: IncomingHttpHeaders;
  body: string;
}

/** A tiny HTTP receiver standing in for Switchboard's webhook; fails the next `failNext` requests. */
const received: Notification[] = [];
let failNext = 0;
let receiver: Server;
let sandbox: EhrSandbox;
const hook = (path: string) => `http://127.0.0.1:${PORTS.receiver}${path}`;

beforeAll(async () => {
  receiver = createServer((req, res) => {
    let body = "";
    req.on("data", (chunk) => {
      body += chunk;
    });
    req.on("end", () => {
      received.push({ path: req.url ?? "", method: req.method ?? "", headers: req.headers, body });
      res.writeHead(failNext-- > 0 ? 503 : 200).end();
    });
  });
  await new Promise<void>((resolve) => receiver.listen(PORTS.receiver, "127.0.0.1", resolve));
  sandbox = await startEhrSandbox({
    port: PORTS.subscriptions,
    seed: TEST_SEED,
    subscriptions: { retryDelaysMs: [50, 100], timeoutMs: 2000 },
  });
});
afterAll(async () => {
  await sandbox?.stop();
  await new Promise((resolve) => receiver?.close(resolve));
});
beforeEach(() => {
  failNext = 0;
});

async function waitFor<T>(
  find: () => T | undefined | Promise<T | undefined>,
  what: string,
  ms = 5000,
): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const found = await find();
    if (found !== undefined) return found;
    if (Date.now() > deadline) throw new Error(`Timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

const at = (path: string) => received.filter((n) => n.path === path);

async function subscribe(path: string, criteria: string, extra: Partial<Subscription["channel"]> = {}) {
  const made = await fhir<Subscription>(sandbox, "POST", "Subscription", {
    body: {
      resourceType: "Subscription",
      status: "requested",
      reason: "Switchboard keeps its schedule view current",
      criteria,
      channel: {
        type: "rest-hook",
        endpoint: hook(path),
        payload: "application/fhir+json",
        header: ["Authorization: Bearer hook-secret"],
        ...extra,
      },
    },
  });
  expect(made.status, JSON.stringify(made.body)).toBe(201);
  return made.body;
}

async function book(slotId: string, practitioner: string, patient = "demo-011") {
  const slot = (await fhir<Slot>(sandbox, "GET", `Slot/${slotId}`)).body;
  const made = await fhir<Appointment>(sandbox, "POST", "Appointment", {
    body: {
      resourceType: "Appointment",
      status: "booked",
      start: slot.start,
      end: slot.end,
      slot: [{ reference: `Slot/${slot.id}` }],
      participant: [
        { actor: { reference: `Patient/${patient}` }, status: "accepted" },
        { actor: { reference: `Practitioner/${practitioner}` }, status: "accepted" },
      ],
    },
  });
  expect(made.status).toBe(201);
  return made.body;
}

describe("rest-hook Subscriptions", () => {
  it("activates a requested subscription and POSTs each change of a matching Appointment, in order", async () => {
    const subscription = await subscribe("/reyes", "Appointment?practitioner=Practitioner/pr-reyes");
    expect(subscription.status).toBe("active");

    const appointment = await book("slot-reyes-20261216-0900", "pr-reyes");
    const cancelled = await fhir<Appointment>(sandbox, "PUT", `Appointment/${appointment.id}`, {
      body: { ...appointment, status: "cancelled" },
    });
    expect(cancelled.status).toBe(200);

    const [created, updated] = await waitFor(
      () => (at("/reyes").length >= 2 ? at("/reyes") : undefined),
      "2 notifications",
    );
    for (const n of [created!, updated!]) {
      expect(n.method).toBe("POST");
      expect(n.headers.authorization).toBe("Bearer hook-secret");
      expect(n.headers["content-type"]).toBe("application/fhir+json");
    }
    const bodies = [created!, updated!].map((n) => JSON.parse(n.body) as Appointment);
    expect(bodies.map((a) => [a.id, a.status, a.meta?.versionId])).toEqual([
      [appointment.id, "booked", "1"],
      [appointment.id, "cancelled", "2"],
    ]);
  });

  it("stays quiet about Appointments outside its criteria", async () => {
    await subscribe("/okafor-only", "Appointment?practitioner=Practitioner/pr-okafor");
    await book("slot-chen-20261216-0900", "pr-chen");
    const okafor = await book("slot-okafor-20261216-0900", "pr-okafor");
    // Notifications go out in commit order, so once the later booking is in, the earlier one never will be.
    const [only] = await waitFor(
      () => (at("/okafor-only").length > 0 ? at("/okafor-only") : undefined),
      "a notification",
    );
    expect(JSON.parse(only!.body).id).toBe(okafor.id);
    expect(at("/okafor-only")).toHaveLength(1);
  });

  it("pings with an empty body when the subscription asks for no payload", async () => {
    await subscribe("/ping", "Appointment?patient=Patient/demo-012", { payload: undefined });
    await book("slot-lindqvist-20261216-0900", "pr-lindqvist", "demo-012");
    const ping = await waitFor(() => at("/ping")[0], "a ping");
    expect(ping.body).toBe("");
    expect(ping.headers["content-type"]).toBeUndefined();
  });

  it("retries a failed delivery", async () => {
    await subscribe("/flaky", "Appointment?patient=Patient/demo-013");
    failNext = 1;
    const appointment = await book("slot-lindqvist-20261216-0930", "pr-lindqvist", "demo-013");
    const attempts = await waitFor(() => (at("/flaky").length >= 2 ? at("/flaky") : undefined), "a retry");
    expect(attempts.map((n) => JSON.parse(n.body).id)).toEqual([appointment.id, appointment.id]);
  });

  it("records the error on the Subscription when every attempt fails, and keeps it active", async () => {
    const made = await fhir<Subscription>(sandbox, "POST", "Subscription", {
      body: {
        resourceType: "Subscription",
        status: "requested",
        reason: "nobody listens",
        criteria: "Appointment?patient=Patient/demo-014",
        channel: { type: "rest-hook", endpoint: `http://127.0.0.1:${PORTS.nobody}/hook` },
      },
    });
    expect(made.body.status).toBe("active");
    const appointment = await book("slot-lindqvist-20261216-1000", "pr-lindqvist", "demo-014");
    const subscription = await waitFor(async () => {
      const current = (await fhir<Subscription>(sandbox, "GET", `Subscription/${made.body.id}`)).body;
      return current.error ? current : undefined;
    }, "Subscription.error");
    expect(subscription.status).toBe("active");
    expect(subscription.error).toContain(`Appointment/${appointment.id}`);
  });

  it.each([
    ["a channel it cannot deliver on", { channel: { type: "websocket" } }, "rest-hook"],
    ["a non-HTTP endpoint", { channel: { type: "rest-hook", endpoint: "ftp://example.org/x" } }, "endpoint"],
    ["criteria with an unknown parameter", { criteria: "Appointment?bogus=1" }, "bogus"],
    ["criteria on a type the sandbox does not serve", { criteria: "Encounter?status=planned" }, "supported"],
    [
      "an XML payload",
      { channel: { type: "rest-hook", endpoint: hook("/x"), payload: "application/fhir+xml" } },
      "payload",
    ],
  ])("refuses %s with 400", async (_what, change, mentions) => {
    const { status, body } = await fhir(sandbox, "POST", "Subscription", {
      body: {
        resourceType: "Subscription",
        status: "requested",
        reason: "test",
        criteria: "Appointment?status=booked",
        channel: { type: "rest-hook", endpoint: hook("/x") },
        ...change,
      },
    });
    expect(status).toBe(400);
    expect(issues(body).join()).toContain(mentions);
  });
});
