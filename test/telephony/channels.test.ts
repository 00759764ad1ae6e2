/**
 * The outbox's other channels: WhatsApp through Twilio's Messages resource (`whatsapp:`-prefixed numbers),
 * and email through each adapter (Cloudflare's `send_email` binding, a Resend-compatible HTTP API, the
 * local adapter), chosen from configuration; a message with no call (a surface link) is the same
 * mechanism: one `deliveries` row, queued as ids only, sent once.
 */
import { env } from "cloudflare:workers";
import { and, eq } from "drizzle-orm";
import { afterEach, describe, expect, it, vi } from "vitest";
import { deliveries } from "../../workers/db/schema";
import { handleQueue, type JobEnvelope } from "../../workers/queue";
import {
  bindingAdapter,
  EmailApiError,
  emailAdapter,
  httpAdapter,
  localEmailAdapter,
  setEmailFetch,
} from "../../workers/telephony/email";
import { openDelivery, queueMessage, setMessagingFetch } from "../../workers/telephony/messaging";
import { db } from "../helpers/db";
import { fakeFetch, json } from "../helpers/fake-fetch";
import { createWorkspace } from "../helpers/workspace";
import { fakeSid } from "./helpers";

const ACCOUNT = fakeSid("AC");
const withoutProviders = {
  ...env,
  TWILIO_ACCOUNT_SID: undefined,
  EMAIL: undefined,
  EMAIL_API_URL: undefined,
  EMAIL_API_KEY: undefined,
} as Env;
const withTwilio = { ...withoutProviders, TWILIO_ACCOUNT_SID: ACCOUNT } as Env;
const withEmailApi = {
  ...withoutProviders,
  EMAIL_API_URL: "https://mail.test/emails",
  EMAIL_API_KEY: "re_test_key",
  EMAIL_FROM: "Clinic <no-reply@clinic.test>",
} as Env;

const PATIENT = "+14155550166";
const CLINIC = "+12125550166";
const EMAIL = "maria.lopez@example.com";
const TEXT = "Northside Clinic: please complete “Insurance update”: https://x.test/l/abc (expires Mar 5)";

/** A fake `send_email` binding that records what it is given. */
function fakeBinding(answer: () => Promise<EmailSendResult> = async () => ({ messageId: "<m1@cf.test>" })) {
  const sent: unknown[] = [];
  const binding = {
    send: async (message: unknown) => {
      sent.push(message);
      return answer();
    },
  } as unknown as SendEmail;
  return { binding, sent };
}

function captureDeliveryQueue() {
  const sent: JobEnvelope[] = [];
  vi.spyOn(env.DELIVERY_QUEUE, "send").mockImplementation(async (body) => {
    sent.push(body as JobEnvelope);
    return undefined as never;
  });
  return sent;
}

let counter = 0;
async function deliver(job: JobEnvelope, workerEnv: Env, attempts = 1) {
  const outcomes: string[] = [];
  const batch = {
    queue: "delivery",
    messages: [
      {
        id: `ch-${++counter}`,
        attempts,
        body: structuredClone(job),
        timestamp: new Date(),
        ack: () => outcomes.push("ack"),
        retry: () => outcomes.push("retry"),
      },
    ],
  } as unknown as MessageBatch<unknown>;
  await handleQueue(batch, workerEnv);
  return outcomes[0];
}

async function rowOf(workspaceId: string, deliveryId: string) {
  return db().query.deliveries.findFirst({
    where: and(eq(deliveries.workspaceId, workspaceId), eq(deliveries.id, deliveryId)),
  });
}

afterEach(() => {
  setMessagingFetch();
  setEmailFetch();
  vi.restoreAllMocks();
});

