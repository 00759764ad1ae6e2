/**
 * The D1 schema: the system of record. `npm run db:generate` turns changes here into a migration in
 * `migrations/`. Every table holding workspace data has `workspace_id`, and every query filters on it.
 * Times are ISO-8601 UTC strings; JSON columns hold validated objects.
 */
import { sql } from "drizzle-orm";
import { index, integer, primaryKey, sqliteTable, text, uniqueIndex } from "drizzle-orm/sqlite-core";
import type { Role } from "../../shared/auth/roles";

const now = sql`(strftime('%Y-%m-%dT%H:%M:%fZ','now'))`;

/** A tenant: one clinic or clinic group. `id` is a readable slug (`demo`) and appears in every API path. */
export const workspaces = sqliteTable("workspaces", {
  id: text("id").primaryKey(),
  name: text("name").notNull(),
  timezone: text("timezone").notNull().default("UTC"),
  /** When set, members must have TOTP enrolled before they can use this workspace. */
  requireMfa: integer("require_mfa", { mode: "boolean" }).notNull().default(false),
  createdAt: text("created_at").notNull().default(now),
  updatedAt: text("updated_at").notNull().default(now),
});

/**
 * A person who signs in to the dashboard. Identity is global (one login, many workspaces); what they
 * may do lives in `memberships`. The TOTP secret is encrypted; failed logins drive the lockout.
 */
export const users = sqliteTable(
  "users",
  {
    id: text("id").primaryKey(),
    email: text("email").notNull(),
    name: text("name").notNull(),
    passwordHash: text("password_hash").notNull(),
    mfaEnabled: integer("mfa_enabled", { mode: "boolean" }).notNull().default(false),
    totpSecretEnc: text("totp_secret_enc"),
    /** A secret handed out by MFA setup, kept until the user proves a code from it. */
    totpPendingEnc: text("totp_pending_enc"),
    failedLoginCount: integer("failed_login_count").notNull().default(0),
    lockedUntil: text("locked_until"),
    createdAt: text("created_at").notNull().default(now),
    updatedAt: text("updated_at").notNull().default(now),
  },
  (t) => [uniqueIndex("users_email_unique").on(t.email)],
);

/** Which users belong to which workspace, and with which role. */
export const memberships = sqliteTable(
  "memberships",
  {
    workspaceId: text("workspace_id")
      .notNull()
      .references(() => workspaces.id),
    userId: text("user_id")
      .notNull()
      .references(() => users.id),
    role: text("role").$type<Role>().notNull(),
    createdAt: text("created_at").notNull().default(now),
  },
  (t) => [primaryKey({ columns: [t.workspaceId, t.userId] }), index("memberships_user_idx").on(t.userId)],
);

/** Dashboard sessions. The cookie's JWT names a row here, so a session can be revoked server-side. */
export const sessions = sqliteTable(
  "sessions",
  {
    id: text("id").primaryKey(),
    userId: text("user_id")
      .notNull()
      .references(() => users.id),
    mfaVerified: integer("mfa_verified", { mode: "boolean" }).notNull().default(false),
    createdAt: text("created_at").notNull().default(now),
    expiresAt: text("expires_at").notNull(),
    revokedAt: text("revoked_at"),
  },
  (t) => [index("sessions_user_idx").on(t.userId), index("sessions_expires_idx").on(t.expiresAt)],
);

/** Keys for integrations: one workspace, one role. Only a SHA-256 of the key is kept. */
export const apiKeys = sqliteTable(
  "api_keys",
  {
    id: text("id").primaryKey(),
    workspaceId: text("workspace_id")
      .notNull()
      .references(() => workspaces.id),
    name: text("name").notNull(),
    role: text("role").$type<Role>().notNull(),
    keyHash: text("key_hash").notNull(),
    keyHint: text("key_hint").notNull(),
    createdBy: text("created_by"),
    createdAt: text("created_at").notNull().default(now),
    expiresAt: text("expires_at"),
    revokedAt: text("revoked_at"),
    lastUsedAt: text("last_used_at"),
  },
  (t) => [
    uniqueIndex("api_keys_hash_unique").on(t.keyHash),
    index("api_keys_workspace_idx").on(t.workspaceId, t.createdAt),
  ],
);

/** A service is one agent configuration: a line such as "Scheduling" with its persona and rules. */
export const services = sqliteTable(
  "services",
  {
    id: text("id").primaryKey(),
    workspaceId: text("workspace_id")
      .notNull()
      .references(() => workspaces.id),
    name: text("name").notNull(),
    description: text("description").notNull().default(""),
    persona: text("persona", { mode: "json" }).$type<Record<string, unknown>>().notNull(),
    contextGraphId: text("context_graph_id"),
    escalationRules: text("escalation_rules", { mode: "json" }).$type<Record<string, unknown>>().notNull(),
    createdAt: text("created_at").notNull().default(now),
    updatedAt: text("updated_at").notNull().default(now),
  },
  (t) => [
    uniqueIndex("services_workspace_name_unique").on(t.workspaceId, t.name),
    index("services_workspace_created_idx").on(t.workspaceId, t.createdAt, t.id),
  ],
);

/**
 * A phone number the clinic owns, mapped to the service that answers it. E.164 is unique across the
 * deployment: an inbound call names only the number, and it must lead to exactly one service.
 */
export const phoneNumbers = sqliteTable(
  "phone_numbers",
  {
    id: text("id").primaryKey(),
    workspaceId: text("workspace_id")
      .notNull()
      .references(() => workspaces.id),
    e164: text("e164").notNull(),
    serviceId: text("service_id").references(() => services.id),
    label: text("label").notNull().default(""),
    createdAt: text("created_at").notNull().default(now),
    updatedAt: text("updated_at").notNull().default(now),
  },
  (t) => [
    uniqueIndex("phone_numbers_e164_unique").on(t.e164),
    index("phone_numbers_workspace_idx").on(t.workspaceId, t.createdAt, t.id),
    index("phone_numbers_service_idx").on(t.serviceId),
  ],
);

/**
 * Append-only, hash-chained record of every state change, one chain per workspace (account-level
 * events such as logins use the chain `_account`). `(workspace_id, seq)` is unique, so two writers can
 * never fork the chain: the loser retries on the new head.
 */
export const auditLog = sqliteTable(
  "audit_log",
  {
    id: text("id").primaryKey(),
    workspaceId: text("workspace_id").notNull(),
    seq: integer("seq").notNull(),
    actorType: text("actor_type").$type<"user" | "api_key" | "system" | "anonymous">().notNull(),
    actorId: text("actor_id"),
    action: text("action").notNull(),
    targetType: text("target_type"),
    targetId: text("target_id"),
    details: text("details", { mode: "json" }).$type<Record<string, unknown>>().notNull(),
    requestId: text("request_id"),
    createdAt: text("created_at").notNull(),
    prevHash: text("prev_hash").notNull(),
    hash: text("hash").notNull(),
  },
  (t) => [
    uniqueIndex("audit_log_workspace_seq_unique").on(t.workspaceId, t.seq),
    index("audit_log_workspace_action_idx").on(t.workspaceId, t.action, t.seq),
    index("audit_log_workspace_target_idx").on(t.workspaceId, t.targetType, t.targetId),
  ],
);
