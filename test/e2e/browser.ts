/**
 * Debian's Chromium through playwright-core, with the flags this sandboxed, offline machine needs, and
 * what every browser test does with it: open a page on the platform, sign in, read text, take screenshots.
 */
import { mkdirSync } from "node:fs";
import path from "node:path";
import { type Browser, chromium, type Locator, type Page } from "playwright-core";
import { inject } from "vitest";
import { DEMO_USERS } from "../../scripts/demo-data";

/** The two screens every page is checked on. */
export const DESKTOP = { viewport: { width: 1360, height: 860 } };
export const PHONE = { viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true };

/** The demo workspace's logins, from the seed itself. */
export const demoLogin = (role: (typeof DEMO_USERS)[number]["role"]) => {
  const user = DEMO_USERS.find((u) => u.role === role)!;
  return { email: user.email, password: user.password };
};

export const CHROMIUM_PATH = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";
export const SCREENSHOT_DIR = path.resolve(import.meta.dirname, "../../test-results/screenshots");

export function launchBrowser(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM_PATH,
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-background-networking",
      "--disable-quic",
      "--no-first-run",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
}

export async function screenshot(page: Page, name: string): Promise<string> {
  mkdirSync(SCREENSHOT_DIR, { recursive: true });
  const file = path.join(SCREENSHOT_DIR, `${name}.png`);
  await page.screenshot({ path: file, fullPage: true });
  return file;
}

/** Closes the browser, and first each of its contexts (a context that fails to close does not stop it). */
export async function closeBrowser(browser: Browser | undefined): Promise<void> {
  for (const context of browser?.contexts() ?? []) await context.close().catch(() => undefined);
  await browser?.close();
}

export interface OpenedPage {
  page: Page;
  /** Uncaught exceptions in the page: every test ends by asserting there were none. */
  pageErrors: string[];
}

/** A page on the platform in a fresh context (no cookies), on one of the two screens. */
export async function openPage(
  browser: Browser,
  device: typeof DESKTOP | typeof PHONE = DESKTOP,
): Promise<OpenedPage> {
  const context = await browser.newContext({ ...device, baseURL: inject("baseUrl") });
  const page = await context.newPage();
  page.setDefaultTimeout(20_000);
  page.setDefaultNavigationTimeout(30_000);
  const pageErrors: string[] = [];
  page.on("pageerror", (error) => pageErrors.push(error.message));
  return { page, pageErrors };
}

export async function fillSignIn(page: Page, user: { email: string; password: string }) {
  await page.getByLabel("Email").fill(user.email);
  await page.getByLabel("Password").fill(user.password);
  await page.getByRole("button", { name: "Sign in" }).click();
}

/** Signs in from `path` and waits for the shell's navigation. */
export async function signIn(page: Page, user: { email: string; password: string }, path = "/calls") {
  await page.goto(path);
  await fillSignIn(page, user);
  await page.getByRole("navigation", { name: "Main" }).waitFor();
}

/** Full-page screenshots from the top, so the sticky header sits where a person would see it. */
export async function shoot(page: Page, name: string) {
  await page.evaluate(() => window.scrollTo(0, 0));
  await screenshot(page, name);
}

/** The first match's text, whitespace folded, once it is there. */
export async function text(locator: Locator): Promise<string> {
  await locator.first().waitFor();
  return ((await locator.first().textContent()) ?? "").replace(/\s+/g, " ").trim();
}

export const heading = (page: Page) => page.getByRole("heading", { level: 1 });

/**
 * Waits until the focused element matches, and fails with what was focused instead. Focus moves
 * in an effect after the page renders, so reading it once right after navigation races.
 */
export async function expectFocus(page: Page, attribute: "id" | "name", value: string) {
  try {
    await page.waitForFunction(
      ([attr, v]) => document.activeElement?.getAttribute(attr) === v,
      [attribute, value] as const,
      { timeout: 5_000 },
    );
  } catch {
    const focused = await page.evaluate((attr) => document.activeElement?.getAttribute(attr), attribute);
    throw new Error(`expected focus on [${attribute}="${value}"], found ${JSON.stringify(focused)}`);
  }
}
