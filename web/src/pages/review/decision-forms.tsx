import type { JSX } from "preact";
import { useEffect, useId, useRef, useState } from "preact/hooks";
import { isApiError } from "../../api";
import { factLabel, groupOf, word } from "../../components/fact-format";

interface FieldSpec {
  key: string;
  label: string;
  options?: readonly string[];
  /** The field that names a list fact (an allergy's substance): changing it would be another fact. */
  locked?: boolean;
  type?: "text" | "date" | "email" | "tel" | "boolean" | "textarea";
}

const STATUS = "status";

/** The editable fields of each kind of list fact, as the event schemas define them. */
const OBJECT_FIELDS: Record<string, FieldSpec[]> = {
  allergies: [
    { key: "substance", label: "Substance", locked: true },
    { key: "reaction", label: "Reaction" },
    { key: "severity", label: "Severity", options: ["mild", "moderate", "severe"] },
    { key: STATUS, label: "Status", options: ["active", "inactive", "resolved", "entered-in-error"] },
  ],
  medications: [
    { key: "name", label: "Medication", locked: true },
    { key: "dose", label: "Dose" },
    { key: "frequency", label: "Frequency" },
    {
      key: STATUS,
      label: "Status",
      options: ["active", "completed", "stopped", "on-hold", "entered-in-error", "unknown"],
    },
  ],
  conditions: [
    { key: "name", label: "Condition", locked: true },
    {
      key: STATUS,
      label: "Status",
      options: ["active", "recurrence", "relapse", "inactive", "remission", "resolved"],
    },
  ],
  coverage: [
    { key: "payer", label: "Payer", locked: true },
    { key: "member_id", label: "Member id" },
    { key: "group_number", label: "Group number" },
    { key: STATUS, label: "Status", options: ["active", "cancelled", "draft", "entered-in-error"] },
  ],
  safety: [
    { key: "indicator", label: "Indicator", locked: true },
    { key: "note", label: "Note", type: "textarea" },
    { key: "active", label: "Active", type: "boolean" },
  ],
  tasks: [
    { key: "task_id", label: "Task", locked: true },
    { key: "kind", label: "Kind", options: ["callback", "reminder", "follow_up", "outreach"] },
    { key: "due_at", label: "Due (ISO date and time)" },
    { key: STATUS, label: "Status", options: ["open", "done", "cancelled"] },
    { key: "note", label: "Note", type: "textarea" },
  ],
  address: [
    { key: "line", label: "Street" },
    { key: "city", label: "City" },
    { key: "state", label: "State" },
    { key: "postal_code", label: "Postal code" },
    { key: "country", label: "Country (2 letters)" },
  ],
};

/** Single-value facts with a fixed vocabulary or a particular input. */
const SCALAR_FIELDS: Record<string, Omit<FieldSpec, "key" | "label">> = {
  gender: { options: ["female", "male", "other", "unknown"] },
  channel: { options: ["voice", "sms", "email", "whatsapp"] },
  contact_time: { options: ["morning", "afternoon", "evening", "any"] },
  do_not_contact: { type: "boolean" },
  birth_date: { type: "date" },
  email: { type: "email" },
  phone: { type: "tel" },
};

function specsFor(path: string, value: unknown): FieldSpec[] | null {
  if (typeof value !== "object" || value === null || Array.isArray(value)) return null;
  const field = path.split(".").at(-1)!;
  const known = OBJECT_FIELDS[groupOf(path).id] ?? OBJECT_FIELDS[field];
  if (known) return known;
  // A shape this form does not know: one text field per key the proposal has.
  return Object.keys(value).map((key) => ({ key, label: word(key) }));
}

const asText = (value: unknown) =>
  value === undefined || value === null ? "" : typeof value === "string" ? value : String(value);

/**
 * The reviewer's value for a fact: one field per part of a list fact (the naming field fixed), or the
 * single value. Empty optional fields are left out; the API checks the result against the fact's schema
 * and its answer is shown here.
 */
