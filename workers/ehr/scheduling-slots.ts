/**
 * Free slots: the search the agent offers times from (`searchSlots`), the next options when a slot was
 * taken (`slotTaken`), and the EHR's Schedules and capabilities they rest on, cached per isolate.
 *
 * Preferences are read in the clinic's time zone: the workspace's `timezone` unless it is the default
 * `UTC` (which a clinic that never set one has), else the source's business-hours time zone, else
 * America/New_York. Visit types are matched against a Slot's `appointmentType` and `serviceType` (codes
 * or text, case-insensitive); a Slot that names neither accepts any visit type.
 *
 * `Appointment/$find` (IHE ITI-115, Argonaut) answers with proposed Appointments to `$hold`/`$book`
 * rather than Slots, a different booking flow: the server's CapabilityStatement is read once per source
 * and a server offering `$find` but no Slot search is refused with `not_implemented` instead of being
 * half-supported.
 */
import type {
  CapabilityStatement,
  CapabilityStatementRestResourceOperation,
  Schedule,
  Slot,
} from "@medplum/fhirtypes";
import type { z } from "zod";
import { type FreeSlot, SlotSearch } from "../../shared/schemas/scheduling";
import { bucketOf } from "../../shared/world/memory";
import { database } from "../db/client";
import { findWorkspace } from "../db/tenancy";
import { ApiError } from "../errors";
import type { FhirClient } from "./client";
import type { DataSource, FhirBundle } from "./contracts";
import { parse, referenceId, requireSink, resourcesOf } from "./scheduling-support";
import { connect, fhir } from "./upstream";

export const DEFAULT_TIME_ZONE = "America/New_York";
/** A taken slot is answered with this many next free slots of its schedule. */
const NEXT_OPTIONS = 3;
/** Slot searches page by this many when preferences or a visit type filter the answers locally. */
const FILTERED_PAGE_SIZE = 100;
/** Slot and Schedule searches follow at most this many pages. */
const MAX_PAGES = 5;
const SCHEDULE_TTL_MS = 5 * 60_000;
const CAPABILITY_TTL_MS = 60 * 60_000;

export interface SlotTaken {
  ok: false;
  reason: "slot_taken";
  next_options: FreeSlot[];
}

export async function findSlots(env: Env, workspaceId: string, query: SlotSearch): Promise<FreeSlot[]> {
  return (await searchSlots(env, workspaceId, query)).slots;
}

/** `findSlots`, with the clinic time zone the preferences were read in (the API shows it). */
export async function searchSlots(
  env: Env,
  workspaceId: string,
  query: SlotSearch,
): Promise<{ slots: FreeSlot[]; timeZone: string }> {
  const q = parse(SlotSearch, query);
  const sink = await requireSink(env, workspaceId);
  const client = await connect(env, sink);
  await requireSlotSearch(client, sink);
  const [schedules, timeZone] = await Promise.all([
    schedulesFor(client, sink, q),
    clinicTimeZone(env, workspaceId, sink),
  ]);
  const from = new Date(Math.max(Date.parse(q.start_after), Date.now())).toISOString();
  const until = q.end_before ? new Date(q.end_before).toISOString() : undefined;
  if (schedules.length === 0 || (until && until <= from)) return { slots: [], timeZone };

  const wanted = slotFilter(q.preferences ?? {}, q.visit_type, timeZone, until);
  const filtered = Boolean(q.visit_type || q.preferences?.days_of_week || q.preferences?.time_of_day);
  const byId = new Map(schedules.map((s) => [s.id, s]));
  const found: FreeSlot[] = [];
  const first = await fhir(() =>
    client.search("Slot", {
      schedule: schedules.map((s) => `Schedule/${s.id}`).join(","),
      status: "free",
      start: [`ge${from}`, ...(until ? [`lt${until}`] : [])],
      _sort: "start",
      _count: String(filtered ? FILTERED_PAGE_SIZE : q.limit),
    }),
  );
  for await (const bundle of pages(client, first)) {
    for (const slot of resourcesOf<Slot>(bundle, "Slot")) {
      const schedule = byId.get(referenceId(slot.schedule?.reference, "Schedule") ?? "");
      if (!schedule || slot.status !== "free" || !wanted(slot)) continue;
      found.push(freeSlot(slot, schedule));
      if (found.length === q.limit) break;
    }
    if (found.length === q.limit) break;
  }
  return { slots: found, timeZone };
}

