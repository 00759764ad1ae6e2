/** Surface specs: every problem specProblems reports, conditions, answer validation, progress, reshape. */
import { describe, expect, it } from "vitest";
import {
  type Answers,
  type Condition,
  SurfaceSpec,
  type SurfaceSpecInput,
} from "../../../shared/surfaces/spec";
import {
  evaluate,
  progress,
  reshapeSpec,
  sectionsOf,
  specProblems,
  validateAnswer,
  visibleFields,
} from "../../../shared/surfaces/validate";

const spec = (input: Omit<SurfaceSpecInput, "title"> & { title?: string }) =>
  SurfaceSpec.parse({ title: "Intake", ...input });
const f = (key: string, field_type: string, extra: Record<string, unknown> = {}) =>
  ({ key, label: key, field_type, ...extra }) as SurfaceSpecInput["fields"][number];

const VALID = spec({
  sections: [
    { title: "About you", field_keys: ["intro", "dob", "phone", "email", "smoker", "reason"] },
    {
      title: "Details",
      field_keys: ["packs", "symptoms", "other", "insurance_card", "consent"],
      condition: { field: "smoker", op: "=", value: true },
    },
  ],
  fields: [
    f("intro", "heading"),
    f("dob", "date", {
      validation: { max_date: "today" },
      target: { event_type: "demographics.recorded", data_key: "birth_date" },
    }),
    f("phone", "phone", {
      target: { event_type: "contact.recorded", data_key: "phone" },
      prefill_value: "+14155550123",
    }),
    f("email", "email", { required: false }),
    f("smoker", "checkbox", { required: false, consent_text: "I confirm" }),
    f("reason", "select", {
      options: [
        { value: "checkup", label: "Checkup" },
        { value: "pain", label: "Pain" },
      ],
    }),
    f("packs", "number", { validation: { min: 0, max: 10 } }),
    f("symptoms", "multiselect", {
      options: [
        { value: "cough", label: "Cough" },
        { value: "fever", label: "Fever" },
      ],
      condition: { field: "reason", op: "=", value: "pain" },
    }),
    f("other", "textarea", {
      required: false,
      validation: { max_length: 50 },
      condition: {
        all: [
          { field: "reason", op: "in", value: ["pain"] },
          {
            any: [
              { field: "packs", op: ">", value: 2 },
              { field: "symptoms", op: "exists" },
            ],
          },
        ],
      },
    }),
    f("insurance_card", "photo", { validation: { max_bytes: 1_000_000 } }),
    f("consent", "checkbox", { consent_text: "I agree" }),
  ],
});

