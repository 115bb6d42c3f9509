// C2SP tlog-tiles paths, tile sets, tile reading and entry bundles (test/vectors/tiles.json).
import { readFileSync } from "node:fs";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { decodeBundle, encodeBundle } from "../../src/core/bundle.ts";
import { isTrailError } from "../../src/core/errors.ts";
import { rfc6962 } from "../../src/core/hash.ts";
import { inclusionProof } from "../../src/core/proof.ts";
import { tileNodeReader, tileRowFromLeafHashes } from "../../src/core/tile-reader.ts";
import {
  encodeTileIndex,
  entriesPath,
  entryBundleFor,
  hashTilePath,
  parseTilePath,
  tilesForSize,
} from "../../src/core/tiles.ts";
import { throwsTrail } from "../support/errors.ts";
import { leafHashes, mth, naiveReader } from "./reference.ts";

const T = JSON.parse(readFileSync(new URL("../vectors/tiles.json", import.meta.url), "utf8"));

describe("tile paths (tiles.json)", () => {
  it("index encoding", () => {
    for (const [n, s] of T.index_encoding) expect(encodeTileIndex(n)).toBe(s);
  });

  // `index` is the bundle index and `log_size` the tree size in leaves, as in the source
  // (tessera api/layout/paths_test.go: seq 256, logSize 257 → 001.p/1). The third case there is
  // seq 123456789·256, logSize 123456790·256; the vector file dropped both ·256, so its log size
  // is read in bundles for that case alone (it cannot hold bundle 123456789 in leaves).
  it("entry bundle paths: bundle index, and the width log_size leaves in it", () => {
    for (const v of T.entry_bundle_paths) {
      const leaves = v.log_size > v.index * 256 ? v.log_size : v.log_size * 256;
      const width = Math.min(256, leaves - v.index * 256);
      expect(entriesPath(v.index, width)).toBe(v.path);
      expect(parseTilePath(v.path)).toEqual({ kind: "entries", index: v.index, width });
    }
  });

  it("hash tile paths (partial 0 = full)", () => {
    for (const v of T.hash_tile_paths) {
      const width = v.partial === 0 ? 256 : v.partial;
      expect(hashTilePath({ level: v.level, index: v.index, width })).toBe(v.path);
      expect(parseTilePath(v.path)).toEqual({
        kind: "hash",
        level: v.level,
        index: v.index,
        width,
      });
    }
  });

  it("tiles for a size", () => {
    const describeTiles = (size: number) => {
      const byLevel = new Map<number, { full: number; partial?: number }>();
      for (const t of tilesForSize(size)) {
        const l = byLevel.get(t.level) ?? { full: 0 };
        if (t.width === 256) l.full++;
        else l.partial = t.width;
        byLevel.set(t.level, l);
      }
      return [...byLevel]
        .map(([level, l]) => {
          const parts = [];
          if (l.full) parts.push(`${l.full} full tile${l.full > 1 ? "s" : ""}`);
          if (l.partial) parts.push(`partial .p/${l.partial}`);
          return `level ${level}: ${parts.join(" + ")}`;
        })
        .join("; ");
    };
    for (const v of T.tiles_for_size) expect(describeTiles(v.size)).toBe(v.tiles);
  });

  it("rejects every path in paths_to_reject", () => {
    for (const p of T.paths_to_reject) {
      const path = p.split(" (")[0];
      expect(
        throwsTrail(() => parseTilePath(path)),
        path,
      ).toBe(true);
    }
  });

  it("format(parse(p)) === p for random tile coordinates, and parse rejects junk only with TrailError", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 63 }),
        fc.nat({ max: Number.MAX_SAFE_INTEGER }),
        fc.integer({ min: 1, max: 256 }),
        (level, index, width) => {
          const p = hashTilePath({ level, index, width });
          expect(
            hashTilePath(parseTilePath(p) as { level: number; index: number; width: number }),
          ).toBe(p);
          const e = entriesPath(index, width);
          const q = parseTilePath(e);
          expect(entriesPath(q.index, q.width)).toBe(e);
        },
      ),
    );
    fc.assert(
      fc.property(fc.oneof(fc.string(), fc.anything()), (junk) => {
        try {
          parseTilePath(junk as string);
        } catch (e) {
          expect(isTrailError(e)).toBe(true);
        }
      }),
    );
  });

  it("entryBundleFor: leaf 1234067 is in bundle x004/820 at offset 147", () => {
    const b = entryBundleFor(1234067, 2_000_000);
    expect(b).toEqual({ index: 4820, width: 256, offset: 147 });
    expect(entriesPath(b.index, b.width)).toBe("tile/entries/x004/820");
  });
});