/** The answer to a booking whose slot was taken: the next free slots of the same schedule. */
export async function slotTaken(client: FhirClient, source: DataSource, slot: Slot): Promise<SlotTaken> {
  const scheduleId = referenceId(slot.schedule?.reference, "Schedule");
  const schedule = scheduleId ? await scheduleById(client, source, scheduleId) : null;
  if (!schedule || !slot.start) return { ok: false, reason: "slot_taken", next_options: [] };
  const bundle = await fhir(() =>
    client.search("Slot", {
      schedule: `Schedule/${schedule.id}`,
      status: "free",
      start: `gt${new Date(slot.start!).toISOString()}`,
      _sort: "start",
      _count: String(NEXT_OPTIONS),
    }),
  );
  const next = resourcesOf<Slot>(bundle, "Slot")
    .filter((s) => s.status === "free" && s.id !== slot.id)
    .slice(0, NEXT_OPTIONS)
    .map((s) => freeSlot(s, schedule));
  return { ok: false, reason: "slot_taken", next_options: next };
}

/** The clinic's time zone, in which slot preferences are read (see the module header). */
export async function clinicTimeZone(
  env: Env,
  workspaceId: string,
  source: DataSource | null,
): Promise<string> {
  const workspace = await findWorkspace(database(env.DB), workspaceId);
  return resolveClinicTimeZone(workspace?.timezone, source?.businessHours?.timezone);
}

/**
 * The clinic's zone from what is configured: the workspace's own zone unless it was left at the "UTC"
 * default, else the data source's business-hours zone, else DEFAULT_TIME_ZONE.
 */
export function resolveClinicTimeZone(
  workspaceZone: string | null | undefined,
  sourceZone?: string | null,
): string {
  const own = workspaceZone === "UTC" ? undefined : workspaceZone;
  for (const zone of [own, sourceZone]) {
    if (zone && isTimeZone(zone)) return zone;
  }
  return DEFAULT_TIME_ZONE;
}

/** A search's pages, from its first Bundle along the `next` links, at most MAX_PAGES of them. */
async function* pages(client: FhirClient, first: FhirBundle): AsyncGenerator<FhirBundle> {
  let bundle: FhirBundle | null = first;
  for (let page = 1; bundle; page++) {
    yield bundle;
    const next: string | undefined = bundle.link?.find((l) => l.relation === "next")?.url;
    bundle = next && page < MAX_PAGES ? await fhir(() => client.page(next)) : null;
  }
}

function slotFilter(
  preferences: NonNullable<z.output<typeof SlotSearch>["preferences"]>,
  visitType: string | undefined,
  timeZone: string,
  until: string | undefined,
): (slot: Slot) => boolean {
  const days = preferences.days_of_week ? new Set(preferences.days_of_week) : null;
  const timeOfDay =
    preferences.time_of_day && preferences.time_of_day !== "any" ? preferences.time_of_day : null;
  const format = new Intl.DateTimeFormat("en-US", {
    timeZone,
    weekday: "short",
    hour: "numeric",
    hourCycle: "h23",
  });
  return (slot) => {
    if (!slot.start || !slot.end) return false;
    if (until && new Date(slot.end).toISOString() > until) return false;
    if (visitType && !acceptsVisitType(slot, visitType)) return false;
    if (!days && !timeOfDay) return true;
    const parts = format.formatToParts(new Date(slot.start));
    const weekday = ISO_WEEKDAYS[parts.find((p) => p.type === "weekday")?.value ?? ""] ?? 0;
    const hour = Number(parts.find((p) => p.type === "hour")?.value) % 24;
    return (!days || days.has(weekday)) && (!timeOfDay || bucketOf(hour) === timeOfDay);
  };
}

const ISO_WEEKDAYS: Record<string, number> = { Mon: 1, Tue: 2, Wed: 3, Thu: 4, Fri: 5, Sat: 6, Sun: 7 };

function acceptsVisitType(slot: Slot, visitType: string): boolean {
  const concepts = [...(slot.appointmentType ? [slot.appointmentType] : []), ...(slot.serviceType ?? [])];
  if (concepts.length === 0) return true;
  const wanted = visitType.trim().toLowerCase();
  return concepts.some(
    (c) =>
      c.text?.trim().toLowerCase() === wanted ||
      (c.coding ?? []).some(
        (coding) => coding.code?.toLowerCase() === wanted || coding.display?.trim().toLowerCase() === wanted,
      ),
  );
}

function isTimeZone(zone: string): boolean {
  try {
    new Intl.DateTimeFormat("en-US", { timeZone: zone });
    return true;
  } catch {
    return false;
  }
}

function freeSlot(slot: Slot, schedule: ScheduleInfo): FreeSlot {
  return {
    slot_id: slot.id!,
    start: new Date(slot.start).toISOString(),
    end: new Date(slot.end).toISOString(),
    practitioner_id: schedule.practitionerId,
    practitioner_name: schedule.practitionerName,
    location_id: schedule.locationId,
    schedule_id: schedule.id,
  };
}

// ---- the EHR's schedules and capabilities, cached per isolate -------------------------------------------

export interface ScheduleInfo {
  id: string;
  practitionerId: string | null;
  practitionerName: string | null;
  locationId: string | null;
}

