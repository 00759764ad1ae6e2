/**
 * A local FHIR R4 server standing in for a clinic's EHR, so `npm start` and the tests make real FHIR
 * round trips with nothing outside the machine. Medplum's `FhirRouter` parses the REST API over a
 * `SandboxRepository` (their in-memory store plus validation, versioning, paging and booking); this
 * module adds the HTTP server, authentication and Subscription delivery.
 *
 *   GET  /healthz                                   liveness, no token
 *   GET  /.well-known/smart-configuration           also under the FHIR base; no token
 *   POST /auth/token                                SMART Backend Services token endpoint
 *   GET  /fhir/R4/metadata                          CapabilityStatement, no token
 *   *    /fhir/R4/...                               the FHIR REST API, bearer token required
 *   POST /_sandbox/faults                           only with `faults: true`: see `FaultRule`
 *   GET  /_sandbox/faults/{token}                   only with `faults: true`: a fault token's counters
 */
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import {
  contentTooLarge,
  forbidden,
  getStatus,
  globalSchema,
  notFound,
  OperationOutcomeError,
  unauthorized,
  unsupportedMediaType,
} from "@medplum/core";
import { type FhirRequest, FhirRouter, type HttpMethod, type RestInteraction } from "@medplum/fhir-router";
import type { CapabilityStatement, OperationOutcome, OperationOutcomeIssue } from "@medplum/fhirtypes";
import {
  type Permission,
  SANDBOX_STATIC_TOKEN,
  SmartAuth,
  type SmartClient,
  smartConfiguration,
} from "./auth";
import { isSupportedType, loadDefinitions, SUPPORTED_TYPES } from "./definitions";
import { SandboxRepository } from "./repository";
import { buildSeed, type SeedOptions } from "./seed";
import { SubscriptionNotifier, type SubscriptionNotifierOptions } from "./subscriptions";

export { SANDBOX_STATIC_TOKEN, type SmartClient } from "./auth";
export type { SeedOptions } from "./seed";

export const DEFAULT_EHR_SANDBOX_PORT = 8103;
const FHIR_PATH = "/fhir/R4";
const TOKEN_PATH = "/auth/token";
const MAX_BODY_BYTES = 16 * 1024 * 1024;
const FHIR_JSON = "application/fhir+json; charset=utf-8";

export interface EhrSandboxOptions {
  /** Port on `host`; 0 picks a free one. Default 8103. */
  port?: number;
  /** Default 127.0.0.1: the sandbox is for this machine only. */
  host?: string;
  /** The demo clinic (true, the default), the demo clinic with other options, or false for an empty EHR. */
  seed?: boolean | SeedOptions;
  /** Always accepted, with full access; null turns it off. Default `SANDBOX_STATIC_TOKEN`. */
  staticToken?: string | null;
  /** SMART Backend Services clients; more can be added with `registerClient`. */
  clients?: SmartClient[];
  /** Lifetime of issued access tokens. Default 300. */
  accessTokenSeconds?: number;
  subscriptions?: SubscriptionNotifierOptions;
  /**
   * Enables `/_sandbox/faults`, for tests of how clients cope with a failing EHR. Off by default: a
   * sandbox started by `npm start` never fails on purpose.
   */
  faults?: boolean;
}

/**
 * A failure to inject, set with `POST /_sandbox/faults` (static token required). The `token` becomes a
 * bearer token with the static token's access, and only requests carrying it are affected, so tests
 * sharing one sandbox never see each other's faults: the next `count` FHIR requests with that token
 * (whose path below the FHIR base starts with `path_prefix`, when given) get `status` with an
 * OperationOutcome, or, for `"timeout"`, no answer at all until the client gives up. Posting again for
 * a token replaces its rule; `count: 0` clears it. Every request with the token is counted.
 */
export interface FaultRule {
  token: string;
  status: 400 | 409 | 422 | 408 | 429 | 500 | 502 | 503 | 504 | "timeout";
  count: number;
  path_prefix?: string;
}

interface FaultState {
  rule: FaultRule | null;
  remaining: number;
  /** FHIR requests that carried the token, and how many of them were failed on purpose. */
  requests: number;
  faulted: number;
}

const FAULT_STATUSES = new Set<FaultRule["status"]>([400, 409, 422, 408, 429, 500, 502, 503, 504, "timeout"]);
/** A held ("timeout") request is closed after this long if its client never gives up. */
const HELD_REQUEST_MS = 60_000;