describe("specProblems", () => {
  it("finds nothing wrong with a valid spec", () => {
    expect(specProblems(VALID)).toEqual([]);
  });

  const cases: [string, SurfaceSpec, { path: string; message: RegExp }][] = [
    [
      "duplicate key",
      spec({ fields: [f("a", "text"), f("a", "text")] }),
      { path: "fields[1].key", message: /Duplicate/ },
    ],
    [
      "unknown field in a condition",
      spec({ fields: [f("a", "text", { condition: { field: "zz", op: "exists" } })] }),
      { path: "fields[0].condition.field", message: /no field/ },
    ],
    [
      "self reference",
      spec({ fields: [f("a", "text", { condition: { field: "a", op: "exists" } })] }),
      { path: "fields[0].condition.field", message: /itself/ },
    ],
    [
      "forward reference",
      spec({
        fields: [f("a", "text", { condition: { any: [{ field: "b", op: "exists" }] } }), f("b", "text")],
      }),
      { path: "fields[0].condition.any[0].field", message: /after/ },
    ],
    [
      "condition on a display field",
      spec({ fields: [f("h", "info"), f("a", "text", { condition: { field: "h", op: "exists" } })] }),
      { path: "fields[1].condition.field", message: /display/ },
    ],
    [
      "in without a list",
      spec({ fields: [f("a", "text"), f("b", "text", { condition: { field: "a", op: "in", value: "x" } })] }),
      { path: "fields[1].condition.value", message: /list/ },
    ],
    [
      "not_in without a list",
      spec({ fields: [f("a", "text"), f("b", "text", { condition: { field: "a", op: "not_in" } })] }),
      { path: "fields[1].condition.value", message: /list/ },
    ],
    [
      "exists with a value",
      spec({
        fields: [f("a", "text"), f("b", "text", { condition: { field: "a", op: "exists", value: 1 } })],
      }),
      { path: "fields[1].condition.value", message: /no value/ },
    ],
    [
      "> with text",
      spec({
        fields: [f("a", "number"), f("b", "text", { condition: { field: "a", op: ">", value: "lots" } })],
      }),
      { path: "fields[1].condition.value", message: /number or a date/ },
    ],
    [
      "= with a list",
      spec({
        fields: [f("a", "text"), f("b", "text", { condition: { field: "a", op: "=", value: ["x"] } })],
      }),
      { path: "fields[1].condition.value", message: /one value/ },
    ],
    [
      "select without options",
      spec({ fields: [f("a", "select")] }),
      { path: "fields[0].options", message: /needs options/ },
    ],
    [
      "duplicate option values",
      spec({
        fields: [
          f("a", "multiselect", {
            options: [
              { value: "x", label: "X" },
              { value: "x", label: "Y" },
            ],
          }),
        ],
      }),
      { path: "fields[0].options[1].value", message: /Duplicate/ },
    ],
    [
      "options on text",
      spec({ fields: [f("a", "text", { options: [{ value: "x", label: "X" }] })] }),
      { path: "fields[0].options", message: /Only select/ },
    ],
    [
      "consent text on text",
      spec({ fields: [f("a", "text", { consent_text: "yes" })] }),
      { path: "fields[0].consent_text", message: /checkbox/ },
    ],
    [
      "section names an unknown field",
      spec({ sections: [{ title: "S", field_keys: ["a", "zz"] }], fields: [f("a", "text")] }),
      { path: "sections[0].field_keys[1]", message: /no field/ },
    ],
    [
      "field in two sections",
      spec({
        sections: [
          { title: "S", field_keys: ["a"] },
          { title: "T", field_keys: ["a", "b"] },
        ],
        fields: [f("a", "text"), f("b", "text")],
      }),
      { path: "sections[1].field_keys[0]", message: /another section/ },
    ],
    [
      "input field in no section",
      spec({ sections: [{ title: "S", field_keys: ["a"] }], fields: [f("a", "text"), f("b", "text")] }),
      { path: "fields[1]", message: /Not in any section/ },
    ],
    [
      "section condition on its own field",
      spec({
        sections: [{ title: "S", field_keys: ["a"], condition: { field: "a", op: "exists" } }],
        fields: [f("a", "text")],
      }),
      { path: "sections[0].condition.field", message: /same section/ },
    ],
    [
      "section condition on a later section",
      spec({
        sections: [
          { title: "S", field_keys: ["a"], condition: { field: "b", op: "exists" } },
          { title: "T", field_keys: ["b"] },
        ],
        fields: [f("a", "text"), f("b", "text")],
      }),
      { path: "sections[0].condition.field", message: /after this section/ },
    ],
    [
      "section condition on an unknown field",
      spec({
        sections: [{ title: "S", field_keys: ["a"], condition: { field: "zz", op: "exists" } }],
        fields: [f("a", "text")],
      }),
      { path: "sections[0].condition.field", message: /no field/ },
    ],
    [
      "validation on a heading",
      spec({ fields: [f("h", "heading", { validation: { min_length: 1 } }), f("a", "text")] }),
      { path: "fields[0].validation", message: /display/ },
    ],
    [
      "target on info",
      spec({ fields: [f("h", "info", { target: { event_type: "contact.recorded", data_key: "phone" } })] }),
      { path: "fields[0].target", message: /display/ },
    ],
    [
      "pattern on a date",
      spec({ fields: [f("a", "date", { validation: { pattern: "x" } })] }),
      { path: "fields[0].validation.pattern", message: /does not take/ },
    ],
    [
      "accept on text",
      spec({ fields: [f("a", "text", { validation: { accept: ["image/png"] } })] }),
      { path: "fields[0].validation.accept", message: /does not take/ },
    ],
    [
      "min > max",
      spec({ fields: [f("a", "number", { validation: { min: 5, max: 1 } })] }),
      { path: "fields[0].validation", message: /min is greater/ },
    ],
    [
      "min_length > max_length",
      spec({ fields: [f("a", "text", { validation: { min_length: 5, max_length: 1 } })] }),
      { path: "fields[0].validation", message: /min_length/ },
    ],
    [
      "min_date after max_date",
      spec({ fields: [f("a", "date", { validation: { min_date: "2020-01-02", max_date: "2020-01-01" } })] }),
      { path: "fields[0].validation", message: /after/ },
    ],
    [
      "invalid pattern",
      spec({ fields: [f("a", "text", { validation: { pattern: "(" } })] }),
      { path: "fields[0].validation.pattern", message: /regular expression/ },
    ],
    [
      "bad accept type",
      spec({ fields: [f("a", "file", { validation: { accept: ["pdf"] } })] }),
      { path: "fields[0].validation.accept[0]", message: /MIME/ },
    ],
    [
      "number prefilled with text",
      spec({ fields: [f("a", "number", { prefill_value: "3" })] }),
      { path: "fields[0].prefill_value", message: /number/ },
    ],
    [
      "date prefilled with a non-date",
      spec({ fields: [f("a", "date", { prefill_value: "March" })] }),
      { path: "fields[0].prefill_value", message: /date/ },
    ],
    [
      "select prefilled off its options",
      spec({ fields: [f("a", "select", { options: [{ value: "x", label: "X" }], prefill_value: "y" })] }),
      { path: "fields[0].prefill_value", message: /option/ },
    ],
    [
      "checkbox prefilled with text",
      spec({ fields: [f("a", "checkbox", { prefill_value: "yes" })] }),
      { path: "fields[0].prefill_value", message: /true or false/ },
    ],
    [
      "upload prefilled",
      spec({ fields: [f("a", "photo", { prefill_value: "x" })] }),
      { path: "fields[0].prefill_value", message: /upload/ },
    ],
    [
      "target on a signature",
      spec({
        fields: [f("a", "signature", { target: { event_type: "contact.recorded", data_key: "phone" } })],
      }),
      { path: "fields[0].target", message: /upload/ },
    ],
    [
      "target data key the event lacks",
      spec({ fields: [f("a", "text", { target: { event_type: "contact.recorded", data_key: "fax" } })] }),
      { path: "fields[0].target.data_key", message: /no data key/ },
    ],
    [
      "target with a key the event lacks",
      spec({
        fields: [
          f("a", "text", {
            target: { event_type: "identifier.recorded", data_key: "value", with: { kind: "x" } },
          }),
        ],
      }),
      { path: "fields[0].target.with.kind", message: /no data key/ },
    ],
  ];
  it.each(cases)("reports %s", (_name, s, expected) => {
    const problems = specProblems(s);
    expect(problems).toContainEqual({
      path: expected.path,
      message: expect.stringMatching(expected.message),
    });
  });

  it("reports every problem at once, not the first", () => {
    const s = spec({
      fields: [
        f("a", "select"),
        f("a", "text", { consent_text: "x", validation: { accept: ["image/png"] } }),
      ],
    });
    expect(specProblems(s).map((p) => p.path)).toEqual(
      expect.arrayContaining([
        "fields[1].key",
        "fields[0].options",
        "fields[1].consent_text",
        "fields[1].validation.accept",
      ]),
    );
    expect(specProblems(s).length).toBeGreaterThanOrEqual(4);
  });

  it("allows a checkbox with consent text and a condition on an earlier section", () => {
    expect(
      specProblems(VALID).filter((p) => p.path.includes("consent") || p.path.includes("sections")),
    ).toEqual([]);
  });
});

