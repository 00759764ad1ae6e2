/**
 * R4 rest-hook Subscriptions. A client creates a Subscription with `status: "requested"`, a search
 * `criteria` (`Appointment?practitioner=Practitioner/dr-okafor`) and a `rest-hook` channel; the sandbox
 * checks it and makes it `active`. After every create or update whose new version matches the criteria
 * it POSTs to `channel.endpoint`, sending each `channel.header` line as a header: with the resource as
 * the body when `channel.payload` names a JSON type, else an empty body (a ping: the receiver reads the
 * resource itself). Deletes notify nobody (R4 matches criteria against the new version, and a deleted
 * resource has none).
 *
 * Deliveries to one subscription go out in commit order. A failed one is retried after each of the
 * configured delays; when all fail, `Subscription.error` records why and the subscription stays active,
 * so a receiver that restarts does not lose later notifications.
 */
import {
  badRequest,
  matchesSearchRequest,
  OperationOutcomeError,
  Operator,
  parseSearchRequest,
  type WithId,
} from "@medplum/core";
import type { Resource, Subscription } from "@medplum/fhirtypes";
import { checkSearchParameters, isSupportedType } from "./definitions";
import type { SandboxRepository } from "./repository";

const JSON_PAYLOADS = new Set(["application/fhir+json", "application/json"]);
const HEADER_LINE = /^[A-Za-z0-9!#$%&'*+.^_`|~-]+:.*$/;

const invalid = (text: string, expression: string) => new OperationOutcomeError(badRequest(text, expression));

/**
 * Checks a Subscription about to be stored and activates a requested one. Throws a 400 for what the
 * sandbox cannot honour: another channel type, a non-HTTP endpoint, an XML payload, unknown criteria.
 */
export function prepareSubscription(subscription: Subscription): Subscription {
  const { channel, criteria } = subscription;
  if (channel?.type !== "rest-hook")
    throw invalid("Only rest-hook channels are supported", "Subscription.channel.type");
  let endpoint: URL | undefined;
  try {
    endpoint = channel.endpoint ? new URL(channel.endpoint) : undefined;
  } catch {
    endpoint = undefined;
  }
  if (!endpoint || (endpoint.protocol !== "http:" && endpoint.protocol !== "https:"))
    throw invalid("channel.endpoint must be an http(s) URL", "Subscription.channel.endpoint");
  if (channel.payload && !JSON_PAYLOADS.has(channel.payload))
    throw invalid("channel.payload must be application/fhir+json or absent", "Subscription.channel.payload");
  for (const line of channel.header ?? [])
    if (!HEADER_LINE.test(line))
      throw invalid(`Not an HTTP header line: ${line.split(":")[0]}`, "Subscription.channel.header");
  if (!criteria) throw invalid("criteria is required", "Subscription.criteria");
  const search = parseSearchRequest(criteria);
  if (!isSupportedType(search.resourceType))
    throw invalid(`criteria must search a supported resource type`, "Subscription.criteria");
  checkSearchParameters(search);
  return subscription.status === "requested" ? { ...subscription, status: "active" } : subscription;
}

export interface SubscriptionNotifierOptions {
  /** Waits before each retry of a failed delivery; its length is the number of retries. */
  retryDelaysMs?: number[];
  /** Gives up on one delivery attempt after this long. */
  timeoutMs?: number;
}

/** Watches the repository and delivers notifications for its active Subscriptions. */
export class SubscriptionNotifier {
  readonly #repo: SandboxRepository;
  readonly #retryDelaysMs: number[];
  readonly #timeoutMs: number;
  readonly #stopping = new AbortController();
  /** One chain per subscription keeps its deliveries in order; `#matching` orders the lookups. */
  readonly #deliveries = new Map<string, Promise<void>>();
  #matching: Promise<void> = Promise.resolve();
  readonly #unsubscribe: () => void;

  constructor(repo: SandboxRepository, options: SubscriptionNotifierOptions = {}) {
    this.#repo = repo;
    this.#retryDelaysMs = options.retryDelaysMs ?? [250, 1000, 4000];
    this.#timeoutMs = options.timeoutMs ?? 5000;
    this.#unsubscribe = repo.onChange((resource, interaction) => {
      if (interaction === "delete" || resource.resourceType === "Subscription") return;
      this.#matching = this.#matching.then(() => this.#dispatch(resource)).catch(() => undefined);
    });
  }

  /** Stops watching, abandons retries, and waits for deliveries in flight to settle. */
  async stop(): Promise<void> {
    this.#unsubscribe();
    this.#stopping.abort();
    await this.#matching;
    await Promise.allSettled(this.#deliveries.values());
  }

  async #dispatch(resource: WithId<Resource>): Promise<void> {
    const active = await this.#repo.searchResources<Subscription>({
      resourceType: "Subscription",
      filters: [{ code: "status", operator: Operator.EQUALS, value: "active" }],
      count: 1000,
    });
    const now = Date.now();
    for (const subscription of active) {
      if (subscription.end && Date.parse(subscription.end) < now) continue;
      const criteria = parseSearchRequest(subscription.criteria);
      if (criteria.resourceType !== resource.resourceType || !matchesSearchRequest(resource, criteria))
        continue;
      const previous = this.#deliveries.get(subscription.id) ?? Promise.resolve();
      const next = previous.then(() => this.#deliver(subscription, resource));
      this.#deliveries.set(subscription.id, next);
    }
  }

  async #deliver(subscription: WithId<Subscription>, resource: WithId<Resource>): Promise<void> {
    const headers = new Headers();
    for (const line of subscription.channel.header ?? []) {
      const colon = line.indexOf(":");
      headers.append(line.slice(0, colon).trim(), line.slice(colon + 1).trim());
    }
    const { payload } = subscription.channel;
    if (payload) headers.set("Content-Type", payload);
    const body = payload ? JSON.stringify(resource) : undefined;
    let failure = "";
    for (let attempt = 0; attempt <= this.#retryDelaysMs.length; attempt++) {
      if (this.#stopping.signal.aborted) return;
      try {
        const response = await fetch(subscription.channel.endpoint!, {
          method: "POST",
          headers,
          body,
          signal: AbortSignal.any([this.#stopping.signal, AbortSignal.timeout(this.#timeoutMs)]),
        });
        await response.body?.cancel();
        if (response.ok) return;
        failure = `HTTP ${response.status}`;
      } catch (err) {
        if (this.#stopping.signal.aborted) return;
        failure = err instanceof Error ? err.message : String(err);
      }
      const delay = this.#retryDelaysMs[attempt];
      if (delay !== undefined) await sleep(delay, this.#stopping.signal);
    }
    await this.#recordError(subscription.id, `${resource.resourceType}/${resource.id}: ${failure}`);
  }

  async #recordError(id: string, error: string): Promise<void> {
    const current = await this.#repo.readResource<Subscription>("Subscription", id).catch(() => undefined);
    if (current?.status !== "active") return;
    await this.#repo
      .updateResource({ ...current, error: `${new Date().toISOString()} ${error}` })
      .catch(() => undefined);
  }
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal.addEventListener(
      "abort",
      () => {
        clearTimeout(timer);
        resolve();
      },
      { once: true },
    );
  });
}
