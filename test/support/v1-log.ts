// A log as storage v1 kept it, for the tests of upgrades (test/db/upgrade-v2.test.ts,
// erased-backfill.test.ts): a database at the schema of an earlier release (the migrations before
// a given one), and a log run by today's code written into it in v1's layout: the tree's rows as
// they are, and per leaf an entries row and, unless erased, a payloads row. What that release
// wrote for the same submissions is exactly this; only the way there differs.

import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import postgres from "postgres";
import { BatchStore } from "../../src/db/batch-store.ts";
import {
  initLogState,
  LOG_MIGRATIONS,
  type Migrations,
  migratePgliteDb,
  migratePostgresUrl,
} from "../../src/db/migrate.ts";
import { connectPostgres, openPglite, type Sql } from "../../src/db/sql.ts";
import type { TestDb } from "./db.ts";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));
type Cleanups = (() => Promise<void>)[];

/** The log's migrations before `first` (5: storage v1's release): a copy of drizzle/ without the rest. */
export function migrationsBefore(first: number, cleanups: Cleanups): Migrations {
  const dir = join(mkdtempSync(join(tmpdir(), "tt-old-")), "drizzle");
  cpSync(join(ROOT, "drizzle"), dir, { recursive: true });
  rmSync(join(dir, "witness"), { recursive: true });
  const journalFile = join(dir, "meta", "_journal.json");
  const journal = JSON.parse(readFileSync(journalFile, "utf8"));
  for (const e of journal.entries.filter((e: { idx: number }) => e.idx >= first)) {
    rmSync(join(dir, `${e.tag}.sql`));
    rmSync(join(dir, "meta", `${String(e.idx).padStart(4, "0")}_snapshot.json`), { force: true });
  }
  journal.entries = journal.entries.filter((e: { idx: number }) => e.idx < first);
  writeFileSync(journalFile, JSON.stringify(journal));
  cleanups.push(async () => rmSync(join(dir, ".."), { recursive: true, force: true }));
  return { ...LOG_MIGRATIONS, folder: dir };
}

export interface OldDb {
  sql: Sql;
  /** Reopens the database in this process (PGlite: after a child had it). */
  reopen(): Promise<Sql>;
  /** What a child process needs to open it. */
  where: { url?: string; schema?: string; dir?: string };
  asTestDb(sql: Sql): TestDb;
  /** What a start of today's release does (every migration, then initLogState): the upgraded database. */
  upgrade(): Promise<Sql>;
}

/** A database at the schema before migration `first`, kept in a directory on PGlite (so a child can open it). */
export async function oldDatabase(first: number, cleanups: Cleanups): Promise<OldDb> {
  const old = migrationsBefore(first, cleanups);
  const url = process.env.DATABASE_URL;
  if (url) {
    const schema = `t_${Math.random().toString(16).slice(2, 14)}`;
    const admin = postgres(url, { max: 1, onnotice: () => {} });
    await admin.unsafe(`CREATE SCHEMA ${schema}`);
    await migratePostgresUrl(url, schema, old);
    const open: Sql[] = [];
    const connect = () => {
      const s = connectPostgres(url, { schema, max: 4 });
      open.push(s);
      return s;
    };
    cleanups.push(async () => {
      for (const s of open) await s.close().catch(() => {});
      await admin.unsafe(`DROP SCHEMA ${schema} CASCADE`);
      await admin.end({ timeout: 5 });
    });
    const sql = connect();
    return {
      sql,
      reopen: async () => connect(),
      upgrade: async () => {
        await migratePostgresUrl(url, schema);
        await initLogState(sql);
        return sql;
      },
      where: { url, schema },
      asTestDb: (s) => ({ sql: s, kind: "postgres", url, schema, close: async () => {} }),
    };
  }
  const dir = mkdtempSync(join(tmpdir(), "tt-v1-db-"));
  const { sql, pg } = await openPglite(dir);
  await migratePgliteDb(pg, old);
  let current = sql;
  cleanups.push(async () => {
    await current.close().catch(() => {});
    rmSync(dir, { recursive: true, force: true });
  });
  return {
    sql,
    upgrade: async () => {
      await migratePgliteDb(pg);
      await initLogState(current);
      return current;
    },
    reopen: async () => {
      current = (await openPglite(dir)).sql;
      return current;
    },
    where: { dir },
    asTestDb: (s) => ({ sql: s, kind: "pglite", close: async () => {} }),
  };
}

/** Every row of `table` copied from `from` to `to` (few rows: one INSERT each). */
async function copyTable(from: Sql, to: Sql, table: string, columns: string[]): Promise<void> {
  const cols = columns.map((c) => `"${c}"`).join(", ");
  for (const row of await from.query<Record<string, unknown>>(`SELECT ${cols} FROM ${table}`)) {
    await to.query(
      `INSERT INTO ${table} (${cols}) VALUES (${columns.map((_, i) => `$${i + 1}`).join(", ")})`,
      columns.map((c) => row[c]),
    );
  }
}

/**
 * What storage v1 stored for the log in `v2`, written into `v1` (a database at a schema before
 * 0005): the tree's rows as they are, and per leaf an entries row and, unless its slot is empty,
 * a payloads row. erased_leaves is copied when `v1` has the table (from 0003 on).
 */
export async function writeAsV1(v2: Sql, v1: Sql): Promise<void> {
  await v1.query("DELETE FROM log_state");
  await copyTable(v2, v1, "log_state", ["id", "size", "root", "right_edge", "updated_at"]);
  const leafCols = [
    "idx",
    "leaf_hash",
    "host",
    "server",
    "pane",
    "seq",
    "session",
    "type",
    "user",
    "time",
  ];
  await copyTable(v2, v1, "leaves", leafCols);
  await copyTable(v2, v1, "tiles", ["level", "idx", "hashes"]);
  await copyTable(v2, v1, "checkpoints", ["size", "root", "note", "created_at"]);
  await copyTable(v2, v1, "sessions", [
    "id",
    "host",
    "server",
    "session",
    "user",
    "first_idx",
    "last_idx",
    "first_time",
    "last_time",
    "events",
  ]);
  const [has] = await v1.query<{ t: boolean }>(
    "SELECT to_regclass('erased_leaves') IS NOT NULL AS t",
  );
  if (has!.t) await copyTable(v2, v1, "erased_leaves", ["leaf_hash", "erased_at"]);
  const rows = await v2.query<{ idx: number; leaf_hash: Uint8Array; batch: number; slot: number }>(
    "SELECT idx, leaf_hash, batch, slot FROM leaves ORDER BY idx",
  );
  const events = await new BatchStore(v2).events(rows);
  for (const [i, r] of rows.entries()) {
    const ev = events[i]!;
    await v1.query("INSERT INTO entries (leaf_hash, leaf) VALUES ($1, $2)", [r.leaf_hash, ev.leaf]);
    if (ev.payload) {
      await v1.query("INSERT INTO payloads (leaf_hash, salt, content) VALUES ($1, $2, $3)", [
        r.leaf_hash,
        ev.payload.salt,
        ev.payload.content,
      ]);
    }
  }
  // A staged entry that never entered the tree (v1 kept such rows): the upgrade drops it.
  await v1.query("INSERT INTO entries (leaf_hash, leaf) VALUES ($1, $2)", [
    new Uint8Array(32).fill(9),
    new Uint8Array([123, 125]),
  ]);
}
