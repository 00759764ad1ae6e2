/**
 * FHIR R4 validation of what an EHR sends, before anything reads it: `@medplum/core`'s validator
 * (types, cardinality, invariants, unknown elements) over the StructureDefinitions in
 * `r4-definitions.ts`, plus the required bindings whose codes that file lists (`Appointment.status`,
 * `AllergyIntolerance.clinicalStatus`, ...), which Medplum's validator collects but leaves to a
 * terminology server.
 *
 * The definitions are parsed and indexed on the first validation in an isolate, not when the Worker
 * starts: most requests never validate anything. Issues name FHIR paths and say what is wrong, never
 * the value found: resources are PHI, and the issues end up in `source_events.error` and in API answers.
 */
import { indexStructureDefinitionBundle, OperationOutcomeError, validateResource } from "@medplum/core";
import type { OperationOutcomeIssue, Resource, StructureDefinition } from "@medplum/fhirtypes";
import type { FhirResource } from "./contracts";
import { R4_DEFINITIONS_JSON } from "./r4-definitions";

export interface ValidationIssue {
  /** A FHIR path such as `Patient.name[0].given[1]`, or `resourceType` / `` for the document itself. */
  path: string;
  message: string;
}

export type ValidationResult =
  | { ok: true; resource: FhirResource }
  | { ok: false; issues: ValidationIssue[] };

interface Definitions {
  resourceTypes: Set<string>;
  /** Required-binding value set URL (no version) → code system → codes. */
  requiredCodes: Map<string, Map<string, Set<string>>>;
}

let definitions: Definitions | undefined;

/** Parses and indexes the R4 definitions once per isolate; later calls return the same index. */
export function loadR4Definitions(): Definitions {
  if (definitions) return definitions;
  const parsed = JSON.parse(R4_DEFINITIONS_JSON) as {
    resourceTypes: string[];
    structureDefinitions: StructureDefinition[];
    requiredCodes: Record<string, Record<string, string[]>>;
  };
  indexStructureDefinitionBundle(parsed.structureDefinitions);
  definitions = {
    resourceTypes: new Set(parsed.resourceTypes),
    requiredCodes: new Map(
      Object.entries(parsed.requiredCodes).map(([url, systems]) => [
        url,
        new Map(Object.entries(systems).map(([system, codes]) => [system, new Set(codes)])),
      ]),
    ),
  };
  return definitions;
}

/**
 * Validates `resource` as a FHIR R4 resource of one of the types in `r4-definitions.ts`. Every error is
 * reported (not just the first); warnings are not. A valid resource comes back typed, unchanged.
 */
export function validateFhirResource(resource: unknown): ValidationResult {
  if (typeof resource !== "object" || resource === null || Array.isArray(resource))
    return fail("", "Not a FHIR resource: expected a JSON object");
  const resourceType = (resource as { resourceType?: unknown }).resourceType;
  if (typeof resourceType !== "string") return fail("resourceType", "Missing or not a string");
  const defs = loadR4Definitions();
  if (!defs.resourceTypes.has(resourceType)) return fail("resourceType", "Resource type not supported");
  const nested = unsupportedNestedResources(resource as Record<string, unknown>, resourceType, defs);
  if (nested.length > 0) return { ok: false, issues: nested };

  const tokens: Record<string, { path: string; type: string; value: unknown }[]> = {};
  let medplumIssues: OperationOutcomeIssue[];
  try {
    medplumIssues = validateResource(resource as Resource, { collect: { tokens } });
  } catch (err) {
    if (!(err instanceof OperationOutcomeError))
      return fail(resourceType, "The resource could not be validated");
    medplumIssues = err.outcome.issue ?? [];
  }
  const issues: ValidationIssue[] = [];
  for (const issue of medplumIssues) {
    if (issue.severity !== "error" && issue.severity !== "fatal") continue;
    issues.push({ path: safePath(issue.expression?.[0] ?? resourceType), message: safeMessage(issue) });
  }
  for (const [url, values] of Object.entries(tokens)) {
    const valueSet = stripVersion(url);
    const systems = defs.requiredCodes.get(valueSet);
    if (!systems) continue;
    for (const { path, type, value } of values) {
      const problem = bindingProblem(type, value, systems);
      if (problem) issues.push({ path: safePath(path), message: `${problem} ${valueSet}` });
    }
  }
  if (issues.length > 0) return { ok: false, issues: dedupe(issues) };
  return { ok: true, resource: resource as FhirResource };
}

const fail = (path: string, message: string): ValidationResult => ({
  ok: false,
  issues: [{ path, message }],
});

const stripVersion = (url: string) => url.split("|")[0]!;

/**
 * Resources inside resources (`contained`, Bundle entries, Parameters) of a type the definitions lack
 * would make Medplum's validator throw without a path; name them here instead.
 */
