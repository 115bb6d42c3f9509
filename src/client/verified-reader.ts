// Proofs rebuilt from a log's hash tiles and checked against a signed checkpoint, for the
// verifying commands (verify, monitor, tail). Proofs are NEVER taken from the log's JSON proof
// endpoints: a log that lies there, or anywhere, can only make a check fail, never pass.
//
// TileTree reads tiles through a bounded cache and memoizes node hashes per tree size, so the
// proofs of many leaves in one tile fetch and fold that tile once.
//
// When a check fails, diagnose() names the first tile that disagrees with the tree around it.
// Every node hash at tree level 8L+k is stored in hash tile level L (k = 0) or folded from 2^k
// entries there; a FULL tile at level L folds to one entry of its parent tile at level L+1.
// Worked example, size 300: leaf 10 is entry 10 of tile/0/000; tile/0/000 is full, so its 256
// hashes must fold to entry 0 of tile/1/000.p/1; tile/0/001.p/44 is partial and has no parent
// entry yet, so a lie there can only show as a root that does not match the checkpoint. The walk
// checks, lowest level first: the leaf against its tile entry, each tile on the index's path
// against its parent, and each stored entry the failed computation used against the child tile it
// summarises. The first disagreement is named ("tile/0/000 does not hash to entry 0 of
// tile/1/000.p/1"); when every tile agrees, the tiles as a whole disagree with the checkpoint.
// Just over 300 lines: the reader and its diagnosis walk the same tiles and belong together.

import type { Checkpoint } from "../core/checkpoint.ts";
import { bytesEqual } from "../core/encoding.ts";
import { check, isTrailError, TrailError } from "../core/errors.ts";
import { type Hash, type Hasher, rfc6962 } from "../core/hash.ts";
import { Lru } from "../core/lru.ts";
import {
  consistencyPlan,
  consistencyProof,
  inclusionPlan,
  inclusionProof,
  type NodeId,
  type NodeReader,
  rangeNodes,
  treeRoot,
} from "../core/proof.ts";
import { verifyConsistency, verifyInclusion } from "../core/proof-verify.ts";
import { foldPerfect, tileNodeReader } from "../core/tile-reader.ts";
import {
  hashTilePath,
  nodesAtTileLevel,
  TILE_HEIGHT,
  TILE_WIDTH,
  type TileCoord,
  tileForStoredNode,
  walkTiles,
} from "../core/tiles.ts";
import type { LogSource } from "./log-source.ts";

/** A log's tree as read from its hash tiles, with bounded caches of tiles and node hashes. */
export class TileTree {
  private readonly tiles: Lru<string, Promise<Uint8Array>>;
  private readonly nodes: Lru<string, Hash>;

  constructor(
    readonly source: LogSource,
    readonly hasher: Hasher = rfc6962,
    opts: { maxTiles?: number; maxNodes?: number } = {},
  ) {
    this.tiles = new Lru(opts.maxTiles ?? 128);
    this.nodes = new Lru(opts.maxNodes ?? 16_384);
  }

  /** Hash tile `t`, exactly t.width·32 bytes; a failed fetch is not cached. */
  tile(t: TileCoord): Promise<Uint8Array> {
    const key = hashTilePath(t);
    let p = this.tiles.get(key);
    if (!p) {
      p = this.source.hashTile(t.level, t.index, t.width);
      this.tiles.set(key, p);
      p.catch(() => this.tiles.delete(key));
    }
    return p;
  }

  /** A NodeReader over the tiles of the tree of `size` leaves, memoizing node hashes. */
  reader(size: number): NodeReader {
    const inner = tileNodeReader(
      size,
      (level, index, width) => this.tile({ level, index, width }),
      this.hasher,
    );
    return async (ids) => {
      const key = (id: NodeId) => `${size}:${id.level}/${id.index}`;
      const found = new Map<string, Hash>();
      const missing: NodeId[] = [];
      for (const id of ids) {
        const k = key(id);
        const h = this.nodes.get(k);
        if (h) found.set(k, h);
        else if (!found.has(k) && !missing.some((m) => key(m) === k)) missing.push(id);
      }
      if (missing.length) {
        const hashes = await inner(missing);
        missing.forEach((id, i) => {
          found.set(key(id), hashes[i]!);
          this.nodes.set(key(id), hashes[i]!);
        });
      }
      return ids.map((id) => found.get(key(id))!);
    };
  }
}

