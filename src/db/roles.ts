// PostgreSQL roles (docs/operations.md, "PostgreSQL roles"). The append-only triggers stop a role
// that may only write rows; they do not stop one that can disable them: a superuser, the tables'
// owner (ALTER TABLE ... DISABLE TRIGGER, DROP TRIGGER), the trigger functions' owner (CREATE OR
// REPLACE FUNCTION), the schema's owner (DROP TABLE, then a table without triggers in its place),
// any member of those, and a role that may SET session_replication_role (replica mode skips
// ordinary triggers). So an owner role applies the migrations (`tmuxtrail migrate`), and `serve`
// runs as a runtime role that holds exactly the rights below and owns nothing.

import postgres from "postgres";
import {
  quoteIdent as ident,
  journalSchema,
  LOG_MIGRATIONS,
  type Migrations,
  WITNESS_MIGRATIONS,
} from "./migrate.ts";
import type { Sql } from "./sql.ts";

export type Privilege = "SELECT" | "INSERT" | "UPDATE" | "DELETE";

/**
 * What `serve` does to each table, and so all its runtime role may do (no TRUNCATE, REFERENCES or
 * TRIGGER anywhere; no sequence: the identity columns need none). The append-only tables get no
 * UPDATE or DELETE at all: the privilege check refuses before the triggers are even asked.
 */
export const LOG_RUNTIME_GRANTS: Record<string, Privilege[]> = {
  // keys create (INSERT), authentication (SELECT), keys revoke (UPDATE of revoked_at; the trigger
  // allows nothing else)
  api_keys: ["SELECT", "INSERT", "UPDATE"],
  // staged batches: written by the sequencer (INSERT), read for entries, bundles and exports,
  // marked integrated and rewritten without erased or unused slots (UPDATE; triggers allow only
  // those), and abandoned ones deleted by erasure (DELETE; a trigger refuses integrated ones)
  batches: ["SELECT", "INSERT", "UPDATE", "DELETE"],
  // the publisher signs and stores checkpoints; reads serve them
  checkpoints: ["SELECT", "INSERT"],
  // command events' contents for search: staged, searched, deleted by erasure; never updated (a
  // trigger refuses that)
  command_payloads: ["SELECT", "INSERT", "DELETE"],
  // a 409 conflict's record, written and never read by serve
  conflicts: ["INSERT"],
  // the witness pool stores cosignatures; checkpoints are served with them
  cosignatures: ["SELECT", "INSERT"],
  // erasure records its leaves; the command_payloads_stay_erased trigger (run as the inserting role)
  // reads them
  erased_leaves: ["SELECT", "INSERT"],
  // the sequencer's index rows
  leaves: ["SELECT", "INSERT"],
  // the one coordination row: locked (SELECT ... FOR UPDATE needs UPDATE) and advanced by the
  // sequencer; `migrate` creates it, so no INSERT
  log_state: ["SELECT", "UPDATE"],
  // the session index, upserted by the sequencer
  sessions: ["SELECT", "INSERT", "UPDATE"],
  // hash tiles: inserted and extended (an upsert; a trigger allows only extending), never deleted
  tiles: ["SELECT", "INSERT", "UPDATE"],
};

/** The witness's tables: none of them is append-only (no triggers), its state moves forward. */
export const WITNESS_RUNTIME_GRANTS: Record<string, Privilege[]> = {
  // fork evidence: recorded and listed; only the operator deletes a row (as the owner role)
  evidence: ["SELECT", "INSERT"],
  // the newest cosigned checkpoint per log: created, then advanced
  witness_logs: ["SELECT", "INSERT", "UPDATE"],
  // peers' heads not yet compared: upserted, cleared when compared or when the peer is dropped
  witness_unreconciled: ["SELECT", "INSERT", "UPDATE", "DELETE"],
  // tiles kept for peers: upserted
  witness_tiles: ["SELECT", "INSERT", "UPDATE"],
};

export function runtimeGrants(m: Migrations): Record<string, Privilege[]> {
  return m.table === WITNESS_MIGRATIONS.table ? WITNESS_RUNTIME_GRANTS : LOG_RUNTIME_GRANTS;
}

/**
 * Grants `role` exactly the runtime rights on `m`'s tables (revoking any others it held on them
 * first, in the same transaction): USAGE on the schema, the table privileges above, SELECT on the
 * migration journal (so `serve` can see that nothing is pending without any DDL). Run as the owner
 * role after the migrations. Returns the statements it ran.
 */
