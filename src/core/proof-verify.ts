// RFC 9162 §2.1.3.2 (inclusion) and §2.1.4.2 (consistency) proof verification, step for step,
// with every precondition checked before any hashing: safe integer sizes and indexes (up to
// 2^53-1), index < size, 0 < size1 ≤ size2, 32-byte hashes, and the exact proof length the sizes
// imply (computed as transparency-dev/merkle does). One accepted exception to the RFC, which the
// vectors and witnesses rely on: a consistency proof between equal sizes is empty and holds when
// the roots are equal. size1 = 0 is refused here; the witness handles `old 0` itself.
//
// Fork evidence (docs/design.md §2.11) runs the same algorithm from the larger tree's side only:
// rootFromConsistencyProof takes no root1, checks that the proof arrives at root2, and returns the
// root at size1 that root2 commits to. Where size1 is a power of two the RFC proof leaves out
// MTH(D[0:size1]) (the verifier already has it: root1), so it can never show a different one; the
// "explicit" form used there carries that hash first. Example: from 8 to 12 the RFC proof is
// [MTH(D[8:12])] and the explicit one [MTH(D[0:8]), MTH(D[8:12])]; from 6 to 8 both are
// [MTH(D[4:6]), MTH(D[6:8]), MTH(D[0:4])].

import { bitLength, isPowerOfTwo, popcount, shr, trailingZeros, xor } from "./bits.ts";
import { bytesEqual } from "./encoding.ts";
import { check, show } from "./errors.ts";
import { HASH_SIZE, type Hash, type Hasher, rfc6962 } from "./hash.ts";

function checkCount(n: number, name: string): void {
  check(
    Number.isSafeInteger(n) && n >= 0,
    "bad-size",
    `${name} ${show(n)} is not a safe non-negative integer`,
  );
}

function checkHash(h: unknown, name: string): asserts h is Hash {
  check(
    h instanceof Uint8Array && h.length === HASH_SIZE,
    "bad-hash",
    `${name} is not a 32-byte hash`,
  );
}

/** Inner (below the split with the right border) and border lengths of PATH(index, size). */
function decompose(index: number, size: number): { inner: number; border: number } {
  const inner = bitLength(xor(index, size - 1));
  return { inner, border: popcount(shr(index, inner)) };
}

export function inclusionProofLength(index: number, size: number): number {
  const { inner, border } = decompose(index, size);
  return inner + border;
}

/** Runs the RFC 9162 §2.1.3.2 algorithm and returns the root it arrives at. */
export function rootFromInclusionProof(
  index: number,
  size: number,
  leafHash: Hash,
  proof: readonly Hash[],
  hasher: Hasher = rfc6962,
): Hash {
  checkCount(index, "index");
  checkCount(size, "size");
  check(size > 0, "bad-size", "there is no inclusion proof in an empty tree");
  check(index < size, "bad-index", `index ${show(index)} is not below size ${show(size)}`);
  checkHash(leafHash, "leaf hash");
  check(Array.isArray(proof), "malformed", "proof is not an array");
  const want = inclusionProofLength(index, size);
  check(
    proof.length === want,
    "bad-proof-length",
    `inclusion proof for index ${index} in size ${size} has ${proof.length} hashes, want ${want}`,
  );
  for (const [i, p] of proof.entries()) checkHash(p, `proof hash ${i}`);
  let fn = index;
  let sn = size - 1;
  let r = leafHash;
  for (const p of proof) {
    if (fn % 2 === 1 || fn === sn) {
      r = hasher.node(p, r);
      while (fn % 2 === 0 && fn !== 0) {
        fn = shr(fn, 1);
        sn = shr(sn, 1);
      }
    } else {
      r = hasher.node(r, p);
    }
    fn = shr(fn, 1);
    sn = shr(sn, 1);
  }
  // With the length checked up front, sn is 0 here; keep the RFC's final check anyway.
  check(sn === 0, "bad-proof-length", "inclusion proof does not reach the root");
  return r;
}

export function verifyInclusion(
  index: number,
  size: number,
  leafHash: Hash,
  proof: readonly Hash[],
  root: Hash,
  hasher: Hasher = rfc6962,
): void {
  checkHash(root, "root");
  const got = rootFromInclusionProof(index, size, leafHash, proof, hasher);
  check(
    bytesEqual(got, root),
    "proof-mismatch",
    `inclusion proof for index ${index} does not lead to the root of size ${size}`,
  );
}

export function consistencyProofLength(size1: number, size2: number): number {
  if (size1 === size2) return 0;
  const level = trailingZeros(size1);
  const { inner, border } = decompose(size1 - 1, size2);
  return inner - level + border + (size1 === 2 ** level ? 0 : 1);
}

