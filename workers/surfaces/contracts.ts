/**
 * Surfaces (issue 6): forms the agent, the gap scanner or an operator builds for exactly what a
 * patient's record lacks, sent as a signed link, answered on a server-rendered page, and flowing into the
 * world model through the same confidence gates as everything else. Each module owns one part; the
 * signatures below are the contract between them.
 *
 * | module | owns |
 * | --- | --- |
 * | `shared/surfaces/spec.ts` | the spec's zod schema (fields, 12 input types, conditions, sections, branding) |
 * | `shared/surfaces/validate.ts` | `specProblems` (every reason a spec is invalid), conditions, answer validation, progress, reshape |
 * | `shared/surfaces/fhir.ts` | spec ↔ FHIR R4 Questionnaire, answers → QuestionnaireResponse |
 * | `workers/db/surfaces.ts` | D1 access for surfaces, answers, templates (sealed spec and answers) |
 * | `workers/surfaces/tokens.ts` | signed links: jose HS256 JWTs (pinned alg, `aud` surface), short links, revocation |
 * | `workers/surfaces/service.ts` | the lifecycle: create (prefill from the world model), patch, deliver, open, save, submit, expire, archive, reshape |
 * | `workers/surfaces/page.ts` | the patient's page `/s/{token}`: HTML rendered at the edge, works without JavaScript |
 * | `workers/surfaces/delivery.ts` | sending a surface's link on its channel through the outbox (`workers/telephony/messaging.ts`) |
 * | `workers/surfaces/gates.ts` | fatigue gates: may this patient get a surface now, on which channel, or be asked verbally |
 * | `workers/surfaces/scanner.ts` | the gap scanner (cron and run-once, with a dry run) |
 * | `workers/surfaces/analytics.ts` | completion rates, time to complete, field abandonment, per-patient history |
 * | `workers/api/surfaces.ts` | `/v1/{ws}/surfaces/...` (operators and integrators) |
 * | `workers/api/surface-page.ts` | `/s/{token}` and `/l/{code}` (patients; outside `/v1`, the token is the credential) |
 */
import type { Answers, SurfaceSpec } from "../../shared/surfaces/spec";

export type SurfaceStatus =
  | "created"
  | "delivered"
  | "opened"
  | "partial"
  | "completed"
  | "expired"
  | "archived";
export type SurfaceChannel = "sms" | "whatsapp" | "email" | "voice" | "web";
export type CreatedBy =
  | { type: "agent"; callId: string }
  | { type: "operator" | "api"; id: string }
  | { type: "scanner"; requirementId: string; runId: string };

/** TTL bounds and default (1 hour to 1 year, 7 days). */
export const SURFACE_TTL = {
  minSeconds: 3600,
  maxSeconds: 365 * 24 * 3600,
  defaultSeconds: 7 * 24 * 3600,
} as const;

/** A surface as the service hands it around (the spec opened; answers separately). */
export interface Surface {
  id: string;
  workspaceId: string;
  entityId: string;
  parentId: string | null;
  templateId: string | null;
  title: string;
  spec: SurfaceSpec;
  status: SurfaceStatus;
  channel: SurfaceChannel;
  createdBy: CreatedBy;
  callId: string | null;
  fieldCount: number;
  requiredCount: number;
  answeredCount: number;
  lastFieldKey: string | null;
  expiresAt: string;
  deliveredAt: string | null;
  openedAt: string | null;
  completedAt: string | null;
  createdAt: string;
}

export interface CreateSurfaceInput {
  entityId: string;
  spec: SurfaceSpec;
  channel: SurfaceChannel;
  ttlSeconds?: number;
  createdBy: CreatedBy;
  templateId?: string | null;
  parentId?: string | null;
  /** Fill `prefill_value` of fields with a `target` from the patient's current facts (default true). */
  prefill?: boolean;
}

/** What the page and the API learn from a token: the surface it opens, or why it does not. */
export type TokenCheck =
  | { ok: true; workspaceId: string; surfaceId: string; jti: string }
  | {
      ok: false;
      reason: "malformed" | "bad_signature" | "expired" | "wrong_audience" | "revoked" | "unknown";
    };

/** Saving one field from the page (autosave) or the API. */
export interface SaveResult {
  ok: boolean;
  /** The field's problem when `ok` is false (shown next to the field). */
  error?: string;
  status: SurfaceStatus;
  answered: number;
  required: number;
}

/** The service's entry points (implemented in service.ts; signatures are the contract). */
export interface SurfaceService {
  create(env: Env, workspaceId: string, input: CreateSurfaceInput): Promise<Surface>;
  get(env: Env, workspaceId: string, surfaceId: string): Promise<Surface | null>;
  answers(env: Env, workspaceId: string, surfaceId: string): Promise<Answers>;
  /** Marks it opened (first view) and returns it with its answers; null when it cannot be shown. */
  open(
    env: Env,
    workspaceId: string,
    surfaceId: string,
  ): Promise<{ surface: Surface; answers: Answers } | null>;
  saveField(env: Env, workspaceId: string, surfaceId: string, key: string, raw: unknown): Promise<SaveResult>;
  /** Validates the visible required fields; idempotent (a second submit stores nothing and returns the first). */
  submit(
    env: Env,
    workspaceId: string,
    surfaceId: string,
    raw?: Record<string, unknown>,
  ): Promise<SaveResult & { errors?: Record<string, string> }>;
}
