/**
 * The review queue as reviewers use it: the queue's order and filters, the diff view, claims, the three
 * decisions and what they leave in the world model, batches, statistics, and the live events.
 */
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import {
  allergyReview,
  auditActions,
  eventRow,
  extract,
  factAt,
  ingestPatient,
  published,
  reviewRow,
  worldWorkspace,
} from "./fixtures";

describe("the queue", () => {
  it("lists pending items by priority, then age, with the proposed value and the patient's name", async () => {
    const f = await worldWorkspace();
    const entityId = await ingestPatient(f, { given_name: "Ana", family_name: "Queue" });
    await extract(f, entityId, "I prefer texts, I'm on metformin and I have asthma", [
      { event_type: "preference.recorded", data: { channel: "sms" } },
      { event_type: "medication.recorded", data: { name: "metformin" } },
      { event_type: "condition.recorded", data: { name: "asthma" } },
    ]);
    // Distinct ages, oldest last, so the order within a priority is visible.
    await env.DB.prepare(
      "UPDATE review_items SET created_at = CASE path WHEN 'preferences.channel' THEN '2020-01-01T00:00:01.000Z' WHEN 'medications.metformin' THEN '2020-01-01T00:00:03.000Z' ELSE '2020-01-01T00:00:02.000Z' END WHERE workspace_id = ?",
    )
      .bind(f.ws.id)
      .run();
    await extract(f, entityId, "Also penicillin gives me hives", [
      { event_type: "allergy.recorded", data: { substance: "penicillin", reaction: "hives" } },
    ]);

    const res = await f.call("viewer", "GET", "/review");
    expect(res.status, res.text).toBe(200);
    expect(res.body.total).toBe(4);
    expect(res.body.results.map((r: { path: string; priority: string }) => [r.path, r.priority])).toEqual([
      ["medications.metformin", "high"],
      ["allergies.penicillin", "high"],
      ["conditions.asthma", "medium"],
      ["preferences.channel", "low"],
    ]);
    expect(res.body.results[1]).toMatchObject({
      kind: "fact",
      entity_id: entityId,
      status: "pending",
      entity_display_name: "Ana Queue",
      proposed_value: { substance: "penicillin", reaction: "hives", status: "active" },
      candidate_id: null,
      claimed_by: null,
    });

    const high = await f.call("viewer", "GET", "/review?priority=high&domain=allergy");
    expect(high.body.results.map((r: { path: string }) => r.path)).toEqual(["allergies.penicillin"]);
    const none = await f.call("viewer", "GET", "/review?status=approved");
    expect(none.body).toMatchObject({ results: [], total: 0 });
  });

  it("pages with a continuation token that survives items leaving the queue", async () => {
    const f = await worldWorkspace();
    const entityId = await ingestPatient(f);
    await extract(f, entityId, "latex, ibuprofen, aspirin and codeine", [
      { event_type: "allergy.recorded", data: { substance: "latex" } },
      { event_type: "allergy.recorded", data: { substance: "ibuprofen" } },
      { event_type: "allergy.recorded", data: { substance: "aspirin" } },
      { event_type: "allergy.recorded", data: { substance: "codeine" } },
    ]);
    const all = (await f.call("viewer", "GET", "/review")).body.results.map((r: { id: string }) => r.id);
    const first = await f.call("viewer", "GET", "/review?limit=2");
    expect(first.body.results.map((r: { id: string }) => r.id)).toEqual(all.slice(0, 2));
    expect(first.body.continuation_token).toEqual(expect.any(String));
    // The first page is worked off before the next is fetched: keyset paging does not skip anything.
    await f.call("operator", "POST", "/review/batch", { action: "approve", ids: all.slice(0, 2) });
    const second = await f.call(
      "viewer",
      "GET",
      `/review?limit=2&continuation_token=${first.body.continuation_token}`,
    );
    expect(second.body.results.map((r: { id: string }) => r.id)).toEqual(all.slice(2, 4));
  });
});

