/**
 * The sandbox's FHIR store: Medplum's `MemoryRepository`, with what an EHR does and the in-memory store
 * leaves to its server: writes are validated and serialized, versions count up ("1", "2", ...),
 * `meta.lastUpdated` strictly increases (so `_lastUpdated=gt<last seen>` never misses a write),
 * searches page with `next` links, and booking an Appointment takes its Slots.
 *
 * Paging: results sorted by `_lastUpdated` (the default) page by keyset, a `_cursor` holding the last
 * entry's (lastUpdated, id), so a resource updated while a client walks the pages moves to the end
 * instead of shifting every later entry back one, as an offset would. Other sorts page by `_offset`.
 */
import { AsyncLocalStorage } from "node:async_hooks";
import { randomUUID } from "node:crypto";
import {
  allOk,
  badRequest,
  conflict,
  created,
  evalFhirPath,
  formatSearchQuery,
  globalSchema,
  multipleMatches,
  notFound,
  OperationOutcomeError,
  Operator,
  preconditionFailed,
  type SearchRequest,
  type WithId,
} from "@medplum/core";
import {
  type CreateResourceOptions,
  type DeleteResourceOptions,
  getExtraEntries,
  MemoryRepository,
  type UpdateResourceOptions,
} from "@medplum/fhir-router";
import type {
  Appointment,
  Bundle,
  BundleEntry,
  BundleLink,
  OperationOutcome,
  Resource,
  Slot,
} from "@medplum/fhirtypes";
import { checkSearchParameters, isSupportedType, validateFhirResource } from "./definitions";
import { prepareSubscription } from "./subscriptions";

export const DEFAULT_PAGE_SIZE = 20;
export const MAX_PAGE_SIZE = 1000;

/** Appointment statuses that occupy their slots; the rest (proposed, cancelled, noshow, ...) leave them free. */
const HOLDS_SLOTS = new Set<Appointment["status"]>([
  "pending",
  "booked",
  "arrived",
  "checked-in",
  "fulfilled",
]);

export type Interaction = "create" | "update" | "delete";
export type ChangeListener = (resource: WithId<Resource>, interaction: Interaction) => void;
type PatchOperations = Parameters<MemoryRepository["patchResource"]>[2];

export class SandboxRepository extends MemoryRepository {
  /** Where search links point; set by the server once it listens. */
  fhirBaseUrl = "";
  #writes: Promise<unknown> = Promise.resolve();
  readonly #inWrite = new AsyncLocalStorage<true>();
  readonly #listeners = new Set<ChangeListener>();
  #clock = 0;
  #seeding = false;

  /** Calls `listener` after every stored change, in commit order. Returns the unsubscribe function. */
  onChange(listener: ChangeListener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /**
   * Stores `resources` with their own ids, stamped just before now. Trusted input: the seed is built by
   * code (and a test validates all of it), so it skips validation, which would double the start time.
   */
  seed(resources: Resource[]): Promise<void> {
    return this.#exclusive(async () => {
      this.#clock = Math.max(this.#clock, Date.now() - resources.length - 1);
      this.#seeding = true;
      try {
        for (const resource of resources) {
          const id = resource.id ?? randomUUID();
          if (await this.#current(resource.resourceType, id))
            throw new Error(`Seed: ${resource.resourceType}/${id} appears twice`);
          await this.#store(resource, id, undefined, { validate: false });
        }
      } finally {
        this.#seeding = false;
      }
    });
  }

