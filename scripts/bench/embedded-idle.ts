// The embedded database's idle memory (issue 20): `serve` on the embedded database (PGlite) in a
// fresh data directory, its resident memory 20 s after it listens with nothing to do; then
// stopped and started again on the same directory (the second start opens the database the first
// one created; the first had it created by a child process, db/embedded-create.ts).

import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { rssMb } from "./long-session.ts";

/**
 * Idle: V8 settles its heaps some seconds after the last allocation (3 s after listening the same
 * process read 190–230 MB, after 20 s ~193 MB), so the figure is taken after 20 s.
 */
const IDLE_MS = 20_000;

/** RSS in MB of `serve --data DIR` IDLE_MS after it listens, without DATABASE_URL. */
async function idleServe(root: string, dir: string): Promise<number> {
  const env = { ...process.env };
  delete env.DATABASE_URL;
  const child = spawn(
    process.execPath,
    ["bin/tmuxtrail.js", "serve", "--data", dir, "--port", "0"],
    { cwd: root, env, stdio: ["ignore", "pipe", "pipe"] },
  );
  let out = "";
  const exited = new Promise((r) => child.on("exit", r));
  try {
    await new Promise<void>((resolve, reject) => {
      child.stdout!.on("data", (d) => {
        out += d;
        if (/listening on/.test(out)) resolve();
      });
      child.stderr!.on("data", (d) => {
        out += d;
      });
      child.on("exit", (code) => reject(new Error(`serve exited ${code}: ${out}`)));
    });
    await new Promise((r) => setTimeout(r, IDLE_MS));
    return rssMb(child.pid);
  } finally {
    child.kill("SIGTERM");
    await exited;
  }
}

export async function embeddedIdleRows(
  root: string,
  row: (name: string, value: number, unit: string, ratio?: string, note?: string) => void,
) {
  const dir = mkdtempSync(join(tmpdir(), "tt-bench-idle-"));
  try {
    const target = (mb: number) =>
      `target ≤ 200 MB: ${(mb / 200).toFixed(2)} of it, ${mb <= 200 ? "met" : "MISSED"}`;
    const first = await idleServe(root, dir);
    row("idle serve RSS, embedded database, first start", first, "MB", target(first));
    const again = await idleServe(root, dir);
    row("idle serve RSS, embedded database, after a restart", again, "MB", target(again));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