export interface EhrSandbox {
  /** `http://127.0.0.1:8103` */
  url: string;
  /** `http://127.0.0.1:8103/fhir/R4`: what a FHIR client is configured with. */
  fhirBaseUrl: string;
  /** `http://127.0.0.1:8103/auth/token`: the `aud` of client assertions. */
  tokenUrl: string;
  staticToken: string | null;
  /** How many resources of each type were seeded. */
  seeded: Record<string, number>;
  /** From the call to listening, including definitions and seed. */
  startupMs: number;
  registerClient(client: SmartClient): void;
  stop(): Promise<void>;
}

/** Interactions a token's scopes must allow, by the router's interaction. Absent ones are refused. */
const REQUIRED_PERMISSION: Partial<Record<RestInteraction, Permission>> = {
  read: "r",
  vread: "r",
  "history-instance": "r",
  "search-type": "s",
  create: "c",
  update: "u",
  patch: "u",
  delete: "d",
};

/** Starts the sandbox and resolves once it listens with its seed loaded. */
export async function startEhrSandbox(options: EhrSandboxOptions = {}): Promise<EhrSandbox> {
  const started = performance.now();
  loadDefinitions();
  const repo = new SandboxRepository();
  const seed = options.seed ?? true;
  const resources = seed === false ? [] : buildSeed(seed === true ? {} : seed);
  await repo.seed(resources);
  const seeded: Record<string, number> = {};
  for (const r of resources) seeded[r.resourceType] = (seeded[r.resourceType] ?? 0) + 1;

  const router = new FhirRouter();
  const staticToken = options.staticToken === undefined ? SANDBOX_STATIC_TOKEN : options.staticToken;
  const auth = new SmartAuth({
    staticToken,
    accessTokenSeconds: options.accessTokenSeconds ?? 300,
    clients: options.clients ?? [],
  });
  const notifier = new SubscriptionNotifier(repo, options.subscriptions);
  const faults = new Map<string, FaultState>();

  let urls = { url: "", fhirBaseUrl: "", tokenUrl: "" };
  const server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      if (err instanceof OperationOutcomeError && !res.headersSent)
        return send(res, getStatus(err.outcome), err.outcome);
      console.error("ehr-sandbox: request failed", req.method, req.url, err);
      if (!res.headersSent) send(res, 500, outcome("exception", "Internal error in the EHR sandbox"));
      else res.destroy();
    });
  });

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? "/", urls.url);
    const path = url.pathname.replace(/\/+$/, "") || "/";
    if (req.method === "GET" && path === "/healthz")
      return send(res, 200, { status: "ok" }, "application/json");
    if (
      req.method === "GET" &&
      (path === "/.well-known/smart-configuration" || path === `${FHIR_PATH}/.well-known/smart-configuration`)
    )
      return send(res, 200, smartConfiguration(urls.tokenUrl), "application/json");
    if (path === TOKEN_PATH) return tokenEndpoint(req, res);
    if (options.faults && (path === "/_sandbox/faults" || path.startsWith("/_sandbox/faults/")))
      return faultsEndpoint(req, res, path);
    if (path === FHIR_PATH || path.startsWith(`${FHIR_PATH}/`)) return fhir(req, res, url);
    send(res, 404, notFound);
  }

  async function tokenEndpoint(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const json = "application/json";
    res.setHeader("Cache-Control", "no-store");
    if (req.method !== "POST")
      return send(res, 405, { error: "invalid_request", error_description: "POST only" }, json);
    if (!req.headers["content-type"]?.startsWith("application/x-www-form-urlencoded"))
      return send(
        res,
        400,
        { error: "invalid_request", error_description: "Send a form-encoded body" },
        json,
      );
    const form = new URLSearchParams((await readBody(req)).toString("utf8"));
    // An assertion may name the endpoint by any host this request could have used to reach it.
    const reached = `http://${req.headers.host ?? ""}${TOKEN_PATH}`;
    const { status, body } = await auth.token(form, [...new Set([urls.tokenUrl, reached])]);
    send(res, status, body, json);
  }

  async function faultsEndpoint(req: IncomingMessage, res: ServerResponse, path: string): Promise<void> {
    const json = "application/json";
    const bearer = /^Bearer\s+(\S+)$/i.exec(req.headers.authorization ?? "")?.[1];
    if (staticToken === null || bearer !== staticToken)
      return send(res, 401, { error: "the static token is required" }, json);
    const view = (token: string, state: FaultState) => ({
      token,
      status: state.rule?.status ?? null,
      path_prefix: state.rule?.path_prefix ?? null,
      remaining: state.remaining,
      requests: state.requests,
      faulted: state.faulted,
    });
    if (req.method === "GET" && path.startsWith("/_sandbox/faults/")) {
      const token = decodeURIComponent(path.slice("/_sandbox/faults/".length));
      const state = faults.get(token);
      return state
        ? send(res, 200, view(token, state), json)
        : send(res, 404, { error: "no such token" }, json);
    }
    if (req.method !== "POST" || path !== "/_sandbox/faults")
      return send(res, 405, { error: "POST /_sandbox/faults or GET /_sandbox/faults/{token}" }, json);
    let rule: FaultRule;
    try {
      rule = JSON.parse((await readBody(req)).toString("utf8")) as FaultRule;
    } catch {
      return send(res, 400, { error: "the body is not JSON" }, json);
    }
    const valid =
      typeof rule?.token === "string" &&
      /^[A-Za-z0-9._~-]{16,200}$/.test(rule.token) &&
      rule.token !== staticToken &&
      FAULT_STATUSES.has(rule.status) &&
      Number.isInteger(rule.count) &&
      rule.count >= 0 &&
      rule.count <= 10_000 &&
      (rule.path_prefix === undefined ||
        (typeof rule.path_prefix === "string" && rule.path_prefix.startsWith("/")));
    if (!valid)
      return send(
        res,
        400,
        {
          error:
            'expected { token: 16-200 URL-safe characters (not the static token), status: 400|409|422|408|429|500|502|503|504|"timeout", count: 0-10000, path_prefix?: "/Type..." }',
        },
        json,
      );
    const state = faults.get(rule.token) ?? { rule: null, remaining: 0, requests: 0, faulted: 0 };
    state.rule = rule.count > 0 ? rule : null;
    state.remaining = rule.count;
    faults.set(rule.token, state);
    send(res, 200, view(rule.token, state), json);
  }

  /** Fails the request on purpose when its token has a fault left for this path; true when it did. */
  async function injectFault(req: IncomingMessage, res: ServerResponse, relative: string): Promise<boolean> {
    const token = /^Bearer\s+(\S+)$/i.exec(req.headers.authorization ?? "")?.[1];
    const state = token ? faults.get(token) : undefined;
    if (!state) return false;
    state.requests++;
    const rule = state.rule;
    if (!rule || state.remaining <= 0 || (rule.path_prefix && !relative.startsWith(rule.path_prefix)))
      return false;
    state.remaining--;
    state.faulted++;
    await readBody(req);
    if (rule.status === "timeout") {
      // No answer: the client's own timeout is what ends this request.
      const timer = setTimeout(() => res.destroy(), HELD_REQUEST_MS);
      res.on("close", () => clearTimeout(timer));
      return true;
    }
    // 4xx other than 408/429 are refusals (the request as sent cannot succeed), the rest transient.
    const code = rule.status < 500 && rule.status !== 408 && rule.status !== 429 ? "processing" : "transient";
    send(res, rule.status, outcome(code, `Fault injected by the sandbox (${rule.status})`));
    return true;
  }

  async function fhir(req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
    const relative = url.pathname.slice(FHIR_PATH.length).replace(/\/+$/, "") + url.search;
    const method = (req.method ?? "GET") as HttpMethod;
    if (method === "GET" && relative.split("?")[0] === "/metadata")
      return send(res, 200, capabilityStatement(urls.fhirBaseUrl, urls.tokenUrl));

    if (await injectFault(req, res, relative)) return;
    // A fault token stands for the static token (it exists only while faults are enabled).
    const faultToken = /^Bearer\s+(\S+)$/i.exec(req.headers.authorization ?? "")?.[1];
    const grant = auth.authenticate(
      faultToken && faults.has(faultToken) ? `Bearer ${staticToken}` : req.headers.authorization,
    );
    if (!grant) {
      res.setHeader("WWW-Authenticate", `Bearer realm="ehr-sandbox", token_endpoint="${urls.tokenUrl}"`);
      return send(res, 401, unauthorized);
    }
    const route = router.find(method, relative);
    const interaction = route?.data?.interaction;
    const resourceType = route?.params.resourceType;
    if (!route || !interaction || interaction === "operation" || interaction === "search-system")
      return send(
        res,
        404,
        outcome("not-supported", `${method} ${url.pathname} is not supported by the sandbox`),
      );
    if (resourceType && !isSupportedType(resourceType))
      return send(
        res,
        404,
        outcome("not-supported", `Resource type ${resourceType} is not supported by the sandbox`),
      );
    const permission = REQUIRED_PERMISSION[interaction];
    const allowed =
      interaction === "batch"
        ? grant.allowsEverything()
        : permission !== undefined && grant.allows(resourceType ?? "*", permission);
    if (!allowed) return send(res, 403, forbidden);

    let body: unknown;
    if (method === "POST" || method === "PUT" || method === "PATCH") {
      const type = req.headers["content-type"] ?? "";
      const raw = (await readBody(req)).toString("utf8");
      if (type.startsWith("application/x-www-form-urlencoded") && interaction === "search-type") {
        body = Object.fromEntries(new URLSearchParams(raw));
      } else if (/^application\/([a-z+-]*\+)?json/.test(type)) {
        try {
          body = JSON.parse(raw);
        } catch {
          return send(res, 400, outcome("structure", "The body is not valid JSON"));
        }
      } else {
        return send(res, 415, unsupportedMediaType);
      }
    }

    const ifMatch = req.headers["if-match"];
    const request: FhirRequest = {
      method,
      url: relative,
      pathname: "",
      body,
      params: {},
      query: {},
      headers: {
        ...req.headers,
        // The router reads only the quoted form (W/"3"); accept a bare version too.
        ...(ifMatch && !ifMatch.includes('"') ? { "if-match": `W/"${ifMatch.trim()}"` } : {}),
      },
    };
    const [result, resource] = await router.handleRequest(request, repo);
    const status = getStatus(result);
    if (status >= 500) console.error("ehr-sandbox:", method, relative, JSON.stringify(result.issue));
    if (!resource) return send(res, status, result);
    const { versionId, lastUpdated } = resource.meta ?? {};
    if (versionId && resource.resourceType !== "Bundle") {
      res.setHeader("ETag", `W/"${versionId}"`);
      if (lastUpdated) res.setHeader("Last-Modified", new Date(lastUpdated).toUTCString());
      if (status === 201)
        res.setHeader(
          "Location",
          `${urls.fhirBaseUrl}/${resource.resourceType}/${resource.id}/_history/${versionId}`,
        );
    }
    send(res, status, resource);
  }

  await new Promise<void>((resolve, reject) => {
    server.once("error", (err: NodeJS.ErrnoException) =>
      reject(
        err.code === "EADDRINUSE"
          ? new Error(`EHR sandbox: port ${options.port ?? DEFAULT_EHR_SANDBOX_PORT} is already in use`)
          : err,
      ),
    );
    server.listen(options.port ?? DEFAULT_EHR_SANDBOX_PORT, options.host ?? "127.0.0.1", resolve);
  });
  const address = server.address() as AddressInfo;
  const origin = `http://${address.family === "IPv6" ? `[${address.address}]` : address.address}:${address.port}`;
  urls = { url: origin, fhirBaseUrl: `${origin}${FHIR_PATH}`, tokenUrl: `${origin}${TOKEN_PATH}` };
  repo.fhirBaseUrl = urls.fhirBaseUrl;

  return {
    ...urls,
    staticToken,
    seeded,
    startupMs: Math.round(performance.now() - started),
    registerClient: (client) => auth.registerClient(client),
    stop: async () => {
      await notifier.stop();
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
    },
  };
}