describe("evaluate", () => {
  const answers: Answers = {
    n: 5,
    d: "2020-06-01",
    s: "pain",
    m: ["cough", "fever"],
    c: true,
    empty: "",
    none: [],
    u: { upload: "k", content_type: "image/png", bytes: 3 },
  };
  const cases: [Condition | undefined, boolean][] = [
    [undefined, true],
    [{ field: "s", op: "=", value: "pain" }, true],
    [{ field: "s", op: "=", value: "other" }, false],
    [{ field: "n", op: "=", value: "5" }, true],
    [{ field: "c", op: "=", value: true }, true],
    [{ field: "c", op: "=", value: "true" }, true],
    [{ field: "s", op: "!=", value: "pain" }, false],
    [{ field: "s", op: "!=", value: "other" }, true],
    [{ field: "missing", op: "!=", value: "x" }, false],
    [{ field: "s", op: "in", value: ["a", "pain"] }, true],
    [{ field: "s", op: "in", value: ["a", "b"] }, false],
    [{ field: "m", op: "in", value: ["fever", "rash"] }, true],
    [{ field: "m", op: "in", value: ["rash"] }, false],
    [{ field: "m", op: "=", value: "cough" }, true],
    [{ field: "m", op: "not_in", value: ["rash"] }, true],
    [{ field: "m", op: "not_in", value: ["cough"] }, false],
    [{ field: "s", op: "not_in", value: ["pain"] }, false],
    [{ field: "s", op: "exists" }, true],
    [{ field: "empty", op: "exists" }, false],
    [{ field: "none", op: "exists" }, false],
    [{ field: "missing", op: "exists" }, false],
    [{ field: "u", op: "exists" }, true],
    [{ field: "u", op: "=", value: "k" }, false],
    [{ field: "n", op: ">", value: 4 }, true],
    [{ field: "n", op: ">", value: 5 }, false],
    [{ field: "n", op: "<", value: 6 }, true],
    [{ field: "d", op: ">", value: "2020-01-01" }, true],
    [{ field: "d", op: "<", value: "2020-01-01" }, false],
    [{ field: "s", op: ">", value: 1 }, false],
    [{ field: "missing", op: "<", value: 1 }, false],
    [
      {
        all: [
          { field: "s", op: "=", value: "pain" },
          { field: "n", op: ">", value: 1 },
        ],
      },
      true,
    ],
    [
      {
        all: [
          { field: "s", op: "=", value: "pain" },
          { field: "n", op: ">", value: 9 },
        ],
      },
      false,
    ],
    [
      {
        any: [
          { field: "s", op: "=", value: "x" },
          { field: "n", op: ">", value: 1 },
        ],
      },
      true,
    ],
    [
      {
        any: [
          { field: "s", op: "=", value: "x" },
          { field: "n", op: ">", value: 9 },
        ],
      },
      false,
    ],
    [
      {
        all: [
          {
            any: [
              { field: "s", op: "=", value: "x" },
              { field: "c", op: "exists" },
            ],
          },
          { field: "m", op: "in", value: ["fever"] },
        ],
      },
      true,
    ],
    [
      {
        any: [
          {
            all: [
              { field: "s", op: "=", value: "x" },
              { field: "c", op: "exists" },
            ],
          },
          { field: "m", op: "in", value: ["rash"] },
        ],
      },
      false,
    ],
  ];
  it.each(cases)("%j → %s", (condition, expected) => {
    expect(evaluate(condition, answers)).toBe(expected);
  });
});

