/**
 * The demo clinic's patients: 50 synthetic people (plus two deliberate near-duplicates for entity
 * resolution to find), generated from a fixed seed so every run, every machine and the EHR sandbox get
 * the same ones. Two views of the same data: `demoPatients()` in a neutral shape a FHIR sandbox can turn
 * into Patient, AllergyIntolerance, MedicationStatement and Coverage resources, and
 * `demoPatientBatches()` as world events for `POST /v1/demo/world/events` with stable idempotency keys,
 * so seeding twice stores nothing new. Phones are US numbers in the fictional 555-01XX range.
 */
import type { IngestEvent } from "../shared/schemas/world";
import { normalizeE164 } from "../shared/tenancy/phone";

export const DEMO_PATIENT_COUNT = 50;
export const DEMO_SOURCE_SYSTEM = "demo-ehr";
/** Everything is dated back from here, so the data does not depend on when it is generated. */
export const DEMO_ANCHOR = "2026-11-01T12:00:00.000Z";
/** When the demo EHR says its records were last updated. */
const RECORDED_AT = "2026-10-01T09:00:00.000Z";
const TIME_ZONE = "America/New_York";
const SEED = 0x5b1d_2026;

type Channel = "voice" | "sms";
type ContactTime = "morning" | "afternoon" | "evening" | "any";

export interface DemoPatient {
  /** The EHR's id: `demo-001`. */
  id: string;
  /** `ehr:Patient:demo-001`: how the world model and the EHR connector name the patient. */
  external_id: string;
  name: { given: string; family: string; preferred: string | null };
  gender: "female" | "male";
  birth_date: string;
  phone: string;
  email: string;
  address: { line: string; city: string; state: string; postal_code: string; country: "US" };
  language: "en" | "es";
  allergies: {
    id: string;
    substance: string;
    reaction: string;
    severity: "mild" | "moderate" | "severe";
    status: "active";
  }[];
  medications: { id: string; name: string; dose: string; frequency: string; status: "active" }[];
  coverage: {
    id: string;
    payer: string;
    member_id: string;
    group_number: string;
    status: "active";
  };
  contact_preferences: { channel: Channel | "email"; contact_time: ContactTime };
  interactions: {
    id: string;
    channel: Channel;
    direction: "inbound" | "outbound";
    occurred_at: string;
    summary: string;
    topics: string[];
  }[];
  tasks: {
    id: string;
    kind: "callback" | "follow_up" | "reminder";
    due_at: string;
    status: "open" | "done";
    note: string;
  }[];
  /** On the near-duplicates: the id of the patient this record is a second copy of. */
  duplicate_of: string | null;
}

/** mulberry32: small, fast, and the same sequence everywhere for the same seed. */
function prng(seed: number) {
  let state = seed >>> 0;
  const next = () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const int = (min: number, max: number) => min + Math.floor(next() * (max - min + 1));
  const pick = <T>(items: readonly T[]): T => items[int(0, items.length - 1)]!;
  const sample = <T>(items: readonly T[], n: number): T[] => {
    const pool = [...items];
    const out: T[] = [];
    while (out.length < n && pool.length > 0) out.push(pool.splice(int(0, pool.length - 1), 1)[0]!);
    return out;
  };
  return { next, int, pick, sample, chance: (p: number) => next() < p };
}