describe("the diff view", () => {
  it("shows the proposal, the current value, the verdict and the caller's words", async () => {
    const f = await worldWorkspace();
    const entityId = await ingestPatient(f, {
      given_name: "Rosa",
      family_name: "Diff",
      allergies: [{ substance: "Penicillin", severity: "severe" }],
    });
    const [verdict] = await extract(f, entityId, "I have a mild penicillin allergy", [
      { event_type: "allergy.recorded", data: { substance: "penicillin", severity: "mild" } },
    ]);
    const res = await f.call("viewer", "GET", `/review/${verdict!.review_item_id}`);
    expect(res.status, res.text).toBe(200);
    expect(res.body).toMatchObject({
      item: { id: verdict!.review_item_id, kind: "fact", path: "allergies.penicillin", priority: "high" },
      entity: { id: entityId, entity_type: "patient", display_name: "Rosa Diff", merged_into: null },
      proposed: {
        event_type: "allergy.recorded",
        data: { substance: "penicillin", severity: "mild", status: "active" },
        value: { substance: "penicillin", severity: "mild", status: "active" },
      },
      current: {
        value: { substance: "Penicillin", severity: "severe", status: "active" },
        confidence: 1,
        source: "ehr",
        from_this_proposal: false,
      },
      verdict: {
        supported: true,
        verified: false,
        priority: "high",
        reasons: ["contradicts_higher_confidence_fact"],
        contradicts: { value: { substance: "Penicillin", severity: "severe" }, confidence: 1, source: "ehr" },
      },
      evidence: { caller_words: "penicillin", extracted_event_id: verdict!.extracted_event_id },
      candidate: null,
      rejection_reason: null,
    });
    expect(res.body.evidence.interaction_id).toMatch(/^call-/);
  });

  it("marks a current value that is the proposal's own", async () => {
    const f = await worldWorkspace();
    const { itemId, verdict } = await allergyReview(f, "latex");
    const res = await f.call("viewer", "GET", `/review/${itemId}`);
    expect(res.body.current).toMatchObject({
      event_id: verdict.promoted_event_id,
      confidence: 0.85,
      from_this_proposal: true,
    });
  });
});

