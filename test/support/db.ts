// Each test gets its own database: a fresh schema on the PostgreSQL of DATABASE_URL when set (as in
// CI), else an in-memory PGlite. `close()` drops what it made.

import { randomBytes } from "node:crypto";
import postgres from "postgres";
import {
  initLogState,
  LOG_MIGRATIONS,
  migratePgliteDb,
  migratePostgresUrl,
} from "../../src/db/migrate.ts";
import { connectPostgres, openPglite, type Sql } from "../../src/db/sql.ts";

export interface TestDb {
  sql: Sql;
  kind: "postgres" | "pglite";
  /** For PostgreSQL: the URL and schema, so a child process can open the same database. */
  url?: string;
  schema?: string;
  close(): Promise<void>;
}

export const usingPostgres = Boolean(process.env.DATABASE_URL);

/** A fresh database with the log's tables, or with `migrations` (the witness's) when given. */
export async function openTestDb(
  migrations: typeof LOG_MIGRATIONS = LOG_MIGRATIONS,
): Promise<TestDb> {
  const isLog = migrations === LOG_MIGRATIONS;
  const url = process.env.DATABASE_URL;
  if (url) {
    const schema = `t_${randomBytes(6).toString("hex")}`;
    const admin = postgres(url, { max: 1, onnotice: () => {} });
    await admin.unsafe(`CREATE SCHEMA ${schema}`);
    await migratePostgresUrl(url, schema, migrations);
    const sql = connectPostgres(url, { schema, max: 4 });
    if (isLog) await initLogState(sql);
    return {
      sql,
      kind: "postgres",
      url,
      schema,
      async close() {
        await sql.close();
        await admin.unsafe(`DROP SCHEMA ${schema} CASCADE`);
        await admin.end({ timeout: 5 });
      },
    };
  }
  const { sql, pg } = await openPglite();
  await migratePgliteDb(pg, migrations);
  if (isLog) await initLogState(sql);
  return { sql, kind: "pglite", close: () => sql.close() };
}
