// The hash tiles a witness keeps for each log it follows (C2SP tlog-tiles), so that a peer can
// build a consistency proof from the witness holding the larger head instead of from the log,
// which may withhold its tiles from whoever would catch it. A tile is stored only once it is bound
// to a root this witness cosigned; nothing else is ever served.
//
// Binding. Let N be the cosigned size and R its root. A full tile at level L holds the 256 nodes
// whose fold (8 levels up) is entry i mod 256 of tile (L+1, ⌊i/256⌋); the partial tiles of every
// level together hold exactly the perfect subtrees N decomposes into, so treeRoot(N) reads only
// them. Hence: every partial tile is bound to R when treeRoot(N) from them equals R; every full
// tile is bound when its fold equals its parent's entry and the parent is bound. Tiles bound to an
// earlier cosigned root stay true at N: the witness cosigned N only after a consistency proof.
//
// Sync, one round (syncTiles), for a log at cosigned (N, R) whose tiles are held at size H ≤ N:
//   1. fetch the partial tile of each level whose width at N differs from its width at H (at most
//      one per level, so at most 8 for any size below 2^63), and check that treeRoot(N) = R;
//   2. walking from the top level down, fetch the full tiles not yet held, each checked against
//      its parent's entry as soon as it is fetched, within `budget` tiles and `timeBudgetMs` per
//      round; a level is entered only once every full tile above it is held, so each parent is
//      bound before its children. For N = 1,000,000 step 1 fetches tile/2/000.p/15,
//      tile/1/015.p/66 and tile/0/x003/906.p/64 (1,000,000 = 3906·256 + 64, 3906 = 15·256 + 66),
//      step 2 the 15 full tiles of level 1, then the 3,906 of level 0 over 4 rounds;
//   3. store all in one transaction, a wider tile replacing a narrower one, and set H = N once
//      every full tile above level 0 is held (level 0, 255/256 of the bytes, is filled in after).
// A check that fails stores nothing: a lying or broken tile server, retried next round. A log
// signing a huge size (2^40 leaves is 16.8M tiles above level 0, 128 GiB) thus costs a bounded
// number of fetches, bytes and seconds per round, resumed at the next.
//
// Storage: 32 bytes per leaf at level 0, 1/256 of that above. A million leaves is 3,924 tiles
// (3,906 full level-0 tiles and tile/0/x003/906.p/64, 16 of level 1, 1 of level 2): 32.1 MB of
// hashes (its size on disk and sync time are in docs/performance.md).

import { bytesEqual } from "../core/encoding.ts";
import { check, TrailError } from "../core/errors.ts";
import type { Hash, Hasher } from "../core/hash.ts";
import { treeRoot } from "../core/proof.ts";
import { foldPerfect, type TileFetcher, tileNodeReader } from "../core/tile-reader.ts";
import { hashTilePath, nodesAtTileLevel, TILE_WIDTH, type TileCoord } from "../core/tiles.ts";
import type { Sql } from "../db/sql.ts";

/** Full tiles fetched per round at most, all levels together (8 MiB). */
export const DEFAULT_TILE_BUDGET = 1024;

/** Milliseconds a round may spend fetching full tiles before it stores what it has bound. */
export const DEFAULT_TILE_TIME_BUDGET_MS = 30_000;

const key = (level: number, index: number) => `${level}/${index}`;

/** The width of tile (level, index) in a tree of `size` leaves; 0 when it has no node yet. */
function widthAt(size: number, level: number, index: number): number {
  return Math.max(0, Math.min(TILE_WIDTH, nodesAtTileLevel(size, level) - index * TILE_WIDTH));
}

/** The tile held for (origin, level, index), truncated to `width`, when it is at least that wide. */
export async function readTile(
  sql: Sql,
  origin: string,
  level: number,
  index: number,
  width: number,
): Promise<Uint8Array | undefined> {
  const rows = await sql.query<{ width: number; data: Uint8Array }>(
    "SELECT width, data FROM witness_tiles WHERE origin = $1 AND level = $2 AND idx = $3",
    [origin, level, index],
  );
  const t = rows[0];
  if (!t || t.width < width) return undefined;
  return new Uint8Array(t.data).subarray(0, width * 32);
}

/** The size at which the log's tiles are held (0: none). */
export async function tilesSize(sql: Sql, origin: string): Promise<number> {
  const rows = await sql.query<{ tiles_size: number }>(
    "SELECT tiles_size FROM witness_logs WHERE origin = $1",
    [origin],
  );
  return Number(rows[0]?.tiles_size ?? 0);
}

/** A TileFetcher over the tiles held for `origin` (not-found when a tile is not held that wide). */
export function storedTileFetcher(sql: Sql, origin: string): TileFetcher {
  return async (level, index, width) => {
    const t = await readTile(sql, origin, level, index, width);
    check(t, "not-found", `hash tile ${hashTilePath({ level, index, width })} is not held`);
    return t;
  };
}

export interface SyncResult {
  /** Tiles stored this round. */
  stored: number;
  /** Full tiles (any level) still to fetch. */
  missing: number;
}

/**
 * One sync round for `origin` at its cosigned head (steps 1 to 3 above). Throws TrailError
 * "proof-mismatch" or "malformed" when the fetched tiles are not bound to the head (nothing is
 * stored), and whatever `fetchTile` throws when a tile cannot be had.
 */
