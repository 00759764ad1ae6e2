/**
 * The EHR's failures as the API's errors, for the calls a request waits on (scheduling, the patient a
 * booking needs): a `FhirError` becomes a 502 `upstream_error` carrying the status and the server's
 * diagnostics only (no PHI in either). The writeback queue handles its own failures (writeback.ts).
 */
import { ApiError } from "../errors";
import { type FhirClient, type FhirClientOptions, FhirError, fhirClient } from "./client";
import type { DataSource, FhirResource } from "./contracts";

/** A `FhirError` as the API's 502; anything else unchanged. */
export function upstream(err: unknown): unknown {
  if (!(err instanceof FhirError)) return err;
  const message =
    err.status === 0
      ? "The EHR did not answer"
      : err.status === 401 || err.status === 403
        ? `The EHR refused Switchboard's credentials (HTTP ${err.status})`
        : `The EHR answered HTTP ${err.status}`;
  return new ApiError("upstream_error", message, {
    status: err.status,
    retryable: err.retryable,
    issues: err.issues,
  });
}

/** Runs a FHIR call, turning its failure into the API's `upstream_error`. */
export async function fhir<T>(call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (err) {
    throw upstream(err);
  }
}

/** A client for `source` (opening its secrets can fail like the EHR: a token endpoint that refuses). */
export function connect(
  env: Env,
  source: DataSource,
  options: Omit<FhirClientOptions, "cacheKey"> = {},
): Promise<FhirClient> {
  return fhir(() => fhirClient(env, source, options));
}

/** `type/id` as the EHR holds it; null when it has none (404, 410), an `upstream_error` on other failures. */
export async function readIfExists(
  client: FhirClient,
  type: string,
  id: string,
): Promise<FhirResource | null> {
  try {
    return await client.read(type, id);
  } catch (err) {
    if (err instanceof FhirError && (err.status === 404 || err.status === 410)) return null;
    throw upstream(err);
  }
}
