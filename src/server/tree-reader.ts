// Reading the tree back from the tile rows: node hashes for proofs and roots at any published size.
// The same tile logic the auditors run over HTTP (src/core/tile-reader.ts), fed from the database.
//
// Everything read here is immutable once it exists: a tile prefix of a given width never changes
// (tiles only extend) and the hash of a complete subtree never changes. So the proofs the API serves
// read through a bounded cache per database (per Sql) of tile prefixes with their internal
// subtree hashes computed once: a proof at a random index then costs a few cached lookups and the
// ~log2(n) hashes of the ragged right edge, not three queries and hundreds of hashes. The publisher's safety checks (rootAt) always read storage afresh: they
// exist to notice storage that changed under the log.

import type { Hash, Hasher } from "../core/hash.ts";
import { Lru } from "../core/lru.ts";
import {
  consistencyProof,
  inclusionProof,
  type NodeId,
  type NodeReader,
  treeRoot,
} from "../core/proof.ts";
import { locateNode, tileNodeReader } from "../core/tile-reader.ts";
import { TILE_HEIGHT } from "../core/tiles.ts";
import type { Sql } from "../db/sql.ts";
import { readTile } from "./tile-store.ts";

export class TileMissingError extends Error {
  constructor(level: number, idx: number, width: number) {
    super(`hash tile ${level}/${idx} (width ${width}) is missing from storage`);
    this.name = "TileMissingError";
  }
}

/**
 * A tile's internal tree: row 0 is the tile's hashes, row k the 2^k-wide subtree hashes above
 * them (as far as the row below pairs up), each row one byte array of 32-byte hashes. Any node the
 * tile can answer is one lookup here.
 */
type TileTree = Uint8Array[];

export interface TreeCache {
  /** By "level/index/width": immutable once the tile prefix exists. */
  tiles: Lru<string, Promise<TileTree>>;
}

/**
 * A cache of its own for one reader that walks the tree in order, as a session export does: it
 * holds the few tiles in use (per level, the one it is in, and the next), so a stream of any
 * length holds at most `tiles` of them (64: 1 MB) and leaves the shared cache of the proofs alone
 * (a long session's export would otherwise fill it with tiles read once).
 */
export function walkCache(tiles = 64): TreeCache {
  return { tiles: new Lru(tiles) };
}

const caches = new WeakMap<Sql, TreeCache>();

function cacheOf(sql: Sql): TreeCache {
  let c = caches.get(sql);
  if (!c) {
    // 4,096 tiles of at most 16 KB (256 hashes and 255 above them): 64 MB, every level-0 tile of
    // a tree of a million leaves.
    c = { tiles: new Lru(4096) };
    caches.set(sql, c);
  }
  return c;
}

function tileTree(data: Uint8Array, hasher: Hasher): TileTree {
  const rows: TileTree = [data];
  for (let k = 1; k < TILE_HEIGHT; k++) {
    const below = rows[k - 1]!;
    const n = Math.floor(below.length / 64);
    const row = new Uint8Array(n * 32);
    for (let i = 0; i < n; i++) {
      row.set(
        hasher.node(below.subarray(i * 64, i * 64 + 32), below.subarray(i * 64 + 32, i * 64 + 64)),
        i * 32,
      );
    }
    rows.push(row);
  }
  return rows;
}

/**
 * A NodeReader over the stored tiles, for nodes complete in a tree of `size` leaves: uncached,
 * through the shared cache of this database (`true`), or through a cache of the caller's.
 */
export function dbNodeReader(
  sql: Sql,
  size: number,
  hasher: Hasher,
  cached: boolean | TreeCache = false,
): NodeReader {
  const fetch = async (level: number, idx: number, width: number) => {
    const t = await readTile(sql, level, idx, width);
    if (!t) throw new TileMissingError(level, idx, width);
    return t;
  };
  if (!cached) return tileNodeReader(size, fetch, hasher);
  const cache = cached === true ? cacheOf(sql) : cached;
  const treeOf = (tile: { level: number; index: number; width: number }) => {
    const key = `${tile.level}/${tile.index}/${tile.width}`;
    let p = cache.tiles.get(key);
    if (!p) {
      p = fetch(tile.level, tile.index, tile.width).then((data) => tileTree(data, hasher));
      cache.tiles.set(key, p);
      p.catch(() => cache.tiles.delete(key));
    }
    return p;
  };
  return (ids: readonly NodeId[]) =>
    Promise.all(
      ids.map(async (id) => {
        const { tile, sub, offset } = locateNode(id, size);
        const row = (await treeOf(tile))[sub]!;
        const o = (offset / 2 ** sub) * 32;
        if (o + 32 > row.length) throw new TileMissingError(tile.level, tile.index, tile.width);
        return row.subarray(o, o + 32);
      }),
    );
}

/** Reads storage afresh (no cache): for the publisher's checks. */
export function rootAt(sql: Sql, size: number, hasher: Hasher): Promise<Hash> {
  return treeRoot(size, dbNodeReader(sql, size, hasher), hasher);
}

/** Through the cache: for the proofs the API serves. */
export function proveInclusion(sql: Sql, index: number, size: number, hasher: Hasher) {
  return inclusionProof(index, size, dbNodeReader(sql, size, hasher, true), hasher);
}

export function proveConsistency(sql: Sql, from: number, to: number, hasher: Hasher) {
  return consistencyProof(from, to, dbNodeReader(sql, to, hasher, true), hasher);
}
