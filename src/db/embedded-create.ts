// Creating the embedded database in a process of its own. PGlite's initdb and the first
// migrations grow the process's memory to ~800 MB, and neither its WebAssembly memory nor the
// C library's heaps give it back: an idle `serve` that created its database held 360–690 MB for
// its life, one that opened an existing database ~205 MB (docs/performance.md, "The embedded
// database's memory"). So a data directory without a database gets it from a short-lived child
// (this module, run by `node -e`), and `serve` then opens what is on disk, as after a restart.
// The child is the same code as the parent: this module's own file (the built chunk, or the
// source under tsx's loader).

import { spawn } from "node:child_process";
import { createRequire } from "node:module";
import { pathToFileURL } from "node:url";
import { type Migrations, migratePgliteDb } from "./migrate.ts";
import { openPglite } from "./sql.ts";

const CREATE = "TMUXTRAIL_CREATE_EMBEDDED_DATABASE";

/** Creates and migrates the embedded database in `dir` in a child process; throws its error. */
export async function createEmbeddedApart(dir: string, m: Migrations): Promise<void> {
  const url = new URL(import.meta.url);
  const loader = url.pathname.endsWith(".ts")
    ? ["--import", pathToFileURL(createRequire(url).resolve("tsx")).href]
    : [];
  const child = spawn(
    process.execPath,
    [...loader, "--input-type=module", "-e", `await import(${JSON.stringify(url.href)});`],
    {
      env: { ...process.env, [CREATE]: JSON.stringify({ dir, m }) },
      stdio: ["ignore", "ignore", "pipe"],
    },
  );
  let err = "";
  child.stderr!.on("data", (d) => {
    err += d;
  });
  const code = await new Promise<number | null>((resolve, reject) => {
    child.on("error", reject);
    child.on("exit", resolve);
  });
  if (code !== 0) {
    throw new Error(
      `creating the embedded database in ${dir} failed (exit ${code}): ${err.trim()}`,
    );
  }
}

// The child: create, migrate, close, exit.
const asked = process.env[CREATE];
if (asked) {
  const { dir, m } = JSON.parse(asked) as { dir: string; m: Migrations };
  (async () => {
    const { sql, pg } = await openPglite(dir);
    await migratePgliteDb(pg, m);
    await sql.close();
  })().then(
    () => process.exit(0),
    (e) => {
      console.error((e as Error)?.stack ?? String(e));
      process.exit(1);
    },
  );
}
