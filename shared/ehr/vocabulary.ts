/**
 * The EHR connector's vocabulary, with no imports: the schemas in `shared/`, the Worker
 * (`workers/ehr/contracts.ts` re-exports these), the R4 definitions generator and the FHIR sandbox all
 * read their type lists from here, so a type added to the connector reaches each of them.
 */

export const DATA_SOURCE_TYPES = ["fhir_store", "fhir_webhook"] as const;
export type DataSourceType = (typeof DATA_SOURCE_TYPES)[number];

/** The FHIR resource types the connector reads; each becomes world events (see workers/ehr/mapping.ts). */
export const INBOUND_RESOURCE_TYPES = [
  "Patient",
  "Practitioner",
  "Location",
  "Schedule",
  "Slot",
  "Appointment",
  "Coverage",
  "AllergyIntolerance",
  "MedicationStatement",
  "Condition",
] as const;
export type InboundResourceType = (typeof INBOUND_RESOURCE_TYPES)[number];

/**
 * The resource types the writeback creates beyond the ones it reads (workers/ehr/fhir-builders.ts): a
 * form's answers, a call's summary, and the Provenance beside every write.
 */
export const WRITTEN_RESOURCE_TYPES = ["QuestionnaireResponse", "Communication", "Provenance"] as const;
export type WrittenResourceType = (typeof WRITTEN_RESOURCE_TYPES)[number];
