import { useState } from "preact/hooks";
import { api, workspacePath } from "../../api";
import { Dialog } from "../../components/dialog";
import { ErrorNotice } from "../../components/error-notice";
import { useSession } from "../../session";
import type { ApiKey } from "../../types";

/** Confirms a revocation, which takes effect on the key's next request and cannot be undone. */
export function RevokeApiKeyDialog({
  apiKey,
  onRevoked,
  onClose,
}: {
  apiKey: ApiKey;
  onRevoked(): void;
  onClose(): void;
}) {
  const { workspace } = useSession();
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);

  const revoke = async () => {
    setBusy(true);
    setError(null);
    try {
      await api.delete(workspacePath(workspace.id, "api-keys", apiKey.id));
      onRevoked();
    } catch (failure) {
      setError(failure);
      setBusy(false);
    }
  };

  return (
    <Dialog title={`Revoke “${apiKey.name}”?`} onClose={onClose} size="small">
      <p>
        Anything using this key (<span class="mono">{apiKey.key_hint}…</span>) will be refused from its next
        request. This can't be undone.
      </p>
      {error !== null && <ErrorNotice error={error} title="Couldn't revoke the key" />}
      <div class="dialog-actions">
        <button type="button" class="button secondary" onClick={onClose}>
          Cancel
        </button>
        <button type="button" class="button danger" onClick={revoke} disabled={busy}>
          {busy ? "Revoking…" : "Revoke key"}
        </button>
      </div>
    </Dialog>
  );
}
