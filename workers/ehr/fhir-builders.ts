/**
 * World facts and Switchboard's own records as FHIR R4 resources, and the Provenance that says where each
 * write came from. Pure functions: the writeback job (writeback.ts) reads what it needs, calls these, and
 * validates what they return before anything is sent; scheduling creates a booking patient's record from
 * `patientFromFacts` (patients.ts).
 *
 * Every resource Switchboard creates carries the identifier `https://switchboard.health/sync|<sync event
 * id>` and is created with `If-None-Exist` on it, so a retried write finds the first one instead of
 * making a second. R4's Provenance has no `identifier` element, so a Provenance carries the same value as
 * a `meta.tag` and is created conditionally on `_tag`.
 */
import type { z } from "zod";
import type {
  AppointmentPayload,
  CommunicationPayload,
  QuestionnaireResponsePayload,
} from "../../shared/schemas/sync";
import type { EVENT_TYPES, Source } from "../../shared/world/events";
import type { FhirResource } from "./contracts";

export const SYNC_SYSTEM = "https://switchboard.health/sync";
export const WORLD_EVENT_SYSTEM = "https://switchboard.health/world-event";
export const INTERACTION_SYSTEM = "https://switchboard.health/interaction";
export const SURFACE_SYSTEM = "https://switchboard.health/surface";
/** Names a Patient Switchboard created for a world entity (the value is the entity id). */
export const PATIENT_SYSTEM = "https://switchboard.health/patient";

const ALLERGY_CLINICAL = "http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical";
const ALLERGY_VERIFICATION = "http://terminology.hl7.org/CodeSystem/allergyintolerance-verification";
const COVERAGE_CLASS = "http://terminology.hl7.org/CodeSystem/coverage-class";
const PARTICIPATION_MODE = "http://terminology.hl7.org/CodeSystem/v3-ParticipationMode";
const PARTICIPANT_TYPE = "http://terminology.hl7.org/CodeSystem/provenance-participant-type";
const DATA_OPERATION = "http://terminology.hl7.org/CodeSystem/v3-DataOperation";
const ACT_REASON = "http://terminology.hl7.org/CodeSystem/v3-ActReason";

type DataOf<T extends keyof typeof EVENT_TYPES> = z.infer<(typeof EVENT_TYPES)[T]["data"]>;
export type AllergyData = DataOf<"allergy.recorded">;
export type MedicationData = DataOf<"medication.recorded">;
export type CoverageData = DataOf<"coverage.recorded">;
export type ContactData = DataOf<"contact.recorded">;

export const syncIdentifier = (syncEventId: string) => ({ system: SYNC_SYSTEM, value: syncEventId });

/** The `If-None-Exist` search that finds a resource this sync event already created. */
export const ifNoneExist = (syncEventId: string) => `identifier=${SYNC_SYSTEM}|${syncEventId}`;

/** The `If-None-Exist` search that finds this sync event's Provenance (by tag: see the header). */
export const provenanceIfNoneExist = (syncEventId: string) => `_tag=${SYNC_SYSTEM}|${syncEventId}`;

const patientRef = (patientId: string) => ({ reference: `Patient/${patientId}` });

export function allergyIntolerance(
  syncEventId: string,
  patientId: string,
  data: AllergyData,
  recordedAt: string,
): FhirResource {
  const enteredInError = data.status === "entered-in-error";
  const reaction = data.reaction
    ? [{ manifestation: [{ text: data.reaction }], ...(data.severity ? { severity: data.severity } : {}) }]
    : undefined;
  return {
    resourceType: "AllergyIntolerance",
    identifier: [syncIdentifier(syncEventId)],
    // ait-1/ait-2: a clinical status unless the record is entered in error, and never with it.
    ...(enteredInError
      ? {}
      : { clinicalStatus: { coding: [{ system: ALLERGY_CLINICAL, code: data.status }] } }),
    verificationStatus: {
      coding: [{ system: ALLERGY_VERIFICATION, code: enteredInError ? "entered-in-error" : "confirmed" }],
    },
    code: { text: data.substance },
    patient: patientRef(patientId),
    recordedDate: recordedAt,
    ...(reaction ? { reaction } : {}),
    // A severity with no described reaction has no reaction to sit on: keep it as a note.
    ...(data.severity && !data.reaction ? { note: [{ text: `Reported severity: ${data.severity}` }] } : {}),
  };
}

