// Mirroring a log into a directory laid out as its C2SP tlog-tiles files, so any static web
// server, object store or CDN serves reads away from the database (docs/design.md §8.5):
//
//   checkpoint                 the signed note as the log served it (with its cosignatures)
//   tile/<L>/<N>               every full hash tile (immutable: written once, never again)
//   tile/<L>/<N>.p/<W>         the partial tiles the current checkpoint needs
//   tile/entries/<N>[.p/<W>]   with `entries`, the entry bundles (the log serves them to readers)
//
// Nothing is written before it is verified. One round:
//
//   A. fetch the log's checkpoint, open it with the log key (and the witness quorum); read the
//      checkpoint already in the directory, if any. A smaller size is a rollback, the same size
//      with another root a fork: an alarm, and nothing is written. Then, reading the tiles the
//      directory holds and fetching only what it lacks, check that the tiles hash to the new
//      root and, when the directory held a checkpoint, that the new tree is consistent with it
//      (both rebuilt from tiles). A failure writes nothing.
//   B. fetch each full hash tile the directory lacks, top level first, and check that it hashes
//      to its entry in its parent tile (already verified: a partial tile of step A, or a full
//      tile this step wrote before it), then write it. Then write the partial tiles of step A.
//   C. with `entries`, fetch each entry bundle the directory lacks and check every leaf's hash
//      against the level-0 hash tile in the directory, then write it.
//   D. re-check that the tiles now in the directory (and nothing else) hash to the root, fsync
//      the directories written to, and only then replace `checkpoint`: a reader of the mirror
//      never sees a checkpoint whose tiles are missing.
//   E. delete the partial tiles (and bundles) whose full tile now exists, unless `keepPartials`:
//      tlog-tiles clients fall back to the full tile and truncate it.
//
// A larger signed checkpoint whose tiles cannot be had in A to D (withheld, unreachable,
// malformed) is "unproven": the round writes no checkpoint and says so, and the mirror command
// raises the "unproven" alarm once that lasts past its deadline (--unproven-after).
//
// About 400 lines: one round is steps A to E in order, each reading top to bottom; the files on
// disk (atomic writes, the lock) are mirror-files.ts.
// A failure in B or C (an upstream tile that does not hash to its verified parent, an
// unreachable log) leaves `checkpoint` as it was; the tiles already written were each verified
// against the new signed root, so they are right and the next round does not fetch them again.
// Every file is written to a temporary name beginning with "." in its directory and renamed.
//
// Longer than most files: one verified copy procedure (checkpoint, tiles, bundles, in order), kept
// in one place so its order is visible.

import { existsSync } from "node:fs";
import { mkdir, rm } from "node:fs/promises";
import { join } from "node:path";
import { encodeBundle } from "../core/bundle.ts";
import type { OpenedCheckpoint } from "../core/checkpoint.ts";
import { bytesEqual } from "../core/encoding.ts";
import { check, isTrailError, TrailError } from "../core/errors.ts";
import { type Hash, type Hasher, rfc6962 } from "../core/hash.ts";
import { foldPerfect } from "../core/tile-reader.ts";
import {
  entriesPath,
  hashTilePath,
  nodesAtTileLevel,
  TILE_WIDTH,
  type TileCoord,
  tileForStoredNode,
  tileLevels,
  walkTiles,
} from "../core/tiles.ts";
import { type AlarmKind, compareCheckpoints, isVerificationFailure } from "./checkpoint-state.ts";
import { type LogSource, LogSourceError, openLogSource } from "./log-source.ts";
import {
  exists,
  fsyncDir,
  type OpenNote,
  readLocal,
  readMirrorCheckpoint,
  writeAtomic,
} from "./mirror-files.ts";
import { TileTree, verifyConsistencyFromTiles, verifyRootFromTiles } from "./verified-reader.ts";

