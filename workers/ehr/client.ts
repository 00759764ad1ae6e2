/**
 * `FhirClient`: HTTP to a clinic's FHIR R4 server, authenticated with SMART Backend Services or a static
 * bearer token. Every call has a timeout; every failure is a `FhirError` that says whether trying again
 * can help (network, timeout, 408, 429, 5xx) and carries the server's OperationOutcome diagnostics, but
 * never a URL, a query or a resource body (those can hold PHI).
 *
 * SMART Backend Services (https://hl7.org/fhir/smart-app-launch/backend-services.html): the client signs
 * a short-lived assertion (RS384 or ES384; `iss` = `sub` = client id, `aud` = the token URL, `exp` at
 * most five minutes ahead, a fresh `jti`), trades it at the token endpoint (discovered from
 * `[base]/.well-known/smart-configuration` unless configured) for an access token, and reuses that token
 * until shortly before `expires_in` runs out. Tokens, discoveries and imported keys are cached per
 * isolate, keyed by the source and a hash of its credentials, so a changed key or scope never reuses a
 * token obtained with the old one. A 401 from the FHIR server drops the token and retries once.
 */
import { calculateJwkThumbprint, exportJWK, importJWK, importPKCS8, type JWK, SignJWT } from "jose";
import { sha256Hex } from "../../shared/encoding";
import type { DataSource, FhirBundle, FhirResource, SourceAuth, SourceSecrets } from "./contracts";
import { openSecrets } from "./sources";

export const DEFAULT_TIMEOUT_MS = 15_000;
const FHIR_JSON = "application/fhir+json";
const ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
/** Under the five minutes SMART allows, so a server whose clock runs a minute behind still accepts it. */
const ASSERTION_LIFETIME_SECONDS = 240;
/** A token is replaced this long before it expires (at most half its life), so none expires mid-call. */
const TOKEN_EXPIRY_MARGIN_SECONDS = 60;
/** When the token response omits `expires_in` (it is only RECOMMENDED), assume the SMART default. */
const DEFAULT_TOKEN_SECONDS = 300;
const DISCOVERY_TTL_MS = 60 * 60 * 1000;
const MAX_ISSUES = 5;
const MAX_ISSUE_LENGTH = 300;

type SigningAlgorithm = Extract<SourceAuth, { type: "smart_backend" }>["alg"];
type Fetch = typeof fetch;

/** What went wrong talking to the FHIR server; `status` 0 means it was not reached or did not answer. */
export class FhirError extends Error {
  override readonly name = "FhirError";
  /** Network errors, timeouts, 408, 429 and 5xx: the same request may succeed later. */
  readonly retryable: boolean;
  /** From a 429 or 503 `Retry-After`, when the server gave one in seconds. */
  readonly retryAfterSeconds: number | null;

  constructor(
    message: string,
    readonly status: number,
    /** The server's OperationOutcome diagnostics, truncated: never request or resource data of ours. */
    readonly issues: string[] = [],
    options: { retryable?: boolean; retryAfterSeconds?: number | null; cause?: unknown } = {},
  ) {
    super(message, { cause: options.cause });
    this.retryable = options.retryable ?? (status === 0 || status === 408 || status === 429 || status >= 500);
    this.retryAfterSeconds = options.retryAfterSeconds ?? null;
  }
}

export interface FhirWriteResult {
  status: number;
  resource: FhirResource;
  location: string | null;
  etag: string | null;
}

export interface FhirClientConfig {
  baseUrl: string;
  auth: SourceAuth;
  secrets: SourceSecrets;
}

export interface FhirClientOptions {
  /** Per HTTP call, token requests included. Default 15 s. */
  timeoutMs?: number;
  fetch?: Fetch;
  /** What cached tokens are filed under beside the credentials' hash: `fhirClient` uses the source id. */
  cacheKey?: string;
}

const RESOURCE_TYPE = /^[A-Z][A-Za-z]{1,63}$/;
/** FHIR R4 `id`. */
const RESOURCE_ID = /^[A-Za-z0-9\-.]{1,64}$/;

/** A client for a stored data source, with its secrets opened. */
export async function fhirClient(
  env: Env,
  source: DataSource,
  options: Omit<FhirClientOptions, "cacheKey"> = {},
): Promise<FhirClient> {
  const secrets = await openSecrets(env, source);
  return fhirClientFor(
    { baseUrl: source.baseUrl, auth: source.auth, secrets },
    { ...options, cacheKey: source.id },
  );
}

