// `tmuxtrail migrate` and the runtime grants (issue 17, item 9; src/db/roles.ts): every table the
// migrations create has its runtime grants, `serve` can see that nothing is pending without DDL,
// --grant-runtime grants exactly the listed rights (revoking others), refuses a role that could
// disable the triggers, and the witness runs as its runtime role too. The attack itself (a runtime
// role cannot disable the triggers, serve warns as the owner) is test/adversarial/operator-roles.

import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import postgres from "postgres";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { generateKey } from "../../src/core/keys.ts";
import { formatAddCheckpoint } from "../../src/core/tlog-witness.ts";
import {
  LOG_MIGRATIONS,
  type Migrations,
  MigrationsPendingError,
  pendingMigrations,
  WITNESS_MIGRATIONS,
} from "../../src/db/migrate.ts";
import {
  LOG_RUNTIME_GRANTS,
  runtimeGrants,
  triggerRoleWarning,
  WITNESS_RUNTIME_GRANTS,
} from "../../src/db/roles.ts";
import { openPglite } from "../../src/db/sql.ts";
import { openStorage } from "../../src/db/storage.ts";
import { witnessApp } from "../../src/witness/app.ts";
import { addEvidence, listEvidence } from "../../src/witness/store.ts";
import {
  clearUnreconciled,
  forgetOtherPeers,
  listUnreconciled,
  markUnreconciled,
} from "../../src/witness/unreconciled.ts";
import { runCli } from "../support/cli.ts";
import { openTestDb, usingPostgres } from "../support/db.ts";
import { tempDir } from "../support/serve.ts";
import { MemoryLog, witnessOf } from "../support/tree.ts";

/** How many migrations the journal (drizzle/meta, drizzle/witness/meta) lists. */
const journalLength = (m: Migrations) =>
  (
    JSON.parse(
      readFileSync(
        fileURLToPath(
          new URL(
            m === LOG_MIGRATIONS
              ? "../../drizzle/meta/_journal.json"
              : "../../drizzle/witness/meta/_journal.json",
            import.meta.url,
          ),
        ),
        "utf8",
      ),
    ) as { entries: unknown[] }
  ).entries.length;

describe("runtime grants and the migration journal (both databases)", () => {
  // One embedded database with no migrations, for every test here (PGlite starts slowly on a busy
  // machine: these tests allow two minutes each).
  let fresh: Awaited<ReturnType<typeof openPglite>>;
  beforeAll(async () => {
    fresh = await openPglite();
  }, 120_000);
  afterAll(() => fresh.sql.close());
  for (const [name, m, grants] of [
    ["log", LOG_MIGRATIONS, LOG_RUNTIME_GRANTS],
    ["witness", WITNESS_MIGRATIONS, WITNESS_RUNTIME_GRANTS],
  ] as const) {
    it(`every table of the ${name}'s migrations has runtime grants, and nothing else does`, {
      timeout: 120_000,
    }, async () => {
      const db = await openTestDb(m);
      try {
        const rows = await db.sql.query<{ t: string }>(
          `SELECT relname::text AS t FROM pg_class
            WHERE relnamespace = current_schema()::regnamespace AND relkind = 'r'
              AND relname NOT LIKE '\\_\\_%' ORDER BY 1`,
        );
        expect(rows.map((r) => r.t)).toEqual(Object.keys(grants).sort());
        expect(runtimeGrants(m)).toBe(grants);
      } finally {
        await db.close();
      }
    });

    it(`the ${name}'s journal: nothing pending once migrated, every migration before`, {
      timeout: 120_000,
    }, async () => {
      const db = await openTestDb(m);
      try {
        expect(await pendingMigrations(db.sql, m, db.schema)).toBe(0);
      } finally {
        await db.close();
      }
      expect(await pendingMigrations(fresh.sql, m)).toBe(journalLength(m));
    });
  }

  it("no warning on the embedded database (its files are the operator's anyway)", async () => {
    expect(await triggerRoleWarning(fresh.sql)).toBeUndefined();
  });

  it("migrate --help lists the grants; without a database URL it is a usage error", {
    timeout: 120_000,
  }, async () => {
    const help = await runCli(["migrate", "--help"]);
    expect(help.code).toBe(0);
    expect(help.out).toMatch(/--grant-runtime ROLE/);
    expect(help.out).toMatch(/leaves\s+SELECT, INSERT\n/);
    expect(help.out).toMatch(/command_payloads\s+SELECT, INSERT, DELETE\n/);
    expect(help.out).toMatch(/batches\s+SELECT, INSERT, UPDATE, DELETE\n/);
    // Storage v1's tables are dropped by the upgrade: nothing is granted on them.
    expect(help.out).not.toMatch(/^\s*(entries|payloads)\s/m);
    const saved = process.env.DATABASE_URL;
    delete process.env.DATABASE_URL;
    try {
      const r = await runCli(["migrate"]);
      expect(r.code).toBe(2);
      expect(r.err).toContain("--database-url (or DATABASE_URL) is required");
    } finally {
      if (saved !== undefined) process.env.DATABASE_URL = saved;
    }
    const list = await runCli(["--help"]);
    expect(list.out).toMatch(/\n {2}migrate +apply the PostgreSQL migrations/);
  });
});