export function medicationStatement(
  syncEventId: string,
  patientId: string,
  data: MedicationData,
  assertedAt: string,
): FhirResource {
  const dosage = [data.dose, data.frequency].filter(Boolean).join(", ");
  return {
    resourceType: "MedicationStatement",
    identifier: [syncIdentifier(syncEventId)],
    status: data.status,
    medicationCodeableConcept: { text: data.name },
    subject: patientRef(patientId),
    dateAsserted: assertedAt,
    ...(dosage ? { dosage: [{ text: dosage }] } : {}),
  };
}

export function coverage(syncEventId: string, patientId: string, data: CoverageData): FhirResource {
  return {
    resourceType: "Coverage",
    identifier: [syncIdentifier(syncEventId)],
    status: data.status,
    subscriberId: data.member_id,
    beneficiary: patientRef(patientId),
    // The payer is known by name only: a display reference, as R4 allows.
    payor: [{ display: data.payer }],
    ...(data.group_number
      ? {
          class: [
            { type: { coding: [{ system: COVERAGE_CLASS, code: "group" }] }, value: data.group_number },
          ],
        }
      : {}),
  };
}

/**
 * A new Patient from what the world model knows of an entity (name, birth date, gender, phone, email),
 * identified by `PATIENT_SYSTEM|<entity id>` so a conditional create on it makes one Patient per entity.
 */
export function patientFromFacts(entityId: string, facts: Record<string, { value: unknown }>): FhirResource {
  const text = (path: string) =>
    typeof facts[path]?.value === "string" ? (facts[path].value as string) : undefined;
  const given = text("demographics.given_name");
  const family = text("demographics.family_name");
  const birthDate = text("demographics.birth_date");
  const gender = text("demographics.gender");
  const phone = text("contact.phone");
  const email = text("contact.email");
  return {
    resourceType: "Patient",
    identifier: [{ system: PATIENT_SYSTEM, value: entityId }],
    ...(given || family
      ? { name: [{ use: "official", ...(family ? { family } : {}), ...(given ? { given: [given] } : {}) }] }
      : {}),
    ...(birthDate ? { birthDate } : {}),
    ...(gender ? { gender } : {}),
    ...(phone || email
      ? {
          telecom: [
            ...(phone ? [{ system: "phone", value: phone, use: "mobile" }] : []),
            ...(email ? [{ system: "email", value: email }] : []),
          ],
        }
      : {}),
  };
}

interface ContactPoint {
  system?: string;
  value?: string;
  use?: string;
  rank?: number;
  [key: string]: unknown;
}

interface Address {
  use?: string;
  line?: string[];
  city?: string;
  state?: string;
  postalCode?: string;
  country?: string;
  period?: { start?: string; end?: string };
  [key: string]: unknown;
}

const digits = (phone: string) => phone.replace(/\D/g, "");

/** Same number, whether written `+1 (718) 555-0147` or `7185550147`. */
function samePhone(a: string, b: string): boolean {
  const [x, y] = [digits(a), digits(b)];
  if (x === y) return x.length > 0;
  const [long, short] = x.length > y.length ? [x, y] : [y, x];
  return short.length >= 10 && long.endsWith(short);
}

const fold = (text: string | undefined) => (text ?? "").toLowerCase().replace(/\s+/g, " ").trim();

function sameAddress(a: Address, b: Address): boolean {
  return (
    fold(a.line?.join(" ")) === fold(b.line?.join(" ")) &&
    fold(a.city) === fold(b.city) &&
    fold(a.postalCode) === fold(b.postalCode)
  );
}

/**
 * The Patient with the recorded contact details merged in: a new phone or email becomes the preferred
 * one (rank 1, the others shifted down, none removed); a new home address replaces the home address,
 * which is kept with use `old` and an end date, as FHIR records a move. `changed` is false when the
 * Patient already had every detail, so nothing needs writing.
 */