describe("visibility", () => {
  it("hides fields by their own condition and by their section's", () => {
    const keys = (answers: Answers) => visibleFields(VALID, answers).map((f) => f.key);
    expect(keys({})).toEqual(["intro", "dob", "phone", "email", "smoker", "reason"]);
    expect(keys({ smoker: true, reason: "checkup" })).toEqual([
      "intro",
      "dob",
      "phone",
      "email",
      "smoker",
      "reason",
      "packs",
      "insurance_card",
      "consent",
    ]);
    expect(keys({ smoker: true, reason: "pain", packs: 1 })).toContain("symptoms");
    expect(keys({ smoker: true, reason: "pain", packs: 1 })).not.toContain("other");
    expect(keys({ smoker: true, reason: "pain", packs: 3 })).toContain("other");
  });

  it("does not count the answers of hidden fields", () => {
    // symptoms is answered but its section is hidden (smoker unticked): `other` must stay hidden.
    const keys = visibleFields(VALID, { smoker: false, reason: "pain", symptoms: ["cough"] }).map(
      (f) => f.key,
    );
    expect(keys).not.toContain("symptoms");
    expect(keys).not.toContain("other");
    const s = spec({
      fields: [
        f("a", "text"),
        f("b", "text", { condition: { field: "a", op: "=", value: "x" } }),
        f("c", "text", { condition: { field: "b", op: "exists" } }),
      ],
    });
    expect(visibleFields(s, { a: "y", b: "hidden answer" }).map((f) => f.key)).toEqual(["a"]);
    expect(visibleFields(s, { a: "x", b: "shown" }).map((f) => f.key)).toEqual(["a", "b", "c"]);
  });

  it("gives the declared sections as pages, or one page of all fields", () => {
    expect(sectionsOf(VALID).map((p) => [p.title, p.fields.length])).toEqual([
      ["About you", 6],
      ["Details", 5],
    ]);
    const flat = spec({ description: "Hello", fields: [f("a", "text"), f("b", "info")] });
    expect(sectionsOf(flat)).toEqual([{ title: "Intake", description: "Hello", fields: flat.fields }]);
  });
});

