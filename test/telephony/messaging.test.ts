/**
 * Outbound SMS: the Twilio REST requests (`sendMessage`, `redirectCall`) as Twilio's API expects them,
 * its error answers read into `TwilioApiError`, and a call's texts through the outbox end to end: recorded
 * as a `deliveries` row and queued as a `message.send` job with nothing readable in the queue message,
 * delivered through the Worker's queue handler against a real text session, sent once however often it is
 * delivered, retried or failed as Twilio's answer says.
 */
import { env } from "cloudflare:workers";
import { and, eq } from "drizzle-orm";
import { afterEach, describe, expect, it, vi } from "vitest";
import { findCallByProviderSid } from "../../workers/db/calls";
import { deliveries } from "../../workers/db/schema";
import { handleQueue, type JobEnvelope } from "../../workers/queue";
import {
  DELIVERY_MAX_RETRIES,
  MESSAGE_SEND_JOB,
  messagingAdapter,
  openDelivery,
  queueSms,
  setMessagingFetch,
} from "../../workers/telephony/messaging";
import {
  redirectCall,
  sendMessage,
  TwilioApiError,
  twilioCredentials,
} from "../../workers/telephony/twilio-rest";
import { db } from "../helpers/db";
import { fakeFetch as fakeTwilio, json } from "../helpers/fake-fetch";
import { clinicLine, fakeSid, twilioPost } from "./helpers";

const CREDS = { accountSid: fakeSid("AC"), authToken: "rest-test-token", baseUrl: "https://twilio.test" };
/** The Worker's environment without a Twilio account (whatever a local .dev.vars holds), and with one. */
const withoutTwilio = { ...env, TWILIO_ACCOUNT_SID: undefined } as Env;
const withTwilio = { ...env, TWILIO_ACCOUNT_SID: CREDS.accountSid } as Env;
const basic = (user: string, password: string) =>
  `Basic ${Buffer.from(`${user}:${password}`).toString("base64")}`;

const messageCreated = (sid = fakeSid("SM")) =>
  json(201, { sid, status: "queued", body: "echoed by Twilio", to: "+14155550100", error_code: null });
const twilioError = (status: number, code: number, message = "error") =>
  json(status, { code, message, more_info: `https://www.twilio.com/docs/errors/${code}`, status });

afterEach(() => {
  setMessagingFetch();
  vi.restoreAllMocks();
});

describe("sendMessage", () => {
  it("POSTs To, From and Body form-encoded to the account's Messages.json with Basic auth", async () => {
    const sid = fakeSid("SM");
    const twilio = fakeTwilio(messageCreated(sid));
    const sent = await sendMessage(
      CREDS,
      { from: "+12125550100", to: "+14155550123", body: "See you Friday at 3 & bring your card" },
      twilio.fetcher,
    );
    expect(sent).toEqual({ sid, status: "queued" });
    expect(twilio.requests).toHaveLength(1);
    const [request] = twilio.requests;
    expect(request!.method).toBe("POST");
    expect(request!.url).toBe(`https://twilio.test/2010-04-01/Accounts/${CREDS.accountSid}/Messages.json`);
    expect(request!.headers.get("Authorization")).toBe(basic(CREDS.accountSid, CREDS.authToken));
    expect(request!.headers.get("Content-Type")).toBe("application/x-www-form-urlencoded");
    expect(Object.fromEntries(request!.form)).toEqual({
      To: "+14155550123",
      From: "+12125550100",
      Body: "See you Friday at 3 & bring your card",
    });
  });

  it("sends StatusCallback only when given", async () => {
    const twilio = fakeTwilio(messageCreated());
    await sendMessage(
      CREDS,
      { from: "+12125550100", to: "+14155550123", body: "Hi", statusCallback: "https://example.com/status" },
      twilio.fetcher,
    );
    expect(twilio.requests[0]!.form.get("StatusCallback")).toBe("https://example.com/status");
  });

  it("defaults to api.twilio.com", async () => {
    const twilio = fakeTwilio(messageCreated());
    const { baseUrl: _, ...production } = CREDS;
    await sendMessage(production, { from: "+12125550100", to: "+14155550123", body: "Hi" }, twilio.fetcher);
    expect(twilio.requests[0]!.url).toBe(
      `https://api.twilio.com/2010-04-01/Accounts/${CREDS.accountSid}/Messages.json`,
    );
  });
});

