import { roleAtLeast } from "../../../../shared/auth/roles";
import { workspacePath } from "../../api";
import { EmptyState } from "../../components/empty-state";
import { ErrorNotice } from "../../components/error-notice";
import { Loading } from "../../components/loading";
import { RoleBadge } from "../../components/role-badge";
import { LoadMore, Section } from "../../components/section";
import { formatDate, ROLE_LABELS } from "../../format";
import { usePagedList } from "../../hooks";
import { useSession } from "../../session";
import type { Member } from "../../types";

const TITLE = "Users";
const DESCRIPTION = "People who can sign in to this workspace, and their roles.";

/** Members of the workspace (admins and owners); everyone else gets an explanation instead. */
export function UsersSection() {
  const { workspace } = useSession();
  if (!roleAtLeast(workspace.role, "admin")) {
    return (
      <Section id="users" title={TITLE} description={DESCRIPTION}>
        <p class="note">
          Only admins and owners can see and manage the people in this workspace. Your role here is{" "}
          {ROLE_LABELS[workspace.role]}.
        </p>
      </Section>
    );
  }
  return <MembersTable />;
}

function MembersTable() {
  const { workspace, session } = useSession();
  const members = usePagedList<Member>(workspacePath(workspace.id, "users"));
  return (
    <Section
      id="users"
      title={TITLE}
      description={DESCRIPTION}
      count={members.loading && members.items.length === 0 ? undefined : members.total}
    >
      {members.error !== undefined && (
        <ErrorNotice error={members.error} title="Couldn't load users" onRetry={members.reload} />
      )}
      {members.loading && members.items.length === 0 && <Loading />}
      {!members.loading && !members.error && members.items.length === 0 && (
        <EmptyState title="No users" compact />
      )}
      {members.items.length > 0 && (
        <div class="table-scroll">
          <table class="table" aria-labelledby="users-title">
            <thead>
              <tr>
                <th scope="col">Name</th>
                <th scope="col">Email</th>
                <th scope="col">Role</th>
                <th scope="col">Two-factor</th>
                <th scope="col">Joined</th>
              </tr>
            </thead>
            <tbody>
              {members.items.map((member) => (
                <tr key={member.id}>
                  <td class="primary-cell">
                    <span class="cell-title">
                      {member.name}
                      {member.id === session.user.id && <span class="muted"> (you)</span>}
                    </span>
                  </td>
                  <td>{member.email}</td>
                  <td>
                    <RoleBadge role={member.role} />
                  </td>
                  <td>{member.mfa_enabled ? "On" : <span class="muted">Off</span>}</td>
                  <td class="nowrap">
                    <time dateTime={member.joined_at}>{formatDate(member.joined_at)}</time>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      {members.hasMore && (
        <LoadMore
          shown={members.items.length}
          total={members.total}
          loading={members.loading}
          onLoadMore={members.loadMore}
        />
      )}
    </Section>
  );
}