/** A client for a configuration that is not (or not yet) a stored source. */
export function fhirClientFor(config: FhirClientConfig, options: FhirClientOptions = {}): FhirClient {
  return new FhirClient(config, options);
}

/**
 * Reads, searches and writes throw `FhirError` for every failure, and `RangeError` for a type or id
 * that is not FHIR syntax (a caller's bug, never sent).
 */
export class FhirClient {
  readonly baseUrl: string;
  readonly #origin: string;
  readonly #http: Http;
  readonly #auth: Authenticator;

  constructor(config: FhirClientConfig, options: FhirClientOptions = {}) {
    this.baseUrl = config.baseUrl.replace(/\/+$/, "");
    this.#origin = new URL(this.baseUrl).origin;
    const fetcher = options.fetch ?? ((input, init) => fetch(input, init));
    this.#http = new Http(fetcher, options.timeoutMs ?? DEFAULT_TIMEOUT_MS);
    this.#auth = authenticator(config, this.#http, options.cacheKey ?? this.baseUrl);
  }

  async read(type: string, id: string): Promise<FhirResource> {
    checkType(type);
    if (!RESOURCE_ID.test(id)) throw new RangeError("not a FHIR resource id");
    const label = `read ${type}`;
    const res = await this.#send("GET", this.#url(`${type}/${id}`), label);
    if (!res.ok) throw await errorFrom(res, label);
    return expectResource(await readJson(res, label), res.status, label, type);
  }

  async search(type: string, params: Record<string, string | string[]>): Promise<FhirBundle> {
    checkType(type);
    const query = new URLSearchParams();
    for (const [name, value] of Object.entries(params)) {
      for (const v of Array.isArray(value) ? value : [value]) query.append(name, v);
    }
    const label = `search ${type}`;
    const suffix = query.size > 0 ? `?${query}` : "";
    return this.#bundle(this.#url(`${type}${suffix}`), label);
  }

  /** Follows a Bundle's `next` link; one pointing at another origin is refused (it would get our token). */
  async page(url: string): Promise<FhirBundle> {
    return this.#bundle(this.#url(url), "page");
  }

