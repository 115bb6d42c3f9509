// Hash tiles in the database (C2SP tlog-tiles, height 8). Row (level L, idx N) holds the hashes of
// tree nodes at tree level 8L with node indexes 256N … 256N+255, concatenated, as far as the tree
// has them: the longest prefix, extended in place as the tree grows (a trigger refuses any other
// change). A partial tile .p/W of any earlier size is the first W hashes of the row.
//
// Example: at size 70000, row (0, 273) holds the leaf hashes of leaves 69888…69999 (112 hashes,
// served as tile/0/273.p/112) and row (1, 1) the 17 level-8 nodes 256…272, each the root of 256
// leaves.

import type { Hash } from "../core/hash.ts";
import type { Sql } from "../db/sql.ts";
import { packBytes } from "./sql-arrays.ts";

export interface TileUpdate {
  /** Tile level L: the node is at tree level 8L. */
  level: number;
  /** Node index at tree level 8L. */
  index: number;
  hash: Hash;
}

/**
 * Appends new nodes to their tiles, under the sequencer's lock. Each tile row must hold exactly
 * the hashes the tree had at `oldSize`; the append is checked in SQL (the DO UPDATE's WHERE) and a
 * row count that does not match aborts the transaction, so tiles can never drift from the tree.
 */
export async function extendTiles(tx: Sql, oldSize: number, updates: TileUpdate[]): Promise<void> {
  if (updates.length === 0) return;
  // Nodes arrive in order; at tree level 8L they must continue from the nodes complete at oldSize.
  const next = new Map<number, number>();
  const groups = new Map<string, { level: number; idx: number; hashes: Hash[] }>();
  for (const u of updates) {
    const want = next.get(u.level) ?? Math.floor(oldSize / 256 ** u.level);
    if (u.index !== want)
      throw new Error(`tile level ${u.level}: node ${u.index}, expected ${want}`);
    next.set(u.level, want + 1);
    const idx = Math.floor(u.index / 256);
    const key = `${u.level}/${idx}`;
    let g = groups.get(key);
    if (!g) {
      g = { level: u.level, idx, hashes: [] };
      groups.set(key, g);
    }
    g.hashes.push(u.hash);
  }
  const rows = [...groups.values()];
  const packed = packBytes(
    rows.map((g) => {
      const out = new Uint8Array(g.hashes.length * 32);
      for (const [i, h] of g.hashes.entries()) out.set(h, i * 32);
      return out;
    }),
  );
  const done = await tx.query(
    `INSERT INTO tiles AS t (level, idx, hashes)
     SELECT l, i, substring($1::bytea FROM off + 1 FOR len)
       FROM unnest($2::int4[], $3::int8[], $4::int4[], $5::int4[]) AS u(l, i, off, len)
     ON CONFLICT (level, idx) DO UPDATE SET hashes = t.hashes || EXCLUDED.hashes
       WHERE length(t.hashes) = (($6::int8 / power(256::numeric, t.level)::int8) % 256) * 32
     RETURNING 1`,
    [
      packed.blob,
      rows.map((g) => g.level),
      rows.map((g) => g.idx),
      packed.offs,
      packed.lens,
      oldSize,
    ],
  );
  if (done.length !== rows.length) {
    throw new Error(
      `hash tiles out of step with the tree at size ${oldSize}: ${rows.length - done.length} tile(s) not extended`,
    );
  }
}

/** Reads tile (level, idx) truncated to `width` hashes; undefined when the row has fewer. */
export async function readTile(
  sql: Sql,
  level: number,
  idx: number,
  width: number,
): Promise<Uint8Array | undefined> {
  const rows = await sql.query<{ hashes: Uint8Array }>(
    "SELECT hashes FROM tiles WHERE level = $1 AND idx = $2",
    [level, idx],
  );
  const h = rows[0]?.hashes;
  if (!h || h.length < width * 32) return undefined;
  return h.subarray(0, width * 32);
}
