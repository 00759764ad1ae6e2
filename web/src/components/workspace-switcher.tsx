import { useId } from "preact/hooks";
import { useSession } from "../session";

/** The current workspace; a picker when the user belongs to more than one. */
export function WorkspaceSwitcher() {
  const { session, workspace, selectWorkspace } = useSession();
  const id = useId();
  if (session.workspaces.length < 2) {
    return (
      <div class="workspace-switcher">
        <span class="workspace-label">Workspace</span>
        <span class="workspace-name" data-testid="workspace-name">
          {workspace.name}
        </span>
      </div>
    );
  }
  return (
    <div class="workspace-switcher">
      <label class="workspace-label" for={id}>
        Workspace
      </label>
      <select
        id={id}
        class="workspace-select"
        data-testid="workspace-name"
        value={workspace.id}
        onChange={(event) => selectWorkspace(event.currentTarget.value)}
      >
        {session.workspaces.map((w) => (
          <option key={w.id} value={w.id}>
            {w.name}
          </option>
        ))}
      </select>
    </div>
  );
}