describe("redirectCall", () => {
  it("POSTs the TwiML as Twiml to the call's resource", async () => {
    const callSid = fakeSid("CA");
    const twilio = fakeTwilio(json(200, { sid: callSid, status: "in-progress" }));
    const twiml = '<?xml version="1.0" encoding="UTF-8"?><Response><Dial>+12125550199</Dial></Response>';
    await redirectCall(CREDS, callSid, twiml, twilio.fetcher);
    const [request] = twilio.requests;
    expect(request!.method).toBe("POST");
    expect(request!.url).toBe(
      `https://twilio.test/2010-04-01/Accounts/${CREDS.accountSid}/Calls/${callSid}.json`,
    );
    expect(request!.headers.get("Authorization")).toBe(basic(CREDS.accountSid, CREDS.authToken));
    expect(Object.fromEntries(request!.form)).toEqual({ Twiml: twiml });
  });

  it("refuses a call sid that is not one (it would change the path)", async () => {
    const twilio = fakeTwilio(json(200, {}));
    await expect(redirectCall(CREDS, "../Messages", "<Response/>", twilio.fetcher)).rejects.toThrow(
      TypeError,
    );
    expect(twilio.requests).toHaveLength(0);
  });

  it("a call that has ended (404, error 20404) is not retryable", async () => {
    const twilio = fakeTwilio(twilioError(404, 20404, "The requested resource was not found"));
    const err = await redirectCall(CREDS, fakeSid("CA"), "<Response/>", twilio.fetcher).catch((e) => e);
    expect(err).toBeInstanceOf(TwilioApiError);
    expect(err).toMatchObject({ status: 404, code: 20404, retryable: false });
  });
});

describe("TwilioApiError", () => {
  const send = (fetcher: typeof fetch) =>
    sendMessage(CREDS, { from: "+12125550100", to: "+14155550123", body: "Hi" }, fetcher).then(
      () => expect.fail("expected a TwilioApiError"),
      (err: unknown) => {
        expect(err).toBeInstanceOf(TwilioApiError);
        return err as TwilioApiError;
      },
    );

  it("reads Twilio's error JSON; a 400 is permanent and its text (which echoes the number) is not kept", async () => {
    const err = await send(
      fakeTwilio(twilioError(400, 21211, "The 'To' number +14155550123 is not a valid phone number."))
        .fetcher,
    );
    expect(err).toMatchObject({ status: 400, code: 21211, retryable: false });
    expect(err.message).toBe("Twilio answered 400 (error 21211)");
    expect(JSON.stringify({ ...err, message: err.message })).not.toContain("4155550123");
  });

  it("a wrong token (401, error 20003) is permanent", async () => {
    expect(await send(fakeTwilio(twilioError(401, 20003)).fetcher)).toMatchObject({
      status: 401,
      code: 20003,
      retryable: false,
    });
  });

  it("429 and 5xx are retryable, also without a JSON body", async () => {
    expect(await send(fakeTwilio(twilioError(429, 20429)).fetcher)).toMatchObject({
      status: 429,
      code: 20429,
      retryable: true,
    });
    const gateway = fakeTwilio(() => new Response("<html>Bad gateway</html>", { status: 502 }));
    expect(await send(gateway.fetcher)).toMatchObject({ status: 502, code: null, retryable: true });
    expect(await send(fakeTwilio(twilioError(500, 20500)).fetcher)).toMatchObject({ retryable: true });
  });

  it("a network failure is retryable, with status 0", async () => {
    const unreachable = (async () => {
      throw new TypeError("Network connection lost.");
    }) as typeof fetch;
    expect(await send(unreachable)).toMatchObject({ status: 0, code: null, retryable: true });
  });

  it("a success Twilio's answer does not describe is not retried (that could send twice)", async () => {
    const err = await send(fakeTwilio(() => new Response("ok", { status: 201 })).fetcher);
    expect(err).toMatchObject({ status: 201, retryable: false });
  });
});

