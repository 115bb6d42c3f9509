// C2SP tlog-tiles coordinates and paths. Tiles are 256 hashes wide (height 8). Hash tile
// (L, N) holds the hashes of tree nodes at tree level 8L with node indexes 256N … 256N+255; a
// partial tile of width W < 256 holds only the first W. Entry bundle N holds leaves 256N … 256N+255.
//
// Index encoding: N in groups of three digits, every group but the last prefixed with "x":
// 1234067 → "x001/x234/067". Worked example: leaf 1234067 is in entry bundle 1234067 / 256 =
// 4820 (path tile/entries/x004/820) at offset 1234067 − 4820·256 = 147, and its hash is in hash
// tile tile/0/x004/820 at the same offset. A tree of size 70000 has 273 full level-0 tiles
// (273·256 = 69888) and tile/0/273.p/112; level 1 holds floor(70000/256) = 273 nodes: 1 full
// tile and tile/1/001.p/17; level 2 holds floor(70000/65536) = 1 node: tile/2/000.p/1.
//
// Paths are strict: format(parse(p)) === p. They start with "tile/" (an HTTP router passes the
// path without its leading "/").

import { check, show } from "./errors.ts";

export const TILE_WIDTH = 256;
export const TILE_HEIGHT = 8;
/** Highest tile level: 256^8 > 2^53, so levels above 6 hold nothing for any safe size. */
export const MAX_TILE_LEVEL = 63;

export interface TileCoord {
  level: number;
  index: number;
  /** 1..256; 256 is a full tile. */
  width: number;
}

export type ParsedTilePath =
  | ({ kind: "hash" } & TileCoord)
  | ({ kind: "entries" } & Omit<TileCoord, "level">);

export function encodeTileIndex(n: number): string {
  check(
    Number.isSafeInteger(n) && n >= 0,
    "malformed",
    `tile index ${show(n)} is not a safe non-negative integer`,
  );
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
    `tile width ${show(width)} not in 1..256`,
  );
  return width === TILE_WIDTH ? "" : `.p/${width}`;
}

export function hashTilePath(t: TileCoord): string {
  check(
    Number.isInteger(t.level) && t.level >= 0 && t.level <= MAX_TILE_LEVEL,
    "malformed",
    `tile level ${show(t.level)}`,
  );
  return `tile/${t.level}/${encodeTileIndex(t.index)}${widthSuffix(t.width)}`;
}

export function entriesPath(index: number, width: number): string {
  return `tile/entries/${encodeTileIndex(index)}${widthSuffix(width)}`;
}

const PATH_RE =
  /^tile\/(entries|0|[1-9][0-9]?)\/((?:x[0-9]{3}\/)*)([0-9]{3})(?:\.p\/([1-9][0-9]{0,2}))?$/;

export function parseTilePath(path: string): ParsedTilePath {
  check(
    typeof path === "string" && path.length <= 200,
    "malformed",
    "tile path is not a short string",
  );
  const m = PATH_RE.exec(path);
  check(m, "malformed", `not a tile path: ${show(path)}`);
  const groups = m[2]
    ? m[2]
        .split("/")
        .filter(Boolean)
        .map((g) => g.slice(1))
    : [];
  groups.push(m[3]!);
  // No leading zero group: "x000/001" would be a second spelling of "001".
  check(
    groups.length === 1 || groups[0] !== "000",
    "malformed",
    `tile index has a leading zero group: ${show(path)}`,
  );
  check(groups.length <= 6, "malformed", "tile index too large");
  let index = 0;
  for (const g of groups) index = index * 1000 + Number(g);
  check(Number.isSafeInteger(index), "malformed", "tile index too large");
  const width = m[4] === undefined ? TILE_WIDTH : Number(m[4]);
  check(
    m[4] === undefined || (width >= 1 && width < TILE_WIDTH),
    "malformed",
    `partial tile width must be 1..255: ${show(path)}`,
  );
  if (m[1] === "entries") return { kind: "entries", index, width };
  const level = Number(m[1]);
  check(level <= MAX_TILE_LEVEL, "malformed", `tile level above ${MAX_TILE_LEVEL}: ${show(path)}`);
  return { kind: "hash", level, index, width };
}

/** Nodes at tree level 8L complete in a tree of `size` leaves. */
export function nodesAtTileLevel(size: number, level: number): number {
  return Math.floor(size / 2 ** (TILE_HEIGHT * level));
}

/**
 * Every hash tile of a tree of `size` leaves: per level, the full tiles then the partial one (if
 * any), levels bottom up, while the level has a complete node (size 256 ends with tile/1/000.p/1).
 * A generator, so a walk over a large tree holds one coordinate at a time, never a list of
 * size/256 of them (`mirror` and `verify --all-tiles` walk it).
 */
export function* walkTiles(size: number, level?: number): Generator<TileCoord> {
  check(Number.isSafeInteger(size) && size >= 0, "malformed", `size ${show(size)}`);
  for (let l = level ?? 0; level === undefined || l === level; l++) {
    const n = nodesAtTileLevel(size, l);
    if (n === 0) break;
    const full = Math.floor(n / TILE_WIDTH);
    for (let i = 0; i < full; i++) yield { level: l, index: i, width: TILE_WIDTH };
    if (n % TILE_WIDTH) yield { level: l, index: full, width: n % TILE_WIDTH };
  }
}

/** walkTiles as a list, for small trees (tests, the audit's rebuilt tiles). */
export function tilesForSize(size: number): TileCoord[] {
  return [...walkTiles(size)];
}

/** The number of tile levels of a tree of `size` leaves (0 for the empty tree). */
export function tileLevels(size: number): number {
  let l = 0;
  while (nodesAtTileLevel(size, l) > 0) l++;
  return l;
}

/** The tile holding the hash of node (tree level 8L, index), and its width in a tree of `size`. */
export function tileForStoredNode(level: number, index: number, size: number): TileCoord {
  const tileIndex = Math.floor(index / TILE_WIDTH);
  const n = nodesAtTileLevel(size, level);
  check(
    index < n,
    "not-found",
    `node ${index} at tile level ${level} is not complete at size ${size}`,
  );
  return { level, index: tileIndex, width: Math.min(TILE_WIDTH, n - tileIndex * TILE_WIDTH) };
}

/** The entry bundle holding leaf `index`, and its width in a tree of `size`. */
export function entryBundleFor(
  index: number,
  size: number,
): { index: number; width: number; offset: number } {
  check(
    Number.isSafeInteger(index) && index >= 0 && index < size,
    "not-found",
    `leaf ${show(index)} is not below size ${show(size)}`,
  );
  const b = Math.floor(index / TILE_WIDTH);
  return {
    index: b,
    width: Math.min(TILE_WIDTH, size - b * TILE_WIDTH),
    offset: index % TILE_WIDTH,
  };
}
