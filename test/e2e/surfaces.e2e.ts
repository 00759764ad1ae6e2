/**
 * The patient's page `/s/{token}` in Debian's Chromium on a phone screen, against the real local platform:
 * surfaces are created through the API, then answered as a patient would, with JavaScript on (autosave,
 * live conditions, uploads, a signature drawn on the canvas) and off (plain form posts, server-side
 * errors, a picture of the signature). Also: conditions table-driven both ways, resume after a closed
 * tab, refused uploads, a double submit stored once (the audit log), every refused token kind (a
 * friendly page, a 4xx, nothing from the surface), the response headers, and the first load's bytes.
 */
import { decodeJwt, SignJWT } from "jose";
import type { Browser, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, inject, test } from "vitest";
import { ensureDevVars } from "../../scripts/local-platform";
import { purposeMac } from "../../shared/crypto/hmac";
import { toBase64Url } from "../../shared/encoding";
import type { SurfaceSpecInput } from "../../shared/surfaces/spec";
import { api, letters } from "./api";
import { closeBrowser, expectFocus, launchBrowser, openPage, PHONE, shoot, text } from "./browser";

let browser: Browser;
let patientId: string;

/** A 1×1 PNG. */
const PNG = Buffer.from(
  "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==",
  "base64",
);
const png = (name = "card.png", bytes = PNG) => ({ name, mimeType: "image/png", buffer: bytes });

/** Every input type, the two display types, a sensitive field, a prefill, a condition, three sections. */
const ALL_TYPES: SurfaceSpecInput = {
  title: "Before your visit",
  description: "A few questions for the clinic.",
  sections: [
    {
      title: "About you",
      field_keys: ["about", "full_name", "birth_date", "mobile", "email", "ssn_last4", "why"],
    },
    {
      title: "Your visit",
      field_keys: ["reason", "state", "symptoms", "pain", "pain_detail", "notes", "consent"],
    },
    { title: "Documents", field_keys: ["card", "referral", "signature"] },
  ],
  fields: [
    { key: "about", label: "About you", field_type: "heading" },
    { key: "full_name", label: "Full name", field_type: "text", description: "As on your ID." },
    { key: "birth_date", label: "Date of birth", field_type: "date", validation: { max_date: "today" } },
    { key: "mobile", label: "Mobile phone", field_type: "phone", prefill_value: "+14155550123" },
    { key: "email", label: "Email", field_type: "email", required: false },
    {
      key: "ssn_last4",
      label: "Last 4 digits of your SSN",
      field_type: "text",
      sensitive: true,
      validation: { pattern: "\\d{4}" },
    },
    {
      key: "why",
      label: "Why we ask",
      field_type: "info",
      description: "Only the clinic sees your answers.",
    },
    {
      key: "reason",
      label: "Reason for your visit",
      field_type: "select",
      options: [
        { value: "checkup", label: "Check-up" },
        { value: "pain", label: "Pain" },
        { value: "other", label: "Something else" },
      ],
    },
    {
      key: "state",
      label: "State",
      field_type: "select",
      options: ["CA", "NY", "TX", "WA", "OR", "NV", "AZ"].map((v) => ({ value: v, label: v })),
    },
    {
      key: "symptoms",
      label: "Symptoms",
      field_type: "multiselect",
      required: false,
      options: [
        { value: "fever", label: "Fever" },
        { value: "cough", label: "Cough" },
      ],
    },
    { key: "pain", label: "Pain from 0 to 10", field_type: "number", validation: { min: 0, max: 10 } },
    {
      key: "pain_detail",
      label: "Tell us about the pain",
      field_type: "textarea",
      condition: { field: "pain", op: ">", value: 5 },
    },
    { key: "notes", label: "Anything else", field_type: "textarea", required: false },
    {
      key: "consent",
      label: "Consent",
      field_type: "checkbox",
      consent_text: "I agree to share these answers with the clinic.",
    },
    {
      key: "card",
      label: "Insurance card (front)",
      field_type: "photo",
      validation: { accept: ["image/png", "image/jpeg"], max_bytes: 50_000 },
    },
    { key: "referral", label: "Referral letter", field_type: "file", required: false },
    { key: "signature", label: "Signature", field_type: "signature" },
  ],
  completion: { title: "All done", message: "Thank you. The clinic has your answers." },
};

