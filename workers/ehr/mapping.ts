/**
 * A validated FHIR R4 resource from an EHR → world events, at confidence 1.0 with `fhir_resource_type/id`.
 *
 * People, places and times are entities of their own (`ehr:Patient:demo-001`, `ehr:Slot:...`); clinical
 * facts (Coverage, AllergyIntolerance, MedicationStatement, Condition) are events on the patient they
 * name, carrying their own resource type and id. Idempotency keys are derived from the source, the
 * resource and its version (`versionKey`), so a version delivered twice (a poll overlapping a
 * notification) stores nothing new, and a new version is recorded again.
 *
 * Only what the world model's event schemas can hold is taken; anything mapped is checked against
 * `IngestEvent` and the event type's schema before it is returned, so a mapping result is ingestible as
 * a whole or not at all. Reasons name fields, never values.
 */
import { createHash } from "node:crypto";
import type {
  Address,
  AllergyIntolerance,
  Appointment,
  CodeableConcept,
  Condition,
  ContactPoint,
  Coverage,
  HumanName,
  Identifier,
  Location,
  Medication,
  MedicationStatement,
  Patient,
  Practitioner,
  Reference,
  Schedule,
  Slot,
} from "@medplum/fhirtypes";
import { z } from "zod";
import { ExternalId, IngestEvent } from "../../shared/schemas/world";
import { normalizeE164 } from "../../shared/tenancy/phone";
import { type EntityType, type EventType, parseEventData } from "../../shared/world/events";
import type { DataSource, FhirResource } from "./contracts";

export type MappingResult =
  | { ok: true; events: IngestEvent[] }
  /** `skipped`: nothing Switchboard models (a type, or a resource about no patient); else unmappable content. */
  | { ok: false; skipped: boolean; reason: string };

type MappingSource = Pick<DataSource, "id" | "sourceSystem">;

const V2_0203 = "http://terminology.hl7.org/CodeSystem/v2-0203";
const NPI_SYSTEM = "http://hl7.org/fhir/sid/us-npi";
const BCP47 = "urn:ietf:bcp:47";
const SNOMED = "http://snomed.info/sct";

/** SNOMED CT codes of "no known allergy" records: an absence, not an allergy to a substance. */
const NO_KNOWN_ALLERGY = new Set(["716186003", "409137002", "428607008", "429625007", "428197003"]);

const MAX_IDEMPOTENCY_KEY = 200;

/**
 * The version of a resource as the source knows it: `meta.versionId`, else `meta.lastUpdated`, else a
 * SHA-256 of its canonical JSON (keys sorted), so an unversioned resource changes key only when its
 * content does.
 */
export function versionKey(resource: FhirResource): string {
  if (typeof resource.meta?.versionId === "string" && resource.meta.versionId) return resource.meta.versionId;
  if (typeof resource.meta?.lastUpdated === "string" && resource.meta.lastUpdated)
    return resource.meta.lastUpdated;
  return sha256(canonicalJson(resource));
}

/** Turns one validated resource into the world events it implies. */
export function resourceToEvents(resource: FhirResource, source: MappingSource): MappingResult {
  const mapper = MAPPERS[resource.resourceType];
  if (!mapper) return skip(`${resource.resourceType} is not a type Switchboard models`);
  if (typeof resource.id !== "string" || !resource.id)
    return invalid(`${resource.resourceType} has no id to name its entity by`);
  if (!ExternalId.safeParse(`${source.sourceSystem}:${resource.resourceType}:${resource.id}`).success)
    return invalid("the source system or resource id does not form a valid external id");
  const context = new MappingContext(resource, source);
  const outcome = mapper(resource, context);
  if (outcome) return outcome;
  if (context.events.length === 0)
    return skip(`nothing in this ${resource.resourceType} that Switchboard models`);
  for (const event of context.events) {
    const parsed = IngestEvent.safeParse(event);
    const data = parseEventData(event.event_type, event.entity!.entity_type, event.data);
    if (!parsed.success || !data.ok) {
      const paths = parsed.success
        ? (data as { issues: { path: string }[] }).issues.map((i) => i.path)
        : parsed.error.issues.map((i) => i.path.join("."));
      return invalid(`mapped ${event.event_type} does not fit the world schema (${paths.join(", ")})`);
    }
  }
  return { ok: true, events: context.events };
}

