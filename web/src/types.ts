/**
 * The API's shapes as the dashboard sees them, inferred from the shared zod schemas. Type-only imports:
 * zod itself never reaches the bundle.
 */
import type { z } from "zod";
import type { ErrorBody } from "../../shared/api/errors";
import type { ApiKeyCreated, ApiKeySchema, MemberSchema, SessionSchema } from "../../shared/schemas/identity";
import type { PhoneNumberSchema, ServiceSchema, WorkspaceSchema } from "../../shared/schemas/tenancy";

export type { ErrorCode } from "../../shared/api/errors";
export type { Role } from "../../shared/auth/roles";

export type Session = z.infer<typeof SessionSchema>;
export type SessionWorkspace = Session["workspaces"][number];
export type Workspace = z.infer<typeof WorkspaceSchema>;
export type Service = z.infer<typeof ServiceSchema>;
export type PhoneNumber = z.infer<typeof PhoneNumberSchema>;
export type Member = z.infer<typeof MemberSchema>;
export type ApiKey = z.infer<typeof ApiKeySchema>;
export type NewApiKey = z.infer<typeof ApiKeyCreated>;
export type ApiErrorBody = ErrorBody;

/** Every list endpoint answers this page shape (`listOf` in shared/schemas/common.ts). */
export interface ListPage<T> {
  results: T[];
  total: number;
  continuation_token: string | null;
}
