// Reading any node hash of a tree from its hash tiles (C2SP tlog-tiles), as a NodeReader for the
// proof code. Node (l, i), the perfect subtree of 2^l leaves at i·2^l, is stored directly when l
// is a multiple of 8 (tile level l/8, offset i mod 256); otherwise it is computed from the 2^(l
// mod 8) stored hashes below it, which always lie in one tile. Example: node (3, 5) covers leaves
// 40..47, i.e. entries 40..47 of tile/0/000, hashed up three levels.
//
// Clients may be handed a full tile where they asked for a partial one (the server no longer
// keeps it), so a tile longer than needed is accepted and truncated; a shorter one is malformed.

import { check, show } from "./errors.ts";
import { type Hash, type Hasher, rfc6962 } from "./hash.ts";
import type { NodeId, NodeReader } from "./proof.ts";
import {
  hashTilePath,
  TILE_HEIGHT,
  TILE_WIDTH,
  type TileCoord,
  tileForStoredNode,
} from "./tiles.ts";

/** Fetches hash tile (level, index) of `width` hashes (width·32 bytes, or more). */
export type TileFetcher = (level: number, index: number, width: number) => Promise<Uint8Array>;

/** Folds 2^k consecutive hashes (concatenated in `data` from `offset`) into their subtree hash. */
export function foldPerfect(data: Uint8Array, offset: number, count: number, hasher: Hasher): Hash {
  let row: Hash[] = [];
  for (let i = 0; i < count; i++) row.push(data.subarray((offset + i) * 32, (offset + i + 1) * 32));
  while (row.length > 1) {
    const next: Hash[] = [];
    for (let i = 0; i < row.length; i += 2) next.push(hasher.node(row[i]!, row[i + 1]!));
    row = next;
  }
  return row[0]!;
}

/**
 * Where node (l, i) of a tree of `size` leaves lives: the tile holding the 2^sub stored hashes it
 * folds from (sub = l mod 8), and the offset of the first of them in that tile.
 */
export function locateNode(
  { level, index }: NodeId,
  size: number,
): { tile: TileCoord; sub: number; offset: number; count: number } {
  check(
    Number.isSafeInteger(level) && level >= 0 && Number.isSafeInteger(index) && index >= 0,
    "malformed",
    "bad node id",
  );
  check(
    (index + 1) * 2 ** level <= size,
    "not-found",
    `node ${level}/${index} is not complete at size ${size}`,
  );
  const tileLevel = Math.floor(level / TILE_HEIGHT);
  const sub = level - tileLevel * TILE_HEIGHT;
  const count = 2 ** sub;
  const first = index * count; // first stored node at tree level 8·tileLevel
  const tile = tileForStoredNode(tileLevel, first + count - 1, size);
  return { tile, sub, offset: first - tile.index * TILE_WIDTH, count };
}

export function tileNodeReader(
  size: number,
  fetchTile: TileFetcher,
  hasher: Hasher = rfc6962,
): NodeReader {
  check(Number.isSafeInteger(size) && size >= 0, "bad-size", `size ${show(size)}`);
  return async (ids: readonly NodeId[]) => {
    const plans = ids.map((id) => locateNode(id, size));
    const fetched = new Map<string, Promise<Uint8Array>>();
    for (const p of plans) {
      const key = hashTilePath(p.tile);
      if (!fetched.has(key)) {
        fetched.set(
          key,
          fetchTile(p.tile.level, p.tile.index, p.tile.width).then((data) => {
            check(
              data instanceof Uint8Array && data.length >= p.tile.width * 32,
              "malformed",
              `${key}: want ${p.tile.width * 32} bytes, got ${show(data?.length)}`,
            );
            check(data.length % 32 === 0, "malformed", `${key}: length is not a multiple of 32`);
            return data.subarray(0, p.tile.width * 32);
          }),
        );
      }
    }
    const tiles = new Map<string, Uint8Array>();
    await Promise.all([...fetched].map(async ([k, v]) => tiles.set(k, await v)));
    return plans.map((p) =>
      foldPerfect(tiles.get(hashTilePath(p.tile))!, p.offset, p.count, hasher),
    );
  };
}

/**
 * The contents of every hash tile at tile level `level` computed from all leaf hashes: what a
 * log stores, for tests and for rebuilding tiles in an audit.
 */
export function tileRowFromLeafHashes(
  leafHashes: readonly Hash[],
  level: number,
  hasher: Hasher = rfc6962,
): Hash[] {
  let row = [...leafHashes];
  for (let l = 0; l < level * TILE_HEIGHT; l++) {
    const next: Hash[] = [];
    for (let i = 0; i + 1 < row.length; i += 2) next.push(hasher.node(row[i]!, row[i + 1]!));
    row = next;
  }
  return row;
}
