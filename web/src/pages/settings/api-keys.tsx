import { useState } from "preact/hooks";
import { canGrant, roleAtLeast } from "../../../../shared/auth/roles";
import { workspacePath } from "../../api";
import { EmptyState } from "../../components/empty-state";
import { ErrorNotice } from "../../components/error-notice";
import { Loading } from "../../components/loading";
import { RoleBadge } from "../../components/role-badge";
import { LoadMore, Section } from "../../components/section";
import { formatDate, formatDateTime, formatRelative, ROLE_LABELS } from "../../format";
import { usePagedList } from "../../hooks";
import { useSession } from "../../session";
import type { ApiKey } from "../../types";
import { CreateApiKeyDialog } from "./create-api-key";
import { RevokeApiKeyDialog } from "./revoke-api-key";

const TITLE = "API keys";
const DESCRIPTION = "Keys let other systems (an EHR, a scheduler, scripts) call the Switchboard API.";

/** Keys for integrations (admins and owners): list, create (shown once), revoke. */
export function ApiKeysSection() {
  const { workspace } = useSession();
  if (!roleAtLeast(workspace.role, "admin")) {
    return (
      <Section id="api-keys" title={TITLE} description={DESCRIPTION}>
        <p class="note">
          Only admins and owners can see and manage API keys. Your role here is {ROLE_LABELS[workspace.role]}.
        </p>
      </Section>
    );
  }
  return <ApiKeysTable />;
}

type KeyStatus = "active" | "revoked" | "expired";

function keyStatus(key: ApiKey, now: number): KeyStatus {
  if (key.revoked_at) return "revoked";
  if (key.expires_at && Date.parse(key.expires_at) <= now) return "expired";
  return "active";
}

function ApiKeysTable() {
  const { workspace } = useSession();
  const keys = usePagedList<ApiKey>(workspacePath(workspace.id, "api-keys"));
  const [creating, setCreating] = useState(false);
  const [revoking, setRevoking] = useState<ApiKey | null>(null);
  const [announcement, setAnnouncement] = useState("");
  const now = Date.now();

  return (
    <Section
      id="api-keys"
      title={TITLE}
      description={DESCRIPTION}
      count={keys.loading && keys.items.length === 0 ? undefined : keys.total}
      actions={
        <button type="button" class="button" onClick={() => setCreating(true)}>
          Create API key
        </button>
      }
    >
      <p class="visually-hidden" role="status">
        {announcement}
      </p>
      {keys.error !== undefined && (
        <ErrorNotice error={keys.error} title="Couldn't load API keys" onRetry={keys.reload} />
      )}
      {keys.loading && keys.items.length === 0 && <Loading />}
      {!keys.loading && !keys.error && keys.items.length === 0 && (
        <EmptyState title="No API keys yet" compact>
          <p>Create a key for each system that calls the API, with the lowest role it needs.</p>
        </EmptyState>
      )}
      {keys.items.length > 0 && (
        <div class="table-scroll">
          <table class="table" aria-labelledby="api-keys-title">
            <thead>
              <tr>
                <th scope="col">Name</th>
                <th scope="col">Key</th>
                <th scope="col">Role</th>
                <th scope="col">Status</th>
                <th scope="col">Last used</th>
                <th scope="col">Expires</th>
                <th scope="col">Created</th>
                <th scope="col">
                  <span class="visually-hidden">Actions</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {keys.items.map((key) => {
                const status = keyStatus(key, now);
                return (
                  <tr key={key.id} class={status === "active" ? undefined : "inactive"}>
                    <td class="primary-cell">
                      <span class="cell-title">{key.name}</span>
                    </td>
                    <td class="mono nowrap">{key.key_hint}…</td>
                    <td>
                      <RoleBadge role={key.role} />
                    </td>
                    <td class="nowrap">
                      <StatusBadge status={status} />
                      {key.revoked_at && (
                        <span class="cell-sub">
                          <time dateTime={key.revoked_at}>{formatDate(key.revoked_at)}</time>
                        </span>
                      )}
                    </td>
                    <td class="nowrap">
                      {key.last_used_at ? (
                        <time dateTime={key.last_used_at} title={formatDateTime(key.last_used_at)}>
                          {formatRelative(key.last_used_at, now)}
                        </time>
                      ) : (
                        <span class="muted">Never</span>
                      )}
                    </td>
                    <td class="nowrap">
                      {key.expires_at ? (
                        <time dateTime={key.expires_at}>{formatDate(key.expires_at)}</time>
                      ) : (
                        <span class="muted">Never</span>
                      )}
                    </td>
                    <td class="nowrap">
                      <time dateTime={key.created_at}>{formatDate(key.created_at)}</time>
                    </td>
                    <td class="actions">
                      {status === "active" && canGrant(workspace.role, key.role) && (
                        <button
                          type="button"
                          class="button danger-ghost small"
                          aria-label={`Revoke ${key.name}`}
                          onClick={() => setRevoking(key)}
                        >
                          Revoke
                        </button>
                      )}
                    </td>
                  </tr>
                );
              })}
            </tbody>
          </table>
        </div>
      )}
      {keys.hasMore && (
        <LoadMore
          shown={keys.items.length}
          total={keys.total}
          loading={keys.loading}
          onLoadMore={keys.loadMore}
        />
      )}
      {creating && (
        <CreateApiKeyDialog
          onCreated={(created) => {
            setAnnouncement(`API key ${created.name} created.`);
            keys.reload();
          }}
          onClose={() => setCreating(false)}
        />
      )}
      {revoking && (
        <RevokeApiKeyDialog
          apiKey={revoking}
          onRevoked={() => {
            setAnnouncement(`API key ${revoking.name} revoked.`);
            setRevoking(null);
            keys.reload();
            // The Revoke button that opened the dialog is gone with the key's active state.
            setTimeout(() => document.getElementById("api-keys-title")?.focus());
          }}
          onClose={() => setRevoking(null)}
        />
      )}
    </Section>
  );
}

function StatusBadge({ status }: { status: KeyStatus }) {
  const label = { active: "Active", revoked: "Revoked", expired: "Expired" }[status];
  return <span class={`badge status-${status}`}>{label}</span>;
}
