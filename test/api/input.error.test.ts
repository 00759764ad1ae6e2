/**
 * Bad input on every mutating operation, enumerated from `/openapi.json`: malformed JSON, wrong types,
 * unknown fields, other content types, oversized bodies and hostile strings, in every field the schema
 * publishes and in path ids. Each answer is the standard error body, and the database is unchanged.
 */
import { beforeAll, describe, expect, it } from "vitest";
import { MAX_BODY_BYTES } from "../../workers/middleware/json-body";
import {
  fieldsOf,
  HOSTILE_IDS,
  HOSTILE_STRINGS,
  stringFields,
  withField,
  wrongValues,
} from "../helpers/bad-input";
import { databaseState } from "../helpers/db";
import { type ApiResponse, api, expectError, type RequestOptions } from "../helpers/http";
import { documentedOperations, isMutating, type Operation } from "../helpers/openapi";
import { anyRequest, hasFixture } from "../helpers/operations";
import { createWorkspace, sessionCookie, type TestWorkspace, unique } from "../helpers/workspace";

const operations = (await documentedOperations()).filter(isMutating);
const withBody = operations.filter((op) => op.hasBody);
const withId = operations.filter((op) => op.path.includes("{id}"));
/** Checks that vary a valid body need one: a fixture's, or one of the `/auth` bodies below. */
const canBuildValidBody = (op: Operation) => hasFixture(op) || op.path.startsWith("/auth/");

/** The words of a form a person writes for the patient (the page escapes them). */
const SURFACE_PROSE = [
  "spec.title",
  "spec.description",
  "spec.fields[].label",
  "spec.fields[].description",
  "spec.fields[].placeholder",
  "spec.fields[].consent_text",
  "spec.fields[].options[].label",
  "spec.sections[].title",
  "spec.sections[].description",
  "spec.completion.title",
  "spec.completion.message",
];

/**
 * Fields where any text is legitimate input: free text a person writes, phrases a caller may say,
 * passwords, search terms. Hostile text there is stored or matched as data, and must never break anything.
 */
const FREE_TEXT: Record<string, string[]> = {
  "POST /auth/login": ["password"],
  "POST /v1/{workspace_id}/users": ["password"],
  "POST /v1/{workspace_id}/services": ["description", "persona.greeting", "escalation_rules.keywords[]"],
  "PATCH /v1/{workspace_id}/services/{id}": [
    "description",
    "persona.greeting",
    "escalation_rules.keywords[]",
  ],
  // Opaque references chosen by integrations, what callers said, and names searched for.
  "POST /v1/{workspace_id}/world/events": [
    "events[].idempotency_key",
    "events[].source_system",
    "events[].produced_by",
    "events[].supersedes",
  ],
  "POST /v1/{workspace_id}/world/extractions": ["interaction_id", "transcript[].text"],
  "POST /v1/{workspace_id}/world/entities/resolve": ["given_name", "family_name"],
  // Notes on a graph version and the answers an agent reads out: prose, apostrophes and all.
  "POST /v1/{workspace_id}/services/{service_id}/context-graphs": ["note"],
  "POST /v1/{workspace_id}/services/{service_id}/knowledge": ["title", "body"],
  "PATCH /v1/{workspace_id}/services/{service_id}/knowledge/{id}": ["title", "body"],
  // What an operator tells the agent: prose, quotes and all.
  "POST /v1/{workspace_id}/calls/{id}/guidance": ["text"],
  // What an operator says to the caller, the transfer's announcement, and wrap-up notes (sealed).
  "POST /v1/{workspace_id}/calls/{id}/say": ["text"],
  "POST /v1/{workspace_id}/calls/{id}/transfer": ["announcement"],
  "POST /v1/{workspace_id}/calls/{id}/wrapup": ["notes"],
  // A form's words for the patient (the page escapes them; the prefilled values are the patient's own).
  "POST /v1/{workspace_id}/surfaces": SURFACE_PROSE,
  "PATCH /v1/{workspace_id}/surfaces/{id}": SURFACE_PROSE,
  "POST /v1/{workspace_id}/surface-templates": SURFACE_PROSE,
};

let ws: TestWorkspace;

beforeAll(async () => {
  ws = await createWorkspace();
});

interface BaseRequest {
  path: string;
  body: unknown;
  credentials: Pick<RequestOptions, "key" | "cookie">;
}

const AUTH_BODIES: Record<string, () => unknown> = {
  "POST /auth/login": () => ({ email: `nobody-${unique()}@example.test`, password: "a wrong password" }),
  "POST /auth/mfa/enable": () => ({ code: "123456" }),
  "POST /auth/mfa/disable": () => ({ code: "123456" }),
  "POST /auth/workspaces": () => ({ id: `t-input-${unique()}`, name: "North Clinic" }),
};

/**
 * A request for `op` with fresh credentials (signing out must not spoil the next test): one that passes
 * validation where a fixture exists, else a placeholder.
 */
