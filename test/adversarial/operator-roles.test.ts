// An operator (or whoever takes over the log's process) with the log's database role: the
// append-only triggers hold only against a role that cannot disable them. The schema's owner can
// (ALTER TABLE ... DISABLE TRIGGER), so the owner role applies the migrations (`tmuxtrail migrate
// --grant-runtime`) and `serve` runs as a runtime role that owns nothing: it serves as before,
// cannot disable, drop or replace a trigger nor UPDATE/DELETE the log's rows, and `serve` warns
// when run as a role that can (issue 17, item 9; docs/operations.md, "PostgreSQL roles").
//
// PostgreSQL only: roles are PostgreSQL's (PGlite has one superuser, and its files are the
// operator's anyway). Each test database and role has a unique name, and all are dropped at the end.

import { randomBytes } from "node:crypto";
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import postgres from "postgres";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { LOG_MIGRATIONS, migratePostgresUrl } from "../../src/db/migrate.ts";
import { grantRuntime } from "../../src/db/roles.ts";
import { runCli } from "../support/cli.ts";
import { makeBatch } from "../support/events.ts";
import { ADMIN } from "../support/log.ts";
import { run } from "../support/proc.ts";
import { postEvents, serve, tempDir } from "../support/serve.ts";

const URL0 = process.env.DATABASE_URL;
const id = randomBytes(4).toString("hex");
const OWNER = `tt_owner_${id}`;
const RUNTIME = `tt_runtime_${id}`;
const DB = `tt_roles_${id}`;
const OLD_DB = `tt_roles_old_${id}`;

/** DATABASE_URL with another user and database. */
function urlFor(user: string | undefined, db: string): string {
  const u = new URL(URL0!);
  if (user) {
    u.username = user;
    u.password = "";
  }
  u.pathname = `/${db}`;
  return u.toString();
}

/**
 * docs/operations.md, "PostgreSQL roles": its shell block's superuser statements (`psql -c`; the
 * PostgreSQL 14 line left out), its `tmuxtrail migrate` arguments and its serve's DATABASE_URL,
 * with this test's role and database names and server.
 */
