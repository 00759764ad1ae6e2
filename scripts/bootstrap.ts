/**
 * `npm run bootstrap -- --workspace acme --name "Acme Clinic" --email it@acme.org [--timezone America/Chicago] [--remote]`
 * Creates a workspace and its first owner in D1 (local by default, `--remote` for the deployed database)
 * so a fresh deployment has someone who can sign in. The password is read from BOOTSTRAP_PASSWORD or
 * generated and printed once. Idempotent: an existing workspace or user is left as it is.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import path from "node:path";
import { parseArgs } from "node:util";
import { PASSWORD_MIN_LENGTH } from "../shared/auth/password";
import { randomBytes, toBase64Url } from "../shared/encoding";
import { newId } from "../shared/ids";
import { Email, WorkspaceId } from "../shared/schemas/common";
import { ROOT, run } from "./local-platform";
import { bootstrapSql } from "./seed-sql";

const { values } = parseArgs({
  options: {
    workspace: { type: "string" },
    name: { type: "string" },
    email: { type: "string" },
    "owner-name": { type: "string", default: "Workspace owner" },
    timezone: { type: "string", default: "UTC" },
    remote: { type: "boolean", default: false },
  },
});

const workspace = WorkspaceId.safeParse(values.workspace);
const email = Email.safeParse(values.email);
if (!workspace.success || !email.success || !values.name) {
  console.error(
    'usage: npm run bootstrap -- --workspace <id> --name "<clinic name>" --email <owner email> [--remote]',
  );
  process.exit(2);
}
const password = process.env.BOOTSTRAP_PASSWORD ?? toBase64Url(randomBytes(18));
if (password.length < PASSWORD_MIN_LENGTH) {
  console.error(`BOOTSTRAP_PASSWORD must have at least ${PASSWORD_MIN_LENGTH} characters`);
  process.exit(2);
}

const statements = await bootstrapSql({
  workspace: { id: workspace.data, name: values.name, timezone: values.timezone! },
  owner: { id: newId("usr"), email: email.data, name: values["owner-name"]!, password },
});
const dir = path.join(ROOT, ".wrangler", "tmp");
mkdirSync(dir, { recursive: true });
const file = path.join(dir, `bootstrap-${Date.now()}.sql`);
writeFileSync(file, statements.join("\n"), { mode: 0o600 });
await run(path.join(ROOT, "node_modules", ".bin", "wrangler"), [
  "d1",
  "execute",
  "DB",
  values.remote ? "--remote" : "--local",
  "--file",
  file,
]);
console.log(
  `\nWorkspace ${workspace.data} is ready. Sign in as ${email.data}${process.env.BOOTSTRAP_PASSWORD ? "" : ` with the password ${password} (shown once; change it after signing in)`}.`,
);
