// A data directory without a database gets it from a child process (db/embedded-create.ts), so a
// long-running server never holds the memory initdb took: the database is created, migrated and
// owner-only, the server opens it as after a restart, and a child that fails is an error that
// names the directory and why.
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { createEmbeddedApart } from "../../src/db/embedded-create.ts";
import { LOG_MIGRATIONS } from "../../src/db/migrate.ts";
import { openPglite } from "../../src/db/sql.ts";
import { openStorage } from "../../src/db/storage.ts";
import { takePidLock } from "../../src/lib/pid-lock.ts";

const root = mkdtempSync(join(tmpdir(), "tt-embedded-create-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe("creating the embedded database apart", () => {
  it("creates and migrates it in a child; it is owner-only and opens with its tables", {
    timeout: 120_000,
  }, async () => {
    const dir = join(root, "a", "db");
    await createEmbeddedApart(dir, LOG_MIGRATIONS);
    expect(readdirSync(dir)).toContain("PG_VERSION");
    expect(statSync(dir).mode & 0o777).toBe(0o700);
    expect(statSync(join(dir, "PG_VERSION")).mode & 0o077).toBe(0);
    const { sql } = await openPglite(dir);
    try {
      const rows = await sql.query<{ n: number }>(
        "SELECT count(*)::int AS n FROM drizzle.__drizzle_migrations",
      );
      expect(rows[0]!.n).toBeGreaterThan(0);
      const leaves = await sql.query<{ n: number }>("SELECT count(*)::int AS n FROM leaves");
      expect(leaves[0]!.n).toBe(0);
    } finally {
      await sql.close();
    }
  });

  it("serve's storage uses it for a new data directory and opens what it made", {
    timeout: 120_000,
  }, async () => {
    const dataDir = join(root, "b");
    const storage = await openStorage({ dataDir, createApart: true });
    try {
      expect(storage.kind).toBe("pglite");
      const r = await storage.sql.query<{ size: string }>("SELECT size FROM log_state");
      expect(r).toHaveLength(1);
    } finally {
      await storage.close();
    }
    // The creation happened in the child: with migrations that cannot be read, the child's exit
    // is what fails (in-process, drizzle's own error would).
    const broken = { folder: join(root, "no-migrations"), table: "x" };
    await expect(
      openStorage({ dataDir: join(root, "c"), createApart: true, migrations: broken }),
    ).rejects.toThrow(/creating the embedded database in .* failed \(exit 1\)/);
    await expect(openStorage({ dataDir: join(root, "d"), migrations: broken })).rejects.toThrow(
      /_journal\.json/,
    );
  });

  it("a database another live process is creating is not created twice", {
    timeout: 60_000,
  }, async () => {
    // As when a serve killed with SIGKILL left its child creating: that child holds the lock.
    const dir = join(root, "e", "db");
    mkdirSync(join(root, "e"), { recursive: true });
    const release = takePidLock(`${dir}.creating`, { mode: 0o600, held: () => new Error("held") });
    try {
      await expect(createEmbeddedApart(dir, LOG_MIGRATIONS)).rejects.toThrow(
        new RegExp(`is being created by another process \\(pid ${process.pid}\\)`),
      );
      expect(existsSync(join(dir, "PG_VERSION"))).toBe(false);
    } finally {
      release();
    }
  });

  it("a child that fails is an error naming the directory and the child's words", {
    timeout: 60_000,
  }, async () => {
    const file = join(root, "not-a-dir");
    writeFileSync(file, "x");
    await expect(createEmbeddedApart(join(file, "db"), LOG_MIGRATIONS)).rejects.toThrow(
      /creating the embedded database in .*not-a-dir\/db failed \(exit 1\): .*(ENOTDIR|EEXIST|not a directory)/s,
    );
  });
});
