/**
 * Who is signed in and which workspace they are looking at. The session itself lives in an HttpOnly
 * cookie the dashboard never sees; this module keeps the API's view of it and remembers the chosen
 * workspace in localStorage (an id, nothing sensitive).
 */
import { createContext } from "preact";
import { useContext } from "preact/hooks";
import { api } from "./api";
import type { Session, SessionWorkspace } from "./types";

const WORKSPACE_KEY = "switchboard.workspace";

export function rememberedWorkspaceId(): string | null {
  try {
    return localStorage.getItem(WORKSPACE_KEY);
  } catch {
    return null;
  }
}

export function rememberWorkspace(id: string): void {
  try {
    localStorage.setItem(WORKSPACE_KEY, id);
  } catch {
    // Storage can be disabled (private modes, policies); the choice then lasts for this page only.
  }
}

/** The remembered workspace if the user still belongs to it, else their first one. */
export function pickWorkspace(session: Session, preferredId: string | null): SessionWorkspace | null {
  return session.workspaces.find((w) => w.id === preferredId) ?? session.workspaces[0] ?? null;
}

/** True when the API will refuse this workspace until the user enrols in MFA. */
export function needsMfaEnrollment(session: Session, workspace: SessionWorkspace): boolean {
  return workspace.require_mfa && !session.mfa_verified;
}

export interface Credentials {
  email: string;
  password: string;
  totp_code?: string;
}

export const sessionApi = {
  current: (signal?: AbortSignal) => api.get<Session>("/auth/session", { signal, expectUnauthorized: true }),
  login: (credentials: Credentials) =>
    api.post<Session>("/auth/login", credentials, { expectUnauthorized: true }),
  logout: () => api.post<void>("/auth/logout", undefined, { expectUnauthorized: true }),
  startMfaSetup: () => api.post<{ secret: string; otpauth_uri: string }>("/auth/mfa/setup"),
  enableMfa: (code: string) => api.post<Session>("/auth/mfa/enable", { code }),
};

export interface SessionState {
  session: Session;
  workspace: SessionWorkspace;
  selectWorkspace(id: string): void;
  /** Replaces the session (after MFA enrolment, for instance). */
  updateSession(session: Session): void;
  logout(): Promise<void>;
}

export const SessionContext = createContext<SessionState | null>(null);

/** For components inside the signed-in shell. */
export function useSession(): SessionState {
  const state = useContext(SessionContext);
  if (!state) throw new Error("useSession outside the signed-in shell");
  return state;
}
