/**
 * The World and Review pages in Debian's Chromium against the real local platform and its demo patients:
 * search by name prefix (debounced), a patient's facts with confidence and source badges and their
 * allergies flagged, provenance and memory; the review queue worked by an operator (claim, approve with
 * the keyboard, correct, reject with a reason, batch approve) with the decisions visible in the World
 * view; and a viewer who can read everything and act on nothing. Assertions are on what a person sees.
 */
import type { Browser, Locator, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { api, letters } from "./api";
import {
  closeBrowser,
  demoLogin,
  expectFocus,
  heading,
  launchBrowser,
  openPage,
  PHONE,
  shoot,
  signIn,
  text,
} from "./browser";

const OPERATOR = demoLogin("operator");
const VIEWER = demoLogin("viewer");

let browser: Browser;

interface Fact {
  path: string;
  value: unknown;
  confidence: number;
  source: string;
  safety_critical: boolean;
}
interface Entity {
  id: string;
  display_name: string | null;
  facts: Fact[];
}

/** A seeded demo patient with a severe allergy, and the name prefix that finds them. */
let demo: { id: string; name: string; prefix: string; allergy: string };
/** A fresh patient per run whose five proposals this file reviews. */
let reviewed: { id: string; name: string };
/** Another fresh patient with one pending proposal, for the viewer. */
let watched: { id: string; name: string };

/** A patient as the EHR would send them; returns the new entity's id. */
async function createPatient(given: string, family: string): Promise<string> {
  const key = crypto.randomUUID();
  const result = await api<{ results: { entity_id: string }[] }>("POST", "/v1/demo/world/events", {
    events: [
      {
        idempotency_key: `e2e-world:${key}`,
        entity: { entity_type: "patient", external_id: `ehr:Patient:e2e-${key.slice(0, 8)}` },
        event_type: "demographics.recorded",
        data: { given_name: given, family_name: family, birth_date: "1984-03-09" },
        source: "ehr",
      },
    ],
  });
  return result.results[0]!.entity_id;
}

beforeAll(async () => {
  browser = await launchBrowser();

  // The demo seed: at least 50 patients; pick one with a severe allergy and a prefix that finds few.
  const list = await api<{ results: { id: string; display_name: string }[]; total: number }>(
    "GET",
    "/v1/demo/world/entities?entity_type=patient&limit=100",
  );
  expect(list.total).toBeGreaterThanOrEqual(50);
  for (const summary of list.results) {
    const entity = await api<Entity>("GET", `/v1/demo/world/entities/${summary.id}`);
    const allergy = entity.facts.find(
      (f) => f.path.startsWith("allergies.") && (f.value as { severity?: string }).severity === "severe",
    );
    const family = summary.display_name.split(" ").at(-1)!;
    if (allergy && family.length >= 5) {
      demo = {
        id: entity.id,
        name: summary.display_name,
        prefix: family.slice(0, 4),
        allergy: (allergy.value as { substance: string }).substance,
      };
      break;
    }
  }
  expect(demo, "a demo patient with a severe allergy").toBeDefined();

  // Five proposals from one call: two the caller said (verified), two they did not, one contradiction.
  const family = `Quill${letters()}`;
  reviewed = { id: await createPatient("Nadia", family), name: `Nadia ${family}` };
  await api("POST", "/v1/demo/world/extractions", {
    entity_id: reviewed.id,
    interaction_id: `e2e-call-${letters()}`,
    channel: "voice",
    transcript: [
      { speaker: "agent", text: "Thanks for calling Riverside. What can I do for you?" },
      { speaker: "caller", text: "I'm allergic to latex, and I take ibuprofen for my back." },
      { speaker: "agent", text: "Noted. Is your insurance still the same?" },
      { speaker: "caller", text: "Yes, Aetna. Texting me is easiest." },
    ],
    facts: [
      {
        event_type: "allergy.recorded",
        data: { substance: "Latex", reaction: "rash" },
        basis: "agent_confirmed",
      },
      {
        event_type: "medication.recorded",
        data: { name: "Ibuprofen", dose: "200 mg" },
        basis: "agent_confirmed",
      },
      { event_type: "condition.recorded", data: { name: "Asthma" }, basis: "agent_inferred" },
      {
        event_type: "coverage.recorded",
        data: { payer: "Aetna", member_id: "AET5550100" },
        basis: "agent_confirmed",
      },
      { event_type: "preference.recorded", data: { channel: "sms" }, basis: "agent_mentioned" },
    ],
  });

  const watchedFamily = `Vole${letters()}`;
  watched = { id: await createPatient("Omar", watchedFamily), name: `Omar ${watchedFamily}` };
  await api("POST", "/v1/demo/world/extractions", {
    entity_id: watched.id,
    interaction_id: `e2e-call-${letters()}`,
    channel: "sms",
    transcript: [{ speaker: "caller", text: "Please note I react badly to penicillin." }],
    facts: [{ event_type: "allergy.recorded", data: { substance: "Penicillin" }, basis: "agent_confirmed" }],
  });
});

afterAll(async () => {
  await closeBrowser(browser);
});

/** Lists reload after each decision: give them the same patience as any locator. */
const POLL = { timeout: 20_000 };

const queueRows = (page: Page) => page.getByRole("table", { name: "Review queue" }).locator("tbody tr");
const openItem = (page: Page) => page.getByRole("region", { name: "Open item" });
const status = (page: Page) => page.locator(".review-message");

/** The row of one fact in a group of the patient's Facts tab. */
function factRow(page: Page, group: string, label: string): Locator {
  return page
    .getByRole("region", { name: group, exact: true })
    .getByRole("row")
    .filter({ has: page.getByRole("rowheader", { name: new RegExp(`^${label}`) }) });
}

describe("World", () => {
  test("search by name prefix, open a patient, read facts, provenance and memory", async () => {
    const { page, pageErrors } = await openPage(browser);
    await signIn(page, OPERATOR, "/world");
    expect(await heading(page).textContent()).toBe("World");
    const results = page.getByRole("table", { name: "Search results" });
    await results.locator("tbody tr").first().waitFor();
    const summary = page.getByRole("status").filter({ hasText: /records?$/ });
    expect(await text(summary)).toMatch(/^1–25 of (\d+) records$/);
    const total = Number((await text(summary)).match(/of (\d+)/)![1]);
    expect(total).toBeGreaterThanOrEqual(50);

    // Paging.
    await page.getByRole("button", { name: "Next" }).click();
    await page.waitForURL(/page=2/);
    await summary.filter({ hasText: "26–50 of" }).waitFor();
    await page.getByRole("button", { name: "Previous" }).click();
    await summary.filter({ hasText: "1–25 of" }).waitFor();
    await shoot(page, "world-search");

    // Search as you type: one request once typing settles, not one per keystroke.
    const searches: string[] = [];
    page.on("request", (request) => {
      const url = new URL(request.url());
      if (url.pathname === "/v1/demo/world/entities" && url.searchParams.has("q")) searches.push(url.search);
    });
    const box = page.getByLabel("Search by name");
    await box.pressSequentially(demo.prefix, { delay: 40 });
    await page.waitForURL(new RegExp(`\\?q=${demo.prefix}$`));
    await summary.filter({ hasText: /^\d+ records?$/ }).waitFor();
    const match = results.getByRole("link", { name: demo.name });
    await match.waitFor();
    expect(searches, "one search once typing settles").toEqual([`?q=${demo.prefix}&limit=25&offset=0`]);
    // Every result has a name word starting with what was typed, and the match is marked.
    const names = await results.locator("tbody tr .cell-title").allInnerTexts();
    for (const name of names) {
      expect(
        name
          .toLowerCase()
          .split(/\s+/)
          .some((w) => w.startsWith(demo.prefix.toLowerCase())),
        name,
      ).toBe(true);
    }
    expect(await results.locator("mark").first().textContent()).toBe(demo.prefix);
    await shoot(page, "world-search-prefix");

    // A filter nothing matches says so honestly, and can be cleared.
    await page.getByLabel("Type").selectOption("practitioner");
    await page.getByText("Nothing matches").waitFor();
    expect(await text(page.locator(".empty-state"))).toContain(
      `No record has a name starting with “${demo.prefix}”`,
    );
    await page.getByLabel("Type").selectOption("");
    await match.waitFor();

    // The patient: facts grouped, allergies first and flagged, each value with confidence and source.
    await match.click();
    await page.waitForURL(new RegExp(`/world/${demo.id}$`));
    expect(await heading(page).textContent()).toBe(demo.name);
    await expectFocus(page, "id", "page-title");
    const groups = await page.locator(".fact-group h2").allInnerTexts();
    expect(groups[0]).toMatch(/^Allergies/);
    expect(groups.map((g) => g.replace(/\s*\d+$/, ""))).toEqual(
      expect.arrayContaining(["Demographics", "Contact", "Preferences", "Coverage"]),
    );
    const allergy = factRow(page, "Allergies", demo.allergy);
    expect(await text(allergy)).toContain("Safety-critical");
    expect(await text(allergy)).toContain("Severe");
    expect(await text(allergy.locator(".badge.confidence"))).toBe("Confidence 1.00, high");
    expect(await allergy.locator(".badge.confidence").getAttribute("class")).toContain("confidence-high");
    expect(await text(allergy.locator(".badge.source"))).toBe("Source: EHR");
    expect(await page.locator(".fact-group.safety").count()).toBeGreaterThan(0);
    const strip = page.getByRole("region", { name: "Allergies and safety" });
    expect(await text(strip)).toContain(demo.allergy);
    const birth = factRow(page, "Demographics", "Date of birth");
    expect(await text(birth)).toMatch(/\b(19|20)\d\d\b/);
    await shoot(page, "world-patient-facts");

    // Provenance: every candidate per path, the one in use marked.
    await page.getByRole("tab", { name: "Provenance" }).click();
    await page.waitForURL(/tab=provenance/);
    const provenance = page.getByRole("tabpanel");
    await provenance.getByRole("heading", { name: "Sources" }).waitFor();
    expect(await text(provenance.getByRole("heading", { name: "Sources" }).locator(".."))).toContain("EHR");
    const allergyPath = provenance.getByRole("rowgroup", { name: `Allergy · ${demo.allergy}` });
    expect(await text(allergyPath)).toContain("In use");
    expect(await text(allergyPath)).toContain("Confidence 1.00");
    await shoot(page, "world-patient-provenance");

    // Memory: what the agent reads at call start.
    await page.getByRole("tab", { name: "Memory" }).click();
    const identity = page.getByRole("region", { name: "Identity" });
    expect(await text(identity)).toContain(demo.name);
    expect(await text(identity)).toContain("Verified");
    expect(await text(page.getByRole("region", { name: "Safety", exact: true }))).toContain(demo.allergy);
    await shoot(page, "world-patient-memory");

    // Back returns to the search as it was left.
    await page.getByRole("link", { name: "Back to search" }).click();
    await page.waitForURL(new RegExp(`/world\\?q=${demo.prefix}$`));
    expect(await page.getByLabel("Search by name").inputValue()).toBe(demo.prefix);
    expect(pageErrors).toEqual([]);
  });

  test("an unknown record is a clear not-found page", async () => {
    const { page, pageErrors } = await openPage(browser);
    await signIn(page, OPERATOR, "/world/ent_doesnotexist00000000");
    await heading(page).filter({ hasText: "Record not found" }).waitFor();
    expect(pageErrors).toEqual([]);
  });
});

describe("Review", () => {
  test("an operator claims, approves, corrects, rejects and batch-approves; World shows the outcome", async () => {
    const { page, pageErrors } = await openPage(browser);
    await signIn(page, OPERATOR, `/world/${reviewed.id}`);
    expect(await text(page.getByRole("note").filter({ hasText: "await review" }))).toContain(
      "5 facts from conversations await review",
    );
    expect(await text(factRow(page, "Allergies", "Latex"))).toContain("Awaiting review");
    await page.getByRole("main").getByRole("link", { name: "Review 5 pending" }).click();
    await page.waitForURL(/\/review\?entity_id=/);
    expect(await heading(page).textContent()).toBe("Review");
    await page.locator(".filter-chip").getByRole("link", { name: reviewed.name }).waitFor();

    // The queue, highest priority first; statistics on top; the pending count in the navigation.
    await expect.poll(() => queueRows(page).count(), POLL).toBe(5);
    expect(await queueRows(page).locator(".badge.priority").allTextContents()).toEqual([
      "High priority",
      "High priority",
      "Medium priority",
      "Medium priority",
      "Low priority",
    ]);
    expect(Number(await text(page.getByTestId("stat-pending")))).toBeGreaterThanOrEqual(5);
    expect(await text(page.getByTestId("review-pending-count"))).toMatch(/^: \d+ pending$/);

    // On a wide screen the first item opens beside the queue: proposed, current, verdict, evidence.
    const item = openItem(page);
    await item.getByRole("heading", { name: "Allergy · Latex" }).waitFor();
    expect(await text(item.locator(".diff-side.proposed"))).toContain("Latex — rash");
    expect(await text(item.getByRole("region", { name: /The judge's verdict/ }))).toContain(
      "The caller said it in their own words: “latex”.",
    );
    expect(await text(item.getByRole("region", { name: "Evidence" }))).toContain("The caller said: “latex”");
    await shoot(page, "review-queue");

    // J and K move through the queue; ? lists the shortcuts.
    await page.evaluate(() => (document.activeElement as HTMLElement | null)?.blur());
    await page.keyboard.press("j");
    await item.getByRole("heading", { name: "Medication · Ibuprofen" }).waitFor();
    expect(await queueRows(page).nth(1).getAttribute("aria-current")).toBe("true");
    await page.keyboard.press("k");
    await item.getByRole("heading", { name: "Allergy · Latex" }).waitFor();
    await page.keyboard.press("?");
    const shortcuts = page.getByRole("dialog", { name: "Keyboard shortcuts" });
    expect(await text(shortcuts)).toContain("Approve the open item");
    await page.keyboard.press("Escape");
    await shortcuts.waitFor({ state: "detached" });

    // Claim it: it is mine, here and in My claims.
    await item.getByRole("button", { name: "Claim" }).click();
    await item.getByText(/^Claimed by you until/).waitFor();
    await queueRows(page).first().getByText("You", { exact: true }).waitFor();
    await page
      .getByRole("navigation", { name: "Queue views" })
      .getByRole("link", { name: "My claims" })
      .click();
    // The first claim opens on its own once the list has loaded.
    await page.waitForURL(/view=mine&item=/);
    await queueRows(page).filter({ hasText: "Allergy · Latex" }).waitFor();
    expect(await queueRows(page).count()).toBeGreaterThanOrEqual(1);
    await page.goBack();
    await page.waitForURL((url) => !url.searchParams.has("view"));
    await item.getByText(/^Claimed by you until/).waitFor();
    await shoot(page, "review-claimed");

    // Approve with the keyboard: it leaves the queue and the next item opens.
    await page.evaluate(() => (document.activeElement as HTMLElement | null)?.blur());
    await page.keyboard.press("a");
    await status(page).getByText(`Approved: Allergy · Latex for ${reviewed.name}.`).waitFor();
    await expect.poll(() => queueRows(page).count(), POLL).toBe(4);
    expect(await queueRows(page).filter({ hasText: "Allergy · Latex" }).count()).toBe(0);
    await item.getByRole("heading", { name: "Medication · Ibuprofen" }).waitFor();

    // Correct: the value edited in a form, the name fixed.
    await page.keyboard.press("c");
    const correct = item.getByRole("form", { name: "Correct ibuprofen" });
    await correct.waitFor();
    expect(await correct.getByLabel("Medication").getAttribute("readonly")).not.toBeNull();
    await correct.getByLabel("Dose").fill("400 mg");
    await correct.getByLabel("Frequency").fill("as needed");
    await shoot(page, "review-correct");
    await correct.getByRole("button", { name: "Save correction" }).click();
    await status(page).getByText(`Corrected: Medication · Ibuprofen for ${reviewed.name}.`).waitFor();
    await expect.poll(() => queueRows(page).count(), POLL).toBe(3);

    // Reject: a reason is required.
    await item.getByRole("heading", { name: "Condition · Asthma" }).waitFor();
    expect(await text(item.getByRole("region", { name: /The judge's verdict/ }))).toContain(
      "The caller never said it in so many words",
    );
    await item.getByRole("button", { name: /^Reject/ }).click();
    const reject = item.getByRole("form", { name: "Reject this proposal" });
    await reject.getByRole("button", { name: "Reject", exact: true }).click();
    await reject.getByText("Give a reason for rejecting.").waitFor();
    expect(await reject.getByLabel("Reason (required)").getAttribute("aria-invalid")).toBe("true");
    await reject.getByLabel("Reason (required)").fill("The caller never mentioned asthma.");
    await shoot(page, "review-reject");
    await reject.getByRole("button", { name: "Reject", exact: true }).click();
    await status(page).getByText(`Rejected: Condition · Asthma for ${reviewed.name}.`).waitFor();
    await expect.poll(() => queueRows(page).count(), POLL).toBe(2);

    // Batch: select the rest and approve them together, after a confirmation.
    await page.getByRole("checkbox", { name: "Select every pending item shown" }).check();
    const batch = page.getByRole("region", { name: "Selected items" });
    expect(await text(batch)).toContain("2 selected");
    await shoot(page, "review-batch-selected");
    await batch.getByRole("button", { name: "Approve selected" }).click();
    const confirm = page.getByRole("dialog", { name: "Approve 2 items?" });
    await confirm.getByRole("button", { name: "Approve 2 items" }).click();
    await status(page).getByText("Approved 2 items.").waitFor();
    await page.getByText("Nothing waiting for review for this patient").waitFor();
    expect(await queueRows(page).count()).toBe(0);
    await shoot(page, "review-queue-empty");

    // The decided views keep the record, with the reason.
    await page
      .getByRole("navigation", { name: "Queue views" })
      .getByRole("link", { name: "Rejected" })
      .click();
    await queueRows(page).filter({ hasText: "Condition · Asthma" }).getByRole("link").click();
    await item.getByText("Reason: “The caller never mentioned asthma.”").waitFor();
    expect(await text(item.locator(".decision-line"))).toMatch(/^Rejected by you/);
    expect(await item.getByRole("button").count()).toBe(0);

    // World: the approved allergy now counts at 0.95 from a reviewer, the correction at 1.00, the rejection is gone.
    await page.goto(`/world/${reviewed.id}`);
    await heading(page).filter({ hasText: reviewed.name }).waitFor();
    const latex = factRow(page, "Allergies", "Latex");
    expect(await text(latex.locator(".badge.confidence"))).toBe("Confidence 0.95, high");
    expect(await text(latex.locator(".badge.source"))).toBe("Source: Review");
    expect(await text(latex)).not.toContain("Awaiting review");
    const ibuprofen = factRow(page, "Medications", "Ibuprofen");
    expect(await text(ibuprofen)).toContain("400 mg · as needed");
    expect(await text(ibuprofen.locator(".badge.confidence"))).toBe("Confidence 1.00, high");
    expect(await text(factRow(page, "Coverage", "Aetna").locator(".badge.confidence"))).toBe(
      "Confidence 0.95, high",
    );
    expect(await page.getByRole("region", { name: "Conditions", exact: true }).count()).toBe(0);
    expect(await page.getByRole("note").filter({ hasText: "await review" }).count()).toBe(0);
    await shoot(page, "world-patient-after-review");

    // Provenance tells the story of each path.
    await page.getByRole("tab", { name: "Provenance" }).click();
    const latexHistory = page.getByRole("rowgroup", { name: "Allergy · Latex" });
    expect(await latexHistory.locator(".candidate-status").allInnerTexts()).toEqual([
      "In use",
      "Superseded",
      "Superseded",
    ]);
    const asthmaHistory = page.getByRole("rowgroup", { name: "Condition · Asthma" });
    expect(await asthmaHistory.locator(".candidate-status").allInnerTexts()).toEqual(
      expect.arrayContaining(["Rejected"]),
    );
    expect(pageErrors).toEqual([]);
  });

  test("a viewer reads the queue and the evidence but is offered no action", async () => {
    const { page, pageErrors } = await openPage(browser, PHONE);
    await signIn(page, VIEWER, `/review?entity_id=${watched.id}`);
    expect(await text(page.locator(".note"))).toContain(
      "Claiming and deciding items needs the Operator role; your role here is Viewer.",
    );
    await expect.poll(() => queueRows(page).count(), POLL).toBe(1);
    expect(await page.getByRole("checkbox").count()).toBe(0);
    expect(await page.getByRole("link", { name: "My claims" }).count()).toBe(0);
    await shoot(page, "review-viewer-phone");

    // On a phone the item opens on its own, with a way back.
    await queueRows(page).getByRole("link", { name: "Allergy · Penicillin" }).click();
    const item = openItem(page);
    await item.getByRole("heading", { name: "Allergy · Penicillin" }).waitFor();
    expect(await queueRows(page).first().isVisible()).toBe(false);
    expect(await item.getByRole("button").count()).toBe(0);
    for (const name of ["Claim", "Approve", "Correct", "Reject"]) {
      expect(await page.getByRole("button", { name: new RegExp(name) }).count(), name).toBe(0);
    }
    // Shortcuts do nothing for a viewer: the item is still pending.
    await page.keyboard.press("a");
    await page.keyboard.press("r");
    // Give a (wrongly) offered action the time to show a form or reach the API before looking.
    await page.waitForTimeout(500);
    expect(await item.getByRole("form").count()).toBe(0);
    const pending = await api<{ total: number }>("GET", `/v1/demo/review?entity_id=${watched.id}`);
    expect(pending.total).toBe(1);
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    expect(overflow).toBeLessThanOrEqual(0);
    await shoot(page, "review-viewer-item-phone");

    await item.getByRole("link", { name: "Back to the queue" }).click();
    await queueRows(page).first().waitFor();

    // The patient page reads the same for a viewer.
    await page.goto(`/world/${watched.id}`);
    await heading(page).filter({ hasText: watched.name }).waitFor();
    expect(await text(factRow(page, "Allergies", "Penicillin"))).toContain("Awaiting review");
    expect(await page.locator("main").getByRole("button").count()).toBe(0);
    const overflowWorld = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    expect(overflowWorld).toBeLessThanOrEqual(0);
    await shoot(page, "world-viewer-patient-phone");
    expect(pageErrors).toEqual([]);
  });
});