describe("WhatsApp", () => {
  it("goes to Twilio's Messages resource with whatsapp: numbers, and needs no call", async () => {
    const ws = await createWorkspace();
    const sid = fakeSid("SM");
    const twilio = fakeFetch(json(201, { sid, status: "queued" }));
    setMessagingFetch(twilio.fetcher);
    const jobs = captureDeliveryQueue();
    const { deliveryId } = await queueMessage(env, {
      workspaceId: ws.id,
      channel: "whatsapp",
      purpose: "surface_link",
      key: "surface:srf_whatsapp0001",
      to: PATIENT,
      from: CLINIC,
      body: TEXT,
    });
    expect(jobs).toHaveLength(1);
    expect(jobs[0]!.idempotency_key).toBe("whatsapp-out:surface:srf_whatsapp0001");
    expect(JSON.stringify(jobs[0])).not.toContain("4155550166");

    expect(await deliver(jobs[0]!, withTwilio)).toBe("ack");
    expect(twilio.requests).toHaveLength(1);
    const [request] = twilio.requests;
    expect(request!.url).toBe(`https://api.twilio.com/2010-04-01/Accounts/${ACCOUNT}/Messages.json`);
    expect(Object.fromEntries(new URLSearchParams(request!.text))).toEqual({
      To: `whatsapp:${PATIENT}`,
      From: `whatsapp:${CLINIC}`,
      Body: TEXT,
    });
    const row = await rowOf(ws.id, deliveryId);
    expect(row).toMatchObject({
      channel: "whatsapp",
      purpose: "surface_link",
      callId: null,
      status: "sent",
      provider: "twilio",
      providerId: sid,
    });
    expect(await openDelivery(env, row!)).toEqual({ to: PATIENT, body: TEXT });
  });

  it("refuses a WhatsApp message without a sender number", async () => {
    const ws = await createWorkspace();
    const err = await queueMessage(env, {
      workspaceId: ws.id,
      channel: "whatsapp",
      purpose: "surface_link",
      key: "k",
      to: PATIENT,
      body: TEXT,
    }).catch((e: Error) => e);
    expect(err).toBeInstanceOf(TypeError);
    expect((err as Error).message).toContain("from");
  });
});

describe("email adapters", () => {
  const email = {
    from: "Clinic <no-reply@clinic.test>",
    to: EMAIL,
    subject: "Northside Clinic: Insurance update",
    text: TEXT,
    idempotencyKey: "ws_1:email-out:surface:srf_1",
  };

  it("configuration picks the binding, else the HTTP API, else local", () => {
    expect(emailAdapter(withoutProviders).name).toBe("local");
    expect(emailAdapter(withEmailApi).name).toBe("http");
    expect(emailAdapter({ ...withEmailApi, EMAIL_API_KEY: " " } as Env).name).toBe("local");
    expect(emailAdapter({ ...withEmailApi, EMAIL: fakeBinding().binding } as Env).name).toBe("cloudflare");
  });

  it("binding: sends the structured message and returns its message id", async () => {
    const fake = fakeBinding();
    expect(await bindingAdapter(fake.binding).send(email)).toEqual({ id: "<m1@cf.test>", status: "sent" });
    expect(fake.sent).toEqual([{ from: email.from, to: EMAIL, subject: email.subject, text: TEXT }]);
  });

  it("binding: a refusal keeps its code, never its text", async () => {
    const fake = fakeBinding(async () => {
      throw Object.assign(new Error(`recipient ${EMAIL} not allowed`), { code: "E_RECIPIENT_NOT_ALLOWED" });
    });
    const err = await bindingAdapter(fake.binding)
      .send(email)
      .catch((e) => e);
    expect(err).toBeInstanceOf(EmailApiError);
    expect(err).toMatchObject({ code: "E_RECIPIENT_NOT_ALLOWED", retryable: true });
    expect(err.message).not.toContain("maria");
  });

  it("HTTP API: a Resend-shaped JSON POST with the key and an idempotency key", async () => {
    const api = fakeFetch(json(200, { id: "49a3999c-0ce1-4ea6-ab68-afcd6dc2e794" }));
    const sent = await httpAdapter("https://mail.test/emails", "re_test_key", api.fetcher).send(email);
    expect(sent).toEqual({ id: "49a3999c-0ce1-4ea6-ab68-afcd6dc2e794", status: "sent" });
    const [request] = api.requests;
    expect(request!.url).toBe("https://mail.test/emails");
    expect(request!.headers.get("Authorization")).toBe("Bearer re_test_key");
    expect(request!.headers.get("Content-Type")).toBe("application/json");
    expect(request!.headers.get("Idempotency-Key")).toBe(email.idempotencyKey);
    expect(JSON.parse(request!.text)).toEqual({
      from: email.from,
      to: [EMAIL],
      subject: email.subject,
      text: TEXT,
    });
  });

  it("HTTP API: 422 is permanent with the error's name, 429 and 5xx and no answer are retryable", async () => {
    const send = (answer: () => Response) =>
      httpAdapter("https://mail.test/emails", "k", fakeFetch(answer).fetcher)
        .send(email)
        .catch((e) => e);
    const invalid = await send(json(422, { name: "validation_error", message: `Invalid \`to\`: ${EMAIL}` }));
    expect(invalid).toBeInstanceOf(EmailApiError);
    expect(invalid).toMatchObject({ status: 422, code: "validation_error", retryable: false });
    expect(invalid.message).not.toContain("maria");
    expect(await send(json(429, { name: "rate_limit_exceeded" }))).toMatchObject({ retryable: true });
    expect(await send(() => new Response("oops", { status: 503 }))).toMatchObject({
      status: 503,
      code: null,
      retryable: true,
    });
    const unreachable = (async () => {
      throw new TypeError("Network connection lost.");
    }) as typeof fetch;
    expect(
      await httpAdapter("https://mail.test/emails", "k", unreachable)
        .send(email)
        .catch((e) => e),
    ).toMatchObject({ status: 0, retryable: true });
    // Accepted but unreadable: never retried (it could deliver twice).
    expect(await send(() => new Response("ok", { status: 200 }))).toMatchObject({ retryable: false });
  });

  it("local: sends nothing and answers a local id", async () => {
    expect(await localEmailAdapter.send(email)).toMatchObject({
      id: expect.stringMatching(/^local-[0-9a-f]{24}$/),
    });
  });
});