/** The inclusion proof of leaf `index` in the checkpoint's tree, rebuilt from tiles. */
export function inclusionFromTiles(tree: TileTree, index: number, cp: Checkpoint): Promise<Hash[]> {
  return inclusionProof(index, cp.size, tree.reader(cp.size), tree.hasher);
}

/** PROOF(from, to) rebuilt from the tiles at size `to`. */
export function consistencyFromTiles(tree: TileTree, from: number, to: number): Promise<Hash[]> {
  return consistencyProof(from, to, tree.reader(to), tree.hasher);
}

/** MTH(D[0:size]) from the tiles at size `at` (default `size`). */
export function rootFromTiles(tree: TileTree, size: number, at = size): Promise<Hash> {
  return treeRoot(size, tree.reader(at), tree.hasher);
}

/** Checks that the tiles at the checkpoint's size hash to its root. */
export async function verifyRootFromTiles(tree: TileTree, cp: Checkpoint): Promise<void> {
  const root = await rootFromTiles(tree, cp.size);
  if (bytesEqual(root, cp.root)) return;
  const nodes = rangeNodes(0, cp.size);
  throw new TrailError(
    "proof-mismatch",
    (await diagnose(tree, cp.size, nodes)) ?? wholeTreeMismatch(cp.size, nodes),
  );
}

/** Checks that `leafHash` is leaf `index` of the checkpoint's tree, by a proof from tiles. */
export async function verifyInclusionFromTiles(
  tree: TileTree,
  index: number,
  leafHash: Hash,
  cp: Checkpoint,
): Promise<Hash[]> {
  check(
    Number.isSafeInteger(index) && index >= 0 && index < cp.size,
    "bad-index",
    `index ${index} is not in the tree of size ${cp.size}`,
  );
  const proof = await inclusionFromTiles(tree, index, cp);
  try {
    verifyInclusion(index, cp.size, leafHash, proof, cp.root, tree.hasher);
    return proof;
  } catch (e) {
    if (!isTrailError(e, "proof-mismatch")) throw e;
    const nodes = inclusionPlan(index, cp.size).flatMap(([a, b]) => rangeNodes(a, b));
    const why =
      (await diagnose(tree, cp.size, nodes, { index, hash: leafHash })) ??
      wholeTreeMismatch(cp.size, nodes);
    throw new TrailError(
      "proof-mismatch",
      `leaf ${index} is not proven in size ${cp.size}: ${why}`,
    );
  }
}

/**
 * Checks that the checkpoint `next` extends `old`: equal roots at equal sizes, else a consistency
 * proof rebuilt from the tiles at next.size. Throws TrailError naming the sizes and the tile.
 */
export async function verifyConsistencyFromTiles(
  tree: TileTree,
  old: Checkpoint,
  next: Checkpoint,
): Promise<void> {
  const fail = (why: string) =>
    new TrailError(
      "proof-mismatch",
      `the tree of size ${next.size} is not consistent with the checkpoint of size ${old.size}: ${why}`,
    );
  if (old.size > next.size) throw fail(`size ${next.size} is smaller (a rollback)`);
  if (old.size === 0) {
    if (!bytesEqual(old.root, tree.hasher.emptyRoot())) throw fail("size 0 with a non-empty root");
    return verifyRootFromTiles(tree, next);
  }
  if (old.size === next.size) {
    if (!bytesEqual(old.root, next.root)) throw fail("two different roots for the same size");
    return;
  }
  const proof = await consistencyFromTiles(tree, old.size, next.size);
  try {
    verifyConsistency(old.size, next.size, proof, old.root, next.root, tree.hasher);
    return;
  } catch (e) {
    if (!isTrailError(e, "proof-mismatch")) throw e;
  }
  // Either the tiles do not hash to the new root, or they do and hold another old tree (a fork).
  const nodes = [
    ...consistencyPlan(old.size, next.size).flatMap(([a, b]) => rangeNodes(a, b)),
    ...rangeNodes(0, old.size),
    ...rangeNodes(0, next.size),
  ];
  const local = await diagnose(tree, next.size, nodes);
  if (local) throw fail(local);
  if (!bytesEqual(await rootFromTiles(tree, next.size), next.root))
    throw fail(wholeTreeMismatch(next.size, rangeNodes(0, next.size)));
  const held = rangeNodes(0, old.size).map((n) => storedTile(n, next.size).path);
  throw fail(
    `the tiles at size ${next.size} hash to its root, but their first ${old.size} leaves ` +
      `(${[...new Set(held)].join(", ")}) do not hash to the root of size ${old.size}: a fork`,
  );
}

