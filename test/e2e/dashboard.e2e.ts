/**
 * The operator dashboard in Debian's Chromium against the real local platform: sign-in (password, TOTP,
 * lockout), the shell and its pages, role-dependent settings, API keys created and revoked through the
 * UI, workspace switching, and the MFA requirement. Assertions are on what a person sees.
 */
import type { Browser, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, inject, test } from "vitest";
import { currentTotp } from "../../shared/auth/totp";
import { api } from "./api";
import {
  closeBrowser,
  DESKTOP,
  demoLogin,
  expectFocus,
  fillSignIn,
  heading,
  launchBrowser,
  openPage,
  PHONE,
  shoot,
  signIn,
  text,
} from "./browser";

const baseUrl = inject("baseUrl");

const OWNER = demoLogin("owner");
const OPERATOR = demoLogin("operator");
const VIEWER = demoLogin("viewer");

const NAV_ITEMS = [
  "Calls",
  "Simulator",
  "Operators",
  "Surfaces",
  "Outbox",
  "World",
  "Review",
  "Pipeline",
  "Analytics",
  "Settings",
];

let browser: Browser;

beforeAll(async () => {
  browser = await launchBrowser();
});

afterAll(async () => {
  await closeBrowser(browser);
});

/** Opens Settings from the navigation and waits until no section still says "Loading…". */
async function openSettings(page: Page) {
  await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Settings" }).click();
  await heading(page).filter({ hasText: "Settings" }).waitFor();
  await settled(page);
}

async function settled(page: Page) {
  await page.waitForFunction(
    () =>
      document.querySelector("#phone-numbers") !== null &&
      ![...document.querySelectorAll("[role=status]")].some((el) => el.textContent?.includes("Loading…")),
  );
}

async function createDemoMember(role: "viewer" | "operator" | "admin", label: string) {
  const user = {
    email: `${label}-${crypto.randomUUID().slice(0, 8)}@riverside.example`,
    password: `e2e-password-${crypto.randomUUID()}`,
  };
  await api("POST", "/v1/demo/users", { ...user, name: `E2E ${label}`, role });
  return user;
}

describe("signing in", () => {
  test("a wrong password shows an error and keeps the person on the sign-in page", async () => {
    const { page, pageErrors } = await openPage(browser);
    await page.goto("/settings");
    await page.waitForURL(/\/login\?next=%2Fsettings$/);
    await shoot(page, "dashboard-login");
    await fillSignIn(page, { email: VIEWER.email, password: "not-the-password" });
    const alert = page.getByRole("alert");
    expect(await text(alert)).toBe("Email or password is incorrect.");
    expect(await heading(page).textContent()).toBe("Sign in");
    expect(await page.getByLabel("Password").getAttribute("aria-invalid")).toBe("true");
    await shoot(page, "dashboard-login-error");

    // The right password then goes straight to the page that was asked for.
    await page.getByLabel("Password").fill(VIEWER.password);
    await page.getByRole("button", { name: "Sign in" }).click();
    await page.waitForURL(/\/settings$/);
    expect(await heading(page).textContent()).toBe("Settings");
    expect(pageErrors).toEqual([]);
  });

  test("a locked account says when to try again", async () => {
    const user = await createDemoMember("viewer", "lockout");
    const { page, pageErrors } = await openPage(browser);
    await page.goto("/login");
    for (let attempt = 1; attempt <= 5; attempt++) {
      await fillSignIn(page, { email: user.email, password: `wrong-${attempt}` });
      expect(await text(page.getByRole("alert"))).toBe("Email or password is incorrect.");
    }
    // Even the right password is refused now, with the wait spelled out.
    await fillSignIn(page, user);
    await page.getByRole("alert").filter({ hasText: "locked" }).waitFor();
    expect(await text(page.getByRole("alert"))).toMatch(
      /^Too many failed sign-ins: this account is locked for security\. Try again in 15 minutes \(at .+\)\.$/,
    );
    await shoot(page, "dashboard-login-locked");
    expect(pageErrors).toEqual([]);
  });
});

