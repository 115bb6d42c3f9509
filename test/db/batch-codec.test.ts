// Storage v2's batch format (src/db/batch-codec.ts) against a naive reference: a batch is a list of
// slots, each a leaf and an optional (salt, content); packing then unpacking gives the list back,
// erasing slots gives the list with those payloads gone, and every byte string that is not a
// framing of some list (cut, extended, lengths that overrun) is refused, never read past its end.

import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  BatchFormatError,
  compress,
  decompress,
  eraseSlots,
  frameContents,
  frameLeaves,
  packBatch,
  unframeContents,
  unframeLeaves,
} from "../../src/db/batch-codec.ts";

const slot = fc.record({
  leaf: fc.uint8Array({ maxLength: 300 }),
  payload: fc.option(
    fc.record({
      salt: fc.uint8Array({ minLength: 32, maxLength: 32 }),
      content: fc.uint8Array({ maxLength: 600 }),
    }),
    { nil: null },
  ),
});
const batch = fc.array(slot, { maxLength: 40 });

const plain = (u: Uint8Array | undefined | null) => (u ? Array.from(u) : u);
const payloadsOf = (b: { payload: { salt: Uint8Array; content: Uint8Array } | null }[]) =>
  b.map((s) =>
    s.payload ? { salt: plain(s.payload.salt), content: plain(s.payload.content) } : null,
  );
const unframedPayloads = (raw: Uint8Array) =>
  unframeContents(raw).map((p) => (p ? { salt: plain(p.salt), content: plain(p.content) } : null));

/** Whether `f` refuses its input as BatchFormatError (and nothing else). */
function refused(f: () => unknown): boolean {
  try {
    f();
    return false;
  } catch (e) {
    if (e instanceof BatchFormatError) return true;
    throw e;
  }
}

describe("batch framing", () => {
  it("unframes to what was framed", () => {
    fc.assert(
      fc.property(batch, (b) => {
        expect(unframeLeaves(frameLeaves(b.map((s) => s.leaf))).map(plain)).toEqual(
          b.map((s) => plain(s.leaf)),
        );
        expect(unframedPayloads(frameContents(b.map((s) => s.payload)))).toEqual(payloadsOf(b));
      }),
    );
  });

  it("erasing slots drops exactly their payloads", () => {
    fc.assert(
      fc.property(batch, fc.array(fc.nat({ max: 45 })), (b, gone) => {
        const erased = eraseSlots(frameContents(b.map((s) => s.payload)), gone);
        const want = b.map((s, i) => (gone.includes(i) ? { ...s, payload: null } : s));
        expect(unframedPayloads(erased)).toEqual(payloadsOf(want));
      }),
    );
  });

  it("refuses every cut or extended framing, and never reads past its input", () => {
    fc.assert(
      fc.property(
        batch,
        fc.nat(),
        fc.uint8Array({ minLength: 1, maxLength: 8 }),
        (b, at, extra) => {
          const parts = [
            { raw: frameLeaves(b.map((s) => s.leaf)), unframe: unframeLeaves },
            { raw: frameContents(b.map((s) => s.payload)), unframe: unframeContents },
          ];
          for (const { raw, unframe } of parts) {
            const cut = raw.subarray(0, at % raw.length);
            const longer = new Uint8Array([...raw, ...extra]);
            expect(refused(() => unframe(cut))).toBe(true);
            expect(refused(() => unframe(longer))).toBe(true);
          }
        },
      ),
    );
  });

  it("refuses lengths that overrun the part, and a count whose lengths do not fit", () => {
    const raw = frameLeaves([new Uint8Array([1, 2, 3])]);
    new DataView(raw.buffer).setUint32(4, 4);
    expect(refused(() => unframeLeaves(raw))).toBe(true);
    const counted = new Uint8Array(8);
    new DataView(counted.buffer).setUint32(0, 1_000_000);
    expect(refused(() => unframeLeaves(counted))).toBe(true);
    expect(refused(() => unframeContents(counted))).toBe(true);
    expect(refused(() => unframeLeaves(new Uint8Array(3)))).toBe(true);
  });
});

describe("batch compression", () => {
  it("packs a batch into two parts that inflate to its framing", async () => {
    const b = fc.sample(batch, { numRuns: 1, seed: 7 })[0]!;
    const packed = await packBatch(b);
    expect(packed.count).toBe(b.length);
    const leaves = unframeLeaves(await decompress(packed.leaves, 1));
    expect(leaves.map(plain)).toEqual(b.map((s) => plain(s.leaf)));
    expect(unframedPayloads(await decompress(packed.contents, 1))).toEqual(payloadsOf(b));
  });

  it("refuses an unknown codec and a stream that does not inflate", async () => {
    const part = await compress(frameLeaves([new Uint8Array([1])]));
    await expect(decompress(part, 2)).rejects.toBeInstanceOf(BatchFormatError);
    await expect(decompress(part.subarray(0, part.length - 1), 1)).rejects.toBeInstanceOf(
      BatchFormatError,
    );
    await expect(decompress(new Uint8Array([1, 2, 3, 4, 5]), 1)).rejects.toBeInstanceOf(
      BatchFormatError,
    );
  });
});
