import { useState } from "preact/hooks";
import { api, workspacePath } from "../../api";
import { Dialog } from "../../components/dialog";
import { ErrorNotice } from "../../components/error-notice";
import { useSession } from "../../session";
import type { ReviewBatchResult } from "../../types";
import { RejectForm } from "./decision-forms";

type Action = "approve" | "reject";

/**
 * What to do with the selected items: approve them all (after a confirmation, since approval makes
 * facts eligible for writeback), or reject them all with one reason.
 */
export function BatchBar({
  ids,
  onClear,
  onDone,
}: {
  ids: string[];
  onClear(): void;
  onDone(result: ReviewBatchResult, action: Action): void;
}) {
  const { workspace } = useSession();
  const [dialog, setDialog] = useState<Action | null>(null);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const count = `${ids.length} ${ids.length === 1 ? "item" : "items"}`;

  const send = async (action: Action, reason?: string) => {
    setBusy(true);
    setError(null);
    try {
      const result = await api.post<ReviewBatchResult>(
        workspacePath(workspace.id, "review", "batch"),
        action === "approve" ? { action, ids } : { action, ids, reason },
      );
      setDialog(null);
      onDone(result, action);
    } catch (failure) {
      setError(failure);
    } finally {
      setBusy(false);
    }
  };

  return (
    <section class="batch-bar" aria-label="Selected items">
      <span class="batch-count" role="status">
        {ids.length} selected
      </span>
      <button type="button" class="button small" onClick={() => setDialog("approve")}>
        Approve selected
      </button>
      <button type="button" class="button danger-outline small" onClick={() => setDialog("reject")}>
        Reject selected…
      </button>
      <button type="button" class="button ghost small" onClick={onClear}>
        Clear selection
      </button>
      {dialog === "approve" && (
        <Dialog title={`Approve ${count}?`} onClose={() => setDialog(null)} size="small">
          <p>
            Each fact is recorded at confidence 0.95, enough to be written back to the EHR; each possible
            duplicate is merged. Items someone else has claimed are skipped.
          </p>
          {error !== null && <ErrorNotice error={error} title="Couldn't approve" />}
          <div class="dialog-actions">
            <button type="button" class="button secondary" onClick={() => setDialog(null)}>
              Cancel
            </button>
            <button type="button" class="button" onClick={() => send("approve")} disabled={busy}>
              {busy ? "Approving…" : `Approve ${count}`}
            </button>
          </div>
        </Dialog>
      )}
      {dialog === "reject" && (
        <Dialog title={`Reject ${count}?`} onClose={() => setDialog(null)}>
          <RejectForm
            busy={busy}
            error={error}
            title="One reason for all of them"
            submitLabel={`Reject ${count}`}
            onSubmit={(reason) => send("reject", reason)}
            onCancel={() => setDialog(null)}
          />
        </Dialog>
      )}
    </section>
  );
}

/** "Approved 3 items." or "Approved 2 items; 1 couldn't be: claimed by someone else." */
export function batchMessage(result: ReviewBatchResult, action: Action): string {
  const verb = action === "approve" ? "Approved" : "Rejected";
  const done = `${verb} ${result.succeeded} ${result.succeeded === 1 ? "item" : "items"}`;
  if (result.failed === 0) return `${done}.`;
  const reasons = [...new Set(result.results.filter((r) => !r.ok).map((r) => r.error?.message ?? "failed"))];
  return `${done}; ${result.failed} couldn't be: ${reasons.join("; ")}.`;
}
