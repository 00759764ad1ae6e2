/**
 * Surface analytics on seeded surfaces with known timestamps: completion by channel, nearest-rank median
 * and p90 time to complete (from creation and from delivery), where unfinished surfaces were left, the
 * window, and a patient's history.
 */
import { describe, expect, it } from "vitest";
import { surfaces } from "../../workers/db/schema";
import { db } from "../helpers/db";
import { api } from "../helpers/http";
import { ingestPatient } from "../helpers/operations";
import { createWorkspace, unique } from "../helpers/workspace";

const T0 = Date.parse("2026-02-01T08:00:00.000Z");
const at = (hours: number) => new Date(T0 + hours * 3_600_000).toISOString();

type Seed = Partial<typeof surfaces.$inferInsert> & Pick<typeof surfaces.$inferInsert, "status" | "channel">;

async function seed(workspaceId: string, entityId: string, rows: Seed[]) {
  for (const row of rows)
    await db()
      .insert(surfaces)
      .values({
        id: `srf_${unique()}${unique()}`,
        workspaceId,
        entityId,
        title: "Insurance update",
        specEnc: "sealed",
        createdByType: "scanner",
        fieldCount: 4,
        requiredCount: 3,
        expiresAt: at(24 * 30),
        createdAt: at(0),
        ...row,
      });
}

describe("surface analytics", () => {
  it("completion by channel, time to complete, abandonment and patient history", async () => {
    const ws = await createWorkspace();
    const patient = await ingestPatient(ws);
    await seed(ws.id, patient, [
      { status: "completed", channel: "sms", deliveredAt: at(0.5), completedAt: at(1) },
      { status: "completed", channel: "sms", deliveredAt: at(0.5), completedAt: at(2) },
      { status: "completed", channel: "sms", deliveredAt: at(0.5), completedAt: at(10) },
      {
        status: "partial",
        channel: "sms",
        openedAt: at(1),
        lastFieldKey: "insurance_member_id",
        answeredCount: 1,
      },
      { status: "completed", channel: "email", completedAt: at(4) },
      { status: "expired", channel: "email", openedAt: at(2), lastFieldKey: "insurance_member_id" },
      { status: "opened", channel: "web", title: "Consent", openedAt: at(3) },
      // Never opened: no sign of where the patient stopped.
      { status: "delivered", channel: "web", title: "Consent", deliveredAt: at(1) },
      // Outside the window.
      { status: "completed", channel: "whatsapp", createdAt: at(-24 * 60), completedAt: at(-24 * 60 + 1) },
    ]);

    const res = await api(
      "GET",
      `/v1/${ws.id}/surfaces/analytics?from=${encodeURIComponent(at(-1))}&to=${encodeURIComponent(at(1))}`,
      { key: ws.keys.viewer },
    );
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ total: 8, completed: 4 });
    expect(res.body.by_status).toEqual({ completed: 4, partial: 1, expired: 1, opened: 1, delivered: 1 });
    expect(res.body.by_channel).toEqual([
      { channel: "sms", total: 4, completed: 3, completion_rate: 0.75 },
      { channel: "email", total: 2, completed: 1, completion_rate: 0.5 },
      { channel: "web", total: 2, completed: 0, completion_rate: 0 },
    ]);
    // Created → completed: 1, 2, 4, 10 h. Delivered → completed: 0.5, 1.5, 9.5 h.
    expect(res.body.time_to_complete).toEqual({
      from_created: { count: 4, median_seconds: 7200, p90_seconds: 36000 },
      from_delivered: { count: 3, median_seconds: 5400, p90_seconds: 34200 },
    });
    expect(res.body.abandonment).toEqual([
      { title: "Insurance update", template_id: null, field_key: "insurance_member_id", count: 2 },
      { title: "Consent", template_id: null, field_key: null, count: 1 },
    ]);

    const history = await api("GET", `/v1/${ws.id}/surfaces/analytics/patients/${patient}`, {
      key: ws.keys.viewer,
    });
    expect(history.status).toBe(200);
    expect(history.body).toMatchObject({
      entity_id: patient,
      pending: 3,
      completed: 5,
      closed: 6,
      preferred_channel: "sms",
      last_created_at: at(0),
    });
    expect(history.body.completion_rate).toBeCloseTo(5 / 6);
    expect(history.body.surfaces).toHaveLength(9);
  });

  it("an empty window, the default window, and bad input", async () => {
    const ws = await createWorkspace();
    const empty = await api("GET", `/v1/${ws.id}/surfaces/analytics`, { key: ws.keys.viewer });
    expect(empty.status).toBe(200);
    expect(empty.body).toMatchObject({
      total: 0,
      by_channel: [],
      abandonment: [],
      time_to_complete: { from_created: { count: 0, median_seconds: null, p90_seconds: null } },
    });
    expect(Date.parse(empty.body.to) - Date.parse(empty.body.from)).toBe(30 * 86_400_000);
    const reversed = await api(
      "GET",
      `/v1/${ws.id}/surfaces/analytics?from=${encodeURIComponent(at(2))}&to=${encodeURIComponent(at(1))}`,
      { key: ws.keys.viewer },
    );
    expect(reversed.status).toBe(400);
    expect(
      (await api("GET", `/v1/${ws.id}/surfaces/analytics?from=yesterday`, { key: ws.keys.viewer })).status,
    ).toBe(400);
    const unknown = await api("GET", `/v1/${ws.id}/surfaces/analytics/patients/ent_doesnotexist1`, {
      key: ws.keys.viewer,
    });
    expect(unknown.status).toBe(404);
  });
});
