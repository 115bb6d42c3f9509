// Reading any node hash of a tree from its C2SP tlog-tiles hash tiles, as a NodeReader for the
// proof code (proof.ts), and computing tile contents from leaf hashes.
//
// Node (l, i), the perfect subtree of 2^l leaves starting at leaf i·2^l, is stored directly when
// l is a multiple of 8 (tile level l/8, entry i mod 256); otherwise it is hashed up from the
// 2^(l mod 8) stored nodes below it, which always lie in one tile (tiles.ts, tileForNode).
// Example, a tree of 300 leaves: node (3, 5) covers leaves 40 … 47, so it is entries 40 … 47 of
// the full tile/0/000 hashed up three levels; leaf hash (0, 299) is entry 43 of tile/0/001.p/44;
// node (8, 0) is entry 0 of tile/1/000.p/1; node (3, 37) (leaves 296 … 303) is "not-found".
//
// Each call fetches every tile it needs once, in parallel. A tile must hold exactly its width's
// hashes; but a log may serve a longer tile than asked for (tlog-tiles "Partial Tiles": a client
// MAY fetch the full tile in place of a partial one the log has since deleted), so any longer
// tile of up to 256 whole hashes is accepted and truncated: a partial tile is a prefix of every
// wider version of it. Shorter, longer than 256 hashes, or ragged: "malformed".

import { check, show } from "./errors.ts";
import { HASH_SIZE, type Hash, type Hasher, rfc6962 } from "./hash.ts";
import type { NodeId, NodeReader } from "./proof.ts";
import {
  hashTilePath,
  MAX_TILE_LEVEL,
  TILE_HEIGHT,
  TILE_WIDTH,
  type TileCoord,
  tileForNode,
} from "./tiles.ts";

/** Fetches hash tile (level, index) of `width` hashes: width·32 bytes, or a longer version. */
export type TileFetcher = (level: number, index: number, width: number) => Promise<Uint8Array>;

/** Folds `count` (a power of two) consecutive hashes of `data` from entry `offset` to one. */
function foldPerfect(data: Uint8Array, offset: number, count: number, hasher: Hasher): Hash {
  let row: Hash[] = [];
  for (let i = offset; i < offset + count; i++) {
    row.push(data.slice(i * HASH_SIZE, (i + 1) * HASH_SIZE));
  }
  while (row.length > 1) {
    const next: Hash[] = [];
    for (let i = 0; i < row.length; i += 2) next.push(hasher.node(row[i]!, row[i + 1]!));
    row = next;
  }
  return row[0]!;
}

/** Checks a fetched tile's length against the width asked for, and cuts it to that width. */
function checkTile(data: unknown, tile: TileCoord): Uint8Array {
  const want = tile.width * HASH_SIZE;
  const what = hashTilePath(tile);
  check(data instanceof Uint8Array, "malformed", `${what}: the fetcher returned no bytes`);
  check(
    data.length >= want && data.length <= TILE_WIDTH * HASH_SIZE && data.length % HASH_SIZE === 0,
    "malformed",
    `${what}: want ${want} bytes (or a longer tile of whole hashes), got ${data.length}`,
  );
  return data.subarray(0, want);
}

/**
 * A NodeReader over the hash tiles of a tree of `size` leaves. Rejects (TrailError) with
 * "not-found" for a node not complete at `size`, "malformed" for a bad node id or a tile of the
 * wrong length; errors thrown by `fetchTile` pass through unchanged.
 */
export function tileNodeReader(
  size: number,
  fetchTile: TileFetcher,
  hasher: Hasher = rfc6962,
): NodeReader {
  check(Number.isSafeInteger(size) && size >= 0, "bad-size", `tree size ${show(size)}`);
  return async (ids: readonly NodeId[]) => {
    // Preconditions for every node before any fetch.
    const spans = ids.map((id) => tileForNode(id, size));
    const tiles = new Map<string, Promise<Uint8Array>>();
    for (const { tile } of spans) {
      const key = hashTilePath(tile);
      if (!tiles.has(key)) {
        tiles.set(
          key,
          fetchTile(tile.level, tile.index, tile.width).then((data) => checkTile(data, tile)),
        );
      }
    }
    // Settle every fetch before reporting the first failure, so none is left unobserved.
    const settled = await Promise.allSettled(tiles.values());
    for (const s of settled) if (s.status === "rejected") throw s.reason;
    const data = new Map<string, Uint8Array>();
    let i = 0;
    for (const key of tiles.keys()) {
      data.set(key, (settled[i++] as PromiseFulfilledResult<Uint8Array>).value);
    }
    return spans.map((s) =>
      foldPerfect(data.get(hashTilePath(s.tile))!, s.offset, s.count, hasher),
    );
  };
}

/**
 * All hashes of tile level `level` (tree level 8·level, left to right) computed from every leaf
 * hash of a tree: the concatenation of all its tiles' contents. Only complete nodes are included,
 * so a tree of 300 leaves has 300 level-0 hashes and 1 level-1 hash.
 */
export function tileRowFromLeafHashes(
  leafHashes: readonly Hash[],
  level: number,
  hasher: Hasher = rfc6962,
): Hash[] {
  check(
    Number.isInteger(level) && level >= 0 && level <= MAX_TILE_LEVEL,
    "malformed",
    `tile level ${show(level)} is not in 0..${MAX_TILE_LEVEL}`,
  );
  let row = [...leafHashes];
  for (let l = 0; l < level * TILE_HEIGHT; l++) {
    const next: Hash[] = [];
    for (let i = 0; i + 1 < row.length; i += 2) next.push(hasher.node(row[i]!, row[i + 1]!));
    row = next;
  }
  return row;
}

/**
 * The bytes of hash tile `tile` computed from the leaf hashes of a tree: width·32 bytes. For
 * tests, audits and rebuilding a log's tiles. "not-found" when the tree lacks the tile's nodes.
 */
export function tileFromLeafHashes(
  leafHashes: readonly Hash[],
  tile: TileCoord,
  hasher: Hasher = rfc6962,
): Uint8Array {
  hashTilePath(tile); // validates the coordinates
  const span = 256 ** tile.level;
  const first = tile.index * TILE_WIDTH;
  check(
    (first + tile.width) * span <= leafHashes.length,
    "not-found",
    `${hashTilePath(tile)} needs ${(first + tile.width) * span} leaves, have ${leafHashes.length}`,
  );
  const leaves = leafHashes.slice(first * span, (first + tile.width) * span);
  const row = tileRowFromLeafHashes(leaves, tile.level, hasher);
  const out = new Uint8Array(tile.width * HASH_SIZE);
  row.forEach((h, i) => {
    out.set(h, i * HASH_SIZE);
  });
  return out;
}