const FEMALE = [
  "Maria",
  "Emma",
  "Olivia",
  "Ava",
  "Sophia",
  "Isabella",
  "Mia",
  "Charlotte",
  "Amelia",
  "Harper",
  "Evelyn",
  "Abigail",
  "Ella",
  "Grace",
  "Chloe",
  "Lucia",
  "Aaliyah",
  "Nora",
  "Zoe",
  "Hannah",
  "Rosa",
  "Mei",
  "Priya",
  "Fatima",
  "Ruth",
] as const;
const MALE = [
  "James",
  "Liam",
  "Noah",
  "William",
  "Elijah",
  "Benjamin",
  "Lucas",
  "Henry",
  "Alexander",
  "Daniel",
  "Mateo",
  "Samuel",
  "David",
  "Joseph",
  "Carlos",
  "Wei",
  "Arjun",
  "Omar",
  "Isaac",
  "Thomas",
  "Andre",
  "Hiro",
  "Luis",
  "Walter",
  "Frank",
] as const;
const FAMILY = [
  "Smith",
  "Johnson",
  "Williams",
  "Brown",
  "Jones",
  "Garcia",
  "Miller",
  "Davis",
  "Rodriguez",
  "Martinez",
  "Hernandez",
  "Lopez",
  "Gonzalez",
  "Wilson",
  "Anderson",
  "Thomas",
  "Taylor",
  "Moore",
  "Jackson",
  "Martin",
  "Lee",
  "Perez",
  "Thompson",
  "White",
  "Harris",
  "Sanchez",
  "Clark",
  "Ramirez",
  "Lewis",
  "Robinson",
  "Walker",
  "Young",
  "Allen",
  "King",
  "Wright",
  "Scott",
  "Torres",
  "Hill",
  "Flores",
  "Green",
  "Adams",
  "Nelson",
  "Baker",
  "Hall",
  "Rivera",
  "Campbell",
  "Mitchell",
  "Carter",
  "Roberts",
  "Patel",
] as const;
const PLACES = [
  { area: "212", city: "New York", state: "NY", zip: "100" },
  { area: "718", city: "Brooklyn", state: "NY", zip: "112" },
  { area: "914", city: "Yonkers", state: "NY", zip: "107" },
  { area: "201", city: "Jersey City", state: "NJ", zip: "073" },
  { area: "973", city: "Newark", state: "NJ", zip: "071" },
  { area: "203", city: "Stamford", state: "CT", zip: "069" },
] as const;
const STREETS = [
  "Maple",
  "Oak",
  "Cedar",
  "Elm",
  "Pine",
  "Riverside",
  "Park",
  "Hudson",
  "Lake",
  "Hill",
] as const;
const STREET_KINDS = ["St", "Ave", "Rd", "Blvd", "Ln"] as const;
const EMAIL_DOMAINS = ["example.com", "example.org", "example.net"] as const;
const ALLERGIES = [
  { substance: "Penicillin", reaction: "hives", severity: "severe" },
  { substance: "Sulfa drugs", reaction: "rash", severity: "moderate" },
  { substance: "Latex", reaction: "itching", severity: "mild" },
  { substance: "Peanuts", reaction: "anaphylaxis", severity: "severe" },
  { substance: "Shellfish", reaction: "swelling", severity: "severe" },
  { substance: "Aspirin", reaction: "hives", severity: "moderate" },
  { substance: "Codeine", reaction: "nausea", severity: "mild" },
  { substance: "Amoxicillin", reaction: "rash", severity: "moderate" },
  { substance: "Bee stings", reaction: "swelling", severity: "severe" },
  { substance: "Eggs", reaction: "hives", severity: "mild" },
] as const;
const MEDICATIONS = [
  { name: "Metformin", dose: "500 mg", frequency: "twice daily" },
  { name: "Lisinopril", dose: "10 mg", frequency: "once daily" },
  { name: "Atorvastatin", dose: "20 mg", frequency: "at bedtime" },
  { name: "Levothyroxine", dose: "50 mcg", frequency: "once daily" },
  { name: "Amlodipine", dose: "5 mg", frequency: "once daily" },
  { name: "Albuterol", dose: "90 mcg", frequency: "as needed" },
  { name: "Omeprazole", dose: "20 mg", frequency: "once daily" },
  { name: "Sertraline", dose: "50 mg", frequency: "once daily" },
  { name: "Metoprolol", dose: "25 mg", frequency: "twice daily" },
  { name: "Gabapentin", dose: "300 mg", frequency: "three times daily" },
] as const;
const PAYERS = [
  { payer: "Aetna", prefix: "AET" },
  { payer: "Blue Cross Blue Shield", prefix: "BCB" },
  { payer: "Cigna", prefix: "CIG" },
  { payer: "UnitedHealthcare", prefix: "UHC" },
  { payer: "Humana", prefix: "HUM" },
  { payer: "Medicare", prefix: "MCR" },
  { payer: "Medicaid", prefix: "MCD" },
] as const;
const TOPICS: Record<string, string[]> = {
  appointment_scheduling: [
    "Booked an annual physical.",
    "Rescheduled a follow-up visit to next week.",
    "Asked for the first available appointment.",
  ],
  lab_results: ["Asked about recent blood work results.", "Wanted to know if lab results were in."],
  billing_question: ["Questioned a charge on the last statement.", "Asked about the copay for a visit."],
  insurance_update: ["Reported a new insurance card.", "Asked whether the clinic takes their plan."],
  symptom_check: ["Reported a cough for a week; advised a visit.", "Asked about recurring headaches."],
  referral: ["Asked for a referral to a specialist."],
};
const CONTACT_HOURS: Record<ContactTime, [number, number]> = {
  morning: [8, 11],
  afternoon: [12, 16],
  evening: [17, 20],
  any: [8, 19],
};
const DAY_MS = 86_400_000;

