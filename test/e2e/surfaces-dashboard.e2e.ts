/**
 * The dashboard's Surfaces page in Debian's Chromium against the real local platform: two surfaces for a
 * fresh demo patient, one answered part-way and one completed through the patient's own page; the list
 * with its filters, a read-only preview of a surface with its answers, and the analytics (completion by
 * channel, time to complete, where patients stop) on desktop and phone. Assertions are on what a person sees.
 */
import type { Browser } from "playwright-core";
import { afterAll, beforeAll, describe, expect, inject, test } from "vitest";
import { api, letters } from "./api";
import {
  closeBrowser,
  demoLogin,
  heading,
  launchBrowser,
  openPage,
  PHONE,
  shoot,
  signIn,
  text,
} from "./browser";

const OPERATOR = demoLogin("operator");
let browser: Browser;
let patient: string;
let partial: { id: string; title: string };
let completed: { id: string; title: string };

async function createPatient(): Promise<string> {
  const key = crypto.randomUUID();
  const result = await api<{ results: { entity_id: string }[] }>("POST", "/v1/demo/world/events", {
    events: [
      {
        idempotency_key: `e2e-surfaces:${key}`,
        entity: { entity_type: "patient", external_id: `ehr:Patient:e2e-srf-${key.slice(0, 8)}` },
        event_type: "demographics.recorded",
        data: { given_name: "Nadia", family_name: `Q${letters()}` },
        source: "ehr",
      },
    ],
  });
  return result.results[0]!.entity_id;
}

/** A web-link surface with two questions; returns its id and the path of the patient's page. */
async function createSurface(title: string): Promise<{ id: string; page: string }> {
  const surface = await api<{ id: string }>("POST", "/v1/demo/surfaces", {
    entity_id: patient,
    channel: "web",
    spec: {
      title,
      fields: [
        { key: "pharmacy", label: "Your pharmacy", field_type: "text" },
        {
          key: "contact_time",
          label: "When should we call?",
          field_type: "select",
          options: [
            { value: "morning", label: "Morning" },
            { value: "evening", label: "Evening" },
          ],
        },
      ],
    },
  });
  const delivered = await api<{ link: string }>("POST", `/v1/demo/surfaces/${surface.id}/deliver`, {
    channel: "web",
  });
  const link = new URL(delivered.link, inject("baseUrl"));
  const redirect = await fetch(`${inject("baseUrl")}${link.pathname}`, { redirect: "manual" });
  expect(redirect.status).toBe(302);
  return { id: surface.id, page: new URL(redirect.headers.get("Location")!, inject("baseUrl")).pathname };
}

async function save(page: string, key: string, value: string) {
  const res = await fetch(`${inject("baseUrl")}${page}/fields/${key}`, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ value }),
  });
  expect(res.status, await res.clone().text()).toBe(200);
}

beforeAll(async () => {
  browser = await launchBrowser();
  patient = await createPatient();
  const suffix = letters();
  const first = await createSurface(`Pharmacy check ${suffix}`);
  // Opened and left after the first question.
  await fetch(`${inject("baseUrl")}${first.page}`);
  await save(first.page, "pharmacy", "Main Street Pharmacy");
  partial = { id: first.id, title: `Pharmacy check ${suffix}` };
  const second = await createSurface(`Call times ${suffix}`);
  await fetch(`${inject("baseUrl")}${second.page}`);
  await save(second.page, "pharmacy", "Harbor Drugs");
  await save(second.page, "contact_time", "evening");
  const submit = await fetch(`${inject("baseUrl")}${second.page}`, {
    method: "POST",
    body: new URLSearchParams({ _action: "submit", pharmacy: "Harbor Drugs", contact_time: "evening" }),
    redirect: "manual",
  });
  expect(submit.status).toBe(303);
  completed = { id: second.id, title: `Call times ${suffix}` };
}, 120_000);

afterAll(() => closeBrowser(browser));

describe("Surfaces page", () => {
  test("lists surfaces with filters, previews one, and shows analytics", async () => {
    const { page, pageErrors } = await openPage(browser);
    await signIn(page, OPERATOR, `/surfaces?entity_id=${patient}`);
    expect(await heading(page).textContent()).toBe("Surfaces");
    const table = page.getByRole("table", { name: "Surfaces" });
    const rows = table.locator("tbody tr");
    await rows.nth(1).waitFor();
    expect(await rows.count()).toBe(2);
    const partialRow = table.locator(`tr[data-surface-id="${partial.id}"]`);
    expect(await text(partialRow)).toContain(partial.title);
    expect(await text(partialRow.locator(".badge"))).toBe("Partial");
    expect(await text(partialRow.locator("td.numeric"))).toBe("1/2");
    const doneRow = table.locator(`tr[data-surface-id="${completed.id}"]`);
    expect(await text(doneRow.locator(".badge"))).toBe("Completed");
    expect(await text(doneRow.locator("td.numeric"))).toBe("2/2");

    // The status filter narrows the list; it lives in the address.
    await page.getByLabel("Status").selectOption("completed");
    await page.waitForURL(/status=completed/);
    await table.locator(`tr[data-surface-id="${partial.id}"]`).waitFor({ state: "detached" });
    await doneRow.waitFor();
    expect(await rows.count()).toBe(1);
    await page.getByLabel("Status").selectOption("");
    await partialRow.waitFor();

    // Analytics: completion by channel as meters, time to complete, where patients stop.
    const channels = page.getByRole("table", { name: "Completion by channel" });
    expect(await text(channels.locator('tr[data-channel="web"]'))).toMatch(/Web link/);
    expect(await channels.getByRole("meter", { name: "Web link completion" }).count()).toBe(1);
    expect(await text(page.getByRole("table", { name: "Time to complete" }))).toContain(
      "From sending the link",
    );
    const stops = page.getByRole("table", { name: "Where patients stop" });
    expect(await text(stops.locator("tr", { hasText: partial.title }))).toContain("pharmacy");
    await shoot(page, "surfaces-list-analytics");

    // The preview: the fields read-only, with the answers an operator may see.
    await partialRow.getByRole("link", { name: partial.title }).click();
    const dialog = page.getByRole("dialog", { name: partial.title });
    const fields = dialog.getByRole("list", { name: "Fields" });
    expect(await text(fields.locator('li[data-field-key="pharmacy"]'))).toContain(
      "Answer: Main Street Pharmacy",
    );
    expect(await text(fields.locator('li[data-field-key="contact_time"]'))).toContain("Not answered");
    expect(await text(dialog)).toContain("1 of 2 required answered");
    await shoot(page, "surfaces-preview");
    await page.keyboard.press("Escape");
    await dialog.waitFor({ state: "detached" });
    expect(page.url()).not.toContain("surface=");
    expect(pageErrors).toEqual([]);
  });

  test("reads on a phone", async () => {
    const { page, pageErrors } = await openPage(browser, PHONE);
    await signIn(page, OPERATOR, `/surfaces?entity_id=${patient}`);
    await page
      .getByRole("table", { name: "Surfaces" })
      .locator(`tr[data-surface-id="${completed.id}"]`)
      .waitFor();
    await page.getByRole("table", { name: "Completion by channel" }).waitFor();
    await shoot(page, "surfaces-phone");
    expect(pageErrors).toEqual([]);
  });
});
