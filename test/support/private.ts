// Helpers for the spool's privacy tests: the permission bits of everything in a directory, and
// commands run as another user of the host (`nobody`, through runuser; the tests run as root).
import { spawnSync } from "node:child_process";
import { readdirSync, statSync } from "node:fs";
import { join, relative } from "node:path";

/** Every path under `dir` (itself as ".") with its permission bits, in octal. */
export function modes(dir: string): Record<string, string> {
  const out: Record<string, string> = { ".": (statSync(dir).mode & 0o7777).toString(8) };
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      // A running agent renames its temporary files into place: one listed may be gone already.
      const st = statSync(p, { throwIfNoEntry: false });
      if (!st) continue;
      out[relative(dir, p)] = (st.mode & 0o7777).toString(8);
      if (e.isDirectory()) walk(p);
    }
  };
  walk(dir);
  return out;
}

/** Whether the tests can act as another user (root, with runuser and a `nobody` account). */
export const canActAsOther =
  process.getuid?.() === 0 && spawnSync("runuser", ["-u", "nobody", "--", "true"]).status === 0;

/** Runs a shell command as `nobody`. */
export function asNobody(script: string): {
  status: number | null;
  stdout: string;
  stderr: string;
} {
  const r = spawnSync("runuser", ["-u", "nobody", "--", "sh", "-c", script], {
    encoding: "utf8",
    timeout: 10_000,
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}
