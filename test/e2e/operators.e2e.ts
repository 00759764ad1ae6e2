/**
 * The Operators page against the real local platform, the whole escalation as an operator lives it: the
 * demo operator (Sam Ortega, a clinician) goes online; a simulated caller on the scheduling line (over the
 * ConversationRelay protocol, from Node, exactly as the phone simulator speaks it) reports chest pain; the
 * call jumps to the top of the queue with a safety concern; the operator opens it, reads the briefing,
 * listens, guides the agent (a quoted sentence the agent then says as written), takes over and types to
 * the caller (who hears it), hands back, wraps up. Then the transcript's attribution and the audit log.
 *
 * The browser reaches the platform through a small TCP proxy the tests can cut, for an honest network
 * blip: Chromium's EventSource and the listen socket both lose their connections, reconnect by themselves
 * and catch up (Last-Event-ID for the stream, a fresh snapshot for the listen socket).
 */
import net from "node:net";
import type { Browser, BrowserContext, Page } from "playwright-core";
import { WebSocket } from "undici";
import { afterAll, afterEach, beforeAll, describe, expect, inject, test } from "vitest";
import { api } from "./api";
import { closeBrowser, demoLogin, expectFocus, heading, launchBrowser, shoot, signIn, text } from "./browser";

const SCHEDULING_NUMBER = "+14155550100";
const OPERATOR_ID = "usr_demo-operator";
const OPERATOR_NAME = "Sam Ortega";
/** The laptop screen the page is built for. */
const LAPTOP = { viewport: { width: 1280, height: 800 } };
const REPLY_TIMEOUT_MS = 15_000;

type Frame = Record<string, unknown> & { type?: unknown };

/** A TCP proxy in front of the platform: `cut()` drops every connection and refuses new ones for a while. */
class BlipProxy {
  readonly #server: net.Server;
  readonly #sockets = new Set<net.Socket>();
  #downUntil = 0;
  port = 0;

  constructor(target: URL) {
    this.#server = net.createServer((client) => {
      if (Date.now() < this.#downUntil) {
        client.destroy();
        return;
      }
      const upstream = net.connect(
        Number(target.port),
        target.hostname === "localhost" ? "127.0.0.1" : target.hostname,
      );
      for (const socket of [client, upstream]) {
        this.#sockets.add(socket);
        socket.on("close", () => this.#sockets.delete(socket));
        socket.on("error", () => undefined);
      }
      client.pipe(upstream);
      upstream.pipe(client);
      client.on("close", () => upstream.destroy());
      upstream.on("close", () => client.destroy());
    });
  }

  async start(): Promise<string> {
    await new Promise<void>((resolve) => this.#server.listen(0, "127.0.0.1", resolve));
    this.port = (this.#server.address() as net.AddressInfo).port;
    return `http://localhost:${this.port}`;
  }

  /** Every open connection drops now; new ones are refused for `ms`. */
  cut(ms: number): void {
    this.#downUntil = Date.now() + ms;
    for (const socket of this.#sockets) socket.destroy();
  }

  async close(): Promise<void> {
    for (const socket of this.#sockets) socket.destroy();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }
}

/** A caller on a simulated call: the ConversationRelay socket, as `npm run call` and the simulator use it. */
class SimulatedCaller {
  readonly frames: Frame[] = [];
  #ws!: WebSocket;
  #cursor = 0;
  #wake: (() => void) | null = null;
  closed = false;
  callId = "";

  async start(to: string, from: string): Promise<string> {
    callers.push(this);
    const call = await api<{ call_id: string; provider_sid: string; socket_url: string }>(
      "POST",
      "/v1/demo/simulator/calls",
      { to, from },
    );
    this.callId = call.call_id;
    this.#ws = new WebSocket(call.socket_url, {
      headers: { Authorization: `Bearer ${inject("demoApiKey")}` },
    });
    this.#ws.addEventListener("message", (event) => {
      this.frames.push(JSON.parse(String(event.data)) as Frame);
      this.#wake?.();
    });
    this.#ws.addEventListener("close", () => {
      this.closed = true;
      this.#wake?.();
    });
    await new Promise<void>((resolve, reject) => {
      this.#ws.addEventListener("open", () => resolve());
      this.#ws.addEventListener("error", () => reject(new Error("the call's socket did not open")));
    });
    this.#ws.send(
      JSON.stringify({
        type: "setup",
        sessionId: `VX${call.call_id}`,
        callSid: call.provider_sid,
        from,
        to,
        direction: "inbound",
        callType: "PSTN",
        customParameters: { call_id: call.call_id },
      }),
    );
    return this.nextReply();
  }

  /** The text of the next complete reply (tokens until `last: true`), from whoever speaks on the call. */
  async nextReply(timeoutMs = REPLY_TIMEOUT_MS): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    let reply = "";
    for (;;) {
      while (this.#cursor < this.frames.length) {
        const frame = this.frames[this.#cursor++]!;
        if (frame.type === "text") {
          reply += String(frame.token ?? "");
          if (frame.last === true) return reply;
        }
      }
      if (this.closed) throw new Error(`the call ended while waiting for a reply (had "${reply}")`);
      if (Date.now() > deadline) throw new Error(`no reply in time (had "${reply}")`);
      await new Promise<void>((resolve) => {
        this.#wake = resolve;
        setTimeout(resolve, 200);
      });
      this.#wake = null;
    }
  }

  /** Says `utterance`; returns the reply (null when `expectReply` is false: nothing is awaited). */
  async say(utterance: string, expectReply = true): Promise<string | null> {
    this.#ws.send(JSON.stringify({ type: "prompt", voicePrompt: utterance, lang: "en-US", last: true }));
    return expectReply ? this.nextReply() : null;
  }

  /** Whether any text frame arrived that was not read yet (within `ms`). */
  async heardNothingFor(ms: number): Promise<boolean> {
    await new Promise((resolve) => setTimeout(resolve, ms));
    return !this.frames.slice(this.#cursor).some((f) => f.type === "text");
  }

  /** The `end` frame's handoff data, once the platform ends the call. */
  async ended(timeoutMs = REPLY_TIMEOUT_MS): Promise<Record<string, unknown>> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const end = this.frames.find((f) => f.type === "end");
      if (end) return JSON.parse(String(end.handoffData ?? "{}")) as Record<string, unknown>;
      if (Date.now() > deadline) throw new Error("the call did not end in time");
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  }

  hangUp(): void {
    this.#ws.close(1000, "caller hung up");
  }
}