interface Created {
  id: string;
  token: string;
  url: string;
  /** The short link (`/l/{code}`) the web delivery hands out. */
  link: string;
}

/** A surface for the test patient through the API, delivered on the web channel; its link followed once. */
async function createSurface(spec: SurfaceSpecInput): Promise<Created> {
  const surface = await api<{ id: string }>("POST", "/v1/demo/surfaces", {
    entity_id: patientId,
    spec,
    channel: "web",
  });
  const delivered = await api<{ link: string }>("POST", `/v1/demo/surfaces/${surface.id}/deliver`, {
    channel: "web",
  });
  const link = new URL(delivered.link, inject("baseUrl")).pathname;
  expect(link).toMatch(/^\/l\//);
  const redirect = await fetch(`${inject("baseUrl")}${link}`, { redirect: "manual" });
  expect(redirect.status).toBe(302);
  const url = redirect.headers.get("location")!;
  const token = /^\/s\/([\w-]+\.[\w-]+\.[\w-]+)$/.exec(url)?.[1];
  expect(token, url).toBeDefined();
  return { id: surface.id, token: token!, url, link };
}

interface Detail {
  status: string;
  answers: Record<string, unknown> | null;
}

/** The surface's stored answers through the API. */
async function storedAnswers(id: string): Promise<Record<string, unknown>> {
  return (await api<Detail>("GET", `/v1/demo/surfaces/${id}`)).answers ?? {};
}

async function surfaceStatus(id: string): Promise<string> {
  return (await api<Detail>("GET", `/v1/demo/surfaces/${id}`)).status;
}

const page = async (js: boolean) => {
  if (js) return openPage(browser, PHONE);
  const context = await browser.newContext({
    ...PHONE,
    baseURL: inject("baseUrl"),
    javaScriptEnabled: false,
  });
  const p = await context.newPage();
  p.setDefaultTimeout(20_000);
  const pageErrors: string[] = [];
  p.on("pageerror", (e) => pageErrors.push(e.message));
  return { page: p, pageErrors };
};

/** Waits for a field's autosave to report. */
const saved = (p: Page, key: string) =>
  p.waitForFunction((k) => document.getElementById(`st-${k}`)?.textContent === "Saved", key);

const fieldError = (p: Page, key: string) => text(p.locator(`#err-${key}`));

beforeAll(async () => {
  browser = await launchBrowser();
  const key = crypto.randomUUID();
  const result = await api<{ results: { entity_id: string }[] }>("POST", "/v1/demo/world/events", {
    events: [
      {
        idempotency_key: `e2e-surfaces:${key}`,
        entity: { entity_type: "patient", external_id: `ehr:Patient:e2e-srf-${key.slice(0, 8)}` },
        event_type: "demographics.recorded",
        data: { given_name: "Lena", family_name: `Marsh${letters()}`, birth_date: "1979-06-01" },
        source: "ehr",
      },
    ],
  });
  patientId = result.results[0]!.entity_id;
});

afterAll(async () => {
  await closeBrowser(browser);
});

describe("every field type", () => {
  test("with JavaScript: autosaved as typed, conditions live, uploads and a drawn signature, submitted", async () => {
    const surface = await createSurface(ALL_TYPES);
    const { page: p, pageErrors } = await page(true);
    await p.goto(surface.url);
    expect(await text(p.getByRole("heading", { level: 1 }))).toBe("Before your visit");
    // The prefilled phone is shown for the patient to confirm, and tied to its note.
    expect(await p.getByLabel("Mobile phone").inputValue()).toBe("+14155550123");
    expect(await p.getByLabel("Mobile phone").getAttribute("aria-describedby")).toContain("p-mobile");
    await shoot(p, "surface-js-section-1");

    await p.getByLabel("Full name").fill("Lena Marsh");
    await p.getByLabel("Full name").press("Tab");
    await saved(p, "full_name");
    await p.getByLabel("Date of birth").fill("1979-06-01");
    await p.getByLabel("Date of birth").press("Tab");
    await saved(p, "birth_date");
    // A bad email is refused where it was typed, with the error tied to the input.
    await p.getByLabel("Email").fill("not-an-email");
    await p.getByLabel("Email").press("Tab");
    expect(await fieldError(p, "email")).toContain("email address");
    expect(await p.getByLabel("Email").getAttribute("aria-invalid")).toBe("true");
    expect(await p.getByLabel("Email").getAttribute("aria-describedby")).toContain("err-email");
    await p.getByLabel("Email").fill("lena@example.com");
    await p.getByLabel("Email").press("Tab");
    await saved(p, "email");
    expect(await p.locator("#err-email").count()).toBe(0);
    await p.getByLabel("Last 4 digits of your SSN").fill("4321");
    await p.getByLabel("Last 4 digits of your SSN").press("Tab");
    await saved(p, "ssn_last4");
    await p.getByRole("button", { name: "Next" }).click();

    await p.getByRole("heading", { name: /Your visit/ }).waitFor();
    await p.getByRole("radio", { name: "Pain" }).check();
    await saved(p, "reason");
    await p.getByLabel("State").selectOption("WA");
    await saved(p, "state");
    await p.getByRole("checkbox", { name: "Fever" }).check();
    await saved(p, "symptoms");
    expect(await p.getByLabel("Tell us about the pain").isVisible()).toBe(false);
    await p.getByLabel("Pain from 0 to 10").fill("8");
    await p.getByLabel("Pain from 0 to 10").press("Tab");
    await saved(p, "pain");
    // The condition pain > 5 shows the follow-up without a reload.
    await p.getByLabel("Tell us about the pain").waitFor({ state: "visible" });
    await p.getByLabel("Tell us about the pain").fill("Sharp, in the left knee");
    await p.getByLabel("Tell us about the pain").press("Tab");
    await saved(p, "pain_detail");
    await p.getByRole("checkbox", { name: /I agree to share/ }).check();
    await saved(p, "consent");
    expect(await text(p.locator("#progress-text"))).toMatch(/^\d+ of \d+ required questions answered$/);
    await shoot(p, "surface-js-section-2");
    await p.getByRole("button", { name: "Next" }).click();

    await p.getByRole("heading", { name: /Documents/ }).waitFor();
    await p.getByLabel("Insurance card (front)").setInputFiles(png());
    await saved(p, "card");
    await p.getByLabel("Referral letter").setInputFiles({
      name: "referral.pdf",
      mimeType: "application/pdf",
      buffer: Buffer.from("%PDF-1.4\n%%EOF\n"),
    });
    await saved(p, "referral");
    // The signature is drawn on the canvas and saved as a PNG.
    expect(await p.getByLabel("Or upload a picture of your signature").isVisible()).toBe(false);
    const pad = p.locator("canvas.sig");
    const box = (await pad.boundingBox())!;
    await p.mouse.move(box.x + 20, box.y + 100);
    await p.mouse.down();
    for (let i = 1; i <= 10; i++) await p.mouse.move(box.x + 20 + i * 25, box.y + 100 - (i % 2) * 50);
    await p.mouse.up();
    await p.getByRole("button", { name: "Save signature" }).click();
    await saved(p, "signature");
    await shoot(p, "surface-js-section-3");
    await p.getByRole("button", { name: "Submit" }).click();
    expect(await text(p.getByRole("heading", { level: 1 }))).toBe("All done");
    await shoot(p, "surface-complete");

    const answers = await storedAnswers(surface.id);
    expect(answers).toMatchObject({
      full_name: "Lena Marsh",
      birth_date: "1979-06-01",
      email: "lena@example.com",
      reason: "pain",
      state: "WA",
      symptoms: ["fever"],
      pain: 8,
      pain_detail: "Sharp, in the left knee",
      consent: true,
      card: { content_type: "image/png" },
      referral: { content_type: "application/pdf" },
      signature: { content_type: "image/png" },
    });
    expect(await surfaceStatus(surface.id)).toBe("completed");
    expect(pageErrors).toEqual([]);
  });

  test("without JavaScript: each section a form post, errors from the server, submitted", async () => {
    const surface = await createSurface(ALL_TYPES);
    const { page: p } = await page(false);
    await p.goto(surface.url);
    // Next with nothing filled: the server answers with every problem, linked to its field.
    await p.getByRole("button", { name: "Next" }).click();
    await p.getByRole("alert").waitFor();
    expect(await fieldError(p, "full_name")).toBe("This question needs an answer");
    expect(await p.getByLabel("Full name").getAttribute("aria-describedby")).toContain("err-full_name");
    expect(
      await p
        .getByRole("alert")
        .getByRole("link", { name: /Full name/ })
        .getAttribute("href"),
    ).toBe("#f-full_name");
    await shoot(p, "surface-nojs-errors");

    await p.getByLabel("Full name").fill("Lena Marsh");
    await p.getByLabel("Date of birth").fill("1979-06-01");
    await p.getByLabel("Last 4 digits of your SSN").fill("4321");
    await p.getByRole("button", { name: "Next" }).click();
    await p.getByRole("heading", { name: /Your visit/ }).waitFor();

    await p.getByRole("radio", { name: "Check-up" }).check();
    await p.getByLabel("State").selectOption("CA");
    await p.getByRole("checkbox", { name: "Cough" }).check();
    await p.getByLabel("Pain from 0 to 10").fill("9");
    await p.getByRole("checkbox", { name: /I agree to share/ }).check();
    await p.getByRole("button", { name: "Next" }).click();
    // The pain answer revealed a question on this page: shown before moving on.
    expect(await text(p.getByRole("status").filter({ hasText: "added questions" }))).toContain(
      "Please answer them too",
    );
    await p.getByLabel("Tell us about the pain").fill("Dull ache");
    await p.getByRole("button", { name: "Next" }).click();

    await p.getByRole("heading", { name: /Documents/ }).waitFor();
    await p.getByLabel("Insurance card (front)").setInputFiles(png());
    await p.getByLabel("Or upload a picture of your signature").setInputFiles(png("signature.png"));
    await shoot(p, "surface-nojs-section-3");
    await p.getByRole("button", { name: "Submit" }).click();
    expect(await text(p.getByRole("heading", { level: 1 }))).toBe("All done");

    const answers = await storedAnswers(surface.id);
    expect(answers).toMatchObject({
      full_name: "Lena Marsh",
      birth_date: "1979-06-01",
      mobile: "+14155550123",
      reason: "checkup",
      state: "CA",
      symptoms: ["cough"],
      pain: 9,
      pain_detail: "Dull ache",
      consent: true,
      card: { content_type: "image/png" },
      signature: { content_type: "image/png" },
    });
    expect(answers).not.toHaveProperty("email");
    expect(await surfaceStatus(surface.id)).toBe("completed");
  });

  test("a sensitive answer is never written back into the page; empty keeps it", async () => {
    const surface = await createSurface(ALL_TYPES);
    const { page: p } = await page(false);
    await p.goto(surface.url);
    await p.getByLabel("Full name").fill("Lena Marsh");
    await p.getByLabel("Date of birth").fill("1979-06-01");
    await p.getByLabel("Last 4 digits of your SSN").fill("4321");
    await p.getByRole("button", { name: "Next" }).click();
    await p.getByRole("heading", { name: /Your visit/ }).waitFor();
    await p.goto(`${surface.url}?section=0`);
    expect(await p.getByLabel("Last 4 digits of your SSN").inputValue()).toBe("");
    expect(await p.content()).not.toContain("4321");
    expect(await text(p.locator("#m-ssn_last4"))).toContain("Saved and hidden");
    await p.getByRole("button", { name: "Next" }).click();
    await p.getByRole("heading", { name: /Your visit/ }).waitFor();
    expect((await storedAnswers(surface.id)).ssn_last4).toBe("4321");
  });
});

/** A condition per row: what to answer, and which dependent field must then be shown or hidden. */
const CONDITIONS: SurfaceSpecInput = {
  title: "Conditions",
  fields: [
    {
      key: "insured",
      label: "Do you have insurance?",
      field_type: "select",
      options: [
        { value: "yes", label: "Yes" },
        { value: "no", label: "No" },
      ],
    },
    {
      key: "insurer",
      label: "Insurer",
      field_type: "text",
      condition: { field: "insured", op: "=", value: "yes" },
    },
    {
      key: "why_not",
      label: "Why not",
      field_type: "text",
      condition: { field: "insured", op: "!=", value: "yes" },
    },
    { key: "age", label: "Age", field_type: "number" },
    {
      key: "guardian",
      label: "Guardian name",
      field_type: "text",
      condition: { field: "age", op: "<", value: 18 },
    },
    {
      key: "symptoms",
      label: "Symptoms",
      field_type: "multiselect",
      required: false,
      options: [
        { value: "fever", label: "Fever" },
        { value: "cough", label: "Cough" },
        { value: "rash", label: "Rash" },
      ],
    },
    {
      key: "fever_days",
      label: "Days of fever",
      field_type: "number",
      condition: { field: "symptoms", op: "in", value: ["fever"] },
    },
    {
      key: "both",
      label: "Insured minor note",
      field_type: "text",
      required: false,
      condition: {
        all: [
          { field: "insured", op: "=", value: "yes" },
          { field: "age", op: "<", value: 18 },
        ],
      },
    },
    { key: "email", label: "Email", field_type: "email", required: false },
    {
      key: "email_ok",
      label: "Email us?",
      field_type: "checkbox",
      condition: { field: "email", op: "exists" },
    },
  ],
};

/** One answer given on the page: a choice (`key=value`) or a typed value, by field key. */
type Step = { choose?: [key: string, value: string]; fill?: [key: string, value: string] };
const CASES: { name: string; steps: Step[]; shown: string[]; hidden: string[] }[] = [
  {
    name: "nothing answered",
    steps: [],
    shown: ["insured", "age", "symptoms", "email"],
    hidden: ["insurer", "why_not", "guardian", "fever_days", "both", "email_ok"],
  },
  {
    name: "= shows",
    steps: [{ choose: ["insured", "yes"] }],
    shown: ["insurer"],
    hidden: ["why_not", "both"],
  },
  { name: "!= shows", steps: [{ choose: ["insured", "no"] }], shown: ["why_not"], hidden: ["insurer"] },
  { name: "< shows", steps: [{ fill: ["age", "12"] }], shown: ["guardian"], hidden: ["both"] },
  { name: "< hides", steps: [{ fill: ["age", "40"] }], shown: [], hidden: ["guardian"] },
  { name: "in shows", steps: [{ choose: ["symptoms", "fever"] }], shown: ["fever_days"], hidden: [] },
  { name: "in hides", steps: [{ choose: ["symptoms", "rash"] }], shown: [], hidden: ["fever_days"] },
  {
    name: "all of two",
    steps: [{ choose: ["insured", "yes"] }, { fill: ["age", "15"] }],
    shown: ["both", "guardian", "insurer"],
    hidden: ["why_not"],
  },
  { name: "exists", steps: [{ fill: ["email", "a@example.com"] }], shown: ["email_ok"], hidden: [] },
];

async function applyStep(p: Page, step: Step, js: boolean) {
  const [key, value] = step.choose ?? step.fill!;
  if (step.choose) await p.locator(`input[name="${key}"][value="${value}"]`).check();
  else {
    const input = p.locator(`[name="${key}"]`);
    await input.fill(value);
    await input.press("Tab");
  }
  if (js) await saved(p, key);
}

const shownOnPage = (p: Page, key: string) => p.locator(`[data-key="${key}"]`).isVisible();

describe("conditions", () => {
  for (const js of [true, false]) {
    for (const c of CASES) {
      test(`${c.name} (JavaScript ${js ? "on" : "off"})`, async () => {
        const surface = await createSurface(CONDITIONS);
        const { page: p, pageErrors } = await page(js);
        await p.goto(surface.url);
        for (const step of c.steps) await applyStep(p, step, js);
        // Without JavaScript the server evaluates the conditions on the post and re-renders the page.
        if (!js && c.steps.length > 0) {
          await p.getByRole("button", { name: "Submit" }).click();
          await p.waitForLoadState("domcontentloaded");
        }
        for (const key of c.shown) expect(await shownOnPage(p, key), `${key} shown`).toBe(true);
        for (const key of c.hidden) expect(await shownOnPage(p, key), `${key} hidden`).toBe(false);
        // A field shown is labelled and reachable: its label names it.
        for (const key of c.shown) {
          const field = CONDITIONS.fields.find((f) => f.key === key)!;
          expect(await text(p.locator(`[data-key="${key}"] :is(label, legend)`).first())).toContain(
            field.label,
          );
        }
        expect(pageErrors).toEqual([]);
      });
    }
  }
});

describe("resume and uploads", () => {
  test("autosaved answers survive a closed tab and come back on the same link", async () => {
    const surface = await createSurface(ALL_TYPES);
    const first = await page(true);
    await first.page.goto(surface.url);
    await first.page.getByLabel("Full name").fill("Resumed Name");
    await first.page.getByLabel("Full name").press("Tab");
    await saved(first.page, "full_name");
    await first.page.getByLabel("Date of birth").fill("1990-01-02");
    await first.page.getByLabel("Date of birth").press("Tab");
    await saved(first.page, "birth_date");
    await first.page.context().close();

    const second = await page(true);
    await second.page.goto(surface.url);
    expect(await second.page.getByLabel("Full name").inputValue()).toBe("Resumed Name");
    expect(await second.page.getByLabel("Date of birth").inputValue()).toBe("1990-01-02");
    await second.page.context().close();
  });

  test("a photo over the size limit or of the wrong type is refused with a message", async () => {
    const surface = await createSurface(ALL_TYPES);
    const { page: p } = await page(true);
    await p.goto(`${surface.url}?section=2`);
    await p.getByLabel("Insurance card (front)").setInputFiles(png("big.png", Buffer.alloc(60_000, 1)));
    expect(await fieldError(p, "card")).toContain("too large");
    await p.getByLabel("Insurance card (front)").setInputFiles({
      name: "card.txt",
      mimeType: "text/plain",
      buffer: Buffer.from("hello"),
    });
    // The message is replaced when the server answers the second upload.
    await p.waitForFunction(() => document.getElementById("err-card")?.textContent?.includes("not accepted"));
    expect(await fieldError(p, "card")).toContain("use PNG or JPEG");
    await shoot(p, "surface-upload-refused");
    expect(await storedAnswers(surface.id)).not.toHaveProperty("card");

    // Without JavaScript the section's post answers the same way.
    const off = await page(false);
    await off.page.goto(`${surface.url}?section=2`);
    await off.page
      .getByLabel("Insurance card (front)")
      .setInputFiles(png("big.png", Buffer.alloc(60_000, 1)));
    await off.page.getByRole("button", { name: "Submit" }).click();
    expect(await fieldError(off.page, "card")).toContain("too large");
    expect(await storedAnswers(surface.id)).not.toHaveProperty("card");
  });

  test("a double submit is stored once", async () => {
    const spec: SurfaceSpecInput = {
      title: "Quick",
      fields: [{ key: "name", label: "Name", field_type: "text" }],
    };
    const surface = await createSurface(spec);
    const url = `${inject("baseUrl")}${surface.url}`;
    const post = () =>
      fetch(url, {
        method: "POST",
        redirect: "manual",
        headers: { "Content-Type": "application/x-www-form-urlencoded" },
        body: new URLSearchParams({ _section: "0", _shown: "name", _action: "submit", name: "Twice" }),
      });
    const [a, b] = await Promise.all([post(), post()]);
    const third = await post();
    for (const r of [a, b, third]) expect([303, 422]).toContain(r.status);
    expect(third.status).toBe(303);
    const audit = await api<{ total: number }>(
      "GET",
      `/v1/demo/audit?action=surface.submitted&target_id=${surface.id}`,
    );
    expect(audit.total).toBe(1);
    const { page: p } = await page(false);
    await p.goto(surface.url);
    expect(await text(p.getByRole("heading", { level: 1 }))).toBe("Thank you");
  });
});

/** Signs a token the way tokens.ts does, with claims of our choosing (the test holds the dev secret). */
async function forge(claims: Record<string, unknown>, options: { audience?: string; exp?: number } = {}) {
  const secret = ensureDevVars().SIGNING_SECRET!;
  const key = await purposeMac(secret, "switchboard-surface-token", "v1");
  return new SignJWT(claims)
    .setProtectedHeader({ alg: "HS256", typ: "JWT" })
    .setAudience(options.audience ?? "surface")
    .setJti(String(claims.jti ?? "x"))
    .setIssuedAt(Math.floor(Date.now() / 1000) - 7200)
    .setExpirationTime(options.exp ?? Math.floor(Date.now() / 1000) + 3600)
    .sign(key);
}

describe("refused links", () => {
  test("each kind gets a friendly page with a 4xx and nothing from the surface", async () => {
    const surface = await createSurface({ ...ALL_TYPES, title: "Secret intake form" });
    const claims = decodeJwt(surface.token);
    const [header, payload, signature] = surface.token.split(".") as [string, string, string];
    const b64 = (o: unknown) => toBase64Url(new TextEncoder().encode(JSON.stringify(o)));

    // Following the short link again issues a fresh token, which revokes the one we hold.
    const short = await fetch(`${inject("baseUrl")}${surface.link}`, { redirect: "manual" });
    expect(short.status).toBe(302);
    const fresh = short.headers.get("location")!;
    expect(fresh).toMatch(/^\/s\/[\w-]+\.[\w-]+\.[\w-]+$/);

    const cases: [string, string, number][] = [
      ["tampered", `${header}.${b64({ ...claims, sid: `${claims.sid}x` })}.${signature}`, 401],
      ["alg none", `${b64({ alg: "none", typ: "JWT" })}.${payload}.`, 401],
      ["wrong audience", await forge(claims, { audience: "api" }), 403],
      ["expired", await forge(claims, { exp: Math.floor(Date.now() / 1000) - 60 }), 410],
      ["other workspace", await forge({ ...claims, ws: "acme-other" }), 404],
      ["revoked (replaced by a newer link)", surface.token, 410],
      ["malformed", "not-a-token", 404],
    ];
    const { page: p } = await page(true);
    for (const [name, token, status] of cases) {
      const response = (await p.goto(`/s/${token}`))!;
      expect(response.status(), name).toBe(status);
      const html = await p.content();
      expect(html, name).not.toContain("Secret intake form");
      expect(html, name).not.toContain("Full name");
      expect(await p.locator("form").count(), name).toBe(0);
      expect(response.headers()["cache-control"], name).toBe("no-store");
      if (name === "expired") await shoot(p, "surface-refused-expired");
      if (name === "tampered") await shoot(p, "surface-refused-invalid");
      // A post with a refused token writes nothing.
      const post = await fetch(`${inject("baseUrl")}/s/${token}/fields/full_name`, {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ value: "Intruder" }),
      });
      expect(post.status, name).toBe(status);
    }
    expect(await storedAnswers(surface.id)).not.toHaveProperty("full_name");
    // The fresh token from the short link opens the form.
    expect((await p.goto(fresh))!.status()).toBe(200);
    expect(await text(p.getByRole("heading", { level: 1 }))).toBe("Secret intake form");
    expect(
      (await fetch(`${inject("baseUrl")}/l/${surface.id}.AAAAAAAAAAAA`, { redirect: "manual" })).status,
    ).toBe(404);
  });
});

