import { useDocumentTitle } from "../hooks";
import type { Session } from "../types";

/** A valid account that belongs to no workspace yet: nothing to show until an admin adds it. */
export function NoWorkspacePage({ session, onSignOut }: { session: Session; onSignOut(): void }) {
  useDocumentTitle("No workspace");
  return (
    <div class="auth-page">
      <main class="auth-card" aria-labelledby="no-workspace-title">
        <div class="auth-brand">
          <span class="brand-mark" aria-hidden="true" />
          <span class="brand-name">Switchboard</span>
        </div>
        <h1 id="no-workspace-title">No workspace yet</h1>
        <p>
          You're signed in as <strong>{session.user.email}</strong>, but this account isn't a member of any
          workspace. Ask an admin of your organization's workspace to add you, then sign in again.
        </p>
        <button type="button" class="button secondary block" onClick={onSignOut}>
          Sign out
        </button>
      </main>
    </div>
  );
}
