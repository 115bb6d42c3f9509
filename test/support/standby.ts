// A throwaway PostgreSQL hot standby of the test server (DATABASE_URL), for tests of
// `serve --read-database-url`: pg_basebackup -R -X stream into a temporary directory owned by the
// postgres OS user, started with that server's own pg_ctl on a free port, stopped (-m immediate)
// and deleted afterwards, also when the test process exits early.
//
// Needs: the server on this machine with its binaries in /usr/lib/postgresql/<major>/bin, root
// (commands run through `runuser -u postgres`) or the postgres user itself, wal_level replica or
// logical, free WAL senders, and a pg_hba rule letting 127.0.0.1 open replication connections
// without a password. When that rule is missing and the pg_hba file is writable, ensureReplication
// appends one (marked, removed again by its undo) and reloads the configuration: a reload, never a
// restart, so other tests using the server are not disturbed.

import { execFile, execFileSync } from "node:child_process";
import { accessSync, constants, existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { chown, writeFile } from "node:fs/promises";
import { tmpdir, userInfo } from "node:os";
import { join } from "node:path";
import postgres from "postgres";
import { freePort } from "./wait.ts";

export interface Standby {
  /** The standby's URL: the primary's, with the standby's port. */
  url: string;
  port: number;
  dir: string;
  logFile: string;
  /** Stops the standby at once (pg_ctl stop -m immediate); idempotent. */
  stop(): Promise<void>;
  /** Stops it (if running) and deletes its directory; idempotent. */
  destroy(): Promise<void>;
}

const HBA_MARK = "# tmuxtrail test/support/standby.ts (temporary)";
const HBA_LINE = `host replication all 127.0.0.1/32 trust ${HBA_MARK}`;

function pgUid(): { uid: number; gid: number } | undefined {
  try {
    const uid = Number(execFileSync("id", ["-u", "postgres"], { encoding: "utf8" }).trim());
    const gid = Number(execFileSync("id", ["-g", "postgres"], { encoding: "utf8" }).trim());
    return { uid, gid };
  } catch {
    return undefined;
  }
}

const isRoot = () => process.getuid?.() === 0;
const isPostgresUser = () => userInfo().username === "postgres";

/** Runs a PostgreSQL binary as the postgres OS user, with a time limit. */
function asPostgres(
  bin: string,
  args: string[],
  timeoutMs: number,
): Promise<{ stdout: string; stderr: string }> {
  const [cmd, argv] = isRoot() ? ["runuser", ["-u", "postgres", "--", bin, ...args]] : [bin, args];
  return new Promise((resolve, reject) => {
    execFile(
      cmd as string,
      argv as string[],
      { timeout: timeoutMs, killSignal: "SIGKILL", encoding: "utf8" },
      (err, stdout, stderr) => {
        if (err) {
          reject(
            new Error(`${[bin, ...args].join(" ")}: ${err.message}\n${stderr}`.trim(), {
              cause: err,
            }),
          );
        } else resolve({ stdout, stderr });
      },
    );
  });
}

function admin(url: string) {
  return postgres(url, { max: 1, onnotice: () => {}, connect_timeout: 10 });
}

async function binDir(url: string): Promise<string> {
  const sql = admin(url);
  try {
    const [r] = await sql<{ v: string }[]>`SELECT current_setting('server_version_num') AS v`;
    return `/usr/lib/postgresql/${Math.floor(Number(r!.v) / 10000)}/bin`;
  } finally {
    await sql.end({ timeout: 5 });
  }
}

interface HbaRule {
  line_number: number;
  type: string;
  database: string[] | null;
  address: string | null;
  netmask: string | null;
  auth_method: string | null;
  error: string | null;
}

function ipv4(a: string): number | undefined {
  const m = /^(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(a);
  return m ? ((+m[1]! << 24) | (+m[2]! << 16) | (+m[3]! << 8) | +m[4]!) >>> 0 : undefined;
}

/** The first pg_hba rule a replication connection from 127.0.0.1 over TCP would match. */
function replicationRule(rules: HbaRule[]): HbaRule | undefined {
  return rules
    .filter((r) => r.error === null && r.type.startsWith("host") && r.type !== "hostssl")
    .filter((r) => r.database?.includes("replication"))
    .sort((a, b) => a.line_number - b.line_number)
    .find((r) => {
      if (r.address === "all" || r.address === "samehost") return true;
      const addr = r.address ? ipv4(r.address) : undefined;
      const mask = r.netmask ? ipv4(r.netmask) : undefined;
      if (addr === undefined || mask === undefined) return false;
      return (ipv4("127.0.0.1")! & mask) >>> 0 === (addr & mask) >>> 0;
    });
}

/**
 * Why a standby of `url` cannot be made here (a sentence for a loud skip), or undefined when it
 * can (possibly after ensureReplication adds the pg_hba rule).
 */
export async function standbyUnavailable(url: string): Promise<string | undefined> {
  if (!isRoot() && !isPostgresUser())
    return "neither root nor the postgres OS user: cannot run pg_basebackup/pg_ctl as postgres";
  if (isRoot() && !pgUid()) return "there is no postgres OS user";
  const host = new URL(url).hostname;
  if (!["127.0.0.1", "localhost", "::1", "[::1]"].includes(host))
    return `DATABASE_URL points to ${host}, not this machine`;
  let dir: string;
  try {
    dir = await binDir(url);
  } catch (e) {
    return `cannot query the primary: ${(e as Error).message}`;
  }
  for (const b of ["pg_ctl", "pg_basebackup"]) {
    if (!existsSync(join(dir, b))) return `${join(dir, b)} is missing`;
  }
  const sql = admin(url);
  try {
    const [s] = await sql<{ wal_level: string; senders: string; used: string; su: boolean }[]>`
      SELECT current_setting('wal_level') AS wal_level,
             current_setting('max_wal_senders') AS senders,
             (SELECT count(*) FROM pg_stat_replication)::text AS used,
             (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) AS su`;
    if (!s!.su) return "the DATABASE_URL user is not a superuser (needed for pg_hba_file_rules)";
    if (s!.wal_level === "minimal")
      return "the primary runs wal_level = minimal: a standby needs replica (changing it needs a restart)";
    if (Number(s!.senders) - Number(s!.used) < 3)
      return `max_wal_senders = ${s!.senders} with ${s!.used} in use: pg_basebackup -X stream and the standby need 3 (changing it needs a restart)`;
    const rules = await sql<HbaRule[]>`
      SELECT line_number, type, database, address, netmask, auth_method, error FROM pg_hba_file_rules`;
    const rule = replicationRule(rules);
    if (rule && rule.auth_method !== "trust" && !new URL(url).password) {
      return `pg_hba line ${rule.line_number} asks replication connections from 127.0.0.1 for ${rule.auth_method}, and DATABASE_URL has no password`;
    }
    if (!rule) {
      const [f] = await sql<{ hba: string }[]>`SELECT current_setting('hba_file') AS hba`;
      try {
        accessSync(f!.hba, constants.W_OK);
      } catch {
        return `pg_hba (${f!.hba}) has no replication rule for 127.0.0.1 and is not writable here`;
      }
    }
  } finally {
    await sql.end({ timeout: 5 });
  }
  return undefined;
}

/**
 * Makes sure replication connections from 127.0.0.1 are accepted: appends a marked trust rule to
 * pg_hba and reloads when no rule matches. Returns an undo that removes the rule it added.
 */
export async function ensureReplication(url: string): Promise<() => Promise<void>> {
  const sql = admin(url);
  try {
    const rules = await sql<HbaRule[]>`
      SELECT line_number, type, database, address, netmask, auth_method, error FROM pg_hba_file_rules`;
    if (replicationRule(rules)) return async () => {};
    const [f] = await sql<{ hba: string }[]>`SELECT current_setting('hba_file') AS hba`;
    const file = f!.hba;
    const text = readFileSync(file, "utf8");
    await writeFile(file, `${text.endsWith("\n") ? text : `${text}\n`}${HBA_LINE}\n`);
    await sql`SELECT pg_reload_conf()`;
    console.warn(`standby: added "${HBA_LINE}" to ${file} and reloaded PostgreSQL (removed after)`);
    return async () => {
      const now = readFileSync(file, "utf8");
      const kept = now
        .split("\n")
        .filter((l) => l !== HBA_LINE)
        .join("\n");
      if (kept === now) return;
      await writeFile(file, kept);
      const s = admin(url);
      try {
        await s`SELECT pg_reload_conf()`;
      } finally {
        await s.end({ timeout: 5 });
      }
    };
  } finally {
    await sql.end({ timeout: 5 });
  }
}

/** Settings a hot standby must hold at least at the primary's values (else it refuses to start). */
const MATCHED = [
  "max_connections",
  "max_worker_processes",
  "max_wal_senders",
  "max_prepared_transactions",
  "max_locks_per_transaction",
];

/**
 * Takes a base backup of the server at `primaryUrl` and starts it as a hot standby streaming from
 * it. Bounded: the backup and the start each give up after `timeoutMs`.
 */
export async function startStandby(primaryUrl: string, timeoutMs = 120_000): Promise<Standby> {
  const bin = await binDir(primaryUrl);
  const base = mkdtempSync(join(tmpdir(), "tmuxtrail-standby-"));
  const ids = isRoot() ? pgUid() : undefined;
  if (ids) await chown(base, ids.uid, ids.gid);
  const dir = join(base, "data");
  const logFile = join(base, "standby.log");
  const port = await freePort();
  let started = false;
  let destroyed = false;
  const stopSync = () => {
    if (!started) return;
    started = false;
    const args = [join(bin, "pg_ctl"), "-D", dir, "stop", "-m", "immediate", "-w", "-t", "30"];
    try {
      if (isRoot()) execFileSync("runuser", ["-u", "postgres", "--", ...args], { stdio: "ignore" });
      else execFileSync(args[0]!, args.slice(1), { stdio: "ignore" });
    } catch {
      // already stopped
    }
  };
  const onExit = () => {
    stopSync();
    rmSync(base, { recursive: true, force: true });
  };
  process.once("exit", onExit);
  const standby: Standby = {
    url: (() => {
      const u = new URL(primaryUrl);
      u.hostname = "127.0.0.1";
      u.port = String(port);
      return u.toString();
    })(),
    port,
    dir,
    logFile,
    async stop() {
      if (!started) return;
      started = false;
      await asPostgres(
        join(bin, "pg_ctl"),
        ["-D", dir, "stop", "-m", "immediate", "-w", "-t", "30"],
        60_000,
      ).catch(() => {});
    },
    async destroy() {
      if (destroyed) return;
      destroyed = true;
      await standby.stop();
      process.removeListener("exit", onExit);
      rmSync(base, { recursive: true, force: true });
    },
  };
  try {
    const sql = admin(primaryUrl);
    let settings: string;
    try {
      const rows = await sql<{ name: string; setting: string }[]>`
        SELECT name, setting FROM pg_settings WHERE name = ANY(${MATCHED})`;
      settings = rows.map((r) => `${r.name} = ${r.setting}`).join("\n");
    } finally {
      await sql.end({ timeout: 5 });
    }
    // A pg_hba rule just added takes effect once the postmaster has reloaded: retry briefly.
    for (let attempt = 1; ; attempt++) {
      try {
        await asPostgres(
          join(bin, "pg_basebackup"),
          ["-d", primaryUrl, "-D", dir, "-R", "-X", "stream", "-c", "fast", "--no-sync"],
          timeoutMs,
        );
        break;
      } catch (e) {
        rmSync(dir, { recursive: true, force: true });
        if (attempt >= 5 || !/pg_hba\.conf/.test((e as Error).message)) throw e;
        await new Promise((r) => setTimeout(r, 500));
      }
    }
    // Debian keeps the configuration outside the data directory: give the copy its own.
    const conf = [
      `port = ${port}`,
      "listen_addresses = '127.0.0.1'",
      `unix_socket_directories = '${base}'`,
      "hot_standby = on",
      "fsync = off",
      "shared_buffers = 32MB",
      "max_standby_streaming_delay = 30s",
      "wal_receiver_status_interval = 1s",
      settings,
      "", // postgresql.auto.conf (primary_conninfo, from -R) is read after this file
    ].join("\n");
    const files: [string, string][] = [
      ["postgresql.conf", conf],
      ["pg_hba.conf", "local all all trust\nhost all all 127.0.0.1/32 trust\n"],
      ["pg_ident.conf", ""],
    ];
    for (const [name, text] of files) {
      await writeFile(join(dir, name), text, { mode: 0o600 });
      if (ids) await chown(join(dir, name), ids.uid, ids.gid);
    }
    started = true;
    await asPostgres(
      join(bin, "pg_ctl"),
      ["-D", dir, "-o", `-p ${port} -k ${base}`, "-l", logFile, "-w", "-t", "60", "start"],
      timeoutMs,
    );
    // Wait until it is a standby that streams.
    const s = admin(standby.url);
    try {
      const deadline = Date.now() + 60_000;
      for (;;) {
        const [r] = await s<{ recovery: boolean; status: string | null }[]>`
          SELECT pg_is_in_recovery() AS recovery,
                 (SELECT status FROM pg_stat_wal_receiver) AS status`;
        if (!r!.recovery) throw new Error("the copy is not in recovery: not a standby");
        if (r!.status === "streaming") break;
        if (Date.now() > deadline) throw new Error(`the standby does not stream (${r!.status})`);
        await new Promise((res) => setTimeout(res, 100));
      }
    } finally {
      await s.end({ timeout: 5 });
    }
    return standby;
  } catch (e) {
    const log = existsSync(logFile) ? readFileSync(logFile, "utf8").slice(-2000) : "";
    await standby.destroy();
    throw new Error(`${(e as Error).message}${log ? `\nstandby log:\n${log}` : ""}`, { cause: e });
  }
}

/** Waits until the standby has replayed everything the primary had written when called. */
export async function waitReplayed(primaryUrl: string, standbyUrl: string, timeoutMs = 30_000) {
  const p = admin(primaryUrl);
  const s = admin(standbyUrl);
  try {
    const [{ lsn }] = (await p`SELECT pg_current_wal_lsn()::text AS lsn`) as [{ lsn: string }];
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const [r] = await s<{ done: boolean }[]>`
        SELECT pg_last_wal_replay_lsn() >= ${lsn}::pg_lsn AS done`;
      if (r!.done) return;
      if (Date.now() > deadline) throw new Error(`the standby did not replay up to ${lsn}`);
      await new Promise((res) => setTimeout(res, 50));
    }
  } finally {
    await Promise.all([p.end({ timeout: 5 }), s.end({ timeout: 5 })]);
  }
}
