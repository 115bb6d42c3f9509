// fast-check against the naive RFC 6962 reference (test/core/reference.ts) on random sizes.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { CompactRange } from "../../src/core/compact.ts";
import { isTrailError } from "../../src/core/errors.ts";
import { consistencyProof, inclusionProof, treeRoot } from "../../src/core/proof.ts";
import {
  consistencyProofLength,
  inclusionProofLength,
  verifyConsistency,
  verifyInclusion,
} from "../../src/core/proof-verify.ts";
import { throwsTrail } from "../support/errors.ts";
import { leafHashes, mth, naiveReader, path, proof } from "./reference.ts";

const ALL = leafHashes(3001);
// mth() over big prefixes is slow in the naive code; memoise roots per size.
const rootCache = new Map<number, Uint8Array>();
const rootOf = (n: number) => {
  let r = rootCache.get(n);
  if (!r) {
    const range = CompactRange.empty();
    for (const h of ALL.slice(0, n)) range.append(h);
    r = range.root();
    rootCache.set(n, r);
  }
  return r;
};

const flip = (hs: Uint8Array[], i: number, bit: number) =>
  hs.map((h, j) => {
    if (j !== i) return h;
    const c = h.slice();
    c[bit >> 3]! ^= 1 << (bit & 7);
    return c;
  });