const skip = (reason: string): MappingResult => ({ ok: false, skipped: true, reason });
const invalid = (reason: string): MappingResult => ({ ok: false, skipped: false, reason });

/** What every event of one resource shares: its source, version, effective time and FHIR identity. */
class MappingContext {
  readonly events: IngestEvent[] = [];
  readonly #resource: FhirResource;
  readonly #source: MappingSource;
  readonly #keyBase: string;
  readonly #effectiveAt: string | undefined;

  constructor(resource: FhirResource, source: MappingSource) {
    this.#resource = resource;
    this.#source = source;
    this.#keyBase = `fhir:${source.id}:${resource.resourceType}/${resource.id}:${versionKey(resource)}`;
    this.#effectiveAt = instant(resource.meta?.lastUpdated);
  }

  get sourceSystem(): string {
    return this.#source.sourceSystem;
  }

  /** `ehr:Patient:demo-001`: the external id of a resource of this source. */
  externalId(type: string, id: string): string {
    return `${this.#source.sourceSystem}:${type}:${id}`;
  }

  /** Records an event about `entity`; `part` tells this resource version's events apart in their keys. */
  add(
    part: string,
    eventType: EventType,
    data: Record<string, unknown>,
    entity: { entity_type: EntityType; external_id: string },
  ): void {
    this.events.push({
      idempotency_key: this.#key(part),
      entity,
      event_type: eventType,
      data: withoutUndefined(data),
      confidence: 1,
      source: "ehr",
      source_system: this.#source.sourceSystem,
      ...(this.#effectiveAt ? { effective_at: this.#effectiveAt } : {}),
      fhir_resource_type: this.#resource.resourceType,
      fhir_resource_id: this.#resource.id,
    });
  }

  /** The resource's own entity. */
  self(entityType: EntityType) {
    return {
      entity_type: entityType,
      external_id: this.externalId(this.#resource.resourceType, this.#resource.id!),
    };
  }

  #key(part: string): string {
    const key = `${this.#keyBase}:${part}`;
    return key.length <= MAX_IDEMPOTENCY_KEY ? key : `fhir:${this.#source.id}:${sha256(key)}`;
  }
}

type Mapper = (resource: FhirResource, context: MappingContext) => MappingResult | undefined;

const MAPPERS: Record<string, Mapper> = {
  Patient: (resource, context) => {
    const patient = resource as unknown as Patient;
    const self = context.self("patient");
    const demographics = {
      ...nameFields(patient.name),
      birth_date: fullDate(patient.birthDate),
      gender: patient.gender,
      language: preferredLanguage(
        patient.communication?.map((c) => ({ ...c.language, preferred: c.preferred })),
      ),
    };
    if (hasAny(demographics)) context.add("demographics", "demographics.recorded", demographics, self);
    const contact = contactFields(patient.telecom, patient.address);
    if (hasAny(contact)) context.add("contact", "contact.recorded", contact, self);
    addIdentifiers(context, "Patient", patient.id!, patient.identifier, self);
    return undefined;
  },

  Practitioner: (resource, context) => {
    const practitioner = resource as unknown as Practitioner;
    const self = context.self("practitioner");
    const name = pickName(practitioner.name);
    const demographics = {
      ...nameFields(practitioner.name),
      birth_date: fullDate(practitioner.birthDate),
      gender: practitioner.gender,
      language: preferredLanguage(practitioner.communication),
    };
    if (hasAny(demographics)) context.add("demographics", "demographics.recorded", demographics, self);
    const contact = contactFields(practitioner.telecom, practitioner.address);
    if (hasAny(contact)) context.add("contact", "contact.recorded", contact, self);
    const profile = { name: name ? displayName(name) : undefined, active: practitioner.active };
    if (hasAny(profile)) context.add("profile", "profile.recorded", profile, self);
    addIdentifiers(context, "Practitioner", practitioner.id!, practitioner.identifier, self);
    return undefined;
  },

  Location: (resource, context) => {
    const location = resource as unknown as Location;
    const self = context.self("location");
    const profile = {
      name: clip(location.name, 500),
      description: clip(location.description, 1000),
      active: location.status ? location.status === "active" : undefined,
    };
    if (hasAny(profile)) context.add("profile", "profile.recorded", profile, self);
    const contact = contactFields(location.telecom, location.address ? [location.address] : undefined);
    if (hasAny(contact)) context.add("contact", "contact.recorded", contact, self);
    return undefined;
  },

  Schedule: (resource, context) => {
    const schedule = resource as unknown as Schedule;
    const actorNames = (schedule.actor ?? []).map((a) => a.display?.trim()).filter(Boolean);
    const profile = {
      name: clip(actorNames.join(", "), 500),
      specialty: clip(conceptName(schedule.specialty?.[0]), 100),
      description: clip(schedule.comment, 1000),
      active: schedule.active,
    };
    if (hasAny(profile)) context.add("profile", "profile.recorded", profile, context.self("schedule"));
    return undefined;
  },

  Slot: (resource, context) => {
    const slot = resource as unknown as Slot;
    const scheduleId = referenceId(slot.schedule, "Schedule");
    const start = instant(slot.start);
    const end = instant(slot.end);
    if (!start || !end) return invalid("Slot.start or Slot.end is not a full instant");
    context.add(
      "slot",
      "slot.recorded",
      { schedule_id: scheduleId ? `Schedule/${scheduleId}` : undefined, status: slot.status, start, end },
      context.self("slot"),
    );
    return undefined;
  },

  Appointment: (resource, context) => {
    const appointment = resource as unknown as Appointment;
    const start = instant(appointment.start);
    if (!start)
      return invalid("Appointment.start is missing: the world model records appointments with a time");
    const actor = (type: string) => {
      for (const participant of appointment.participant ?? []) {
        const id = referenceId(participant.actor, type);
        // The event's ids hold at most 64 characters: a longer reference is left out, not cut.
        if (id && `${type}/${id}`.length <= 64) return `${type}/${id}`;
      }
      return undefined;
    };
    context.add(
      "appointment",
      "appointment.recorded",
      {
        // entered-in-error: the appointment is not happening, which is what the world model must know.
        status: appointment.status === "entered-in-error" ? "cancelled" : appointment.status,
        start,
        end: instant(appointment.end),
        patient_id: actor("Patient"),
        practitioner_id: actor("Practitioner"),
        location_id: actor("Location"),
        visit_type: clip(
          conceptName(appointment.appointmentType) ?? conceptName(appointment.serviceType?.[0]),
          100,
        ),
      },
      context.self("appointment"),
    );
    return undefined;
  },

  Coverage: (resource, context) => {
    const coverage = resource as unknown as Coverage;
    const patient = patientEntity(context, coverage.beneficiary, "Coverage.beneficiary");
    if ("ok" in patient) return patient;
    const classValue = (code: string) =>
      coverage.class?.find((c) => c.type?.coding?.some((coding) => coding.code === code));
    const payer =
      coverage.payor?.map((p) => p.display?.trim()).find(Boolean) ??
      classValue("plan")?.name ??
      classValue("group")?.name;
    const memberId =
      coverage.subscriberId?.trim() ||
      coverage.identifier?.find((i) => i.type?.coding?.some((c) => c.code === "MB"))?.value ||
      coverage.identifier?.[0]?.value;
    if (!payer) return invalid("Coverage names no payer (payor display or plan name)");
    if (!memberId) return invalid("Coverage has no member id (subscriberId or identifier)");
    context.add(
      "coverage",
      "coverage.recorded",
      {
        payer: clip(payer, 500),
        member_id: memberId.trim().slice(0, 64),
        group_number: clip(classValue("group")?.value, 64),
        status: coverage.status,
      },
      patient,
    );
    return undefined;
  },

  AllergyIntolerance: (resource, context) => {
    const allergy = resource as unknown as AllergyIntolerance;
    const patient = patientEntity(context, allergy.patient, "AllergyIntolerance.patient");
    if ("ok" in patient) return patient;
    if (allergy.code?.coding?.some((c) => c.system === SNOMED && NO_KNOWN_ALLERGY.has(c.code ?? "")))
      return skip("a 'no known allergy' record, not an allergy");
    const substance = conceptName(allergy.code);
    if (!substance) return invalid("AllergyIntolerance.code has no text, display or code for the substance");
    const verification = codeOf(allergy.verificationStatus);
    const manifestations = (allergy.reaction ?? [])
      .flatMap((r) => r.manifestation ?? [])
      .map(conceptName)
      .filter(Boolean);
    const severities = (allergy.reaction ?? []).map((r) => r.severity);
    context.add(
      "allergy",
      "allergy.recorded",
      {
        substance: clip(substance, 500),
        reaction: clip([...new Set(manifestations)].join(", "), 500),
        severity: (["severe", "moderate", "mild"] as const).find((s) => severities.includes(s)),
        status:
          verification === "entered-in-error"
            ? "entered-in-error"
            : verification === "refuted"
              ? "inactive"
              : (codeOf(allergy.clinicalStatus) ?? "active"),
        code: clip(codeOf(allergy.code), 100),
      },
      patient,
    );
    return undefined;
  },

  MedicationStatement: (resource, context) => {
    const statement = resource as unknown as MedicationStatement;
    const patient = patientEntity(context, statement.subject, "MedicationStatement.subject");
    if ("ok" in patient) return patient;
    const medication = medicationConcept(statement);
    const name = conceptName(medication) ?? statement.medicationReference?.display?.trim();
    if (!name) return invalid("MedicationStatement names no medication (text, display or code)");
    const dosage = statement.dosage?.[0];
    const quantity = dosage?.doseAndRate?.[0]?.doseQuantity;
    const repeat = dosage?.timing?.repeat;
    context.add(
      "medication",
      "medication.recorded",
      {
        name: clip(name, 500),
        dose:
          quantity?.value !== undefined
            ? clip(`${quantity.value} ${quantity.unit ?? quantity.code ?? ""}`, 100)
            : undefined,
        frequency: clip(
          conceptName(dosage?.timing?.code) ??
            (repeat?.frequency && repeat.period && repeat.periodUnit
              ? `${repeat.frequency} per ${repeat.period} ${repeat.periodUnit}`
              : dosage?.text),
          100,
        ),
        status: MEDICATION_STATUS[statement.status] ?? "unknown",
        code: clip(codeOf(medication), 100),
      },
      patient,
    );
    return undefined;
  },

  Condition: (resource, context) => {
    const condition = resource as unknown as Condition;
    const patient = patientEntity(context, condition.subject, "Condition.subject");
    if ("ok" in patient) return patient;
    const name = conceptName(condition.code);
    if (!name) return invalid("Condition.code has no text, display or code");
    const verification = codeOf(condition.verificationStatus);
    context.add(
      "condition",
      "condition.recorded",
      {
        name: clip(name, 500),
        // Refuted or entered in error: not a condition the patient has, which `inactive` says.
        status:
          verification === "refuted" || verification === "entered-in-error"
            ? "inactive"
            : (codeOf(condition.clinicalStatus) ?? "active"),
        code: clip(codeOf(condition.code), 100),
      },
      patient,
    );
    return undefined;
  },
};

/** FHIR MedicationStatement.status → the world's medication status. */
const MEDICATION_STATUS: Record<string, string> = {
  active: "active",
  completed: "completed",
  "entered-in-error": "entered-in-error",
  intended: "active",
  stopped: "stopped",
  "on-hold": "on-hold",
  unknown: "unknown",
  "not-taken": "stopped",
};

/** The patient entity a clinical resource is about, or why it has none (skipped: not about a patient). */
function patientEntity(
  context: MappingContext,
  reference: Reference | undefined,
  field: string,
): { entity_type: EntityType; external_id: string } | MappingResult {
  const id = referenceId(reference, "Patient");
  if (!id) return skip(`${field} does not reference a Patient by id`);
  return { entity_type: "patient", external_id: context.externalId("Patient", id) };
}

/** `Patient/123`, `Patient/123/_history/2` or `https://ehr/fhir/Patient/123` → `123`, if of `type`. */
function referenceId(reference: Reference | undefined, type: string): string | null {
  const match =
    /^(?:https?:\/\/\S+\/)?([A-Z][A-Za-z]+)\/([A-Za-z0-9\-.]{1,64})(?:\/_history\/[A-Za-z0-9\-.]{1,64})?$/.exec(
      reference?.reference ?? "",
    );
  return match && match[1] === type ? match[2]! : null;
}

/**
 * The resource's own id as an identifier (`ehr:Patient` = `demo-001`, which resolution matches on), and
 * the MRN or NPI it carries. Other identifiers (SSN, driver's licence, ...) are not recorded: Switchboard
 * does not need them, and an identifier of unknown scope could merge two people.
 */
function addIdentifiers(
  context: MappingContext,
  type: "Patient" | "Practitioner",
  id: string,
  identifiers: Identifier[] | undefined,
  entity: { entity_type: EntityType; external_id: string },
): void {
  const source = context.sourceSystem;
  context.add(
    `identifier:${type}`,
    "identifier.recorded",
    { system: `${source}:${type}`, value: id },
    entity,
  );
  const kinds = new Map<string, number>();
  for (const identifier of identifiers ?? []) {
    if (!identifier.system || !identifier.value?.trim() || identifier.use === "old") continue;
    const kind = identifierKind(identifier);
    if (!kind) continue;
    const n = kinds.get(kind) ?? 0;
    kinds.set(kind, n + 1);
    context.add(
      `identifier:${kind}:${n}`,
      "identifier.recorded",
      { system: `${source}:${kind}`, value: identifier.value.trim().slice(0, 200) },
      entity,
    );
  }
}

function identifierKind(identifier: Identifier): "MRN" | "NPI" | null {
  const types = (identifier.type?.coding ?? [])
    .filter((c) => !c.system || c.system === V2_0203)
    .map((c) => c.code);
  if (identifier.system === NPI_SYSTEM || types.includes("NPI")) return "NPI";
  if (types.includes("MR")) return "MRN";
  return null;
}

/** The name to show: official, else usual, else one with no stated use; never an old one. */
function pickName(names: HumanName[] | undefined): HumanName | undefined {
  const current = (names ?? []).filter((n) => n.use !== "old");
  return (
    current.find((n) => n.use === "official") ??
    current.find((n) => n.use === "usual") ??
    current.find((n) => !n.use) ??
    current.find((n) => n.use !== "nickname" && n.use !== "anonymous")
  );
}

function nameFields(names: HumanName[] | undefined) {
  const name = pickName(names);
  const nickname = names?.find((n) => n.use === "nickname");
  return {
    given_name: clip(name?.given?.join(" "), 500),
    family_name: clip(name?.family, 500),
    preferred_name: clip(nickname?.given?.[0] ?? nickname?.text, 500),
  };
}

/** `Adaeze Okafor, MD`, or the name's text. */
function displayName(name: HumanName): string | undefined {
  const parts = [name.given?.join(" "), name.family].filter(Boolean).join(" ");
  const suffix = name.suffix?.join(", ");
  return clip(parts ? (suffix ? `${parts}, ${suffix}` : parts) : name.text, 500);
}

/** The BCP-47 code of the preferred language, else of the first one listed. */
function preferredLanguage(
  languages: (CodeableConcept & { preferred?: boolean })[] | undefined,
): string | undefined {
  const ordered = [...(languages ?? [])].sort(
    (a, b) => Number(Boolean(b.preferred)) - Number(Boolean(a.preferred)),
  );
  for (const language of ordered) {
    const coding = language.coding?.find((c) => c.system === BCP47) ?? language.coding?.[0];
    const code = coding?.code?.trim();
    if (code && code.length <= 20) return code;
  }
  return undefined;
}

const Email = z.email().max(254);
const USE_ORDER = ["mobile", "home", "work", "temp"];

/** The best current phone (as E.164) and email, and the home address, as `contact.recorded` fields. */
function contactFields(telecom: ContactPoint[] | undefined, addresses: Address[] | undefined) {
  const ranked = (system: string) =>
    (telecom ?? [])
      .filter((t) => t.system === system && t.value && t.use !== "old")
      .sort(
        (a, b) =>
          (a.rank ?? Number.MAX_SAFE_INTEGER) - (b.rank ?? Number.MAX_SAFE_INTEGER) ||
          useRank(a.use) - useRank(b.use),
      );
  const phone = ranked("phone")
    .map((t) => normalizeE164(t.value!))
    .find(Boolean);
  const email = ranked("email")
    .map((t) => t.value!.trim())
    .find((value) => Email.safeParse(value).success);
  return { phone: phone ?? undefined, email, address: homeAddress(addresses) };
}

const useRank = (use: string | undefined) => {
  const i = USE_ORDER.indexOf(use ?? "");
  return i === -1 ? USE_ORDER.length : i;
};

const COUNTRY_NAMES: Record<string, string> = {
  USA: "US",
  "UNITED STATES": "US",
  "UNITED STATES OF AMERICA": "US",
};

/**
 * The home (else first current) address with a street and a city. An address in a country that cannot
 * be told as a two-letter code is left out rather than recorded as the schema's default, US.
 */
function homeAddress(addresses: Address[] | undefined) {
  const current = (addresses ?? []).filter((a) => a.use !== "old" && a.type !== "postal");
  const address = current.find((a) => a.use === "home") ?? current[0];
  const line = clip(
    address?.line
      ?.map((l) => l.trim())
      .filter(Boolean)
      .join(", "),
    500,
  );
  const city = clip(address?.city, 500);
  if (!address || !line || !city) return undefined;
  let country: string | undefined;
  if (address.country) {
    const given = address.country.trim().toUpperCase();
    country = /^[A-Z]{2}$/.test(given) ? given : COUNTRY_NAMES[given];
    if (!country) return undefined;
  }
  const state = address.state?.trim();
  const postalCode = address.postalCode?.trim();
  return withoutUndefined({
    line,
    city,
    state: state && state.length <= 50 ? state : undefined,
    postal_code: postalCode && postalCode.length <= 20 ? postalCode : undefined,
    country,
  });
}

/** A MedicationStatement's medication: its concept, or the contained Medication it points to. */
function medicationConcept(statement: MedicationStatement): CodeableConcept | undefined {
  if (statement.medicationCodeableConcept) return statement.medicationCodeableConcept;
  const reference = statement.medicationReference?.reference;
  if (!reference?.startsWith("#")) return undefined;
  const contained = statement.contained?.find(
    (r): r is Medication => r.resourceType === "Medication" && r.id === reference.slice(1),
  );
  return contained?.code;
}

/** What a person would call the concept: its text, else a coding's display, else a code. */
function conceptName(concept: CodeableConcept | undefined): string | undefined {
  return (
    concept?.text?.trim() ||
    concept?.coding?.map((c) => c.display?.trim()).find(Boolean) ||
    concept?.coding?.map((c) => c.code?.trim()).find(Boolean) ||
    undefined
  );
}

const codeOf = (concept: CodeableConcept | undefined) =>
  concept?.coding?.map((c) => c.code?.trim()).find(Boolean) || undefined;

/** A FHIR date only when complete (`1980-04-02`): a year or month alone is not a birth date. */
const fullDate = (date: string | undefined) => (date && /^\d{4}-\d{2}-\d{2}$/.test(date) ? date : undefined);

const Instant = z.iso.datetime({ offset: true });

/** A FHIR instant/dateTime with a time and zone, as the world's timestamps take it; else undefined. */
function instant(value: unknown): string | undefined {
  if (typeof value !== "string") return undefined;
  if (Instant.safeParse(value).success) return value;
  const parsed = new Date(value);
  return value.includes("T") && !Number.isNaN(parsed.getTime()) ? parsed.toISOString() : undefined;
}

/** Trimmed and cut to `max` characters; empty is undefined. */
function clip(text: string | undefined, max: number): string | undefined {
  const trimmed = text?.trim();
  return trimmed ? trimmed.slice(0, max).trim() : undefined;
}

const hasAny = (data: Record<string, unknown>) => Object.values(data).some((v) => v !== undefined);

function withoutUndefined<T extends Record<string, unknown>>(data: T): T {
  return Object.fromEntries(Object.entries(data).filter(([, v]) => v !== undefined)) as T;
}

function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(",")}]`;
  if (value && typeof value === "object")
    return `{${Object.keys(value)
      .filter((k) => (value as Record<string, unknown>)[k] !== undefined)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonicalJson((value as Record<string, unknown>)[k])}`)
      .join(",")}}`;
  return JSON.stringify(value) ?? "null";
}

const sha256 = (text: string) => createHash("sha256").update(text).digest("hex");
