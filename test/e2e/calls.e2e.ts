/**
 * The Calls page against the real local platform: calls arrive as signed Twilio voice and status
 * webhooks (signed by the official `twilio` package over the public URL the Worker checks), and one through
 * the phone simulator's API; then a person sees them in the table (the simulated one marked), filters them
 * and opens one's timeline. A fresh workspace with its own number keeps the demo workspace's Calls page
 * empty for the other suites.
 */
import type { Browser, Page } from "playwright-core";
import twilio from "twilio";
import { afterAll, beforeAll, describe, expect, inject, test } from "vitest";
import { INQUIRIES_GRAPH } from "../../scripts/demo-graphs";
import { ensureDevVars } from "../../scripts/local-platform";
import { toHex } from "../../shared/encoding";
import {
  closeBrowser,
  DESKTOP,
  demoLogin,
  heading,
  launchBrowser,
  openPage,
  shoot,
  signIn,
  text,
} from "./browser";

const baseUrl = inject("baseUrl");
/** What Twilio signs: the number's configured (public) URL, wrangler.toml's PUBLIC_BASE_URL, not the e2e port. */
const PUBLIC_BASE_URL = "http://localhost:8787";
const OWNER = demoLogin("owner");

const sid = (prefix: string) => prefix + toHex(crypto.getRandomValues(new Uint8Array(16)));

async function twilioPost(path: string, params: Record<string, string>) {
  const { TWILIO_AUTH_TOKEN } = ensureDevVars();
  const signature = twilio.getExpectedTwilioSignature(
    TWILIO_AUTH_TOKEN!,
    `${PUBLIC_BASE_URL}${path}`,
    params,
  );
  const response = await fetch(`${baseUrl}${path}`, {
    method: "POST",
    headers: { "Content-Type": "application/x-www-form-urlencoded", "X-Twilio-Signature": signature },
    body: new URLSearchParams(params).toString(),
  });
  expect(response.status, `${path}: ${await response.clone().text()}`).toBe(200);
}

/** An inbound call from `from` to `to`, answered and ended after `seconds` (or left unanswered). */
async function placeCall(to: string, from: string, outcome: { seconds: number } | "no-answer") {
  const CallSid = sid("CA");
  const common = {
    CallSid,
    AccountSid: sid("AC"),
    From: from,
    To: to,
    Direction: "inbound",
    ApiVersion: "2010-04-01",
  };
  await twilioPost("/telephony/twilio/voice", { ...common, CallStatus: "ringing" });
  if (outcome === "no-answer") {
    await twilioPost("/telephony/twilio/status", { ...common, CallStatus: "no-answer", CallDuration: "0" });
    return;
  }
  await twilioPost("/telephony/twilio/status", { ...common, CallStatus: "in-progress" });
  await twilioPost("/telephony/twilio/status", {
    ...common,
    CallStatus: "completed",
    CallDuration: String(outcome.seconds),
  });
}

/** An inbound text message from `from` to `to`: it opens a text conversation. */
async function sendText(to: string, from: string, body: string) {
  await twilioPost("/telephony/twilio/sms", {
    MessageSid: sid("SM"),
    AccountSid: sid("AC"),
    From: from,
    To: to,
    Body: body,
  });
}

let browser: Browser;

beforeAll(async () => {
  browser = await launchBrowser();
});

afterAll(async () => {
  await closeBrowser(browser);
});

async function rows(page: Page) {
  return page.getByRole("table", { name: "Calls" }).locator("tbody tr");
}