describe("decisions", () => {
  it("approve records the fact at 0.95 from review, superseding the judge's promotion, eligible for writeback", async () => {
    const f = await worldWorkspace();
    const { entityId, itemId, verdict } = await allergyReview(f, "latex");
    const res = await f.call("operator", "POST", `/review/${itemId}/approve`);
    expect(res.status, res.text).toBe(200);
    expect(res.body).toMatchObject({
      id: itemId,
      status: "approved",
      decided_by: f.ws.keyIds.operator,
      decision_event_id: expect.stringMatching(/^evt_/),
    });
    const [event] = await eventRow(f.ws.id, { id: res.body.decision_event_id });
    expect(event).toMatchObject({
      confidence: 0.95,
      source: "review",
      supersedes: verdict.promoted_event_id,
      sync_status: "eligible",
      idempotency_key: `review:${itemId}`,
    });
    expect(await factAt(f, entityId, "allergies.latex")).toMatchObject({
      confidence: 0.95,
      source: "review",
      event_id: res.body.decision_event_id,
    });
    const [audit] = await auditActions(f.ws.id, "review.approved");
    expect(audit).toMatchObject({ actor_id: f.ws.keyIds.operator, target_id: itemId });
    expect(JSON.parse(audit!.details)).toMatchObject({
      kind: "fact",
      entity_id: entityId,
      path: "allergies.latex",
      decision_event_id: res.body.decision_event_id,
    });
  });

  it("approving an unverified fact supersedes the extracted event itself", async () => {
    const f = await worldWorkspace();
    const entityId = await ingestPatient(f);
    const [verdict] = await extract(f, entityId, "I need a refill", [
      { event_type: "medication.recorded", data: { name: "lisinopril" }, basis: "agent_mentioned" },
    ]);
    expect(verdict!.promoted_event_id).toBeNull();
    const res = await f.call("operator", "POST", `/review/${verdict!.review_item_id}/approve`);
    const [event] = await eventRow(f.ws.id, { id: res.body.decision_event_id });
    expect(event).toMatchObject({ supersedes: verdict!.extracted_event_id, confidence: 0.95 });
    expect((await factAt(f, entityId, "medications.lisinopril"))?.confidence).toBe(0.95);
  });

  it("correct records the reviewer's data at 1.0 in place of the proposal", async () => {
    const f = await worldWorkspace();
    const entityId = await ingestPatient(f);
    const [verdict] = await extract(f, entityId, "I take metformin", [
      { event_type: "medication.recorded", data: { name: "metformin", dose: "5000 mg" } },
    ]);
    const res = await f.call("operator", "POST", `/review/${verdict!.review_item_id}/correct`, {
      data: { name: "metformin", dose: "500 mg", frequency: "twice daily" },
    });
    expect(res.status, res.text).toBe(200);
    expect(res.body.status).toBe("corrected");
    const [event] = await eventRow(f.ws.id, { id: res.body.decision_event_id });
    expect(event).toMatchObject({ confidence: 1, source: "review", sync_status: "eligible" });
    expect(await factAt(f, entityId, "medications.metformin")).toMatchObject({
      confidence: 1,
      value: { name: "metformin", dose: "500 mg", frequency: "twice daily", status: "active" },
    });
  });

  it("correct takes just the value of a field fact and keeps the proposal's other fields", async () => {
    const f = await worldWorkspace();
    const entityId = await ingestPatient(f, { given_name: "Lena", birth_date: "1990-01-01" });
    const [verdict] = await extract(f, entityId, "my birthday is march 3 1991, and I speak Spanish", [
      { event_type: "demographics.recorded", data: { birth_date: "1991-03-03", language: "es" } },
    ]);
    expect(verdict!.path).toBe("demographics.birth_date");
    const res = await f.call("operator", "POST", `/review/${verdict!.review_item_id}/correct`, {
      value: "1991-03-04",
    });
    expect(res.status, res.text).toBe(200);
    expect(await factAt(f, entityId, "demographics.birth_date")).toMatchObject({
      value: "1991-03-04",
      confidence: 1,
    });
    expect(await factAt(f, entityId, "demographics.language")).toMatchObject({
      value: "es",
      confidence: 1,
    });
  });

  it("reject records the fact at 0, never eligible, and the projection falls back to what came before", async () => {
    const f = await worldWorkspace();
    const entityId = await ingestPatient(f, { allergies: [{ substance: "Penicillin", severity: "severe" }] });
    const [contradicted] = await extract(f, entityId, "I have a mild penicillin allergy", [
      { event_type: "allergy.recorded", data: { substance: "penicillin", severity: "mild" } },
    ]);
    const [latex] = await extract(f, entityId, "and latex", [
      { event_type: "allergy.recorded", data: { substance: "latex" } },
    ]);
    const a = await f.call("operator", "POST", `/review/${contradicted!.review_item_id}/reject`, {
      reason: "EHR is authoritative; caller unsure",
    });
    const b = await f.call("operator", "POST", `/review/${latex!.review_item_id}/reject`, {
      reason: "Agent misheard",
    });
    expect([a.status, b.status]).toEqual([200, 200]);
    expect(a.body.status).toBe("rejected");
    for (const res of [a, b]) {
      const [event] = await eventRow(f.ws.id, { id: res.body.decision_event_id });
      expect(event).toMatchObject({ confidence: 0, source: "review", sync_status: "none" });
    }
    expect(await factAt(f, entityId, "allergies.penicillin")).toMatchObject({
      value: { substance: "Penicillin", severity: "severe", status: "active" },
      confidence: 1,
      source: "ehr",
    });
    // Every latex candidate is superseded or rejected: there is no projected value.
    expect(await factAt(f, entityId, "allergies.latex")).toBeUndefined();
    const diff = await f.call("viewer", "GET", `/review/${latex!.review_item_id}`);
    expect(diff.body).toMatchObject({ rejection_reason: "Agent misheard", current: null });
  });

  it("each action publishes review.submitted with ids only", async () => {
    const f = await worldWorkspace();
    const { entityId, itemId } = await allergyReview(f, "latex");
    await f.call("operator", "POST", `/review/${itemId}/claim`);
    await f.call("operator", "POST", `/review/${itemId}/unclaim`);
    await f.call("operator", "POST", `/review/${itemId}/reject`, { reason: "latex is fine, caller joked" });
    const events = await published(f.ws.id, "review.submitted");
    expect(events.map((e) => e.data)).toEqual(
      ["claim", "unclaim", "reject"].map((action) => ({
        review_item_id: itemId,
        action,
        entity_id: entityId,
        path: "allergies.latex",
      })),
    );
    expect(JSON.stringify(events)).not.toContain("caller joked");
  });
});

