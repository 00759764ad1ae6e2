/**
 * The Worker's typed environment. Bindings come from `wrangler types` (worker-configuration.d.ts, never
 * hand-edited); the optional Workers AI binding is declared here because local runs go without it.
 */
import type { Role } from "../shared/auth/roles";

declare global {
  interface Env {
    /** Present only where `[ai]` is configured; every model-backed feature has an embedded default. */
    AI?: Ai;
    /**
     * The Twilio account that sends messages and redirects calls (with TWILIO_AUTH_TOKEN). Without it,
     * outbound messages go to the local adapter, which only records them on the call's timeline.
     */
    TWILIO_ACCOUNT_SID?: string;
    /**
     * Cloudflare Email Service's `send_email` binding (`[[send_email]]` in wrangler.toml). Without it,
     * email goes to EMAIL_API_URL (with EMAIL_API_KEY) when set, else to the local adapter, which only
     * records it in the outbox.
     */
    EMAIL?: SendEmail;
    /** A Resend-compatible HTTP email API (`POST {from, to, subject, text}`), used when EMAIL is not bound. */
    EMAIL_API_URL?: string;
    EMAIL_API_KEY?: string;
    /** The address email is sent from (`Clinic <no-reply@clinic.example>`). */
    EMAIL_FROM?: string;
    /** `local` keeps calls on the deterministic LocalEngine even where the AI binding exists (shared/engine/select.ts). */
    AGENT_ENGINE?: string;
    /** Bench only (`bench/call-turns.ts` passes `--var BENCH_ECHO:1`): enables the CallSession's echo baseline. */
    BENCH_ECHO?: string;
  }
}

/** Who is calling: a dashboard user through the session cookie, or an integration through an API key. */
export type Principal =
  | { kind: "user"; userId: string; sessionId: string; mfaVerified: boolean }
  | { kind: "api_key"; keyId: string; workspaceId: string; role: Role };

/** What the request may do in the workspace its path names. */
export interface WorkspaceAccess {
  workspaceId: string;
  role: Role;
}

export type AppEnv = {
  Bindings: Env;
  Variables: {
    requestId: string;
    principal: Principal;
    access: WorkspaceAccess;
  };
};
