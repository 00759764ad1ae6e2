/**
 * Fixtures for the memory suites: patients written the only way world state is written (ingested
 * events, through the API), interactions and tasks for them, and a workspace's time zone.
 */
import { eq } from "drizzle-orm";
import { expect } from "vitest";
import { workspaces } from "../../workers/db/schema";
import { db } from "../helpers/db";
import { api } from "../helpers/http";
import { type TestWorkspace, unique } from "../helpers/workspace";

export type EventInput = Record<string, unknown> & { event_type: string; data: unknown };

/** Ingests events through `POST /world/events` with the owner key; returns the response body. */
export async function ingest(ws: TestWorkspace, events: EventInput[]) {
  const res = await api("POST", `/v1/${ws.id}/world/events`, {
    key: ws.keys.owner,
    body: {
      events: events.map((e) => ({ idempotency_key: `k-${unique()}`, source: "ehr", ...e })),
    },
  });
  expect(res.status, res.text).toBe(200);
  return res.body as { results: { entity_id: string; event_id: string; status: string }[]; stored: number };
}

/** Letters only: a fresh surname keeps entity resolution from merging fixture patients. */
export const surname = () => `Q${unique().replace(/\d/g, (d) => "ghijklmnop"[Number(d)]!)}`;

/** A patient from the EHR with a name, birth date and phone; returns its entity id and external id. */
export async function ehrPatient(
  ws: TestWorkspace,
  extra: EventInput[] = [],
  externalId = `ehr:Patient:${unique()}`,
) {
  const entity = { entity_type: "patient", external_id: externalId };
  const body = await ingest(ws, [
    {
      entity,
      event_type: "demographics.recorded",
      data: { given_name: "Ana", family_name: surname(), birth_date: "1980-04-02" },
    },
    ...extra.map((e) => ({ entity, ...e })),
  ]);
  return { entityId: body.results[0]!.entity_id, externalId };
}

export function interaction(
  id: string,
  occurredAt: string,
  options: { channel?: string; direction?: string; topics?: string[]; summary?: string } = {},
): EventInput {
  return {
    event_type: "interaction.recorded",
    data: {
      interaction_id: id,
      channel: options.channel ?? "voice",
      direction: options.direction ?? "inbound",
      occurred_at: occurredAt,
      summary: options.summary ?? "",
      topics: options.topics ?? [],
    },
    effective_at: occurredAt,
  };
}

export async function setTimeZone(workspaceId: string, timezone: string) {
  await db().update(workspaces).set({ timezone }).where(eq(workspaces.id, workspaceId));
}