export function mergeContact(
  patient: FhirResource,
  data: ContactData,
  effectiveAt: string,
): { resource: FhirResource; changed: boolean } {
  let telecom = [...((patient.telecom as ContactPoint[] | undefined) ?? [])];
  let address = [...((patient.address as Address[] | undefined) ?? [])];
  let changed = false;

  const prefer = (point: ContactPoint) => {
    telecom = [point, ...telecom.map((t) => (typeof t.rank === "number" ? { ...t, rank: t.rank + 1 } : t))];
    changed = true;
  };
  if (data.phone && !telecom.some((t) => t.system === "phone" && t.value && samePhone(t.value, data.phone!)))
    prefer({ system: "phone", value: data.phone, rank: 1 });
  if (data.email && !telecom.some((t) => t.system === "email" && fold(t.value) === fold(data.email)))
    prefer({ system: "email", value: data.email, rank: 1 });

  if (data.address) {
    const next: Address = {
      use: "home",
      line: [data.address.line],
      city: data.address.city,
      ...(data.address.state ? { state: data.address.state } : {}),
      ...(data.address.postal_code ? { postalCode: data.address.postal_code } : {}),
      country: data.address.country,
      period: { start: effectiveAt.slice(0, 10) },
    };
    if (!address.some((a) => a.use !== "old" && sameAddress(a, next))) {
      const moved = effectiveAt.slice(0, 10);
      address = [
        next,
        ...address.map((a) =>
          a.use === "home" || a.use === undefined
            ? { ...a, use: "old", period: { ...a.period, end: a.period?.end ?? moved } }
            : a,
        ),
      ];
      changed = true;
    }
  }
  return {
    resource: { ...patient, ...(telecom.length ? { telecom } : {}), ...(address.length ? { address } : {}) },
    changed,
  };
}

/** The Appointment with its new status; `changed` is false when the EHR already has it. */
export function appointmentStatus(
  appointment: FhirResource,
  change: AppointmentPayload,
): { resource: FhirResource; changed: boolean } {
  if (appointment.status === change.status) return { resource: appointment, changed: false };
  return {
    resource: {
      ...appointment,
      status: change.status,
      ...(change.status === "cancelled" && change.cancelation_reason
        ? { cancelationReason: { text: change.cancelation_reason } }
        : {}),
    },
    changed: true,
  };
}

function answerValue(answer: QuestionnaireResponsePayload["items"][number]["answers"][number]) {
  if ("value_string" in answer) return { valueString: answer.value_string };
  if ("value_boolean" in answer) return { valueBoolean: answer.value_boolean };
  if ("value_integer" in answer) return { valueInteger: answer.value_integer };
  if ("value_decimal" in answer) return { valueDecimal: answer.value_decimal };
  if ("value_date" in answer) return { valueDate: answer.value_date };
  if ("value_date_time" in answer) return { valueDateTime: answer.value_date_time };
  return { valueCoding: answer.value_coding };
}

export function questionnaireResponse(
  syncEventId: string,
  patientId: string,
  payload: QuestionnaireResponsePayload,
): FhirResource {
  return {
    resourceType: "QuestionnaireResponse",
    // QuestionnaireResponse.identifier is a single Identifier (0..1), not a list.
    identifier: syncIdentifier(syncEventId),
    ...(payload.questionnaire ? { questionnaire: payload.questionnaire } : {}),
    status: payload.status,
    subject: patientRef(patientId),
    authored: payload.authored,
    // The patient filled the form in themselves.
    source: patientRef(patientId),
    item: payload.items.map((item) => ({
      linkId: item.link_id,
      ...(item.text ? { text: item.text } : {}),
      ...(item.answers.length ? { answer: item.answers.map(answerValue) } : {}),
    })),
  };
}

const MEDIUM: Record<CommunicationPayload["channel"], { code: string; display: string }> = {
  voice: { code: "PHONE", display: "telephone" },
  sms: { code: "ONLINEWRIT", display: "online written" },
  email: { code: "EMAILWRIT", display: "email" },
  whatsapp: { code: "ONLINEWRIT", display: "online written" },
};

export function communication(
  syncEventId: string,
  patientId: string,
  payload: CommunicationPayload,
): FhirResource {
  const patient = patientRef(patientId);
  const clinic = { display: "Switchboard", type: "Device" };
  return {
    resourceType: "Communication",
    identifier: [syncIdentifier(syncEventId)],
    status: "completed",
    medium: [{ coding: [{ system: PARTICIPATION_MODE, ...MEDIUM[payload.channel] }] }],
    subject: patient,
    ...(payload.topics.length ? { topic: { text: payload.topics.join(", ") } } : {}),
    sent: payload.occurred_at,
    ...(payload.direction === "inbound"
      ? { sender: patient, recipient: [clinic] }
      : { sender: clinic, recipient: [patient] }),
    payload: [{ contentString: payload.summary }],
  };
}

