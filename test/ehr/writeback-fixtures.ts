/**
 * Writeback fixtures: a writeback sink pointed at the shared FHIR sandbox with a bearer token of its
 * own (registered with the sandbox's fault control, so a test can make exactly its own requests fail
 * and count them), patients ingested the way the EHR connector records them, the `ehr-sync` queue
 * captured instead of delivered, and a consumer that hands captured jobs to the Worker's queue handler
 * as the runtime would, reporting how each message was settled.
 */
import { env } from "cloudflare:workers";
import { eq } from "drizzle-orm";
import { expect, inject, vi } from "vitest";
import { newId } from "../../shared/ids";
import { database } from "../../workers/db/client";
import { syncEvents } from "../../workers/db/schema";
import { sealSecrets } from "../../workers/ehr/sources";
import { handleQueue, type JobEnvelope } from "../../workers/queue";
import { insertDataSource } from "../helpers/data-sources";
import { unique } from "../helpers/workspace";
import type { WorldFixture } from "../world/fixtures";

export const ehr = () => inject("ehrSandbox");

export interface FaultCounters {
  remaining: number;
  /** FHIR requests that carried the token, and how many were failed on purpose. */
  requests: number;
  faulted: number;
}

type FaultStatus = 400 | 409 | 422 | 408 | 429 | 500 | 502 | 503 | 504 | "timeout";

async function faultControl(method: string, path: string, body?: unknown) {
  const res = await fetch(`${ehr().url}${path}`, {
    method,
    headers: { Authorization: `Bearer ${ehr().staticToken}`, "Content-Type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  expect(res.status, await res.clone().text()).toBe(200);
  return (await res.json()) as FaultCounters;
}

/** The next `count` requests with `token` (under `pathPrefix`, if given) fail with `status`. */
export function injectFaults(token: string, status: FaultStatus, count: number, pathPrefix?: string) {
  return faultControl("POST", "/_sandbox/faults", {
    token,
    status,
    count,
    ...(pathPrefix ? { path_prefix: pathPrefix } : {}),
  });
}

export const faultCounters = (token: string) => faultControl("GET", `/_sandbox/faults/${token}`);

export interface Sink {
  id: string;
  token: string;
}

/**
 * The workspace's writeback sink: a `fhir_store` on the sandbox, source system `ehr`, with a static
 * bearer token registered (no faults yet) for this sink alone.
 */
export async function insertSink(workspaceId: string, options: { writeback?: boolean } = {}): Promise<Sink> {
  const token = `sink-${unique()}-${unique()}`;
  await injectFaults(token, 500, 0);
  const id = newId("ds");
  await insertDataSource(workspaceId, {
    id,
    baseUrl: ehr().fhirBaseUrl,
    auth: { type: "static_bearer" },
    secretsEnc: await sealSecrets(env, workspaceId, id, { bearer_token: token }),
    writeback: options.writeback ?? true,
  });
  return { id, token };
}

/** A patient as the EHR connector records one: events at confidence 1.0 naming `Patient/<fhirId>`. */
export async function ehrPatient(f: WorldFixture, fhirId: string, given = "Ava"): Promise<string> {
  const res = await f.call("operator", "POST", "/world/events", {
    events: [
      {
        idempotency_key: `ehr:Patient:${fhirId}:1:demographics`,
        entity: { entity_type: "patient", external_id: `ehr:Patient:${fhirId}` },
        event_type: "demographics.recorded",
        data: {
          given_name: given,
          family_name: `Walker${unique().replace(/\d/g, "")}`,
          birth_date: "1985-10-05",
        },
        source: "ehr",
        source_system: "ehr",
        fhir_resource_type: "Patient",
        fhir_resource_id: fhirId,
      },
    ],
  });
  expect(res.status, res.text).toBe(200);
  return res.body.results[0].entity_id;
}

/** Every `ehr-sync` message sent while it is installed, kept instead of delivered. */
export function captureSyncQueue() {
  const sent: JobEnvelope[] = [];
  const spy = vi.spyOn(env.EHR_SYNC_QUEUE, "send").mockImplementation(async (body) => {
    sent.push(body as JobEnvelope);
    return undefined as never;
  });
  return {
    sent,
    of: (workspaceId: string) => sent.filter((m) => m.workspace_id === workspaceId),
    /** Waits for the workspace's messages to number `n` (the trigger after a commit runs in the background). */
    async await(workspaceId: string, n: number): Promise<JobEnvelope[]> {
      await vi.waitFor(() => expect(sent.filter((m) => m.workspace_id === workspaceId)).toHaveLength(n), {
        timeout: 5000,
      });
      return sent.filter((m) => m.workspace_id === workspaceId);
    },
    restore: () => spy.mockRestore(),
  };
}

export type Settled = { ack: true } | { retry: true; delaySeconds: number | undefined };

let messageCounter = 0;

/** Delivers `jobs` in one `ehr-sync` batch at delivery number `attempts`; returns how each was settled. */
export async function deliver(jobs: JobEnvelope[], attempts = 1): Promise<Settled[]> {
  const settled = new Map<string, Settled>();
  const messages = jobs.map((body) => {
    const id = `msg-${++messageCounter}`;
    const settle = (outcome: Settled) => {
      expect(settled.has(id), `${id} settled twice`).toBe(false);
      settled.set(id, outcome);
    };
    return {
      id,
      attempts,
      body,
      timestamp: new Date(),
      ack: () => settle({ ack: true }),
      retry: (options?: QueueRetryOptions) => settle({ retry: true, delaySeconds: options?.delaySeconds }),
    };
  });
  const batch = {
    queue: "ehr-sync",
    messages,
    ackAll: () => expect.fail("the consumer settles messages one by one"),
    retryAll: () => expect.fail("the consumer settles messages one by one"),
  } as unknown as MessageBatch<unknown>;
  await handleQueue(batch, env);
  return messages.map((m) => {
    const outcome = settled.get(m.id);
    expect(outcome, `${m.id} never settled`).toBeDefined();
    return outcome!;
  });
}

export function syncRows(workspaceId: string) {
  return database(env.DB).select().from(syncEvents).where(eq(syncEvents.workspaceId, workspaceId));
}

/** A FHIR call to the sandbox with its static token. */
export async function sandboxFhir<T = Record<string, unknown>>(
  method: string,
  path: string,
  body?: unknown,
): Promise<{ status: number; body: T }> {
  const res = await fetch(`${ehr().fhirBaseUrl}/${path}`, {
    method,
    headers: {
      Authorization: `Bearer ${ehr().staticToken}`,
      Accept: "application/fhir+json",
      ...(body === undefined ? {} : { "Content-Type": "application/fhir+json" }),
    },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, body: (text ? JSON.parse(text) : null) as T };
}

/** How many resources of `type` carry this sync event's identifier in the EHR. */
export async function countBySyncId(type: string, syncEventId: string): Promise<number> {
  const res = await sandboxFhir<{ total: number }>(
    "GET",
    `${type}?identifier=https://switchboard.health/sync|${syncEventId}&_summary=count`,
  );
  expect(res.status).toBe(200);
  return res.body.total;
}
