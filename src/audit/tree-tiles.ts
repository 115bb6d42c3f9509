// Rebuilding the tree and its hash tiles from leaf hashes, streamed in index order, in bounded
// memory: a compact range (O(log n) hashes) for the root at any size, plus the one tile being
// filled at each tile level (256 hashes each, at most 7 levels below 2^53 leaves).
//
// Tile (L, N) holds the nodes at tree level 8L with indexes 256N … 256N+255 (C2SP tlog-tiles,
// see src/core/tiles.ts). The compact range reports every perfect subtree an append completes, so
// the level-8L nodes arrive in order and fill the tiles left to right. Worked example: appending
// leaf 65535 completes node (0, 65535), the last hash of tile 0/255 (full, emitted), then merges up
// to node (8, 255), the last hash of tile 1/0 (full, emitted), then node (16, 0), the first hash
// of tile 2/0 (partial, emitted only by `partialTiles` at the end). At size 70000 the partial
// tiles are 0/273 (112 hashes), 1/1 (17) and 2/0 (1), as tilesForSize(70000) lists.

import { CompactRange } from "../core/compact.ts";
import type { Hash, Hasher } from "../core/hash.ts";
import { nodesAtTileLevel, TILE_HEIGHT, TILE_WIDTH } from "../core/tiles.ts";

export interface RebuiltTile {
  level: number;
  index: number;
  /** The tile's hashes, 32 bytes each: 256 for a full tile, fewer for the last of its level. */
  hashes: Uint8Array;
}

export class TreeRebuilder {
  private readonly range: CompactRange;
  /** Per tile level, the tile being filled: its hashes so far (32 bytes each). */
  private readonly open: Uint8Array[] = [];
  private full: RebuiltTile[] = [];

  constructor(hasher: Hasher) {
    this.range = CompactRange.empty(hasher);
  }

  get size(): number {
    return this.range.size;
  }

  /** Appends the next leaf hash. Tiles it completes are returned by `takeFullTiles`. */
  append(leafHash: Hash): void {
    this.range.append(leafHash, (id, hash) => {
      if (id.level % TILE_HEIGHT !== 0) return;
      const level = id.level / TILE_HEIGHT;
      let buf = this.open[level];
      if (!buf) {
        buf = new Uint8Array(TILE_WIDTH * 32);
        this.open[level] = buf;
      }
      const offset = id.index % TILE_WIDTH;
      buf.set(hash, offset * 32);
      if (offset === TILE_WIDTH - 1) {
        this.full.push({ level, index: (id.index - offset) / TILE_WIDTH, hashes: buf.slice() });
      }
    });
  }

  /** The full tiles completed since the last call, lowest level first within each append. */
  takeFullTiles(): RebuiltTile[] {
    const out = this.full;
    this.full = [];
    return out;
  }

  /** The RFC 6962 root of the leaves appended so far. */
  root(): Hash {
    return this.range.root();
  }

  /** The compact range of the tree so far, largest subtree first (log_state.right_edge). */
  rightEdge(): Hash[] {
    return this.range.rightEdge();
  }

  /** The partial tile of each level at the current size (levels whose node count is not a multiple of 256). */
  partialTiles(): RebuiltTile[] {
    const out: RebuiltTile[] = [];
    for (let level = 0; ; level++) {
      const n = nodesAtTileLevel(this.size, level);
      if (n === 0) break;
      const width = n % TILE_WIDTH;
      if (width === 0) continue;
      const buf = this.open[level]!;
      out.push({ level, index: (n - width) / TILE_WIDTH, hashes: buf.slice(0, width * 32) });
    }
    return out;
  }

  /** How many tiles each level has at the current size (full and partial), bottom up. */
  tileCounts(): number[] {
    const out: number[] = [];
    for (let level = 0; ; level++) {
      const n = nodesAtTileLevel(this.size, level);
      if (n === 0) return out;
      out.push(Math.ceil(n / TILE_WIDTH));
    }
  }
}
