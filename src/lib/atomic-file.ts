// The one way tmuxtrail replaces a file it keeps (state, checkpoints, status, receipts, bundles,
// mirrored tiles): a crash or a power loss leaves the old content or the new, never a part, and a
// reader never sees half a file.

import { closeSync, constants, fsyncSync, openSync, renameSync, rmSync, writeSync } from "node:fs";
import { basename, dirname, join } from "node:path";

let counter = 0;

/**
 * Replaces `path` with `data`: a new temporary file beside it (a unique name, created exclusively
 * and never through a symbolic link, with `mode`, default 0600), written and fsynced, renamed over
 * `path`, then the directory fsynced so that the rename itself is durable. `durable: false` skips
 * both fsyncs, for a file rewritten many times a second that only needs to be whole (a status).
 */
export function writeFileAtomic(
  path: string,
  data: string | Uint8Array,
  opts: { mode?: number; durable?: boolean } = {},
): void {
  const { mode = 0o600, durable = true } = opts;
  const dir = dirname(path);
  const tmp = join(dir, `.${basename(path)}.${process.pid}.${++counter}.tmp`);
  const { O_WRONLY, O_CREAT, O_EXCL, O_NOFOLLOW } = constants;
  try {
    const fd = openSync(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, mode);
    try {
      const bytes = typeof data === "string" ? Buffer.from(data) : data;
      for (let at = 0; at < bytes.length; ) at += writeSync(fd, bytes, at);
      if (durable) fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, path);
  } catch (e) {
    rmSync(tmp, { force: true });
    throw e;
  }
  if (!durable) return;
  const dirFd = openSync(dir, constants.O_RDONLY);
  try {
    fsyncSync(dirFd);
  } catch {
    // Some file systems refuse fsync on a directory; the rename is still atomic.
  } finally {
    closeSync(dirFd);
  }
}
