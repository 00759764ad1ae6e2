/**
 * Who may call the sandbox: a static bearer token (full access, for `npm start` and quick curls) and
 * SMART Backend Services, as a real EHR does it. A registered client posts `grant_type=client_credentials`
 * with a `private_key_jwt` client assertion; the sandbox checks its RS384/ES384 signature against the
 * client's JWKS, `iss` = `sub` = client id, `aud` = the token endpoint, `exp` at most five minutes ahead
 * and a `jti` it has not seen, then issues an opaque access token limited to the granted `system/` scopes.
 */
import { randomBytes } from "node:crypto";
import {
  createLocalJWKSet,
  createRemoteJWKSet,
  decodeJwt,
  type JSONWebKeySet,
  type JWTVerifyGetKey,
  jwtVerify,
} from "jose";

/** The static token `npm start` and the docs use; a local development value, never a secret. */
export const SANDBOX_STATIC_TOKEN = "switchboard-ehr-sandbox";
export const ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
export const SIGNING_ALGORITHMS = ["RS384", "ES384"];
const MAX_ASSERTION_LIFETIME_SECONDS = 300;

export interface SmartClient {
  clientId: string;
  /** The client's public keys, as it would publish them. Give this or `jwksUrl`. */
  jwks?: JSONWebKeySet;
  /** Where the client publishes its JWKS. */
  jwksUrl?: string;
  /** The most this client may be granted, space-separated. Default `system/*.*`. */
  scope?: string;
}

/** SMART permissions: create, read, update, delete, search (v1 `read` = rs, `write` = cud, `*` = all). */
export type Permission = "c" | "r" | "u" | "d" | "s";
const ALL: Permission[] = ["c", "r", "u", "d", "s"];

interface Scope {
  text: string;
  resourceType: string;
  permissions: Set<Permission>;
}

/** What a request's bearer token allows. */
export class Grant {
  readonly #scopes: Scope[];
  constructor(
    readonly clientId: string | null,
    scopes: Scope[],
  ) {
    this.#scopes = scopes;
  }

  /** Whether `permission` is granted on `resourceType` (`*` asks for every type). */
  allows(resourceType: string, permission: Permission): boolean {
    return this.#scopes.some(
      (s) => (s.resourceType === "*" || s.resourceType === resourceType) && s.permissions.has(permission),
    );
  }

  allowsEverything(): boolean {
    return ALL.every((p) => this.allows("*", p));
  }
}

function parseScope(text: string): Scope | undefined {
  const match = /^system\/([A-Za-z]+|\*)\.(read|write|\*|c?r?u?d?s?)$/.exec(text);
  if (!match || match[2] === "") return undefined;
  const [, resourceType, access] = match as unknown as [string, string, string];
  const permissions =
    access === "read" ? "rs" : access === "write" ? "cud" : access === "*" ? ALL.join("") : access;
  return { text, resourceType, permissions: new Set([...permissions] as Permission[]) };
}

const parseScopes = (text: string) => text.split(/\s+/).flatMap((t) => parseScope(t) ?? []);

export type TokenResponse = { status: number; body: Record<string, unknown> };

const oauthError = (status: number, error: string, description: string): TokenResponse => ({
  status,
  body: { error, error_description: description },
});

export class SmartAuth {
  readonly #staticToken: string | null;
  readonly #accessTokenSeconds: number;
  readonly #clients = new Map<string, { keys: JWTVerifyGetKey; scopes: Scope[] }>();
  readonly #tokens = new Map<string, { grant: Grant; expiresAt: number }>();
  /** `clientId jti` → when the assertion expires; a jti is refused until then. */
  readonly #seenAssertions = new Map<string, number>();

  constructor(options: { staticToken: string | null; accessTokenSeconds: number; clients: SmartClient[] }) {
    this.#staticToken = options.staticToken;
    this.#accessTokenSeconds = options.accessTokenSeconds;
    for (const client of options.clients) this.registerClient(client);
  }

  registerClient(client: SmartClient): void {
    if (!client.jwks === !client.jwksUrl)
      throw new Error(`Client ${client.clientId}: give exactly one of jwks, jwksUrl`);
    const keys = client.jwks ? createLocalJWKSet(client.jwks) : createRemoteJWKSet(new URL(client.jwksUrl!));
    this.#clients.set(client.clientId, { keys, scopes: parseScopes(client.scope ?? "system/*.*") });
  }

