/**
 * The dashboard's root: finds out who is signed in, sends everyone else to /login, and renders the
 * page for the current path inside the shell with the chosen workspace.
 */
import { useCallback, useEffect, useMemo, useRef, useState } from "preact/hooks";
import { isApiError, setAccessHandlers } from "./api";
import { AppShell } from "./components/app-shell";
import { ErrorNotice } from "./components/error-notice";
import { Loading } from "./components/loading";
import { MfaRequired } from "./components/mfa-required";
import { PageHeader } from "./components/page-header";
import { LoginPage } from "./pages/login";
import { NoWorkspacePage } from "./pages/no-workspace";
import { NotFoundPage } from "./pages/not-found";
import { navigate, useLocation } from "./router";
import { findRoute, HOME_PATH } from "./routes";
import {
  needsMfaEnrollment,
  pickWorkspace,
  rememberedWorkspaceId,
  rememberWorkspace,
  SessionContext,
  type SessionState,
  sessionApi,
} from "./session";
import type { Session } from "./types";

type AppState =
  | { status: "loading" }
  | { status: "signed-out"; notice?: string }
  | { status: "signed-in"; session: Session }
  | { status: "unavailable"; error: unknown };

/** Only same-origin paths, so `?next=` cannot send anyone elsewhere after sign-in. */
function safeNext(next: string | null): string {
  return next?.startsWith("/") && !next.startsWith("//") && !next.startsWith("/login") ? next : HOME_PATH;
}

export function App() {
  const [state, setState] = useState<AppState>({ status: "loading" });
  const [workspaceId, setWorkspaceId] = useState(rememberedWorkspaceId);
  const [signOutError, setSignOutError] = useState<unknown>(null);
  const { path, query } = useLocation();

  const loadSession = useCallback(() => {
    setState({ status: "loading" });
    sessionApi.current().then(
      (session) => setState({ status: "signed-in", session }),
      (error: unknown) =>
        setState(
          isApiError(error) && error.status === 401
            ? { status: "signed-out" }
            : { status: "unavailable", error },
        ),
    );
  }, []);

  // Workspaces that answered `mfa_enrollment_required` although the session we hold said they would not
  // (the requirement was switched on after sign-in): gated like the ones the session knows about.
  const [mfaGated, setMfaGated] = useState<ReadonlySet<string>>(new Set());

  useEffect(() => {
    setAccessHandlers({
      sessionEnded: () =>
        setState({ status: "signed-out", notice: "Your session has ended. Sign in again to continue." }),
      mfaEnrollmentRequired: (id) =>
        setMfaGated((gated) => (gated.has(id) ? gated : new Set([...gated, id]))),
    });
    loadSession();
  }, [loadSession]);

  // Signed-out visitors land on /login (remembering where they were going); signed-in ones leave it.
  useEffect(() => {
    if (state.status === "signed-out" && path !== "/login") {
      const next = path === "/" ? "" : `?next=${encodeURIComponent(path + location.search)}`;
      navigate(`/login${next}`, { replace: true });
    } else if (state.status === "signed-in" && (path === "/login" || path === "/")) {
      navigate(safeNext(query.get("next")), { replace: true });
    }
  }, [state.status, path, query]);

  // After in-app navigation, put focus on the new page's heading and start at the top.
  const previousPath = useRef(path);
  useEffect(() => {
    if (previousPath.current === path) return;
    previousPath.current = path;
    window.scrollTo(0, 0);
    document.getElementById("page-title")?.focus();
  }, [path]);

  const session = state.status === "signed-in" ? state.session : null;
  const workspace = session ? pickWorkspace(session, workspaceId) : null;

  // Remember the workspace in use (chosen or defaulted), so that joining another one later moves nothing.
  const workspaceInUse = workspace?.id;
  useEffect(() => {
    if (workspaceInUse) rememberWorkspace(workspaceInUse);
  }, [workspaceInUse]);

  const sessionState = useMemo<SessionState | null>(() => {
    if (!session || !workspace) return null;
    return {
      session,
      workspace,
      selectWorkspace: setWorkspaceId,
      updateSession(next) {
        setState({ status: "signed-in", session: next });
      },
      async logout() {
        setSignOutError(null);
        try {
          await sessionApi.logout();
        } catch (error) {
          // 401: the session had already ended, which is what signing out wants anyway.
          if (!(isApiError(error) && error.status === 401)) {
            setSignOutError(error);
            return;
          }
        }
        navigate("/login");
        setState({ status: "signed-out", notice: "You have signed out." });
      },
    };
  }, [session, workspace]);

  if (state.status === "loading") {
    return (
      <div class="splash">
        <Loading label="Loading Switchboard…" />
      </div>
    );
  }
  if (state.status === "unavailable") {
    return (
      <div class="splash">
        <div class="splash-card">
          <ErrorNotice error={state.error} title="Switchboard is not available" onRetry={loadSession} />
        </div>
      </div>
    );
  }
  if (state.status === "signed-out") {
    return (
      <LoginPage
        notice={state.notice}
        onSignedIn={(signedIn) => setState({ status: "signed-in", session: signedIn })}
      />
    );
  }
  if (!sessionState) {
    return (
      <NoWorkspacePage
        session={state.session}
        onSignOut={() => {
          const signedOut = () => setState({ status: "signed-out" });
          sessionApi.logout().then(signedOut, signedOut);
        }}
      />
    );
  }
  if (path === "/login" || path === "/") return null;

  const route = findRoute(path);
  const { workspace: current } = sessionState;
  let content = null;
  if (!route) content = <NotFoundPage />;
  else if (
    needsMfaEnrollment(sessionState.session, current) ||
    (mfaGated.has(current.id) && !sessionState.session.mfa_verified)
  ) {
    content = (
      <>
        <PageHeader title={route.label} />
        <MfaRequired />
      </>
    );
  } else {
    const Page = route.page;
    // A new workspace or a newly verified session gets a fresh page, with nothing left from before.
    content = <Page key={`${current.id}:${sessionState.session.mfa_verified}`} />;
  }

  return (
    <SessionContext value={sessionState}>
      <AppShell path={route?.path ?? path}>
        {signOutError !== null && <ErrorNotice error={signOutError} title="Couldn't sign out" />}
        {content}
      </AppShell>
    </SessionContext>
  );
}
