/**
 * Builds the SQL that seeds the demo workspace (or bootstraps a real one) for
 * `wrangler d1 execute --file`. Every statement is idempotent. Passwords are hashed with the same
 * PBKDF2 code the Worker verifies with, and the audit chain gets a genesis row hashed the same way.
 */
import { GENESIS_HASH, hashAuditRow } from "../shared/audit/chain";
import { apiKeyHint, hashApiKey } from "../shared/auth/api-key";
import { hashPassword } from "../shared/auth/password";
import { DEMO_API_KEY_ID, DEMO_OPERATORS, DEMO_SERVICES, DEMO_USERS, DEMO_WORKSPACE } from "./demo-data";
import { DEMO_GRAPHS, demoKnowledgeRows } from "./demo-graphs";

const q = (value: string | number | boolean | null): string =>
  value === null
    ? "NULL"
    : typeof value === "string"
      ? `'${value.replaceAll("'", "''")}'`
      : typeof value === "boolean"
        ? value
          ? "1"
          : "0"
        : String(value);

function insert(
  table: string,
  row: Record<string, string | number | boolean | null>,
  conflict = "OR IGNORE",
): string {
  const columns = Object.keys(row);
  return `INSERT ${conflict} INTO ${table} (${columns.join(", ")}) VALUES (${columns.map((c) => q(row[c]!)).join(", ")});`;
}

async function genesisAudit(
  workspaceId: string,
  action: string,
  details: Record<string, unknown>,
): Promise<string> {
  const content = {
    workspaceId,
    seq: 1,
    actorType: "system" as const,
    actorId: null,
    action,
    targetType: "workspace",
    targetId: workspaceId,
    details,
    requestId: null,
    createdAt: new Date().toISOString(),
  };
  const hash = await hashAuditRow(content, GENESIS_HASH);
  // Only when the chain is still empty: a seeded row must never land in the middle of a real chain.
  return `INSERT INTO audit_log (id, workspace_id, seq, actor_type, actor_id, action, target_type, target_id, details, request_id, created_at, prev_hash, hash)
SELECT ${q(`aud_${workspaceId}-genesis`)}, ${q(workspaceId)}, 1, 'system', NULL, ${q(action)}, 'workspace', ${q(workspaceId)}, ${q(JSON.stringify(details))}, NULL, ${q(content.createdAt)}, ${q(GENESIS_HASH)}, ${q(hash)}
WHERE NOT EXISTS (SELECT 1 FROM audit_log WHERE workspace_id = ${q(workspaceId)});`;
}

export interface Bootstrap {
  workspace: { id: string; name: string; timezone: string };
  owner: { id: string; email: string; name: string; password: string };
}

/** A workspace and its first owner: how a fresh deployment gets its first login. */
export async function bootstrapSql({ workspace, owner }: Bootstrap): Promise<string[]> {
  return [
    insert("workspaces", { id: workspace.id, name: workspace.name, timezone: workspace.timezone }),
    insert("users", {
      id: owner.id,
      email: owner.email.toLowerCase(),
      name: owner.name,
      password_hash: await hashPassword(owner.password),
    }),
    // By email, not id: an existing account keeps its id and simply becomes the owner.
    `INSERT OR IGNORE INTO memberships (workspace_id, user_id, role) SELECT ${q(workspace.id)}, id, 'owner' FROM users WHERE email = ${q(owner.email.toLowerCase())};`,
    await genesisAudit(workspace.id, "workspace.bootstrapped", { owner_id: owner.id }),
  ];
}

export async function demoSql(demoApiKey: string): Promise<string[]> {
  const statements = [await genesisAudit(DEMO_WORKSPACE.id, "workspace.seeded", { demo: true })];
  statements.push(insert("workspaces", DEMO_WORKSPACE));
  for (const user of DEMO_USERS) {
    statements.push(
      insert("users", {
        id: user.id,
        email: user.email,
        name: user.name,
        password_hash: await hashPassword(user.password),
      }),
    );
    statements.push(
      insert("memberships", { workspace_id: DEMO_WORKSPACE.id, user_id: user.id, role: user.role }),
    );
  }
  for (const operator of DEMO_OPERATORS) {
    statements.push(
      insert("operators", {
        workspace_id: DEMO_WORKSPACE.id,
        user_id: operator.user_id,
        type: operator.type,
        skills: JSON.stringify(operator.skills),
        status: "offline",
      }),
    );
  }
  for (const service of DEMO_SERVICES) {
    statements.push(
      insert("services", {
        id: service.id,
        workspace_id: DEMO_WORKSPACE.id,
        name: service.name,
        description: service.description,
        persona: JSON.stringify(service.persona),
        context_graph_id: service.context_graph_id,
        escalation_rules: JSON.stringify(service.escalation_rules),
      }),
    );
    statements.push(
      insert("phone_numbers", {
        id: service.id.replace("svc_", "pn_"),
        workspace_id: DEMO_WORKSPACE.id,
        e164: service.number,
        service_id: service.id,
        label: service.name,
      }),
    );
  }
  statements.push(...demoGraphSql());
  // The demo owner's key follows .dev.vars, so a regenerated file still works against kept data.
  statements.push(
    `${insert(
      "api_keys",
      {
        id: DEMO_API_KEY_ID,
        workspace_id: DEMO_WORKSPACE.id,
        name: "Demo owner key (.dev.vars DEMO_API_KEY)",
        role: "owner",
        key_hash: await hashApiKey(demoApiKey),
        key_hint: apiKeyHint(demoApiKey),
        created_by: DEMO_USERS[0].id,
      },
      "",
    ).replace(
      /;$/,
      "",
    )} ON CONFLICT(id) DO UPDATE SET key_hash = excluded.key_hash, key_hint = excluded.key_hint;`,
  );
  return statements;
}

/**
 * The demo lines' context graphs (version 1) and knowledge. A service still naming a graph that is not a
 * saved version (the placeholder names of earlier seeds) is pointed at its version 1; one activated
 * through the API keeps its choice.
 */
function demoGraphSql(): string[] {
  const statements: string[] = [];
  for (const g of DEMO_GRAPHS) {
    statements.push(
      insert("context_graphs", {
        id: g.id,
        workspace_id: DEMO_WORKSPACE.id,
        service_id: g.serviceId,
        version: g.version,
        graph: JSON.stringify(g.graph),
        note: g.note,
        created_by: null,
      }),
      `UPDATE services SET context_graph_id = ${q(g.id)} WHERE workspace_id = ${q(DEMO_WORKSPACE.id)} AND id = ${q(g.serviceId)} AND (context_graph_id IS NULL OR context_graph_id NOT IN (SELECT id FROM context_graphs WHERE workspace_id = ${q(DEMO_WORKSPACE.id)} AND service_id = ${q(g.serviceId)}));`,
    );
  }
  for (const k of demoKnowledgeRows()) {
    statements.push(
      insert("knowledge_entries", {
        id: k.id,
        workspace_id: DEMO_WORKSPACE.id,
        service_id: k.serviceId,
        kind: k.kind,
        title: k.title,
        body: k.body,
        keywords: JSON.stringify(k.keywords),
      }),
    );
  }
  return statements;
}