  /** POST `[base]/[type]`; with `ifNoneExist` (a search query), a server holding a match returns it (200). */
  async create(resource: FhirResource, options: { ifNoneExist?: string } = {}): Promise<FhirWriteResult> {
    checkType(resource.resourceType);
    const headers: Record<string, string> = { Prefer: "return=representation" };
    if (options.ifNoneExist) headers["If-None-Exist"] = options.ifNoneExist.replace(/^\?/, "");
    return this.#write(
      "POST",
      this.#url(resource.resourceType),
      resource,
      headers,
      `create ${resource.resourceType}`,
    );
  }

  /** PUT `[base]/[type]/[id]`; with `ifMatch` (`2`, `"2"` or `W/"2"`), a newer version on the server gets 412. */
  async update(resource: FhirResource, options: { ifMatch?: string } = {}): Promise<FhirWriteResult> {
    checkType(resource.resourceType);
    if (!resource.id || !RESOURCE_ID.test(resource.id))
      throw new RangeError("update needs a FHIR resource id");
    const headers: Record<string, string> = { Prefer: "return=representation" };
    if (options.ifMatch) headers["If-Match"] = weakEtag(options.ifMatch);
    const url = this.#url(`${resource.resourceType}/${resource.id}`);
    return this.#write("PUT", url, resource, headers, `update ${resource.resourceType}`);
  }

  /**
   * Any call relative to the base (`metadata`, `Appointment/$find?...`) or an absolute URL on its
   * origin, authenticated. Answers the response whatever its status; throws a `FhirError` only when
   * the server was not reached or did not answer in time, the URL is on another origin, or no access
   * token could be had.
   */
  async request(
    method: string,
    path: string,
    options: { body?: unknown; headers?: Record<string, string> } = {},
  ): Promise<Response> {
    const headers: Record<string, string> = {};
    let body: string | undefined;
    if (options.body !== undefined) {
      body = typeof options.body === "string" ? options.body : JSON.stringify(options.body);
      headers["Content-Type"] = FHIR_JSON;
    }
    return this.#send(method.toUpperCase(), this.#url(path), "request", body, {
      ...headers,
      ...options.headers,
    });
  }

  /** Resolves `target` against the base and refuses anything on another origin. */
  #url(target: string): URL {
    // `Patient?x` and `/Patient?x` are under the base; `//host/...` and `scheme:...` name their own origin.
    const relative = !/^([a-z][a-z0-9+.-]*:|\/\/)/i.test(target);
    let url: URL;
    try {
      url = new URL(relative ? target.replace(/^\/+/, "") : target, `${this.baseUrl}/`);
    } catch (cause) {
      throw new FhirError("not a URL", 0, [], { retryable: false, cause });
    }
    if (url.origin !== this.#origin) {
      throw new FhirError("refused a URL on another origin than the FHIR server's", 0, [], {
        retryable: false,
      });
    }
    return url;
  }

  async #bundle(url: URL, label: string): Promise<FhirBundle> {
    const res = await this.#send("GET", url, label);
    if (!res.ok) throw await errorFrom(res, label);
    return expectResource(await readJson(res, label), res.status, label, "Bundle") as FhirBundle;
  }

  async #write(
    method: "POST" | "PUT",
    url: URL,
    resource: FhirResource,
    headers: Record<string, string>,
    label: string,
  ): Promise<FhirWriteResult> {
    const res = await this.#send(method, url, label, JSON.stringify(resource), {
      "Content-Type": FHIR_JSON,
      ...headers,
    });
    if (!res.ok) throw await errorFrom(res, label);
    const header = res.headers.get("Location") ?? res.headers.get("Content-Location");
    // As the server gave it (resolved if relative): servers behind a proxy may name an internal host.
    const location = header ? (URL.parse(header, `${this.baseUrl}/`)?.href ?? header) : null;
    const etag = res.headers.get("ETag");
    const text = await readText(res, label);
    let stored: FhirResource;
    if (text.trim()) {
      stored = expectResource(parseJson(text, res.status, label), res.status, label, resource.resourceType);
    } else {
      // A server that ignores `Prefer: return=representation` still says where the resource is; it is
      // read back from this server by its type and id, whatever host the Location names.
      const [, type, id] =
        /\/([A-Z][A-Za-z]+)\/([A-Za-z0-9\-.]{1,64})(?:\/_history\/[^/]+)?\/?$/.exec(
          location ? (URL.parse(location)?.pathname ?? "") : "",
        ) ?? [];
      if (!type || !id) {
        throw new FhirError(
          `FHIR ${label}: the server answered without the resource or its location`,
          res.status,
          [],
          {
            retryable: false,
          },
        );
      }
      stored = await this.read(type, id);
    }
    return { status: res.status, resource: stored, location, etag };
  }

  /** One authenticated call; on a 401 with a refreshable token, a new token and one more try. */
  async #send(
    method: string,
    url: URL,
    label: string,
    body?: string,
    headers: Record<string, string> = {},
  ): Promise<Response> {
    for (let attempt = 1; ; attempt++) {
      const token = await this.#auth.token(label);
      const res = await this.#http.fetch(
        url,
        {
          method,
          body,
          headers: {
            Accept: FHIR_JSON,
            ...(token ? { Authorization: `Bearer ${token}` } : {}),
            ...headers,
          },
        },
        label,
      );
      if (res.status === 401 && token && this.#auth.refreshable && attempt === 1) {
        await res.body?.cancel();
        await this.#auth.invalidate(token);
        continue;
      }
      return res;
    }
  }
}

/** `fetch` with the client's timeout, turning "no answer" into a retryable `FhirError` (status 0). */
class Http {
  constructor(
    readonly fetcher: Fetch,
    readonly timeoutMs: number,
  ) {}

  async fetch(url: URL, init: RequestInit, label: string): Promise<Response> {
    try {
      return await this.fetcher(url.href, {
        ...init,
        redirect: "manual",
        signal: AbortSignal.timeout(this.timeoutMs),
      });
    } catch (cause) {
      throw noAnswer(cause, label, this.timeoutMs);
    }
  }
}

function noAnswer(cause: unknown, label: string, timeoutMs: number): FhirError {
  const timedOut = cause instanceof Error && (cause.name === "TimeoutError" || cause.name === "AbortError");
  return new FhirError(
    timedOut
      ? `FHIR ${label}: no answer within ${timeoutMs} ms`
      : `FHIR ${label}: the server could not be reached`,
    0,
    [],
    { cause },
  );
}

// ---- authentication -----------------------------------------------------------------------------------

interface Authenticator {
  /** Whether a 401 is worth a new token (true only where tokens are issued). */
  readonly refreshable: boolean;
  token(label: string): Promise<string | null>;
  /** Drops `token` from the cache (unless a newer one already replaced it). */
  invalidate(token: string): Promise<void>;
}