describe("validateAnswer", () => {
  const today = "2024-05-10";
  const field = (type: string, extra: Record<string, unknown> = {}) =>
    SurfaceSpec.shape.fields.element.parse(f("x", type, extra));
  const choice = {
    options: [
      { value: "a", label: "A" },
      { value: "b", label: "B" },
      { value: "c,d", label: "C or D" },
    ],
  };
  const good: [string, Record<string, unknown>, unknown, unknown][] = [
    ["text", {}, "  Jane   Doe ", "Jane Doe"],
    ["text", { validation: { pattern: "[A-Z]{2}\\d{3}" } }, "AB123", "AB123"],
    ["textarea", {}, "line one\r\nline two", "line one\nline two"],
    ["date", { validation: { max_date: "today" } }, "2024-05-10", "2024-05-10"],
    ["date", { validation: { min_date: "2000-01-01" } }, "2000-01-01", "2000-01-01"],
    ["phone", {}, "(201) 555-0123", "+12015550123"],
    ["email", {}, " jane@example.com ", "jane@example.com"],
    ["number", { validation: { min: 0, max: 10 } }, "7.5", 7.5],
    ["number", {}, 3, 3],
    ["select", choice, "b", "b"],
    ["multiselect", choice, ["b", "a"], ["a", "b"]],
    ["multiselect", choice, "c,d", ["c,d"]],
    ["multiselect", choice, "a, b", ["a", "b"]],
    ["checkbox", {}, "on", true],
    ["checkbox", {}, true, true],
    ["checkbox", { required: false }, undefined, false],
    ["text", { required: false }, "", ""],
    ["multiselect", { ...choice, required: false }, [], []],
    [
      "photo",
      {},
      { upload: "ws/srf/1", content_type: "image/heic", bytes: 2000 },
      { upload: "ws/srf/1", content_type: "image/heic", bytes: 2000 },
    ],
    [
      "signature",
      {},
      { upload: "k", content_type: "image/png", bytes: 10 },
      { upload: "k", content_type: "image/png", bytes: 10 },
    ],
    [
      "file",
      {},
      { upload: "k", content_type: "application/pdf", bytes: 10 * 1024 * 1024 },
      { upload: "k", content_type: "application/pdf", bytes: 10 * 1024 * 1024 },
    ],
    [
      "file",
      { validation: { accept: ["image/*"] } },
      { upload: "k", content_type: "image/gif", bytes: 10 },
      { upload: "k", content_type: "image/gif", bytes: 10 },
    ],
  ];
  it.each(good)("accepts a good %s answer (%j, %j)", (type, extra, raw, value) => {
    expect(validateAnswer(field(type, extra), raw, today)).toEqual({ ok: true, value });
  });

  const badCases: [string, Record<string, unknown>, unknown, RegExp][] = [
    ["text", {}, "", /needs an answer/],
    ["text", {}, "a\u0000b", /special characters/],
    ["text", { validation: { max_length: 3 } }, "abcd", /under 4/],
    ["text", { validation: { min_length: 3 } }, "ab", /at least 3/],
    ["text", { validation: { pattern: "[A-Z]{2}\\d{3}" } }, "AB12", /format/],
    ["text", {}, { a: 1 }, /Enter some text/],
    ["date", {}, "03/05/1980", /Enter a date like 1980-03-05/],
    ["date", {}, "2023-02-30", /Enter a date like/],
    ["date", { validation: { max_date: "today" } }, "2024-05-11", /today or an earlier/],
    ["date", { validation: { min_date: "today" } }, "2024-05-09", /today or a later/],
    ["date", { validation: { min_date: "2000-01-01" } }, "1999-12-31", /2000-01-01 or a later/],
    ["phone", {}, "12345", /phone number/],
    ["email", {}, "jane@", /email address/],
    ["number", {}, "seven", /Enter a number/],
    ["number", { validation: { min: 0 } }, -1, /0 or more/],
    ["number", { validation: { max: 10 } }, "11", /10 or less/],
    ["select", choice, "z", /Choose one/],
    ["multiselect", choice, ["a", "z"], /Choose from/],
    ["multiselect", choice, "a, z", /Choose from/],
    ["checkbox", {}, undefined, /Tick the box to continue/],
    ["checkbox", {}, "maybe", /Tick the box or leave/],
    ["photo", {}, "selfie.jpg", /Upload a photo/],
    ["photo", {}, { upload: "k", content_type: "application/pdf", bytes: 10 }, /not accepted/],
    ["signature", {}, { upload: "k", content_type: "image/jpeg", bytes: 10 }, /not accepted: use PNG/],
    [
      "file",
      {},
      { upload: "k", content_type: "application/pdf", bytes: 10 * 1024 * 1024 + 1 },
      /too large: the limit is 10 MB/,
    ],
    [
      "file",
      { validation: { max_bytes: 2048 } },
      { upload: "k", content_type: "application/pdf", bytes: 4096 },
      /limit is 2 KB/,
    ],
    ["file", {}, { upload: "k", content_type: "application/pdf", bytes: 0 }, /empty/],
    ["file", {}, { upload: "", content_type: "application/pdf", bytes: 10 }, /Upload a file/],
    ["heading", {}, "x", /not a question/],
  ];
  it.each(badCases)("refuses a bad %s answer (%j, %j)", (type, extra, raw, message) => {
    const result = validateAnswer(field(type, extra), raw, today);
    expect(result).toEqual({ ok: false, message: expect.stringMatching(message) });
  });

  it("never echoes the answer in its message", () => {
    for (const [type, extra, raw] of badCases) {
      const result = validateAnswer(field(type, extra), raw, today);
      if (!result.ok && typeof raw === "string" && raw.length > 2) expect(result.message).not.toContain(raw);
    }
  });
});

