// C2SP tlog-tiles ("Merkle Tree" and "Log entries"): tile coordinates and paths. Tiles have
// height 8, so they are 256 hashes wide. Hash tile (L, N) of width W (1..256, 256 = full) holds
// the hashes of the tree nodes at tree level 8L with node indexes 256N … 256N+W−1, concatenated,
// 32 bytes each: each one the root of a perfect subtree of 256^L leaves. Entry bundle N of width
// W holds leaves 256N … 256N+W−1. A partial tile or bundle (W < 256) is the right edge of a tree
// and its W hashes are a prefix of the full tile it grows into.
//
// Index encoding: N in groups of three digits, every group but the last prefixed with "x":
// 1234067 → "x001/x234/067".
//
// Worked example, leaf 1234067 in a tree of 2,000,000 leaves:
//   entry bundle 1234067 div 256 = 4820, path tile/entries/x004/820, offset
//   1234067 − 4820·256 = 147; its leaf hash is entry 147 of hash tile tile/0/x004/820.
//   Tree node (8, 4820), the root of leaves 1233920 … 1234175, is entry 4820 mod 256 = 212 of
//   tile/1/018 (4820 div 256 = 18). Node (10, 1205) is not stored: it is hashed up from the
//   2^(10−8) = 4 level-8 nodes 4820 … 4823, entries 212 … 215 of tile/1/018.
// A tree of size 70000 has 273 full level-0 tiles (273·256 = 69888) and tile/0/273.p/112;
// level 1 holds floor(70000/256) = 273 nodes: tile/1/000 and tile/1/001.p/17; level 2 holds
// floor(70000/65536) = 1 node: tile/2/000.p/1.
//
// Paths are strict: format(parse(p)) === p, so every tile has exactly one spelling. They start
// with "tile/": an HTTP router hands over its path without the leading "/" and the log's prefix.

import { check, show } from "./errors.ts";

export const TILE_WIDTH = 256;
export const TILE_HEIGHT = 8;
/**
 * Highest tile level a path may name (tlog-tiles: 0..63). With sizes below 2^53 only levels
 * 0..6 ever hold a node (256^7 = 2^56), so higher levels parse but are always beyond the tree.
 */
export const MAX_TILE_LEVEL = 63;

export interface TileCoord {
  /** Tile level L: the tile holds tree nodes at tree level 8L. */
  level: number;
  index: number;
  /** 1..256; 256 is a full tile. */
  width: number;
}

export type ParsedTilePath =
  | ({ kind: "hash" } & TileCoord)
  | ({ kind: "entries" } & Omit<TileCoord, "level">);

/** A perfect subtree of 2^level leaves starting at leaf index·2^level (as in proof.ts). */
export interface TreeNode {
  level: number;
  index: number;
}

function checkIndex(n: number, what: string): void {
  check(Number.isSafeInteger(n) && n >= 0, "malformed", `${what} ${show(n)} is not a safe index`);
}

/** N as tlog-tiles path elements: 1234067 → "x001/x234/067". */
export function encodeTileIndex(n: number): string {
  checkIndex(n, "tile index");
  let s = String(n % 1000).padStart(3, "0");
  n = Math.floor(n / 1000);
  while (n > 0) {
    s = `x${String(n % 1000).padStart(3, "0")}/${s}`;
    n = Math.floor(n / 1000);
  }
  return s;
}

function widthSuffix(width: number): string {
  check(
    Number.isInteger(width) && width >= 1 && width <= TILE_WIDTH,
    "malformed",
    `tile width ${show(width)} is not in 1..256`,
  );
  return width === TILE_WIDTH ? "" : `.p/${width}`;
}

/** "tile/L/N" for a full tile, "tile/L/N.p/W" for a partial one. */
export function hashTilePath(t: TileCoord): string {
  check(
    Number.isInteger(t.level) && t.level >= 0 && t.level <= MAX_TILE_LEVEL,
    "malformed",
    `tile level ${show(t.level)} is not in 0..${MAX_TILE_LEVEL}`,
  );
  return `tile/${t.level}/${encodeTileIndex(t.index)}${widthSuffix(t.width)}`;
}

/** "tile/entries/N" for a full bundle, "tile/entries/N.p/W" for a partial one. */
export function entriesPath(index: number, width: number): string {
  return `tile/entries/${encodeTileIndex(index)}${widthSuffix(width)}`;
}

// Level: "entries", or 0..99 without leading zeros (range-checked below); index groups of exactly
// three digits; width 1..999 without leading zeros (range-checked below).
const PATH_RE =
  /^tile\/(entries|0|[1-9][0-9]?)\/((?:x[0-9]{3}\/)*)([0-9]{3})(?:\.p\/([1-9][0-9]{0,2}))?$/;
/** 9007199254740991 has six groups of three digits. */
const MAX_GROUPS = 6;

