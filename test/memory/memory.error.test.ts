/**
 * What the memory routes and functions refuse: entities that are not patients, interactions that do
 * not exist, ids that cannot name a transcript, transcripts that are not transcripts.
 */
import { env } from "cloudflare:workers";
import { beforeAll, expect, it } from "vitest";
import { putTranscript, rememberInteraction } from "../../workers/world/memory";
import { api, expectError } from "../helpers/http";
import { createWorkspace, type TestWorkspace } from "../helpers/workspace";
import { ehrPatient, ingest } from "./fixtures";

let ws: TestWorkspace;
beforeAll(async () => {
  ws = await createWorkspace();
});

it("answers 404 for an unknown entity and for an entity that is not a patient", async () => {
  expectError(
    await api("GET", `/v1/${ws.id}/world/entities/ent_doesnotexist00/memory`, { key: ws.keys.viewer }),
    "not_found",
    404,
  );
  const practitioner = await ingest(ws, [
    {
      entity: { entity_type: "practitioner", external_id: "ehr:Practitioner:dr-1" },
      event_type: "profile.recorded",
      data: { name: "Dr. Lee" },
    },
  ]);
  const id = practitioner.results[0]!.entity_id;
  expectError(
    await api("GET", `/v1/${ws.id}/world/entities/${id}/memory`, { key: ws.keys.viewer }),
    "not_found",
    404,
  );
  expectError(
    await api("GET", `/v1/${ws.id}/world/entities/${id}/memory/interactions/call-1`, { key: ws.keys.viewer }),
    "not_found",
    404,
  );
});

it("answers 404 for an interaction the patient never had", async () => {
  const { entityId } = await ehrPatient(ws);
  expectError(
    await api("GET", `/v1/${ws.id}/world/entities/${entityId}/memory/interactions/call-404`, {
      key: ws.keys.viewer,
    }),
    "not_found",
    404,
  );
});

it.each(["a..b", "-leading-dash", "x".repeat(65), "with space", "semi;colon"])(
  "refuses the interaction id %j with 400",
  async (interactionId) => {
    const { entityId } = await ehrPatient(ws);
    const res = await api(
      "GET",
      `/v1/${ws.id}/world/entities/${entityId}/memory/interactions/${encodeURIComponent(interactionId)}`,
      { key: ws.keys.viewer },
    );
    expectError(res, "validation_failed", 400);
  },
);

it("refuses a transcript with an unknown speaker or a bad call id, storing nothing", async () => {
  await expect(
    putTranscript(env, ws.id, "call-1", [
      { speaker: "robot" as never, text: "hi", at: "2026-11-20T15:00:00Z" },
    ]),
  ).rejects.toMatchObject({ code: "validation_failed" });
  await expect(putTranscript(env, ws.id, "../escape", [])).rejects.toMatchObject({
    code: "validation_failed",
  });
  expect((await env.FILES.list({ prefix: `transcripts/${ws.id}/` })).objects).toEqual([]);
});

it("refuses to remember an interaction for a patient that does not exist, storing no transcript", async () => {
  await expect(
    rememberInteraction(
      env,
      ws.id,
      {
        entityId: "ent_doesnotexist00",
        interactionId: "call-orphan",
        channel: "voice",
        direction: "inbound",
        occurredAt: "2026-11-20T15:00:00.000Z",
        turns: [{ speaker: "caller", text: "I'm allergic to latex", at: "2026-11-20T15:00:01.000Z" }],
      },
      { actorType: "system", actorId: null },
    ),
  ).rejects.toMatchObject({ code: "unprocessable" });
  expect(await env.FILES.head(`transcripts/${ws.id}/call-orphan.json`)).toBeNull();
});
