import { workspacePath } from "../../api";
import { ErrorNotice } from "../../components/error-notice";
import { Loading } from "../../components/loading";
import { RoleBadge } from "../../components/role-badge";
import { Section } from "../../components/section";
import { formatDate } from "../../format";
import { useResource } from "../../hooks";
import { useSession } from "../../session";
import type { Workspace } from "../../types";

export function WorkspaceSection() {
  const { workspace: membership } = useSession();
  const { data: workspace, error, loading, reload } = useResource<Workspace>(workspacePath(membership.id));
  return (
    <Section id="workspace" title="Workspace">
      {error ? (
        <ErrorNotice error={error} title="Couldn't load the workspace" onRetry={reload} />
      ) : loading || !workspace ? (
        <Loading />
      ) : (
        <dl class="details">
          <div>
            <dt>Name</dt>
            <dd>{workspace.name}</dd>
          </div>
          <div>
            <dt>Workspace ID</dt>
            <dd class="mono">{workspace.id}</dd>
          </div>
          <div>
            <dt>Time zone</dt>
            <dd>{workspace.timezone.replace(/_/g, " ")}</dd>
          </div>
          <div>
            <dt>Two-factor authentication</dt>
            <dd>{workspace.require_mfa ? "Required for every member" : "Optional"}</dd>
          </div>
          <div>
            <dt>Your role</dt>
            <dd>
              <RoleBadge role={membership.role} />
            </dd>
          </div>
          <div>
            <dt>Created</dt>
            <dd>
              <time dateTime={workspace.created_at}>{formatDate(workspace.created_at)}</time>
            </dd>
          </div>
        </dl>
      )}
    </Section>
  );
}
