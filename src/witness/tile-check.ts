// Comparing two log-signed tree heads through hash tiles at the larger size (C2SP tlog-tiles): the
// log's own, a peer witness's (served under its per-log path, tile-store.ts) or this witness's
// stored ones; under rule 1 of docs/design.md §2.11 (evidence.ts) the source does not matter, since
// only the signed roots are trusted. Three outcomes, one a fork:
//
//   consistent  the tiles reproduce the larger signed root and imply the smaller signed root
//   fork        they reproduce the larger signed root and imply another root at the smaller size
//   bad-tiles   they do not reproduce the larger signed root, or are malformed: a lying or broken
//               tile server, or a man in the middle on a plain-http log URL. Never a fork: the
//               witness cosigns nothing on them, counts and logs it, and tries again next poll.
//
// A tile that cannot be had (refused, timed out, an HTTP error, not served) is thrown as it is:
// the source is unreachable, which proves nothing either way.

import { isPowerOfTwo } from "../core/bits.ts";
import { isTrailError } from "../core/errors.ts";
import type { Hash, Hasher } from "../core/hash.ts";
import { explicitConsistencyProof } from "../core/proof.ts";
import { type TileFetcher, tileNodeReader } from "../core/tile-reader.ts";
import { judgeConsistency } from "./evidence.ts";

export type TileComparison =
  /** `proof`: the RFC 9162 proof from the smaller size, as add-checkpoint takes it. */
  | { kind: "consistent"; proof: Hash[] }
  /** `proof`: the explicit-form proof that fork evidence carries. */
  | { kind: "fork"; proof: Hash[] }
  | { kind: "bad-tiles"; reason: string };

/** Compares `small` with `big` (0 < small.size < big.size) through the tiles `fetchTile` reads. */
export async function compareThroughTiles(
  fetchTile: TileFetcher,
  small: { size: number; root: Hash },
  big: { size: number; root: Hash },
  hasher: Hasher,
): Promise<TileComparison> {
  let proof: Hash[];
  try {
    const read = tileNodeReader(big.size, fetchTile, hasher);
    proof = await explicitConsistencyProof(small.size, big.size, read, hasher);
  } catch (e) {
    // A short or ragged tile is a bad answer; a missing one is an unreachable log.
    if (isTrailError(e) && e.code !== "not-found") return { kind: "bad-tiles", reason: e.message };
    throw e;
  }
  const verdict = judgeConsistency(small, big, proof, hasher);
  if (verdict.kind === "proves-nothing") {
    return {
      kind: "bad-tiles",
      reason: `the hash tiles at size ${big.size} do not reproduce the signed root of that size (${verdict.reason})`,
    };
  }
  if (verdict.kind === "fork") return { kind: "fork", proof };
  return { kind: "consistent", proof: isPowerOfTwo(small.size) ? proof.slice(1) : proof };
}