export function CorrectForm({
  path,
  proposed,
  busy,
  error,
  onSubmit,
  onCancel,
}: {
  path: string;
  proposed: unknown;
  busy: boolean;
  error: unknown;
  onSubmit(value: unknown): void;
  onCancel(): void;
}) {
  const specs = specsFor(path, proposed);
  const field = path.split(".").at(-1)!;
  const scalar = SCALAR_FIELDS[field] ?? {};
  const [values, setValues] = useState<Record<string, string>>(() => {
    if (!specs) return { value: asText(proposed) };
    const object = proposed as Record<string, unknown>;
    return Object.fromEntries(specs.map((s) => [s.key, asText(object[s.key])]));
  });
  const [missing, setMissing] = useState(false);
  const formId = useId();
  const first = useRef<HTMLFormElement>(null);

  useEffect(() => {
    first.current?.querySelector<HTMLElement>("input:not([readonly]), select, textarea")?.focus();
  }, []);

  const submit = (event: Event) => {
    event.preventDefault();
    if (!specs) {
      const text = values.value?.trim() ?? "";
      if (text === "") return setMissing(true);
      onSubmit(scalar.type === "boolean" ? text === "true" : text);
      return;
    }
    const out: Record<string, unknown> = {};
    for (const spec of specs) {
      const text = values[spec.key]?.trim() ?? "";
      if (text === "") continue;
      out[spec.key] = spec.type === "boolean" ? text === "true" : text;
    }
    if (Object.keys(out).length === 0) return setMissing(true);
    onSubmit(out);
  };

  const issues = issuesOf(error);
  const set = (key: string, value: string) => {
    setMissing(false);
    setValues((v) => ({ ...v, [key]: value }));
  };

  return (
    <form
      ref={first}
      class="decision-form"
      aria-labelledby={`${formId}-title`}
      onSubmit={submit}
      onKeyDown={(e) => {
        if (e.key === "Escape") {
          e.preventDefault();
          onCancel();
        }
      }}
    >
      <h3 id={`${formId}-title`}>Correct {factLabel(path, proposed).toLowerCase()}</h3>
      <p class="hint">
        Your value is recorded at confidence 1.00 and replaces the proposal.
        {specs?.some((s) => s.locked) &&
          " The name is fixed: if it is a different one altogether, reject this proposal instead."}
      </p>
      <div class={specs ? "form-grid" : "form"}>
        {(specs ?? [{ key: "value", label: factLabel(path), ...scalar }]).map((spec) => (
          <Field
            key={spec.key}
            id={`${formId}-${spec.key}`}
            spec={spec}
            value={values[spec.key] ?? ""}
            onInput={(v) => set(spec.key, v)}
          />
        ))}
      </div>
      {missing && (
        <p class="field-error" role="alert">
          Enter the right value first.
        </p>
      )}
      {error !== null && error !== undefined && (
        <div class="field-error" role="alert">
          <p>{error instanceof Error ? error.message : "Couldn't save the correction."}</p>
          {issues.length > 0 && (
            <ul>
              {issues.map((i) => (
                <li key={`${i.path}:${i.message}`}>
                  {i.path.replace(/^(data|value)\.?/, "") || "Value"}: {i.message}
                </li>
              ))}
            </ul>
          )}
        </div>
      )}
      <div class="form-actions">
        <button type="submit" class="button" disabled={busy}>
          {busy ? "Saving…" : "Save correction"}
        </button>
        <button type="button" class="button secondary" onClick={onCancel} disabled={busy}>
          Cancel
        </button>
      </div>
    </form>
  );
}