export interface MirrorOptions {
  /** Where the log is read from (a URL or a directory). */
  upstream: LogSource;
  /** The mirror directory. */
  dir: string;
  open: OpenNote;
  /** Also mirror entry bundles (the upstream needs a read token). */
  entries?: boolean;
  /** Keep partial tiles once their full tile exists (default: delete them). */
  keepPartials?: boolean;
  /** Parallel fetches (default 8). */
  concurrency?: number;
  /** Stops between files; the checkpoint is then not replaced. */
  signal?: AbortSignal;
  hasher?: Hasher;
}

export type MirrorRound =
  | {
      status: "initial" | "advanced" | "unchanged" | "updated";
      cp: OpenedCheckpoint;
      /** The size the mirror held before, when it held a checkpoint. */
      from?: number;
      tilesWritten: number;
      bundlesWritten: number;
      partialsRemoved: number;
    }
  | { status: "alarm"; kind: AlarmKind; message: string; cp?: OpenedCheckpoint }
  /** A larger signed checkpoint whose tiles could not be had: nothing proven, nothing written. */
  | { status: "unproven"; cp: OpenedCheckpoint; from: number; why: string };

/** Fetched but not yet written: the tiles step A verified, kept to write them in step B. */
class View implements LogSource {
  readonly where: string;
  readonly fetched = new Map<string, Uint8Array>();
  /** After step A nothing more may come from upstream through here: only verified bytes. */
  frozen = false;

  constructor(
    private readonly dir: string,
    private readonly upstream: LogSource,
  ) {
    this.where = upstream.where;
  }

  checkpoint(): Promise<string> {
    return this.upstream.checkpoint();
  }

  async hashTile(level: number, index: number, width: number): Promise<Uint8Array> {
    const path = hashTilePath({ level, index, width });
    const local = await readLocal(this.dir, path);
    if (local) {
      check(
        local.length === width * 32,
        "malformed",
        `${join(this.dir, path)} in the mirror is ${local.length} bytes, want ${width * 32}`,
      );
      return local;
    }
    const held = this.fetched.get(path);
    if (held) return held;
    if (this.frozen)
      throw new Error(`internal: ${path} is neither in the mirror nor verified in this round`);
    const data = await this.upstream.hashTile(level, index, width);
    this.fetched.set(path, data);
    return data;
  }

  entryBundle(): Promise<Uint8Array[]> {
    throw new Error("internal: entry bundles are not read through the verifying view");
  }
}

/**
 * Runs `f` over `items` with at most `n` in flight, in order of start; stops at the first error.
 * `items` is pulled one at a time (an async generator queues concurrent next() calls), so a walk
 * over size/256 tiles never becomes a list of them.
 */
async function pool<T>(
  items: AsyncIterable<T>,
  n: number,
  f: (t: T) => Promise<void>,
  signal?: AbortSignal,
) {
  const it = items[Symbol.asyncIterator]();
  let failed = false;
  const worker = async () => {
    while (!failed) {
      signal?.throwIfAborted();
      const r = await it.next();
      if (r.done) return;
      try {
        await f(r.value);
      } catch (e) {
        failed = true;
        throw e;
      }
    }
  };
  await Promise.all(Array.from({ length: n }, worker));
}

/** The tiles of `tiles` the mirror directory does not hold yet, checked one at a time. */
async function* lacking(dir: string, tiles: Iterable<TileCoord>): AsyncGenerator<TileCoord> {
  for (const t of tiles) if (!(await exists(dir, hashTilePath(t)))) yield t;
}

/** The full tiles of one level, in index order. */
function* fullTiles(size: number, level: number): Generator<TileCoord> {
  for (const t of walkTiles(size, level)) if (t.width === TILE_WIDTH) yield t;
}

/** The partial tile of each level that has one, bottom up. */
function* partialTiles(size: number): Generator<TileCoord> {
  for (let level = 0; level < tileLevels(size); level++) {
    const n = nodesAtTileLevel(size, level);
    if (n % TILE_WIDTH) yield { level, index: Math.floor(n / TILE_WIDTH), width: n % TILE_WIDTH };
  }
}

/** The subtree hash of a full tile's 256 hashes. */
function foldTile(data: Uint8Array, hasher: Hasher): Hash {
  return foldPerfect(data, 0, data.length / 32, hasher);
}

