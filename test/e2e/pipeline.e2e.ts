/**
 * The Pipeline page in Debian's Chromium against the real local platform. The test stands up a broken
 * EHR of its own (a Node server that answers every read 503 and refuses every write 422), connects the
 * demo workspace to it as a polling write-back sink, asks for a poll, and records facts an operator
 * verified for a patient the EHR knows. Then: the operator sees the pipeline degraded with the reasons,
 * the source's card in error with its last error, the throughput chart with the new events, and the
 * failed write-back in the outbound table with a Retry button that works; a viewer sees the same figures
 * and no retry button. Assertions are on what a person sees.
 */
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import type { Browser, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { api, eventually, letters } from "./api";
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
const VIEWER = demoLogin("viewer");

let browser: Browser;
let ehr: Server;
const ehrRequests = { reads: 0, writes: 0 };

/** What the test made: its source and the patient whose facts fail to write back. */
let source: { id: string; name: string };
let patient: { id: string; name: string };
const EVENTS_INGESTED = 3;
/** Sinks this file paused, enabled again at the end. */
const paused: string[] = [];

/** An EHR that is down for reads and refuses every write, in FHIR's own error shape. */
function startBrokenEhr(): Promise<string> {
  ehr = createServer((request, response) => {
    const write = request.method !== "GET" && request.method !== "HEAD";
    if (write) ehrRequests.writes++;
    else ehrRequests.reads++;
    request.resume();
    response.writeHead(write ? 422 : 503, { "Content-Type": "application/fhir+json" });
    response.end(
      JSON.stringify({
        resourceType: "OperationOutcome",
        issue: [{ severity: "error", code: write ? "processing" : "transient", diagnostics: "e2e: refused" }],
      }),
    );
  });
  return new Promise((resolve) =>
    ehr.listen(0, "127.0.0.1", () => resolve(`http://127.0.0.1:${(ehr.address() as AddressInfo).port}/fhir`)),
  );
}

interface SyncRow {
  id: string;
  status: string;
  entity_id: string | null;
  data_source_id: string | null;
}

beforeAll(async () => {
  browser = await launchBrowser();
  const baseUrlOfEhr = await startBrokenEhr();
  const system = `e2e-${letters()}`;

  // The write-back sink is the oldest enabled one: pause any other (the demo's sandbox connection) for
  // this file, so the writes below go to the broken EHR.
  const existing = await api<{ results: { id: string; enabled: boolean; writeback: boolean }[] }>(
    "GET",
    "/v1/demo/data-sources?limit=100",
  );
  for (const other of existing.results.filter((s) => s.enabled && s.writeback)) {
    await api("POST", `/v1/demo/data-sources/${other.id}/disable`);
    paused.push(other.id);
  }

  source = { id: "", name: `Broken EHR ${letters()}` };
  source.id = (
    await api<{ id: string }>("POST", "/v1/demo/data-sources", {
      name: source.name,
      type: "fhir_store",
      base_url: baseUrlOfEhr,
      source_system: system,
      auth: { type: "none" },
      resource_types: ["Patient"],
      poll_interval_seconds: 300,
      writeback: true,
    })
  ).id;
  await api("POST", `/v1/demo/data-sources/${source.id}/sync`);

  // A patient the EHR knows (its Patient id under this source's system), and an allergy and a phone
  // number an operator verified: eligible for write-back, which the EHR will refuse.
  const family = `Pipe${letters()}`;
  const key = letters();
  const ingested = await api<{ results: { entity_id: string }[] }>("POST", "/v1/demo/world/events", {
    events: [
      {
        idempotency_key: `e2e-pipeline:${key}:patient`,
        entity: { entity_type: "patient", external_id: `${system}:Patient:${key}` },
        event_type: "demographics.recorded",
        data: { given_name: "Ines", family_name: family, birth_date: "1979-05-14" },
        source: "ehr",
        source_system: system,
        fhir_resource_type: "Patient",
        fhir_resource_id: `e2e-${key}`,
      },
    ],
  });
  patient = { id: ingested.results[0]!.entity_id, name: `Ines ${family}` };
  await api("POST", "/v1/demo/world/events", {
    events: [
      {
        idempotency_key: `e2e-pipeline:${key}:allergy`,
        entity_id: patient.id,
        event_type: "allergy.recorded",
        data: { substance: "Latex", reaction: "hives", severity: "moderate" },
        source: "operator",
        confidence: 0.98,
      },
      {
        idempotency_key: `e2e-pipeline:${key}:phone`,
        entity_id: patient.id,
        event_type: "contact.recorded",
        data: { phone: "+14155550142" },
        source: "operator",
        confidence: 0.98,
      },
    ],
  });

  // The poll has failed and a write-back has been refused (the worker's queues run on their own).
  await eventually("the source to be in error", async () => {
    const status = await api<{ sources: { id: string; status: string }[] }>(
      "GET",
      "/v1/demo/pipeline/status",
    );
    return status.sources.find((s) => s.id === source.id && s.status === "error");
  });
  await eventually("a failed write-back for the patient", async () => {
    const log = await api<{ results: SyncRow[] }>(
      "GET",
      `/v1/demo/world/sync?status=failed&data_source_id=${source.id}`,
    );
    return log.results.find((r) => r.entity_id === patient.id);
  });
}, 120_000);

afterAll(async () => {
  await closeBrowser(browser);
  // Disabled, so the demo workspace stops polling a server that is gone.
  if (source?.id) await api("POST", `/v1/demo/data-sources/${source.id}/disable`).catch(() => undefined);
  for (const id of paused) await api("POST", `/v1/demo/data-sources/${id}/enable`).catch(() => undefined);
  if (ehr) {
    // The Worker keeps its connections alive: drop them, or close() would wait for them.
    ehr.closeAllConnections();
    await new Promise((resolve) => ehr.close(resolve));
  }
});

const sourceCard = (page: Page) =>
  page.locator(".source-card").filter({ has: page.getByRole("heading", { name: source.name }) });
const syncTable = (page: Page) => page.getByRole("table", { name: "Outbound sync log" });
const patientRows = (page: Page) => syncTable(page).locator("tbody tr").filter({ hasText: patient.name });

describe("Pipeline", () => {
  test("the operator sees the degraded pipeline, the failing source, throughput, and retries a write", async () => {
    const { page, pageErrors } = await openPage(browser);
    await signIn(page, OPERATOR, "/calls");
    await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Pipeline" }).click();
    await page.waitForURL(/\/pipeline$/);
    expect(await heading(page).textContent()).toBe("Pipeline");
    expect(await page.title()).toBe("Pipeline · Riverside Family Clinic · Switchboard");

    // Overall: degraded, and why, in words.
    expect(await text(page.getByTestId("pipeline-status"))).toBe("Status Degraded");
    const notice = page.locator(".notice").filter({ hasText: "Data is not flowing normally" });
    expect(await text(notice)).toContain(`${source.name} is in error.`);
    expect(await text(notice)).toMatch(/\d+ write-backs? failed\./);

    // The source's card: its state, its last error, never a success.
    const card = sourceCard(page);
    expect(await text(card.locator(".badge"))).toBe("Error");
    expect(await text(card)).toContain("FHIR store, polled every 5 min · write-back sink");
    expect(await text(card.locator(".source-error"))).toMatch(/^Last error: .+/);
    expect(await text(card)).toContain("Last success");
    expect(await text(card)).toContain("Never");

    // Throughput over the last 24 hours includes the events this test recorded.
    const chart = page.getByRole("img", { name: /world events in the last 24 hours/ });
    await chart.waitFor();
    const bars = await chart
      .locator(".chart-bucket")
      .evaluateAll((groups) => groups.map((g) => Number(g.getAttribute("data-total"))));
    expect(bars).toHaveLength(24);
    expect(bars.reduce((a, b) => a + b, 0)).toBeGreaterThanOrEqual(EVENTS_INGESTED);
    // Its source is a series of its own, or (beside the demo EHR's volume) part of "Other sources".
    expect(await text(page.locator(".chart-legend"))).toMatch(/Operator|Other sources/);
    await page.getByRole("button", { name: "30 days" }).click();
    const daily = page.getByRole("img", { name: /world events in the last 30 days/ });
    await daily.waitFor();
    expect(await daily.locator(".chart-bucket").count()).toBe(30);
    await page.getByRole("button", { name: "24 hours" }).click();
    await chart.waitFor();

    // The refused write-back, with a Retry for it and a Retry all.
    const failedRow = patientRows(page).filter({ hasText: "Failed" }).first();
    await failedRow.waitFor();
    expect(await text(failedRow)).toContain("Allerg");
    const retryAll = page.getByRole("button", { name: /^Retry all failed \(\d+\)$/ });
    await retryAll.waitFor();
    await shoot(page, "pipeline-operator");

    await failedRow.getByRole("button", { name: /^Retry/ }).click();
    await page.locator("#outbound .notice.info").filter({ hasText: "queued to be sent again" }).waitFor();
    const writesBefore = ehrRequests.writes;
    // The retry reaches the EHR again, which refuses it again.
    await eventually("the retried write to reach the EHR", async () =>
      ehrRequests.writes > writesBefore ? true : undefined,
    );

    // Filtering by status shows only that status (other files write to the demo EHR: there may be some).
    await page.getByLabel("Status").selectOption("synced");
    await eventually("the synced filter to apply", async () => {
      const statuses = await page
        .locator("#outbound tr[data-status]")
        .evaluateAll((rows) => rows.map((r) => r.getAttribute("data-status")));
      const empty = await page.getByText("No synced write-backs").isVisible();
      return (empty && statuses.length === 0) ||
        (statuses.length > 0 && statuses.every((s) => s === "synced"))
        ? true
        : undefined;
    });
    expect(pageErrors).toEqual([]);
  });

  test("the viewer on a phone sees the same figures and no retry", async () => {
    const { page, pageErrors } = await openPage(browser, PHONE);
    await signIn(page, VIEWER, "/pipeline");
    await heading(page).filter({ hasText: "Pipeline" }).waitFor();
    expect(await text(sourceCard(page).locator(".badge"))).toBe("Error");
    await patientRows(page).first().waitFor();
    expect(await syncTable(page).getByRole("button", { name: /Retry/ }).count()).toBe(0);
    expect(await page.getByRole("button", { name: /Retry all failed/ }).count()).toBe(0);
    expect(await text(page.locator("#outbound"))).toContain(
      "Operators can retry failed write-backs. Your role here is Viewer.",
    );
    // Nothing spills sideways on a narrow screen.
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    expect(overflow).toBeLessThanOrEqual(0);
    await shoot(page, "pipeline-viewer-phone");
    expect(pageErrors).toEqual([]);
  });
});
