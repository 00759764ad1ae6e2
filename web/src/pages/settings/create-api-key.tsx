import { useId, useState } from "preact/hooks";
import { canGrant, ROLES } from "../../../../shared/auth/roles";
import { api, isApiError, workspacePath } from "../../api";
import { CopyField } from "../../components/copy-field";
import { Dialog } from "../../components/dialog";
import { ErrorNotice } from "../../components/error-notice";
import { formatDate, ROLE_LABELS } from "../../format";
import { useSession } from "../../session";
import type { NewApiKey, Role } from "../../types";

const ROLE_HINTS: Record<Role, string> = {
  viewer: "Read only.",
  operator: "Read access, plus call handling.",
  admin: "Manages services, numbers, users and API keys.",
  owner: "Full control, including workspace settings.",
};

const EXPIRY_CHOICES = [
  { value: "30", label: "In 30 days" },
  { value: "90", label: "In 90 days" },
  { value: "365", label: "In 1 year" },
  { value: "never", label: "Never" },
] as const;

type Expiry = (typeof EXPIRY_CHOICES)[number]["value"];

function expiresAt(choice: Expiry): string | null {
  return choice === "never" ? null : new Date(Date.now() + Number(choice) * 86_400_000).toISOString();
}

/** The API's message for one field of a `validation_failed` answer, if it names that field. */
function fieldIssue(error: unknown, field: string): string | null {
  if (!isApiError(error, "validation_failed")) return null;
  const issues = (error.details as { issues?: { path: string; message: string }[] } | null)?.issues ?? [];
  return issues.find((issue) => issue.path === field)?.message ?? null;
}

/** Create a key: name, role (up to one's own) and expiry; then the key, shown this once. */
export function CreateApiKeyDialog({
  onCreated,
  onClose,
}: {
  onCreated(key: NewApiKey): void;
  onClose(): void;
}) {
  const { workspace } = useSession();
  const [name, setName] = useState("");
  const [role, setRole] = useState<Role>("viewer");
  const [expiry, setExpiry] = useState<Expiry>("90");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const [created, setCreated] = useState<NewApiKey | null>(null);
  const ids = { name: useId(), nameError: useId(), role: useId(), roleHint: useId(), expiry: useId() };
  const grantable = ROLES.filter((r) => canGrant(workspace.role, r));

  const submit = async (event: Event) => {
    event.preventDefault();
    setBusy(true);
    setError(null);
    try {
      const key = await api.post<NewApiKey>(workspacePath(workspace.id, "api-keys"), {
        name: name.trim(),
        role,
        expires_at: expiresAt(expiry),
      });
      setCreated(key);
      onCreated(key);
    } catch (failure) {
      setError(failure);
    } finally {
      setBusy(false);
    }
  };

  if (created) {
    return (
      <Dialog title="API key created" onClose={onClose}>
        <div class="notice warning" role="alert">
          <p class="notice-title">Copy this key now</p>
          <p>
            It won't be shown again: Switchboard keeps only a fingerprint of it. Store it in your secrets
            manager. If it is lost, revoke it and create a new one.
          </p>
        </div>
        <CopyField label={`API key for “${created.name}”`} value={created.key} />
        <p class="muted small-text">
          {ROLE_LABELS[created.role]} access to {workspace.name},{" "}
          {created.expires_at ? `expires ${formatDate(created.expires_at)}` : "never expires"}.
        </p>
        <div class="dialog-actions">
          <button type="button" class="button" onClick={onClose}>
            Done
          </button>
        </div>
      </Dialog>
    );
  }

  const nameProblem = fieldIssue(error, "name");
  return (
    <Dialog title="Create API key" onClose={onClose}>
      <form onSubmit={submit} class="form">
        <div class="field">
          <label for={ids.name}>Name</label>
          <input
            id={ids.name}
            type="text"
            required
            maxLength={200}
            autoComplete="off"
            placeholder="e.g. EHR sync"
            value={name}
            aria-invalid={nameProblem ? true : undefined}
            aria-describedby={nameProblem ? ids.nameError : undefined}
            onInput={(e) => setName(e.currentTarget.value)}
          />
          {nameProblem && (
            <p id={ids.nameError} class="field-error">
              {/^may /.test(nameProblem) ? `The name ${nameProblem}.` : nameProblem}
            </p>
          )}
        </div>
        <div class="field">
          <label for={ids.role}>Role</label>
          <select
            id={ids.role}
            value={role}
            aria-describedby={ids.roleHint}
            onChange={(e) => setRole(e.currentTarget.value as Role)}
          >
            {grantable.map((r) => (
              <option key={r} value={r}>
                {ROLE_LABELS[r]}
              </option>
            ))}
          </select>
          <p id={ids.roleHint} class="hint">
            {ROLE_HINTS[role]} You can grant up to your own role ({ROLE_LABELS[workspace.role]}).
          </p>
        </div>
        <div class="field">
          <label for={ids.expiry}>Expires</label>
          <select id={ids.expiry} value={expiry} onChange={(e) => setExpiry(e.currentTarget.value as Expiry)}>
            {EXPIRY_CHOICES.map((choice) => (
              <option key={choice.value} value={choice.value}>
                {choice.label}
              </option>
            ))}
          </select>
        </div>
        {error !== null && !nameProblem && <ErrorNotice error={error} title="Couldn't create the key" />}
        <div class="dialog-actions">
          <button type="button" class="button secondary" onClick={onClose}>
            Cancel
          </button>
          <button type="submit" class="button" disabled={busy}>
            {busy ? "Creating…" : "Create key"}
          </button>
        </div>
      </form>
    </Dialog>
  );
}
