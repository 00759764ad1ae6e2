import { workspacePath } from "../../api";
import { Dialog } from "../../components/dialog";
import { ErrorNotice } from "../../components/error-notice";
import { Loading } from "../../components/loading";
import { formatDateTime } from "../../format";
import { useResource } from "../../hooks";
import { useSession } from "../../session";
import { channelLabel, type SurfaceDetail, SurfaceStatus } from "./shared";

interface PreviewField {
  key: string;
  label: string;
  field_type: string;
  required?: boolean;
  sensitive?: boolean;
  description?: string;
  options?: { value: string; label: string }[];
  prefill_value?: unknown;
}

const TYPE_LABELS: Record<string, string> = {
  text: "Text",
  textarea: "Long text",
  date: "Date",
  phone: "Phone",
  email: "Email",
  number: "Number",
  select: "One choice",
  multiselect: "Several choices",
  checkbox: "Checkbox",
  photo: "Photo",
  signature: "Signature",
  file: "File",
};

/** An answer as text: uploads by their type and size, lists joined, sensitive ones masked. */
function shown(value: unknown, sensitive: boolean | undefined): string {
  if (value === undefined || value === null || value === "") return "";
  if (sensitive) return "••••••";
  if (Array.isArray(value)) return value.join(", ");
  if (typeof value === "object" && "content_type" in value)
    return `Uploaded ${(value as { content_type: string }).content_type}`;
  if (typeof value === "boolean") return value ? "Yes" : "No";
  return String(value);
}

/** One surface as the patient sees its fields, read-only, with its answers for operators. */
export function SurfacePreviewDialog({ surfaceId, onClose }: { surfaceId: string; onClose(): void }) {
  const { workspace } = useSession();
  const detail = useResource<SurfaceDetail>(workspacePath(workspace.id, "surfaces", surfaceId));
  const surface = detail.data;
  const fields = ((surface?.spec.fields ?? []) as PreviewField[]).filter(Boolean);
  return (
    <Dialog title={surface ? surface.title : "Surface"} onClose={onClose}>
      {detail.error ? (
        <ErrorNotice error={detail.error} title="Could not load this surface" onRetry={detail.reload} />
      ) : !surface ? (
        <Loading label="Loading the surface" />
      ) : (
        <div class="surface-preview">
          <dl class="details">
            <dt>Status</dt>
            <dd>
              <SurfaceStatus status={surface.status} /> {surface.progress.answered} of{" "}
              {surface.progress.required} required answered
            </dd>
            <dt>Channel</dt>
            <dd>{channelLabel(surface.channel)}</dd>
            <dt>Patient</dt>
            <dd>
              <code>{surface.entity_id}</code>
            </dd>
            <dt>Made by</dt>
            <dd>{surface.created_by.type}</dd>
            <dt>Created</dt>
            <dd>{formatDateTime(surface.created_at)}</dd>
            <dt>Expires</dt>
            <dd>{formatDateTime(surface.expires_at)}</dd>
          </dl>
          <h3>Fields</h3>
          <ol class="surface-fields" aria-label="Fields">
            {fields.map((field) => {
              const display = field.field_type === "heading" || field.field_type === "info";
              const answer = shown(surface.answers?.[field.key], field.sensitive);
              const prefill = shown(field.prefill_value, field.sensitive);
              return (
                <li key={field.key} data-field-key={field.key}>
                  {display ? (
                    field.field_type === "heading" ? (
                      <strong>{field.label}</strong>
                    ) : (
                      <span class="muted">{field.label}</span>
                    )
                  ) : (
                    <>
                      <strong>{field.label}</strong>{" "}
                      <span class="muted">
                        {TYPE_LABELS[field.field_type] ?? field.field_type}
                        {field.required === false ? ", optional" : ""}
                        {field.sensitive ? ", sensitive" : ""}
                      </span>
                      {field.options && (
                        <div class="muted small-text">{field.options.map((o) => o.label).join(" · ")}</div>
                      )}
                      <div>
                        {answer ? (
                          <>Answer: {answer}</>
                        ) : prefill ? (
                          <span class="muted">Prefilled: {prefill}</span>
                        ) : (
                          <span class="muted">Not answered</span>
                        )}
                      </div>
                    </>
                  )}
                </li>
              );
            })}
          </ol>
          {surface.last_field_key && surface.status !== "completed" && (
            <p class="muted small-text">Last field saved: {surface.last_field_key}</p>
          )}
        </div>
      )}
    </Dialog>
  );
}
