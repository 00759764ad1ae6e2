/**
 * Invalid events are refused with a 4xx and write nothing: not the invalid event, not the valid events
 * beside it, not an entity, an identifier or an audit row.
 */
import { describe, expect, it } from "vitest";
import { expectError } from "../helpers/http";
import { ingestPatient, type WorldFixture, worldCounts, worldWorkspace } from "./fixtures";

const valid = (key = "ok-1") => ({
  idempotency_key: key,
  entity: { entity_type: "patient", external_id: `ehr:Patient:${key}` },
  event_type: "demographics.recorded",
  data: { given_name: "Ada", family_name: "Valid", birth_date: "1970-01-01" },
  source: "ehr",
});

async function expectNothingWritten(
  f: WorldFixture,
  events: unknown[],
  code: "validation_failed" | "unprocessable",
  status: 400 | 422,
) {
  const before = await worldCounts(f.ws.id);
  const res = await f.call("operator", "POST", "/world/events", { events });
  expectError(res, code, status);
  expect(await worldCounts(f.ws.id)).toEqual(before);
  return res;
}

describe("invalid events", () => {
  it("refuses an unknown event type, a confidence outside 0..1 and an unknown entity type", async () => {
    const f = await worldWorkspace();
    await ingestPatient(f);
    for (const bad of [
      { ...valid("bad-type"), event_type: "mood.recorded" },
      { ...valid("too-sure"), confidence: 1.5 },
      { ...valid("negative"), confidence: -0.1 },
      { ...valid("spaceship"), entity: { entity_type: "spaceship", external_id: "ehr:Ship:1" } },
      { ...valid("no-source"), source: "rumour" },
      { ...valid("both"), entity_id: "ent_AAAAAAAAAAAAAAAAAAAAAA" },
    ]) {
      await expectNothingWritten(f, [valid(), bad], "validation_failed", 400);
    }
  });

  it("refuses data larger than 16 KB, counted in bytes", async () => {
    const f = await worldWorkspace();
    await expectNothingWritten(
      f,
      [{ ...valid("big"), data: { given_name: "x".repeat(17 * 1024) } }],
      "validation_failed",
      400,
    );
    // 9,000 two-byte characters: under 16 K characters, over 16 KB.
    const res = await expectNothingWritten(
      f,
      [{ ...valid("wide"), data: { given_name: "é".repeat(9000) } }],
      "validation_failed",
      400,
    );
    expect(res.body.error.message).toMatch(/larger than 16384 bytes/);
  });

  it("refuses data that does not fit the event type, or an event type that does not fit the entity", async () => {
    const f = await worldWorkspace();
    const res = await expectNothingWritten(
      f,
      [
        valid(),
        { ...valid("bad-date"), data: { birth_date: "yesterday" } },
        { ...valid("extra"), data: { given_name: "Ada", shoe_size: 38 } },
        { ...valid("empty"), data: {} },
        {
          ...valid("wrong-entity"),
          entity: { entity_type: "location", external_id: "ehr:Location:1" },
          event_type: "allergy.recorded",
          data: { substance: "latex" },
        },
      ],
      "unprocessable",
      422,
    );
    const issues = res.body.error.details.issues as { index: number; path: string }[];
    expect(issues.map((i) => i.index)).toEqual(expect.arrayContaining([1, 2, 3, 4]));
    expect(issues.some((i) => i.index === 0)).toBe(false);
  });

  it("refuses a key repeated within the batch and an entity id of no entity in the workspace", async () => {
    const f = await worldWorkspace();
    await expectNothingWritten(f, [valid("same"), valid("same")], "unprocessable", 422);
    await expectNothingWritten(
      f,
      [
        valid(),
        {
          idempotency_key: "ghost",
          entity_id: "ent_AAAAAAAAAAAAAAAAAAAAAA",
          event_type: "allergy.recorded",
          data: { substance: "latex" },
          source: "ehr",
        },
      ],
      "unprocessable",
      422,
    );
  });

  it("a review-sourced event must state its confidence", async () => {
    const f = await worldWorkspace();
    await expectNothingWritten(f, [{ ...valid("review"), source: "review" }], "unprocessable", 422);
  });
});
