// The one way tmuxtrail replaces a file it keeps (state, checkpoints, status, receipts, bundles,
// mirrored tiles): a crash or a power loss leaves the old content or the new, never a part, and a
// reader never sees half a file.

import { closeSync, constants, fsyncSync, openSync, renameSync, rmSync, writeSync } from "node:fs";
import { open, rename, rm } from "node:fs/promises";
import { basename, dirname, join } from "node:path";

let counter = 0;
/** A unique temporary name beside `path`, hidden (leading "."), never one a reader looks for. */
const tempBeside = (path: string) =>
  join(dirname(path), `.${basename(path)}.${process.pid}.${++counter}.tmp`);
/** New file only (never an existing one, never through a symbolic link), write only. */
const CREATE_NEW = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW;

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
  const tmp = tempBeside(path);
  try {
    const fd = openSync(tmp, CREATE_NEW, mode);
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

/**
 * writeFileAtomic for many files at once (a mirror round writes hundreds of tiles): the same
 * temporary file, flags and fsync of the file, asynchronously, and without the directory's fsync:
 * the caller fsyncs each directory it wrote to once (fsyncDir) before it relies on the renames, so
 * that a round costs one directory fsync per directory, not one per file.
 */
export async function writeFileAtomicBatched(
  path: string,
  data: string | Uint8Array,
  opts: { mode?: number } = {},
): Promise<void> {
  const tmp = tempBeside(path);
  try {
    const fh = await open(tmp, CREATE_NEW, opts.mode ?? 0o600);
    try {
      await fh.writeFile(data);
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, path);
  } catch (e) {
    await rm(tmp, { force: true });
    throw e;
  }
}

/** Makes the renames done in `dir` durable; a file system that refuses fsync on a directory is let be. */
export async function fsyncDir(dir: string): Promise<void> {
  let fh: Awaited<ReturnType<typeof open>> | undefined;
  try {
    fh = await open(dir, constants.O_RDONLY);
    await fh.sync();
  } catch {
    // Some file systems refuse fsync on a directory; the renames are still atomic.
  } finally {
    await fh?.close();
  }
}
