// RFC 9162 §2.1.4.2 run from the larger tree's side (rootFromConsistencyProof) and the explicit
// proof form, against the naive reference: the root at size m that a proof implies is MTH of the
// first m leaves of the tree whose root it reproduces, and nothing else ever comes out.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { isPowerOfTwo } from "../../src/core/bits.ts";
import { bytesEqual } from "../../src/core/encoding.ts";
import { isTrailError } from "../../src/core/errors.ts";
import { rfc6962 } from "../../src/core/hash.ts";
import { consistencyProof, explicitConsistencyProof } from "../../src/core/proof.ts";
import {
  explicitConsistencyProofLength,
  rootFromConsistencyProof,
} from "../../src/core/proof-verify.ts";
import { errorCode, throwsTrail } from "../support/errors.ts";
import { leafHashes, mth, naiveReader, proof } from "./reference.ts";

const ALL = leafHashes(400);
/** A size pair 1 ≤ m < n ≤ 400. */
const pair = fc
  .integer({ min: 2, max: 400 })
  .chain((n) => fc.tuple(fc.integer({ min: 1, max: n - 1 }), fc.constant(n)));
const hash = fc.uint8Array({ minLength: 32, maxLength: 32 });

/** The result of rootFromConsistencyProof, or the code of the TrailError it threw. */
function implied(m: number, n: number, p: Uint8Array[], root: Uint8Array) {
  try {
    return rootFromConsistencyProof(m, n, p, root);
  } catch (e) {
    expect(isTrailError(e), String(e)).toBe(true);
    return (e as { code: string }).code;
  }
}

describe("the root at size m implied by a consistency proof to size n", () => {
  it("the explicit form is PROOF(m, D[n]), led by MTH(D[0:m]) when m is a power of two", async () => {
    await fc.assert(
      fc.asyncProperty(pair, async ([m, n]) => {
        const d = ALL.slice(0, n);
        const p = await explicitConsistencyProof(m, n, naiveReader(d));
        expect(p.length).toBe(explicitConsistencyProofLength(m, n));
        expect(p).toEqual([...(isPowerOfTwo(m) ? [mth(d.slice(0, m))] : []), ...proof(m, d)]);
        expect(p.slice(isPowerOfTwo(m) ? 1 : 0)).toEqual(
          await consistencyProof(m, n, naiveReader(d)),
        );
      }),
      { numRuns: 150 },
    );
  });

  it("an honest proof reproduces root n and implies MTH(D[0:m]): two honest checkpoints never show a fork", async () => {
    await fc.assert(
      fc.asyncProperty(pair, async ([m, n]) => {
        const d = ALL.slice(0, n);
        const p = await explicitConsistencyProof(m, n, naiveReader(d));
        expect(rootFromConsistencyProof(m, n, p, mth(d))).toEqual(mth(d.slice(0, m)));
      }),
      { numRuns: 150 },
    );
  });

  it("a real fork: a tree of size n whose first m leaves differ implies its own root at m, not the signed one", async () => {
    await fc.assert(
      fc.asyncProperty(pair, fc.nat(), async ([m, n], pick) => {
        const honest = ALL.slice(0, n);
        const forked = honest.slice();
        forked[pick % m] = rfc6962.leaf(new TextEncoder().encode(`forked ${pick}`));
        const p = await explicitConsistencyProof(m, n, naiveReader(forked));
        const r = rootFromConsistencyProof(m, n, p, mth(forked));
        expect(r).toEqual(mth(forked.slice(0, m)));
        expect(bytesEqual(r, mth(honest.slice(0, m)))).toBe(false);
      }),
      { numRuns: 150 },
    );
  });

  it("any flipped bit, a missing or extra hash, or the RFC length for a power of two: nothing is implied", async () => {
    await fc.assert(
      fc.asyncProperty(pair, fc.nat(), fc.nat(255), async ([m, n], pick, bit) => {
        const d = ALL.slice(0, n);
        const root = mth(d);
        const p = await explicitConsistencyProof(m, n, naiveReader(d));
        const flipped = p.map((h, i) => {
          if (i !== pick % p.length) return h;
          const c = h.slice();
          c[bit >> 3]! ^= 1 << (bit & 7);
          return c;
        });
        expect(implied(m, n, flipped, root)).toBe("proof-mismatch");
        expect(implied(m, n, p.slice(1), root)).toBe("bad-proof-length");
        expect(implied(m, n, [...p, root], root)).toBe("bad-proof-length");
        expect(implied(m, n, p, mth(d.slice(0, n - 1)))).toBe("proof-mismatch");
      }),
      { numRuns: 150 },
    );
  });

  it("junk hashes never reproduce root n, whatever their number", () => {
    fc.assert(
      fc.property(pair, fc.array(hash, { maxLength: 24 }), ([m, n], junk) => {
        expect(typeof implied(m, n, junk, mth(ALL.slice(0, n)))).toBe("string");
      }),
      { numRuns: 300 },
    );
  });

  it("an honest proof for another size pair, read as (m, n), never implies a root other than MTH(D[0:m])", async () => {
    await fc.assert(
      fc.asyncProperty(pair, fc.integer({ min: 1, max: 399 }), async ([m, n], other) => {
        const d = ALL.slice(0, n);
        const m2 = (other % (n - 1)) + 1;
        const p = await explicitConsistencyProof(m2, n, naiveReader(d));
        const r = implied(m, n, p, mth(d));
        if (typeof r !== "string") expect(r).toEqual(mth(d.slice(0, m)));
      }),
      { numRuns: 300 },
    );
  });

  it("preconditions first: 0 < m < n, safe integers, 32-byte hashes; junk only ever throws a TrailError", () => {
    const h = ALL[0]!;
    expect(errorCode(() => rootFromConsistencyProof(0, 5, [], h))).toBe("bad-size");
    expect(errorCode(() => rootFromConsistencyProof(5, 5, [], h))).toBe("bad-size");
    expect(errorCode(() => rootFromConsistencyProof(6, 5, [], h))).toBe("bad-size");
    expect(errorCode(() => rootFromConsistencyProof(2 ** 53, 2 ** 53 + 2, [], h))).toBe("bad-size");
    expect(errorCode(() => rootFromConsistencyProof(3, 5, [h, h, h, h], h.slice(1)))).toBe(
      "bad-hash",
    );
    expect(errorCode(() => rootFromConsistencyProof(3, 5, [h, h, h, h.slice(1)], h))).toBe(
      "bad-hash",
    );
    // Sizes up to 2^53-1: a proof of the right length runs the whole loop and fails on the root.
    for (const [m, n] of [
      [2 ** 52, 2 ** 53 - 1],
      [2 ** 53 - 2, 2 ** 53 - 1],
      [3, 2 ** 40 + 7],
    ] as const) {
      const len = explicitConsistencyProofLength(m, n);
      expect(len).toBeLessThanOrEqual(2 * 53 + 1);
      expect(errorCode(() => rootFromConsistencyProof(m, n, Array(len).fill(h), ALL[1]!))).toBe(
        "proof-mismatch",
      );
    }
    fc.assert(
      fc.property(fc.anything(), fc.anything(), fc.anything(), fc.anything(), (a, b, c, d) => {
        expect(
          throwsTrail(() =>
            rootFromConsistencyProof(a as number, b as number, c as Uint8Array[], d as Uint8Array),
          ),
        ).toBe(true);
      }),
      { numRuns: 300 },
    );
  });
});
