import { describe, expect, it } from "vitest";
import { DEFAULT_CONFIDENCE } from "../../shared/world/confidence";
import { auditActions, factAt, ingestPatient, worldWorkspace } from "./fixtures";

describe("world settings", () => {
  it("shows the defaults, and a changed confidence applies to events ingested afterwards", async () => {
    const f = await worldWorkspace();
    const before = await f.call("viewer", "GET", "/world/settings");
    expect(before.status).toBe(200);
    expect(before.body.confidence).toEqual(DEFAULT_CONFIDENCE);
    expect(before.body.writeback_threshold).toBe(0.9);

    const patch = await f.call("admin", "PATCH", "/world/settings", {
      confidence: { agent_mentioned: 0.25 },
    });
    expect(patch.status).toBe(200);
    expect(patch.body.confidence.agent_mentioned).toBe(0.25);
    expect(patch.body.confidence.review_approve).toBe(0.95);
    // A later change to one field leaves the others as they were.
    const second = await f.call("admin", "PATCH", "/world/settings", { writeback_threshold: 0.85 });
    expect(second.body).toMatchObject({ writeback_threshold: 0.85, auto_merge_threshold: 0.95 });
    expect(second.body.confidence.agent_mentioned).toBe(0.25);
    expect(await auditActions(f.ws.id, "world.settings_updated")).toHaveLength(2);

    const entityId = await ingestPatient(f);
    const res = await f.call("operator", "POST", "/world/events", {
      events: [
        {
          idempotency_key: "voice-pref",
          entity_id: entityId,
          event_type: "preference.recorded",
          data: { channel: "sms" },
          source: "voice",
        },
      ],
    });
    expect(res.status).toBe(200);
    expect((await factAt(f, entityId, "preferences.channel"))?.confidence).toBe(0.25);
  });

  it("refuses viewers, operators, out-of-range values, unknown bases and inverted thresholds", async () => {
    const f = await worldWorkspace();
    expect((await f.call("viewer", "PATCH", "/world/settings", { writeback_threshold: 0.8 })).status).toBe(
      403,
    );
    expect((await f.call("operator", "PATCH", "/world/settings", { writeback_threshold: 0.8 })).status).toBe(
      403,
    );
    expect((await f.call("admin", "PATCH", "/world/settings", { writeback_threshold: 1.5 })).status).toBe(
      400,
    );
    expect((await f.call("admin", "PATCH", "/world/settings", { confidence: { made_up: 0.5 } })).status).toBe(
      400,
    );
    expect((await f.call("admin", "PATCH", "/world/settings", { review_min_match: 0.99 })).status).toBe(422);
    expect((await f.call("admin", "GET", "/world/settings")).body.writeback_threshold).toBe(0.9);
    expect(await auditActions(f.ws.id, "world.settings_updated")).toHaveLength(0);
  });
});
