// The mirror directory on disk: reading what it holds, writing a file so that a reader sees either
// the old file or the whole new one (lib/atomic-file.ts), fsync of the directories written to, the
// checkpoint it holds, and the lock that keeps two mirrors from writing one directory. The round
// that decides what to write is in mirror.ts.

import { readFileSync } from "node:fs";
import { mkdir, readFile, stat } from "node:fs/promises";
import { dirname, join } from "node:path";
import type { OpenedCheckpoint } from "../core/checkpoint.ts";
import { fsyncDir, writeFileAtomicBatched } from "../lib/atomic-file.ts";
import { takePidLock } from "../lib/pid-lock.ts";

/** Opens a checkpoint note with the log key; `quorum` 0 for the one already in the mirror. */
export type OpenNote = (note: string, quorum?: number, origin?: string) => OpenedCheckpoint;

export async function readLocal(dir: string, path: string): Promise<Uint8Array | undefined> {
  try {
    return new Uint8Array(await readFile(join(dir, ...path.split("/"))));
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw e;
  }
}

export async function exists(dir: string, path: string): Promise<boolean> {
  try {
    await stat(join(dir, ...path.split("/")));
    return true;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return false;
    throw e;
  }
}

/**
 * Writes `data` at `path` under `dir` atomically (lib/atomic-file.ts; mirrored files are public,
 * 0644) and returns the directory, which the caller fsyncs once per round (fsyncDir).
 */
export async function writeAtomic(
  dir: string,
  path: string,
  data: Uint8Array | string,
): Promise<string> {
  const file = join(dir, ...path.split("/"));
  await mkdir(dirname(file), { recursive: true });
  await writeFileAtomicBatched(file, data, { mode: 0o644 });
  return dirname(file);
}

export { fsyncDir };

/** The checkpoint the mirror holds, opened with the log key (quorum 0: it held when written). */
export function readMirrorCheckpoint(
  dir: string,
  open: OpenNote,
): { note: string; cp: OpenedCheckpoint } | undefined {
  const file = join(dir, "checkpoint");
  let note: string;
  try {
    note = readFileSync(file, "utf8");
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw new Error(`cannot read ${file}: ${(e as Error).message}`);
  }
  try {
    return { note, cp: open(note, 0) };
  } catch (e) {
    throw new Error(
      `${file} is not a checkpoint signed by this log's key: ${(e as Error).message}`,
    );
  }
}

/**
 * Takes `<dir>/.mirror.lock` (holding this process's id) so that two mirrors never write one
 * directory; a lock whose process is gone is taken over. Returns the release function.
 */
export function lockMirror(dir: string): () => void {
  const file = join(dir, ".mirror.lock");
  return takePidLock(file, {
    mode: 0o644,
    held: (pid) =>
      new Error(
        pid
          ? `${dir} is being mirrored by process ${pid} (lock ${file})`
          : `cannot take the lock ${file}`,
      ),
  });
}
