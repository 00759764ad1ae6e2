/**
 * Sending a surface's link: the address comes from the patient's contact facts (or the caller), the
 * message is one short line with the short link and the expiry in the clinic's time zone, it goes through
 * the outbox like any text (no call needed), and voice and web surfaces send nothing.
 */
import { env } from "cloudflare:workers";
import { and, eq } from "drizzle-orm";
import { afterEach, describe, expect, it, vi } from "vitest";
import type { ProjectedFact } from "../../shared/world/projection";
import { deliveryView } from "../../workers/api/deliveries";
import { openDeliveryField } from "../../workers/db/deliveries";
import { deliveries, workspaces } from "../../workers/db/schema";
import type { Surface } from "../../workers/surfaces/contracts";
import { deliverSurface, recipientFor, surfaceMessage } from "../../workers/surfaces/delivery";
import { shortLink } from "../../workers/surfaces/tokens";
import { openDelivery } from "../../workers/telephony/messaging";
import { db } from "../helpers/db";
import { insertPhoneNumber } from "../helpers/workspace";
import { ingestPatient, worldWorkspace } from "../world/fixtures";

const fact = (value: unknown): ProjectedFact => ({
  value: value as ProjectedFact["value"],
  confidence: 1,
  source: "ehr",
  effectiveAt: "2026-01-01T00:00:00.000Z",
  eventId: "evt_x",
  safetyCritical: false,
});

describe("recipientFor", () => {
  const state = {
    facts: { "contact.phone": fact("+14155550190"), "contact.email": fact("maria@example.com") },
  };
  it("takes contact.phone for texts and contact.email for email", () => {
    expect(recipientFor("sms", state)).toBe("+14155550190");
    expect(recipientFor("whatsapp", state)).toBe("+14155550190");
    expect(recipientFor("email", state)).toBe("maria@example.com");
  });
  it("is null without the fact, or when the fact is not an address", () => {
    expect(recipientFor("email", { facts: { "contact.phone": fact("+14155550190") } })).toBeNull();
    expect(recipientFor("sms", { facts: { "contact.phone": fact("call the front desk") } })).toBeNull();
    expect(recipientFor("sms", { facts: { "contact.phone": fact({ line: "1 Main St" }) } })).toBeNull();
  });
});

describe("surfaceMessage", () => {
  it("names the clinic, the form, the link and the expiry date in the clinic's time zone", () => {
    const input = {
      clinic: "Northside Clinic",
      title: "Insurance update",
      link: "https://x.test/l/abc",
      expiresAt: "2026-03-06T03:00:00.000Z",
    };
    expect(surfaceMessage({ ...input, timeZone: "America/Los_Angeles" })).toBe(
      "Northside Clinic: please complete “Insurance update”: https://x.test/l/abc (expires Mar 5)",
    );
    expect(surfaceMessage({ ...input, timeZone: "UTC" })).toContain("(expires Mar 6)");
  });
});

function surfaceFor(workspaceId: string, entityId: string, channel: Surface["channel"]): Surface {
  const id = `srf_${crypto.randomUUID().replaceAll("-", "").slice(0, 20)}`;
  return {
    id,
    workspaceId,
    entityId,
    parentId: null,
    templateId: null,
    title: "Insurance update",
    spec: {} as Surface["spec"],
    status: "created",
    channel,
    createdBy: { type: "scanner", requirementId: "req_1", runId: "run_1" },
    callId: null,
    fieldCount: 2,
    requiredCount: 1,
    answeredCount: 0,
    lastFieldKey: null,
    expiresAt: "2026-03-06T03:00:00.000Z",
    deliveredAt: null,
    openedAt: null,
    completedAt: null,
    createdAt: "2026-02-27T03:00:00.000Z",
  };
}

afterEach(() => vi.restoreAllMocks());