const pad = (n: number, width = 3) => String(n).padStart(width, "0");

/** An instant at `hour` local clinic time, `daysBefore` days before the anchor. */
function localInstant(daysBefore: number, hour: number, minute: number): string {
  const day = new Date(Date.parse(DEMO_ANCHOR) - daysBefore * DAY_MS);
  const noonUtc = Date.UTC(day.getUTCFullYear(), day.getUTCMonth(), day.getUTCDate(), 12);
  const localNoon = Number(
    new Intl.DateTimeFormat("en-US", { timeZone: TIME_ZONE, hour: "numeric", hourCycle: "h23" }).format(
      new Date(noonUtc),
    ),
  );
  const offsetHours = 12 - localNoon;
  return new Date(noonUtc + ((hour - 12 + offsetHours) * 60 + minute) * 60_000).toISOString();
}

function interactionsFor(
  rng: ReturnType<typeof prng>,
  id: string,
  preferences: DemoPatient["contact_preferences"],
  refills: boolean,
): DemoPatient["interactions"] {
  const count = rng.int(1, 4);
  const [fromHour, toHour] = CONTACT_HOURS[preferences.contact_time];
  const channelFor = (): Channel =>
    preferences.channel === "sms" ? (rng.chance(0.8) ? "sms" : "voice") : rng.chance(0.75) ? "voice" : "sms";
  // Refills come back about monthly: what the adherence pattern should find.
  let refillDay = rng.int(5, 20);
  const out: DemoPatient["interactions"] = [];
  for (let i = 0; i < count; i++) {
    const isRefill = refills && i < 3;
    const topic = isRefill
      ? "medication_refill"
      : rng.pick(Object.keys(TOPICS).filter((t) => t !== "medication_refill"));
    const daysBefore = isRefill ? refillDay : rng.int(3, 200);
    if (isRefill) refillDay += rng.int(28, 33);
    const channel = channelFor();
    const direction = channel === "sms" && rng.chance(0.3) ? "outbound" : "inbound";
    out.push({
      id: "",
      channel,
      direction,
      occurred_at: localInstant(daysBefore, rng.int(fromHour, toHour), rng.int(0, 59)),
      summary: isRefill ? "Asked for a medication refill." : rng.pick(TOPICS[topic]!),
      topics: isRefill && rng.chance(0.3) ? [topic, "appointment_scheduling"] : [topic],
    });
  }
  return out
    .sort((a, b) => (a.occurred_at < b.occurred_at ? -1 : 1))
    .map((interaction, i) => ({ ...interaction, id: `${id}-i${i + 1}` }));
}

