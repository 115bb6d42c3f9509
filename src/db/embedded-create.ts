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
import { createRequire } from "node:module";
import { pathToFileURL } from "node:url";
import { type Migrations, migratePgliteDb } from "./migrate.ts";
import { openPglite } from "./sql.ts";

/** Where this module leaves, on import, the function the child calls. */
const CREATE = Symbol.for("tmuxtrail.createEmbeddedDatabase");

/** The child's work: create (initdb) and migrate the database in `dir`, and close it. */
async function createHere(dir: string, m: Migrations): Promise<void> {
  const { sql, pg } = await openPglite(dir);
  await migratePgliteDb(pg, m);
  await sql.close();
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
  const exit = await new Promise<number | null>((resolve, reject) => {
    child.on("error", reject);
    child.on("exit", resolve);
  });
  if (exit !== 0) {
    throw new Error(
      `creating the embedded database in ${dir} failed (exit ${exit}): ${err.trim()}`,
    );
  }
}
