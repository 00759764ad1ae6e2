/**
 * Request bodies are JSON and at most 1 MiB. Requiring `application/json` on writes also means a plain
 * HTML form on another site cannot post to the API.
 */
import { bodyLimit } from "hono/body-limit";
import { createMiddleware } from "hono/factory";
import type { AppEnv } from "../env";
import { ApiError } from "../errors";

export const MAX_BODY_BYTES = 1024 * 1024;

export const limitBody = bodyLimit({
  maxSize: MAX_BODY_BYTES,
  onError: () => {
    throw new ApiError("payload_too_large", `The request body is larger than ${MAX_BODY_BYTES} bytes`, {
      max_bytes: MAX_BODY_BYTES,
    });
  },
});

export const requireJsonBody = createMiddleware<AppEnv>(async (c, next) => {
  const hasBody =
    c.req.header("Content-Length") !== undefined || c.req.header("Transfer-Encoding") !== undefined;
  const lengthZero = c.req.header("Content-Length") === "0";
  if (["POST", "PUT", "PATCH"].includes(c.req.method) && hasBody && !lengthZero) {
    const type = c.req.header("Content-Type") ?? "";
    // FHIR's own JSON type is JSON too (a FHIR Bundle import); like application/json, no form can send it.
    if (!/^application\/(fhir\+)?json\s*(;|$)/i.test(type)) {
      throw new ApiError("unsupported_media_type", "Send the body as application/json", {
        content_type: type || null,
      });
    }
  }
  await next();
});