function authenticator(config: FhirClientConfig, http: Http, cacheKey: string): Authenticator {
  const { auth, secrets } = config;
  switch (auth.type) {
    case "none":
      return { refreshable: false, token: async () => null, invalidate: async () => {} };
    case "static_bearer":
      return {
        refreshable: false,
        token: async () => {
          if (!secrets.bearer_token) throw misconfigured("static_bearer auth has no bearer_token");
          return secrets.bearer_token;
        },
        invalidate: async () => {},
      };
    case "smart_backend":
      return new SmartBackendAuth(config.baseUrl.replace(/\/+$/, ""), auth, secrets, http, cacheKey);
  }
}

const misconfigured = (message: string) => new FhirError(message, 0, [], { retryable: false });

interface CachedToken {
  accessToken: string;
  /** When to stop using it (its expiry minus the margin), ms since the epoch. */
  renewAt: number;
}

/** Per isolate: `${cacheKey}:${credentials hash}` → token; concurrent callers share one request. */
const tokens = new Map<string, CachedToken>();
const tokenRequests = new Map<string, Promise<CachedToken>>();
/** FHIR base → its token endpoint. */
const discoveries = new Map<string, { tokenUrl: string; until: number }>();
/** Credentials hash → the imported key, so a key is parsed once per isolate. */
const importedKeys = new Map<string, Promise<SigningKey>>();

class SmartBackendAuth implements Authenticator {
  readonly refreshable = true;
  readonly #cacheKey: Promise<string>;

  constructor(
    readonly baseUrl: string,
    readonly auth: Extract<SourceAuth, { type: "smart_backend" }>,
    readonly secrets: SourceSecrets,
    readonly http: Http,
    cacheKey: string,
  ) {
    const { client_id, token_url, scope, alg, kid } = auth;
    this.#cacheKey = sha256Hex(
      JSON.stringify([
        baseUrl,
        client_id,
        token_url ?? null,
        scope,
        alg,
        kid ?? null,
        secrets.private_key ?? null,
      ]),
    ).then((hash) => `${cacheKey}:${hash}`);
  }

  async token(label: string): Promise<string> {
    const key = await this.#cacheKey;
    const cached = tokens.get(key);
    if (cached && cached.renewAt > Date.now()) return cached.accessToken;
    let pending = tokenRequests.get(key);
    if (!pending) {
      pending = this.#requestToken(label).finally(() => tokenRequests.delete(key));
      tokenRequests.set(key, pending);
    }
    const issued = await pending;
    const now = Date.now();
    for (const [k, t] of tokens) if (t.renewAt <= now) tokens.delete(k);
    tokens.set(key, issued);
    return issued.accessToken;
  }

  async invalidate(token: string): Promise<void> {
    const key = await this.#cacheKey;
    if (tokens.get(key)?.accessToken === token) tokens.delete(key);
  }

  async #requestToken(label: string): Promise<CachedToken> {
    if (!this.secrets.private_key) throw misconfigured("smart_backend auth has no private_key");
    const key = await this.#key();
    const tokenUrl = await this.#tokenUrl(label);
    const assertion = await signClientAssertion(this.auth, key, tokenUrl);
    const form = new URLSearchParams({
      grant_type: "client_credentials",
      scope: this.auth.scope,
      client_assertion_type: ASSERTION_TYPE,
      client_assertion: assertion,
    });
    const res = await this.http.fetch(
      new URL(tokenUrl),
      {
        method: "POST",
        body: form.toString(),
        headers: { "Content-Type": "application/x-www-form-urlencoded", Accept: "application/json" },
      },
      "token request",
    );
    const text = await readText(res, "token request");
    let body: Record<string, unknown> = {};
    try {
      const parsed: unknown = JSON.parse(text);
      if (parsed && typeof parsed === "object") body = parsed as Record<string, unknown>;
    } catch {
      // handled below: no access_token
    }
    if (!res.ok) {
      // RFC 6749 §5.2: `error` and `error_description` say why (invalid_client, invalid_scope, ...).
      const reason = [body.error, body.error_description].filter((v) => typeof v === "string").join(": ");
      throw new FhirError(
        `FHIR token request: HTTP ${res.status}`,
        res.status,
        reason ? [truncate(reason)] : [],
        {
          retryAfterSeconds: retryAfter(res),
        },
      );
    }
    const accessToken = body.access_token;
    const tokenType = body.token_type;
    if (typeof accessToken !== "string" || !accessToken) {
      throw new FhirError("FHIR token request: the answer has no access_token", res.status, [], {
        retryable: false,
      });
    }
    if (typeof tokenType === "string" && tokenType.toLowerCase() !== "bearer") {
      throw new FhirError("FHIR token request: the token is not a bearer token", res.status, [], {
        retryable: false,
      });
    }
    const lifetime =
      typeof body.expires_in === "number" && body.expires_in > 0 ? body.expires_in : DEFAULT_TOKEN_SECONDS;
    const margin = Math.min(TOKEN_EXPIRY_MARGIN_SECONDS, lifetime / 2);
    return { accessToken, renewAt: Date.now() + (lifetime - margin) * 1000 };
  }

  #key(): Promise<SigningKey> {
    return this.#cacheKey.then((cacheKey) => {
      const hash = cacheKey.slice(cacheKey.lastIndexOf(":") + 1);
      let imported = importedKeys.get(hash);
      if (!imported) {
        imported = importPrivateKey(this.secrets.private_key!, this.auth.alg, this.auth.kid);
        imported.catch(() => importedKeys.delete(hash));
        importedKeys.set(hash, imported);
      }
      return imported.catch((cause) => {
        throw new FhirError(`smart_backend private_key: ${(cause as Error).message}`, 0, [], {
          retryable: false,
        });
      });
    });
  }

  /** The configured token URL, or the one `[base]/.well-known/smart-configuration` names. */
  async #tokenUrl(label: string): Promise<string> {
    if (this.auth.token_url) return this.auth.token_url;
    const known = discoveries.get(this.baseUrl);
    if (known && known.until > Date.now()) return known.tokenUrl;
    const what = "SMART discovery";
    const res = await this.http.fetch(
      new URL(`${this.baseUrl}/.well-known/smart-configuration`),
      { method: "GET", headers: { Accept: "application/json" } },
      what,
    );
    if (!res.ok) {
      await res.body?.cancel();
      throw new FhirError(
        `FHIR ${label}: ${what} answered HTTP ${res.status}; configure auth.token_url`,
        res.status,
        [],
        { retryAfterSeconds: retryAfter(res) },
      );
    }
    const config = await readJson(res, what);
    const endpoint = (config as { token_endpoint?: unknown }).token_endpoint;
    if (typeof endpoint !== "string" || !isAcceptableTokenUrl(endpoint, this.baseUrl)) {
      throw new FhirError(`FHIR ${label}: ${what} names no usable token_endpoint`, res.status, [], {
        retryable: false,
      });
    }
    discoveries.set(this.baseUrl, { tokenUrl: endpoint, until: Date.now() + DISCOVERY_TTL_MS });
    return endpoint;
  }
}

