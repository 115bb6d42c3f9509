// RFC 9162 §2.1.3.1 / §2.1.4.1 (RFC 6962 §2.1.1-2.1.2) proof generation from a reader of node
// hashes. Verification is proof-verify.ts, which needs none of this (the browser bundle has only it).
//
// Storage holds only perfect subtrees: NodeId {level, index} is the subtree of 2^level leaves
// starting at leaf index·2^level (level 0 = a leaf hash). Every proof element is the hash of a
// leaf range [a, b) met by the RFC's recursion, MTH(D[a:b]); where b - a is not a power of two
// (the tree's ragged right edge), that range splits into the perfect subtrees of its binary
// decomposition, which are folded right to left. Example: in a tree of size 7 the inclusion proof
// of leaf 2 is [MTH(D[3:4]), MTH(D[0:2]), MTH(D[4:7])] = [(0,3), (1,0), node((1,2), (0,6))].
//
// Generation first plans every NodeId it needs, calls the reader ONCE, then combines, so a
// database or tile reader can fetch them in one round trip.

import { bitLength, isPowerOfTwo, splitPoint } from "./bits.ts";
import { check, show } from "./errors.ts";
import { HASH_SIZE, type Hash, type Hasher, rfc6962 } from "./hash.ts";
import { multiInclusionPlan } from "./multi-proof.ts";

export interface NodeId {
  level: number;
  index: number;
}

/** Returns the hashes of the given perfect subtrees, in order. */
export type NodeReader = (ids: readonly NodeId[]) => Promise<Hash[]>;

/** A leaf range [a, b) whose MTH is a proof element. */
type Range = [number, number];

/** The perfect subtrees of [a, b), where a is a multiple of a power of two ≥ b - a. */
export function rangeNodes(a: number, b: number): NodeId[] {
  const ids: NodeId[] = [];
  let start = a;
  for (let level = bitLength(b - a) - 1; level >= 0; level--) {
    const w = 2 ** level;
    if (Math.floor((b - a) / w) % 2 === 1) {
      ids.push({ level, index: start / w });
      start += w;
    }
  }
  return ids;
}

function checkSizes(...pairs: [number, string][]): void {
  for (const [n, name] of pairs) {
    check(
      Number.isSafeInteger(n) && n >= 0,
      "bad-size",
      `${name} ${show(n)} is not a safe non-negative integer`,
    );
  }
}

/** PATH(m, D[a:b]) as ranges, leaf to root. */
function pathRanges(m: number, a: number, b: number, out: Range[]): Range[] {
  if (b - a <= 1) return out;
  const k = splitPoint(b - a);
  if (m < a + k) {
    pathRanges(m, a, a + k, out);
    out.push([a + k, b]);
  } else {
    pathRanges(m, a + k, b, out);
    out.push([a, a + k]);
  }
  return out;
}

/** SUBPROOF(m, D[a:b], whole) as ranges, in proof order. */
function subproofRanges(m: number, a: number, b: number, whole: boolean, out: Range[]): Range[] {
  const n = b - a;
  if (m === n) {
    if (!whole) out.push([a, b]);
    return out;
  }
  const k = splitPoint(n);
  if (m <= k) {
    subproofRanges(m, a, a + k, whole, out);
    out.push([a + k, b]);
  } else {
    subproofRanges(m - k, a + k, b, false, out);
    out.push([a, a + k]);
  }
  return out;
}

export function inclusionPlan(index: number, size: number): Range[] {
  checkSizes([index, "index"], [size, "size"]);
  check(index < size, "bad-index", `index ${show(index)} is not below size ${show(size)}`);
  return pathRanges(index, 0, size, []);
}

/** The ranges of PROOF(size1, D[size2]); empty when size1 is 0 or equals size2. */
export function consistencyPlan(size1: number, size2: number): Range[] {
  checkSizes([size1, "size1"], [size2, "size2"]);
  check(size1 <= size2, "bad-size", `size1 ${size1} is larger than size2 ${size2}`);
  if (size1 === 0 || size1 === size2) return [];
  return subproofRanges(size1, 0, size2, true, []);
}

