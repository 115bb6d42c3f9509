import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { CompactRange, rightEdgeIds } from "../../src/core/compact.ts";
import { isTrailError } from "../../src/core/errors.ts";
import { leafHashes, mth } from "./reference.ts";

const ALL = leafHashes(1200);

describe("compact range", () => {
  it("resuming from a stored right edge gives the same roots as continuing", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 1000 }),
        fc.integer({ min: 1, max: 200 }),
        (cut, more) => {
          const a = CompactRange.empty();
          for (const h of ALL.slice(0, cut)) a.append(h);
          const b = CompactRange.fromRightEdge(cut, a.rightEdge());
          expect(b.root()).toEqual(a.root());
          for (const h of ALL.slice(cut, cut + more)) {
            a.append(h);
            b.append(h);
            expect(b.root()).toEqual(a.root());
          }
          expect(b.size).toBe(cut + more);
        },
      ),
      { numRuns: 60 },
    );
  });

  it("onNode reports exactly the perfect subtrees each append completes", () => {
    const seen: string[] = [];
    const r = CompactRange.empty();
    for (const h of ALL.slice(0, 300)) {
      r.append(h, (id, hash) => {
        const w = 2 ** id.level;
        expect(hash).toEqual(mth(ALL.slice(id.index * w, (id.index + 1) * w)));
        seen.push(`${id.level}/${id.index}`);
      });
    }
    // 300 leaves complete 300 + 150 + 75 + 37 + 18 + 9 + 4 + 2 + 1 perfect subtrees.
    expect(seen.length).toBe(300 + 150 + 75 + 37 + 18 + 9 + 4 + 2 + 1);
    expect(new Set(seen).size).toBe(seen.length);
  });

  it("the right edge is the binary decomposition of the size", () => {
    expect(rightEdgeIds(6)).toEqual([
      { level: 2, index: 0 },
      { level: 1, index: 2 },
    ]);
    expect(rightEdgeIds(0)).toEqual([]);
    expect(rightEdgeIds(2 ** 53 - 1).length).toBe(53);
  });

  it("refuses a right edge of the wrong shape", () => {
    const r = CompactRange.empty();
    for (const h of ALL.slice(0, 6)) r.append(h);
    const edge = r.rightEdge();
    for (const [size, e] of [
      [6, edge.slice(1)],
      [7, edge],
      [6, [edge[0]!, edge[1]!.subarray(1)]],
      [-1, []],
      [1.5, []],
    ] as [number, Uint8Array[]][]) {
      let err: unknown;
      try {
        CompactRange.fromRightEdge(size, e);
      } catch (x) {
        err = x;
      }
      expect(isTrailError(err)).toBe(true);
    }
  });
});
