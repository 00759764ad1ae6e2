/**
 * `npm run bench [name]`: runs the benchmarks each issue names and prints their figures; results also
 * go to bench/results/<name>.json. Each benchmark starts its own local platform.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import path from "node:path";
import { authOverhead, report as reportAuthOverhead } from "./auth-overhead";
import { callTurns, report as reportCallTurns } from "./call-turns";
import { ehrIngest, report as reportEhrIngest } from "./ehr-ingest";
import { ehrScheduling, report as reportEhrScheduling } from "./ehr-scheduling";
import { engineTurn, report as reportEngineTurn } from "./engine-turn";
import { eventFanout, report as reportEventFanout } from "./event-fanout";
import { report as reportSurfacePage, surfacePage } from "./surface-page";
import { report as reportWorldIngest, worldIngest } from "./world-ingest";
import { report as reportWorldProjection, worldProjection } from "./world-projection";
import { report as reportWorldResolve, worldResolve } from "./world-resolve";

const BENCHMARKS: Record<string, () => Promise<string>> = {
  "auth-overhead": async () => {
    const result = await authOverhead();
    save("auth-overhead", result);
    return reportAuthOverhead(result);
  },
  "world-resolve": async () => {
    const result = await worldResolve();
    save("world-resolve", result);
    return reportWorldResolve(result);
  },
  "world-projection": async () => {
    const result = await worldProjection();
    save("world-projection", result);
    return reportWorldProjection(result);
  },
  "world-ingest": async () => {
    const result = await worldIngest();
    save("world-ingest", result);
    return reportWorldIngest(result);
  },
  "ehr-ingest": async () => {
    const result = await ehrIngest();
    save("ehr-ingest", result);
    return reportEhrIngest(result);
  },
  "ehr-scheduling": async () => {
    const result = await ehrScheduling();
    save("ehr-scheduling", result);
    return reportEhrScheduling(result);
  },
  "engine-turn": async () => {
    const result = await engineTurn();
    save("engine-turn", result);
    return reportEngineTurn(result);
  },
  "call-turns": async () => {
    const result = await callTurns();
    save("call-turns", result);
    return reportCallTurns(result);
  },
  "surface-page": async () => {
    const result = await surfacePage();
    save("surface-page", result);
    return reportSurfacePage(result);
  },
  "event-fanout": async () => {
    const result = await eventFanout();
    save("event-fanout", result);
    return reportEventFanout(result);
  },
};

function save(name: string, result: unknown) {
  const dir = path.join(import.meta.dirname, "results");
  mkdirSync(dir, { recursive: true });
  writeFileSync(
    path.join(dir, `${name}.json`),
    JSON.stringify({ at: new Date().toISOString(), result }, null, 2),
  );
}

const wanted = process.argv.slice(2);
for (const [name, bench] of Object.entries(BENCHMARKS)) {
  if (wanted.length > 0 && !wanted.includes(name)) continue;
  console.log(`\n== ${name}`);
  console.log(await bench());
}
