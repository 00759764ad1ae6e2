/** The platform's API as the e2e files call it for their setup and checks: as the demo workspace's API key. */
import { expect, inject } from "vitest";

/** Calls the API (`path` from `/v1/...`); expects a 2xx and returns the JSON body (null when empty). */
export async function api<T>(method: string, path: string, body?: unknown): Promise<T> {
  const response = await fetch(`${inject("baseUrl")}${path}`, {
    method,
    headers: {
      Authorization: `Bearer ${inject("demoApiKey")}`,
      ...(body === undefined ? {} : { "Content-Type": "application/json" }),
    },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  expect(response.status, `${method} ${path}: ${text.slice(0, 500)}`).toBeLessThan(300);
  return (text ? JSON.parse(text) : null) as T;
}

/** Asks `check` every half second until it returns something truthy, for up to `seconds` (real queues deliver in seconds, not at once). */
export async function eventually<T>(
  what: string,
  check: () => Promise<T | undefined | null | false>,
  seconds = 60,
): Promise<T> {
  const deadline = Date.now() + seconds * 1000;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
}

/** Six random lowercase letters, to make names that no other run has used. */
export const letters = () =>
  Array.from(crypto.getRandomValues(new Uint8Array(6)), (b) => String.fromCharCode(97 + (b % 26))).join("");
