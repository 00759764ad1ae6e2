import type { ComponentChildren } from "preact";
import { useState } from "preact/hooks";
import { Link } from "../router";
import { ROUTES } from "../routes";
import { useSession } from "../session";
import { RoleBadge } from "./role-badge";
import { WorkspaceSwitcher } from "./workspace-switcher";

/** The frame around every signed-in page: header (workspace, account), navigation, content. */
export function AppShell({ path, children }: { path: string; children: ComponentChildren }) {
  const { session, workspace, logout } = useSession();
  const [signingOut, setSigningOut] = useState(false);

  const signOut = async () => {
    setSigningOut(true);
    try {
      await logout();
    } finally {
      setSigningOut(false);
    }
  };

  return (
    <div class="shell">
      <a class="skip-link" href="#main">
        Skip to content
      </a>
      <header class="topbar">
        <Link class="brand" href="/calls" aria-label="Switchboard home">
          <span class="brand-mark" aria-hidden="true" />
          <span class="brand-name">Switchboard</span>
        </Link>
        <WorkspaceSwitcher />
        <div class="account">
          <span class="account-name" title={session.user.email}>
            {session.user.name}
          </span>
          <span class="visually-hidden">Role in {workspace.name}:</span>
          <RoleBadge role={workspace.role} label={`Your role in ${workspace.name}`} />
          <button type="button" class="button ghost small" onClick={signOut} disabled={signingOut}>
            {signingOut ? "Signing out…" : "Sign out"}
          </button>
        </div>
      </header>
      <nav class="sidenav" aria-label="Main">
        <ul>
          {ROUTES.map(({ path: href, label, icon: Icon, badge: Badge }) => (
            <li key={href}>
              <Link href={href} class="nav-link" aria-current={path === href ? "page" : undefined}>
                <Icon />
                <span>{label}</span>
                {Badge && <Badge />}
              </Link>
            </li>
          ))}
        </ul>
      </nav>
      <main id="main" class="content" tabIndex={-1}>
        {children}
      </main>
    </div>
  );
}
