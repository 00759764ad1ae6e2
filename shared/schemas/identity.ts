/** Users, memberships, API keys, sessions and the audit log as the API shows and accepts them. */
import { z } from "zod";
import { DisplayName, Email, Password, ResourceId, RoleSchema, Timestamp, WorkspaceId } from "./common";

export const MemberSchema = z
  .object({
    id: ResourceId,
    email: z.string(),
    name: z.string(),
    role: RoleSchema,
    mfa_enabled: z.boolean(),
    joined_at: Timestamp,
  })
  .meta({ id: "Member" });

export const MemberCreate = z.strictObject({
  email: Email,
  name: DisplayName,
  role: RoleSchema,
  password: Password.optional().meta({ description: "Initial password for a new user (min 12 characters)" }),
});
export const MemberUpdate = z
  .strictObject({ role: RoleSchema, name: DisplayName })
  .partial()
  .refine((v) => Object.keys(v).length > 0, "nothing to update");

export const ApiKeySchema = z
  .object({
    id: ResourceId,
    workspace_id: WorkspaceId,
    name: z.string(),
    role: RoleSchema,
    key_hint: z.string().meta({ description: "The first characters of the key" }),
    created_by: z.string().nullable(),
    created_at: Timestamp,
    expires_at: Timestamp.nullable(),
    revoked_at: Timestamp.nullable(),
    last_used_at: Timestamp.nullable(),
  })
  .meta({ id: "ApiKey" });

export const ApiKeyCreate = z.strictObject({
  name: DisplayName,
  role: RoleSchema,
  expires_at: z.iso.datetime().nullable().default(null),
});

export const ApiKeyCreated = ApiKeySchema.extend({
  key: z.string().meta({ description: "The key itself. Shown once: store it now." }),
}).meta({ id: "ApiKeyCreated" });

export const LoginRequest = z.strictObject({
  email: Email,
  password: z.string().min(1).max(256),
  totp_code: z
    .string()
    .regex(/^\d{6}$/)
    .optional(),
});

export const SessionWorkspace = z.object({
  id: WorkspaceId,
  name: z.string(),
  role: RoleSchema,
  require_mfa: z.boolean(),
});

export const SessionSchema = z
  .object({
    user: z.object({ id: ResourceId, email: z.string(), name: z.string(), mfa_enabled: z.boolean() }),
    workspaces: z.array(SessionWorkspace),
    mfa_verified: z.boolean(),
  })
  .meta({ id: "Session" });

export const TotpCode = z.strictObject({ code: z.string().regex(/^\d{6}$/, "a 6-digit code") });

export const AuditEntrySchema = z
  .object({
    id: z.string(),
    seq: z.number().int(),
    actor_type: z.enum(["user", "api_key", "system", "anonymous"]),
    actor_id: z.string().nullable(),
    action: z.string(),
    target_type: z.string().nullable(),
    target_id: z.string().nullable(),
    details: z.record(z.string(), z.unknown()),
    request_id: z.string().nullable(),
    created_at: Timestamp,
    prev_hash: z.string(),
    hash: z.string(),
  })
  .meta({ id: "AuditEntry" });

export const AuditVerdictSchema = z
  .object({
    intact: z.boolean(),
    checked: z.number().int(),
    last_seq: z.number().int().nullable(),
    broken_at_seq: z.number().int().nullable(),
    reason: z.enum(["hash_mismatch", "prev_hash_mismatch", "sequence_gap"]).nullable(),
  })
  .meta({ id: "AuditVerdict" });

export const MfaSetupSchema = z
  .object({ secret: z.string(), otpauth_uri: z.string().meta({ description: "Scan as a QR code" }) })
  .meta({ id: "MfaSetup" });