/** The 50 demo patients, then the two near-duplicates. Same output on every call. */
export function demoPatients(count = DEMO_PATIENT_COUNT): DemoPatient[] {
  const rng = prng(SEED);
  const usedPhones = new Set<string>();
  const patients: DemoPatient[] = [];
  const families = rng.sample(FAMILY, FAMILY.length);
  for (let n = 1; n <= count; n++) {
    const id = `demo-${pad(n)}`;
    const gender = rng.chance(0.52) ? "female" : "male";
    const given = gender === "female" ? rng.pick(FEMALE) : rng.pick(MALE);
    const family = families[(n - 1) % families.length]!;
    const place = rng.pick(PLACES);
    let phone: string | null = null;
    while (!phone || usedPhones.has(phone))
      phone = normalizeE164(`+1${place.area}55501${pad(rng.int(0, 99), 2)}`);
    usedPhones.add(phone);
    const year = rng.int(1938, 2012);
    const birthDate = `${year}-${pad(rng.int(1, 12), 2)}-${pad(rng.int(1, 28), 2)}`;
    const preferences = {
      channel: rng.pick(["voice", "voice", "sms", "sms", "email"] as const),
      contact_time: rng.pick(["morning", "afternoon", "evening", "any"] as const),
    };
    const medications = rng.sample(MEDICATIONS, rng.pick([0, 1, 1, 2, 2, 3, 4])).map((m, i) => ({
      id: `${id}-m${i + 1}`,
      ...m,
      status: "active" as const,
    }));
    const payer = year <= 1960 ? PAYERS[5] : rng.pick(PAYERS.filter((p) => p.payer !== "Medicare"));
    patients.push({
      id,
      external_id: `ehr:Patient:${id}`,
      name: { given, family, preferred: null },
      gender,
      birth_date: birthDate,
      phone,
      email: `${given}.${family}${pad(n, 2)}@${rng.pick(EMAIL_DOMAINS)}`.toLowerCase(),
      address: {
        line: `${rng.int(10, 980)} ${rng.pick(STREETS)} ${rng.pick(STREET_KINDS)}`,
        city: place.city,
        state: place.state,
        postal_code: `${place.zip}${pad(rng.int(1, 99), 2)}`,
        country: "US",
      },
      language: rng.chance(0.15) ? "es" : "en",
      allergies: rng.sample(ALLERGIES, rng.pick([0, 0, 1, 1, 2, 3])).map((a, i) => ({
        id: `${id}-a${i + 1}`,
        ...a,
        status: "active" as const,
      })),
      medications,
      coverage: {
        id: `${id}-cov`,
        payer: payer.payer,
        member_id: `${payer.prefix}${rng.int(100_000_000, 999_999_999)}`,
        group_number: `G${rng.int(10_000, 99_999)}`,
        status: "active",
      },
      contact_preferences: preferences,
      interactions: interactionsFor(rng, id, preferences, medications.length > 0 && rng.chance(0.5)),
      tasks: rng.chance(0.3)
        ? [
            {
              id: `${id}-t1`,
              kind: rng.pick(["callback", "follow_up", "reminder"] as const),
              due_at: localInstant(-rng.int(1, 14), rng.int(9, 16), 0),
              status: "open",
              note: "Call back about the last visit.",
            },
          ]
        : [],
      duplicate_of: null,
    });
  }
  return [...patients, ...nearDuplicates(patients)];
}

const NICKNAMES: Record<string, string> = {
  Isabella: "Bella",
  Abigail: "Abby",
  Charlotte: "Charlie",
  Evelyn: "Evie",
  Sophia: "Sophie",
  Olivia: "Liv",
  William: "Will",
  Alexander: "Alex",
  Benjamin: "Ben",
  Daniel: "Dan",
  Samuel: "Sam",
  Joseph: "Joe",
  Thomas: "Tom",
  James: "Jim",
  David: "Dave",
};

/**
 * Two second copies, as a real EHR accumulates them. One shares name, birth date and phone (a match
 * strong enough to merge on its own); the other goes by a nickname and shares phone and email (a match
 * a person should confirm).
 */
function nearDuplicates(patients: DemoPatient[]): DemoPatient[] {
  const copy = (original: DemoPatient, n: number, changes: Partial<DemoPatient>): DemoPatient => {
    const id = `demo-${pad(n)}`;
    return {
      ...original,
      id,
      external_id: `ehr:Patient:${id}`,
      allergies: [],
      medications: [],
      coverage: { ...original.coverage, id: `${id}-cov` },
      interactions: [],
      tasks: [],
      duplicate_of: original.id,
      ...changes,
    };
  };
  const first = patients[6]!;
  const second = patients.slice(20).find((p) => NICKNAMES[p.name.given]) ?? patients[20]!;
  const nickname = NICKNAMES[second.name.given] ?? second.name.given.slice(0, 3);
  const base = patients.length;
  return [
    copy(first, base + 1, {
      email: `${first.name.given}.${first.name.family}.work@example.net`.toLowerCase(),
      address: { ...first.address, line: first.address.line.replace(/\b(St|Ave|Rd|Blvd|Ln)$/, "Street") },
    }),
    copy(second, base + 2, {
      name: { ...second.name, given: nickname, preferred: nickname },
      email: second.email.toUpperCase(),
    }),
  ];
}

