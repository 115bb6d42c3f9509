// The multi-leaf inclusion proof (src/core/multi-proof.ts) against the naive reference: for random
// sizes and random sets of indexes, the proof folds to MTH; it proves exactly what the per-event
// inclusion proofs prove; and any change to a leaf, a hash, an index or a gap's length fails.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { bytesEqual } from "../../src/core/encoding.ts";
import {
  gapRanges,
  multiInclusionPlan,
  rootFromMultiInclusion,
} from "../../src/core/multi-proof.ts";
import { inclusionProof, multiInclusionProof } from "../../src/core/proof.ts";
import { verifyInclusion } from "../../src/core/proof-verify.ts";
import { errorCode } from "../support/errors.ts";
import { leafHashes, mth, naiveReader } from "./reference.ts";

const ALL = leafHashes(600);

/** A size and a strictly increasing, non-empty set of indexes below it. */
const sizeAndIndexes = fc
  .integer({ min: 1, max: 600 })
  .chain((size) =>
    fc
      .uniqueArray(fc.integer({ min: 0, max: size - 1 }), { minLength: 1, maxLength: 40 })
      .map((ix) => ({ size, indexes: ix.sort((a, b) => a - b) })),
  );

async function proofFor(size: number, indexes: number[]) {
  const d = ALL.slice(0, size);
  const { before, after } = await multiInclusionProof(indexes, size, naiveReader(d));
  return {
    d,
    proof: {
      size,
      leaves: indexes.map((index, j) => ({ index, hash: d[index]!, before: before[j]! })),
      after,
    },
  };
}

const flip = (h: Uint8Array) => {
  const c = h.slice();
  c[0]! ^= 1;
  return c;
};

