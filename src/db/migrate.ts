// Applies the drizzle-kit migrations in drizzle/ and creates the coordination row. `serve` checks
// at every start whether any is pending and applies them only then (idempotent), so a runtime role
// that owns nothing can run it once `tmuxtrail migrate` applied them as the owner role (roles.ts,
// docs/operations.md "PostgreSQL roles"). On PostgreSQL several processes may start at once: a
// session-level advisory lock serialises the migrator (only here, never for sequencing, which uses
// a row lock).

import { readFileSync } from "node:fs";
import { join } from "node:path";
import type { PGlite } from "@electric-sql/pglite";
import { drizzle as drizzlePglite } from "drizzle-orm/pglite";
import { migrate as migratePglite } from "drizzle-orm/pglite/migrator";
import { drizzle as drizzlePostgres } from "drizzle-orm/postgres-js";
import { migrate as migratePostgres } from "drizzle-orm/postgres-js/migrator";
import postgres from "postgres";
import { rfc6962 } from "../core/hash.ts";
import { ROOT } from "../root.ts";
import { LOG_SESSION_SETTINGS, type Sql } from "./sql.ts";
import { upgradeToBatches } from "./upgrade-v2.ts";

/** The log's migrations, and the witness's (its own tables, in its own database). */
export const LOG_MIGRATIONS = {
  folder: join(ROOT, "drizzle"),
  table: "__drizzle_migrations",
};
export const WITNESS_MIGRATIONS = {
  folder: join(ROOT, "drizzle", "witness"),
  table: "__tmuxtrail_witness_migrations",
};
export type Migrations = typeof LOG_MIGRATIONS;
const MIGRATION_LOCK = 0x746d7578; // "tmux"

export async function migratePostgresUrl(
  url: string,
  schema?: string,
  m: Migrations = LOG_MIGRATIONS,
): Promise<void> {
  // Its own single connection: drizzle alters a postgres.js client it is handed.
  const client = postgres(url, {
    max: 1,
    onnotice: () => {},
    connection: { ...LOG_SESSION_SETTINGS, ...(schema ? { search_path: schema } : {}) },
  });
  try {
    await client`SELECT pg_advisory_lock(${MIGRATION_LOCK})`;
    if (schema) await client`CREATE SCHEMA IF NOT EXISTS ${client(schema)}`;
    await migratePostgres(drizzlePostgres(client), {
      migrationsFolder: m.folder,
      migrationsTable: m.table,
      migrationsSchema: schema ?? "drizzle",
    });
    await client`SELECT pg_advisory_unlock(${MIGRATION_LOCK})`;
  } finally {
    await client.end({ timeout: 5 });
  }
}

export async function migratePgliteDb(pg: PGlite, m: Migrations = LOG_MIGRATIONS): Promise<void> {
  await migratePglite(drizzlePglite(pg), { migrationsFolder: m.folder, migrationsTable: m.table });
}

/**
 * The schema holding the migration journal: the log's own schema when one is given, else drizzle's
 * default ("drizzle", also on PGlite).
 */
export function journalSchema(schema?: string): string {
  return schema ?? "drizzle";
}

/** The journal's `when` of each migration in `m`'s folder (drizzle-kit's meta/_journal.json). */
function journalEntries(m: Migrations): number[] {
  const j = JSON.parse(readFileSync(join(m.folder, "meta", "_journal.json"), "utf8")) as {
    entries: { when: number }[];
  };
  return j.entries.map((e) => e.when);
}

function sqlState(e: unknown): string | undefined {
  // drizzle wraps a failed query's error (DrizzleQueryError) with the driver's as its cause.
  const o = e as { code?: unknown; cause?: { code?: unknown } } | null;
  const code = o?.code ?? o?.cause?.code;
  return typeof code === "string" ? code : undefined;
}

/**
 * How many of `m`'s migrations the database has not applied, by drizzle's rule (a migration is
 * applied when the journal table's newest created_at is at least its `when`): only a SELECT, so
 * a role that owns nothing can ask. Every one when the journal table or its schema does not exist;
 * undefined when this role may not read it.
 */
