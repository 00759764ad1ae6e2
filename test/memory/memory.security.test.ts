/**
 * Memory never crosses workspaces: the L3 model and L1 memories answer only inside the patient's own
 * workspace, and a transcript sealed for one workspace cannot be read as another's.
 */
import { env } from "cloudflare:workers";
import { beforeAll, expect, it } from "vitest";
import type { PatientMemory } from "../../shared/world/memory";
import { getTranscript, putTranscript, recomputePatterns, transcriptKey } from "../../workers/world/memory";
import { api, expectError } from "../helpers/http";
import { createWorkspace, type TestWorkspace, unique } from "../helpers/workspace";
import { ehrPatient, interaction } from "./fixtures";

let home: TestWorkspace;
let other: TestWorkspace;
beforeAll(async () => {
  [home, other] = await Promise.all([createWorkspace(), createWorkspace()]);
});

it("keeps each workspace's patient to its own facts, even under the same EHR id", async () => {
  const externalId = `ehr:Patient:${unique()}`;
  const mine = await ehrPatient(
    home,
    [
      { event_type: "allergy.recorded", data: { substance: "Penicillin" } },
      interaction("home-call", "2026-11-02T14:00:00.000Z", { topics: ["billing_question"] }),
    ],
    externalId,
  );
  const theirs = await ehrPatient(
    other,
    [
      { event_type: "allergy.recorded", data: { substance: "Latex" } },
      interaction("other-call", "2026-11-03T14:00:00.000Z", { topics: ["referral"] }),
    ],
    externalId,
  );
  expect(theirs.entityId).not.toBe(mine.entityId);
  await recomputePatterns(env, new Date());

  const res = await api("GET", `/v1/${home.id}/world/entities/${mine.entityId}/memory`, {
    key: home.keys.viewer,
  });
  expect(res.status, res.text).toBe(200);
  const memory = res.body as PatientMemory;
  expect(memory.safety.map((s) => s.path)).toEqual(["allergies.penicillin"]);
  expect(memory.recent_interactions.map((i) => i.interaction_id)).toEqual(["home-call"]);
  expect(memory.patterns?.interactions).toBe(1);
  expect(res.text).not.toMatch(/latex|other-call|referral/i);
});

it("does not answer for another workspace's patient, whichever key asks", async () => {
  const theirs = await ehrPatient(other, [interaction("c1", "2026-11-02T14:00:00.000Z")]);
  for (const path of [
    `/v1/${home.id}/world/entities/${theirs.entityId}/memory`,
    `/v1/${home.id}/world/entities/${theirs.entityId}/memory/interactions/c1`,
  ]) {
    expectError(await api("GET", path, { key: home.keys.owner }), "not_found", 404);
  }
  const otherPath = `/v1/${other.id}/world/entities/${theirs.entityId}/memory`;
  expectError(await api("GET", otherPath, { key: home.keys.owner }), "forbidden", 403);
});

it("does not show one patient's interaction under another patient of the same workspace", async () => {
  const a = await ehrPatient(home, [interaction("a-call", "2026-11-02T14:00:00.000Z")]);
  const b = await ehrPatient(home);
  const res = await api("GET", `/v1/${home.id}/world/entities/${b.entityId}/memory/interactions/a-call`, {
    key: home.keys.viewer,
  });
  expectError(res, "not_found", 404);
  expect(a.entityId).not.toBe(b.entityId);
});

it("binds a sealed transcript to its workspace and call: a copied object does not open", async () => {
  const callId = `call-${unique()}`;
  await putTranscript(env, home.id, callId, [
    { speaker: "caller", text: "My member id is 12345", at: "2026-11-20T15:00:00.000Z" },
  ]);
  expect(await getTranscript(env, other.id, callId)).toBeNull();

  const sealed = await (await env.FILES.get(transcriptKey(home.id, callId)))!.text();
  await env.FILES.put(transcriptKey(other.id, callId), sealed);
  await expect(getTranscript(env, other.id, callId)).rejects.toThrow();
  const renamed = `call-${unique()}`;
  await env.FILES.put(transcriptKey(home.id, renamed), sealed);
  await expect(getTranscript(env, home.id, renamed)).rejects.toThrow();
});
