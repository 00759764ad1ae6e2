/**
 * The Worker's export surface: the HTTP app, the queue consumer, the cron handler and the Durable
 * Object classes. Logic lives in the modules these point to.
 */
import { buildApp } from "./app";
import { handleQueue } from "./queue";
import { handleScheduled } from "./scheduled";
// Feature modules that register queue jobs at import time.
import "./ehr/inbound";
import "./ehr/writeback";
import "./telephony/messaging";

export { CallSession } from "../durable-objects/call-session";
export { PatientModel } from "../durable-objects/patient-model";
export { WorkspaceHub } from "../durable-objects/workspace-hub";

const app = buildApp();

export default {
  fetch: app.fetch,
  queue: handleQueue,
  scheduled: handleScheduled,
} satisfies ExportedHandler<Env>;