describe("multi-leaf inclusion proofs", () => {
  it("the worked example of the design: size 8, indexes 2 and 3", () => {
    expect(multiInclusionPlan([2, 3], 8)).toEqual({ before: [[[0, 2]], []], after: [[4, 8]] });
  });

  it("a gap's ranges are the recursion's largest inside it and tile it exactly", () => {
    fc.assert(
      fc.property(
        fc
          .integer({ min: 1, max: 5000 })
          .chain((size) =>
            fc
              .tuple(fc.integer({ min: 0, max: size }), fc.integer({ min: 0, max: size }))
              .map(([x, y]) => ({ size, lo: Math.min(x, y), hi: Math.max(x, y) })),
          ),
        ({ size, lo, hi }) => {
          const r = gapRanges(lo, hi, size);
          let at = lo;
          for (const [a, b] of r) {
            expect(a).toBe(at);
            at = b;
          }
          expect(at).toBe(hi);
        },
      ),
    );
  });

  it("folds to MTH for any size and set of indexes, with the reader's hashes", async () => {
    await fc.assert(
      fc.asyncProperty(sizeAndIndexes, async ({ size, indexes }) => {
        const { d, proof } = await proofFor(size, indexes);
        expect(bytesEqual(rootFromMultiInclusion(proof), mth(d))).toBe(true);
      }),
      { numRuns: 200 },
    );
  });

  it("proves what the per-event proofs prove, and is never longer than them together", async () => {
    await fc.assert(
      fc.asyncProperty(sizeAndIndexes, async ({ size, indexes }) => {
        const { d, proof } = await proofFor(size, indexes);
        const root = mth(d);
        let perEvent = 0;
        for (const i of indexes) {
          const p = await inclusionProof(i, size, naiveReader(d));
          verifyInclusion(i, size, d[i]!, p, root);
          perEvent += p.length;
        }
        const total = proof.leaves.reduce((n, l) => n + l.before.length, proof.after.length);
        expect(total).toBeLessThanOrEqual(perEvent);
      }),
      { numRuns: 100 },
    );
  });

  it("a run of consecutive indexes costs O(log n) hashes in all", async () => {
    const size = 600;
    const indexes = Array.from({ length: 300 }, (_, i) => 150 + i);
    const { proof } = await proofFor(size, indexes);
    const total = proof.leaves.reduce((n, l) => n + l.before.length, proof.after.length);
    expect(total).toBeLessThanOrEqual(2 * Math.ceil(Math.log2(size)));
  });

  it("any altered leaf, gap hash, index or gap length fails", async () => {
    await fc.assert(
      fc.asyncProperty(sizeAndIndexes, fc.nat(), async ({ size, indexes }, pick) => {
        const { d, proof } = await proofFor(size, indexes);
        const root = mth(d);
        const differs = (p: typeof proof) => {
          try {
            return !bytesEqual(rootFromMultiInclusion(p), root);
          } catch {
            return true;
          }
        };
        const j = pick % indexes.length;
        // An altered leaf hash.
        const leaves = proof.leaves.map((l, k) => (k === j ? { ...l, hash: flip(l.hash) } : l));
        expect(differs({ ...proof, leaves })).toBe(true);
        // An altered gap hash, wherever there is one.
        const gaps = [...proof.leaves.map((l) => l.before), proof.after];
        const g = gaps.findIndex((x) => x.length > 0);
        if (g >= 0) {
          const alter = (hs: readonly Uint8Array[]) => [flip(hs[0]!), ...hs.slice(1)];
          const p =
            g < proof.leaves.length
              ? {
                  ...proof,
                  leaves: proof.leaves.map((l, k) =>
                    k === g ? { ...l, before: alter(l.before) } : l,
                  ),
                }
              : { ...proof, after: alter(proof.after) };
          expect(differs(p)).toBe(true);
          // One hash moved from its gap to the next: the counts no longer match the plan.
          const moved =
            g < proof.leaves.length
              ? {
                  ...proof,
                  leaves: proof.leaves.map((l, k) =>
                    k === g ? { ...l, before: l.before.slice(1) } : l,
                  ),
                  after: [...proof.after, proof.leaves[g]!.before[0]!],
                }
              : { ...proof, after: proof.after.slice(1) };
          expect(differs(moved)).toBe(true);
        }
        // The leaf claimed at another index (where that index is free).
        const other = proof.leaves[j]!.index + 1;
        if (other < size && !indexes.includes(other) && d[other] && !bytesEqual(d[other]!, d[j]!)) {
          const shifted = proof.leaves.map((l, k) => (k === j ? { ...l, index: other } : l));
          if (shifted.every((l, k) => k === 0 || l.index > shifted[k - 1]!.index))
            expect(differs({ ...proof, leaves: shifted })).toBe(true);
        }
      }),
      { numRuns: 200 },
    );
  });

  it("refuses indexes out of order, repeated or out of range, and hashes of the wrong size", () => {
    const h = ALL[0]!;
    const leaf = (index: number) => ({ index, hash: h, before: [] });
    expect(errorCode(() => multiInclusionPlan([], 4))).toBe("malformed");
    expect(errorCode(() => multiInclusionPlan([2, 1], 4))).toBe("bad-index");
    expect(errorCode(() => multiInclusionPlan([1, 1], 4))).toBe("bad-index");
    expect(errorCode(() => multiInclusionPlan([4], 4))).toBe("bad-index");
    expect(errorCode(() => multiInclusionPlan([0.5], 4))).toBe("bad-index");
    const root = (p: Parameters<typeof rootFromMultiInclusion>[0]) => () =>
      rootFromMultiInclusion(p);
    expect(errorCode(root({ size: 1, leaves: [leaf(0)], after: [h] }))).toBe("bad-proof-length");
    expect(
      errorCode(
        root({ size: 1, leaves: [{ index: 0, hash: h.subarray(1), before: [] }], after: [] }),
      ),
    ).toBe("bad-hash");
    expect(errorCode(root({ size: 2, leaves: [leaf(0)], after: [h.subarray(2)] }))).toBe(
      "bad-hash",
    );
  });
});