/** A PostgreSQL identifier, double-quoted (a `"` inside doubled). */
export const quoteIdent = (id: string) => `"${id.replaceAll('"', '""')}"`;

export async function pendingMigrations(
  sql: Sql,
  m: Migrations = LOG_MIGRATIONS,
  schema?: string,
): Promise<number | undefined> {
  const when = journalEntries(m);
  try {
    const rows = await sql.query<{ last: string | null }>(
      `SELECT max(created_at)::text AS last FROM ${quoteIdent(journalSchema(schema))}.${quoteIdent(m.table)}`,
    );
    const last = rows[0]?.last == null ? -1 : Number(rows[0].last);
    return when.filter((w) => w > last).length;
  } catch (e) {
    const code = sqlState(e);
    if (code === "42P01" || code === "3F000") return when.length; // no journal (table, schema)
    if (code === "42501") return undefined; // permission denied
    throw e;
  }
}

/** Pending migrations that the connected role may not apply: the owner role must (`migrate`). */
export class MigrationsPendingError extends Error {
  readonly code = "MIGRATIONS_PENDING";
  constructor(role: string, opts: { schema?: string; witness?: boolean; cause: string }) {
    const flags = `${opts.witness ? " --witness" : ""}${opts.schema ? ` --database-schema ${opts.schema}` : ""}`;
    super(
      `the database needs migrations that role "${role}" may not apply (${opts.cause}): run \`tmuxtrail migrate --database-url URL${flags} --grant-runtime ${role}\` with URL naming the schema's owner role, then start again (docs/operations.md, "PostgreSQL roles")`,
    );
    this.name = "MigrationsPendingError";
  }
}

/**
 * At a start on PostgreSQL: no DDL at all when every migration is applied (the journal says so);
 * else applies them, and when this role may not (permission denied: it owns neither the schema
 * nor the tables), throws MigrationsPendingError naming the `migrate` command to run instead.
 */
export async function migrateIfPending(
  sql: Sql,
  url: string,
  schema?: string,
  m: Migrations = LOG_MIGRATIONS,
): Promise<void> {
  if ((await pendingMigrations(sql, m, schema)) === 0) return;
  try {
    await migratePostgresUrl(url, schema, m);
  } catch (e) {
    if (sqlState(e) !== "42501") throw e;
    const [r] = await sql.query<{ role: string }>("SELECT current_user::text AS role");
    const cause = String((e as { cause?: Error }).cause?.message ?? (e as Error).message);
    throw new MigrationsPendingError(r?.role ?? "?", {
      schema,
      witness: m.table === WITNESS_MIGRATIONS.table,
      cause: cause.split("\n")[0]!,
    });
  }
}

/** The coordination row of an empty tree, if there is none (no storage upgrade: see initLogState). */
export async function createLogState(sql: Sql): Promise<void> {
  const have = await sql.query("SELECT 1 FROM log_state WHERE id = 1");
  if (have.length > 0) return;
  await sql.query(
    `INSERT INTO log_state (id, size, root, right_edge) VALUES (1, 0, $1, $2)
     ON CONFLICT (id) DO NOTHING`,
    [rfc6962.emptyRoot(), new Uint8Array(0)],
  );
}

/**
 * Creates the coordination row of an empty tree if there is none, then upgrades storage v1 to v2
 * in place if the database still has v1's tables (upgrade-v2.ts). Reads first, so a runtime role
 * needs no INSERT on log_state once `migrate` has created the row; the upgrade drops tables, which
 * only the owner role may: a runtime role is told to run `migrate`.
 */
export async function initLogState(sql: Sql, say?: (msg: string) => void): Promise<void> {
  await createLogState(sql);
  try {
    await upgradeToBatches(sql, { say });
  } catch (e) {
    if (sqlState(e) !== "42501") throw e;
    const [r] = await sql.query<{ role: string }>("SELECT current_user::text AS role");
    throw new MigrationsPendingError(r?.role ?? "?", {
      cause: `the storage upgrade to batches: ${(e as Error).message.split("\n")[0]}`,
    });
  }
}
