/**
 * Builds the Hono app: cross-cutting middleware in one place, then one route module per resource.
 * Middleware order matters: request id → security headers → body limit → JSON-only → auth (for /v1).
 */
import { OpenAPIHono } from "@hono/zod-openapi";
import { requestId } from "hono/request-id";
import { secureHeaders } from "hono/secure-headers";
import { newId } from "../shared/ids";
import { apiKeysApi } from "./api/api-keys";
import { auditApi } from "./api/audit";
import { authApi } from "./api/auth";
import { briefingApi } from "./api/briefing";
import { callSocketsApi } from "./api/call-sockets";
import { callsApi } from "./api/calls";
import { contextGraphsApi } from "./api/context-graphs";
import { dataSourcesApi } from "./api/data-sources";
import { deliveriesApi } from "./api/deliveries";
import { openApiDocument, renderDocsPage } from "./api/docs";
import { eventsApi } from "./api/events";
import { fhirImportApi, fhirWebhookApi } from "./api/fhir-webhook";
import { knowledgeApi } from "./api/knowledge";
import { liveCallsApi } from "./api/live-calls";
import { memoryApi } from "./api/memory";
import { operatorsApi } from "./api/operators";
import { phoneNumbersApi } from "./api/phone-numbers";
import { pipelineApi } from "./api/pipeline";
import { reviewApi } from "./api/review";
import { schedulingApi } from "./api/scheduling";
import { servicesApi } from "./api/services";
import { simulatorApi } from "./api/simulator";
import { surfacePageApi } from "./api/surface-page";
import { surfaceSettingsApi } from "./api/surface-settings";
import { surfacesApi } from "./api/surfaces";
import { syncApi } from "./api/sync";
import { telephonyApi } from "./api/telephony";
import { usersApi } from "./api/users";
import { workspacesApi } from "./api/workspaces";
import { worldApi } from "./api/world";
import type { AppEnv } from "./env";
import { ApiError, handleError } from "./errors";
import { authenticate, authorizeWorkspace } from "./middleware/auth";
import { limitBody, requireJsonBody } from "./middleware/json-body";

export function buildApp() {
  const app = new OpenAPIHono<AppEnv>();

  app.use("*", requestId({ generator: () => newId("req") }));
  app.use("*", secureHeaders({ crossOriginResourcePolicy: "same-origin" }));
  // The patient's page (/s, /l): before the 1 MiB JSON body limit, since uploads go up to 10 MiB; it sets its own.
  app.route("/", surfacePageApi);
  app.use("*", limitBody);
  app.use("/v1/*", requireJsonBody);
  app.use("/auth/*", requireJsonBody);
  app.use("/v1/:workspace_id/*", authenticate, authorizeWorkspace);
  app.use("/v1/:workspace_id", authenticate, authorizeWorkspace);

  /** Liveness, and the bare route the benchmark compares authenticated routes against. */
  app.get("/healthz", (c) => c.json({ ok: true }));

  app.route("/", authApi);
  app.route("/", workspacesApi);
  app.route("/", servicesApi);
  app.route("/", contextGraphsApi);
  app.route("/", knowledgeApi);
  app.route("/", phoneNumbersApi);
  app.route("/", usersApi);
  app.route("/", apiKeysApi);
  app.route("/", auditApi);
  app.route("/", worldApi);
  app.route("/", reviewApi);
  app.route("/", memoryApi);
  app.route("/", dataSourcesApi);
  app.route("/", syncApi);
  app.route("/", schedulingApi);
  app.route("/", pipelineApi);
  app.route("/", callsApi);
  app.route("/", deliveriesApi);
  app.route("/", liveCallsApi);
  app.route("/", eventsApi);
  app.route("/", briefingApi);
  app.route("/", operatorsApi);
  app.route("/", simulatorApi);
  app.route("/", surfaceSettingsApi);
  app.route("/", surfacesApi);
  // Outside /v1: the EHR authenticates with its data source's webhook secret, not a user's credentials.
  app.route("/", fhirWebhookApi);
  app.route("/", fhirImportApi);
  // Outside /v1: Twilio authenticates with X-Twilio-Signature (workers/telephony/twilio-signature.ts).
  app.route("/", telephonyApi);
  app.route("/", callSocketsApi);

  // Built on first use, not at start-up: a cold Worker answering a call should not pay for it.
  let document: ReturnType<typeof openApiDocument> | undefined;
  const doc = () => {
    document ??= openApiDocument(app);
    return document;
  };
  app.get("/openapi.json", (c) => c.json(doc()));
  app.get("/docs", (c) => c.html(renderDocsPage(doc())));

  app.notFound(async (c) => {
    if (
      ["/v1/", "/auth/", "/telephony/", "/webhooks/", "/recordings/"].some((prefix) =>
        c.req.path.startsWith(prefix),
      )
    ) {
      return handleError(new ApiError("not_found", `No route for ${c.req.method} ${c.req.path}`), c);
    }
    // A copy: the assets binding's headers are immutable, and the middleware above adds security headers.
    const asset = await c.env.ASSETS.fetch(c.req.raw);
    return new Response(asset.body, asset);
  });
  app.onError(handleError);
  return app;
}
