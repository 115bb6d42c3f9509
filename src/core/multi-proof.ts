// Inclusion of many leaves of one tree at once: a session's events proven against one checkpoint
// with O(log n) hashes per run of consecutive indexes, not per event (docs/design.md §2.10).
//
// RFC 6962's recursion splits [0, size) at the largest power of two below its length, down to
// single leaves. Given the proven indexes, every range of that recursion either holds a proven
// leaf (the verifier computes its hash) or does not; the proof is the hashes of the largest ranges
// that hold none (their parents hold one), left to right. They fall between consecutive proven
// indexes, so they are grouped by "gap": `before[j]` is the ranges between index j-1 (or the
// start) and index j, `after` those after the last index. A range inside a gap is largest in the
// gap exactly when its parent holds a proven leaf, so each gap is planned alone (an exporter
// streaming events needs only the previous index).
//
// Example: size 8, proven indexes 2 and 3: before[0] = [[0, 2]], before[1] = [], after = [[4, 8]];
// the root is node(node(MTH[0:2], node(L2, L3)), MTH[4:8]). A run of consecutive indexes costs
// nothing between its leaves.
//
// The verifier recomputes the plan from the indexes and the size (never from the proof), checks
// that each gap brings exactly its hashes, and folds them in the recursion's order.

import { splitPoint } from "./bits.ts";
import { check, show } from "./errors.ts";
import { HASH_SIZE, type Hash, type Hasher, rfc6962 } from "./hash.ts";

/** A leaf range [a, b) met by RFC 6962's recursion over [0, size). */
export type Range = [number, number];

/** The largest ranges of the recursion over [0, size) that lie inside [lo, hi), left to right. */
export function gapRanges(lo: number, hi: number, size: number): Range[] {
  const out: Range[] = [];
  const walk = (a: number, b: number): void => {
    if (b <= lo || a >= hi) return;
    if (lo <= a && b <= hi) {
      out.push([a, b]);
      return;
    }
    const k = splitPoint(b - a);
    walk(a, a + k);
    walk(a + k, b);
  };
  if (lo < hi) walk(0, size);
  return out;
}

function checkIndexes(indexes: readonly number[], size: number): void {
  check(
    Number.isSafeInteger(size) && size > 0,
    "bad-size",
    `size ${show(size)} is not a safe positive integer`,
  );
  check(indexes.length > 0, "malformed", "no index to prove");
  let prev = -1;
  for (const i of indexes) {
    check(
      Number.isSafeInteger(i) && i > prev && i < size,
      "bad-index",
      `index ${show(i)} is not above ${prev} and below size ${size}`,
    );
    prev = i;
  }
}

/** The ranges whose hashes prove `indexes` (strictly increasing, below `size`). */
export function multiInclusionPlan(
  indexes: readonly number[],
  size: number,
): { before: Range[][]; after: Range[] } {
  checkIndexes(indexes, size);
  const before = indexes.map((i, j) => gapRanges(j === 0 ? 0 : indexes[j - 1]! + 1, i, size));
  return { before, after: gapRanges(indexes[indexes.length - 1]! + 1, size, size) };
}

export interface MultiInclusion {
  size: number;
  /** Strictly increasing, each with its leaf hash and the hashes of the gap before it. */
  leaves: readonly { index: number; hash: Hash; before: readonly Hash[] }[];
  after: readonly Hash[];
}

/**
 * The root that `proof` commits to, or a TrailError: indexes out of order or range, a gap with
 * more or fewer hashes than its plan, a hash that is not 32 bytes.
 */
export function rootFromMultiInclusion(proof: MultiInclusion, hasher: Hasher = rfc6962): Hash {
  const { size, leaves, after } = proof;
  const indexes = leaves.map((l) => l.index);
  const plan = multiInclusionPlan(indexes, size);
  // Every range of the cut, with its hash, in left-to-right order.
  const items: { a: number; b: number; hash: Hash }[] = [];
  const addGap = (ranges: Range[], hashes: readonly Hash[], where: string) => {
    check(
      Array.isArray(hashes) && hashes.length === ranges.length,
      "bad-proof-length",
      `${where}: want ${ranges.length} hashes, got ${show(hashes?.length)}`,
    );
    ranges.forEach(([a, b], k) => {
      const h = hashes[k];
      check(
        h instanceof Uint8Array && h.length === HASH_SIZE,
        "bad-hash",
        `${where}: hash ${k} is not 32 bytes`,
      );
      items.push({ a, b, hash: h });
    });
  };
  leaves.forEach((l, j) => {
    addGap(plan.before[j]!, l.before, `the gap before index ${l.index}`);
    check(
      l.hash instanceof Uint8Array && l.hash.length === HASH_SIZE,
      "bad-hash",
      `the leaf hash at index ${l.index} is not 32 bytes`,
    );
    items.push({ a: l.index, b: l.index + 1, hash: l.hash });
  });
  addGap(plan.after, after, "the gap after the last index");
  // The cut covers [0, size) exactly: fold it along the recursion.
  let next = 0;
  const fold = (a: number, b: number): Hash => {
    const it = items[next]!;
    if (it.a === a && it.b === b) {
      next++;
      return it.hash;
    }
    const k = splitPoint(b - a);
    const left = fold(a, a + k);
    return hasher.node(left, fold(a + k, b));
  };
  const root = fold(0, size);
  check(next === items.length, "bad-proof-length", "the proof's ranges do not cover the tree once");
  return root;
}