/** One mirror round (see the top of this file). */
export async function mirrorRound(o: MirrorOptions): Promise<MirrorRound> {
  const hasher = o.hasher ?? rfc6962;
  const { dir, upstream, signal } = o;
  await mkdir(dir, { recursive: true });
  const saved = readMirrorCheckpoint(dir, o.open);

  // A. The checkpoint, the rollback and fork checks, the root and consistency from tiles.
  const note = await upstream.checkpoint();
  let opened: OpenedCheckpoint;
  try {
    o.open(note, 0);
  } catch (e) {
    if (!isVerificationFailure(e)) throw e;
    return {
      status: "alarm",
      kind: "bad-checkpoint",
      message: `the log's checkpoint does not verify: ${(e as Error).message}`,
    };
  }
  // Signed by the log; a missing witness quorum is an error (TrailError "quorum"), not an alarm.
  opened = o.open(note);
  const cp = opened.checkpoint;
  const alarm = (kind: AlarmKind, message: string): MirrorRound => ({
    status: "alarm",
    kind,
    message,
    cp: opened,
  });
  const old = saved?.cp.checkpoint;
  if (old) {
    const c = compareCheckpoints(old, cp, "mirror's");
    if (c !== "same" && c !== "larger") return alarm(c.kind, c.message);
  }
  try {
    return await proveAndWrite(o, saved, note, opened, hasher);
  } catch (e) {
    // Past the checks above, an answer we could not get (a tile withheld, unreachable or
    // malformed) proves nothing either way: "unproven", an alarm only once it lasts (mirror CLI).
    if (!old || cp.size <= old.size || isVerificationFailure(e) || signal?.aborted) throw e;
    if (!isTrailError(e) && !(e instanceof LogSourceError)) throw e;
    return { status: "unproven", cp: opened, from: old.size, why: (e as Error).message };
  }
}

