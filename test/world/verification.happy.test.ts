/**
 * The verification pipeline end to end: what the judge promotes (only what the caller said, when it
 * contradicts nothing stronger), what goes to review at which priority, and how a person's decision sets
 * the fact's confidence and its writeback eligibility at the workspace's threshold.
 */
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { patientModel } from "../../workers/world/state";
import {
  eventRow,
  extract,
  factAt,
  ingestPatient,
  reviewRow,
  type WorldFixture,
  worldCounts,
  worldWorkspace,
} from "./fixtures";

async function setWritebackThreshold(f: WorldFixture, threshold: number) {
  await env.DB.prepare("UPDATE workspaces SET world_settings = ? WHERE id = ?")
    .bind(JSON.stringify({ writeback_threshold: threshold }), f.ws.id)
    .run();
}

describe("the judge", () => {
  it("does not promote a fact the caller never said (the agent saying it does not count)", async () => {
    const f = await worldWorkspace();
    const entityId = await ingestPatient(f);
    const [verdict] = await extract(
      f,
      entityId,
      "Yes, that's right, I need a refill of my usual",
      [{ event_type: "medication.recorded", data: { name: "warfarin" }, basis: "agent_confirmed" }],
      "So that's your warfarin refill?",
    );
    expect(verdict).toMatchObject({
      path: "medications.warfarin",
      verified: false,
      promoted_event_id: null,
      priority: "high",
      reasons: ["not_in_caller_words"],
    });
    expect(verdict!.review_item_id).toEqual(expect.any(String));
    expect(await factAt(f, entityId, "medications.warfarin")).toMatchObject({
      confidence: 0.5,
      source: "voice",
    });
    const judged = await env.DB.prepare(
      "SELECT count(*) AS n FROM world_events WHERE workspace_id = ? AND produced_by = 'judge:deterministic'",
    )
      .bind(f.ws.id)
      .first<{ n: number }>();
    expect(judged?.n).toBe(0);
  });

  it("promotes a fact in the caller's own words to 0.85, below the writeback threshold", async () => {
    const f = await worldWorkspace();
    const entityId = await ingestPatient(f);
    const [verdict] = await extract(f, entityId, "I'm allergic to latex", [
      { event_type: "allergy.recorded", data: { substance: "latex" } },
    ]);
    expect(verdict).toMatchObject({ verified: true, priority: "high", reasons: ["supported_by_caller"] });
    const [promoted] = await eventRow(f.ws.id, { id: verdict!.promoted_event_id! });
    expect(promoted).toMatchObject({
      confidence: 0.85,
      supersedes: verdict!.extracted_event_id,
      sync_status: "none",
    });
    expect(await factAt(f, entityId, "allergies.latex")).toMatchObject({ confidence: 0.85 });
  });

  it("sends a contradicted allergy to review at high priority and keeps the EHR's value", async () => {
    const f = await worldWorkspace();
    const entityId = await ingestPatient(f, { allergies: [{ substance: "Penicillin", severity: "severe" }] });
    const [verdict] = await extract(f, entityId, "Penicillin? Oh that's just a mild allergy", [
      { event_type: "allergy.recorded", data: { substance: "penicillin", severity: "mild" } },
    ]);
    expect(verdict).toMatchObject({
      verified: false,
      promoted_event_id: null,
      priority: "high",
      reasons: ["contradicts_higher_confidence_fact"],
    });
    expect(await reviewRow(f.ws.id, verdict!.review_item_id!)).toMatchObject({
      priority: 3,
      status: "pending",
      kind: "fact",
      path: "allergies.penicillin",
      domain: "allergy",
    });
    expect(await factAt(f, entityId, "allergies.penicillin")).toMatchObject({
      value: { substance: "Penicillin", severity: "severe", status: "active" },
      confidence: 1,
    });
    const queue = await f.call("viewer", "GET", "/review");
    expect(queue.body.results[0]).toMatchObject({ id: verdict!.review_item_id, priority: "high" });
  });

  it("re-submitting the same interaction changes nothing", async () => {
    const f = await worldWorkspace();
    const entityId = await ingestPatient(f);
    const body = {
      entity_id: entityId,
      interaction_id: "call-again",
      channel: "voice",
      transcript: [{ speaker: "caller", text: "latex" }],
      facts: [{ event_type: "allergy.recorded", data: { substance: "latex" }, basis: "agent_confirmed" }],
    };
    const first = await f.call("operator", "POST", "/world/extractions", body);
    const before = await worldCounts(f.ws.id);
    const again = await f.call("operator", "POST", "/world/extractions", body);
    expect(again.status).toBe(200);
    expect(again.body.results[0]).toMatchObject({
      extracted_event_id: first.body.results[0].extracted_event_id,
      review_item_id: null,
    });
    expect(await worldCounts(f.ws.id)).toEqual(before);
  });
});