  override createResource<T extends Resource>(
    resource: T,
    options?: CreateResourceOptions,
    update = false,
  ): Promise<WithId<T>> {
    return this.#exclusive(async () => {
      const keepId = Boolean(options?.assignedId || update) && resource.id !== undefined;
      const id = keepId ? resource.id! : randomUUID();
      const previous = await this.#current<T>(resource.resourceType, id);
      if (previous && !update)
        throw new OperationOutcomeError(badRequest(`${resource.resourceType}/${id} already exists`));
      return this.#store(resource, id, previous);
    });
  }

  override updateResource<T extends Resource>(
    resource: T,
    options?: UpdateResourceOptions,
  ): Promise<WithId<T>> {
    return this.#exclusive(async () => {
      if (!resource.id)
        throw new OperationOutcomeError(badRequest("Missing id", `${resource.resourceType}.id`));
      const previous = await this.#current<T>(resource.resourceType, resource.id);
      if (options?.ifMatch !== undefined) {
        if (!previous) throw new OperationOutcomeError(notFound);
        if (previous.meta?.versionId !== options.ifMatch) throw new OperationOutcomeError(preconditionFailed);
      }
      return this.#store(resource, resource.id, previous);
    });
  }

  override patchResource<T extends Resource>(
    resourceType: T["resourceType"],
    id: string,
    patch: PatchOperations,
    options?: UpdateResourceOptions,
  ): Promise<WithId<T>> {
    // Read, patch and write as one step; the inner updateResource re-enters the same write slot.
    return this.#exclusive(() => super.patchResource<T>(resourceType, id, patch, options));
  }

  override deleteResource(resourceType: string, id: string, options?: DeleteResourceOptions): Promise<void> {
    return this.#exclusive(async () => {
      const previous = await this.#current(resourceType, id);
      await super.deleteResource(resourceType, id, options);
      if (previous?.resourceType === "Appointment") await this.#releaseSlots(slotsHeldBy(previous));
      if (previous) this.#emit(previous, "delete");
    });
  }

  override conditionalCreate<T extends Resource>(
    resource: T,
    search: SearchRequest<T>,
    options?: CreateResourceOptions,
  ): Promise<{ resource: WithId<T>; outcome: OperationOutcome }> {
    return this.#exclusive(async () => {
      if (search.resourceType !== resource.resourceType)
        throw new OperationOutcomeError(badRequest("If-None-Exist must search the resource's own type"));
      const matches = await this.searchResources<T>({ ...search, count: 2, offset: 0, sortRules: undefined });
      if (matches.length > 1) throw new OperationOutcomeError(multipleMatches);
      if (matches[0]) return { resource: matches[0], outcome: allOk };
      const stored = await this.createResource(resource, options);
      return { resource: stored, outcome: created };
    });
  }

  /** Conditional update (`PUT Type?search`) runs its search and write without another write between. */
  override withTransaction<TResult>(callback: (repo: this) => Promise<TResult>): Promise<TResult> {
    return this.#exclusive(() => callback(this));
  }

  override async search<T extends Resource>(request: SearchRequest<T>): Promise<Bundle<WithId<T>>> {
    const { resourceType } = request;
    if (!isSupportedType(resourceType))
      throw new OperationOutcomeError(
        badRequest(`Resource type ${resourceType} is not supported by the sandbox`),
      );
    checkSearchParameters(request);
    const count = request.count ?? DEFAULT_PAGE_SIZE;
    if (!Number.isInteger(count) || count < 0 || count > MAX_PAGE_SIZE)
      throw new OperationOutcomeError(badRequest(`_count must be an integer from 0 to ${MAX_PAGE_SIZE}`));
    const offset = request.offset ?? 0;
    if (!Number.isInteger(offset) || offset < 0)
      throw new OperationOutcomeError(badRequest("_offset must be a non-negative integer"));

    const everything = await super.search<T>({ resourceType, filters: request.filters });
    const matches = (everything.entry ?? []).map((e) => e.resource!);
    const rules = request.sortRules ?? [];
    const keyset = rules.length === 0 || (rules.length === 1 && rules[0]!.code === "_lastUpdated");
    let page: WithId<T>[];
    let next: SearchRequest<T> | undefined;
    if (keyset) {
      const direction = rules[0]?.descending ? -1 : 1;
      matches.sort((a, b) => direction * compareKeys(updateKey(a), updateKey(b)));
      const after = request.cursor ? decodeCursor(request.cursor) : undefined;
      const rest = (
        after ? matches.filter((r) => direction * compareKeys(updateKey(r), after) > 0) : matches
      ).slice(offset);
      page = rest.slice(0, count);
      const last = page.at(-1);
      if (rest.length > count && last)
        next = { ...request, cursor: encodeCursor(updateKey(last)), offset: undefined, count };
    } else {
      matches.sort((a, b) => compareBySortRules(a, b, request));
      page = matches.slice(offset, offset + count);
      if (matches.length > offset + count) next = { ...request, offset: offset + count, count };
    }

    const entries: BundleEntry[] = page.map((resource) => ({
      fullUrl: `${this.fhirBaseUrl}/${resourceType}/${resource.id}`,
      resource,
      search: { mode: "match" },
    }));
    if (request.include || request.revInclude) await getExtraEntries(this, request, page, entries);
    const link: BundleLink[] = [{ relation: "self", url: this.#searchUrl(request) }];
    if (next) link.push({ relation: "next", url: this.#searchUrl(next) });
    return {
      resourceType: "Bundle",
      type: "searchset",
      total: matches.length,
      link,
      ...(entries.length > 0 ? { entry: entries as BundleEntry<WithId<T>>[] } : {}),
    };
  }

  #searchUrl(request: SearchRequest): string {
    return `${this.fhirBaseUrl}/${request.resourceType}${formatSearchQuery(request)}`;
  }

  /**
   * Runs `write` after every earlier write has finished; a write started inside one runs at once. Today
   * every await in a write settles without I/O, so writes could not interleave anyway; this keeps
   * check-then-write steps (slot booking, If-Match, If-None-Exist) atomic if one ever awaits I/O.
   */
  #exclusive<T>(write: () => Promise<T>): Promise<T> {
    if (this.#inWrite.getStore()) return write();
    const run = this.#writes.then(() => this.#inWrite.run(true, write));
    this.#writes = run.catch(() => undefined);
    return run;
  }

  async #current<T extends Resource>(resourceType: string, id: string): Promise<WithId<T> | undefined> {
    try {
      return (await super.readResource(resourceType, id)) as WithId<T>;
    } catch {
      return undefined;
    }
  }

  /** The one place a version is written: validate, stamp, book, store, notify. Runs inside a write. */
  async #store<T extends Resource>(
    input: T,
    id: string,
    previous: WithId<T> | undefined,
    { validate } = { validate: true },
  ): Promise<WithId<T>> {
    if (!isSupportedType(input.resourceType))
      throw new OperationOutcomeError(
        badRequest(`Resource type ${input.resourceType} is not supported by the sandbox`),
      );
    const version = Number(previous?.meta?.versionId ?? 0);
    let resource = {
      ...input,
      id,
      meta: {
        ...input.meta,
        versionId: String(Number.isInteger(version) ? version + 1 : 1),
        lastUpdated: this.#tick(),
      },
    } as WithId<T>;
    if (resource.resourceType === "Subscription")
      resource = prepareSubscription(resource) as unknown as WithId<T>;
    if (validate) validateFhirResource(resource);

    let taken: Slot[] = [];
    let released: string[] = [];
    if (resource.resourceType === "Appointment") {
      const before = slotsHeldBy(previous as Appointment | undefined);
      const after = slotsHeldBy(resource);
      taken = await this.#slotsToTake(
        resource,
        after.filter((ref) => !before.includes(ref)),
      );
      released = before.filter((ref) => !after.includes(ref));
    }
    const stored = await this.withSeeding(() => super.createResource(resource, undefined, true));
    for (const slot of taken) await this.#store({ ...slot, status: "busy" }, slot.id!, slot as WithId<Slot>);
    await this.#releaseSlots(released);
    this.#emit(stored, previous ? "update" : "create");
    return stored;
  }

  /** The Slots an Appointment newly holds, refusing (409) any that another appointment already holds. */
  async #slotsToTake(appointment: Appointment, references: string[]): Promise<Slot[]> {
    const slots: Slot[] = [];
    for (const reference of references) {
      const [type, id] = reference.split("/").slice(-2);
      const expression = `Appointment.slot[${appointment.slot?.findIndex((s) => s.reference === reference)}]`;
      const slot = type === "Slot" && id ? await this.#current<Slot>("Slot", id) : undefined;
      if (!slot) throw new OperationOutcomeError(badRequest(`${reference} is not a Slot here`, expression));
      if (slot.status !== "free")
        throw new OperationOutcomeError(conflict(`Slot/${slot.id} is ${slot.status}: pick another slot`));
      const { start, end } = appointment;
      if (
        start &&
        end &&
        (Date.parse(slot.start) < Date.parse(start) || Date.parse(slot.end) > Date.parse(end))
      )
        throw new OperationOutcomeError(
          badRequest(
            `Slot/${slot.id} (${slot.start} to ${slot.end}) lies outside the appointment's time`,
            expression,
          ),
        );
      slots.push(slot);
    }
    return slots;
  }

  /** Frees Slots an appointment let go of, unless another appointment still holds them. */
  async #releaseSlots(references: string[]): Promise<void> {
    for (const reference of references) {
      const slot = await this.#current<Slot>("Slot", reference.split("/").pop()!);
      if (slot?.status !== "busy") continue;
      const holders = await this.searchResources<Appointment>({
        resourceType: "Appointment",
        filters: [{ code: "slot", operator: Operator.EQUALS, value: `Slot/${slot.id}` }],
        count: MAX_PAGE_SIZE,
      });
      if (holders.some((a) => slotsHeldBy(a).includes(`Slot/${slot.id}`))) continue;
      await this.#store({ ...slot, status: "free" }, slot.id, slot);
    }
  }

  #emit(resource: WithId<Resource>, interaction: Interaction): void {
    for (const listener of this.#listeners) listener(resource, interaction);
  }

  /** Milliseconds that never repeat or go back, so `_lastUpdated` orders every write. */
  #tick(): string {
    // The seed takes one millisecond each, ending before now, however fast it is stored.
    this.#clock = this.#seeding ? this.#clock + 1 : Math.max(Date.now(), this.#clock + 1);
    return new Date(this.#clock).toISOString();
  }
}