describe("the Calls page", () => {
  test("lists calls from Twilio webhooks, filters them and opens a call's timeline", async () => {
    const { page, pageErrors } = await openPage(browser, DESKTOP);
    await signIn(page, OWNER);

    // A workspace of its own (this user owns it), with a line and a number.
    const workspaceId = `calls-${crypto.randomUUID().slice(0, 8)}`;
    const created = await page.request.post("/auth/workspaces", {
      data: { id: workspaceId, name: "Harbor Clinic", timezone: "UTC" },
    });
    expect(created.status()).toBe(201);
    const service = await page.request.post(`/v1/${workspaceId}/services`, {
      data: { name: "Scheduling line", voice_transport: "conversation_relay" },
    });
    expect(service.status(), await service.text()).toBe(201);
    const serviceId = (await service.json()).id;
    const number = `+1628555${String(1000 + Math.floor(Math.random() * 8999))}`;
    const added = await page.request.post(`/v1/${workspaceId}/phone-numbers`, {
      data: { number, service_id: serviceId, label: "Main" },
    });
    expect(added.status(), await added.text()).toBe(201);
    // The phone simulator needs the line to have an active context graph.
    const graph = await page.request.post(`/v1/${workspaceId}/services/${serviceId}/context-graphs`, {
      data: { graph: INQUIRIES_GRAPH, activate: true },
    });
    expect(graph.status(), await graph.text()).toBe(201);

    // Before any call: the honest empty state.
    await page.reload();
    const picker = page.getByRole("banner").getByLabel("Workspace");
    await picker.selectOption({ label: "Harbor Clinic" });
    expect(await text(page.locator(".empty-state"))).toContain("No calls yet");

    // The oldest call is a simulated one: the simulator's API opens it as the voice webhook would.
    const simulated = await page.request.post(`/v1/${workspaceId}/simulator/calls`, {
      data: { to: number, from: "+14155550166" },
    });
    expect(simulated.status(), await simulated.text()).toBe(201);
    const simulatedId = (await simulated.json()).call_id as string;
    await sendText(number, "+14155550155", "Are you open on Saturday?");
    await placeCall(number, "+14155550177", { seconds: 95 });
    await placeCall(number, "+14155550188", "no-answer");
    await placeCall(number, "+14155550199", { seconds: 42 });

    await page.reload();
    await heading(page).filter({ hasText: "Calls" }).waitFor();
    const table = page.getByRole("table", { name: "Calls" });
    await table.waitFor();
    expect(await (await rows(page)).count()).toBe(5);
    const first = await text((await rows(page)).first());
    // Newest first, the caller masked, the service named, the duration shown.
    expect(first).toContain("•••• 0199");
    expect(first).toContain("Scheduling line");
    expect(first).toContain("Completed");
    expect(first).toContain("0:42");
    // Only the simulated call carries the badge.
    const badges = table.locator("tbody .call-simulated");
    expect(await badges.count()).toBe(1);
    const simulatedRow = table.locator(`tbody tr[data-call-id="${simulatedId}"]`);
    expect(await text(simulatedRow.locator(".call-simulated"))).toBe("Simulated");
    expect(await text(simulatedRow)).toContain("•••• 0166");
    expect(first).not.toContain("Simulated");
    expect(first).toContain("Call · inbound");
    // The text message is a conversation, labelled as text, not a call.
    const textRow = (await rows(page)).nth(3);
    expect(await text(textRow)).toContain("Text · inbound");
    expect(await text(textRow)).toContain("•••• 0155");
    expect(await textRow.locator(".call-simulated").count()).toBe(0);
    const all = await text(table);
    expect(all).not.toContain("555-0177");
    expect(all).not.toContain("5550177");
    await shoot(page, "calls-list");

    await textRow.getByRole("link").click();
    const textDialog = page.getByRole("dialog", { name: "Call" });
    await textDialog.locator(".call-detail").waitFor();
    expect(await text(textDialog)).toContain("Text conversation, inbound");
    await page.keyboard.press("Escape");
    await page.waitForURL((url) => !url.searchParams.has("call"));

    // The simulated call's detail says so too.
    await simulatedRow.getByRole("link").click();
    const simulatedDialog = page.getByRole("dialog", { name: "Call" });
    await simulatedDialog.locator(".call-detail").waitFor();
    expect(await text(simulatedDialog.locator(".call-simulated"))).toBe("Simulated");
    expect(await text(simulatedDialog)).toContain("Voice call, inbound (conversation relay)");
    await shoot(page, "calls-detail-simulated");
    await page.keyboard.press("Escape");
    await page.waitForURL((url) => !url.searchParams.has("call"));

    // Filter by status: only the missed call.
    await page.getByLabel("Status").selectOption({ label: "No answer" });
    await page.waitForURL(/status=no-answer/);
    await page.waitForFunction(() => document.querySelectorAll("table tbody tr").length === 1);
    expect(await text((await rows(page)).first())).toContain("•••• 0188");
    await page.getByLabel("Direction").selectOption({ label: "Outbound" });
    expect(await text(page.locator(".empty-state"))).toContain("No calls match these filters");
    await page.getByRole("link", { name: "Show every call" }).click();
    await page.waitForFunction(() => document.querySelectorAll("table tbody tr").length === 5);

    // The first call's detail: its provider timeline, in order.
    await (await rows(page)).nth(2).getByRole("link").click();
    const dialog = page.getByRole("dialog", { name: "Call" });
    await dialog.getByRole("list", { name: "Timeline" }).waitFor();
    const detail = await text(dialog);
    expect(detail).toContain("•••• 0177");
    expect(await dialog.locator(".call-simulated").count()).toBe(0);
    expect(detail).toContain("1:35");
    expect(detail).toContain("conversation relay");
    expect(detail).toContain("No recording for this call.");
    const events = await dialog.locator(".call-event strong").allInnerTexts();
    expect(events.length).toBeGreaterThanOrEqual(3);
    await shoot(page, "calls-detail");
    await page.keyboard.press("Escape");
    await page.waitForURL((url) => !url.searchParams.has("call"));

    expect(pageErrors).toEqual([]);
  });
});