describe("claims", () => {
  it("claim, my-queue and unclaim", async () => {
    const f = await worldWorkspace();
    const { itemId } = await allergyReview(f, "latex");
    const other = await allergyReview(f, "aspirin");
    const claim = await f.call("operator", "POST", `/review/${itemId}/claim`);
    expect(claim.status, claim.text).toBe(200);
    expect(claim.body).toMatchObject({ claimed_by: f.ws.keyIds.operator, claimed_at: expect.any(String) });
    expect(Date.parse(claim.body.claim_expires_at) - Date.parse(claim.body.claimed_at)).toBe(30 * 60_000);

    const mine = await f.call("operator", "GET", "/review/my-queue");
    expect(mine.body.results.map((r: { id: string }) => r.id)).toEqual([itemId]);
    expect((await f.call("admin", "GET", "/review/my-queue")).body.total).toBe(0);
    const claimed = await f.call("viewer", "GET", "/review?claimed=true");
    expect(claimed.body.results.map((r: { id: string }) => r.id)).toEqual([itemId]);
    const free = await f.call("viewer", "GET", "/review?claimed=false");
    expect(free.body.results.map((r: { id: string }) => r.id)).toEqual([other.itemId]);

    // Claiming again refreshes the claim.
    expect((await f.call("operator", "POST", `/review/${itemId}/claim`)).status).toBe(200);
    const release = await f.call("operator", "POST", `/review/${itemId}/unclaim`);
    expect(release.status, release.text).toBe(200);
    expect(release.body).toMatchObject({ claimed_by: null, claimed_at: null, claim_expires_at: null });
    expect((await f.call("operator", "GET", "/review/my-queue")).body.total).toBe(0);
    expect((await auditActions(f.ws.id, "review.claimed")).length).toBe(2);
    expect((await auditActions(f.ws.id, "review.unclaimed")).length).toBe(1);
  });

  it("a lapsed claim can be taken by someone else", async () => {
    const f = await worldWorkspace();
    const { itemId } = await allergyReview(f);
    await f.call("operator", "POST", `/review/${itemId}/claim`);
    await env.DB.prepare("UPDATE review_items SET claimed_at = ? WHERE id = ?")
      .bind(new Date(Date.now() - 31 * 60_000).toISOString(), itemId)
      .run();
    expect((await f.call("operator", "GET", "/review/my-queue")).body.total).toBe(0);
    const taken = await f.call("admin", "POST", `/review/${itemId}/claim`);
    expect(taken.status, taken.text).toBe(200);
    expect(taken.body.claimed_by).toBe(f.ws.keyIds.admin);
  });

  it("an admin may release or decide over another's claim; the claimer may decide", async () => {
    const f = await worldWorkspace();
    const first = await allergyReview(f, "latex");
    const second = await allergyReview(f, "aspirin");
    await f.call("operator", "POST", `/review/${first.itemId}/claim`);
    await f.call("operator", "POST", `/review/${second.itemId}/claim`);
    expect((await f.call("admin", "POST", `/review/${first.itemId}/unclaim`)).status).toBe(200);
    const decided = await f.call("owner", "POST", `/review/${second.itemId}/approve`);
    expect(decided.status, decided.text).toBe(200);
    const third = await allergyReview(f, "codeine");
    await f.call("operator", "POST", `/review/${third.itemId}/claim`);
    expect((await f.call("operator", "POST", `/review/${third.itemId}/approve`)).status).toBe(200);
  });
});