function Field({
  id,
  spec,
  value,
  onInput,
}: {
  id: string;
  spec: FieldSpec;
  value: string;
  onInput(value: string): void;
}) {
  let control: JSX.Element;
  if (spec.type === "boolean") {
    control = (
      <select id={id} value={value} onChange={(e) => onInput(e.currentTarget.value)}>
        <option value="">—</option>
        <option value="true">Yes</option>
        <option value="false">No</option>
      </select>
    );
  } else if (spec.options) {
    const options = value && !spec.options.includes(value) ? [value, ...spec.options] : spec.options;
    control = (
      <select id={id} value={value} onChange={(e) => onInput(e.currentTarget.value)}>
        <option value="">—</option>
        {options.map((o) => (
          <option key={o} value={o}>
            {word(o)}
          </option>
        ))}
      </select>
    );
  } else if (spec.type === "textarea") {
    control = <textarea id={id} rows={2} value={value} onInput={(e) => onInput(e.currentTarget.value)} />;
  } else {
    const type = (spec.type ?? "text") as "text";
    control = (
      <input
        id={id}
        type={type}
        value={value}
        readOnly={spec.locked}
        autoComplete="off"
        onInput={(e) => onInput(e.currentTarget.value)}
      />
    );
  }
  return (
    <div class="field">
      <label for={id}>{spec.label}</label>
      {control}
    </div>
  );
}

function issuesOf(error: unknown): { path: string; message: string }[] {
  if (!isApiError(error)) return [];
  const issues = (error.details as { issues?: unknown } | null)?.issues;
  return Array.isArray(issues)
    ? issues.filter(
        (i): i is { path: string; message: string } =>
          typeof i === "object" && i !== null && typeof i.path === "string" && typeof i.message === "string",
      )
    : [];
}

export const REJECT_REASONS = [
  "The caller didn't say this",
  "Misheard or mistyped",
  "About someone else, not this patient",
  "Already recorded correctly",
];

/** Why the proposal is wrong: required, kept (sealed) with the decision. */
export function RejectForm({
  busy,
  error,
  onSubmit,
  onCancel,
  title = "Reject this proposal",
  submitLabel = "Reject",
}: {
  busy: boolean;
  error: unknown;
  onSubmit(reason: string): void;
  onCancel(): void;
  title?: string;
  submitLabel?: string;
}) {
  const [reason, setReason] = useState("");
  const [missing, setMissing] = useState(false);
  const id = useId();
  const area = useRef<HTMLTextAreaElement>(null);
  useEffect(() => area.current?.focus(), []);

  const submit = (event: Event) => {
    event.preventDefault();
    if (reason.trim() === "") {
      setMissing(true);
      area.current?.focus();
      return;
    }
    onSubmit(reason.trim());
  };

  return (
    <form
      class="decision-form"
      aria-labelledby={`${id}-title`}
      onSubmit={submit}
      onKeyDown={(e) => {
        if (e.key === "Escape") {
          e.preventDefault();
          onCancel();
        } else if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) submit(e);
      }}
    >
      <h3 id={`${id}-title`}>{title}</h3>
      <div class="field">
        <label for={`${id}-reason`}>Reason (required)</label>
        <textarea
          id={`${id}-reason`}
          ref={area}
          rows={3}
          maxLength={1000}
          value={reason}
          aria-invalid={missing ? true : undefined}
          aria-describedby={`${id}-hint${missing ? ` ${id}-error` : ""}`}
          onInput={(e) => {
            setMissing(false);
            setReason(e.currentTarget.value);
          }}
        />
        <p class="hint" id={`${id}-hint`}>
          Kept with the decision for the audit trail. Ctrl+Enter rejects.
        </p>
        <fieldset class="chips">
          <legend class="visually-hidden">Common reasons</legend>
          {REJECT_REASONS.map((r) => (
            <button
              key={r}
              type="button"
              class="chip"
              onClick={() => {
                setMissing(false);
                setReason(r);
                area.current?.focus();
              }}
            >
              {r}
            </button>
          ))}
        </fieldset>
      </div>
      {missing && (
        <p id={`${id}-error`} class="field-error" role="alert">
          Give a reason for rejecting.
        </p>
      )}
      {error !== null && error !== undefined && (
        <p class="field-error" role="alert">
          {error instanceof Error ? error.message : "Couldn't reject."}
        </p>
      )}
      <div class="form-actions">
        <button type="submit" class="button danger" disabled={busy}>
          {busy ? "Rejecting…" : submitLabel}
        </button>
        <button type="button" class="button secondary" onClick={onCancel} disabled={busy}>
          Cancel
        </button>
      </div>
    </form>
  );
}
