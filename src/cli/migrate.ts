// `tmuxtrail migrate`: applies the database migrations as the owner role and grants a runtime role
// exactly what `serve` (or, with --witness, `witness`) needs (src/db/roles.ts).

import {
  initLogState,
  LOG_MIGRATIONS,
  migratePostgresUrl,
  pendingMigrations,
  WITNESS_MIGRATIONS,
} from "../db/migrate.ts";
import { grantRuntime, runtimeGrants, triggerDisabler, triggerRoleWarning } from "../db/roles.ts";
import { connectPostgres } from "../db/sql.ts";
import { type Command, parseFlags, UsageError } from "./command.ts";

export const migrate: Command = {
  name: "migrate",
  help: `Usage: tmuxtrail migrate --database-url URL [--database-schema NAME] [--witness]
                         [--grant-runtime ROLE ...]

Applies the log's migrations (or the witness's, with --witness) to PostgreSQL as the role in URL,
which should own the database or the schema (it needs CREATE on the database: the journal's
schema is created if missing). A role that owns the tables, or their schema, or is a superuser,
can disable the log's append-only triggers: run serve as another role that owns nothing. serve
applies pending migrations itself only when its role may; once they are applied it runs no DDL.

With --grant-runtime ROLE (repeatable) it then grants ROLE exactly what serve needs, revoking
anything else ROLE held on the same tables: USAGE on the schema (and on the journal's schema),
SELECT on the migration journal, and per table:
${grantsText(runtimeGrants(LOG_MIGRATIONS))}
With --witness, for the witness's tables:
${grantsText(runtimeGrants(WITNESS_MIGRATIONS))}
No table gets TRUNCATE, and the append-only ones no UPDATE or DELETE.
Run it again after every upgrade of tmuxtrail (new tables get their grants then). It refuses a
ROLE that could disable the triggers (a superuser, a member of the owner).

Flags (environment variables in brackets):
  --database-url URL       the owner role's connection [DATABASE_URL]
  --database-schema NAME   the schema holding the tables (default: the search path's, public;
                           the journal is then in the schema "drizzle") [TMUXTRAIL_DATABASE_SCHEMA]
  --witness                the witness's tables instead of the log's
  --grant-runtime ROLE     grant ROLE the runtime rights, repeatable

Example (docs/operations.md, "PostgreSQL roles"):
  tmuxtrail migrate --database-url postgres://tmuxtrail_owner@db/tmuxtrail \\
      --grant-runtime tmuxtrail_runtime
  DATABASE_URL=postgres://tmuxtrail_runtime@db/tmuxtrail tmuxtrail serve ...`,
  async run(argv) {
    const { values: v } = parseFlags(argv, {
      "database-url": { type: "string" },
      "database-schema": { type: "string" },
      witness: { type: "boolean" },
      "grant-runtime": { type: "string", multiple: true },
    });
    const env = process.env;
    const url = v["database-url"] ?? (env.DATABASE_URL || undefined);
    const schema = v["database-schema"] ?? (env.TMUXTRAIL_DATABASE_SCHEMA || undefined);
    if (!url) {
      throw new UsageError(
        "--database-url (or DATABASE_URL) is required: the embedded database migrates itself when serve starts",
      );
    }
    const m = v.witness ? WITNESS_MIGRATIONS : LOG_MIGRATIONS;
    const what = v.witness ? "witness" : "log";
    const sql = connectPostgres(url, { schema, max: 1 });
    try {
      const before = await pendingMigrations(sql, m, schema);
      await migratePostgresUrl(url, schema, m);
      if (!v.witness) await initLogState(sql, (msg) => console.log(msg));
      const [me] = await sql.query<{ role: string }>("SELECT current_user::text AS role");
      console.log(
        before === 0
          ? `the ${what}'s migrations were all applied already (as role "${me?.role}")`
          : `applied the ${what}'s migrations as role "${me?.role}"${before ? ` (${before} pending)` : ""}`,
      );
      const tables = Object.keys(runtimeGrants(m));
      for (const role of v["grant-runtime"] ?? []) {
        if (!v.witness) {
          const d = await triggerDisabler(sql, role, tables);
          if (d.reasons.length > 0) {
            throw new Error(
              `refusing to grant the runtime rights to "${role}": it can disable the log's append-only triggers (${d.reasons.join("; ")}); create a role that owns nothing (docs/operations.md, "PostgreSQL roles")`,
            );
          }
        }
        const ran = await grantRuntime(url, role, schema, m);
        console.log(`granted the runtime rights to role "${role}":`);
        for (const s of ran) console.log(`  ${s}`);
      }
      const warn = v.witness ? undefined : await triggerRoleWarning(sql);
      if (warn && !v["grant-runtime"]?.length)
        console.log(
          "next: create a runtime role (LOGIN, owning nothing) and run this again with --grant-runtime ROLE; serve runs as that role",
        );
      return 0;
    } finally {
      await sql.close();
    }
  },
};

function grantsText(g: Record<string, string[]>): string {
  return Object.entries(g)
    .map(([t, p]) => `  ${t.padEnd(22)} ${p.join(", ")}`)
    .join("\n");
}
