/**
 * The phone simulator against the real local platform: an operator calls the demo scheduling number
 * (+14155550100, whose context graph the seed installs) as a demo patient the world model knows by phone,
 * types a greeting, verifies, asks for an appointment, and sees the agent's replies, the state, the risk
 * and the tool calls update live over the browser's own ConversationRelay socket; then hangs up. A viewer
 * is told why there is no Start button.
 */
import { execFile } from "node:child_process";
import path from "node:path";
import { promisify } from "node:util";
import type { Browser } from "playwright-core";
import { afterAll, beforeAll, describe, expect, inject, test } from "vitest";
import { api, letters } from "./api";
import {
  closeBrowser,
  DESKTOP,
  demoLogin,
  heading,
  launchBrowser,
  openPage,
  PHONE,
  shoot,
  signIn,
  text,
} from "./browser";

const SCHEDULING_NUMBER = "+14155550100";

let browser: Browser;

beforeAll(async () => {
  browser = await launchBrowser();
});

afterAll(async () => {
  await closeBrowser(browser);
});

/** A patient of the demo workspace with a phone number no other patient has. */
async function demoPatient() {
  const family = `Simu${letters()}`;
  const key = letters();
  const phone = `+1628555${String(1000 + Math.floor(Math.random() * 8999))}`;
  const entity = { entity_type: "patient", external_id: `e2e-simulator:Patient:${key}` };
  await api("POST", "/v1/demo/world/events", {
    events: [
      {
        idempotency_key: `e2e-simulator:${key}:demographics`,
        entity,
        event_type: "demographics.recorded",
        data: { given_name: "Ines", family_name: family, birth_date: "1979-05-14" },
        source: "ehr",
      },
      {
        idempotency_key: `e2e-simulator:${key}:contact`,
        entity,
        event_type: "contact.recorded",
        data: { phone },
        source: "ehr",
      },
    ],
  });
  return { family, phone };
}

describe("the phone simulator", () => {
  test("an operator calls the scheduling line as a demo patient and talks to the agent", async () => {
    const patient = await demoPatient();
    const { page, pageErrors } = await openPage(browser, DESKTOP);
    await signIn(page, demoLogin("operator"), "/simulator");
    await heading(page).filter({ hasText: "Phone simulator" }).waitFor();

    await page.getByLabel("Clinic number").selectOption(SCHEDULING_NUMBER);
    await page.getByLabel("A demo patient").check();
    await page.getByLabel("Patient", { exact: true }).fill(patient.family);
    await page
      .getByRole("list", { name: "Matching patients" })
      .getByRole("button", { name: patient.family })
      .click();
    await page.getByRole("button", { name: "Start call" }).click();

    const agent = page.locator('.sim-bubble[data-speaker="agent"]');
    const state = page.getByTestId("sim-state");
    const tools = page.getByRole("list", { name: "Tool calls" });
    // The greeting: the agent answers on setup, and the session reports its state.
    await agent.first().waitFor();
    await expect.poll(() => text(state)).toBe("verify identity");
    expect(await text(page.getByTestId("sim-risk"))).toContain("normal");
    expect(await text(page.locator(".sim-state"))).toContain("Recognised by number");
    // Nothing from the record before the caller has verified who they are.
    expect(await text(agent.first())).not.toContain(patient.family);

    const say = async (utterance: string) => {
      const before = await agent.count();
      await page.getByLabel("What you say").fill(utterance);
      await page.getByRole("button", { name: "Send" }).click();
      await expect.poll(() => agent.count()).toBeGreaterThan(before);
    };
    await say(`Hi, this is Ines ${patient.family}`);
    await say("May 14th 1979");
    await tools.waitFor();
    expect(await text(tools)).toContain("verify_identity ok");
    await expect.poll(() => text(state)).toBe("identify need");
    expect(await text(page.locator(".sim-state"))).toContain("identity verified");

    await say("I need to make an appointment");
    await expect.poll(() => text(state)).not.toBe("identify need");
    expect(await page.locator('.sim-bubble[data-speaker="caller"]').count()).toBe(3);
    await shoot(page, "simulator-call");

    await page.getByRole("button", { name: "End call" }).click();
    expect(await text(page.getByRole("status"))).toContain("You hung up");
    await expect.poll(() => page.getByLabel("What you say").count()).toBe(0);
    expect(pageErrors).toEqual([]);
  });

  test("a viewer sees why there is no Start button", async () => {
    const { page, pageErrors } = await openPage(browser, PHONE);
    await signIn(page, demoLogin("viewer"), "/simulator");
    await heading(page).filter({ hasText: "Phone simulator" }).waitFor();
    await page.getByLabel("Clinic number").waitFor();
    expect(await page.getByRole("button", { name: "Start call" }).count()).toBe(0);
    expect(await text(page.locator(".sim-setup .notice"))).toContain("needs the operator role");
    await shoot(page, "simulator-viewer-phone");
    expect(pageErrors).toEqual([]);
  });
});

describe("npm run call", () => {
  test("scripts a call in the terminal: greeting, replies with state and tools, and the ending", async () => {
    const root = path.resolve(import.meta.dirname, "../..");
    const caller = `+1628555${String(1000 + Math.floor(Math.random() * 8999))}`;
    const { stdout } = await promisify(execFile)(
      path.join(root, "node_modules/.bin/tsx"),
      [
        "scripts/call.ts",
        "--base-url",
        inject("baseUrl"),
        "--key",
        inject("demoApiKey"),
        "--to",
        SCHEDULING_NUMBER,
        "--from",
        caller,
        "Hello there",
        "I have crushing chest pain",
        "never sent: the call has ended",
      ],
      { cwd: root, timeout: 60_000 },
    );
    const lines = stdout.split("\n");
    expect(lines[0]).toMatch(/^call call_\S+: \+1628555\d{4} → \+14155550100$/);
    expect(lines.filter((l) => l.startsWith("agent: ")).length).toBe(3);
    expect(lines.filter((l) => l.startsWith("caller: "))).toEqual([
      "caller: Hello there",
      "caller: I have crushing chest pain",
    ]);
    expect(stdout).toMatch(/\[state \S+ → \S+ · risk normal/);
    expect(stdout).toContain("tools escalate:ok");
    expect(stdout).toMatch(
      /end: the agent ended the call; handoff \{"reason":"escalation","reason_code":"safety:/,
    );
  });
});