describe("reading node hashes from tiles", () => {
  const ALL = leafHashes(2500);

  function tileStore(size: number) {
    const rows = [0, 1].map((level) => tileRowFromLeafHashes(ALL.slice(0, size), level));
    const fetched: string[] = [];
    const fetch = async (level: number, index: number, width: number) => {
      fetched.push(`${level}/${index}/${width}`);
      const hs = rows[level]!.slice(index * 256, index * 256 + width);
      const out = new Uint8Array(hs.length * 32);
      for (const [i, h] of hs.entries()) out.set(h, i * 32);
      return out;
    };
    return { fetch, fetched };
  }

  it("every tile-read node equals the node hash computed directly, partial tiles included", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 2500 }),
        fc.nat(),
        fc.nat(),
        async (size, a, b) => {
          const level = a % (Math.floor(Math.log2(size)) + 1);
          const count = Math.floor(size / 2 ** level);
          const index = b % count;
          const { fetch } = tileStore(size);
          const [h] = await tileNodeReader(size, fetch)([{ level, index }]);
          expect(h).toEqual(mth(ALL.slice(index * 2 ** level, (index + 1) * 2 ** level)));
        },
      ),
      { numRuns: 200 },
    );
  });

  it("proofs built from tiles equal proofs built from nodes, fetching each tile once", async () => {
    const size = 2345;
    const { fetch, fetched } = tileStore(size);
    const fromTiles = await inclusionProof(1000, size, tileNodeReader(size, fetch));
    expect(fromTiles).toEqual(await inclusionProof(1000, size, naiveReader(ALL.slice(0, size))));
    expect(new Set(fetched).size).toBe(fetched.length);
  });

  it("a tile longer than asked is truncated; a shorter one is malformed; an incomplete node is not found", async () => {
    const size = 300;
    const long = async () => new Uint8Array(256 * 32);
    await tileNodeReader(size, long)([{ level: 0, index: 280 }]);
    const short = async (_l: number, _i: number, w: number) => new Uint8Array((w - 1) * 32);
    await expect(tileNodeReader(size, short)([{ level: 0, index: 280 }])).rejects.toMatchObject({
      code: "malformed",
    });
    await expect(tileNodeReader(size, long)([{ level: 0, index: 300 }])).rejects.toMatchObject({
      code: "not-found",
    });
    await expect(tileNodeReader(size, long)([{ level: 3, index: 37 }])).rejects.toMatchObject({
      code: "not-found",
    });
  });
});

describe("entry bundles", () => {
  it("round-trip with uint16 length prefixes, the empty leaf included", () => {
    fc.assert(
      fc.property(fc.array(fc.uint8Array({ maxLength: 300 }), { maxLength: 256 }), (leaves) => {
        const b = encodeBundle(leaves);
        expect(decodeBundle(b, leaves.length)).toEqual(leaves);
      }),
      { numRuns: 50 },
    );
    expect(encodeBundle([new Uint8Array(0), new Uint8Array([7])])).toEqual(
      new Uint8Array([0, 0, 0, 1, 7]),
    );
  });

  it("refuses truncated data, trailing bytes, a wrong count and an oversize leaf", () => {
    expect(throwsTrail(() => decodeBundle(new Uint8Array([0, 2, 1])))).toBe(true);
    expect(throwsTrail(() => decodeBundle(new Uint8Array([0, 1, 1, 0])))).toBe(true);
    expect(throwsTrail(() => decodeBundle(new Uint8Array([0, 1, 1]), 2))).toBe(true);
    expect(throwsTrail(() => encodeBundle([new Uint8Array(65536)]))).toBe(true);
    expect(rfc6962.leaf(decodeBundle(encodeBundle([new Uint8Array(65535)]))[0]!)).toHaveLength(32);
  });
});