const URL0 = process.env.DATABASE_URL;
const id = randomBytes(4).toString("hex");
const RT = `tt_grants_rt_${id}`;

function urlAs(user: string): string {
  const u = new URL(URL0!);
  u.username = user;
  u.password = "";
  return u.toString();
}

describe.skipIf(!usingPostgres)(
  "migrate --grant-runtime on PostgreSQL (skipped: needs DATABASE_URL)",
  () => {
    let admin: postgres.Sql;
    const schemas: string[] = [];
    const newSchema = async () => {
      const s = `t_roles_${randomBytes(5).toString("hex")}`;
      schemas.push(s);
      await admin.unsafe(`CREATE SCHEMA ${s}`);
      return s;
    };

    beforeAll(async () => {
      admin = postgres(URL0!, { max: 1, onnotice: () => {} });
      await admin.unsafe(`CREATE ROLE ${RT} LOGIN NOSUPERUSER`);
    });
    afterAll(async () => {
      for (const s of schemas) await admin.unsafe(`DROP SCHEMA IF EXISTS ${s} CASCADE`);
      await admin.unsafe(`DROP ROLE IF EXISTS ${RT}`);
      await admin.end({ timeout: 5 });
    });

    const PRIVS = ["SELECT", "INSERT", "UPDATE", "DELETE", "TRUNCATE", "REFERENCES", "TRIGGER"];
    async function privileges(schema: string, tables: string[]) {
      const out: Record<string, string[]> = {};
      for (const t of tables) {
        const have: string[] = [];
        for (const p of PRIVS) {
          const [r] = await admin<{ ok: boolean }[]>`
            SELECT has_table_privilege(${RT}, ${`${schema}.${t}`}, ${p}) AS ok`;
          if (r?.ok) have.push(p);
        }
        out[t] = have;
      }
      return out;
    }

    it("grants exactly the runtime rights, revoking others; SELECT on the journal; no DDL at serve's start", {
      timeout: 120_000,
    }, async () => {
      const schema = await newSchema();
      await admin.unsafe(`GRANT USAGE ON SCHEMA ${schema} TO ${RT}`);
      // Before: the migrations are pending, and the runtime role may not apply them.
      await expect(
        openStorage({ databaseUrl: urlAs(RT), databaseSchema: schema, dataDir: tempDir() }),
      ).rejects.toThrow(MigrationsPendingError);
      const r = await runCli([
        "migrate",
        "--database-url",
        URL0!,
        "--database-schema",
        schema,
        "--grant-runtime",
        RT,
      ]);
      expect(r.code, r.err).toBe(0);
      expect(r.out).toContain(`(${journalLength(LOG_MIGRATIONS)} pending)`);
      const tables = Object.keys(LOG_RUNTIME_GRANTS);
      expect(await privileges(schema, tables)).toEqual(LOG_RUNTIME_GRANTS);
      // An extra right granted by hand is gone after the next run.
      await admin.unsafe(`GRANT ALL ON ${schema}.leaves TO ${RT}`);
      const again = await runCli([
        "migrate",
        "--database-url",
        URL0!,
        "--database-schema",
        schema,
        "--grant-runtime",
        RT,
      ]);
      expect(again.code, again.err).toBe(0);
      expect(again.out).toContain("were all applied already");
      expect((await privileges(schema, ["leaves"])).leaves).toEqual(["SELECT", "INSERT"]);
      // The journal: readable, nothing else.
      const [j] = await admin<{ sel: boolean; ins: boolean }[]>`
        SELECT has_table_privilege(${RT}, ${`${schema}.__drizzle_migrations`}, 'SELECT') AS sel,
               has_table_privilege(${RT}, ${`${schema}.__drizzle_migrations`}, 'INSERT') AS ins`;
      expect(j).toEqual({ sel: true, ins: false });
      // serve's storage opens as the runtime role: no DDL, the coordination row already there.
      const st = await openStorage({
        databaseUrl: urlAs(RT),
        databaseSchema: schema,
        dataDir: tempDir(),
      });
      try {
        expect(await pendingMigrations(st.sql, LOG_MIGRATIONS, schema)).toBe(0);
        expect(await triggerRoleWarning(st.sql)).toBeUndefined();
        const rows = await st.sql.query<{ size: number }>("SELECT size FROM log_state");
        expect(rows).toEqual([{ size: 0 }]);
      } finally {
        await st.close();
      }
    });

    it("refuses to grant the runtime rights to a superuser", { timeout: 120_000 }, async () => {
      const schema = await newSchema();
      const su = new URL(URL0!).username;
      const r = await runCli([
        "migrate",
        "--database-url",
        URL0!,
        "--database-schema",
        schema,
        "--grant-runtime",
        su,
      ]);
      expect(r.code).toBe(2);
      expect(r.err).toContain(`refusing to grant the runtime rights to "${su}"`);
      expect(r.err).toContain("it is a superuser");
    });

    it("the witness runs as its runtime role: migrate --witness --grant-runtime", {
      timeout: 120_000,
    }, async () => {
      const schema = await newSchema();
      await admin.unsafe(`GRANT USAGE ON SCHEMA ${schema} TO ${RT}`);
      const pending = openStorage({
        databaseUrl: urlAs(RT),
        databaseSchema: schema,
        dataDir: tempDir(),
        migrations: WITNESS_MIGRATIONS,
        init: async () => {},
      });
      await expect(pending).rejects.toThrow(/tmuxtrail migrate --database-url URL --witness/);
      const r = await runCli([
        "migrate",
        "--witness",
        "--database-url",
        URL0!,
        "--database-schema",
        schema,
        "--grant-runtime",
        RT,
      ]);
      expect(r.code, r.err).toBe(0);
      expect(await privileges(schema, Object.keys(WITNESS_RUNTIME_GRANTS))).toEqual(
        WITNESS_RUNTIME_GRANTS,
      );
      const st = await openStorage({
        databaseUrl: urlAs(RT),
        databaseSchema: schema,
        dataDir: tempDir(),
        migrations: WITNESS_MIGRATIONS,
        init: async () => {},
      });
      try {
        // Cosigning: the first checkpoint of a log, then a larger one (witness_logs insert, update).
        const log = new MemoryLog("example.com/log");
        const w = generateKey("witness.example/w1", new Uint8Array(32).fill(21));
        const app = witnessApp(witnessOf(st.sql, log, w), () => {});
        for (const [old, size] of [
          [0, 5],
          [5, 9],
        ] as const) {
          const body = formatAddCheckpoint({
            old,
            proof: old === 0 ? [] : await log.proof(old, size),
            checkpoint: log.checkpoint(size),
          });
          const res = await app.request("/add-checkpoint", { method: "POST", body });
          expect(res.status, await res.clone().text()).toBe(200);
        }
        // Unreconciled heads: upsert, clear, forget.
        await markUnreconciled(
          st.sql,
          { origin: log.origin, peer: "https://p", peerSize: null, reason: "r" },
          1,
        );
        await markUnreconciled(
          st.sql,
          { origin: log.origin, peer: "https://p", peerSize: 3, reason: "r2" },
          2,
        );
        await clearUnreconciled(st.sql, log.origin, "https://p");
        await forgetOtherPeers(st.sql, []);
        expect(await listUnreconciled(st.sql)).toEqual([]);
        // Evidence: recorded and listed.
        expect(
          await addEvidence(st.sql, {
            origin: "o",
            kind: "inconsistent",
            notes: ["a", "b"],
            detail: "d",
          }),
        ).toBe(true);
        expect(await listEvidence(st.sql)).toHaveLength(1);
        // Tiles kept for peers: the store's upsert and the held size.
        await st.sql.begin(async (tx) => {
          for (const width of [2, 4])
            await tx.query(
              `INSERT INTO witness_tiles (origin, level, idx, width, data) VALUES ($1, 0, 0, $2, $3)
                 ON CONFLICT (origin, level, idx) DO UPDATE SET width = excluded.width, data = excluded.data
                 WHERE witness_tiles.width < excluded.width`,
              [log.origin, width, new Uint8Array(width * 32)],
            );
          await tx.query(
            "UPDATE witness_logs SET tiles_size = $2 WHERE origin = $1 AND size >= $2 AND tiles_size <= $2",
            [log.origin, 4],
          );
        });
      } finally {
        await st.close();
      }
    });
  },
);