describe("Merkle properties against the naive reference", () => {
  it("the compact range, the reader root and MTH agree at every size", async () => {
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 0, max: 700 }), async (n) => {
        const d = ALL.slice(0, n);
        const range = CompactRange.empty();
        for (const h of d) range.append(h);
        expect(range.root()).toEqual(mth(d));
        expect(await treeRoot(n, naiveReader(d))).toEqual(mth(d));
      }),
      { numRuns: 40 },
    );
  });

  it("generated inclusion proofs equal PATH and verify; any flipped bit, wrong index, wrong size or length fails", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc
          .integer({ min: 1, max: 3000 })
          .chain((n) => fc.tuple(fc.constant(n), fc.integer({ min: 0, max: n - 1 }))),
        fc.nat(),
        fc.nat(255),
        async ([n, m], pick, bit) => {
          const d = ALL.slice(0, n);
          const p = await inclusionProof(m, n, naiveReader(d));
          expect(p.length).toBe(inclusionProofLength(m, n));
          if (n <= 600) expect(p).toEqual(path(m, d));
          const root = rootOf(n);
          verifyInclusion(m, n, d[m]!, p, root);
          if (p.length > 0) {
            expect(
              throwsTrail(() => verifyInclusion(m, n, d[m]!, flip(p, pick % p.length, bit), root)),
            ).toBe(true);
            expect(throwsTrail(() => verifyInclusion(m, n, d[m]!, p.slice(0, -1), root))).toBe(
              true,
            );
          }
          expect(throwsTrail(() => verifyInclusion(m, n, d[m]!, [...p, d[0]!], root))).toBe(true);
          expect(throwsTrail(() => verifyInclusion(m, n, flip([d[m]!], 0, bit)[0]!, p, root))).toBe(
            true,
          );
          if (n > 1)
            expect(throwsTrail(() => verifyInclusion((m + 1) % n, n, d[m]!, p, root))).toBe(true);
          // A wrong size, checked against that size's own root.
          expect(throwsTrail(() => verifyInclusion(m, n + 1, d[m]!, p, rootOf(n + 1)))).toBe(true);
          expect(throwsTrail(() => verifyInclusion(m, n, d[m]!, p, flip([root], 0, bit)[0]!))).toBe(
            true,
          );
        },
      ),
      { numRuns: 150 },
    );
  });

  it("generated consistency proofs equal PROOF and verify; tampering, swapped roots and wrong sizes fail", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc
          .integer({ min: 1, max: 3000 })
          .chain((n) => fc.tuple(fc.integer({ min: 1, max: n }), fc.constant(n))),
        fc.nat(),
        fc.nat(255),
        async ([m, n], pick, bit) => {
          const d = ALL.slice(0, n);
          const p = await consistencyProof(m, n, naiveReader(d));
          expect(p.length).toBe(consistencyProofLength(m, n));
          if (n <= 600 && m < n) expect(p).toEqual(proof(m, d));
          const r1 = rootOf(m);
          const r2 = rootOf(n);
          verifyConsistency(m, n, p, r1, r2);
          if (p.length > 0) {
            expect(
              throwsTrail(() => verifyConsistency(m, n, flip(p, pick % p.length, bit), r1, r2)),
            ).toBe(true);
            expect(throwsTrail(() => verifyConsistency(m, n, p.slice(1), r1, r2))).toBe(true);
          }
          expect(throwsTrail(() => verifyConsistency(m, n, [...p, r1], r1, r2))).toBe(true);
          if (m < n) {
            expect(throwsTrail(() => verifyConsistency(m, n, p, r2, r1))).toBe(true);
            expect(throwsTrail(() => verifyConsistency(m, n, p, flip([r1], 0, bit)[0]!, r2))).toBe(
              true,
            );
            expect(
              throwsTrail(() => verifyConsistency(m + 1 === n ? m - 1 || n : m + 1, n, p, r1, r2)),
            ).toBe(true);
          }
        },
      ),
      { numRuns: 150 },
    );
  });

  it("sizes up to 2^53-1: preconditions hold and only typed errors come out", () => {
    const big = fc.oneof(
      fc.constantFrom(2 ** 53 - 1, 2 ** 53 - 2, 2 ** 32, 2 ** 32 + 1, 2 ** 31, 2 ** 52 + 3),
      fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER }),
    );
    fc.assert(
      fc.property(big, big, (a, b) => {
        const [m, n] = a <= b ? [a, b] : [b, a];
        const h = ALL[0]!;
        // A proof of exactly the right length runs the whole algorithm and fails on the root.
        if (m < n) {
          const len = inclusionProofLength(m, n);
          expect(len).toBeLessThanOrEqual(53 * 2);
          let err: unknown;
          try {
            verifyInclusion(m, n, h, Array(len).fill(h), h);
          } catch (e) {
            err = e;
          }
          expect(isTrailError(err, "proof-mismatch")).toBe(true);
          expect(throwsTrail(() => verifyInclusion(n, m, h, [], h))).toBe(true);
        }
        const clen = consistencyProofLength(m, n);
        try {
          verifyConsistency(m, n, Array(clen).fill(h), h, ALL[1]!);
          expect.unreachable();
        } catch (e) {
          expect(isTrailError(e)).toBe(true);
        }
        if (m < n) expect(throwsTrail(() => verifyConsistency(n, m, [], h, h))).toBe(true);
      }),
      { numRuns: 300 },
    );
    for (const bad of [-1, 1.5, Number.NaN, 2 ** 53, Number.POSITIVE_INFINITY]) {
      expect(throwsTrail(() => verifyInclusion(bad, 10, ALL[0]!, [], ALL[0]!))).toBe(true);
      expect(throwsTrail(() => verifyInclusion(0, bad, ALL[0]!, [], ALL[0]!))).toBe(true);
      expect(throwsTrail(() => verifyConsistency(bad, 10, [], ALL[0]!, ALL[0]!))).toBe(true);
    }
  });

  it("junk never throws anything but a TrailError", () => {
    fc.assert(
      fc.property(fc.anything(), fc.anything(), fc.anything(), (a, b, c) => {
        for (const f of [
          () =>
            verifyInclusion(
              a as number,
              b as number,
              c as Uint8Array,
              a as Uint8Array[],
              b as Uint8Array,
            ),
          () =>
            verifyConsistency(
              a as number,
              b as number,
              c as Uint8Array[],
              a as Uint8Array,
              b as Uint8Array,
            ),
        ]) {
          try {
            f();
          } catch (e) {
            expect(isTrailError(e), String(e)).toBe(true);
          }
        }
      }),
      { numRuns: 300 },
    );
  });
});