describe("deliverSurface", () => {
  async function clinic() {
    const f = await worldWorkspace();
    await db()
      .update(workspaces)
      .set({ name: "Northside Clinic", timezone: "America/Los_Angeles" })
      .where(eq(workspaces.id, f.ws.id));
    const number = await insertPhoneNumber(f.ws.id, null);
    const patient = await ingestPatient(f, { phone: "+14155550191", email: "maria.d@example.com" });
    return { f, number, patient };
  }

  it("texts the link from the clinic number to the patient's phone, with no call, once", async () => {
    const { f, number, patient } = await clinic();
    const surface = surfaceFor(f.ws.id, patient, "sms");
    const result = await deliverSurface(env, surface);
    expect(result.channel).toBe("sms");
    expect(result.link).toBe(await shortLink(env, surface));
    expect(result.deliveryId).toMatch(/^dlv_/);
    // Delivering the same link to the same patient again is the same message.
    expect((await deliverSurface(env, surface)).deliveryId).toBe(result.deliveryId);

    const rows = await db()
      .select()
      .from(deliveries)
      .where(and(eq(deliveries.workspaceId, f.ws.id), eq(deliveries.surfaceId, surface.id)));
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({ channel: "sms", purpose: "surface_link", callId: null });
    expect(rows[0]!.dedupeKey).not.toContain("4155550191");
    expect(await openDelivery(env, rows[0]!)).toEqual({
      to: "+14155550191",
      body: `Northside Clinic: please complete “Insurance update”: ${result.link} (expires Mar 5)`,
    });
    expect(await openDeliveryField(env.ENCRYPTION_KEY, f.ws.id, rows[0]!.id, "from", rows[0]!.fromEnc!)).toBe(
      number.e164,
    );

    // The outbox lists it for operators; a development deployment (the tests') shows the text.
    const listed = await f.call("operator", "GET", `/deliveries?surface_id=${surface.id}&channel=sms`);
    expect(listed.status, listed.text).toBe(200);
    expect(listed.body).toMatchObject({
      total: 1,
      results: [
        {
          id: result.deliveryId,
          channel: "sms",
          purpose: "surface_link",
          surface_id: surface.id,
          message: { to: "+14155550191", body: expect.stringContaining("Insurance update") },
        },
      ],
    });
    expect((await f.call("operator", "GET", "/deliveries?channel=email")).body.total).toBe(0);
    expect((await f.call("viewer", "GET", "/deliveries")).status).toBe(403);
    // Anywhere else, never the address or the text.
    const production = await deliveryView({ ...env, ENVIRONMENT: "production" } as unknown as Env, rows[0]!);
    expect(production).not.toHaveProperty("message");
    expect(JSON.stringify(production)).not.toMatch(/4155550191|Insurance/);
  });

  it("emails the patient's address; a given address wins over the facts", async () => {
    const { f, patient } = await clinic();
    const surface = surfaceFor(f.ws.id, patient, "email");
    const { deliveryId } = await deliverSurface(env, surface);
    const row = await db().query.deliveries.findFirst({ where: eq(deliveries.id, deliveryId!) });
    expect(row).toMatchObject({ channel: "email", surfaceId: surface.id });
    expect((await openDelivery(env, row!)).to).toBe("maria.d@example.com");

    const other = await deliverSurface(env, surface, { channel: "sms", to: "(415) 555-0192" });
    const texted = await db().query.deliveries.findFirst({ where: eq(deliveries.id, other.deliveryId!) });
    expect(texted!.channel).toBe("sms");
    expect((await openDelivery(env, texted!)).to).toBe("+14155550192");
  });

  it("voice and web send nothing and return the link", async () => {
    const { f, patient } = await clinic();
    for (const channel of ["voice", "web"] as const) {
      const surface = surfaceFor(f.ws.id, patient, channel);
      expect(await deliverSurface(env, surface)).toEqual({
        deliveryId: null,
        link: await shortLink(env, surface),
        channel,
      });
      expect(await db().select().from(deliveries).where(eq(deliveries.surfaceId, surface.id))).toHaveLength(
        0,
      );
    }
  });

  it("a patient without the address is a 422 naming the field, not a message", async () => {
    const f = await worldWorkspace();
    await insertPhoneNumber(f.ws.id, null);
    const patient = await ingestPatient(f, { phone: "+14155550193" });
    const err = await deliverSurface(env, surfaceFor(f.ws.id, patient, "email")).catch((e) => e);
    expect(err).toMatchObject({ code: "unprocessable", details: { field: "to", channel: "email" } });
  });
});