describe("branding and keyboard", () => {
  test("logo, color and font from the spec; colors adjusted to 4.5:1", async () => {
    const surface = await createSurface({
      title: "Branded",
      fields: [
        { key: "name", label: "Name", field_type: "text" },
        {
          key: "ok",
          label: "Agree",
          field_type: "checkbox",
          consent_text: "I agree to the clinic's terms.",
        },
      ],
      branding: {
        logo_url: `data:image/png;base64,${PNG.toString("base64")}`,
        primary_color: "#ffd54f",
        background_color: "#fffdf5",
        font: "serif",
      },
      completion: { title: "Merci", message: "Done." },
    });
    const { page: p, pageErrors } = await page(true);
    await p.goto(surface.url);
    const logo = p.locator("header img");
    expect(await logo.evaluate((img: HTMLImageElement) => img.complete && img.naturalWidth > 0)).toBe(true);
    const style = await p.getByRole("button", { name: "Submit" }).evaluate((b) => {
      const s = getComputedStyle(b);
      return { bg: s.backgroundColor, fg: s.color, font: getComputedStyle(document.body).fontFamily };
    });
    expect(style.font).toContain("Georgia");
    expect(contrast(style.bg, style.fg)).toBeGreaterThanOrEqual(4.5);
    const body = await p.evaluate(() => {
      const s = getComputedStyle(document.body);
      return { bg: s.backgroundColor, fg: s.color };
    });
    expect(contrast(body.bg, body.fg)).toBeGreaterThanOrEqual(4.5);
    await shoot(p, "surface-branded");
    expect(pageErrors).toEqual([]);
  });

  test("the form is worked with the keyboard alone, in reading order", async () => {
    const surface = await createSurface(ALL_TYPES);
    const { page: p } = await page(false);
    await p.goto(`${surface.url}?section=1`);
    await p.locator("body").press("Tab");
    await expectFocus(p, "id", "f-reason-0");
    await p.keyboard.press("ArrowDown");
    await expectFocus(p, "id", "f-reason-1");
    await p.keyboard.press("Tab");
    await expectFocus(p, "id", "f-state");
    await p.keyboard.press("Tab");
    await expectFocus(p, "id", "f-symptoms-0");
    await p.keyboard.press("Space");
    await p.keyboard.press("Tab");
    await p.keyboard.press("Tab");
    await expectFocus(p, "id", "f-pain");
    await p.keyboard.type("2");
    await p.keyboard.press("Tab");
    await expectFocus(p, "id", "f-notes");
    await p.keyboard.press("Tab");
    await expectFocus(p, "id", "f-consent");
    await p.keyboard.press("Space");
    await p.keyboard.press("Tab");
    await p.keyboard.press("Tab");
    // Back, then Next: Enter on Next posts the section (State is still unanswered, so it comes back).
    await p.keyboard.press("Enter");
    await p.getByRole("alert").waitFor();
    expect(await fieldError(p, "state")).toBe("This question needs an answer");
    expect(await p.getByRole("radio", { name: "Pain" }).isChecked()).toBe(true);
    expect(await p.getByRole("checkbox", { name: "Fever" }).isChecked()).toBe(true);
  });
});