/**
 * Checks every full hash tile at the checkpoint's size against the entry of its parent tile that
 * summarises it: a whole-tree audit of the tiles, O(size/256) fetches. Leaves are not read.
 */
export async function verifyAllTiles(tree: TileTree, cp: Checkpoint): Promise<number> {
  let checked = 0;
  for (const child of walkTiles(cp.size)) {
    if (child.width !== TILE_WIDTH) continue;
    if (nodesAtTileLevel(cp.size, child.level + 1) <= child.index) continue;
    const parent = tileForStoredNode(child.level + 1, child.index, cp.size);
    const off = child.index % TILE_WIDTH;
    const data = await tree.tile(parent);
    if (
      !bytesEqual(
        foldTile(await tree.tile(child), tree.hasher),
        data.subarray(off * 32, off * 32 + 32),
      )
    )
      throw new TrailError(
        "proof-mismatch",
        `${hashTilePath(child)} does not hash to entry ${off} of ${hashTilePath(parent)}`,
      );
    checked++;
  }
  return checked;
}

function wholeTreeMismatch(size: number, nodes: NodeId[]): string {
  const paths = [...new Set(nodes.map((n) => storedTile(n, size).path))];
  return `the tiles at size ${size} (${paths.join(", ")}) do not hash to the checkpoint root`;
}

/** The tile storing node `n` at `size`, and the entries (offsets) of it the node folds. */
function storedTile(n: NodeId, size: number) {
  const level = Math.floor(n.level / TILE_HEIGHT);
  const count = 2 ** (n.level - level * TILE_HEIGHT);
  const first = n.index * count;
  const tile = tileForStoredNode(level, first + count - 1, size);
  const entries = Array.from({ length: count }, (_, i) => first + i);
  return { tile, path: hashTilePath(tile), entries };
}

const MAX_DIAGNOSIS_TILES = 600;

/**
 * The first tile on the path of `leaf` or among the entries `nodes` use that disagrees with its
 * parent tile or its child tiles at `size`, as a sentence; undefined when every one agrees.
 */
export async function diagnose(
  tree: TileTree,
  size: number,
  nodes: readonly NodeId[],
  leaf?: { index: number; hash: Hash },
): Promise<string | undefined> {
  const entry = (data: Uint8Array, i: number) => data.subarray(i * 32, i * 32 + 32);
  try {
    if (leaf) {
      const t = tileForStoredNode(0, leaf.index, size);
      const off = leaf.index % TILE_WIDTH;
      if (!bytesEqual(entry(await tree.tile(t), off), leaf.hash))
        return `leaf hash at index ${leaf.index} differs from entry ${off} of ${hashTilePath(t)}`;
    }
    // Pairs (full child tile, stored entry of its parent) to compare, keyed by the child.
    const pairs = new Map<string, { child: TileCoord; parent: TileCoord }>();
    const addChildOf = (level: number, node: number) => {
      if (level < 1 || pairs.size >= MAX_DIAGNOSIS_TILES) return;
      const child = { level: level - 1, index: node, width: TILE_WIDTH };
      pairs.set(hashTilePath(child), { child, parent: tileForStoredNode(level, node, size) });
    };
    if (leaf) {
      for (let l = 1; nodesAtTileLevel(size, l) > Math.floor(leaf.index / TILE_WIDTH ** l); l++)
        addChildOf(l, Math.floor(leaf.index / TILE_WIDTH ** l));
    }
    for (const n of nodes) {
      const s = storedTile(n, size);
      // The tile itself against its parent, then each entry used against its child tile.
      if (s.tile.width === TILE_WIDTH && nodesAtTileLevel(size, s.tile.level + 1) > s.tile.index)
        addChildOf(s.tile.level + 1, s.tile.index);
      for (const e of s.entries) addChildOf(s.tile.level, e);
    }
    const ordered = [...pairs.values()].sort(
      (a, b) => a.child.level - b.child.level || a.child.index - b.child.index,
    );
    for (const { child, parent } of ordered) {
      const folded = foldTile(await tree.tile(child), tree.hasher);
      const off = child.index % TILE_WIDTH;
      if (!bytesEqual(folded, entry(await tree.tile(parent), off)))
        return `${hashTilePath(child)} does not hash to entry ${off} of ${hashTilePath(parent)}`;
    }
    return undefined;
  } catch (e) {
    return `(diagnosis stopped: ${(e as Error).message})`;
  }
}

/** The subtree hash of a full tile's 256 hashes. */
function foldTile(data: Uint8Array, hasher: Hasher): Hash {
  return foldPerfect(data, 0, data.length / 32, hasher);
}