describe("adapter choice", () => {
  it("Twilio needs both the account sid and the auth token; else the local adapter", () => {
    expect(twilioCredentials(withoutTwilio)).toBeNull();
    expect(messagingAdapter(withoutTwilio).name).toBe("local");
    expect(twilioCredentials({ ...withoutTwilio, TWILIO_ACCOUNT_SID: "" } as Env)).toBeNull();
    expect(twilioCredentials(withTwilio)).toEqual({
      accountSid: CREDS.accountSid,
      authToken: env.TWILIO_AUTH_TOKEN,
    });
    expect(messagingAdapter(withTwilio).name).toBe("twilio");
    expect(twilioCredentials({ ...withTwilio, TWILIO_AUTH_TOKEN: "" } as Env)).toBeNull();
  });
});

// ---------------------------------------------------------------------------------------------------------
// A call's texts through the outbox (the message.send job)

const PATIENT = "+14155550178";
const REPLY = "Your appointment moved to Friday 3pm";

/** A text session as the inbound webhook opens it, and its numbers. */
async function textSession() {
  const { ws, number } = await clinicLine();
  const sid = fakeSid("SM");
  const res = await twilioPost("/telephony/twilio/sms", {
    MessageSid: sid,
    AccountSid: fakeSid("AC"),
    From: PATIENT,
    To: number.e164,
    Body: "Can I move my appointment?",
    NumMedia: "0",
  });
  expect(res.status, res.text).toBe(200);
  const call = (await findCallByProviderSid(db(), sid))!;
  return { workspaceId: ws.id, callId: call.id, clinicNumber: number.e164 };
}

/** Every DELIVERY_QUEUE message sent while installed, kept instead of delivered. */
function captureDeliveryQueue() {
  const sent: JobEnvelope[] = [];
  vi.spyOn(env.DELIVERY_QUEUE, "send").mockImplementation(async (body) => {
    sent.push(body as JobEnvelope);
    return undefined as never;
  });
  return sent;
}

async function queued(session: Awaited<ReturnType<typeof textSession>>, key: string, body = REPLY) {
  const sent = captureDeliveryQueue();
  await queueSms(env, {
    workspaceId: session.workspaceId,
    callId: session.callId,
    key,
    from: session.clinicNumber,
    to: PATIENT,
    body,
  });
  expect(sent).toHaveLength(1);
  return sent[0]!;
}

type Settled = { ack: true } | { retry: true; delaySeconds: number | undefined };
let messageCounter = 0;

/** Delivers `job` on the `delivery` queue at delivery number `attempts`, as the runtime would. */
async function deliver(job: JobEnvelope, workerEnv: Env = withoutTwilio, attempts = 1): Promise<Settled> {
  const outcomes: Settled[] = [];
  const batch = {
    queue: "delivery",
    messages: [
      {
        id: `sms-${++messageCounter}`,
        attempts,
        body: structuredClone(job),
        timestamp: new Date(),
        ack: () => outcomes.push({ ack: true }),
        retry: (options?: QueueRetryOptions) =>
          outcomes.push({ retry: true, delaySeconds: options?.delaySeconds }),
      },
    ],
    ackAll: () => expect.fail("the consumer settles messages one by one"),
    retryAll: () => expect.fail("the consumer settles messages one by one"),
  } as unknown as MessageBatch<unknown>;
  await handleQueue(batch, workerEnv);
  expect(outcomes).toHaveLength(1);
  return outcomes[0]!;
}