type DemoEvent = Omit<IngestEvent, "data"> & { data: Record<string, unknown> };

/** One patient's world events: the EHR's view of them, with stable idempotency keys. */
export function patientEvents(patient: DemoPatient): DemoEvent[] {
  const entity = { entity_type: "patient" as const, external_id: patient.external_id };
  const event = (
    key: string,
    eventType: IngestEvent["event_type"],
    data: Record<string, unknown>,
    fhir: [string, string],
    effectiveAt = RECORDED_AT,
  ): DemoEvent => ({
    idempotency_key: `demo-ehr:${patient.id}:${key}`,
    entity,
    event_type: eventType,
    data,
    source: "ehr",
    source_system: DEMO_SOURCE_SYSTEM,
    effective_at: effectiveAt,
    fhir_resource_type: fhir[0],
    fhir_resource_id: fhir[1],
  });
  const asPatient: [string, string] = ["Patient", patient.id];
  return [
    event(
      "demographics",
      "demographics.recorded",
      {
        given_name: patient.name.given,
        family_name: patient.name.family,
        ...(patient.name.preferred ? { preferred_name: patient.name.preferred } : {}),
        birth_date: patient.birth_date,
        gender: patient.gender,
        language: patient.language,
      },
      asPatient,
    ),
    event(
      "contact",
      "contact.recorded",
      { phone: patient.phone, email: patient.email, address: patient.address },
      asPatient,
    ),
    event("identifier", "identifier.recorded", { system: "ehr:Patient", value: patient.id }, asPatient),
    event(
      "preferences",
      "preference.recorded",
      { ...patient.contact_preferences, language: patient.language },
      asPatient,
    ),
    ...patient.allergies.map(({ id, ...a }) =>
      event(`allergy:${id}`, "allergy.recorded", a, ["AllergyIntolerance", id]),
    ),
    ...patient.medications.map(({ id, ...m }) =>
      event(`medication:${id}`, "medication.recorded", m, ["MedicationStatement", id]),
    ),
    event(
      "coverage",
      "coverage.recorded",
      {
        payer: patient.coverage.payer,
        member_id: patient.coverage.member_id,
        group_number: patient.coverage.group_number,
        status: patient.coverage.status,
      },
      ["Coverage", patient.coverage.id],
    ),
    ...patient.interactions.map((i) =>
      event(
        `interaction:${i.id}`,
        "interaction.recorded",
        {
          interaction_id: i.id,
          channel: i.channel,
          direction: i.direction,
          occurred_at: i.occurred_at,
          summary: i.summary,
          topics: i.topics,
        },
        ["Communication", i.id],
        i.occurred_at,
      ),
    ),
    ...patient.tasks.map((t) =>
      event(
        `task:${t.id}`,
        "task.recorded",
        { task_id: t.id, kind: t.kind, due_at: t.due_at, status: t.status, note: t.note },
        ["Task", t.id],
      ),
    ),
  ];
}

/**
 * The demo patients as ingest batches of `patientsPerBatch`, near-duplicates last and on their own, so
 * the originals exist (and are the older entities) when the copies arrive.
 */
export function demoPatientBatches(patients = demoPatients(), patientsPerBatch = 10): DemoEvent[][] {
  const originals = patients.filter((p) => p.duplicate_of === null);
  const copies = patients.filter((p) => p.duplicate_of !== null);
  const batches: DemoEvent[][] = [];
  for (let i = 0; i < originals.length; i += patientsPerBatch)
    batches.push(originals.slice(i, i + patientsPerBatch).flatMap(patientEvents));
  if (copies.length > 0) batches.push(copies.flatMap(patientEvents));
  return batches;
}
