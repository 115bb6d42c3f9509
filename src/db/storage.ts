// Opening the log's database: PostgreSQL when a URL is given (production: synchronous_commit on),
// else embedded PGlite in <data>/db. PGlite is one process per directory (two corrupt it): `serve`
// holds <data>/.lock (src/lib/pid-lock.ts: taken atomically, a dead or zombie owner's taken over) and
// other processes are refused with a pointer to the HTTP API.

import { existsSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { takePidLock } from "../lib/pid-lock.ts";
import { createEmbeddedApart } from "./embedded-create.ts";
import { initLogState, LOG_MIGRATIONS, migrateIfPending, migratePgliteDb } from "./migrate.ts";
import { connectPostgres, openPglite, type Sql } from "./sql.ts";

export interface Storage {
  sql: Sql;
  kind: "postgres" | "pglite";
  close(): Promise<void>;
}

export class DataDirLockedError extends Error {
  constructor(dir: string, pid: string) {
    super(
      `${dir} is in use by another tmuxtrail process (pid ${pid}); the embedded database allows one process. Use the HTTP API (--log URL) or stop that process.`,
    );
    this.name = "DataDirLockedError";
  }
}

/** Takes <dir>/.lock; a lock left by a dead process is taken over. Returns the release function. */
export function lockDataDir(dir: string): () => void {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  return takePidLock(join(dir, ".lock"), {
    mode: 0o600,
    reentrant: true,
    held: (pid = "unknown") => new DataDirLockedError(dir, pid),
  });
}

export async function openStorage(opts: {
  databaseUrl?: string;
  databaseSchema?: string;
  dataDir: string;
  poolSize?: number;
  /** Which tables: the log's (default) or the witness's. */
  migrations?: typeof LOG_MIGRATIONS;
  /** Run once after migrating (default: create the log's coordination row). */
  init?: (sql: Sql) => Promise<void>;
  /**
   * Create a missing embedded database in a child process (embedded-create.ts), so this one stays
   * at the memory of a restart: for long-lived servers (`serve`, `witness`).
   */
  createApart?: boolean;
  /** Progress of a long start (the storage upgrade). */
  say?: (msg: string) => void;
}): Promise<Storage> {
  const m = opts.migrations ?? LOG_MIGRATIONS;
  const init = opts.init ?? ((sql: Sql) => initLogState(sql, opts.say));
  if (opts.databaseUrl) {
    const sql = connectPostgres(opts.databaseUrl, {
      max: opts.poolSize ?? 10,
      schema: opts.databaseSchema,
    });
    try {
      // DDL only when a migration is pending: a runtime role that owns nothing starts as long as
      // the owner role has run `tmuxtrail migrate` (docs/operations.md, "PostgreSQL roles").
      await migrateIfPending(sql, opts.databaseUrl, opts.databaseSchema, m);
      await init(sql);
    } catch (e) {
      await sql.close();
      throw e;
    }
    return { sql, kind: "postgres", close: () => sql.close() };
  }
  const release = lockDataDir(opts.dataDir);
  try {
    const dir = join(opts.dataDir, "db");
    if (opts.createApart && !existsSync(join(dir, "PG_VERSION"))) await createEmbeddedApart(dir, m);
    const { sql, pg } = await openPglite(dir);
    await migratePgliteDb(pg, m);
    await init(sql);
    return {
      sql,
      kind: "pglite",
      async close() {
        await sql.close();
        release();
      },
    };
  } catch (e) {
    release();
    throw e;
  }
}
