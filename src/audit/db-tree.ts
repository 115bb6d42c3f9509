// The tree rebuilt from the leaves in a database audit (tree-tiles.ts), against what the database
// stores of it:
//   - the hash tiles: each full tile equals the stored row once the pass completes it (level 0
//     against the rows read with the chunk); at the end, the partial tiles too, and no stored tile
//     lies beyond the tree (tile-compare.ts says what "equal" demands);
//   - log_state: its root and right edge are the rebuilt tree's at its size, and no leaf lies
//     beyond that size.
// A leaf with no row (or a leaf hash that is not 32 bytes, named by the leaf checks) still takes
// its place in the tree, so one missing leaf does not make every later tile and root a finding:
// the stored level-0 tile's hash for it stands in, or zeros.

import { bytesEqual, concatBytes } from "../core/encoding.ts";
import type { Hash } from "../core/hash.ts";
import type { Sql } from "../db/sql.ts";
import { nodeHasher } from "../lib/node-hasher.ts";
import { rootFinding } from "./checkpoints.ts";
import { readTilesAt, readTilesBeyond } from "./db-queries.ts";
import { type Findings, tileName } from "./findings.ts";
import { compareTile } from "./tile-compare.ts";
import { type RebuiltTile, TreeRebuilder } from "./tree-tiles.ts";

const NO_HASH = new Uint8Array(32);

/** The coordination row: the committed tree's size, root and compact range. */
export interface LogState {
  size: number;
  root: Uint8Array;
  right_edge: Uint8Array;
}

export class TreeChecks {
  /** Hash tiles compared. */
  tiles = 0;
  private readonly tree = new TreeRebuilder(nodeHasher);

  constructor(
    private readonly sql: Sql,
    private readonly findings: Findings,
  ) {}

  get size(): number {
    return this.tree.size;
  }

  /** The root of the leaves appended so far. */
  root(): Hash {
    return this.tree.root();
  }

  /** Appends the leaf hash of a leaves row. */
  append(leafHash: Uint8Array): void {
    this.tree.append(leafHash.length === 32 ? leafHash : NO_HASH);
  }

  /** Appends, for leaf `i` that has no row, the stored tile's hash for it. */
  appendMissing(i: number, tiles0: Map<number, Uint8Array>): void {
    const t = tiles0.get(Math.floor(i / 256));
    const o = (i % 256) * 32;
    this.tree.append(t && t.length >= o + 32 ? t.subarray(o, o + 32) : NO_HASH);
  }

  /** Compares the full tiles the rebuild completed; level 0 against the rows read with the chunk. */
  async compareFullTiles(tiles0: Map<number, Uint8Array>): Promise<void> {
    const done = this.tree.takeFullTiles();
    const upper = done.filter((t) => t.level > 0);
    const stored = await readTilesAt(this.sql, upper);
    for (const t of done) {
      this.compare(t, t.level === 0 ? tiles0.get(t.index) : stored.get(tileName(t.level, t.index)));
    }
  }

  /** At the end: the partial tiles, and no stored tile beyond the tree. */
  async finishTiles(): Promise<void> {
    const partial = this.tree.partialTiles();
    const stored = await readTilesAt(this.sql, partial);
    for (const t of partial) this.compare(t, stored.get(tileName(t.level, t.index)));
    for (const t of await readTilesBeyond(this.sql, this.tree.tileCounts(), 21)) {
      this.findings.add({
        kind: "tile",
        tile: tileName(t.level, t.idx),
        message: `tile ${tileName(t.level, t.idx)} (${t.len / 32} hashes) lies beyond the tree of size ${this.tree.size}`,
      });
    }
  }

  /** At the end: no leaf beyond log_state's size, and its root and right edge are the tree's. */
  async finishState(state: LogState): Promise<void> {
    const size = state.size;
    const beyond = await this.sql.query<{ idx: number }>(
      "SELECT idx FROM leaves WHERE idx >= $1 ORDER BY idx LIMIT 1",
      [size],
    );
    if (beyond[0])
      this.findings.add({
        kind: "state",
        index: beyond[0].idx,
        message: `leaf ${beyond[0].idx} lies beyond log_state.size ${size}`,
      });
    const f = rootFinding(size, state.root, this.tree.root(), "log_state");
    if (f) this.findings.add({ ...f, kind: "state" });
    if (!bytesEqual(state.right_edge, concatBytes(...this.tree.rightEdge()))) {
      this.findings.add({
        kind: "state",
        size,
        message: `log_state: the right edge is not the compact range of the first ${size} leaves`,
      });
    }
  }

  private compare(t: RebuiltTile, stored: Uint8Array | undefined): void {
    this.tiles++;
    const f = compareTile(t, stored, this.tree.size);
    if (f) this.findings.add(f);
  }
}