  /** The grant for an `Authorization` header, or undefined when it carries no valid token. */
  authenticate(authorization: string | undefined): Grant | undefined {
    const token = /^Bearer\s+(\S+)$/i.exec(authorization ?? "")?.[1];
    if (!token) return undefined;
    if (this.#staticToken !== null && token === this.#staticToken)
      return new Grant(null, parseScopes("system/*.*"));
    const issued = this.#tokens.get(token);
    if (!issued) return undefined;
    if (issued.expiresAt <= Date.now()) {
      this.#tokens.delete(token);
      return undefined;
    }
    return issued.grant;
  }

  /**
   * The token endpoint. `audiences` are the URLs this endpoint answers at; an assertion must name one.
   */
  async token(form: URLSearchParams, audiences: string[]): Promise<TokenResponse> {
    if (form.get("grant_type") !== "client_credentials")
      return oauthError(400, "unsupported_grant_type", "grant_type must be client_credentials");
    if (form.get("client_assertion_type") !== ASSERTION_TYPE)
      return oauthError(400, "invalid_request", `client_assertion_type must be ${ASSERTION_TYPE}`);
    const assertion = form.get("client_assertion");
    if (!assertion) return oauthError(400, "invalid_request", "client_assertion is required");
    const requested = form.get("scope");
    if (!requested) return oauthError(400, "invalid_request", "scope is required");

    let clientId: string | undefined;
    try {
      clientId = decodeJwt(assertion).iss;
    } catch {
      return oauthError(401, "invalid_client", "client_assertion is not a JWT");
    }
    const client = clientId ? this.#clients.get(clientId) : undefined;
    if (!clientId || !client)
      return oauthError(401, "invalid_client", "Unknown client (the assertion's iss)");

    let claims: { exp?: number; jti?: string };
    try {
      ({ payload: claims } = await jwtVerify(assertion, client.keys, {
        algorithms: SIGNING_ALGORITHMS,
        issuer: clientId,
        subject: clientId,
        audience: audiences,
        requiredClaims: ["exp", "jti"],
      }));
    } catch (err) {
      return oauthError(401, "invalid_client", `client_assertion rejected: ${(err as Error).message}`);
    }
    const now = Date.now();
    const expiresAt = claims.exp! * 1000;
    if (expiresAt - now > MAX_ASSERTION_LIFETIME_SECONDS * 1000)
      return oauthError(401, "invalid_client", "client_assertion exp is more than five minutes ahead");
    for (const [key, until] of this.#seenAssertions) if (until <= now) this.#seenAssertions.delete(key);
    const replayKey = `${clientId} ${claims.jti}`;
    if (this.#seenAssertions.has(replayKey))
      return oauthError(401, "invalid_client", "client_assertion jti was already used");
    this.#seenAssertions.set(replayKey, expiresAt);

    const granted = parseScopes(requested).filter((wanted) =>
      [...wanted.permissions].every((p) =>
        client.scopes.some(
          (s) => (s.resourceType === "*" || s.resourceType === wanted.resourceType) && s.permissions.has(p),
        ),
      ),
    );
    if (granted.length === 0)
      return oauthError(400, "invalid_scope", "None of the requested system/ scopes can be granted");

    for (const [key, issued] of this.#tokens) if (issued.expiresAt <= now) this.#tokens.delete(key);
    const accessToken = randomBytes(32).toString("base64url");
    this.#tokens.set(accessToken, {
      grant: new Grant(clientId, granted),
      expiresAt: now + this.#accessTokenSeconds * 1000,
    });
    return {
      status: 200,
      body: {
        access_token: accessToken,
        token_type: "bearer",
        expires_in: this.#accessTokenSeconds,
        scope: granted.map((s) => s.text).join(" "),
      },
    };
  }
}

/** `/.well-known/smart-configuration`: what a Backend Services client discovers before asking for a token. */
export function smartConfiguration(tokenUrl: string): Record<string, unknown> {
  return {
    token_endpoint: tokenUrl,
    grant_types_supported: ["client_credentials"],
    token_endpoint_auth_methods_supported: ["private_key_jwt"],
    token_endpoint_auth_signing_alg_values_supported: SIGNING_ALGORITHMS,
    scopes_supported: ["system/*.read", "system/*.write", "system/*.rs", "system/*.cruds", "system/*.*"],
    capabilities: ["client-confidential-asymmetric", "permission-v1", "permission-v2"],
  };
}