async function baseRequest(op: Operation): Promise<BaseRequest> {
  if (op.path.startsWith("/v1/")) {
    const req = await anyRequest(op, ws);
    return { path: req.path, body: req.body, credentials: { key: ws.keys.owner } };
  }
  const cookie = (await sessionCookie(ws.members.owner.id)).cookie;
  return {
    path: op.path,
    body: AUTH_BODIES[op.id]?.(),
    credentials: op.security.length > 0 ? { cookie } : {},
  };
}

const send = (op: Operation, base: BaseRequest, options: RequestOptions) =>
  api(op.method, base.path, { ...base.credentials, ...options });

/** Sends every request, asserting each is refused with `status` and `code`, and nothing was stored. */
async function expectAllRefused(
  requests: [label: string, send: () => Promise<ApiResponse<unknown>>][],
  check: (res: ApiResponse<unknown>, label: string) => void,
) {
  const before = await databaseState();
  for (const [label, request] of requests) check(await request(), label);
  const after = await databaseState();
  const changed = Object.keys(after).filter((t) => JSON.stringify(after[t]) !== JSON.stringify(before[t]));
  expect(changed, "tables changed by refused requests").toEqual([]);
}

describe.each(withBody)("$id body", (op) => {
  it.runIf(canBuildValidBody(op))(
    "is accepted as prepared, so the failures below come from what each one changes",
    async () => {
      const base = await baseRequest(op);
      const res = await send(op, base, { body: base.body });
      expect(res.status, res.text).not.toBe(400);
      expect(res.status, res.text).toBeLessThan(500);
    },
  );

  it("answers 400 invalid_json to malformed JSON", async () => {
    const base = await baseRequest(op);
    const malformed = ['{"name":', "{name: 'x'}", "[1, 2", '{"a":1}}', "'single'", "\u0000", "{,}", "nul"];
    await expectAllRefused(
      malformed.map((raw) => [raw, () => send(op, base, { raw, contentType: "application/json" })]),
      (res, label) => {
        expect(res.status, label).toBe(400);
        expectError(res, "invalid_json");
      },
    );
  });

  it.runIf(canBuildValidBody(op))(
    "answers 400 validation_failed with details.issues to a wrong type in any field",
    async () => {
      const base = await baseRequest(op);
      const fields = fieldsOf(op.bodySchema!);
      expect(fields.length).toBeGreaterThan(0);
      const cases: [string, () => Promise<ApiResponse<unknown>>][] = [
        ["an array body", () => send(op, base, { body: [base.body] })],
        ["a string body", () => send(op, base, { body: "text" })],
        ["a number body", () => send(op, base, { body: 42 })],
        ["a null body", () => send(op, base, { raw: "null", contentType: "application/json" })],
      ];
      for (const field of fields) {
        for (const value of wrongValues(field)) {
          cases.push([
            `${field.path} = ${JSON.stringify(value)}`,
            () => send(op, base, { body: withField(base.body, field.path, value) }),
          ]);
        }
      }
      await expectAllRefused(cases, (res, label) => {
        expect(res.status, `${label}: ${res.text}`).toBe(400);
        expectError(res, "validation_failed");
        const issues = (res.body as { error: { details: { issues: { location: string; path: string }[] } } })
          .error.details.issues;
        expect(issues.length, label).toBeGreaterThan(0);
        expect(issues[0]?.location, label).toBe("json");
      });
    },
  );

  it.runIf(canBuildValidBody(op))(
    "answers 400 to unknown fields, at the top and in nested objects",
    async () => {
      const base = await baseRequest(op);
      const objects = fieldsOf(op.bodySchema!).filter((f) => f.schema.properties);
      const cases: [string, () => Promise<ApiResponse<unknown>>][] = [
        ["is_admin", () => send(op, base, { body: { ...(base.body as object), is_admin: true } })],
        [
          "workspace_id",
          () => send(op, base, { body: { ...(base.body as object), workspace_id: "t-other" } }),
        ],
        [
          "__proto__",
          () =>
            send(op, base, {
              raw: JSON.stringify(base.body).replace(/^\{/, '{"__proto__":{"role":"owner"},'),
              contentType: "application/json",
            }),
        ],
        ...objects.map(
          (f) =>
            [
              `${f.path}.extra`,
              () => send(op, base, { body: withField(base.body, `${f.path}.extra`, 1) }),
            ] as [string, () => Promise<ApiResponse<unknown>>],
        ),
      ];
      await expectAllRefused(cases, (res, label) => {
        expect(res.status, `${label}: ${res.text}`).toBe(400);
        expectError(res, "validation_failed");
      });
    },
  );

  it("answers 415 to a body that is not application/json", async () => {
    const base = await baseRequest(op);
    const raw = JSON.stringify(base.body);
    const types = [
      "text/plain",
      "application/x-www-form-urlencoded",
      "multipart/form-data; boundary=x",
      "application/xml",
      "text/json",
      "application/json-patch+json",
      "application/jsonp",
    ];
    await expectAllRefused(
      [
        ...types.map(
          (contentType) =>
            [contentType, () => send(op, base, { raw, contentType })] as [
              string,
              () => Promise<ApiResponse<unknown>>,
            ],
        ),
        ["no content type", () => send(op, base, { raw: new TextEncoder().encode(raw) })],
      ],
      (res, label) => {
        expect(res.status, label).toBe(415);
        expectError(res, "unsupported_media_type");
      },
    );
  });

  it.runIf(canBuildValidBody(op))(
    "answers 4xx to hostile strings in every string field, storing nothing",
    async () => {
      const freeText = new Set(FREE_TEXT[op.id] ?? []);
      const strict = stringFields(op.bodySchema!).filter((f) => !freeText.has(f.path));
      const base = await baseRequest(op);
      const accepted: string[] = [];
      const before = await databaseState();
      for (const field of strict) {
        for (const [what, value] of Object.entries(HOSTILE_STRINGS)) {
          const res = await send(op, base, { body: withField(base.body, field.path, value) });
          const label = `${field.path}: ${what}`;
          expect(res.status, label).toBeLessThan(500);
          if (res.status < 400) accepted.push(label);
          else expectError(res);
        }
      }
      expect(accepted.join("\n"), "fields that took hostile text").toBe("");
      expect(await databaseState()).toEqual(before);
    },
  );

  if (FREE_TEXT[op.id]) {
    it("keeps hostile text in free-text fields as plain data (or refuses it), never failing", async () => {
      for (const path of FREE_TEXT[op.id]!) {
        for (const [what, value] of Object.entries(HOSTILE_STRINGS)) {
          const base = await baseRequest(op);
          const res = await send(op, base, { body: withField(base.body, path, value) });
          const label = `${path}: ${what}`;
          expect(res.status, `${label}: ${res.text.slice(0, 300)}`).toBeLessThan(500);
          if (res.status >= 400) {
            expectError(res);
            continue;
          }
          // Where the answer shows the field, it shows exactly what was sent.
          const echoed = path
            .split(".")
            .reduce<unknown>((node, key) => (node as Record<string, unknown> | undefined)?.[key], res.body);
          if (echoed !== undefined) expect(echoed, label).toBe(value);
        }
      }
      // Each case builds its fixture afresh (a surface's makes a patient): dozens of requests.
    }, 30_000);
  }
});

describe.each(operations)("$id size limit", (op) => {
  it(`answers 413 payload_too_large to a body over ${MAX_BODY_BYTES} bytes`, async () => {
    const base = await baseRequest(op);
    const padding = "x".repeat(MAX_BODY_BYTES);
    await expectAllRefused(
      [
        ["JSON", () => send(op, base, { body: { ...(base.body as object), padding } })],
        [
          "one byte over",
          () => send(op, base, { raw: `"${padding.slice(1)}"`, contentType: "application/json" }),
        ],
      ],
      (res, label) => {
        expect(res.status, label).toBe(413);
        expectError(res, "payload_too_large");
        expect((res.body as { error: { details: unknown } }).error.details).toEqual({
          max_bytes: MAX_BODY_BYTES,
        });
      },
    );
  });
});

describe.each(withId)("$id path id", (op) => {
  it("answers 4xx to hostile and traversing ids, storing nothing", async () => {
    const base = await baseRequest(op);
    // The `{id}` segment of the prepared path (a real record's id where there is a fixture).
    const segments = base.path.split("/");
    const at = op.path.split("/").indexOf("{id}");
    const withId = (id: string) => segments.map((s, i) => (i === at ? id : s)).join("/");
    const ids = [...HOSTILE_IDS, "%2e%2e", `${segments[at]}%20OR%201=1`, `${segments[at]}%2F..`];
    await expectAllRefused(
      ids.map((id) => [
        id.slice(0, 60),
        () => api(op.method, withId(id), { ...base.credentials, body: base.body }),
      ]),
      (res, label) => {
        expect(res.status, `${label}: ${res.text.slice(0, 200)}`).toBeGreaterThanOrEqual(400);
        expect(res.status, label).toBeLessThan(500);
        expectError(res);
      },
    );
  });

  it("answers 4xx to a workspace id that climbs out of its path", async () => {
    const base = await baseRequest(op);
    const rest = base.path.split("/").slice(3).join("/");
    // (A bare `%2e%2e` segment is resolved by the URL parser before any request exists.)
    for (const workspace of [`..%2F${ws.id}`, `${ws.id}%2F..%2Fother`, `%2e%2e%2F${ws.id}`, `${ws.id}%00`]) {
      const res = await api(op.method, `/v1/${workspace}/${rest}`, { ...base.credentials, body: base.body });
      expect(res.status, workspace).toBeGreaterThanOrEqual(400);
      expect(res.status, workspace).toBeLessThan(500);
      expectError(res);
    }
  });
});
