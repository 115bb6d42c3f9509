// Comparing a stored (or served) hash tile with the one rebuilt from the leaves, byte for byte.
// The stored row is the longest known prefix of the tile; at the audited tree size it must hold
// exactly the hashes the tree has, no more (hashes beyond the tree were never appended by the
// sequencer) and no fewer (the sequencer extends tiles in the same transaction as the leaves).

import type { Finding } from "./findings.ts";
import { tileName } from "./findings.ts";
import type { RebuiltTile } from "./tree-tiles.ts";

/** The first finding about `stored` against `want`, or undefined when they are equal. */
export function compareTile(
  want: RebuiltTile,
  stored: Uint8Array | undefined,
  size: number,
  how: { exactLength: boolean } = { exactLength: true },
): Finding | undefined {
  const tile = tileName(want.level, want.index);
  const width = want.hashes.length / 32;
  if (stored === undefined) {
    return {
      kind: "tile",
      tile,
      message: `tile ${tile} is missing (the tree of size ${size} has ${width} hash(es) in it)`,
    };
  }
  if (stored.length % 32 !== 0) {
    return {
      kind: "tile",
      tile,
      message: `tile ${tile} is ${stored.length} bytes, not a multiple of 32`,
    };
  }
  if (
    stored.length < want.hashes.length ||
    (how.exactLength && stored.length > want.hashes.length)
  ) {
    return {
      kind: "tile",
      tile,
      message: `tile ${tile} holds ${stored.length / 32} hash(es), the tree of size ${size} has ${width}`,
    };
  }
  for (let i = 0; i < want.hashes.length; i++) {
    if (stored[i] !== want.hashes[i]) {
      const k = Math.floor(i / 32);
      const node = want.index * 256 + k;
      const what =
        want.level === 0 ? `leaf ${node}` : `node ${node} at tree level ${8 * want.level}`;
      return {
        kind: "tile",
        tile,
        ...(want.level === 0 ? { index: node } : {}),
        message: `tile ${tile}: hash ${k} (${what}) differs from the one rebuilt from the leaves`,
      };
    }
  }
  return undefined;
}
