/**
 * The demo clinic as FHIR R4 resources: Riverside Family Clinic's organization and payers, two
 * locations, four practitioners with a Schedule each, 30-minute free Slots on weekdays in business hours
 * (America/New_York) for a month, and the demo patients of `scripts/demo-patients.ts` with their
 * allergies, medications, conditions (implied by the medications) and coverage. Ids are stable
 * (`Patient/demo-001`, `Slot/slot-okafor-20261123-0900`), so the sandbox, the world model and the tests
 * name the same things. Same inputs, same resources.
 */
import type {
  AllergyIntolerance,
  Condition,
  Coverage,
  Location,
  MedicationStatement,
  Organization,
  Patient,
  Practitioner,
  Reference,
  Resource,
  Schedule,
  Slot,
} from "@medplum/fhirtypes";
import { DEMO_WORKSPACE } from "../scripts/demo-data";
import { type DemoPatient, demoPatients } from "../scripts/demo-patients";

export const CLINIC_TIME_ZONE = "America/New_York";
export const SLOT_MINUTES = 30;
/** Opening hours in clinic time, [from, to) in minutes after midnight: 9:00-12:00 and 13:00-17:00. */
export const OPENING_HOURS: readonly (readonly [number, number])[] = [
  [9 * 60, 12 * 60],
  [13 * 60, 17 * 60],
];
export const MRN_SYSTEM = "urn:switchboard:demo-ehr:mrn";
const NPI_SYSTEM = "http://hl7.org/fhir/sid/us-npi";
const SNOMED = "http://snomed.info/sct";

export interface SeedOptions {
  /** First day with slots, `YYYY-MM-DD` in clinic time. Default: tomorrow in clinic time. */
  slotsFrom?: string;
  /** Calendar days of slots from `slotsFrom`; weekdays among them get slots. Default 30. */
  days?: number;
  /** Default: the demo patients, `demoPatients()`. */
  patients?: DemoPatient[];
}

const CLINIC: Reference<Organization> = {
  reference: "Organization/org-riverside",
  display: DEMO_WORKSPACE.name,
};

const LOCATIONS = [
  { id: "loc-main", name: "Main Street office", line: "120 Main St", city: "New York", zip: "10024" },
  { id: "loc-harbor", name: "Harbor View office", line: "45 Harbor Blvd", city: "Jersey City", zip: "07302" },
] as const;

const PRACTITIONERS = [
  { key: "okafor", given: "Adaeze", family: "Okafor", suffix: "MD", npi: "1000000001", location: "loc-main" },
  {
    key: "lindqvist",
    given: "Erik",
    family: "Lindqvist",
    suffix: "MD",
    npi: "1000000002",
    location: "loc-main",
  },
  { key: "reyes", given: "Camila", family: "Reyes", suffix: "DO", npi: "1000000003", location: "loc-harbor" },
  { key: "chen", given: "Jordan", family: "Chen", suffix: "NP", npi: "1000000004", location: "loc-harbor" },
] as const;

/** What each demo medication is usually for, so patients on it carry the matching problem. */
const CONDITION_FOR_MEDICATION: Record<string, { code: string; display: string }> = {
  Metformin: { code: "44054006", display: "Diabetes mellitus type 2" },
  Lisinopril: { code: "38341003", display: "Hypertensive disorder" },
  Amlodipine: { code: "38341003", display: "Hypertensive disorder" },
  Metoprolol: { code: "38341003", display: "Hypertensive disorder" },
  Atorvastatin: { code: "55822004", display: "Hyperlipidemia" },
  Levothyroxine: { code: "40930008", display: "Hypothyroidism" },
  Albuterol: { code: "195967001", display: "Asthma" },
  Omeprazole: { code: "235595009", display: "Gastroesophageal reflux disease" },
  Sertraline: { code: "35489007", display: "Depressive disorder" },
  Gabapentin: { code: "247398009", display: "Neuropathic pain" },
};

/** Every seed resource, in an order where references point backwards. */
export function buildSeed(options: SeedOptions = {}): Resource[] {
  const patients = options.patients ?? demoPatients();
  const payers = [...new Set(patients.map((p) => p.coverage.payer))].sort();
  return [
    clinicOrganization(),
    ...payers.map(payerOrganization),
    ...LOCATIONS.map(location),
    ...PRACTITIONERS.map(practitioner),
    ...PRACTITIONERS.flatMap((p) =>
      scheduleAndSlots(p, options.slotsFrom ?? tomorrowInClinic(), options.days ?? 30),
    ),
    ...patients.flatMap((p, index) => patientRecord(p, index)),
  ];
}

