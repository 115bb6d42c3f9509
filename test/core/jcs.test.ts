// isCanonicalParse (the leaf check of every verifier) against the reference it replaces: a text is
// canonical when re-serialising what it parses to gives it back (canonicalJson, which also refuses
// lone surrogates). Texts are near-canonical on purpose: reordered or repeated keys, whitespace,
// other spellings of numbers and strings, escaped lone surrogates.

import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { canonicalJson, isCanonicalParse } from "../../src/core/jcs.ts";

function reference(text: string): boolean {
  try {
    return canonicalJson(JSON.parse(text)) === text;
  } catch {
    return false;
  }
}

// Keys as a leaf has them: never integer-like (isCanonicalParse's stated precondition).
const key = fc.constantFrom("a", "b", "type", "seq", "Z", "é", "a\u0000", "\ud83d\ude00", "k-1");
const scalar = fc.oneof(
  fc.string({ maxLength: 6 }),
  fc.constantFrom("\ud800", "x\udc00", "\ud83d\ude00", "\u2028", "\u007f", '"\\'),
  fc.integer(),
  fc.double({ noNaN: true, noDefaultInfinity: true }),
  fc.boolean(),
  fc.constant(null),
);
const { value } = fc.letrec((tie) => ({
  value: fc.oneof(
    { depthSize: "small", withCrossShrink: true },
    scalar,
    fc.array(tie("value"), { maxLength: 3 }),
    fc.dictionary(key, tie("value"), { maxKeys: 4 }),
  ),
}));

/** A canonical text, and spellings of it a hostile writer might try. */
const texts = fc.tuple(value, fc.nat(), fc.constantFrom(0, 1, 2, 3, 4, 5)).map(([v, at, how]) => {
  const t = safeCanonical(v);
  const i = t.length ? at % t.length : 0;
  switch (how) {
    case 1:
      return JSON.stringify(v); // insertion order, not sorted
    case 2:
      return `${t.slice(0, i)} ${t.slice(i)}`;
    case 3:
      return t.replace(/"([a-zé])":/, '"$1":0,"$1":'); // a repeated key
    case 4:
      return t.replace(/\d/, (d) => `${d}.0`).replace("\\u0000", "\\u0000");
    case 5:
      return t.replace(/"x/, '"\\ud800x'); // an escaped lone surrogate
    default:
      return t;
  }
});

function safeCanonical(v: unknown): string {
  try {
    return canonicalJson(v);
  } catch {
    return JSON.stringify(v); // it held a lone surrogate: JSON.stringify escapes it
  }
}

describe("isCanonicalParse", () => {
  it("agrees with re-serialising through canonicalJson", () => {
    fc.assert(
      fc.property(texts, (text) => {
        let parsed: unknown;
        try {
          parsed = JSON.parse(text);
        } catch {
          return;
        }
        expect(isCanonicalParse(parsed, text)).toBe(reference(text));
      }),
      { numRuns: 5000 },
    );
  });

  it("refuses what only looks canonical", () => {
    const yes = (t: string) => isCanonicalParse(JSON.parse(t), t);
    expect(yes('{"a":1,"b":[true,null,"x"]}')).toBe(true);
    expect(yes('{"b":1,"a":2}')).toBe(false); // keys out of order
    expect(yes('{"a":1,"a":1}')).toBe(false); // a repeated key
    expect(yes('{"a": 1}')).toBe(false); // whitespace
    expect(yes('{"a":1.0}')).toBe(false); // a number's other spelling
    expect(yes('{"a":"\\u0041"}')).toBe(false); // an escape JSON.stringify does not write
    expect(yes('{"a":"\\ud800"}')).toBe(false); // a lone surrogate, escaped as JSON.stringify would
    expect(yes('{"\\udc00":1}')).toBe(false); // in a key
  });
});