export async function grantRuntime(
  url: string,
  role: string,
  schema?: string,
  m: Migrations = LOG_MIGRATIONS,
): Promise<string[]> {
  const client = postgres(url, {
    max: 1,
    onnotice: () => {},
    connection: schema ? { search_path: schema } : {},
  });
  const ran: string[] = [];
  try {
    const grants = runtimeGrants(m);
    const exists = await client`SELECT 1 FROM pg_roles WHERE rolname = ${role}`;
    if (exists.length === 0) throw new Error(`role "${role}" does not exist (CREATE ROLE first)`);
    // Where the tables are: the given schema, else where the search path finds them.
    const [where] = await client<{ nsp: string | null }[]>`
      SELECT n.nspname::text AS nsp FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
       WHERE c.oid = to_regclass(${Object.keys(grants)[0]!})`;
    const nsp = where?.nsp;
    if (!nsp) throw new Error("the tables do not exist: apply the migrations first");
    const journal = journalSchema(schema);
    await client.begin(async (tx) => {
      const run = async (text: string) => {
        ran.push(text);
        await tx.unsafe(text);
      };
      const r = ident(role);
      await run(`GRANT USAGE ON SCHEMA ${ident(nsp)} TO ${r}`);
      if (journal !== nsp) await run(`GRANT USAGE ON SCHEMA ${ident(journal)} TO ${r}`);
      const jt = `${ident(journal)}.${ident(m.table)}`;
      await run(`REVOKE ALL ON TABLE ${jt} FROM ${r}`);
      await run(`GRANT SELECT ON TABLE ${jt} TO ${r}`);
      for (const [table, privs] of Object.entries(grants)) {
        const t = `${ident(nsp)}.${ident(table)}`;
        await run(`REVOKE ALL ON TABLE ${t} FROM ${r}`);
        await run(`GRANT ${privs.join(", ")} ON TABLE ${t} TO ${r}`);
      }
    });
    return ran;
  } finally {
    await client.end({ timeout: 5 });
  }
}

export interface TriggerDisabler {
  role: string;
  /** Why it can disable the triggers; empty when it cannot. */
  reasons: string[];
}

/**
 * Whether `role` (default: the connected role) could disable the append-only triggers of the
 * log's tables, as the search path finds them: superuser, member of the owner of a table, of a
 * trigger function or of the schema (pg_has_role MEMBER: it can SET ROLE to it), or allowed to
 * SET session_replication_role (PostgreSQL 15+ grants that per parameter).
 */
export async function triggerDisabler(
  sql: Sql,
  role?: string,
  tables: string[] = Object.keys(LOG_RUNTIME_GRANTS),
): Promise<TriggerDisabler> {
  const [r] = await sql.query<{
    role: string;
    superuser: boolean;
    table_owners: string[];
    function_owners: string[];
    schemas: string[];
    replica: boolean;
  }>(
    `WITH r AS (SELECT oid, rolname, rolsuper FROM pg_roles
                 WHERE rolname = coalesce($1::text, current_user::text)),
          t AS (SELECT c.oid, c.relowner, c.relnamespace
                  FROM unnest($2::text[]) AS n(name) JOIN pg_class c ON c.oid = to_regclass(n.name))
     SELECT r.rolname::text AS role, r.rolsuper AS superuser,
       ARRAY(SELECT DISTINCT pg_get_userbyid(t.relowner)::text FROM t
              WHERE pg_has_role(r.oid, t.relowner, 'MEMBER') ORDER BY 1) AS table_owners,
       ARRAY(SELECT DISTINCT pg_get_userbyid(p.proowner)::text FROM t
               JOIN pg_trigger g ON g.tgrelid = t.oid AND NOT g.tgisinternal
               JOIN pg_proc p ON p.oid = g.tgfoid
              WHERE pg_has_role(r.oid, p.proowner, 'MEMBER') ORDER BY 1) AS function_owners,
       ARRAY(SELECT DISTINCT n.nspname::text FROM t JOIN pg_namespace n ON n.oid = t.relnamespace
              WHERE pg_has_role(r.oid, n.nspowner, 'MEMBER') ORDER BY 1) AS schemas,
       CASE WHEN current_setting('server_version_num')::int >= 150000
            THEN has_parameter_privilege(r.oid, 'session_replication_role', 'SET')
            ELSE r.rolsuper END AS replica
     FROM r`,
    [role ?? null, tables],
  );
  if (!r) throw new Error(`role "${role}" does not exist`);
  if (r.superuser) return { role: r.role, reasons: ["it is a superuser"] };
  const as = (owners: string[]) =>
    owners.filter((o) => o !== r.role).length > 0
      ? ` (as a member of ${owners.map((o) => `"${o}"`).join(", ")})`
      : "";
  const reasons: string[] = [];
  if (r.table_owners.length > 0) reasons.push(`it owns the tables${as(r.table_owners)}`);
  if (r.function_owners.length > 0)
    reasons.push(`it owns the trigger functions${as(r.function_owners)}`);
  if (r.schemas.length > 0) reasons.push(`it owns the schema ${r.schemas.join(", ")}`);
  if (r.replica) reasons.push("it may SET session_replication_role");
  return { role: r.role, reasons };
}

/** The one-line start-up warning for a role that can disable the triggers, else undefined. */
export async function triggerRoleWarning(sql: Sql): Promise<string | undefined> {
  if (sql.kind !== "postgres") return undefined; // embedded: the operator owns the files anyway
  const d = await triggerDisabler(sql);
  if (d.reasons.length === 0) return undefined;
  return `the database role "${d.role}" can disable the log's append-only triggers (${d.reasons.join("; ")}): run serve as a runtime role that owns nothing (docs/operations.md, "PostgreSQL roles")`;
}
