/**
 * `npm test`: the whole suite, as CI runs it. Type-check, lint, the workerd suite (vitest in workerd),
 * then the end-to-end suite (real local platform + Debian Chromium). Installs Chromium when missing.
 * Ends with one line `N passed, N failed` summing both suites.
 */
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, rmSync } from "node:fs";
import path from "node:path";
import { ROOT } from "./local-platform";

const bin = (name: string) => path.join(ROOT, "node_modules", ".bin", name);
const results = path.join(ROOT, "test-results");
mkdirSync(results, { recursive: true });
for (const stale of ["workerd.json", "e2e.json"]) rmSync(path.join(results, stale), { force: true });

function step(title: string, command: string, args: string[]): boolean {
  console.log(`\n\u25b8 ${title}`);
  const started = Date.now();
  const run = spawnSync(command, args, {
    cwd: ROOT,
    stdio: "inherit",
    env: { ...process.env, FORCE_COLOR: "0" },
  });
  console.log(`  ${run.status === 0 ? "ok" : "FAILED"} (${((Date.now() - started) / 1000).toFixed(1)} s)`);
  return run.status === 0;
}

function ensureChromium(): boolean {
  if (existsSync(process.env.CHROMIUM_PATH ?? "/usr/bin/chromium")) return true;
  console.log("\n\u25b8 Chromium is missing: installing Debian's package (apt-get install chromium)");
  const asRoot = process.getuid?.() === 0;
  const apt = (args: string[]) =>
    spawnSync(asRoot ? "apt-get" : "sudo", asRoot ? args : ["apt-get", ...args], {
      stdio: "inherit",
      env: { ...process.env, DEBIAN_FRONTEND: "noninteractive" },
    }).status === 0;
  return apt(["update"]) && apt(["install", "-y", "--no-install-recommends", "chromium"]);
}

interface VitestJson {
  numPassedTests: number;
  numFailedTests: number;
  numPendingTests: number;
}

function counts(file: string): VitestJson {
  if (!existsSync(file)) return { numPassedTests: 0, numFailedTests: 0, numPendingTests: 0 };
  return JSON.parse(readFileSync(file, "utf8")) as VitestJson;
}

const checks: boolean[] = [];
checks.push(step("Type-check (tsc)", "npm", ["run", "--silent", "typecheck"]));
checks.push(step("Lint and format (biome)", bin("biome"), ["check", "."]));

const suites: boolean[] = [];
const workerdJson = path.join(results, "workerd.json");
suites.push(
  step("Workerd suite (vitest in workerd)", bin("vitest"), [
    "run",
    "--reporter=default",
    "--reporter=json",
    `--outputFile.json=${workerdJson}`,
  ]),
);
const e2eJson = path.join(results, "e2e.json");
const haveChromium = ensureChromium();
checks.push(haveChromium);
if (haveChromium) {
  suites.push(
    step("End-to-end suite (local platform + Chromium)", bin("vitest"), [
      "run",
      "--config",
      "vitest.e2e.config.mts",
      "--reporter=default",
      "--reporter=json",
      `--outputFile.json=${e2eJson}`,
    ]),
  );
}

const counted = [counts(workerdJson), ...(haveChromium ? [counts(e2eJson)] : [])];
const passed = counted.reduce((n, s) => n + s.numPassedTests, 0);
const skipped = counted.reduce((n, s) => n + s.numPendingTests, 0);
// A failed check (types, lint, Chromium) or a suite that failed without a failing test counts as one failure.
const failed =
  counted.reduce((n, s) => n + s.numFailedTests, 0) +
  checks.filter((x) => !x).length +
  suites.filter((x, i) => !x && (counted[i]?.numFailedTests ?? 0) === 0).length;

console.log(`\n${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ""}`);
process.exit(failed === 0 && [...checks, ...suites].every(Boolean) ? 0 : 1);
