// Applies the drizzle-kit migrations in drizzle/ and creates the coordination row. Runs on every
// start of `serve` (idempotent). On PostgreSQL several processes may start at once: a session-level
// advisory lock serialises the migrator (only here, never for sequencing, which uses a row lock).

import { join } from "node:path";
import type { PGlite } from "@electric-sql/pglite";
import { drizzle as drizzlePglite } from "drizzle-orm/pglite";
import { migrate as migratePglite } from "drizzle-orm/pglite/migrator";
import { drizzle as drizzlePostgres } from "drizzle-orm/postgres-js";
import { migrate as migratePostgres } from "drizzle-orm/postgres-js/migrator";
import postgres from "postgres";
import { rfc6962 } from "../log/hash.ts";
import { ROOT } from "../root.ts";
import { LOG_SESSION_SETTINGS, type Sql } from "./client.ts";

/** The log's migrations, and the witness's (its own tables, in its own database). */
export const LOG_MIGRATIONS = {
  folder: join(ROOT, "drizzle"),
  table: "__drizzle_migrations",
};
export const WITNESS_MIGRATIONS = {
  folder: join(ROOT, "drizzle", "witness"),
  table: "__tmuxtrail_witness_migrations",
};
type Migrations = typeof LOG_MIGRATIONS;
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

/** Creates the coordination row of an empty tree if there is none. */
export async function initLogState(sql: Sql): Promise<void> {
  await sql.query(
    `INSERT INTO log_state (id, size, root, right_edge) VALUES (1, 0, $1, $2)
     ON CONFLICT (id) DO NOTHING`,
    [rfc6962.emptyRoot(), new Uint8Array(0)],
  );
}