const ref = <T extends Resource>(type: T["resourceType"], id: string, display?: string): Reference<T> => ({
  reference: `${type}/${id}`,
  ...(display ? { display } : {}),
});
const slug = (text: string) => text.toLowerCase().replace(/[^a-z0-9]+/g, "-");

function clinicOrganization(): Organization {
  return {
    resourceType: "Organization",
    id: "org-riverside",
    active: true,
    type: [{ coding: [{ system: "http://terminology.hl7.org/CodeSystem/organization-type", code: "prov" }] }],
    name: DEMO_WORKSPACE.name,
    telecom: [{ system: "phone", value: "+14155550100", use: "work" }],
  };
}

function payerOrganization(payer: string): Organization {
  return {
    resourceType: "Organization",
    id: `payer-${slug(payer)}`,
    active: true,
    type: [{ coding: [{ system: "http://terminology.hl7.org/CodeSystem/organization-type", code: "pay" }] }],
    name: payer,
  };
}

function location(l: (typeof LOCATIONS)[number]): Location {
  return {
    resourceType: "Location",
    id: l.id,
    status: "active",
    name: `${DEMO_WORKSPACE.name}, ${l.name}`,
    mode: "instance",
    address: { line: [l.line], city: l.city, state: l.city === "New York" ? "NY" : "NJ", postalCode: l.zip },
    managingOrganization: CLINIC,
  };
}

function practitioner(p: (typeof PRACTITIONERS)[number]): Practitioner {
  return {
    resourceType: "Practitioner",
    id: `pr-${p.key}`,
    active: true,
    identifier: [{ system: NPI_SYSTEM, value: p.npi }],
    name: [{ use: "official", family: p.family, given: [p.given], suffix: [p.suffix] }],
  };
}

function scheduleAndSlots(p: (typeof PRACTITIONERS)[number], from: string, days: number): Resource[] {
  const scheduleId = `sch-${p.key}`;
  const slots: Slot[] = [];
  for (const day of weekdays(from, days))
    for (const [open, close] of OPENING_HOURS)
      for (let minute = open; minute + SLOT_MINUTES <= close; minute += SLOT_MINUTES) {
        const hhmm = `${pad(Math.floor(minute / 60))}${pad(minute % 60)}`;
        slots.push({
          resourceType: "Slot",
          id: `slot-${p.key}-${day.replaceAll("-", "")}-${hhmm}`,
          schedule: ref<Schedule>("Schedule", scheduleId),
          status: "free",
          start: clinicInstant(day, minute),
          end: clinicInstant(day, minute + SLOT_MINUTES),
        });
      }
  const schedule: Schedule = {
    resourceType: "Schedule",
    id: scheduleId,
    active: true,
    actor: [
      ref<Practitioner>("Practitioner", `pr-${p.key}`, `${p.given} ${p.family}, ${p.suffix}`),
      ref<Location>("Location", p.location),
    ],
    planningHorizon: { start: clinicInstant(from, 0), end: clinicInstant(addDays(from, days), 0) },
    comment: `${p.given} ${p.family}: weekdays 9:00-12:00 and 13:00-17:00, ${SLOT_MINUTES}-minute visits`,
  };
  return [schedule, ...slots];
}

