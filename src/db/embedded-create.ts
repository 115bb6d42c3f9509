// Creating the embedded database in a process of its own. PGlite's initdb and the first
// migrations grow the process's memory to ~800 MB, and neither its WebAssembly memory nor the
// C library's heaps give it back: an idle `serve` that created its database held 360–690 MB for
// its life, one that opened an existing database ~205 MB (docs/performance.md, "The embedded
// database's memory"). So a data directory without a database gets it from a short-lived child
// (`node -e` importing this module and calling what it registers), and `serve` then opens what is
// on disk, as after a restart. The child runs the same code as the parent: this module's own file
// (the built chunk, or the source under tsx's loader). Importing the module does nothing but
// register the function, so no environment can make another process create a database.

import { spawn } from "node:child_process";
import { mkdirSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname } from "node:path";
import { pathToFileURL } from "node:url";
import { takePidLock } from "../lib/pid-lock.ts";
import { type Migrations, migratePgliteDb } from "./migrate.ts";
import { openPglite } from "./sql.ts";

/** Where this module leaves, on import, the function the child calls. */
const CREATE = Symbol.for("tmuxtrail.createEmbeddedDatabase");

/**
 * The child's work: create (initdb) and migrate the database in `dir`, and close it, holding
 * `<dir>.creating` (its own pid) meanwhile. The parent holds the data directory's lock, but a
 * parent killed with SIGKILL leaves its child running with that lock stale: another `serve` then
 * takes the directory, and its own child finds this lock held and stops, instead of a second
 * initdb in the same directory.
 */
async function createHere(dir: string, m: Migrations): Promise<void> {
  mkdirSync(dirname(dir), { recursive: true, mode: 0o700 });
  const release = takePidLock(`${dir}.creating`, {
    mode: 0o600,
    held: (pid = "unknown") =>
      new Error(`${dir} is being created by another process (pid ${pid}); try again when it ends`),
  });
  try {
    const { sql, pg } = await openPglite(dir);
    await migratePgliteDb(pg, m);
    await sql.close();
  } finally {
    release();
  }
}
(globalThis as Record<symbol, unknown>)[CREATE] = createHere;

/** Creates and migrates the embedded database in `dir` in a child process; throws its error. */
export async function createEmbeddedApart(dir: string, m: Migrations): Promise<void> {
  const url = new URL(import.meta.url);
  const loader = url.pathname.endsWith(".ts")
    ? ["--import", pathToFileURL(createRequire(url).resolve("tsx")).href]
    : [];
  const job = JSON.stringify([dir, m]);
  const code = [
    `await import(${JSON.stringify(url.href)});`,
    `await globalThis[Symbol.for("tmuxtrail.createEmbeddedDatabase")](...${job});`,
    "process.exit(0);",
  ].join(" ");
  const child = spawn(process.execPath, [...loader, "--input-type=module", "-e", code], {
    stdio: ["ignore", "ignore", "pipe"],
  });
  let err = "";
  child.stderr!.on("data", (d) => {
    err += d;
  });
  // The child goes with its parent: a signal that ends the parent is passed on first (the parent
  // has no handler of its own yet while it starts), and a child that outlives CREATE_TIMEOUT_MS
  // is killed rather than holding the data directory for ever.
  const pass = (signal: NodeJS.Signals) => {
    child.kill(signal);
    process.kill(process.pid, signal);
  };
  const signals = ["SIGTERM", "SIGINT", "SIGHUP"] as const;
  for (const sig of signals) process.once(sig, pass);
  const timer = setTimeout(() => child.kill("SIGKILL"), CREATE_TIMEOUT_MS);
  try {
    const { code: exit, signal } = await new Promise<{
      code: number | null;
      signal: NodeJS.Signals | null;
    }>((resolve, reject) => {
      child.on("error", reject);
      child.on("exit", (code, signal) => resolve({ code, signal }));
    });
    if (exit !== 0) {
      const how = signal ? `killed by ${signal}` : `exit ${exit}`;
      throw new Error(
        `creating the embedded database in ${dir} failed (${how}): ${err.trim() || "no message"}`,
      );
    }
  } finally {
    clearTimeout(timer);
    for (const sig of signals) process.off(sig, pass);
  }
}

/** How long creating the database may take: seconds normally, minutes on a very slow disk. */
const CREATE_TIMEOUT_MS = 10 * 60_000;