export async function syncTiles(
  sql: Sql,
  origin: string,
  head: { size: number; root: Hash },
  fetchTile: TileFetcher,
  hasher: Hasher,
  budget = DEFAULT_TILE_BUDGET,
  timeBudgetMs = DEFAULT_TILE_TIME_BUDGET_MS,
  now: () => number = Date.now,
): Promise<SyncResult> {
  const n = head.size;
  const held = await tilesSize(sql, origin);
  if (n === 0 || held > n) return { stored: 0, missing: 0 };
  const full0 = Math.floor(nodesAtTileLevel(n, 0) / TILE_WIDTH);
  const countFull0 = async () =>
    Number(
      (
        await sql.query<{ n: number }>(
          "SELECT count(*)::int AS n FROM witness_tiles WHERE origin = $1 AND level = 0 AND width = $2",
          [origin, TILE_WIDTH],
        )
      )[0]?.n ?? 0,
    );
  // Nothing changed since the last round: the common case of a poll.
  if (held === n && (await countFull0()) >= full0) return { stored: 0, missing: 0 };
  const fetched = new Map<string, { t: TileCoord; data: Uint8Array }>();
  const get = async (t: TileCoord) => {
    const data = await fetchTile(t.level, t.index, t.width);
    check(
      data instanceof Uint8Array && data.length >= t.width * 32 && data.length % 32 === 0,
      "malformed",
      `${hashTilePath(t)}: want ${t.width * 32} bytes, got ${data?.length}`,
    );
    const kept = data.slice(0, t.width * 32);
    fetched.set(key(t.level, t.index), { t, data: kept });
    return kept;
  };
  const tileAtN = async (level: number, index: number): Promise<Uint8Array | undefined> => {
    const w = widthAt(n, level, index);
    return fetched.get(key(level, index))?.data ?? (await readTile(sql, origin, level, index, w));
  };
  const parentEntry = async (t: TileCoord): Promise<Hash> => {
    const parent = await tileAtN(t.level + 1, Math.floor(t.index / TILE_WIDTH));
    const at = t.index % TILE_WIDTH;
    check(parent, "not-found", `the parent of ${hashTilePath(t)} is not held`);
    return parent.subarray(at * 32, at * 32 + 32);
  };
  // 1. The partial tiles that changed since `held`, bound to the cosigned root.
  let top = 0;
  for (let level = 0; nodesAtTileLevel(n, level) > 0; level++) {
    top = level;
    const nodes = nodesAtTileLevel(n, level);
    const t = { level, index: Math.floor(nodes / TILE_WIDTH), width: nodes % TILE_WIDTH };
    if (t.width && widthAt(held, level, t.index) !== t.width) await get(t);
  }
  const reader = tileNodeReader(
    n,
    async (level, index, width) => {
      const data = await tileAtN(level, index);
      check(data, "not-found", `${hashTilePath({ level, index, width })} is not held`);
      return data;
    },
    hasher,
  );
  if (!bytesEqual(await treeRoot(n, reader, hasher), head.root)) {
    throw new TrailError(
      "proof-mismatch",
      `the hash tiles at size ${n} do not reproduce the cosigned root of that size`,
    );
  }
  // 2. Full tiles not held yet, top level first, each bound to its parent as it is fetched.
  const heldFull = new Map(
    (
      await sql.query<{ level: number; n: number }>(
        "SELECT level, count(*)::int AS n FROM witness_tiles WHERE origin = $1 AND width = $2 GROUP BY level",
        [origin, TILE_WIDTH],
      )
    ).map((r) => [Number(r.level), Number(r.n)]),
  );
  const stop = now() + timeBudgetMs;
  let fetchedFull = 0;
  let aboveDone = true;
  for (let level = top; level >= 0; level--) {
    const fullL = Math.floor(nodesAtTileLevel(n, level) / TILE_WIDTH);
    if ((heldFull.get(level) ?? 0) >= fullL) continue;
    const have = new Set(
      (
        await sql.query<{ idx: number }>(
          "SELECT idx FROM witness_tiles WHERE origin = $1 AND level = $2 AND width = $3",
          [origin, level, TILE_WIDTH],
        )
      ).map((r) => Number(r.idx)),
    );
    let i = 0;
    for (; i < fullL && fetchedFull < budget && now() < stop; i++) {
      if (have.has(i)) continue;
      const t = { level, index: i, width: TILE_WIDTH };
      const data = await get(t);
      fetchedFull++;
      if (!bytesEqual(foldPerfect(data, 0, TILE_WIDTH, hasher), await parentEntry(t)))
        throw new TrailError("proof-mismatch", `${hashTilePath(t)} does not hash to its parent`);
    }
    while (i < fullL && have.has(i)) i++;
    if (i < fullL) {
      if (level > 0) aboveDone = false;
      break; // out of budget: the levels below wait for this one, next round
    }
  }
  let missing = -fetchedFull;
  for (let level = 0; level <= top; level++)
    missing += Math.max(
      0,
      Math.floor(nodesAtTileLevel(n, level) / TILE_WIDTH) - (heldFull.get(level) ?? 0),
    );
  // 3. Store, a wider tile replacing a narrower one; the held size last, once all above level 0.
  await sql.begin(async (tx) => {
    for (const { t, data } of fetched.values()) {
      await tx.query(
        `INSERT INTO witness_tiles (origin, level, idx, width, data) VALUES ($1, $2, $3, $4, $5)
           ON CONFLICT (origin, level, idx) DO UPDATE SET width = excluded.width, data = excluded.data
           WHERE witness_tiles.width < excluded.width`,
        [origin, t.level, t.index, t.width, data],
      );
    }
    if (!aboveDone) return;
    await tx.query(
      "UPDATE witness_logs SET tiles_size = $2 WHERE origin = $1 AND size >= $2 AND tiles_size <= $2",
      [origin, n],
    );
  });
  return { stored: fetched.size, missing: Math.max(0, missing) };
}