describe("the shell", () => {
  test("the operator sees navigation, workspace, role, the empty pages and the settings lists", async () => {
    const { page, pageErrors } = await openPage(browser, DESKTOP);
    await signIn(page, OPERATOR);
    expect(new URL(page.url()).pathname).toBe("/calls");

    const nav = page.getByRole("navigation", { name: "Main" });
    // Each link's label (Review also shows its pending count beside it).
    expect(await nav.locator(".nav-link > span:first-of-type").allInnerTexts()).toEqual(NAV_ITEMS);
    const banner = page.getByRole("banner");
    expect(await text(banner.getByTestId("workspace-name"))).toBe("Riverside Family Clinic");
    expect(await text(banner)).toContain("Sam Ortega");
    expect(await text(banner.locator(".badge"))).toBe("Operator");
    // The Calls page loads its list first: wait for its empty state, or its table when the simulator's
    // suite (test/e2e/simulator.e2e.ts) already placed calls in the demo workspace; not the loading line.
    const calls = page.getByRole("table", { name: "Calls" }).or(page.locator(".empty-state"));
    expect(await text(calls)).toMatch(/Live calls appear here once telephony is connected\.|Caller/);
    expect(await nav.getByRole("link", { name: "Calls" }).getAttribute("aria-current")).toBe("page");
    await shoot(page, "dashboard-operator-calls");

    // Each placeholder page: its own heading, title, address and an honest empty state. (World and Review
    // have the demo patients; test/e2e/world.e2e.ts covers them.)
    const emptyStates: Record<string, string> = {
      Operators: "Calls appear here the moment they start",
      Analytics: "Analytics appear here once calls have been handled",
    };
    for (const [name, copy] of Object.entries(emptyStates)) {
      await nav.getByRole("link", { name }).click();
      await page.waitForURL(new RegExp(`/${name.toLowerCase()}$`));
      expect(await heading(page).textContent()).toBe(name);
      expect(await page.title()).toBe(`${name} · Riverside Family Clinic · Switchboard`);
      // The Operators page shows its queue once it has loaded.
      await expect.poll(() => text(page.getByRole("main"))).toContain(copy);
      // Focus moves to the new page's heading, so screen readers announce it.
      await expectFocus(page, "id", "page-title");
    }

    await openSettings(page);
    const services = page.getByRole("table", { name: /^Services/ });
    // Oldest first; the seed creates all three in the same moment, so compare as a set.
    expect((await services.locator("tbody tr .cell-title").allInnerTexts()).sort()).toEqual([
      "General inquiries",
      "Nurse triage line",
      "Scheduling line",
    ]);
    const numbers = page.getByRole("table", { name: /^Phone numbers/ });
    const scheduling = numbers.getByRole("row").filter({ hasText: "+1 (415) 555-0100" });
    expect(await scheduling.locator("td").allInnerTexts()).toEqual([
      "+1 (415) 555-0100",
      "Scheduling line",
      "Scheduling line",
      expect.any(String),
    ]);
    expect(await numbers.getByRole("row").count()).toBe(4);
    const users = page.locator("#users");
    expect(await text(users)).toContain("Only admins and owners can see and manage the people");
    expect(await users.getByRole("table").count()).toBe(0);
    await shoot(page, "dashboard-operator-settings");

    // Deep links survive a reload (the Worker falls back to index.html), and back/forward work.
    await page.reload();
    await settled(page);
    expect(await heading(page).textContent()).toBe("Settings");
    await page.goBack();
    await page.waitForURL(/\/analytics$/);
    await heading(page).filter({ hasText: "Analytics" }).waitFor();
    expect(pageErrors).toEqual([]);
  });

  test("the viewer on a phone finds no admin actions", async () => {
    const { page, pageErrors } = await openPage(browser, PHONE);
    await signIn(page, VIEWER);
    expect(await text(page.getByRole("banner").locator(".badge"))).toBe("Viewer");
    await openSettings(page);

    expect(await page.getByRole("button", { name: /Create API key/ }).count()).toBe(0);
    expect(await page.getByRole("button", { name: /Revoke/ }).count()).toBe(0);
    expect(await page.locator("#users").getByRole("table").count()).toBe(0);
    expect(await page.locator("#api-keys").getByRole("table").count()).toBe(0);
    expect(await text(page.locator("#api-keys"))).toContain(
      "Only admins and owners can see and manage API keys. Your role here is Viewer.",
    );
    // What a viewer may see is there.
    expect(
      await page
        .getByRole("table", { name: /^Services/ })
        .getByRole("row")
        .count(),
    ).toBe(4);

    // Nothing spills sideways on a narrow screen, and every navigation item is on screen.
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    expect(overflow).toBeLessThanOrEqual(0);
    for (const name of NAV_ITEMS) {
      const box = await page
        .getByRole("navigation", { name: "Main" })
        .getByRole("link", { name })
        .boundingBox();
      expect(box && box.x >= 0 && box.x + box.width <= 390, name).toBe(true);
    }
    await shoot(page, "dashboard-viewer-settings-phone");
    expect(pageErrors).toEqual([]);
  });

  test("signing out returns to the sign-in page and ends the session on the server", async () => {
    const { page, pageErrors } = await openPage(browser);
    await signIn(page, OPERATOR, "/settings");
    const [cookie] = (await page.context().cookies()).filter((c) => c.name === "sb_session");
    expect(cookie?.httpOnly).toBe(true);

    await page.getByRole("button", { name: "Sign out" }).click();
    await page.waitForURL(/\/login$/);
    expect(await heading(page).textContent()).toBe("Sign in");
    expect(await text(page.getByRole("status"))).toBe("You have signed out.");
    expect((await page.request.get("/auth/session")).status()).toBe(401);
    // The old cookie, replayed, no longer works: the session was revoked, not just forgotten.
    const replay = await fetch(`${baseUrl}/auth/session`, {
      headers: { Cookie: `sb_session=${cookie!.value}` },
    });
    expect(replay.status).toBe(401);
    await page.goto("/settings");
    await page.waitForURL(/\/login\?next=%2Fsettings$/);
    expect(pageErrors).toEqual([]);
  });
});

