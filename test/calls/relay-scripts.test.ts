/**
 * Scripted calls through the ConversationRelay protocol with the real tools (`executeTools`) on the demo
 * scheduling graph: a returning caller recognised by their number, verified by name and birth date
 * against the world model, offered slots from the shared FHIR sandbox and booked; the Appointment is read
 * back from the sandbox. Books pr-lindqvist only, on 2027-01-25..29 (the tools are given the
 * practitioner, so no other suite's slots are taken).
 */
import { env } from "cloudflare:workers";
import { eq } from "drizzle-orm";
import { afterEach, describe, expect, inject, it, vi } from "vitest";
import { setToolExecutor } from "../../durable-objects/call-session";
import { SCHEDULING_GRAPH } from "../../scripts/demo-graphs";
import { executeTools, type ToolExecution } from "../../workers/calls/tools";
import { calls } from "../../workers/db/schema";
import { db } from "../helpers/db";
import { api } from "../helpers/http";
import { ensureSchedulingSource } from "../helpers/operations";
import { unique, uniquePhoneNumber } from "../helpers/workspace";
import { ingestPatient, type WorldFixture } from "../world/fixtures";
import { RelayCall, relayLine } from "./relay-client";

const ehr = inject("ehrSandbox");
const letters = () => unique().replace(/\d/g, (d) => "qrstuvwxyz"[Number(d)]!);

afterEach(() => setToolExecutor());

describe("scripted calls with the real tools", () => {
  it("recognises a returning caller, verifies them, offers sandbox slots and books one", async () => {
    const line = await relayLine(SCHEDULING_GRAPH);
    await ensureSchedulingSource(line.ws);
    const f: WorldFixture = {
      ws: { id: line.ws.id, keys: line.ws.keys, keyIds: line.ws.keyIds },
      call: (role, method, path, body) =>
        api(method, `/v1/${line.ws.id}${path}`, { key: line.ws.keys[role], ...(body ? { body } : {}) }),
    };
    const family = `Lindgren${letters()}`;
    const phone = uniquePhoneNumber();
    const patientId = await ingestPatient(f, {
      given_name: "Maria",
      family_name: family,
      birth_date: "1980-04-02",
      phone,
    });
    // The real tools, kept to pr-lindqvist's calendar so this suite never takes another's slot.
    const executions: ToolExecution[] = [];
    setToolExecutor(async (e, context, toolCalls) => {
      const scoped = toolCalls.map((c) =>
        c.name === "find_slots" ? { ...c, args: { ...c.args, practitioner_id: "pr-lindqvist" } } : c,
      );
      const done = await executeTools(e, context, scoped);
      executions.push(...done);
      return done;
    });

    const call = await RelayCall.connect(line.number.e164, phone);
    const greeting = await call.reply();
    expect(greeting.text).not.toContain(family);
    const snap = await (
      env.CALL_SESSION.get(env.CALL_SESSION.idFromName(call.callId)) as unknown as {
        snapshot(): Promise<{ call: { returning: boolean; patientEntityId: string } }>;
      }
    ).snapshot();
    expect(snap.call).toMatchObject({ returning: true, patientEntityId: patientId });

    await call.say(`This is Maria ${family}`);
    const verified = await call.say("April 2nd 1980");
    expect(verified.text).toMatch(/help/i);
    await call.say("I need to make an appointment");
    const offered = await call.say("Friday January 29th 2027 in the afternoon");
    const options = (executions.find((e) => e.result.name === "find_slots")?.result.data ?? {}) as {
      options?: { id: string; label: string }[];
    };
    expect(options.options?.length, JSON.stringify(executions.map((e) => e.result))).toBeGreaterThan(0);
    expect(offered.text).toContain(options.options![0]!.label);
    await call.say("the first one");
    const booked = await call.say("yes please");
    const booking = executions.find((e) => e.result.name === "book_appointment");
    expect(booking?.result.outcome, JSON.stringify(booking?.result)).toBe("ok");
    expect(booked.end).toBeNull();
    const bye = await call.say("no that's all, thanks");
    expect(JSON.parse(bye.end.handoffData)).toEqual({ reason: "completed" });

    expect(executions.map((e) => e.result.name)).toEqual([
      "verify_identity",
      "find_slots",
      "book_appointment",
    ]);
    const appointmentId = (booking!.result.data as { appointment_id: string }).appointment_id;
    const res = await fetch(`${ehr.fhirBaseUrl}/Appointment/${appointmentId}`, {
      headers: { Authorization: `Bearer ${ehr.staticToken}`, Accept: "application/fhir+json" },
    });
    expect(res.status).toBe(200);
    const appointment = (await res.json()) as {
      status: string;
      start: string;
      participant: { actor?: { reference?: string } }[];
    };
    expect(appointment.status).toBe("booked");
    expect(appointment.start.startsWith("2027-01-29")).toBe(true);
    expect(appointment.participant.map((p) => p.actor?.reference)).toContain("Practitioner/pr-lindqvist");

    await vi.waitFor(
      async () => {
        const row = await db().query.calls.findFirst({ where: eq(calls.id, call.callId) });
        expect(row).toMatchObject({ finalState: "end", patientEntityId: patientId, escalated: false });
      },
      { timeout: 5000, interval: 20 },
    );
  });
});