function unsupportedNestedResources(
  resource: Record<string, unknown>,
  path: string,
  defs: Definitions,
): ValidationIssue[] {
  const issues: ValidationIssue[] = [];
  const items = (node: Record<string, unknown>, key: string, at: string): [unknown, string][] => {
    const list = node[key];
    return Array.isArray(list) ? list.map((item, i) => [item, `${at}.${key}[${i}]`]) : [];
  };
  const asObject = (value: unknown) =>
    typeof value === "object" && value !== null ? (value as Record<string, unknown>) : null;
  const visitResource = (node: Record<string, unknown>, at: string) => {
    for (const [item, itemPath] of items(node, "contained", at)) visitNested(item, itemPath);
    if (node.resourceType === "Bundle")
      for (const [entry, entryPath] of items(node, "entry", at))
        visitNested(asObject(entry)?.resource, `${entryPath}.resource`);
    if (node.resourceType === "Parameters")
      for (const [parameter, parameterPath] of items(node, "parameter", at))
        visitParameter(parameter, parameterPath);
  };
  const visitNested = (value: unknown, at: string) => {
    const node = asObject(value);
    if (!node) return;
    if (typeof node.resourceType === "string" && !defs.resourceTypes.has(node.resourceType))
      issues.push({ path: at, message: "Resource type not supported" });
    else visitResource(node, at);
  };
  const visitParameter = (value: unknown, at: string) => {
    const parameter = asObject(value);
    if (!parameter) return;
    visitNested(parameter.resource, `${at}.resource`);
    for (const [part, partPath] of items(parameter, "part", at)) visitParameter(part, partPath);
  };
  visitResource(resource, path);
  return issues;
}

/** Why a value fails its required binding, or null: a code must be listed; a concept must have a listed coding. */
function bindingProblem(type: string, value: unknown, systems: Map<string, Set<string>>): string | null {
  const listed = (coding: unknown) => {
    const { system, code } = (coding ?? {}) as { system?: unknown; code?: unknown };
    return typeof system === "string" && typeof code === "string" && Boolean(systems.get(system)?.has(code));
  };
  switch (type) {
    case "code":
      if (typeof value !== "string") return null; // a type error, reported by the structure check
      for (const codes of systems.values()) if (codes.has(value)) return null;
      return "Code not in the required value set";
    case "Coding":
      return listed(value) ? null : "Coding not from the required value set";
    case "CodeableConcept": {
      const codings = (value as { coding?: unknown } | null)?.coding;
      return Array.isArray(codings) && codings.some(listed) ? null : "No coding from the required value set";
    }
    default:
      return null;
  }
}

/**
 * Element names as the spec spells them are kept; anything else in a path (an unknown key, which is
 * input) is replaced, so a path cannot carry a value either.
 */
function safePath(path: string): string {
  return path
    .split(".")
    .map((segment) =>
      /^[A-Za-z_][A-Za-z0-9_]{0,63}(\[\d{1,6}\])*$/.test(segment) ? segment : "(invalid name)",
    )
    .join(".");
}

/**
 * Medplum's messages that say what is wrong without quoting the input, kept as they are (constraint
 * texts are the spec's). Anything else is replaced by a generic message, since a future version might
 * quote a value.
 */
const SAFE_MESSAGES: RegExp[] = [
  /^Missing required property$/,
  /^Invalid (null|undefined|empty) value$/,
  /^Invalid empty non-primitive value$/,
  /^Expected (array of values|single value) for property$/,
  /^Invalid number of values: expected \d+\.\.(\d+|\*), but found \d+$/,
  /^Value did not match expected pattern$/,
  /^Incorrect number of values provided for slice '[\w.-]+': expected \d+\.\.(\d+|\*), but found \d+$/,
  /^Invalid JSON type: expected (string|number|boolean), but got [a-z]+$/,
  /^Invalid [A-Za-z]+ (format|value)$/,
  /^String must contain non-whitespace content$/,
  /^String cannot be larger than 1 MB$/,
  /^Invalid numeric value$/,
  /^Expected number to be an integer$/,
  /^Expected number to be in the range -?\d+\.\.\d+$/,
  /^base64Binary exceeds \d+ bytes$/,
  /^Constraint [\w.-]+ not met: /,
  /^Error evaluating invariant expression$/,
];

function safeMessage(issue: OperationOutcomeIssue): string {
  const text = issue.details?.text ?? "";
  if (text.startsWith("Invalid additional property")) return "Unknown element";
  if (SAFE_MESSAGES.some((pattern) => pattern.test(text))) return text;
  return "Invalid value";
}

function dedupe(issues: ValidationIssue[]): ValidationIssue[] {
  const seen = new Set<string>();
  return issues.filter((issue) => {
    const key = `${issue.path}\u0000${issue.message}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}
