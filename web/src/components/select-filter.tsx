import { useId } from "preact/hooks";

/** A labelled list filter: "any" first (the empty value), then the options; picks call `onChange`. */
export function SelectFilter({
  label,
  value,
  any,
  options,
  onChange,
}: {
  label: string;
  value: string;
  /** What the empty choice says ("Any status"). */
  any: string;
  options: readonly { value: string; label: string }[];
  onChange(value: string): void;
}) {
  const id = useId();
  return (
    <div class="field">
      <label for={id}>{label}</label>
      <select id={id} value={value} onChange={(e) => onChange(e.currentTarget.value)}>
        <option value="">{any}</option>
        {options.map((o) => (
          <option key={o.value} value={o.value}>
            {o.label}
          </option>
        ))}
      </select>
    </div>
  );
}
