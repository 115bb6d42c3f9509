// The attacker is another user on the log's host (`nobody`, through runuser; these tests run as
// root, the operator), or the host itself misbehaving around the data directory: a loose umask,
// a directory left open by an older version, a planted symbolic link, a supervisor restarting a
// killed server before init has reaped it, two servers started at once on one directory.
// The data directory holds the signer key, the admin token and the embedded database (every
// event with its content, the WAL with what was written lately), so no other user may read or
// change anything in it, and one process at a time may use it.
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import {
  chmodSync,
  chownSync,
  existsSync,
  mkdirSync,
  readFileSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterEach, describe, expect, it } from "vitest";
import { takePidLock, UnreadableLockError } from "../../src/lib/pid-lock.ts";
import { openTestDb } from "../support/db.ts";
import { makeBatch } from "../support/events.ts";
import { ORIGIN, TEST_KEY } from "../support/log.ts";
import { asNobody, canActAsOther, modes } from "../support/private.ts";
import { BIN, type Proc, run } from "../support/proc.ts";
import { postEvents, type Served, serve, tempDir } from "../support/serve.ts";
import { until } from "../support/wait.ts";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const PID_LOCK = join(ROOT, "src", "lib/pid-lock.ts");
const SECRET = "hunter2-db-password";
const pg = Boolean(process.env.DATABASE_URL);

const started: { kill(): void }[] = [];
const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const s of started.splice(0)) s.kill();
  for (const c of cleanups.splice(0)) await c();
});

/** Starts `serve` (embedded database unless `schema`) with umask 000 for the whole process. */
async function serveUmask000(data: string, opts: { schema?: string } = {}): Promise<Served> {
  const prev = process.umask(0);
  let s: Promise<Served>;
  try {
    s = serve({ data, schema: opts.schema });
  } finally {
    process.umask(prev);
  }
  const served = await s;
  started.push({ kill: () => served.proc.child.kill("SIGKILL") });
  return served;
}

async function stop(s: Served): Promise<void> {
  s.proc.child.kill("SIGTERM");
  await s.proc.exited;
}

/** The exit code of a process expected to refuse to start, or "running" after `ms`. */
async function refusal(p: Proc, ms = 30_000): Promise<number | null | "running"> {
  const r = await Promise.race([
    p.exited,
    new Promise<"running">((res) => setTimeout(() => res("running"), ms)),
  ]);
  if (r === "running") p.child.kill("SIGKILL");
  return r;
}

const loose = (m: Record<string, string>, dirs: Set<string>) =>
  Object.entries(m).filter(([p, mode]) => mode !== (dirs.has(p) ? "700" : "600"));

function dirsUnder(dir: string, m: Record<string, string>): Set<string> {
  const out = new Set<string>();
  for (const p of Object.keys(m)) {
    const r = spawnSync("test", ["-d", join(dir, p)]);
    if (r.status === 0) out.add(p);
  }
  return out;
}

/** A pid that is certainly gone (a child already reaped). */
const gonePid = () => spawnSync(process.execPath, ["-e", ""]).pid!;