/** `expect.poll` with room for a real platform (its default gives up after one second). */
const poll = <T>(check: () => T | Promise<T>, timeout = 10_000) => expect.poll(check, { timeout });

const randomCaller = () => `+1628555${String(1000 + Math.floor(Math.random() * 8999))}`;

let browser: Browser;
let proxy: BlipProxy;
let proxiedUrl: string;

beforeAll(async () => {
  browser = await launchBrowser();
  proxy = new BlipProxy(new URL(inject("baseUrl")));
  proxiedUrl = await proxy.start();
});

/** Every caller a test placed: hung up after each test, so a failure leaves no call in the next one's queue. */
const callers: SimulatedCaller[] = [];

afterEach(() => {
  for (const caller of callers.splice(0)) if (!caller.closed) caller.hangUp();
});

afterAll(async () => {
  // The demo operator starts offline; leave it so, for the suites that expect nobody on duty.
  await api("PUT", `/v1/demo/operators/${OPERATOR_ID}/status`, { status: "offline" }).catch(() => undefined);
  await closeBrowser(browser);
  await proxy?.close();
});

async function openOperatorsPage(login = demoLogin("operator")) {
  const context: BrowserContext = await browser.newContext({ ...LAPTOP, baseURL: proxiedUrl });
  const page = await context.newPage();
  page.setDefaultTimeout(20_000);
  const pageErrors: string[] = [];
  page.on("pageerror", (error) => pageErrors.push(error.message));
  await signIn(page, login, "/operators");
  await heading(page).filter({ hasText: "Operators" }).waitFor();
  return { page, context, pageErrors };
}

const streamState = (page: Page) => text(page.getByTestId("stream-state"));

async function setStatus(page: Page, label: "Online" | "Busy" | "Offline") {
  await page.getByRole("radio", { name: label }).check();
  await poll(() => page.getByRole("radio", { name: label }).isChecked()).toBe(true);
  await poll(() => page.locator(".ops-my-status .hint").textContent()).not.toBe("Saving…");
}