/** The Slot references an appointment occupies: none unless its status holds slots. */
function slotsHeldBy(appointment: Appointment | undefined): string[] {
  if (!appointment || !HOLDS_SLOTS.has(appointment.status)) return [];
  return [...new Set((appointment.slot ?? []).flatMap((s) => (s.reference ? [s.reference] : [])))];
}

type UpdateKey = readonly [lastUpdated: string, id: string];

const updateKey = (resource: WithId<Resource>): UpdateKey => [resource.meta?.lastUpdated ?? "", resource.id];

function compareKeys(a: UpdateKey, b: UpdateKey): number {
  if (a[0] !== b[0]) return a[0] < b[0] ? -1 : 1;
  return a[1] < b[1] ? -1 : a[1] > b[1] ? 1 : 0;
}

const encodeCursor = (key: UpdateKey) => Buffer.from(JSON.stringify(key)).toString("base64url");

function decodeCursor(cursor: string): UpdateKey {
  try {
    const key: unknown = JSON.parse(Buffer.from(cursor, "base64url").toString("utf8"));
    if (Array.isArray(key) && key.length === 2 && key.every((part) => typeof part === "string"))
      return [key[0] as string, key[1] as string];
  } catch {
    // falls through to the error below
  }
  throw new OperationOutcomeError(badRequest("Invalid _cursor: follow the Bundle's next link as given"));
}

/** Sorts by each rule in turn (missing values last), then by (lastUpdated, id) so pages are stable. */
function compareBySortRules(a: WithId<Resource>, b: WithId<Resource>, request: SearchRequest): number {
  const params = globalSchema.types[request.resourceType]?.searchParams ?? {};
  for (const rule of request.sortRules ?? []) {
    const expression = params[rule.code]?.expression;
    if (!expression) continue;
    const [x, y] = [sortValue(evalFhirPath(expression, a)), sortValue(evalFhirPath(expression, b))];
    if (x === y) continue;
    if (x === undefined) return 1;
    if (y === undefined) return -1;
    return (x < y ? -1 : 1) * (rule.descending ? -1 : 1);
  }
  return compareKeys(updateKey(a), updateKey(b));
}

function sortValue(values: unknown[]): string | undefined {
  const [first] = values;
  if (first === undefined || first === null) return undefined;
  return typeof first === "string" ? first : JSON.stringify(first);
}