describe.skipIf(!canActAsOther)(
  "another user on the host, against the log's data directory",
  () => {
    it("cannot read or change anything the log keeps: serve under umask 000 keeps every directory 0700 and every file 0600, after writes, and nobody reads the key, the token or an event's content", {
      timeout: 180_000,
    }, async () => {
      const root = tempDir("tt-lu-log-");
      chmodSync(root, 0o755); // nobody can reach the data directory: a refusal comes from it alone
      const data = join(root, "data");
      // On PostgreSQL the directory holds the key and the token; embedded, the database too.
      const db = pg ? await openTestDb() : undefined;
      cleanups.push(async () => db?.close());
      const s = await serveUmask000(data, { schema: db?.schema });
      const res = await postEvents(
        s.url,
        makeBatch(200, 0, { host: "victim", content: `export PGPASSWORD=${SECRET}\n` }),
      );
      expect(res.status).toBe(200);
      await stop(s); // the shutdown writes too (a last checkpoint, the database's own files)
      const m = modes(data);
      expect(Object.keys(m).length).toBeGreaterThanOrEqual(pg ? 2 : 500); // (. and log.key)
      expect(loose(m, dirsUnder(data, m))).toEqual([]);
      if (!pg) expect(spawnSync("grep", ["-rlF", SECRET, data]).stdout.length).toBeGreaterThan(0);
      const probe = asNobody(
        `cat ${data}/admin.token; cat ${data}/log.key; ls ${data}; grep -rlF ${SECRET} ${data}; touch ${data}/x`,
      );
      expect(probe.stdout).toBe("");
      expect(probe.stderr).toMatch(/Permission denied/);
      expect(existsSync(join(data, "x"))).toBe(false);
    });

    it("cannot keep what an older version left open: a data directory of 0777 and 0666 files is tightened at start, with a warning naming what", {
      timeout: 180_000,
    }, async () => {
      const root = tempDir("tt-lu-open-");
      chmodSync(root, 0o755);
      const data = join(root, "data");
      mkdirSync(join(data, "db"), { recursive: true });
      chmodSync(data, 0o777);
      chmodSync(join(data, "db"), 0o777);
      writeFileSync(join(data, "admin.token"), "tt_left_open_by_an_old_version\n", { mode: 0o666 });
      chmodSync(join(data, "admin.token"), 0o666);
      expect(asNobody(`cat ${data}/admin.token`).stdout).toContain("tt_left_open");
      const s = await serveUmask000(data);
      expect(s.proc.stderr()).toMatch(/PERMISSIONS: the data directory .* tightened to owner-only/);
      expect(s.proc.stderr()).toMatch(/admin\.token 0666→0600/);
      expect(s.proc.stderr()).toMatch(/the directory 0777→0700/);
      const m = modes(data);
      expect(loose(m, dirsUnder(data, m))).toEqual([]);
      expect(asNobody(`cat ${data}/admin.token`).stdout).toBe("");
      await stop(s);
    });

    it("cannot hand the log a data directory: one that is a symbolic link, owned by another user, or holding a planted link is refused", {
      timeout: 180_000,
    }, async () => {
      const root = tempDir("tt-lu-planted-");
      chmodSync(root, 0o755);
      const theirs = join(root, "theirs");
      mkdirSync(theirs, { mode: 0o777 });
      chownSync(theirs, 65534, 65534);
      const link = join(root, "link");
      symlinkSync(theirs, link);
      const inside = join(root, "inside");
      mkdirSync(inside, { mode: 0o700 });
      symlinkSync(theirs, join(inside, "db"));
      const cases: [string, RegExp][] = [
        [link, /the directory is a symbolic link \(if it is yours, give --data its target\)/],
        [theirs, /owned by uid 65534/],
        [inside, /db is a symbolic link/],
      ];
      const procs = cases.map(([dir]) =>
        run(["serve", "--port", "0", "--data", dir], { DATABASE_URL: "" }),
      );
      for (const [i, [, why]] of cases.entries()) {
        const p = procs[i]!;
        expect(await refusal(p)).toBe(2);
        expect(p.stderr()).toMatch(why);
      }
      expect(spawnSync("ls", ["-A", theirs]).stdout.toString()).toBe(""); // nothing written there
    });

    it("cannot read the witness's key or state either: the witness's data directory is owner-only under umask 000", {
      timeout: 180_000,
    }, async () => {
      const root = tempDir("tt-lu-witness-");
      chmodSync(root, 0o755);
      const data = join(root, "wdata");
      const prev = process.umask(0);
      let w: Proc;
      try {
        w = run(
          ["witness", "--port", "0", "--data", data, "--log", `${ORIGIN}=${TEST_KEY.verifierKey}`],
          {
            DATABASE_URL: "",
          },
        );
      } finally {
        process.umask(prev);
      }
      started.push({ kill: () => w.child.kill("SIGKILL") });
      const out = await Promise.race([
        w.waitFor(/listening on/, 60_000).then(() => "listening"),
        w.exited.then(() => `exited: ${w.stderr()}`),
      ]);
      expect(out).toBe("listening");
      w.child.kill("SIGTERM");
      await w.exited;
      const m = modes(data);
      expect(Object.keys(m).length).toBeGreaterThan(500);
      expect(loose(m, dirsUnder(data, m))).toEqual([]);
      expect(asNobody(`cat ${data}/witness.key; ls ${data}/db`).stdout).toBe("");
    });
  },
);

/** Runs `body` (TypeScript with `takePidLock` in scope) in a child process. */
function lockChild(body: string, args: string[] = []): ChildProcess {
  const code = `import { takePidLock } from ${JSON.stringify(PID_LOCK)};\n${body}`;
  // (-e with --input-type=module: the first argument after the code is process.argv[1].)
  return spawn(process.execPath, ["--import", "tsx", "--input-type=module", "-e", code, ...args], {
    cwd: ROOT,
    stdio: ["ignore", "pipe", "pipe"],
  });
}