/** Reads every range's perfect subtrees in one call and folds each range to its MTH. */
async function resolve(ranges: Range[], read: NodeReader, hasher: Hasher): Promise<Hash[]> {
  const perRange = ranges.map(([a, b]) => rangeNodes(a, b));
  const ids = perRange.flat();
  if (ids.length === 0) return [];
  const hashes = await read(ids);
  check(
    Array.isArray(hashes) && hashes.length === ids.length,
    "not-found",
    `node reader returned ${show(hashes?.length)} hashes for ${ids.length} nodes`,
  );
  let o = 0;
  return perRange.map((nodes) => {
    const hs = hashes.slice(o, o + nodes.length);
    o += nodes.length;
    hs.forEach((h) => {
      check(
        h instanceof Uint8Array && h.length === HASH_SIZE,
        "bad-hash",
        "node reader returned a bad hash",
      );
    });
    let r = hs[hs.length - 1]!;
    for (let i = hs.length - 2; i >= 0; i--) r = hasher.node(hs[i]!, r);
    return r;
  });
}

/** The inclusion proof of leaf `index` in the tree of `size` leaves, leaf to root. */
export function inclusionProof(
  index: number,
  size: number,
  read: NodeReader,
  hasher: Hasher = rfc6962,
) {
  return resolve(inclusionPlan(index, size), read, hasher);
}

/** PROOF(size1, D[size2]); [] for size1 = 0 (the witness's `old 0`) and for size1 = size2. */
export function consistencyProof(
  size1: number,
  size2: number,
  read: NodeReader,
  hasher: Hasher = rfc6962,
) {
  return resolve(consistencyPlan(size1, size2), read, hasher);
}

/**
 * PROOF(size1, D[size2]) in the explicit form of proof-verify.ts, for 0 < size1 < size2: led by
 * MTH(D[0:size1]) when size1 is a power of two (the RFC proof leaves it out). One reader call.
 */
export function explicitConsistencyProof(
  size1: number,
  size2: number,
  read: NodeReader,
  hasher: Hasher = rfc6962,
) {
  const plan = consistencyPlan(size1, size2);
  check(size1 > 0 && size1 < size2, "bad-size", `want 0 < size1 < size2, not ${size1}, ${size2}`);
  return resolve(isPowerOfTwo(size1) ? [[0, size1], ...plan] : plan, read, hasher);
}

/**
 * The hashes proving many leaves at once (multi-proof.ts): for each index, the hashes of the gap
 * before it, and those after the last. One reader call.
 */
export async function multiInclusionProof(
  indexes: readonly number[],
  size: number,
  read: NodeReader,
  hasher: Hasher = rfc6962,
): Promise<{ before: Hash[][]; after: Hash[] }> {
  const plan = multiInclusionPlan(indexes, size);
  const hashes = await groupedRangeHashes([...plan.before, plan.after], read, hasher);
  return { before: hashes.slice(0, -1), after: hashes[hashes.length - 1]! };
}

/**
 * The MTH of each range of the recursion (gapRanges, multiInclusionPlan), grouped as the ranges
 * are (one group per gap), in one reader call.
 */
export async function groupedRangeHashes(
  groups: readonly Range[][],
  read: NodeReader,
  hasher: Hasher = rfc6962,
): Promise<Hash[][]> {
  const all = await resolve(groups.flat(), read, hasher);
  let o = 0;
  return groups.map((g) => {
    o += g.length;
    return all.slice(o - g.length, o);
  });
}

/** MTH(D[0:size]); the empty root for size 0. */
export async function treeRoot(
  size: number,
  read: NodeReader,
  hasher: Hasher = rfc6962,
): Promise<Hash> {
  checkSizes([size, "size"]);
  if (size === 0) return hasher.emptyRoot();
  const [root] = await resolve([[0, size]], read, hasher);
  return root!;
}