/**
 * The preconditions both consistency verifiers check, in this order, before hashing anything;
 * `length` (the proof length the sizes imply) is computed only once the sizes are known good.
 */
function checkConsistencyInput(
  size1: number,
  size2: number,
  proof: readonly Hash[],
  roots: [Hash, string][],
  length: (size1: number, size2: number) => number,
): void {
  checkCount(size1, "size1");
  checkCount(size2, "size2");
  check(size1 > 0, "bad-size", "size1 must be at least 1 (the witness handles old size 0 itself)");
  check(size1 <= size2, "bad-size", `size1 ${size1} is larger than size2 ${size2}`);
  for (const [root, name] of roots) checkHash(root, name);
  check(Array.isArray(proof), "malformed", "proof is not an array");
  const want = length(size1, size2);
  check(
    proof.length === want,
    "bad-proof-length",
    `consistency proof from ${size1} to ${size2} has ${proof.length} hashes, want ${want}`,
  );
  for (const [i, p] of proof.entries()) checkHash(p, `proof hash ${i}`);
}

/**
 * The loop of RFC 9162 §2.1.4.2 over `path` (the proof with its first node explicit), for
 * 0 < size1 < size2 and a path of the checked length: the roots it arrives at for both sizes.
 */
function foldConsistency(
  size1: number,
  size2: number,
  path: readonly Hash[],
  hasher: Hasher,
): { fr: Hash; sr: Hash } {
  let fn = size1 - 1;
  let sn = size2 - 1;
  while (fn % 2 === 1) {
    fn = shr(fn, 1);
    sn = shr(sn, 1);
  }
  let fr = path[0]!;
  let sr = path[0]!;
  for (const c of path.slice(1)) {
    check(sn !== 0, "bad-proof-length", "consistency proof is longer than the tree");
    if (fn % 2 === 1 || fn === sn) {
      fr = hasher.node(c, fr);
      sr = hasher.node(c, sr);
      while (fn % 2 === 0 && fn !== 0) {
        fn = shr(fn, 1);
        sn = shr(sn, 1);
      }
    } else {
      sr = hasher.node(sr, c);
    }
    fn = shr(fn, 1);
    sn = shr(sn, 1);
  }
  check(sn === 0, "bad-proof-length", "consistency proof does not reach the root");
  return { fr, sr };
}

export function verifyConsistency(
  size1: number,
  size2: number,
  proof: readonly Hash[],
  root1: Hash,
  root2: Hash,
  hasher: Hasher = rfc6962,
): void {
  checkConsistencyInput(
    size1,
    size2,
    proof,
    [
      [root1, "root1"],
      [root2, "root2"],
    ],
    consistencyProofLength,
  );
  if (size1 === size2) {
    check(
      bytesEqual(root1, root2),
      "proof-mismatch",
      `two trees of size ${size1} with different roots`,
    );
    return;
  }
  // RFC 9162 §2.1.4.2: if size1 is a power of two, the proof starts implicitly with root1.
  const path = isPowerOfTwo(size1) ? [root1, ...proof] : proof;
  const { fr, sr } = foldConsistency(size1, size2, path, hasher);
  check(
    bytesEqual(fr, root1),
    "proof-mismatch",
    `consistency proof does not lead to the root of size ${size1}`,
  );
  check(
    bytesEqual(sr, root2),
    "proof-mismatch",
    `consistency proof does not lead to the root of size ${size2}`,
  );
}

/** The length of the explicit form: one more than the RFC's when size1 is a power of two. */
export function explicitConsistencyProofLength(size1: number, size2: number): number {
  return consistencyProofLength(size1, size2) + (isPowerOfTwo(size1) ? 1 : 0);
}

/**
 * RFC 9162 §2.1.4.2 without root1, for 0 < size1 < size2 and a proof in explicit form: checks that
 * the proof arrives at root2 ("proof-mismatch" otherwise) and returns the root at size1 it
 * implies, MTH of the first size1 leaves of the tree that root2 commits to. Without a collision in
 * SHA-256 that is the only root of size size1 consistent with root2: a signed root of size1 that
 * differs from it, beside the signed root2, proves a fork.
 */
export function rootFromConsistencyProof(
  size1: number,
  size2: number,
  proof: readonly Hash[],
  root2: Hash,
  hasher: Hasher = rfc6962,
): Hash {
  checkConsistencyInput(size1, size2, proof, [[root2, "root2"]], (m, n) => {
    check(m < n, "bad-size", `two trees of the same size ${m} imply nothing: compare their roots`);
    return explicitConsistencyProofLength(m, n);
  });
  const { fr, sr } = foldConsistency(size1, size2, proof, hasher);
  check(
    bytesEqual(sr, root2),
    "proof-mismatch",
    `consistency proof does not lead to the root of size ${size2}`,
  );
  return fr;
}