const held = (pid?: string) => new Error(`held by ${pid ?? "?"}`);

describe("one process per data directory", () => {
  it("a restart right after kill -9 takes the directory while the killed server is still an unreaped zombie", {
    timeout: 180_000,
  }, async () => {
    const data = tempDir("tt-zombie-");
    // The server's parent is a process that never waits for it (exec'd sleep): killed, it stays
    // a zombie, as under a supervisor whose init reaps slowly.
    const pidFile = join(data, "..", `${data.split("/").pop()}.pid`);
    const out = join(data, "..", `${data.split("/").pop()}.out`);
    const parent = spawn(
      "sh",
      [
        "-c",
        `"${process.execPath}" "${BIN}" serve --port 0 --data "${data}" >"${out}" 2>&1 & echo $! >"${pidFile}"; exec sleep 300`,
      ],
      { env: { ...process.env, DATABASE_URL: "", TMUXTRAIL_ADMIN_TOKEN: "tt_zombie_admin" } },
    );
    started.push({ kill: () => parent.kill("SIGKILL") });
    await until(
      () => existsSync(out) && /listening on/.test(readFileSync(out, "utf8")),
      60_000,
      "the first serve listening",
    );
    const pid = Number(readFileSync(pidFile, "utf8"));
    expect(readFileSync(join(data, ".lock"), "utf8").split("\n")[0]).toBe(String(pid));
    process.kill(pid, "SIGKILL");
    await until(
      () => /\) Z /.test(readFileSync(`/proc/${pid}/stat`, "utf8")),
      10_000,
      "the killed serve a zombie",
    );
    const again = run(["serve", "--port", "0", "--data", data], {
      DATABASE_URL: "",
      TMUXTRAIL_ADMIN_TOKEN: "tt_zombie_admin",
    });
    started.push({ kill: () => again.child.kill("SIGKILL") });
    const r = await Promise.race([
      again.waitFor(/listening on/, 60_000).then(() => "listening"),
      again.exited.then(() => `exited: ${again.stderr()}`),
    ]);
    expect(r).toBe("listening");
    expect(/\) Z /.test(readFileSync(`/proc/${pid}/stat`, "utf8"))).toBe(true); // still unreaped
    again.child.kill("SIGTERM");
    await again.exited;
  });

  it("a zombie owner's lock is taken; a live owner's is not", async () => {
    const dir = tempDir("tt-zlock-");
    const file = join(dir, ".lock");
    // The owner takes the lock and exits; its parent (an exec'd sleep) never reaps it.
    const parent = spawn(
      "sh",
      [
        "-c",
        `"${process.execPath}" --import tsx --input-type=module -e 'import { takePidLock } from ${JSON.stringify(PID_LOCK)}; takePidLock(process.argv[1], { mode: 0o600, held: () => new Error("held") })' "${file}" & exec sleep 300`,
      ],
      { cwd: ROOT },
    );
    started.push({ kill: () => parent.kill("SIGKILL") });
    await until(
      () => existsSync(file) && readFileSync(file, "utf8").length > 0,
      30_000,
      "the lock written",
    );
    const owner = Number(readFileSync(file, "utf8").split("\n")[0]);
    await until(
      () => /\) Z /.test(readFileSync(`/proc/${owner}/stat`, "utf8")),
      30_000,
      "the lock's owner a zombie",
    );
    // A live owner (a child that holds a lock of its own and sleeps) keeps its lock.
    const live = lockChild(
      `takePidLock(process.argv[1], { mode: 0o600, held: () => new Error("held") }); setTimeout(() => {}, 60_000);`,
      [join(dir, "live.lock")],
    );
    started.push({ kill: () => live.kill("SIGKILL") });
    await until(() => existsSync(join(dir, "live.lock")), 30_000, "the live owner's lock");
    expect(() => takePidLock(join(dir, "live.lock"), { mode: 0o600, held })).toThrow(
      `held by ${live.pid}`,
    );
    // The zombie's is taken.
    const release = takePidLock(file, { mode: 0o600, held });
    expect(readFileSync(file, "utf8").split("\n")[0]).toBe(String(process.pid));
    release();
    expect(existsSync(file)).toBe(false);
  });

  it("of processes racing for a lock, free or left by a dead owner, exactly one wins every round", {
    timeout: 180_000,
  }, async () => {
    const dir = tempDir("tt-race-");
    const ROUNDS = 150;
    const gone = gonePid();
    for (let r = 0; r < ROUNDS; r++) {
      // Even rounds: a dead owner's lock to take over; odd rounds: no lock yet.
      if (r % 2 === 0) writeFileSync(join(dir, `${r}.lock`), `${gone}\n`);
    }
    // Each child says it is ready, starts round r at go + 15·r ms, prints what it got, and holds
    // every lock it won until all have printed (an exited winner's lock is rightly taken over).
    const body = `
      import { existsSync, readFileSync, writeFileSync } from "node:fs";
      const [dir, rounds] = [process.argv[1], Number(process.argv[2])];
      writeFileSync(dir + "/ready." + process.pid, "");
      let go;
      while (go === undefined) { try { go = Number(readFileSync(dir + "/go", "utf8")); } catch {} }
      const results = [];
      for (let r = 0; r < rounds; r++) {
        while (Date.now() < go + r * 15) {}
        try {
          takePidLock(dir + "/" + r + ".lock", { mode: 0o600, held: () => new Error("held") });
          results.push("won");
        } catch (e) {
          results.push(e.message === "held" ? "held" : "error: " + e.message);
        }
      }
      console.log(JSON.stringify(results));
      const wait = setInterval(() => { if (existsSync(dir + "/done")) clearInterval(wait); }, 20);`;
    const children = [0, 1, 2, 3].map(() => lockChild(body, [dir, String(ROUNDS)]));
    for (const c of children) started.push({ kill: () => c.kill("SIGKILL") });
    const exits = children.map((c) => new Promise((r) => c.on("exit", r)));
    await until(
      () => children.every((c) => existsSync(join(dir, `ready.${c.pid}`))),
      60_000,
      "every child ready",
    );
    writeFileSync(join(dir, "go"), String(Date.now() + 200));
    const lines = children.map(
      (c) =>
        new Promise<string[]>((resolve, reject) => {
          let out = "";
          let err = "";
          c.stdout!.on("data", (d) => {
            out += d;
            if (out.includes("\n")) resolve(JSON.parse(out) as string[]);
          });
          c.stderr!.on("data", (d) => (err += d));
          c.on("exit", (code) => reject(new Error(`exited ${code}: ${err}`)));
        }),
    );
    const results = await Promise.all(lines);
    writeFileSync(join(dir, "done"), "");
    await Promise.all(exits);
    const wrong: string[] = [];
    for (let r = 0; r < ROUNDS; r++) {
      const round = results.map((x) => x[r]!);
      const won = round.filter((x) => x === "won").length;
      if (won !== 1 || round.some((x) => x.startsWith("error")))
        wrong.push(`round ${r}: ${round.join(", ")}`);
    }
    expect(wrong).toEqual([]);
  });

  it("a lock whose owner cannot be read is never deleted: it is refused, naming the file", () => {
    const dir = tempDir("tt-unreadable-");
    for (const text of ["", "not a pid\n", "12ab\n"]) {
      const file = join(dir, ".lock");
      writeFileSync(file, text);
      expect(() => takePidLock(file, { mode: 0o600, held })).toThrow(UnreadableLockError);
      expect(() => takePidLock(file, { mode: 0o600, held })).toThrow(file);
      expect(readFileSync(file, "utf8")).toBe(text);
    }
  });

  it("a lock naming a live process whose start time differs (the pid was reused) or another boot is taken", () => {
    const dir = tempDir("tt-reused-");
    const file = join(dir, ".lock");
    const boot = readFileSync("/proc/sys/kernel/random/boot_id", "utf8").trim();
    // The parent of this worker is alive, but it did not start at clock tick 1.
    writeFileSync(file, `${process.ppid}\n${boot} 1\n`);
    takePidLock(file, { mode: 0o600, held })();
    writeFileSync(file, `${process.ppid}\n00000000-0000-0000-0000-000000000000 1\n`);
    takePidLock(file, { mode: 0o600, held })();
    // Without a start time, a live pid holds it.
    writeFileSync(file, `${process.ppid}\n`);
    expect(() => takePidLock(file, { mode: 0o600, held })).toThrow(`held by ${process.ppid}`);
  });
});