/** https, or plain http only where the FHIR server itself is plain http on the same host (a local sandbox). */
function isAcceptableTokenUrl(candidate: string, baseUrl: string): boolean {
  let url: URL;
  try {
    url = new URL(candidate);
  } catch {
    return false;
  }
  if (url.username || url.password) return false;
  if (url.protocol === "https:") return true;
  const base = new URL(baseUrl);
  return url.protocol === "http:" && base.protocol === "http:" && url.hostname === base.hostname;
}

export interface SigningKey {
  key: CryptoKey;
  /** What the assertion's `kid` header says: configured, else the JWK's own, else its RFC 7638 thumbprint. */
  kid: string;
}

/**
 * Imports a PKCS#8 PEM or a private JWK (JSON text) for `alg` and proves it signs; the thrown messages
 * name what is wrong, never the key. Used when a source is saved (a bad key is a 400) and before a token
 * request.
 */
export async function importPrivateKey(
  privateKey: string,
  alg: SigningAlgorithm,
  kid?: string,
): Promise<SigningKey> {
  const text = privateKey.trim();
  let key: CryptoKey;
  let publicJwk: JWK;
  if (text.startsWith("{")) {
    let jwk: JWK;
    try {
      jwk = JSON.parse(text) as JWK;
    } catch {
      throw new Error("is neither a PEM nor JSON");
    }
    if (!jwk || typeof jwk !== "object" || typeof jwk.d !== "string") throw new Error("is not a private JWK");
    if (jwk.alg !== undefined && jwk.alg !== alg)
      throw new Error(`is a JWK for ${String(jwk.alg)}, not ${alg}`);
    key = await importOrExplain(() => importJWK(jwk, alg) as Promise<CryptoKey>, alg);
    publicJwk = jwk;
    kid ??= jwk.kid;
  } else if (text.startsWith("-----BEGIN PRIVATE KEY-----")) {
    key = await importOrExplain(() => importPKCS8(text, alg, { extractable: true }), alg);
    publicJwk = await exportJWK(key);
  } else if (/^-----BEGIN (RSA|EC) PRIVATE KEY-----/.test(text)) {
    throw new Error("is PKCS#1/SEC1: convert it to PKCS#8 (BEGIN PRIVATE KEY)");
  } else {
    throw new Error("is neither a PKCS#8 PEM nor a private JWK");
  }
  try {
    await new SignJWT({}).setProtectedHeader({ alg }).sign(key);
  } catch {
    throw new Error(`cannot sign ${alg}`);
  }
  kid ??= await calculateJwkThumbprint(publicJwk, "sha256");
  return { key, kid };
}