/** What the Provenance names as the origin of a write. */
export interface WriteOrigin {
  /** Where the written fact came from. */
  source: Source;
  /** For a reviewer's decision: where the fact they settled came from. */
  reviewedSource?: Source | null;
  /** The record it came from: a world event, a call, a surface. */
  entity?: { system: string; value: string; display: string };
}

const PATIENT_CHANNELS: readonly Source[] = ["voice", "sms", "surface"];

const CHANNEL_DISPLAY: Partial<Record<Source, string>> = {
  voice: "Phone call with the patient",
  sms: "Text messages with the patient",
  surface: "Form submitted by the patient",
  operator: "Entered by clinic staff in Switchboard",
  review: "Verified by clinic staff in Switchboard review",
};

export const originDisplay = (source: Source) => CHANNEL_DISPLAY[source] ?? "Switchboard";

const participant = (code: string, display: string) => ({
  coding: [{ system: PARTICIPANT_TYPE, code, display }],
});

function agentsFor(origin: WriteOrigin, patientId: string | null) {
  const agents: Record<string, unknown>[] = [
    { type: participant("author", "Author"), who: { display: "Switchboard", type: "Device" } },
  ];
  const informant = (source: Source | null | undefined) =>
    source && PATIENT_CHANNELS.includes(source) && patientId
      ? [{ type: participant("informant", "Informant"), who: patientRef(patientId) }]
      : [];
  if (origin.source === "operator")
    agents.push({ type: participant("enterer", "Enterer"), who: { display: originDisplay("operator") } });
  if (origin.source === "review") {
    agents.push({ type: participant("verifier", "Verifier"), who: { display: originDisplay("review") } });
    agents.push(...informant(origin.reviewedSource));
  }
  agents.push(...informant(origin.source));
  return agents;
}

export type WriteActivity = "CREATE" | "UPDATE";
/** PurposeOfUse (v3-ActReason): treatment for clinical facts, payment for coverage, operations else. */
export type WritePurpose = "TREAT" | "HPAYMT" | "HOPERAT";

const PURPOSE_DISPLAY: Record<WritePurpose, string> = {
  TREAT: "treatment",
  HPAYMT: "healthcare payment",
  HOPERAT: "healthcare operations",
};

/**
 * The Provenance of one write: its target (the exact version written), when it happened and was
 * recorded, why (PurposeOfUse), what was done (v3-DataOperation), Switchboard as author and the fact's
 * source as further agents, and the record it came from.
 */
export function provenance(input: {
  syncEventId: string;
  /** `Type/id/_history/version` */
  target: string;
  activity: WriteActivity;
  purpose: WritePurpose;
  occurredAt: string;
  recordedAt: string;
  patientId: string | null;
  origin: WriteOrigin;
}): FhirResource {
  return {
    resourceType: "Provenance",
    meta: { tag: [{ system: SYNC_SYSTEM, code: input.syncEventId, display: "Switchboard sync event" }] },
    target: [{ reference: input.target }],
    occurredDateTime: input.occurredAt,
    recorded: input.recordedAt,
    reason: [
      { coding: [{ system: ACT_REASON, code: input.purpose, display: PURPOSE_DISPLAY[input.purpose] }] },
    ],
    activity: {
      coding: [
        {
          system: DATA_OPERATION,
          code: input.activity,
          display: input.activity === "CREATE" ? "create" : "revise",
        },
      ],
    },
    agent: agentsFor(input.origin, input.patientId),
    ...(input.origin.entity
      ? {
          entity: [
            {
              role: "source",
              what: {
                identifier: { system: input.origin.entity.system, value: input.origin.entity.value },
                display: input.origin.entity.display,
              },
            },
          ],
        }
      : {}),
  };
}

/** `Type/id/_history/version` of a written resource (its versioned reference, for a Provenance target). */
export function versionedReference(resource: FhirResource): string {
  const base = `${resource.resourceType}/${resource.id}`;
  return resource.meta?.versionId ? `${base}/_history/${resource.meta.versionId}` : base;
}