describe("an ended session", () => {
  test("sends the person back to sign in, then to where they were", async () => {
    const { page, pageErrors } = await openPage(browser);
    await signIn(page, OPERATOR);
    // The page's own requests finish first: one answered 401 after the logout would send it to sign in
    // before the click this test makes.
    await page.waitForLoadState("networkidle");
    // The session ends elsewhere (another tab signs out, an admin revokes it, it expires).
    expect((await page.request.post("/auth/logout")).status()).toBe(204);
    await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Settings" }).click();
    await page.waitForURL(/\/login\?next=%2Fsettings$/);
    expect(await text(page.getByRole("status"))).toBe("Your session has ended. Sign in again to continue.");
    await fillSignIn(page, OPERATOR);
    await page.waitForURL(/\/settings$/);
    await settled(page);
    expect(await page.getByRole("alert").count()).toBe(0);
    expect(pageErrors).toEqual([]);
  });
});

describe("API keys", () => {
  test("the owner creates a key, sees it once, uses it, then revokes it", async () => {
    const { page, pageErrors } = await openPage(browser);
    await signIn(page, OWNER);
    await openSettings(page);
    const name = `E2E integration ${crypto.randomUUID().slice(0, 6)}`;

    await page.getByRole("button", { name: "Create API key" }).click();
    const dialog = page.getByRole("dialog", { name: "Create API key" });
    await dialog.waitFor();
    expect(await dialog.getByLabel("Role").locator("option").allInnerTexts()).toEqual([
      "Viewer",
      "Operator",
      "Admin",
      "Owner",
    ]);
    await dialog.getByLabel("Name").fill(name);
    await dialog.getByLabel("Role").selectOption("operator");
    await dialog.getByRole("button", { name: "Create key" }).click();

    const created = page.getByRole("dialog", { name: "API key created" });
    await created.waitFor();
    expect(await text(created)).toContain("Copy this key now");
    const key = await created.getByLabel(`API key for “${name}”`).inputValue();
    expect(key).toMatch(/^sb_[A-Za-z0-9_-]{43}$/);
    await shoot(page, "dashboard-api-key-created");

    const withKey = () =>
      fetch(`${baseUrl}/v1/demo/services`, { headers: { Authorization: `Bearer ${key}` } });
    const works = await withKey();
    expect(works.status).toBe(200);
    expect(((await works.json()) as { total: number }).total).toBe(3);

    await created.getByRole("button", { name: "Done" }).click();
    await created.waitFor({ state: "detached" });
    const row = page
      .getByRole("table", { name: /^API keys/ })
      .getByRole("row")
      .filter({ hasText: name });
    await row.waitFor();
    expect(await row.locator("td").allInnerTexts()).toEqual([
      name,
      `${key.slice(0, 9)}…`,
      "Operator",
      "Active",
      expect.any(String),
      expect.any(String),
      expect.any(String),
      "Revoke",
    ]);
    // Shown once: the key itself is nowhere on the page any more.
    expect(await page.content()).not.toContain(key);

    await row.getByRole("button", { name: `Revoke ${name}` }).click();
    const confirm = page.getByRole("dialog", { name: `Revoke “${name}”?` });
    await confirm.waitFor();
    expect(await text(confirm)).toContain("This can't be undone.");
    await shoot(page, "dashboard-api-key-revoke-confirm");
    await confirm.getByRole("button", { name: "Revoke key" }).click();
    await confirm.waitFor({ state: "detached" });
    await row.getByText("Revoked").waitFor();
    expect(await row.getByRole("button").count()).toBe(0);
    await shoot(page, "dashboard-api-key-revoked");

    const refused = await withKey();
    expect(refused.status).toBe(401);
    expect(((await refused.json()) as { error: { code: string } }).error.code).toBe("unauthorized");
    expect(pageErrors).toEqual([]);
  });

  test("an admin can grant at most admin and cannot revoke an owner's key", async () => {
    const admin = await createDemoMember("admin", "admin");
    const { page, pageErrors } = await openPage(browser);
    await signIn(page, admin);
    await openSettings(page);
    // The users table is there for admins.
    expect(
      await page
        .getByRole("table", { name: /^Users/ })
        .getByRole("row")
        .count(),
    ).toBeGreaterThan(3);

    const ownerKey = page
      .getByRole("table", { name: /^API keys/ })
      .getByRole("row")
      .filter({ hasText: "Demo owner key" });
    expect(await text(ownerKey)).toContain("Owner");
    expect(await ownerKey.getByRole("button").count()).toBe(0);

    await page.getByRole("button", { name: "Create API key" }).click();
    const dialog = page.getByRole("dialog", { name: "Create API key" });
    // allInnerTexts does not wait: wait for the role choices to render first.
    await dialog.getByLabel("Role").locator("option").first().waitFor({ state: "attached" });
    expect(await dialog.getByLabel("Role").locator("option").allInnerTexts()).toEqual([
      "Viewer",
      "Operator",
      "Admin",
    ]);
    // A name the API refuses comes back as a message on the field.
    await dialog.getByLabel("Name").fill("<script>");
    await dialog.getByRole("button", { name: "Create key" }).click();
    await dialog.getByText(/^The name may contain letters/).waitFor();
    expect(await dialog.getByLabel("Name").getAttribute("aria-invalid")).toBe("true");
    await page.keyboard.press("Escape");
    await dialog.waitFor({ state: "detached" });
    expect(pageErrors).toEqual([]);
  });
});