/** The WCAG contrast of two computed `rgb(…)` colors. */
function contrast(a: string, b: string): number {
  const lum = (rgb: string) => {
    const [r, g, bl] = (rgb.match(/\d+(\.\d+)?/g) ?? []).slice(0, 3).map((v) => {
      const c = Number(v) / 255;
      return c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4;
    }) as [number, number, number];
    return 0.2126 * r + 0.7152 * g + 0.0722 * bl;
  };
  const [hi, lo] = [lum(a), lum(b)].sort((x, y) => y - x) as [number, number];
  return (hi + 0.05) / (lo + 0.05);
}

describe("headers and weight", () => {
  test("first load under 30 KB, same origin only, no-store, noindex, no-referrer, CSP by nonce", async () => {
    const surface = await createSurface(ALL_TYPES);
    const { page: p, pageErrors } = await page(true);
    const responses: { url: string; bytes: number }[] = [];
    const origin = new URL(inject("baseUrl")).origin;
    p.on("requestfinished", async (request) => {
      const sizes = await request.sizes();
      responses.push({ url: request.url(), bytes: sizes.responseBodySize + sizes.responseHeadersSize });
    });
    const response = (await p.goto(surface.url, { waitUntil: "networkidle" }))!;
    const headers = response.headers();
    expect(headers["cache-control"]).toBe("no-store");
    expect(headers["referrer-policy"]).toBe("no-referrer");
    expect(headers["x-robots-tag"]).toContain("noindex");
    const csp = headers["content-security-policy"]!;
    expect(csp).toContain("default-src 'none'");
    expect(csp).toMatch(/script-src 'nonce-[\w-]+'/);
    expect(csp).not.toContain("unsafe-inline");
    const nonce = /script-src 'nonce-([\w-]+)'/.exec(csp)![1];
    expect(await p.locator(`script[nonce]`).count()).toBe(1);
    expect(nonce).toBeTruthy();
    const total = responses.reduce((n, r) => n + r.bytes, 0);
    process.stdout.write(`surface page first load: ${responses.length} responses, ${total} bytes\n`);
    expect(responses.every((r) => r.url.startsWith(origin))).toBe(true);
    expect(total).toBeLessThan(30 * 1024);
    // The script ran under the CSP (it marks the document).
    expect(await p.evaluate(() => document.documentElement.classList.contains("js"))).toBe(true);
    expect(pageErrors).toEqual([]);
  });
});