describe("email through the outbox", () => {
  const queueEmail = (workspaceId: string, key: string) =>
    queueMessage(env, {
      workspaceId,
      channel: "email",
      purpose: "surface_link",
      key,
      to: EMAIL,
      subject: "Northside Clinic: Insurance update",
      body: TEXT,
      surfaceId: "srf_emailSurface0001",
    });

  it("HTTP API: sends the subject and body from EMAIL_FROM once; the queue message holds neither", async () => {
    const ws = await createWorkspace();
    const api = fakeFetch(json(200, { id: "email-1" }));
    setEmailFetch(api.fetcher);
    const jobs = captureDeliveryQueue();
    const { deliveryId } = await queueEmail(ws.id, "surface:srf_emailSurface0001");
    const text = JSON.stringify(jobs[0]);
    expect(text).not.toMatch(/maria|Insurance|please complete/);

    expect(await deliver(jobs[0]!, withEmailApi)).toBe("ack");
    expect(await deliver(jobs[0]!, withEmailApi)).toBe("ack");
    expect(api.requests).toHaveLength(1);
    expect(JSON.parse(api.requests[0]!.text)).toEqual({
      from: "Clinic <no-reply@clinic.test>",
      to: [EMAIL],
      subject: "Northside Clinic: Insurance update",
      text: TEXT,
    });
    expect(api.requests[0]!.headers.get("Idempotency-Key")).toBe(
      `${ws.id}:email-out:surface:srf_emailSurface0001`,
    );
    expect(await rowOf(ws.id, deliveryId)).toMatchObject({
      channel: "email",
      surfaceId: "srf_emailSurface0001",
      status: "sent",
      provider: "http",
      providerId: "email-1",
      attempts: 1,
    });
  });

  it("a configured provider without a sender address fails the message for good", async () => {
    const ws = await createWorkspace();
    const api = fakeFetch(json(200, { id: "never" }));
    setEmailFetch(api.fetcher);
    const jobs = captureDeliveryQueue();
    const { deliveryId } = await queueEmail(ws.id, "no-sender");
    const noSender = { ...withEmailApi, EMAIL_FROM: undefined } as Env;
    vi.spyOn(console, "error").mockImplementation(() => {});
    vi.spyOn(console, "warn").mockImplementation(() => {});
    expect(await deliver(jobs[0]!, noSender)).toBe("ack");
    expect(api.requests).toHaveLength(0);
    expect(await rowOf(ws.id, deliveryId)).toMatchObject({ status: "failed", errorCode: "no_sender" });
  });

  it("local: recorded as sent, readable in the outbox", async () => {
    const ws = await createWorkspace();
    const jobs = captureDeliveryQueue();
    const { deliveryId } = await queueEmail(ws.id, "local");
    expect(await deliver(jobs[0]!, withoutProviders)).toBe("ack");
    const row = await rowOf(ws.id, deliveryId);
    expect(row).toMatchObject({ status: "sent", provider: "local" });
    expect(await openDelivery(env, row!)).toEqual({ to: EMAIL, body: TEXT });
  });

  it("refuses an email without a subject or to something that is not an address", async () => {
    const ws = await createWorkspace();
    const base = {
      workspaceId: ws.id,
      channel: "email" as const,
      purpose: "surface_link",
      key: "k",
      body: TEXT,
    };
    await expect(queueMessage(env, { ...base, to: EMAIL })).rejects.toThrow(/subject/);
    await expect(queueMessage(env, { ...base, to: "not-an-address", subject: "s" })).rejects.toThrow(/to/);
  });
});
