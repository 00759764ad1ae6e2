import { useEffect, useId, useRef, useState } from "preact/hooks";

/** A read-only value with a Copy button, for secrets shown once. */
export function CopyField({ label, value }: { label: string; value: string }) {
  const id = useId();
  const input = useRef<HTMLInputElement>(null);
  const [copied, setCopied] = useState<"idle" | "copied" | "failed">("idle");

  useEffect(() => {
    input.current?.select();
  }, []);

  const copy = async () => {
    try {
      await navigator.clipboard.writeText(value);
      setCopied("copied");
    } catch {
      input.current?.select();
      setCopied("failed");
    }
  };

  return (
    <div class="field">
      <label for={id}>{label}</label>
      <div class="copy-field">
        <input
          id={id}
          ref={input}
          class="mono"
          type="text"
          value={value}
          readOnly
          spellcheck={false}
          autoComplete="off"
          onFocus={(e) => e.currentTarget.select()}
        />
        <button type="button" class="button secondary" onClick={copy}>
          {copied === "copied" ? "Copied" : "Copy"}
        </button>
      </div>
      <p class="hint" role="status">
        {copied === "copied" && "Copied to the clipboard."}
        {copied === "failed" && "Couldn't copy automatically: the key is selected, press Ctrl+C or ⌘C."}
      </p>
    </div>
  );
}