/** Steps A (tiles) to E of a round, once the checkpoint is opened and not an alarm. */
async function proveAndWrite(
  o: MirrorOptions,
  saved: { note: string; cp: OpenedCheckpoint } | undefined,
  note: string,
  opened: OpenedCheckpoint,
  hasher: Hasher,
): Promise<MirrorRound> {
  const conc = o.concurrency ?? 8;
  const { dir, upstream, signal } = o;
  const cp = opened.checkpoint;
  const old = saved?.cp.checkpoint;
  const alarm = (kind: AlarmKind, message: string): MirrorRound => ({
    status: "alarm",
    kind,
    message,
    cp: opened,
  });
  const view = new View(dir, upstream);
  const tree = new TileTree(view, hasher, { maxTiles: 1024 });
  try {
    await verifyRootFromTiles(tree, cp);
  } catch (e) {
    if (!old || !isVerificationFailure(e)) throw e;
    // The mirror's tiles and the log's new ones together miss the new root. Read by themselves:
    // either the log's tiles miss its own root (a bad tile), or they hold another tree than the
    // mirror's checkpoint (a fork), or else the mirror's own files are damaged.
    const alone = new TileTree(upstream, hasher);
    await verifyRootFromTiles(alone, cp);
    try {
      await verifyConsistencyFromTiles(alone, old, cp);
    } catch (f) {
      if (!isVerificationFailure(f)) throw f;
      return alarm("fork", (f as Error).message);
    }
    throw new TrailError(
      "proof-mismatch",
      `the log's tiles verify, but with the mirror's files in ${dir} they do not hash to the root of size ${cp.size}: the mirror is damaged (${(e as Error).message})`,
    );
  }
  if (old) {
    try {
      await verifyConsistencyFromTiles(tree, old, cp);
    } catch (e) {
      if (!isVerificationFailure(e)) throw e;
      return alarm("fork", (e as Error).message);
    }
  }
  view.frozen = true;

  // B. Hash tiles: the missing full ones top down, each against its verified parent; the partials.
  // Walked lazily (generators): memory does not grow with the checkpoint's size.
  const touched = new Set<string>();
  let tilesWritten = 0;
  /** Full tiles and bundles written this round whose partial (`<path>.p`) is on disk. */
  const superseded: string[] = [];
  const noteSuperseded = (path: string) => {
    if (existsSync(join(dir, ...`${path}.p`.split("/")))) superseded.push(path);
  };
  for (let level = tileLevels(cp.size) - 1; level >= 0; level--) {
    await pool(
      lacking(dir, fullTiles(cp.size, level)),
      conc,
      async (t) => {
        const path = hashTilePath(t);
        const data = await upstream.hashTile(t.level, t.index, TILE_WIDTH);
        const parent = tileForStoredNode(t.level + 1, t.index, cp.size);
        const off = t.index % TILE_WIDTH;
        const entry = (await view.hashTile(parent.level, parent.index, parent.width)).subarray(
          off * 32,
          off * 32 + 32,
        );
        if (!bytesEqual(foldTile(data, hasher), entry))
          throw new TrailError(
            "proof-mismatch",
            `${upstream.where}: ${path} does not hash to entry ${off} of ${hashTilePath(parent)} (verified against the checkpoint of size ${cp.size}); nothing more written`,
          );
        touched.add(await writeAtomic(dir, path, data));
        noteSuperseded(path);
        tilesWritten++;
      },
      signal,
    );
  }
  for await (const t of lacking(dir, partialTiles(cp.size))) {
    signal?.throwIfAborted();
    const path = hashTilePath(t);
    const data = view.fetched.get(path);
    // Step A's root computation reads every entry of every partial tile.
    if (!data) throw new Error(`internal: partial tile ${path} was not verified in step A`);
    touched.add(await writeAtomic(dir, path, data));
    tilesWritten++;
  }

  // C. Entry bundles, each leaf against the level-0 hash tile now in the mirror.
  let bundlesWritten = 0;
  if (o.entries) {
    const size = cp.size;
    const bundles = async function* () {
      for (let b = 0; b * TILE_WIDTH < size; b++) {
        const width = Math.min(TILE_WIDTH, size - b * TILE_WIDTH);
        if (!(await exists(dir, entriesPath(b, width)))) yield { index: b, width };
      }
    };
    await pool(
      bundles(),
      conc,
      async ({ index, width }) => {
        const path = entriesPath(index, width);
        const leaves = await upstream.entryBundle(index, width);
        const tile = await view.hashTile(0, index, width);
        leaves.forEach((leaf, i) => {
          if (!bytesEqual(hasher.leaf(leaf), tile.subarray(i * 32, i * 32 + 32)))
            throw new TrailError(
              "proof-mismatch",
              `${upstream.where}: leaf ${index * TILE_WIDTH + i} in ${path} does not hash to entry ${i} of ${hashTilePath({ level: 0, index, width })}`,
            );
        });
        touched.add(await writeAtomic(dir, path, encodeBundle(leaves)));
        if (width === TILE_WIDTH) noteSuperseded(path);
        bundlesWritten++;
      },
      signal,
    );
  }

  // D. The mirror's own files, alone, hash to the root; then the checkpoint, last.
  signal?.throwIfAborted();
  await verifyRootFromTiles(new TileTree(openLogSource(dir), hasher), cp);
  for (const d of touched) await fsyncDir(d);
  let status: "initial" | "advanced" | "unchanged" | "updated" = !old
    ? "initial"
    : cp.size > old.size
      ? "advanced"
      : "unchanged";
  if (saved?.note !== note) {
    await fsyncDir(await writeAtomic(dir, "checkpoint", note));
    if (status === "unchanged") status = "updated";
  }

  // E. Partials superseded by a full tile written this round.
  let partialsRemoved = 0;
  if (!o.keepPartials) {
    for (const full of superseded) {
      const p = join(dir, ...`${full}.p`.split("/"));
      if (existsSync(p)) {
        await rm(p, { recursive: true, force: true });
        partialsRemoved++;
      }
    }
  }
  return {
    status,
    cp: opened,
    ...(old ? { from: old.size } : {}),
    tilesWritten,
    bundlesWritten,
    partialsRemoved,
  };
}