describe("workspaces and MFA", () => {
  test("switching workspaces, and enrolling in MFA where a workspace requires it", async () => {
    const user = await createDemoMember("operator", "mfa");
    const { page, pageErrors } = await openPage(browser);
    await signIn(page, user);
    const banner = page.getByRole("banner");
    expect(await text(banner.getByTestId("workspace-name"))).toBe("Riverside Family Clinic");

    // A second workspace, which this user owns.
    const workspaceId = `e2e-${crypto.randomUUID().slice(0, 8)}`;
    const createdWorkspace = await page.request.post("/auth/workspaces", {
      data: { id: workspaceId, name: "Northside Clinic", timezone: "America/Chicago" },
    });
    expect(createdWorkspace.status()).toBe(201);
    await page.reload();
    const picker = banner.getByLabel("Workspace");
    await picker.waitFor();
    expect((await picker.locator("option").allInnerTexts()).sort()).toEqual([
      "Northside Clinic",
      "Riverside Family Clinic",
    ]);
    // A new workspace does not move anyone: the one in use stays selected.
    expect(await picker.inputValue()).toBe("demo");
    expect(await text(banner.locator(".badge"))).toBe("Operator");
    await picker.selectOption({ label: "Northside Clinic" });
    expect(await text(banner.locator(".badge"))).toBe("Owner");
    await openSettings(page);
    expect(await text(page.locator("#services"))).toContain("No services yet");
    expect(await text(page.locator("#workspace"))).toContain("America/Chicago");
    await shoot(page, "dashboard-workspace-switched");

    // The choice is remembered across reloads.
    await page.reload();
    await settled(page);
    expect(await text(page.locator("#services"))).toContain("No services yet");
    expect(await picker.inputValue()).toBe(workspaceId);

    // The requirement switched on after sign-in: the API's 403 gates the workspace, not an error per table.
    const required = await page.request.patch(`/v1/${workspaceId}`, { data: { require_mfa: true } });
    expect(required.status()).toBe(200);
    const nav = page.getByRole("navigation", { name: "Main" });
    await nav.getByRole("link", { name: "Calls" }).click();
    await nav.getByRole("link", { name: "Settings" }).click();
    const gate = page.getByRole("region", { name: "Two-factor authentication required" });
    await gate.waitFor();
    expect(await text(gate)).toContain("Northside Clinic requires two-factor authentication");
    expect(await page.getByRole("alert").count()).toBe(0);
    expect(await page.getByRole("table").count()).toBe(0);
    await shoot(page, "dashboard-mfa-required");

    // The other workspace is unaffected.
    await picker.selectOption({ label: "Riverside Family Clinic" });
    await page.getByRole("table", { name: /^Phone numbers/ }).waitFor();

    // Enrol from the gate.
    await picker.selectOption({ label: "Northside Clinic" });
    await gate.getByRole("button", { name: "Set up two-factor authentication" }).click();
    const secret = await gate.getByLabel("Setup key").inputValue();
    expect(secret).toMatch(/^[A-Z2-7]{32}$/);
    await gate.getByLabel("Enter the 6-digit code the app shows").fill(currentTotp(secret));
    await shoot(page, "dashboard-mfa-setup");
    await gate.getByRole("button", { name: "Turn on two-factor authentication" }).click();
    await page.locator("#services").getByText("No services yet").waitFor();
    await settled(page);
    expect(await text(page.locator("#workspace"))).toContain("Required for every member");

    // From now on signing in asks for the code, and a wrong one is refused.
    await page.getByRole("button", { name: "Sign out" }).click();
    await page.waitForURL(/\/login$/);
    await fillSignIn(page, user);
    await heading(page).filter({ hasText: "Two-factor authentication" }).waitFor();
    await expectFocus(page, "name", "totp_code");
    await page.getByLabel("Authentication code").fill(currentTotp(secret) === "000000" ? "111111" : "000000");
    await page.getByRole("button", { name: "Verify" }).click();
    expect(await text(page.getByRole("alert"))).toMatch(/^That code didn't work/);
    await shoot(page, "dashboard-login-totp");
    await page.getByLabel("Authentication code").fill(currentTotp(secret));
    await page.getByRole("button", { name: "Verify" }).click();
    await page.getByRole("navigation", { name: "Main" }).waitFor();
    expect(await picker.inputValue()).toBe(workspaceId);
    // The Calls page loads its list first: wait for its empty state, not the loading line.
    expect(await text(page.locator(".empty-state"))).toContain(
      "Live calls appear here once telephony is connected.",
    );
    expect(pageErrors).toEqual([]);
  });
});
