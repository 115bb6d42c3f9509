// Reading the tree back from the tile rows: node hashes for proofs and roots at any published size.
// The same tile logic the auditors run over HTTP (src/log/tile-reader.ts), fed from the database.
//
// Everything read here is immutable once it exists: a tile prefix of a given width never changes
// (tiles only extend) and the hash of a complete subtree never changes. So the proofs the API serves
// read through a bounded cache per database (per Sql) of tile prefixes and folded node hashes: a
// proof at a random index then costs a few cached lookups and ~log2(n) hashes, not three queries
// and hundreds of hashes. The publisher's safety checks (rootAt) always read storage afresh: they
// exist to notice storage that changed under the log.

import type { Sql } from "../db/client.ts";
import type { Hash, Hasher } from "../log/hash.ts";
import { Lru } from "../log/lru.ts";
import {
  consistencyProof,
  inclusionProof,
  type NodeId,
  type NodeReader,
  treeRoot,
} from "../log/proof.ts";
import { tileNodeReader } from "../log/tile-reader.ts";
import { readTile } from "./tile-store.ts";

export class TileMissingError extends Error {
  constructor(level: number, idx: number, width: number) {
    super(`hash tile ${level}/${idx} (width ${width}) is missing from storage`);
    this.name = "TileMissingError";
  }
}

interface TreeCache {
  tiles: Lru<string, Promise<Uint8Array>>;
  /** Hashes of complete subtrees, by "level/index": the same at every tree size that holds them. */
  nodes: Lru<string, Hash>;
}

const caches = new WeakMap<Sql, TreeCache>();

function cacheOf(sql: Sql): TreeCache {
  let c = caches.get(sql);
  if (!c) {
    // ~16 MB of tiles and ~10 MB of node hashes at most.
    c = { tiles: new Lru(2048), nodes: new Lru(200_000) };
    caches.set(sql, c);
  }
  return c;
}

/** A NodeReader over the stored tiles, for nodes complete in a tree of `size` leaves. */
export function dbNodeReader(sql: Sql, size: number, hasher: Hasher, cached = false): NodeReader {
  if (!cached) {
    return tileNodeReader(
      size,
      async (level, idx, width) => {
        const t = await readTile(sql, level, idx, width);
        if (!t) throw new TileMissingError(level, idx, width);
        return t;
      },
      hasher,
    );
  }
  const cache = cacheOf(sql);
  const inner = tileNodeReader(
    size,
    (level, idx, width) => {
      const key = `${level}/${idx}/${width}`;
      let p = cache.tiles.get(key);
      if (!p) {
        p = readTile(sql, level, idx, width).then((t) => {
          if (!t) throw new TileMissingError(level, idx, width);
          return t;
        });
        cache.tiles.set(key, p);
        p.catch(() => cache.tiles.delete(key));
      }
      return p;
    },
    hasher,
  );
  return async (ids: readonly NodeId[]) => {
    const out: (Hash | undefined)[] = ids.map((id) => cache.nodes.get(`${id.level}/${id.index}`));
    const missing = ids.filter((_, i) => out[i] === undefined);
    if (missing.length > 0) {
      const hashes = await inner(missing);
      let j = 0;
      for (let i = 0; i < ids.length; i++) {
        if (out[i] !== undefined) continue;
        const h = hashes[j++]!;
        out[i] = h;
        cache.nodes.set(`${ids[i]!.level}/${ids[i]!.index}`, h);
      }
    }
    return out as Hash[];
  };
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