/** The session's outbox rows (each message once, whatever its dedupe key). */
async function outbound(session: { workspaceId: string; callId: string }) {
  return db()
    .select()
    .from(deliveries)
    .where(and(eq(deliveries.workspaceId, session.workspaceId), eq(deliveries.callId, session.callId)));
}

describe("queueSms and message.send", () => {
  let logged: string[] = [];
  const captureLogs = () => {
    logged = [];
    for (const level of ["log", "info", "warn", "error"] as const)
      vi.spyOn(console, level).mockImplementation((...args: unknown[]) => {
        logged.push(args.map(String).join(" "));
      });
  };

  it("records the message in the outbox and queues ids only: no body and no number in the queue message", async () => {
    const session = await textSession();
    const job = await queued(session, "turn-1");
    const [row] = await outbound(session);
    expect(row).toMatchObject({
      channel: "sms",
      purpose: "call_reply",
      status: "pending",
      dedupeKey: "sms-out:turn-1",
      attempts: 0,
    });
    expect(job).toEqual({
      type: MESSAGE_SEND_JOB,
      workspace_id: session.workspaceId,
      idempotency_key: "sms-out:turn-1",
      payload: { delivery_id: row!.id },
    });
    for (const text of [JSON.stringify(job), JSON.stringify(row)]) {
      expect(text).not.toContain("Friday");
      expect(text).not.toContain(PATIENT.slice(2));
      expect(text).not.toContain(session.clinicNumber.slice(2));
    }
  });

  it("a key the send_sms tool made is a tool_sms", async () => {
    const session = await textSession();
    await queued(session, `${session.callId}:tool:3:directions`);
    expect((await outbound(session))[0]).toMatchObject({ purpose: "tool_sms" });
  });

  it("refuses a message that is not one, without repeating it", async () => {
    const session = await textSession();
    const sent = captureDeliveryQueue();
    const err = await queueSms(env, {
      workspaceId: session.workspaceId,
      callId: session.callId,
      key: "bad",
      from: session.clinicNumber,
      to: "4155550178",
      body: REPLY,
    }).catch((e: Error) => e);
    expect(err).toBeInstanceOf(TypeError);
    expect((err as Error).message).toContain("to");
    expect((err as Error).message).not.toContain("4155550178");
    expect(sent).toHaveLength(0);
    expect(await outbound(session)).toHaveLength(0);
  });

  it("local adapter: records the message once, sent, however often the job is delivered", async () => {
    captureLogs();
    const session = await textSession();
    const job = await queued(session, "turn-1");
    expect(await deliver(job)).toEqual({ ack: true });
    expect(await deliver(job)).toEqual({ ack: true });
    // The same message queued again under its key (a retried turn): still one, and nothing more to send.
    const again = captureDeliveryQueue();
    await queueSms(env, {
      workspaceId: session.workspaceId,
      callId: session.callId,
      key: "turn-1",
      from: session.clinicNumber,
      to: PATIENT,
      body: REPLY,
    });
    expect(again).toHaveLength(0);

    const rows = await outbound(session);
    expect(rows).toHaveLength(1);
    const [row] = rows;
    expect(row).toMatchObject({ status: "sent", provider: "local", attempts: 1, errorCode: null });
    expect(row!.providerId).toMatch(/^SMlocal[0-9a-f]{27}$/);
    expect(row!.sentAt).not.toBeNull();
    expect(JSON.stringify(row)).not.toContain("Friday");
    expect(await openDelivery(env, row!)).toEqual({ to: PATIENT, body: REPLY });
    expect(logged.join("\n")).not.toMatch(/Friday|4155550178/);
  });

  it("two keys are two messages", async () => {
    const session = await textSession();
    await deliver(await queued(session, "turn-1"));
    await deliver(await queued(session, "turn-2", "And bring your insurance card"));
    const rows = await outbound(session);
    const bodies = await Promise.all(rows.map(async (row) => (await openDelivery(env, row)).body));
    expect(bodies.sort()).toEqual(["And bring your insurance card", REPLY]);
  });

  it("Twilio: sends from the clinic number to the patient; a 500 is retried, then sent exactly once", async () => {
    captureLogs();
    const session = await textSession();
    const sid = fakeSid("SM");
    const twilio = fakeTwilio(twilioError(500, 20500), messageCreated(sid));
    setMessagingFetch(twilio.fetcher);
    const job = await queued(session, "turn-1");

    const first = await deliver(job, withTwilio, 1);
    expect(first).toMatchObject({ retry: true });
    const [pending] = await outbound(session);
    expect(pending).toMatchObject({
      status: "pending",
      provider: "twilio",
      errorCode: "20500",
      attempts: 1,
    });

    expect(await deliver(job, withTwilio, 2)).toEqual({ ack: true });
    expect(await deliver(job, withTwilio, 1)).toEqual({ ack: true });
    expect(twilio.requests).toHaveLength(2);
    expect(Object.fromEntries(twilio.requests[1]!.form)).toEqual({
      To: PATIENT,
      From: session.clinicNumber,
      Body: REPLY,
    });
    expect(twilio.requests[1]!.headers.get("Authorization")).toBe(
      basic(CREDS.accountSid, env.TWILIO_AUTH_TOKEN),
    );
    const rows = await outbound(session);
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({
      status: "sent",
      provider: "twilio",
      providerId: sid,
      errorCode: null,
      attempts: 2,
    });
    expect(logged.join("\n")).not.toMatch(/Friday|4155550178/);
  });

  it("Twilio: a 400 fails the message for good (acked, not retried), with Twilio's error code", async () => {
    captureLogs();
    const session = await textSession();
    const twilio = fakeTwilio(
      twilioError(400, 21610, "Attempt to send to unsubscribed recipient +14155550178"),
    );
    setMessagingFetch(twilio.fetcher);
    const job = await queued(session, "turn-1");

    expect(await deliver(job, withTwilio)).toEqual({ ack: true });
    expect(await deliver(job, withTwilio)).toEqual({ ack: true });
    expect(twilio.requests).toHaveLength(1);
    const rows = await outbound(session);
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({
      status: "failed",
      provider: "twilio",
      providerId: null,
      errorCode: "21610",
    });
    expect(logged.join("\n")).toContain("permanent failure in message.send");
    expect(logged.join("\n")).not.toMatch(/Friday|4155550178/);
  });

  it("Twilio: a retryable failure on the last delivery marks the message failed before the dead-letter queue", async () => {
    const session = await textSession();
    const twilio = fakeTwilio(twilioError(503, 20503));
    setMessagingFetch(twilio.fetcher);
    const job = await queued(session, "turn-1");
    expect(await deliver(job, withTwilio, DELIVERY_MAX_RETRIES)).toMatchObject({ retry: true });
    expect((await outbound(session))[0]).toMatchObject({ status: "pending" });
    expect(await deliver(job, withTwilio, DELIVERY_MAX_RETRIES + 1)).toMatchObject({ retry: true });
    expect((await outbound(session))[0]).toMatchObject({ status: "failed", errorCode: "20503" });
  });

  it("a message for a call that does not exist is failed without a send", async () => {
    const session = await textSession();
    const twilio = fakeTwilio(messageCreated());
    setMessagingFetch(twilio.fetcher);
    const orphan = { ...session, callId: "call_doesNotExist0000" };
    const job = await queued(orphan, "turn-1");
    expect(await deliver(job, withTwilio)).toEqual({ ack: true });
    expect(twilio.requests).toHaveLength(0);
    expect((await outbound(orphan))[0]).toMatchObject({ status: "failed", errorCode: "no_call" });
  });

  it("a job whose message is not in the outbox is dropped", async () => {
    const session = await textSession();
    const job = await queued(session, "turn-1");
    const unknown = { ...job, payload: { delivery_id: "dlv_doesNotExist000000" } };
    expect(await deliver(unknown)).toEqual({ ack: true });
    expect((await outbound(session))[0]).toMatchObject({ status: "pending" });
  });
});