function docs(): { psql: string[]; migrate: string[]; serveUrl: string; warning: string } {
  const ops = readFileSync(new URL("../../docs/operations.md", import.meta.url), "utf8");
  const section = ops.split(/^### PostgreSQL roles$/m)[1]?.split(/^###? /m)[0] ?? "";
  const block = (/```sh\n([\s\S]*?)```/.exec(section)?.[1] ?? "").replace(/\\\n\s*/g, "");
  const names = (t: string) =>
    t
      .replaceAll("tmuxtrail_owner", OWNER)
      .replaceAll("tmuxtrail_runtime", RUNTIME)
      .replace(/DATABASE tmuxtrail\b/, `DATABASE ${DB}`);
  const url = (t: string) => {
    const m = /^postgres:\/\/([^@]+)@[^/]+\/(\w+)$/.exec(t);
    return m ? urlFor(names(m[1]!), m[2] === "tmuxtrail" ? DB : m[2]!) : names(t);
  };
  const lines = block.split("\n").map((l) => l.replace(/#.*$/, "").trim());
  const psql = lines
    .filter((l) => l.startsWith('psql -c "'))
    .map((l) => names(/"(.*)"/.exec(l)![1]!));
  const migrate = lines
    .find((l) => l.startsWith("tmuxtrail migrate "))!
    .split(/\s+/)
    .slice(1)
    .map(url);
  const serveLine = lines.find((l) => /tmuxtrail serve/.test(l))!;
  const serveUrl = url(/^DATABASE_URL=(\S+)/.exec(serveLine)![1]!);
  const warning = names(/^tmuxtrail: warning: the database role .*$/m.exec(section)?.[0] ?? "");
  return { psql, migrate, serveUrl, warning };
}

async function stop(p: ReturnType<typeof run>): Promise<void> {
  p.child.kill("SIGTERM");
  await p.exited;
}

/** The SQLSTATE a statement fails with, or "ok". */
async function outcome(c: postgres.Sql, text: string): Promise<string> {
  try {
    await c.begin(async (tx) => {
      await tx.unsafe(text);
      throw Object.assign(new Error("rolled back"), { code: "ok" });
    });
    return "ok";
  } catch (e) {
    return String((e as { code?: string }).code);
  }
}

describe.skipIf(!URL0)(
  "PostgreSQL roles: serve as a runtime role (skipped: needs DATABASE_URL, roles are PostgreSQL's)",
  () => {
    let admin: postgres.Sql;
    const data = tempDir("tt-roles-");
    const dirs: string[] = [data];

    beforeAll(async () => {
      admin = postgres(URL0!, { max: 1, onnotice: () => {} });
      // docs/operations.md's superuser statements, as written, with this test's names.
      const sql = docs().psql;
      expect(sql.length).toBe(3);
      for (const text of sql) await admin.unsafe(text);
      await admin.unsafe(`CREATE DATABASE ${OLD_DB} OWNER ${OWNER}`);
    }, 60_000);

    afterAll(async () => {
      for (const db of [DB, OLD_DB])
        await admin.unsafe(`DROP DATABASE IF EXISTS ${db} WITH (FORCE)`).catch(() => {});
      for (const r of [RUNTIME, OWNER]) await admin.unsafe(`DROP ROLE IF EXISTS ${r}`);
      await admin.end({ timeout: 5 });
      for (const d of dirs) rmSync(d, { recursive: true, force: true });
    }, 60_000);

    it("migrate as the owner with --grant-runtime; serve as the runtime role sequences, signs, serves tiles, erases, and does not warn", {
      timeout: 120_000,
    }, async () => {
      // docs/operations.md's migrate line, then serve with its runtime URL.
      const d = docs();
      const m = await runCli(d.migrate);
      expect(m.code, m.err).toBe(0);
      expect(m.out).toContain(`granted the runtime rights to role "${RUNTIME}"`);
      expect(d.serveUrl).toBe(urlFor(RUNTIME, DB));

      const s = await serve({ data, args: ["--database-url", d.serveUrl] });
      const batch = makeBatch(5);
      try {
        const res = await fetch(`${s.url}/v1/events?wait=checkpoint`, {
          method: "POST",
          headers: { Authorization: `Bearer ${ADMIN}`, "Content-Type": "application/json" },
          body: JSON.stringify(batch),
        });
        expect(res.status, await res.clone().text()).toBe(200);
        // The same stream position with another event: a 409, recorded in conflicts.
        const clash = await postEvents(s.url, makeBatch(1, 0, { content: "x" }));
        expect(clash.status).toBe(409);
        const cp = await (await fetch(`${s.url}/checkpoint`)).text();
        expect(cp.split("\n")[1]).toBe("5");
        const tile = await fetch(`${s.url}/tile/0/000.p/5`);
        expect(tile.status).toBe(200);
        expect((await tile.arrayBuffer()).byteLength).toBe(5 * 32);
        const auth = { Authorization: `Bearer ${ADMIN}`, "Content-Type": "application/json" };
        const key = await fetch(`${s.url}/v1/keys`, {
          method: "POST",
          headers: auth,
          body: JSON.stringify({ name: "reader", scopes: ["read"] }),
        });
        expect(key.status).toBe(201);
        const { id: keyId } = (await key.json()) as { id: string };
        const revoked = await fetch(`${s.url}/v1/keys/${keyId}`, {
          method: "DELETE",
          headers: auth,
        });
        expect(revoked.status).toBeLessThan(300);
        const erased = await fetch(`${s.url}/v1/erasures`, {
          method: "POST",
          headers: auth,
          body: JSON.stringify({ before: "2026-12-01T00:00:00Z", reason: "test" }),
        });
        expect(erased.status, await erased.clone().text()).toBeLessThan(300);
        // An agent's retry of erased events: duplicates, their new slots emptied by the sequencer
        // and their command_payloads rows deleted by the command_payloads_stay_erased trigger, as
        // the runtime role.
        const again = await postEvents(s.url, batch);
        expect(again.status, await again.clone().text()).toBe(200);
        const sessions = await fetch(`${s.url}/v1/sessions`, { headers: auth });
        expect(sessions.status).toBe(200);
        expect(s.proc.stderr()).not.toMatch(/append-only triggers|warning: could not check/);
      } finally {
        await stop(s.proc);
      }
    });

    it("the runtime role cannot disable, drop or replace a trigger, nor UPDATE/DELETE/TRUNCATE the log's rows; the owner could", {
      timeout: 60_000,
    }, async () => {
      const rt = postgres(urlFor(RUNTIME, DB), { max: 1, onnotice: () => {} });
      const owner = postgres(urlFor(OWNER, DB), { max: 1, onnotice: () => {} });
      const leaves = async () =>
        (await rt<{ n: number }[]>`SELECT count(*)::int AS n FROM leaves`)[0]?.n;
      try {
        const before = await leaves();
        expect(before).toBeGreaterThanOrEqual(5);
        const attacks = [
          "ALTER TABLE leaves DISABLE TRIGGER leaves_place_once",
          "ALTER TABLE batches DISABLE TRIGGER batches_delete_orphan_only",
          "ALTER TABLE leaves DISABLE TRIGGER ALL",
          "ALTER TABLE batches DISABLE TRIGGER USER",
          "DROP TRIGGER leaves_no_delete ON leaves",
          "DROP TRIGGER batches_contents_versioned ON batches",
          "CREATE OR REPLACE FUNCTION tmuxtrail_refuse() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN OLD; END $$",
          "DROP TABLE leaves CASCADE",
          "ALTER TABLE leaves RENAME TO leaves_old",
          "SET session_replication_role = replica",
          "UPDATE leaves SET leaf_hash = '\\x00'",
          "DELETE FROM leaves",
          "TRUNCATE leaves",
          "UPDATE batches SET leaves = '\\x00'",
          "UPDATE batches SET contents = '\\x00'",
          "UPDATE batches SET integrated = false",
          "DELETE FROM batches",
          "TRUNCATE batches",
          "DELETE FROM checkpoints",
          "UPDATE cosignatures SET line = ''",
          "DELETE FROM tiles",
          "DELETE FROM log_state",
          "DELETE FROM erased_leaves",
          "DELETE FROM api_keys",
          "UPDATE command_payloads SET content = '\\x00'",
          "TRUNCATE command_payloads",
          "CREATE TABLE leaves_copy (x int)",
        ];
        const got = await Promise.all(attacks.map(async (a) => [a, await outcome(rt, a)]));
        expect(Object.fromEntries(got)).toEqual(
          Object.fromEntries(attacks.map((a) => [a, "42501"])), // insufficient_privilege
        );
        // The leaves are still there, whole.
        expect(await leaves()).toBe(before);
        // The 409 of the first test was recorded (a best-effort insert: it would fail silently
        // without INSERT on conflicts, or a right on its identity sequence if one were needed).
        const conflicts = await owner<{ n: number }[]>`SELECT count(*)::int AS n FROM conflicts`;
        expect(conflicts[0]?.n).toBe(1);
        // The owner role can: that is why serve must not run as it (the triggers still refuse
        // its UPDATE while they are enabled).
        expect(await outcome(owner, "ALTER TABLE leaves DISABLE TRIGGER leaves_no_delete")).toBe(
          "ok",
        );
        expect(await outcome(owner, "UPDATE leaves SET leaf_hash = leaf_hash")).toBe("42501");
      } finally {
        await rt.end({ timeout: 5 });
        await owner.end({ timeout: 5 });
      }
    });

    it("serve warns in one line when its role can disable the triggers: the owner, a superuser", {
      timeout: 120_000,
    }, async () => {
      for (const [user, why] of [
        [OWNER, /\(it owns the tables; it owns the trigger functions; it owns the schema public\)/],
        [undefined, /it is a superuser/],
      ] as const) {
        const s = await serve({ data, args: ["--database-url", urlFor(user, DB)] });
        await stop(s.proc);
        const lines = s.proc.stderr().split("\n");
        const warning = lines.filter((l) => /append-only triggers/.test(l));
        expect(warning, s.proc.stderr()).toHaveLength(1);
        const role = user ?? new URL(URL0!).username;
        expect(warning[0]).toContain(
          `tmuxtrail: warning: the database role "${role}" can disable the log's append-only triggers`,
        );
        expect(warning[0]).toMatch(why);
        expect(warning[0]).toContain('docs/operations.md, "PostgreSQL roles"');
        // As the owner: the very line docs/operations.md shows.
        if (user === OWNER) expect(warning[0]).toBe(docs().warning);
      }
    });

    it("pending migrations as the runtime role: serve runs no DDL and exits 2 with one line naming `tmuxtrail migrate`", {
      timeout: 120_000,
    }, async () => {
      // A database at the schema before 0003 (an older tmuxtrail), granted as it was then.
      const root = fileURLToPath(new URL("../..", import.meta.url));
      const dir = join(mkdtempSync(join(tmpdir(), "tt-roles-pre-0003-")), "drizzle");
      dirs.push(join(dir, ".."));
      cpSync(join(root, "drizzle"), dir, { recursive: true });
      rmSync(join(dir, "0003_erased_leaves.sql"));
      const journalFile = join(dir, "meta", "_journal.json");
      const journal = JSON.parse(readFileSync(journalFile, "utf8"));
      journal.entries = journal.entries.filter((e: { idx: number }) => e.idx < 3);
      writeFileSync(journalFile, JSON.stringify(journal));
      const old = { ...LOG_MIGRATIONS, folder: dir };
      await migratePostgresUrl(urlFor(OWNER, OLD_DB), undefined, old);
      const owner = postgres(urlFor(OWNER, OLD_DB), { max: 1, onnotice: () => {} });
      try {
        await owner`INSERT INTO log_state (id, size, root, right_edge) VALUES (1, 0, ${Buffer.from("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", "hex")}, ${Buffer.alloc(0)})`;
      } finally {
        await owner.end({ timeout: 5 });
      }
      // The grants of the tables that existed then (erased_leaves did not).
      const grantOld = postgres(urlFor(OWNER, OLD_DB), { max: 1, onnotice: () => {} });
      try {
        await grantOld.unsafe(`GRANT USAGE ON SCHEMA drizzle TO ${RUNTIME}`);
        await grantOld.unsafe(`GRANT SELECT ON drizzle.__drizzle_migrations TO ${RUNTIME}`);
        await grantOld.unsafe(
          `GRANT SELECT, INSERT, UPDATE ON ALL TABLES IN SCHEMA public TO ${RUNTIME}`,
        );
      } finally {
        await grantOld.end({ timeout: 5 });
      }

      const oldData = tempDir("tt-roles-old-");
      dirs.push(oldData);
      const p = run(
        ["serve", "--port", "0", "--data", oldData, "--database-url", urlFor(RUNTIME, OLD_DB)],
        { TMUXTRAIL_ADMIN_TOKEN: ADMIN },
      );
      expect(await p.exited).toBe(2);
      const err = p.stderr().trim();
      expect(err.split("\n"), err).toHaveLength(1);
      expect(err).toContain(`role "${RUNTIME}" may not apply`);
      expect(err).toContain(
        `run \`tmuxtrail migrate --database-url URL --grant-runtime ${RUNTIME}\` with URL naming the schema's owner role`,
      );
      // Nothing was applied by the runtime role.
      const check = postgres(urlFor(OWNER, OLD_DB), { max: 1, onnotice: () => {} });
      try {
        const t = await check<
          { t: string | null }[]
        >`SELECT to_regclass('erased_leaves')::text AS t`;
        expect(t[0]?.t).toBeNull();
      } finally {
        await check.end({ timeout: 5 });
      }

      // The owner applies them and grants; the runtime role then starts.
      const m = await runCli([
        "migrate",
        "--database-url",
        urlFor(OWNER, OLD_DB),
        "--grant-runtime",
        RUNTIME,
      ]);
      expect(m.code, m.err).toBe(0);
      // 0003 and every migration after it (0004, issue 19's window index).
      const later = JSON.parse(
        readFileSync(join(root, "drizzle", "meta", "_journal.json"), "utf8"),
      ).entries.filter((e: { idx: number }) => e.idx >= 3).length;
      expect(m.out).toContain(`(${later} pending)`);
      const s = await serve({ data: oldData, args: ["--database-url", urlFor(RUNTIME, OLD_DB)] });
      await stop(s.proc);
      expect(s.proc.stderr()).not.toMatch(/append-only triggers/);
    });

    it("grantRuntime refuses a role that does not exist", async () => {
      await expect(grantRuntime(urlFor(OWNER, DB), `tt_nobody_${id}`)).rejects.toThrow(
        /does not exist/,
      );
    });
  },
);
