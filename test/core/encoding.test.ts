// The strict base64 decoder against a naive reference: Node decodes anything, so a text is valid
// exactly when Node's decoding, encoded again, gives the same text back (one spelling per byte
// string); then both must give the same bytes. Hashes and contents of every bundle pass here.

import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { base64Decode, base64Encode } from "../../src/core/encoding.ts";
import { isTrailError } from "../../src/core/errors.ts";

function reference(text: string): Uint8Array | null {
  const bytes = Buffer.from(text, "base64");
  return bytes.toString("base64") === text ? new Uint8Array(bytes) : null;
}

function decoded(text: string): Uint8Array | null {
  try {
    return base64Decode(text);
  } catch (e) {
    if (!isTrailError(e, "malformed")) throw e;
    return null;
  }
}

const ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
/** Near-misses: base64 of random bytes with a character changed, cut, or added. */
const nearBase64 = fc
  .tuple(
    fc.uint8Array({ maxLength: 40 }),
    fc.nat(),
    fc.constantFrom(..."=-_ \n\u00e9\u{1f600}A/+", ""),
    fc.constantFrom("replace", "insert", "cut", "none"),
  )
  .map(([bytes, at, ch, how]) => {
    const t = base64Encode(bytes);
    const i = t.length ? at % (t.length + 1) : 0;
    if (how === "replace") return t.slice(0, i) + ch + t.slice(i + 1);
    if (how === "insert") return t.slice(0, i) + ch + t.slice(i);
    if (how === "cut") return t.slice(0, i);
    return t;
  });

describe("base64Decode", () => {
  it("round-trips every byte string", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), (bytes) => {
        expect(base64Decode(base64Encode(bytes))).toEqual(bytes);
      }),
      { numRuns: 2000 },
    );
  });

  it("accepts exactly the canonical spellings, with the reference's bytes", () => {
    const any = fc.oneof(
      nearBase64,
      fc.string({ unit: fc.constantFrom(...`${ALPHABET}=`), maxLength: 16 }),
    );
    fc.assert(
      fc.property(any, (text) => {
        expect(decoded(text)).toEqual(reference(text));
      }),
      { numRuns: 5000 },
    );
  });

  it("names the character and checks the length asked for", () => {
    expect(() => base64Decode("AAA*", "salt")).toThrow("salt: invalid character at 3");
    expect(() => base64Decode("A=AA", "salt")).toThrow("salt: invalid character at 1");
    expect(() => base64Decode("AB==", "h")).toThrow("h: non-canonical");
    expect(() => base64Decode("AAAA", "hash", 32)).toThrow("hash: decodes to 3 bytes, want 32");
    expect(() => base64Decode("AAA", "x")).toThrow("x: length is not a multiple of 4");
  });
});
