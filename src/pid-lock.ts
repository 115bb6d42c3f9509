// A lock file holding its owner's process id, created exclusively; a lock whose process is gone
// is taken over. The embedded database's data directory (server/storage.ts) and a mirror's
// directory (client/mirror-files.ts) are each held by one process through it.

import { closeSync, openSync, readFileSync, rmSync, writeSync } from "node:fs";

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM";
  }
}

/**
 * Takes `file` for this process and returns the release function. A lock held by a live process
 * (this one too, unless `reentrant`) throws `held(pid)`; `held()` when the lock could not be taken
 * even after a dead owner's was removed.
 */
export function takePidLock(
  file: string,
  opts: { mode: number; reentrant?: boolean; held: (pid?: string) => Error },
): () => void {
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fd = openSync(file, "wx", opts.mode);
      try {
        writeSync(fd, `${process.pid}\n`);
      } finally {
        closeSync(fd);
      }
      return () => rmSync(file, { force: true });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e;
      const pid = readFileSync(file, "utf8").trim();
      const owner = Number(pid);
      const mine = opts.reentrant && owner === process.pid;
      if (/^\d+$/.test(pid) && owner > 0 && pidAlive(owner) && !mine) throw opts.held(pid);
      rmSync(file, { force: true });
    }
  }
  throw opts.held();
}