function outcome(code: OperationOutcomeIssue["code"], text: string): OperationOutcome {
  return { resourceType: "OperationOutcome", issue: [{ severity: "error", code, details: { text } }] };
}

function send(res: ServerResponse, status: number, body: object, contentType = FHIR_JSON): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { "Content-Type": contentType, "Content-Length": Buffer.byteLength(text) });
  res.end(text);
}

async function readBody(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_BODY_BYTES)
      throw new OperationOutcomeError(contentTooLarge(`Bodies are limited to ${MAX_BODY_BYTES} bytes`));
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}

function capabilityStatement(fhirBaseUrl: string, tokenUrl: string): CapabilityStatement {
  const interactions = [
    "read",
    "vread",
    "history-instance",
    "search-type",
    "create",
    "update",
    "patch",
    "delete",
  ];
  return {
    resourceType: "CapabilityStatement",
    status: "active",
    date: new Date().toISOString(),
    kind: "instance",
    software: { name: "Switchboard EHR sandbox" },
    implementation: { description: "Local FHIR R4 sandbox of the demo clinic", url: fhirBaseUrl },
    fhirVersion: "4.0.1",
    format: ["json"],
    rest: [
      {
        mode: "server",
        security: {
          service: [
            {
              coding: [
                {
                  system: "http://terminology.hl7.org/CodeSystem/restful-security-service",
                  code: "SMART-on-FHIR",
                },
              ],
            },
          ],
          extension: [
            {
              url: "http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris",
              extension: [{ url: "token", valueUri: tokenUrl }],
            },
          ],
        },
        resource: SUPPORTED_TYPES.map((type) => ({
          type,
          interaction: interactions.map((code) => ({ code }) as { code: "read" }),
          versioning: "versioned",
          conditionalCreate: true,
          conditionalUpdate: true,
          searchParam: Object.values(globalSchema.types[type]?.searchParams ?? {}).map((p) => ({
            name: p.code,
            type: p.type,
          })),
        })),
        interaction: [{ code: "batch" }],
      },
    ],
  } as CapabilityStatement;
}