describe("decisions and writeback", () => {
  it("an approved fact reaches 0.95 and is eligible for writeback", async () => {
    const f = await worldWorkspace();
    const entityId = await ingestPatient(f);
    const [verdict] = await extract(f, entityId, "I take metformin", [
      { event_type: "medication.recorded", data: { name: "metformin" } },
    ]);
    const res = await f.call("operator", "POST", `/review/${verdict!.review_item_id}/approve`);
    expect(res.status, res.text).toBe(200);
    const [event] = await eventRow(f.ws.id, { id: res.body.decision_event_id });
    expect(event).toMatchObject({ confidence: 0.95, sync_status: "eligible" });
    expect(await factAt(f, entityId, "medications.metformin")).toMatchObject({ confidence: 0.95 });
    const lineage = await f.call("viewer", "GET", `/world/entities/${entityId}/lineage`);
    expect(lineage.body.outbound).toEqual([
      expect.objectContaining({ event_id: res.body.decision_event_id, sync_status: "eligible" }),
    ]);
    expect(lineage.body.reviews).toEqual([
      expect.objectContaining({ id: verdict!.review_item_id, status: "approved" }),
    ]);
  });

  it("a rejected fact drops to 0, is not the projected value, and is never eligible (even at threshold 0)", async () => {
    const f = await worldWorkspace();
    await setWritebackThreshold(f, 0);
    const entityId = await ingestPatient(f);
    const [verdict] = await extract(f, entityId, "I take metformin", [
      { event_type: "medication.recorded", data: { name: "metformin" } },
    ]);
    const res = await f.call("operator", "POST", `/review/${verdict!.review_item_id}/reject`, {
      reason: "the patient stopped it last year",
    });
    expect(res.status, res.text).toBe(200);
    const [event] = await eventRow(f.ws.id, { id: res.body.decision_event_id });
    expect(event).toMatchObject({ confidence: 0, sync_status: "none" });
    expect(await factAt(f, entityId, "medications.metformin")).toBeUndefined();
    const ref = { workspaceId: f.ws.id, entityId };
    const state = await patientModel(env, f.ws.id, entityId).state(ref);
    expect(state.history["medications.metformin"]!.map((c) => c.confidence).sort()).toEqual([0, 0.5, 0.85]);
  });

  it("eligibility follows the workspace's threshold: at 0.99 only a correction (1.0) qualifies", async () => {
    const f = await worldWorkspace();
    await setWritebackThreshold(f, 0.99);
    const entityId = await ingestPatient(f);
    const [approve, correct] = await extract(f, entityId, "metformin and lisinopril", [
      { event_type: "medication.recorded", data: { name: "metformin" } },
      { event_type: "medication.recorded", data: { name: "lisinopril" } },
    ]);
    const approved = await f.call("operator", "POST", `/review/${approve!.review_item_id}/approve`);
    const corrected = await f.call("operator", "POST", `/review/${correct!.review_item_id}/correct`, {
      value: { name: "lisinopril", dose: "10 mg" },
    });
    expect((await eventRow(f.ws.id, { id: approved.body.decision_event_id }))[0]?.sync_status).toBe("none");
    expect((await eventRow(f.ws.id, { id: corrected.body.decision_event_id }))[0]?.sync_status).toBe(
      "eligible",
    );
  });
});