/** The transcript as the operator sees it: [speaker label, text] per line. */
async function transcript(page: Page): Promise<[string, string][]> {
  const lines = page.locator(".ops-line");
  const count = await lines.count();
  const out: [string, string][] = [];
  for (let i = 0; i < count; i++) {
    const line = lines.nth(i);
    out.push([
      ((await line.locator(".ops-line-speaker").textContent()) ?? "").trim(),
      ((await line.locator(".ops-line-text").textContent()) ?? "").trim(),
    ]);
  }
  return out;
}

describe("the Operators page", () => {
  test("a chest-pain call: queue, briefing, listen, guide, take over, hand back, wrap up, audited", async () => {
    const { page, pageErrors } = await openOperatorsPage();
    expect(await page.title()).toBe("Operators · Riverside Family Clinic · Switchboard");
    await poll(() => streamState(page)).toBe("Live");
    // The demo operator starts offline, and goes on duty from the page.
    expect(await page.getByRole("radio", { name: "Offline" }).isChecked()).toBe(true);
    await setStatus(page, "Online");
    expect(await text(page.locator(".ops-my-status .hint"))).toBe("Escalations are routed to you.");

    const caller = new SimulatedCaller();
    const greeting = await caller.start(SCHEDULING_NUMBER, randomCaller());
    expect(greeting).toContain("Riverside Family Clinic");
    const safetyReply = await caller.say("I have crushing chest pain");
    expect(safetyReply).toContain("call 911");
    // With a clinician online the call stays with the agent, waiting at the top of the queue.
    const first = page.locator(".ops-queue-item").first();
    await poll(() => first.getAttribute("data-call-id")).toBe(caller.callId);
    // The queue follows the call as the stream reports it: first started, then escalated.
    await poll(() => first.locator('[data-reason="safety_concern"]').count()).toBe(1);
    await poll(() => text(first.locator("[data-escalation]"))).toBe("Waiting for an operator");
    expect(await text(first.locator(".ops-queue-link"))).toBe("Unknown caller");
    expect(
      Number(await text(first.locator(".urgency-value")).then((t) => t.replace("Urgency", ""))),
    ).toBeGreaterThanOrEqual(0.9);
    // The wait time ticks.
    const wait = first.getByTestId("wait");
    const before = await text(wait);
    await poll(() => text(wait), 5_000).not.toBe(before);
    await shoot(page, "operators-queue");

    // Open it: the address names the call; connect moves the escalation to connected.
    await first.locator(".ops-queue-link").click();
    await page.waitForURL(new RegExp(`/operators\\?call=${caller.callId}$`));
    await poll(() => text(page.getByTestId("listen-state"))).toBe("Listening");
    await poll(() => text(first.locator("[data-escalation]"))).toBe("Operator connected");
    const briefing = page.locator(".ops-briefing");
    expect(await text(page.getByTestId("briefing-summary"))).toMatch(/chest pain/i);
    expect(await text(page.getByTestId("briefing-source"))).toBe("Rendered by rules");
    expect(await text(briefing)).toContain("Recommended next");
    const transcriptLog = page.getByRole("log", { name: "Transcript" });
    await poll(() => text(transcriptLog)).toContain("I have crushing chest pain");
    expect(await page.getByRole("img", { name: /^Risk: now/ }).count()).toBe(1);

    // Guidance: hidden from the caller, the agent says the quoted sentence in its next reply.
    const guidance = page.getByLabel("Guidance for the agent");
    await guidance.fill('Reassure them. Say "A nurse is looking at your call right now."');
    await guidance.press("Enter");
    await poll(() => text(page.locator(".ops-send .hint").last())).toContain("Sent:");
    const guided = await caller.say("Okay. I will stay on the line.");
    expect(guided).toContain("A nurse is looking at your call right now.");
    await poll(() => text(transcriptLog)).toContain("A nurse is looking at your call right now.");

    // A network blip: the listen socket reconnects and its fresh snapshot has what was said meanwhile.
    proxy.cut(1_500);
    await poll(() => text(page.getByTestId("listen-state")), 5_000).toMatch(/Reconnecting/);
    await caller.say("It is getting worse.");
    await poll(() => text(page.getByTestId("listen-state")), 20_000).toBe("Listening");
    await poll(() => text(transcriptLog)).toContain("It is getting worse.");
    await poll(() => streamState(page), 20_000).toBe("Live");

    // Take over: the agent stops answering; what the operator types reaches the caller.
    await page.getByRole("button", { name: "Take over" }).click();
    await poll(() => text(page.getByTestId("call-mode"))).toBe(
      "You are speaking to the caller. The agent keeps following.",
    );
    await poll(() => text(first.locator("[data-escalation]"))).toBe("Operator speaking");
    await poll(() => page.getByRole("radio", { name: "Busy" }).isChecked()).toBe(true);
    // Focus lands in the say box: the operator just types and presses Enter.
    await expectFocus(page, "id", "ops-say");
    const sayBox = page.getByLabel("Say to the caller");
    await page.keyboard.type("Hi, this is Sam, a nurse. Is anyone with you right now?");
    await page.keyboard.press("Enter");
    expect(await caller.nextReply()).toContain("Hi, this is Sam, a nurse. Is anyone with you right now?");
    await poll(() => sayBox.inputValue()).toBe("");
    await caller.say("Yes, my husband is here.", false);
    expect(await caller.heardNothingFor(1_500)).toBe(true);
    await poll(() => text(transcriptLog)).toContain("Yes, my husband is here.");
    await shoot(page, "operators-takeover");

    // Hand back: the agent picks up with its context intact.
    await page.getByRole("button", { name: "Hand back to the agent" }).click();
    expect(await caller.nextReply()).toMatch(/Thanks for holding/);
    await poll(() => text(page.getByTestId("call-mode"))).toBe("The agent is speaking to the caller.");
    await poll(() => page.evaluate(() => document.activeElement?.textContent)).toBe("Take over");
    expect(await page.getByLabel("Say to the caller").count()).toBe(0);

    // Each line attributed: caller, agent, and the operator by name.
    await poll(async () => (await transcript(page)).at(-1)?.[1] ?? "").toMatch(/Thanks for holding/);
    const lines = await transcript(page);
    const saidBy = (needle: string) => lines.find(([, t]) => t.includes(needle))?.[0];
    expect(saidBy("I have crushing chest pain")).toBe("Caller");
    expect(saidBy("A nurse is looking at your call right now.")).toBe("Agent");
    expect(saidBy("Is anyone with you right now?")).toBe(`Operator ${OPERATOR_NAME}`);
    expect(saidBy("Yes, my husband is here.")).toBe("Caller");
    expect(saidBy("Thanks for holding")).toBe("Agent");
    expect(lines.filter(([speaker]) => speaker.startsWith("Operator")).length).toBe(1);

    // Wrap up, from the keyboard-reachable dialog.
    await page.getByRole("button", { name: "Wrap up…" }).click();
    const dialog = page.getByRole("dialog", { name: "Wrap up the call" });
    await dialog.getByLabel("Outcome").selectOption("resolved");
    await dialog.getByLabel("Notes").fill("Chest pain; husband present; advised 911, caller agreed.");
    await dialog.getByRole("button", { name: "Wrap up" }).click();
    await poll(() => text(page.locator(".notice.success"))).toContain("Outcome: Resolved");
    // Taking over made the operator busy; wrapping up frees them, and the page hears of it live.
    await poll(() => page.getByRole("radio", { name: "Online" }).isChecked()).toBe(true);
    await shoot(page, "operators-wrapped");

    // The day's figures count simulated calls only when asked to.
    const figure = (label: string) => text(page.locator(".ops-metric", { hasText: label }).locator("dd"));
    await page.getByLabel("Include simulated calls").check();
    await page.waitForURL(/simulated=1/);
    await poll(() => figure("Resolved")).toBe("1");
    expect(await figure("Escalated")).toBe("1");
    expect(await figure("Connected")).toBe("1");

    // The caller hangs up: the call leaves the queue, live.
    caller.hangUp();
    await poll(() => page.locator(`.ops-queue-item[data-call-id="${caller.callId}"]`).count()).toBe(0);

    // The audit log has each action on the call, and the status change.
    const audit = await api<{
      results: { action: string; actor_id: string | null; details: Record<string, unknown> }[];
    }>("GET", `/v1/demo/audit?target_id=${caller.callId}&limit=100`);
    const operatorActions = [
      "call.operator_connected",
      "call.guidance_sent",
      "call.takeover",
      "call.operator_said",
      "call.handback",
      "call.wrapped_up",
    ];
    const byOperator = audit.results.filter((e) => operatorActions.includes(e.action));
    expect(new Set(byOperator.map((e) => e.action))).toEqual(new Set(operatorActions));
    expect(byOperator.every((e) => e.actor_id === OPERATOR_ID)).toBe(true);
    // Audit rows carry lengths and outcomes, never what was said or noted.
    expect(JSON.stringify(audit.results)).not.toMatch(/nurse|husband/);
    const statusRows = await api<{ results: { details: Record<string, unknown> }[] }>(
      "GET",
      `/v1/demo/audit?action=operator.status_set&target_id=${OPERATOR_ID}&limit=100`,
    );
    expect(statusRows.results.map((e) => e.details.to)).toContain("online");

    await setStatus(page, "Offline");
    expect(pageErrors).toEqual([]);
  });

  test("the event stream survives a blip and a server-closed stream, missing nothing (Chromium's EventSource)", async () => {
    const status = (s: string) => api("PUT", `/v1/demo/operators/${OPERATOR_ID}/status`, { status: s });
    await status("offline");
    const { page, pageErrors } = await openOperatorsPage();
    await poll(() => streamState(page)).toBe("Live");

    // A second EventSource in the page, to read the ids themselves.
    await page.evaluate(() => {
      const w = window as unknown as { ids: number[]; opens: number };
      w.ids = [];
      w.opens = 0;
      const source = new EventSource("/v1/demo/events/stream?types=operator.status");
      source.addEventListener("operator.status", (e) => w.ids.push(Number((e as MessageEvent).lastEventId)));
      source.addEventListener("open", () => w.opens++);
    });
    const seen = () => page.evaluate(() => (window as unknown as { ids: number[] }).ids);
    await page.waitForFunction(() => (window as unknown as { opens: number }).opens === 1);
    await status("online");
    await poll(async () => (await seen()).length).toBe(1);
    const [firstId] = await seen();
    await poll(() => page.getByRole("radio", { name: "Online" }).isChecked()).toBe(true);

    // The network drops: both streams lose their connection; three events happen meanwhile.
    proxy.cut(2_000);
    await poll(() => streamState(page), 5_000).toBe("Reconnecting…");
    await status("busy");
    await status("offline");
    await status("busy");
    await poll(() => streamState(page), 20_000).toBe("Live");
    // Exactly the missed events, in order, once each (Last-Event-ID).
    await poll(async () => (await seen()).length, 10_000).toBe(4);
    expect(await seen()).toEqual([firstId, firstId! + 1, firstId! + 2, firstId! + 3]);
    // The page only re-reads operators on an `operator.status` event: the missed one reached it.
    await poll(() => page.getByRole("radio", { name: "Busy" }).isChecked()).toBe(true);

    // A stream the server ends (replay_only) is reopened by EventSource with Last-Event-ID each time.
    await page.evaluate((after) => {
      const w = window as unknown as { replayed: number[]; replayOpens: number };
      w.replayed = [];
      w.replayOpens = 0;
      const source = new EventSource(
        `/v1/demo/events/stream?types=operator.status&replay_only=true&last_event_id=${after}`,
      );
      source.addEventListener("operator.status", (e) =>
        w.replayed.push(Number((e as MessageEvent).lastEventId)),
      );
      source.addEventListener("open", () => w.replayOpens++);
    }, firstId! + 3);
    await status("offline");
    await status("online");
    const replayed = () => page.evaluate(() => (window as unknown as { replayed: number[] }).replayed);
    await poll(replayed, 15_000).toEqual([firstId! + 4, firstId! + 5]);
    await status("offline");
    await poll(replayed, 15_000).toEqual([firstId! + 4, firstId! + 5, firstId! + 6]);
    expect(
      await page.evaluate(() => (window as unknown as { replayOpens: number }).replayOpens),
    ).toBeGreaterThan(1);
    expect(pageErrors).toEqual([]);
  });

  test("an escalation nobody can take is announced above the queue, and can be dismissed", async () => {
    await api("PUT", `/v1/demo/operators/${OPERATOR_ID}/status`, { status: "offline" });
    const { page, pageErrors } = await openOperatorsPage();
    await poll(() => streamState(page)).toBe("Live");
    const caller = new SimulatedCaller();
    await caller.start(SCHEDULING_NUMBER, randomCaller());
    await caller.say("I have crushing chest pain");
    // Nobody on duty: the service's fallback (a call back) ends the call, and the page says so.
    expect(await caller.ended()).toMatchObject({ reason: "escalation", reason_code: "safety:chest_pain" });
    const alert = page.getByTestId("unanswered-alert");
    await poll(() => alert.count()).toBe(1);
    expect(await text(alert.locator(".notice-title"))).toBe(
      "Escalation unanswered: Nobody was online to take it (Red flag: chest pain)",
    );
    expect(await text(alert)).toContain("The caller was promised a call back.");
    expect(await alert.getByRole("link", { name: "Open the call" }).getAttribute("href")).toBe(
      `/operators?call=${caller.callId}`,
    );
    await shoot(page, "operators-unanswered");
    await alert.getByRole("button", { name: "Dismiss" }).click();
    await poll(() => alert.count()).toBe(0);
    expect(pageErrors).toEqual([]);
  });

  test("from the keyboard: open a call, transfer it to a clinic line after the agent's announcement", async () => {
    const { page, pageErrors } = await openOperatorsPage();
    await poll(() => streamState(page)).toBe("Live");
    const caller = new SimulatedCaller();
    await caller.start(SCHEDULING_NUMBER, randomCaller());
    const item = page.locator(`.ops-queue-item[data-call-id="${caller.callId}"]`);
    // Not escalated: in the queue all the same, with the agent.
    await poll(() => text(item.locator("[data-escalation]"))).toBe("With the agent");

    // Tab to the call's link (right after the figures' checkbox), Enter opens it, focus moves to the call.
    await page.getByLabel("Include simulated calls").focus();
    await page.keyboard.press("Tab");
    expect(
      await page.evaluate(() =>
        document.activeElement?.closest("[data-call-id]")?.getAttribute("data-call-id"),
      ),
    ).toBe(caller.callId);
    await shoot(page, "operators-keyboard-focus");
    await page.keyboard.press("Enter");
    await page.waitForURL(new RegExp(`/operators\\?call=${caller.callId}$`));
    await expectFocus(page, "id", "ops-call-title");
    await poll(() => text(page.getByTestId("listen-state"))).toBe("Listening");

    await page.getByRole("button", { name: "Transfer…" }).click();
    const dialog = page.getByRole("dialog", { name: "Transfer the call" });
    const number = dialog.getByLabel("Clinic line");
    await number.fill("555-0199");
    expect(await number.getAttribute("aria-invalid")).toBe("true");
    expect(await dialog.getByRole("button", { name: "Transfer the call" }).isDisabled()).toBe(true);
    await number.fill("+14155550199");
    await dialog.getByLabel("Announcement (optional)").fill("Connecting you to the front desk now.");
    await dialog.getByRole("button", { name: "Transfer the call" }).click();
    await poll(() => dialog.count()).toBe(0);

    // The caller hears the announcement, then the call moves to the clinic line.
    expect(await caller.nextReply()).toContain("Connecting you to the front desk now.");
    expect(await caller.ended()).toMatchObject({ reason: "transfer", to: "+14155550199" });
    await poll(() => text(page.getByTestId("listen-state"))).toBe("Call ended");
    expect(await text(page.getByTestId("call-mode"))).toBe("The call has ended (transfer).");
    await poll(() => item.count()).toBe(0);
    expect(await page.getByRole("button", { name: "Take over" }).isDisabled()).toBe(true);
    await shoot(page, "operators-transferred");

    const audit = await api<{ results: { action: string; details: Record<string, unknown> }[] }>(
      "GET",
      `/v1/demo/audit?target_id=${caller.callId}&action=call.transfer_requested`,
    );
    expect(audit.results.length).toBe(1);
    expect(JSON.stringify(audit.results)).not.toContain("front desk");
    caller.hangUp();
    expect(pageErrors).toEqual([]);
  });

  test("a viewer sees the figures and why the queue is not theirs", async () => {
    const { page, pageErrors } = await openOperatorsPage(demoLogin("viewer"));
    expect(await text(page.locator(".ops-queue-panel"))).toContain("The live queue needs the Operator role");
    await poll(() => text(page.locator(".ops-top"))).toContain("You are not an operator in this workspace");
    expect(await text(page.locator(".ops-not-operator"))).toContain(
      "ask an admin for the Operator role first",
    );
    expect(await text(page.locator(".ops-metrics"))).toContain("Escalated");
    await shoot(page, "operators-viewer");
    expect(pageErrors).toEqual([]);
  });
});