function patientRecord(p: DemoPatient, index: number): Resource[] {
  const subject = ref<Patient>("Patient", p.id, `${p.name.given} ${p.name.family}`);
  const prefers = p.contact_preferences.channel;
  const gp = PRACTITIONERS[index % PRACTITIONERS.length]!;
  const patient: Patient = {
    resourceType: "Patient",
    id: p.id,
    identifier: [
      {
        use: "usual",
        type: { coding: [{ system: "http://terminology.hl7.org/CodeSystem/v2-0203", code: "MR" }] },
        system: MRN_SYSTEM,
        value: p.id,
      },
    ],
    active: true,
    name: [
      { use: "official", family: p.name.family, given: [p.name.given] },
      ...(p.name.preferred ? [{ use: "nickname" as const, given: [p.name.preferred] }] : []),
    ],
    telecom: [
      { system: "phone", value: p.phone, use: "mobile", rank: prefers === "email" ? 2 : 1 },
      { system: "email", value: p.email, use: "home", rank: prefers === "email" ? 1 : 2 },
    ],
    gender: p.gender,
    birthDate: p.birth_date,
    address: [
      {
        use: "home",
        line: [p.address.line],
        city: p.address.city,
        state: p.address.state,
        postalCode: p.address.postal_code,
        country: p.address.country,
      },
    ],
    communication: [
      {
        language: {
          coding: [{ system: "urn:ietf:bcp:47", code: p.language }],
          text: p.language === "es" ? "Spanish" : "English",
        },
        preferred: true,
      },
    ],
    generalPractitioner: [ref<Practitioner>("Practitioner", `pr-${gp.key}`)],
    managingOrganization: CLINIC,
  };
  const allergies = p.allergies.map(
    (a): AllergyIntolerance => ({
      resourceType: "AllergyIntolerance",
      id: a.id,
      clinicalStatus: {
        coding: [
          { system: "http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical", code: "active" },
        ],
      },
      verificationStatus: {
        coding: [
          {
            system: "http://terminology.hl7.org/CodeSystem/allergyintolerance-verification",
            code: "confirmed",
          },
        ],
      },
      type: "allergy",
      criticality: a.severity === "severe" ? "high" : "low",
      code: { text: a.substance },
      patient: subject,
      reaction: [{ manifestation: [{ text: a.reaction }], severity: a.severity }],
    }),
  );
  const medications = p.medications.map(
    (m): MedicationStatement => ({
      resourceType: "MedicationStatement",
      id: m.id,
      status: "active",
      medicationCodeableConcept: { text: `${m.name} ${m.dose}` },
      subject,
      dosage: [{ text: `${m.dose} ${m.frequency}` }],
    }),
  );
  const problems = [
    ...new Map(
      p.medications.flatMap((m) => {
        const condition = CONDITION_FOR_MEDICATION[m.name];
        return condition ? [[condition.code, condition] as const] : [];
      }),
    ).values(),
  ];
  const conditions = problems.map(
    (c, i): Condition => ({
      resourceType: "Condition",
      id: `${p.id}-c${i + 1}`,
      clinicalStatus: {
        coding: [{ system: "http://terminology.hl7.org/CodeSystem/condition-clinical", code: "active" }],
      },
      verificationStatus: {
        coding: [{ system: "http://terminology.hl7.org/CodeSystem/condition-ver-status", code: "confirmed" }],
      },
      category: [
        {
          coding: [
            { system: "http://terminology.hl7.org/CodeSystem/condition-category", code: "problem-list-item" },
          ],
        },
      ],
      code: { coding: [{ system: SNOMED, code: c.code, display: c.display }], text: c.display },
      subject,
    }),
  );
  const coverage: Coverage = {
    resourceType: "Coverage",
    id: p.coverage.id,
    status: p.coverage.status,
    subscriberId: p.coverage.member_id,
    beneficiary: subject,
    relationship: {
      coding: [{ system: "http://terminology.hl7.org/CodeSystem/subscriber-relationship", code: "self" }],
    },
    payor: [ref<Organization>("Organization", `payer-${slug(p.coverage.payer)}`, p.coverage.payer)],
    class: [
      {
        type: { coding: [{ system: "http://terminology.hl7.org/CodeSystem/coverage-class", code: "group" }] },
        value: p.coverage.group_number,
      },
    ],
  };
  return [patient, ...allergies, ...medications, ...conditions, coverage];
}

const pad = (n: number) => String(n).padStart(2, "0");

const clinicParts = new Intl.DateTimeFormat("en-US", {
  timeZone: CLINIC_TIME_ZONE,
  year: "numeric",
  month: "2-digit",
  day: "2-digit",
  hour: "2-digit",
  minute: "2-digit",
  hourCycle: "h23",
});

/** The UTC instant of `minutes` after midnight on `day` (YYYY-MM-DD) in clinic time. */
export function clinicInstant(day: string, minutes: number): string {
  const [y, m, d] = day.split("-").map(Number) as [number, number, number];
  const asUtc = Date.UTC(y, m - 1, d, 0, minutes);
  // The clinic's offset from UTC at that moment; opening hours never straddle a DST change (2 a.m.).
  const parts = Object.fromEntries(clinicParts.formatToParts(new Date(asUtc)).map((p) => [p.type, p.value]));
  const local = Date.UTC(
    Number(parts.year),
    Number(parts.month) - 1,
    Number(parts.day),
    Number(parts.hour),
    Number(parts.minute),
  );
  return new Date(asUtc - (local - asUtc)).toISOString();
}

function addDays(day: string, days: number): string {
  const [y, m, d] = day.split("-").map(Number) as [number, number, number];
  return new Date(Date.UTC(y, m - 1, d + days)).toISOString().slice(0, 10);
}

function weekdays(from: string, days: number): string[] {
  const out: string[] = [];
  for (let i = 0; i < days; i++) {
    const day = addDays(from, i);
    const weekday = new Date(`${day}T12:00:00Z`).getUTCDay();
    if (weekday !== 0 && weekday !== 6) out.push(day);
  }
  return out;
}

/** Tomorrow's date in clinic time: the first day a caller can book. */
export function tomorrowInClinic(now = new Date()): string {
  const today = new Intl.DateTimeFormat("en-CA", { timeZone: CLINIC_TIME_ZONE }).format(now);
  return addDays(today, 1);
}
