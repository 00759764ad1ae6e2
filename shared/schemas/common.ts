/**
 * Building blocks of the API's schemas, shared by the Worker (validation + OpenAPI) and the dashboard.
 * Free-text names allow what real names need (O'Brien, Smith & Jones, Dr. Lee-Park) and refuse markup
 * and statement separators, which no clinic name carries.
 */
import { z } from "zod";
import { ERROR_STATUS } from "../api/errors";
import { PASSWORD_MIN_LENGTH } from "../auth/password";
import { ROLES } from "../auth/roles";

export const DisplayName = z
  .string()
  .trim()
  .min(1)
  .max(200)
  .regex(
    /^[\p{L}\p{M}\p{N} .,'&()/#:+_-]+$/u,
    "may contain letters, digits, spaces and . , ' & ( ) / # : + _ -",
  );

export const Description = z
  .string()
  .max(2000)
  .regex(/^(?:[^\p{Cc}<>]|[\t\n\r])*$/u, "may not contain control characters or < >");

/** A time zone the runtime knows by its IANA name (`America/New_York`). */
export const TimeZone = z
  .string()
  .max(64)
  .refine((tz) => {
    try {
      new Intl.DateTimeFormat("en-US", { timeZone: tz });
      return true;
    } catch {
      return false;
    }
  }, "not an IANA time zone");

export const WorkspaceId = z
  .string()
  .regex(/^[a-z0-9][a-z0-9-]{1,62}$/, "lowercase letters, digits and dashes, 2 to 63 characters")
  .meta({ example: "demo" });

export const ResourceId = z.string().regex(/^[a-z]{2,4}_[A-Za-z0-9_-]{8,43}$/, "not a valid id");

export const Email = z
  .email()
  .max(254)
  .transform((email) => email.toLowerCase());

export const Password = z.string().min(PASSWORD_MIN_LENGTH).max(256);

export const RoleSchema = z
  .enum(ROLES)
  .meta({ id: "Role", description: "viewer < operator < admin < owner" });

export const Timestamp = z
  .string()
  .meta({ description: "ISO-8601 UTC", example: "2026-11-22T09:30:00.000Z" });

export const WorkspaceParams = z.object({ workspace_id: WorkspaceId });
export const WorkspaceItemParams = z.object({ workspace_id: WorkspaceId, id: ResourceId });

/** `limit`/`offset` paging, or keyset paging with the opaque `continuation_token` of the previous page. */
export const PageQuery = z.object({
  limit: z.coerce.number().int().min(1).max(100).default(50),
  offset: z.coerce.number().int().min(0).max(100_000).default(0),
  continuation_token: z.string().max(512).optional(),
});

export function listOf<T extends z.ZodType>(item: T, id: string) {
  return z
    .object({
      results: z.array(item),
      total: z.number().int(),
      continuation_token: z
        .string()
        .nullable()
        .meta({ description: "Pass to get the next page; null on the last" }),
    })
    .meta({ id });
}

export const ErrorBodySchema = z
  .object({
    error: z.object({
      code: z.enum(
        Object.keys(ERROR_STATUS) as [keyof typeof ERROR_STATUS, ...(keyof typeof ERROR_STATUS)[]],
      ),
      message: z.string(),
      details: z.unknown(),
    }),
  })
  .meta({ id: "Error" });