async function importOrExplain(load: () => Promise<CryptoKey>, alg: SigningAlgorithm): Promise<CryptoKey> {
  try {
    return await load();
  } catch {
    throw new Error(`is not a valid ${alg === "RS384" ? "RSA" : "P-384 EC"} private key for ${alg}`);
  }
}

/** The `private_key_jwt` client assertion SMART Backend Services specifies. */
export function signClientAssertion(
  auth: Extract<SourceAuth, { type: "smart_backend" }>,
  signingKey: SigningKey,
  tokenUrl: string,
): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT({})
    .setProtectedHeader({ alg: auth.alg, kid: signingKey.kid, typ: "JWT" })
    .setIssuer(auth.client_id)
    .setSubject(auth.client_id)
    .setAudience(tokenUrl)
    .setExpirationTime(now + ASSERTION_LIFETIME_SECONDS)
    .setJti(crypto.randomUUID())
    .sign(signingKey.key);
}

// ---- answers --------------------------------------------------------------------------------------------

function checkType(type: string): void {
  if (!RESOURCE_TYPE.test(type)) throw new RangeError("not a FHIR resource type");
}

async function readText(res: Response, label: string): Promise<string> {
  try {
    return await res.text();
  } catch (cause) {
    throw new FhirError(`FHIR ${label}: the answer was cut off`, 0, [], { cause });
  }
}

function parseJson(text: string, status: number, label: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    // A proxy's HTML error page or a truncated answer: worth another try later.
    throw new FhirError(`FHIR ${label}: the answer is not JSON`, status, [], { retryable: true });
  }
}

async function readJson(res: Response, label: string): Promise<unknown> {
  return parseJson(await readText(res, label), res.status, label);
}

function expectResource(value: unknown, status: number, label: string, type: string): FhirResource {
  const resource = value as FhirResource | null;
  if (!resource || typeof resource !== "object" || resource.resourceType !== type) {
    throw new FhirError(`FHIR ${label}: the answer is not a ${type}`, status, [], { retryable: false });
  }
  return resource;
}

/** The `FhirError` for a non-2xx answer, with its OperationOutcome's diagnostics. */
async function errorFrom(res: Response, label: string): Promise<FhirError> {
  let issues: string[] = [];
  try {
    const body = JSON.parse(await res.text()) as {
      resourceType?: string;
      issue?: { code?: string; diagnostics?: string; details?: { text?: string } }[];
    };
    if (body.resourceType === "OperationOutcome" && Array.isArray(body.issue)) {
      issues = body.issue
        .map((issue) => issue.diagnostics ?? issue.details?.text ?? issue.code)
        .filter((text): text is string => typeof text === "string" && text.length > 0)
        .slice(0, MAX_ISSUES)
        .map(truncate);
    }
  } catch {
    // Not an OperationOutcome: the status says enough.
  }
  return new FhirError(`FHIR ${label}: HTTP ${res.status}`, res.status, issues, {
    retryAfterSeconds: retryAfter(res),
  });
}

function retryAfter(res: Response): number | null {
  const value = res.headers.get("Retry-After");
  return value && /^\d+$/.test(value) ? Number(value) : null;
}

const truncate = (text: string) =>
  text.length > MAX_ISSUE_LENGTH ? `${text.slice(0, MAX_ISSUE_LENGTH - 1)}…` : text;

/** `If-Match` takes a weak ETag: `2`, `"2"` and `W/"2"` all mean version 2. */
function weakEtag(version: string): string {
  if (/^W\/".*"$/.test(version)) return version;
  return `W/"${version.replace(/^"|"$/g, "")}"`;
}