describe("progress and reshape", () => {
  it("counts the visible required fields only", () => {
    expect(progress(VALID, {})).toEqual({
      answered: 0,
      required: 3,
      complete: false,
      missing: ["dob", "phone", "reason"],
    });
    const answers: Answers = { dob: "1980-03-05", phone: "+12015550123", reason: "checkup", smoker: true };
    expect(progress(VALID, answers)).toEqual({
      answered: 3,
      required: 6,
      complete: false,
      missing: ["packs", "insurance_card", "consent"],
    });
    const done = {
      ...answers,
      packs: 1,
      insurance_card: { upload: "k", content_type: "image/png", bytes: 1 },
      consent: true,
    };
    expect(progress(VALID, done)).toEqual({ answered: 6, required: 6, complete: true, missing: [] });
    expect(progress(VALID, { ...done, consent: false }).missing).toEqual(["consent"]);
  });

  it("keeps the unfilled fields, headings of sections that still have fields, and decides conditions on removed fields", () => {
    const answers: Answers = {
      dob: "1980-03-05",
      phone: "+12015550123",
      email: "a@b.co",
      reason: "pain",
      smoker: true,
    };
    const next = reshapeSpec(VALID, answers);
    expect(next).not.toBeNull();
    expect(specProblems(next!)).toEqual([]);
    expect(next!.sections.map((s) => [s.title, s.field_keys, s.condition])).toEqual([
      ["Details", ["packs", "symptoms", "other", "insurance_card", "consent"], undefined],
    ]);
    const byKey = new Map(next!.fields.map((f) => [f.key, f]));
    expect(byKey.has("intro")).toBe(false);
    expect(byKey.get("symptoms")!.condition).toBeUndefined(); // reason = pain: decided true
    expect(byKey.get("other")!.condition).toEqual({
      any: [
        { field: "packs", op: ">", value: 2 },
        { field: "symptoms", op: "exists" },
      ],
    });
  });

  it("drops fields whose condition is now false, and sections with no inputs left", () => {
    const next = reshapeSpec(VALID, {
      reason: "checkup",
      smoker: true,
      dob: "1980-03-05",
      phone: "+12015550123",
    })!;
    expect(next.fields.map((f) => f.key)).toEqual(["intro", "email", "packs", "insurance_card", "consent"]);
    const noSmoker = reshapeSpec(VALID, {
      reason: "checkup",
      smoker: false,
      dob: "1980-03-05",
      phone: "+12015550123",
      email: "a@b.co",
    });
    expect(noSmoker).toBeNull(); // the optional checkbox answered no hides Details for good
  });

  it("returns null when everything is filled, and keeps headings with their run of fields without sections", () => {
    const s = spec({
      fields: [f("h1", "heading"), f("a", "text"), f("h2", "heading"), f("i", "info"), f("b", "text")],
    });
    expect(reshapeSpec(s, { a: "x", b: "y" })).toBeNull();
    expect(reshapeSpec(s, { a: "x" })!.fields.map((f) => f.key)).toEqual(["h2", "i", "b"]);
    expect(reshapeSpec(s, { b: "y" })!.fields.map((f) => f.key)).toEqual(["h1", "a"]);
  });
});