describe("batch", () => {
  it("approves many, reporting each id; failures do not stop the rest", async () => {
    const f = await worldWorkspace();
    const a = await allergyReview(f, "latex");
    const b = await allergyReview(f, "aspirin");
    const decided = await allergyReview(f, "codeine");
    await f.call("operator", "POST", `/review/${decided.itemId}/approve`);
    const unknown = "rev_doesnotexist000000";
    const res = await f.call("operator", "POST", "/review/batch", {
      action: "approve",
      ids: [a.itemId, decided.itemId, unknown, b.itemId],
    });
    expect(res.status, res.text).toBe(200);
    expect(res.body).toMatchObject({
      succeeded: 2,
      failed: 2,
      results: [
        { id: a.itemId, ok: true, status: "approved", error: null },
        { id: decided.itemId, ok: false, status: null, error: { code: "conflict" } },
        { id: unknown, ok: false, status: null, error: { code: "not_found" } },
        { id: b.itemId, ok: true, status: "approved", error: null },
      ],
    });
    for (const { entityId, substance } of [
      { entityId: a.entityId, substance: "latex" },
      { entityId: b.entityId, substance: "aspirin" },
    ]) {
      expect((await factAt(f, entityId, `allergies.${substance}`))?.confidence).toBe(0.95);
    }
    expect((await auditActions(f.ws.id, "review.approved")).length).toBe(3);
    expect((await published(f.ws.id, "review.submitted")).length).toBe(3);
  });

  it("rejects many with one reason", async () => {
    const f = await worldWorkspace();
    const a = await allergyReview(f, "latex");
    const b = await allergyReview(f, "aspirin");
    const res = await f.call("operator", "POST", "/review/batch", {
      action: "reject",
      ids: [a.itemId, b.itemId],
      reason: "test call",
    });
    expect(res.body).toMatchObject({ succeeded: 2, failed: 0 });
    for (const { itemId } of [a, b]) expect((await reviewRow(f.ws.id, itemId))?.status).toBe("rejected");
  });
});

describe("stats", () => {
  it("counts the queue by priority and the last 7 days' decisions with their mean review time", async () => {
    const f = await worldWorkspace();
    const entityId = await ingestPatient(f);
    const verdicts = await extract(f, entityId, "latex aspirin codeine metformin asthma and texts please", [
      { event_type: "allergy.recorded", data: { substance: "latex" } },
      { event_type: "allergy.recorded", data: { substance: "aspirin" } },
      { event_type: "allergy.recorded", data: { substance: "codeine" } },
      { event_type: "medication.recorded", data: { name: "metformin" } },
      { event_type: "condition.recorded", data: { name: "asthma" } },
      { event_type: "preference.recorded", data: { channel: "sms" } },
    ]);
    const [latex, aspirin, codeine, metformin] = verdicts.map((v) => v.review_item_id!);
    await f.call("operator", "POST", `/review/${latex}/approve`);
    await f.call("operator", "POST", `/review/${aspirin}/correct`, {
      value: { substance: "aspirin", severity: "mild" },
    });
    await f.call("operator", "POST", `/review/${codeine}/reject`, { reason: "not said" });
    await f.call("operator", "POST", `/review/${metformin}/approve`);
    // Known review times: 60 s, 120 s and 300 s in the window; one decision older than 7 days.
    const now = Date.now();
    const at = (msAgo: number) => new Date(now - msAgo).toISOString();
    const times: [string, number, number][] = [
      [latex!, 3_600_000 + 60_000, 3_600_000],
      [aspirin!, 7_200_000 + 120_000, 7_200_000],
      [codeine!, 86_400_000 + 300_000, 86_400_000],
      [metformin!, 9 * 86_400_000, 8 * 86_400_000],
    ];
    for (const [id, created, decided] of times) {
      await env.DB.prepare("UPDATE review_items SET created_at = ?, decided_at = ? WHERE id = ?")
        .bind(at(created), at(decided), id)
        .run();
    }
    const res = await f.call("viewer", "GET", "/review/stats");
    expect(res.status, res.text).toBe(200);
    expect(res.body).toMatchObject({
      queue_depth: 2,
      pending_by_priority: { high: 0, medium: 1, low: 1 },
      last_7_days: { approved: 1, corrected: 1, rejected: 1, average_review_seconds: 160 },
    });
    expect(Date.parse(res.body.last_7_days.since)).toBeCloseTo(now - 7 * 86_400_000, -4);
  });

  it("is empty for a new workspace", async () => {
    const f = await worldWorkspace();
    const res = await f.call("viewer", "GET", "/review/stats");
    expect(res.body).toMatchObject({
      queue_depth: 0,
      pending_by_priority: { high: 0, medium: 0, low: 0 },
      last_7_days: { approved: 0, corrected: 0, rejected: 0, average_review_seconds: null },
    });
  });
});
