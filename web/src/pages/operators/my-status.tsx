/**
 * The workspace's operators (`GET /v1/{ws}/operators`: names for the transcript, who is on duty) and the
 * signed-in user's own status toggle (`PUT /operators/{me}/status`). A user who is not an operator is
 * told so, and how to become one.
 */
import { useCallback, useEffect, useId, useState } from "preact/hooks";
import { api, workspacePath } from "../../api";
import { ErrorNotice } from "../../components/error-notice";
import { fetchAll } from "../../hooks";
import type { Operator } from "../../types";

export interface OperatorList {
  operators: Operator[];
  loaded: boolean;
  error: unknown;
  reload(): void;
  /** Replaces one operator after a change this page made. */
  update(operator: Operator): void;
}

export function useOperators(workspaceId: string): OperatorList {
  const [operators, setOperators] = useState<Operator[]>([]);
  const [loaded, setLoaded] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const [generation, setGeneration] = useState(0);
  useEffect(() => {
    const controller = new AbortController();
    fetchAll<Operator>(workspacePath(workspaceId, "operators"), controller.signal).then(
      (list) => {
        setOperators(list);
        setLoaded(true);
        setError(null);
      },
      (failure: unknown) => {
        if (controller.signal.aborted) return;
        setError(failure);
        setLoaded(true);
      },
    );
    return () => controller.abort();
  }, [workspaceId, generation]);
  const reload = useCallback(() => setGeneration((g) => g + 1), []);
  const update = useCallback(
    (operator: Operator) =>
      setOperators((list) => list.map((o) => (o.user_id === operator.user_id ? operator : o))),
    [],
  );
  return { operators, loaded, error, reload, update };
}

/** In the order the toggle shows them (the API's `OPERATOR_STATUSES`; zod stays out of the bundle). */
const STATUSES = ["online", "busy", "offline"] as const satisfies readonly Operator["status"][];

const STATUS_LABELS: Record<Operator["status"], string> = {
  online: "Online",
  busy: "Busy",
  offline: "Offline",
};

const STATUS_HINTS: Record<Operator["status"], string> = {
  online: "Escalations are routed to you.",
  busy: "On duty, but new escalations go to others first.",
  offline: "Not on duty: escalations are not routed to you.",
};

/** Online / Busy / Offline as a radio group (arrow keys move and choose); each change is saved at once. */
export function MyStatus({
  workspaceId,
  userId,
  canRegister,
  list,
}: {
  workspaceId: string;
  userId: string;
  /** The member's role allows registering them (operator or above). */
  canRegister: boolean;
  list: OperatorList;
}) {
  const me = list.operators.find((o) => o.user_id === userId);
  const [saving, setSaving] = useState<Operator["status"] | null>(null);
  const [error, setError] = useState<unknown>(null);
  const name = useId();

  if (!list.loaded) return null;
  if (list.error && !me) {
    return <ErrorNotice error={list.error} title="Could not load the operators" onRetry={list.reload} />;
  }
  if (!me) {
    return (
      <div class="notice info ops-not-operator" role="status">
        <p class="notice-title">You are not an operator in this workspace</p>
        {canRegister ? (
          <p>
            You can open calls from the queue, but escalations are only routed to registered operators. Ask an
            admin to register you: <code>POST /v1/{workspaceId}/operators</code> with your user id{" "}
            <code class="ops-user-id">{userId}</code> and a type (clinical, administrative or crisis
            counselor).
          </p>
        ) : (
          <p>
            Operators are members with the Operator role or above, registered by an admin. Your role here is
            Viewer: ask an admin for the Operator role first.
          </p>
        )}
      </div>
    );
  }

  const choose = async (status: Operator["status"]) => {
    if (status === me.status || saving) return;
    setSaving(status);
    setError(null);
    try {
      const updated = await api.put<Operator>(workspacePath(workspaceId, "operators", userId, "status"), {
        status,
      });
      list.update(updated);
    } catch (failure) {
      setError(failure);
    } finally {
      setSaving(null);
    }
  };

  const shown = saving ?? me.status;
  return (
    <div class="ops-my-status">
      <fieldset class="segmented" aria-describedby={`${name}-hint`}>
        <legend>My status</legend>
        {STATUSES.map((status) => (
          <label key={status} class={`segment status-${status}${shown === status ? " checked" : ""}`}>
            <input
              type="radio"
              name={name}
              value={status}
              checked={shown === status}
              disabled={saving !== null}
              onChange={() => choose(status)}
            />
            {STATUS_LABELS[status]}
          </label>
        ))}
      </fieldset>
      <p id={`${name}-hint`} class="hint" aria-live="polite">
        {saving ? "Saving…" : STATUS_HINTS[me.status]}
      </p>
      {error !== null && <ErrorNotice error={error} title="Your status did not change" />}
    </div>
  );
}
