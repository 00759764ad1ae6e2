/**
 * Shared by the sandbox suites: a FHIR call that returns what a client sees, a fixed seed so no test
 * depends on today's date, and each file's own port (8110+).
 */
import type { Bundle, Resource } from "@medplum/fhirtypes";
import type { EhrSandbox } from "../../ehr-sandbox/server";

/** A Monday; with 30 days that is 22 weekdays of slots, through Tuesday 2027-01-05. */
export const SLOTS_FROM = "2026-12-07";
export const TEST_SEED = { slotsFrom: SLOTS_FROM, days: 30 };

export const PORTS = {
  seed: 8110,
  writes: 8111,
  auth: 8112,
  subscriptions: 8113,
  /** The test's notification receiver. */
  receiver: 8114,
  authShortLived: 8115,
  /** Nothing listens here: a notification endpoint that always fails. */
  nobody: 8116,
} as const;

export interface FhirResponse<T = Resource> {
  status: number;
  headers: Headers;
  body: T;
}

/** Calls the sandbox's FHIR API (relative paths) or any absolute URL, with the static token by default. */
export async function fhir<T = Resource>(
  sandbox: EhrSandbox,
  method: string,
  path: string,
  options: { body?: unknown; token?: string | null; headers?: Record<string, string> } = {},
): Promise<FhirResponse<T>> {
  const token = options.token === undefined ? sandbox.staticToken : options.token;
  const headers: Record<string, string> = { Accept: "application/fhir+json", ...options.headers };
  if (token) headers.Authorization = `Bearer ${token}`;
  if (options.body !== undefined) headers["Content-Type"] ??= "application/fhir+json";
  const url = path.startsWith("http") ? path : `${sandbox.fhirBaseUrl}/${path.replace(/^\//, "")}`;
  const res = await fetch(url, {
    method,
    headers,
    body: options.body === undefined ? undefined : JSON.stringify(options.body),
  });
  const text = await res.text();
  return { status: res.status, headers: res.headers, body: (text ? JSON.parse(text) : undefined) as T };
}

/** Follows `next` links from `path`, returning every page's resources in order and the page count. */
export async function walk<T extends Resource>(
  sandbox: EhrSandbox,
  path: string,
): Promise<{ resources: T[]; pages: number }> {
  const resources: T[] = [];
  let pages = 0;
  let next: string | undefined = path;
  while (next) {
    // A next link that never ends (a cursor ignored) should fail the test, not hang it.
    if (pages === 500) throw new Error(`More than 500 pages from ${path}`);
    const page: FhirResponse<Bundle<T>> = await fhir<Bundle<T>>(sandbox, "GET", next);
    if (page.status !== 200) throw new Error(`GET ${next}: ${page.status} ${JSON.stringify(page.body)}`);
    pages++;
    resources.push(...(page.body.entry ?? []).map((e) => e.resource!));
    next = page.body.link?.find((l) => l.relation === "next")?.url;
  }
  return { resources, pages };
}

/** The error texts of an OperationOutcome, for readable assertions. */
export function issues(body: unknown): string[] {
  const outcome = body as { resourceType?: string; issue?: { details?: { text?: string } }[] };
  if (outcome?.resourceType !== "OperationOutcome")
    return [`not an OperationOutcome: ${JSON.stringify(body)}`];
  return (outcome.issue ?? []).map((i) => i.details?.text ?? "");
}
