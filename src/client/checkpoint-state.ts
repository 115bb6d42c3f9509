// A verifier's own memory of a log: the last checkpoint it verified, kept in a file (monitor,
// tail and audit --log take it as --state FILE; mirror keeps DIR/checkpoint). Without it a
// verifier trusts whatever checkpoint the log serves when it starts, and an operator who rebuilds
// the database under the same key with another history is believed. With it, the next run first
// checks the log's checkpoint against the saved one:
//
//   origin differs                        alarm "origin"
//   smaller size                          alarm "rollback"
//   same size, another root               alarm "fork"
//   larger size, the consistency proof    alarm "fork" when it fails (verifyConsistencyFromTiles);
//     rebuilt from the hash tiles           when the tiles cannot be had, the checkpoint is
//                                           "unproven", an alarm only once that outlasts a deadline
//
// Worked example: the state holds size 5, root R5. The log serves size 6 whose tiles hash to R6
// but whose first 5 leaves hash to R5' ≠ R5 (event #1 rewritten): a fork, exit 1, the state kept.
//
// The file holds public data only (a signed note), written so that a crash leaves the old note or
// the new one: temporary file, fsync, rename, fsync of the directory. A state file that does not
// open with the log key given is refused (a usage error, exit 2); so is one of another origin in
// tail and audit --log (requireSameOrigin), where monitor and mirror raise the "origin" alarm.

import { readFileSync, rmSync } from "node:fs";
import type { Checkpoint, OpenedCheckpoint } from "../core/checkpoint.ts";
import { base64Encode, bytesEqual } from "../core/encoding.ts";
import { isTrailError, UsageError } from "../core/errors.ts";
import { printable } from "../core/printable.ts";
import { writeFileAtomic } from "../lib/atomic-file.ts";
import { type TileTree, verifyConsistencyFromTiles } from "./verified-reader.ts";

/** The alarms monitor and mirror raise, by the same names. */
export type AlarmKind = "rollback" | "fork" | "origin" | "bad-checkpoint" | "unproven";

export interface Alarm {
  kind: AlarmKind;
  message: string;
}

export interface SavedCheckpoint {
  note: string;
  cp: OpenedCheckpoint;
}

/** Verification failures (exit 1), as opposed to malformed input or keys (exit 2). */
export function isVerificationFailure(e: unknown): boolean {
  return isTrailError(e) && e.code !== "malformed" && e.code !== "bad-key";
}

/**
 * The checkpoint saved in `file`, opened by `open` (the log key; the witness quorum held when it
 * was saved, so it is not asked again), or undefined when there is no file yet.
 */
export function readState(
  file: string,
  open: (note: string) => OpenedCheckpoint,
): SavedCheckpoint | undefined {
  let note: string;
  try {
    note = readFileSync(file, "utf8");
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw new UsageError(`cannot read --state ${file}: ${(e as Error).message}`);
  }
  try {
    return { note, cp: open(note) };
  } catch (e) {
    throw new UsageError(
      `--state ${file} does not hold a checkpoint of this log (signed by --log-key): ${(e as Error).message}`,
    );
  }
}

/** Refuses (exit 2) a saved checkpoint of another origin than the log's. */
export function requireSameOrigin(saved: Checkpoint, now: Checkpoint, file: string): void {
  if (saved.origin !== now.origin)
    throw new UsageError(
      `--state ${file} holds a checkpoint of origin ${printable(saved.origin)}, the log's is ${printable(now.origin)}: another log's state file`,
    );
}

/** Replaces `file` with `text` so that a crash leaves either the old or the new note. */
export function writeState(file: string, text: string): void {
  writeFileAtomic(file, text, { mode: 0o644 });
}

/**
 * The checks that need no tiles: an alarm, "same" (equal size and root), or "larger" (the
 * consistency proof is still to be checked). `saved` names the old checkpoint in messages.
 */
export function compareCheckpoints(
  old: Checkpoint,
  now: Checkpoint,
  saved = "saved",
): Alarm | "same" | "larger" {
  if (now.origin !== old.origin)
    return {
      kind: "origin",
      message: `the log's origin is now ${printable(now.origin)}, the ${saved} checkpoint's is ${printable(old.origin)}`,
    };
  if (now.size < old.size)
    return {
      kind: "rollback",
      message: `the log's checkpoint has size ${now.size}, smaller than the ${saved} size ${old.size}`,
    };
  if (now.size === old.size) {
    if (bytesEqual(now.root, old.root)) return "same";
    return {
      kind: "fork",
      message: `two checkpoints of size ${now.size} with different roots (${saved} ${base64Encode(old.root)}, now ${base64Encode(now.root)})`,
    };
  }
  return "larger";
}

/**
 * Whether `now` extends `old`: an alarm, or undefined when it does (proof rebuilt from `tree`).
 * Tiles the log does not serve, or a malformed one, throw (the caller retries, then "unproven").
 */
export async function checkExtends(
  tree: TileTree,
  old: Checkpoint,
  now: Checkpoint,
  saved = "saved",
): Promise<Alarm | undefined> {
  const c = compareCheckpoints(old, now, saved);
  if (c === "same") return undefined;
  if (c !== "larger") return c;
  try {
    await verifyConsistencyFromTiles(tree, old, now);
    return undefined;
  } catch (e) {
    if (!isVerificationFailure(e)) throw e;
    return { kind: "fork", message: (e as Error).message };
  }
}

/**
 * Since when a newer signed checkpoint has stayed unproven (its tiles withheld or unreadable), for
 * the "unproven" alarm. `fail` starts the clock at the first failure and says whether `afterMs`
 * has passed; `clear` stops it once a larger checkpoint is proven. With `file` the clock survives
 * the process (one round per cron run): it holds {"since": ms, "size": n}, written atomically.
 */
export class UnprovenClock {
  private since: number | undefined;
  private size = 0;

  constructor(
    readonly afterMs: number,
    private readonly file?: string,
    private readonly now: () => number = Date.now,
  ) {
    if (!file) return;
    try {
      const j = JSON.parse(readFileSync(file, "utf8")) as { since?: unknown; size?: unknown };
      if (Number.isSafeInteger(j.since) && Number.isSafeInteger(j.size)) {
        this.since = j.since as number;
        this.size = j.size as number;
      }
    } catch {
      // No clock running (or an unreadable one: it starts again now).
    }
  }

  /** Records that size `size` is not proven against `savedSize`; an alarm past the deadline. */
  fail(savedSize: number, size: number, why: string): Alarm | undefined {
    if (this.since === undefined || size > this.size) {
      this.since ??= this.now();
      this.size = Math.max(this.size, size);
      if (this.file) writeState(this.file, JSON.stringify({ since: this.since, size: this.size }));
    }
    const waited = this.now() - this.since;
    if (waited < this.afterMs) return undefined;
    return {
      kind: "unproven",
      message: `a signed checkpoint of size ${this.size} has stayed unproven against size ${savedSize} for ${Math.round(waited / 1000)} s (--unproven-after ${Math.round(this.afterMs / 1000)} s): ${why}`,
    };
  }

  clear(): void {
    if (this.since === undefined) return;
    this.since = undefined;
    this.size = 0;
    if (this.file) rmSync(this.file, { force: true });
  }
}