class TtlCache<V> {
  readonly #entries = new Map<string, { until: number; value: Promise<V> }>();
  constructor(
    readonly ttlMs: number,
    readonly max = 500,
  ) {}

  /** The cached value, else `load()`'s (shared by concurrent callers; a failure is not kept). */
  get(key: string, load: () => Promise<V>): Promise<V> {
    const hit = this.#entries.get(key);
    if (hit && hit.until > Date.now()) return hit.value;
    if (this.#entries.size >= this.max) this.#entries.delete(this.#entries.keys().next().value!);
    const value = load();
    this.#entries.set(key, { until: Date.now() + this.ttlMs, value });
    value.catch(() => this.#entries.delete(key));
    return value;
  }
}

const scheduleLists = new TtlCache<ScheduleInfo[]>(SCHEDULE_TTL_MS);
const schedulesById = new TtlCache<ScheduleInfo>(SCHEDULE_TTL_MS, 2000);
const capabilities = new TtlCache<{ slotSearch: boolean; findOperation: boolean }>(CAPABILITY_TTL_MS);

/** Cache keys name the source and its base URL, so an edited source does not read another server's. */
const sourceKey = (source: DataSource) => `${source.id}|${source.baseUrl}`;

/** The active Schedules of a practitioner and/or location (`Schedule?actor=...`), or all active ones. */
function schedulesFor(
  client: FhirClient,
  source: DataSource,
  q: { practitioner_id?: string | undefined; location_id?: string | undefined },
): Promise<ScheduleInfo[]> {
  const actor = q.practitioner_id
    ? `Practitioner/${q.practitioner_id}`
    : q.location_id
      ? `Location/${q.location_id}`
      : null;
  return scheduleLists
    .get(`${sourceKey(source)}|${actor ?? "*"}`, async () => {
      const first = await fhir(() =>
        client.search("Schedule", { ...(actor ? { actor } : { active: "true" }), _count: "200" }),
      );
      const found: ScheduleInfo[] = [];
      for await (const bundle of pages(client, first))
        for (const schedule of resourcesOf<Schedule>(bundle, "Schedule"))
          if (schedule.active !== false) found.push(scheduleInfo(schedule));
      for (const info of found) void schedulesById.get(`${sourceKey(source)}|${info.id}`, async () => info);
      return found;
    })
    .then((list) => list.filter((s) => !q.location_id || s.locationId === q.location_id));
}

/** One Schedule, by id (a Slot names its Schedule; the Appointment takes its practitioner and location). */
export function scheduleById(client: FhirClient, source: DataSource, id: string): Promise<ScheduleInfo> {
  return schedulesById.get(`${sourceKey(source)}|${id}`, () =>
    fhir(async () => scheduleInfo((await client.read("Schedule", id)) as unknown as Schedule)),
  );
}

function scheduleInfo(schedule: Schedule): ScheduleInfo {
  const practitioner = schedule.actor.find((a) => referenceId(a.reference, "Practitioner"));
  const location = schedule.actor.find((a) => referenceId(a.reference, "Location"));
  return {
    id: schedule.id!,
    practitionerId: referenceId(practitioner?.reference, "Practitioner"),
    practitionerName: practitioner?.display ?? null,
    locationId: referenceId(location?.reference, "Location"),
  };
}

/**
 * Whether the server offers Slot search, read once per source from `[base]/metadata`. A server that
 * publishes no resource list (or no CapabilityStatement) is tried anyway.
 */
async function requireSlotSearch(client: FhirClient, source: DataSource): Promise<void> {
  const found = await capabilities.get(sourceKey(source), async () => {
    let statement: CapabilityStatement | null = null;
    try {
      const res = await client.request("GET", "metadata");
      if (res.ok) statement = (await res.json()) as CapabilityStatement;
      else await res.body?.cancel();
    } catch {
      // Unknown: assume the plain REST API and let the searches tell.
    }
    const resources = statement?.rest?.flatMap((r) => r.resource ?? []) ?? [];
    if (resources.length === 0) return { slotSearch: true, findOperation: false };
    const slot = resources.find((r) => r.type === "Slot");
    const isFind = (op: CapabilityStatementRestResourceOperation) =>
      op.name === "find" || op.name === "$find" || /appointment-find/i.test(op.definition ?? "");
    return {
      slotSearch: Boolean(slot?.interaction?.some((i) => i.code === "search-type")),
      findOperation:
        resources.some((r) => r.type === "Appointment" && (r.operation ?? []).some(isFind)) ||
        (statement?.rest ?? []).some((r) => (r.operation ?? []).some(isFind)),
    };
  });
  if (found.slotSearch) return;
  throw new ApiError(
    "not_implemented",
    found.findOperation
      ? "This EHR offers scheduling through Appointment/$find (proposed appointments to $hold and $book), which Switchboard does not support yet: it books against Slots"
      : "This EHR does not offer Slot search, which Switchboard's scheduling needs",
  );
}