/** Parses a tile or entry-bundle path; anything but the one canonical spelling is "malformed". */
export function parseTilePath(path: string): ParsedTilePath {
  check(
    typeof path === "string" && path.length <= 64,
    "malformed",
    "a tile path is a short string",
  );
  const m = PATH_RE.exec(path);
  check(m, "malformed", `not a tile path: ${show(path)}`);
  const groups = m[2] ? m[2].slice(0, -1).split("/") : [];
  groups.push(m[3]!);
  // No leading zero group: "x000/001" would be a second spelling of "001".
  check(
    groups.length === 1 || groups[0] !== "x000",
    "malformed",
    `tile index has a leading zero group: ${show(path)}`,
  );
  check(groups.length <= MAX_GROUPS, "malformed", `tile index above 2^53-1: ${show(path)}`);
  let index = 0;
  for (const g of groups) index = index * 1000 + Number(g.replace("x", ""));
  check(Number.isSafeInteger(index), "malformed", `tile index above 2^53-1: ${show(path)}`);
  const width = m[4] === undefined ? TILE_WIDTH : Number(m[4]);
  check(width < TILE_WIDTH || m[4] === undefined, "malformed", `width above 255: ${show(path)}`);
  if (m[1] === "entries") return { kind: "entries", index, width };
  const level = Number(m[1]);
  check(level <= MAX_TILE_LEVEL, "malformed", `tile level above ${MAX_TILE_LEVEL}: ${show(path)}`);
  return { kind: "hash", level, index, width };
}

function checkSize(size: number): void {
  check(Number.isSafeInteger(size) && size >= 0, "bad-size", `tree size ${show(size)}`);
}

/** How many nodes at tree level 8L are complete in a tree of `size` leaves: floor(size/256^L). */
export function nodesAtTileLevel(size: number, level: number): number {
  return Math.floor(size / 2 ** (TILE_HEIGHT * level));
}

/**
 * Every hash tile of a tree of `size` leaves, bottom level first and left to right within a
 * level: the full tiles, then the partial one if any; levels stop at the first with no complete
 * node (size 256 ends with tile/1/000.p/1; size 0 has no tiles). A generator: a large tree has
 * millions of tiles.
 */
export function* tilesForSize(size: number): Generator<TileCoord> {
  checkSize(size);
  for (let level = 0; ; level++) {
    const n = nodesAtTileLevel(size, level);
    if (n === 0) return;
    const full = Math.floor(n / TILE_WIDTH);
    for (let i = 0; i < full; i++) yield { level, index: i, width: TILE_WIDTH };
    if (n % TILE_WIDTH) yield { level, index: full, width: n % TILE_WIDTH };
  }
}

/**
 * The tile holding stored node (tree level 8·level, index), with the width that tile has in a
 * tree of `size` leaves. "not-found" when that node is not complete at `size`.
 */
export function tileForStoredNode(level: number, index: number, size: number): TileCoord {
  checkSize(size);
  checkIndex(index, "node index");
  const n = nodesAtTileLevel(size, level);
  check(
    index < n,
    "not-found",
    `node ${index} at tile level ${level} is not complete at size ${size}`,
  );
  const tileIndex = Math.floor(index / TILE_WIDTH);
  return { level, index: tileIndex, width: Math.min(TILE_WIDTH, n - tileIndex * TILE_WIDTH) };
}

/** Where a node's hash comes from: `count` consecutive hashes of `tile` from entry `offset`. */
export interface TileSpan {
  tile: TileCoord;
  offset: number;
  /** 2^(level mod 8): 1 when the node is stored, otherwise the stored nodes it is hashed from. */
  count: number;
}

/**
 * The tile (with its width at `size`) and entries that give the hash of any node (l, i). Tile
 * level T = floor(l/8), sub = l − 8T; the node covers the 2^sub stored nodes i·2^sub … at tree
 * level 8T, which lie in one tile because 2^sub divides 256. "not-found" when the node is not
 * complete at `size`; "malformed" for a level or index that is not a safe integer.
 */
export function tileForNode(node: TreeNode, size: number): TileSpan {
  checkSize(size);
  const { level, index } = node;
  check(
    Number.isSafeInteger(level) && level >= 0 && level < 64,
    "malformed",
    `node level ${show(level)} is not in 0..63`,
  );
  checkIndex(index, "node index");
  check(
    (index + 1) * 2 ** level <= size,
    "not-found",
    `node ${level}/${index} is not complete at size ${size}`,
  );
  const tileLevel = Math.floor(level / TILE_HEIGHT);
  const count = 2 ** (level - tileLevel * TILE_HEIGHT);
  const first = index * count;
  const tile = tileForStoredNode(tileLevel, first + count - 1, size);
  return { tile, offset: first - tile.index * TILE_WIDTH, count };
}

/** The entry bundle holding leaf `index`, its width in a tree of `size` leaves, and the offset. */
export function entryBundleFor(
  index: number,
  size: number,
): { index: number; width: number; offset: number } {
  checkSize(size);
  checkIndex(index, "leaf index");
  check(index < size, "not-found", `leaf ${index} is not below size ${size}`);
  const b = Math.floor(index / TILE_WIDTH);
  return {
    index: b,
    width: Math.min(TILE_WIDTH, size - b * TILE_WIDTH),
    offset: index % TILE_WIDTH,
  };
}
