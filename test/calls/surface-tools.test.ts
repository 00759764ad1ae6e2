/**
 * Surfaces mid-call, through the real ConversationRelay protocol, CallSession, LocalEngine and tools: a
 * verified caller says their insurance changed; the agent makes a form for exactly what the record
 * lacks (`create_surface`), texts it (`deliver_surface`, an outbox row with the link), hears at once when
 * the patient submits it while still on the line (`CallSession.surfaceCompleted`: the agent says so
 * between turns), and confirms it with `check_surface_status`. A second create on the same call returns
 * the same form; a patient with three unfinished forms is asked verbally instead.
 */
import { env } from "cloudflare:workers";
import { and, eq } from "drizzle-orm";
import { describe, expect, it, vi } from "vitest";
import { SCHEDULING_GRAPH } from "../../scripts/demo-graphs";
import { deliveries, surfaces } from "../../workers/db/schema";
import { saveField, saveUpload, submit } from "../../workers/surfaces/service";
import { db } from "../helpers/db";
import { api } from "../helpers/http";
import { linePatient, RelayCall, relayLine, sessionSnapshot } from "./relay-client";

const PNG = new Uint8Array([
  0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 13, 0x49, 0x48, 0x44, 0x52, 0, 0, 0, 1, 0, 0, 0, 1,
  8, 6, 0, 0, 0, 0x1f, 0x15, 0xc4, 0x89, 0, 0, 0, 10, 0x49, 0x44, 0x41, 0x54, 0x78, 0x9c, 0x63, 0, 1, 0, 0, 5,
  0, 1, 0x0d, 0x0a, 0x2d, 0xb4, 0, 0, 0, 0, 0x49, 0x45, 0x4e, 0x44, 0xae, 0x42, 0x60, 0x82,
]);

async function verifiedCall() {
  const line = await relayLine(SCHEDULING_GRAPH);
  const { patientId, family, phone } = await linePatient(line, "Quill");
  const call = await RelayCall.connect(line.number.e164, phone);
  await call.reply();
  await call.say(`This is Maria ${family}`);
  const verified = await call.say("April 2nd 1980");
  expect(verified.text).toMatch(/help/i);
  return { line, call, patientId };
}

describe("surfaces mid-call", () => {
  it("creates a form for what is missing, texts it, hears the patient submit it, and confirms", async () => {
    const { line, call, patientId } = await verifiedCall();
    const sent = await call.say("I have a new insurance card");
    expect(sent.text, sent.text).toMatch(/texted you a short form/);

    const [surface] = await db()
      .select()
      .from(surfaces)
      .where(and(eq(surfaces.workspaceId, line.ws.id), eq(surfaces.entityId, patientId)));
    expect(surface).toMatchObject({
      callId: call.callId,
      createdByType: "agent",
      status: "delivered",
      channel: "sms",
    });
    // What the record lacked: an email, insurance and allergies (the EHR gave a name, birth date and phone).
    const outbox = await db()
      .select()
      .from(deliveries)
      .where(and(eq(deliveries.workspaceId, line.ws.id), eq(deliveries.surfaceId, surface!.id)));
    expect(outbox).toHaveLength(1);
    expect(outbox[0]).toMatchObject({ channel: "sms", purpose: "surface_link" });
    expect((await sessionSnapshot(call.callId)).engineState?.state_id).toBe("form_sent");

    // The patient fills it in on their phone while still on the line.
    const ws = line.ws.id;
    for (const [key, value] of Object.entries({
      email: "maria@example.com",
      insurance_payer: "Aetna",
      insurance_member_id: "W123456789",
      has_allergies: "no",
    })) {
      const saved = await saveField(env, ws, surface!.id, key, value);
      expect(saved.ok, `${key}: ${saved.error}`).toBe(true);
    }
    const photo = await saveUpload(
      env,
      ws,
      surface!.id,
      "insurance_card_front",
      new File([PNG], "card.png", { type: "image/png" }),
    );
    expect(photo.ok, photo.error).toBe(true);
    const before = call.frames.length;
    const done = await submit(env, ws, surface!.id);
    expect(done.status).toBe("completed");

    // The agent says so at once, without a prompt from the caller.
    await vi.waitFor(
      () => {
        const said = call.frames
          .slice(before)
          .filter((f) => f.type === "text")
          .map((f) => f.token)
          .join("");
        if (!said.includes("your form just came through")) throw new Error("not yet");
      },
      { timeout: 5000, interval: 10 },
    );
    await call.reply(); // consume the acknowledgement
    const confirmed = await call.say("I filled it in");
    expect(confirmed.text).toMatch(/form came through/i);
    const snap = await sessionSnapshot(call.callId);
    expect(snap.tools.map((t) => t.name)).toEqual(
      expect.arrayContaining(["create_surface", "deliver_surface", "check_surface_status"]),
    );
    expect(snap.tools.filter((t) => t.name === "create_surface")).toHaveLength(1);
    call.ws.close();
  });

  it("asks on the call when the patient already has three unfinished forms, and records the answers like the form's", async () => {
    const { line, call, patientId } = await verifiedCall();
    // Three forms already out, none finished.
    for (let i = 0; i < 3; i++) {
      const res = await api("POST", `/v1/${line.ws.id}/surfaces`, {
        key: line.ws.keys.operator,
        body: {
          entity_id: patientId,
          channel: "sms",
          spec: { title: `Form ${i}`, fields: [{ key: "email", label: "Email", field_type: "email" }] },
        },
      });
      expect(res.status, res.text).toBe(201);
    }
    const reply = await call.say("I have a new insurance card");
    expect(reply.text).toMatch(/go through this together now/);
    expect(reply.text).toMatch(/Which insurance company/);
    expect((await call.say("Aetna")).text).toMatch(/member ID/);
    await call.say("W123456789");
    // The answers go where the form's would have: one coverage, at the caller-stated confidence, for review.
    const coverage = await env.DB.prepare(
      "SELECT data_enc IS NOT NULL AS sealed, confidence FROM world_events WHERE workspace_id = ? AND entity_id = ? AND event_type = 'coverage.recorded'",
    )
      .bind(line.ws.id, patientId)
      .all<{ sealed: number; confidence: number }>();
    expect(coverage.results.length).toBeGreaterThan(0);
    expect(Math.max(...coverage.results.map((r) => r.confidence))).toBeLessThanOrEqual(0.85);
    const review = await env.DB.prepare(
      "SELECT count(*) AS n FROM review_items WHERE workspace_id = ? AND entity_id = ? AND domain = 'coverage'",
    )
      .bind(line.ws.id, patientId)
      .first<{ n: number }>();
    expect(review?.n).toBe(1);
    const rows = await db()
      .select()
      .from(surfaces)
      .where(and(eq(surfaces.workspaceId, line.ws.id), eq(surfaces.callId, call.callId)));
    expect(rows).toHaveLength(0);
    call.ws.close();
  });
});
