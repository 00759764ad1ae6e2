/**
 * Bad request bodies generated from an operation's published JSON schema: a wrong type for every
 * field (nested ones too), and hostile strings for every string field. Generated, so a field added to
 * a schema is tried without anyone remembering to.
 */
import type { JsonSchema } from "./openapi";

export interface Field {
  /** Dotted path; `[]` marks the items of an array (`escalation_rules.keywords[]`). */
  path: string;
  schema: JsonSchema;
}

/** Every field of an object schema, depth first: objects and arrays as well as their contents. */
export function fieldsOf(schema: JsonSchema, prefix = ""): Field[] {
  return Object.entries(schema.properties ?? {}).flatMap(([name, property]) => {
    const path = prefix ? `${prefix}.${name}` : name;
    const nested = typesOf(property).includes("object") ? fieldsOf(property, path) : [];
    const items =
      typesOf(property).includes("array") && property.items
        ? [{ path: `${path}[]`, schema: property.items }, ...fieldsOf(property.items, `${path}[]`)]
        : [];
    return [{ path, schema: property }, ...nested, ...items];
  });
}

export function typesOf(schema: JsonSchema): string[] {
  if (Array.isArray(schema.type)) return schema.type;
  if (schema.type) return [schema.type];
  return schema.enum ? [...new Set(schema.enum.map((v) => (v === null ? "null" : typeof v)))] : [];
}

/** A copy of `body` with the field at `path` set to `value` (intermediate objects and arrays made). */
export function withField(body: unknown, path: string, value: unknown): Record<string, unknown> {
  const root = structuredClone(body ?? {}) as Record<string, unknown>;
  const segments = path.split(".");
  let node = root;
  segments.forEach((segment, i) => {
    const last = i === segments.length - 1;
    const isArray = segment.endsWith("[]");
    const name = isArray ? segment.slice(0, -2) : segment;
    if (isArray) {
      // One item: a copy of the first one there (so its other fields stay valid), with the change.
      const first = (node[name] as unknown[] | undefined)?.[0];
      if (last) {
        node[name] = [value];
      } else {
        const item = (first && typeof first === "object" ? structuredClone(first) : {}) as Record<
          string,
          unknown
        >;
        node[name] = [item];
        node = item;
      }
    } else if (last) {
      node[name] = value;
    } else {
      const child = node[name];
      node[name] = child && typeof child === "object" && !Array.isArray(child) ? child : {};
      node = node[name] as Record<string, unknown>;
    }
  });
  return root;
}

/** A scalar and a structure of each JSON type; a field gets the first two that are not its type. */
const SAMPLES: [jsonType: string, value: unknown][] = [
  ["number", 12345],
  ["object", { nested: 1 }],
  ["string", "text"],
  ["array", ["a"]],
  ["boolean", true],
];

/** Values of the wrong JSON type for `field`, plus an out-of-enum string where it is an enum. */
export function wrongValues(field: Field): unknown[] {
  // A field without a type takes any JSON at this layer (its meaning is checked further in).
  if (typesOf(field.schema).length === 0) return [];
  const accepted = typesOf(field.schema).map((t) => (t === "integer" ? "number" : t));
  const wrong = SAMPLES.filter(([type]) => !accepted.includes(type))
    .slice(0, 2)
    .map(([, value]) => value);
  if (!accepted.includes("null")) wrong.push(null);
  if (field.schema.enum) wrong.push("not-one-of-them");
  if (field.schema.format === "date-time") wrong.push("next tuesday");
  return wrong;
}

/** Strings an attacker would try in a text field. */
export const HOSTILE_STRINGS: Record<string, string> = {
  "SQL statement": "'; DROP TABLE services;--",
  "SQL tautology": "x' OR '1'='1",
  "script tag": "<script>alert(1)</script>",
  "null byte": "Front\u0000desk",
  "header injection": "line\r\nSet-Cookie: sb_session=x",
  "very long string": "A".repeat(100_000),
};

/** What an attacker would put in a path segment that names a record. */
export const HOSTILE_IDS: string[] = [
  ...Object.values(HOSTILE_STRINGS).map(encodeURIComponent),
  encodeURIComponent("../../../etc/passwd"),
  "..%2F..%2Fapi-keys",
  "..%5C..%5Cwindows",
  "svc_abcdefgh%00",
  "svc_abcdefgh'--",
];

/** String fields of the whole schema (leaves only: the fields a hostile string can land in). */
export function stringFields(schema: JsonSchema): Field[] {
  return fieldsOf(schema).filter((f) => typesOf(f.schema).includes("string"));
}
