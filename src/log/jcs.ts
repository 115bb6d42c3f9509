// RFC 8785 JSON Canonicalization Scheme (JCS): the leaf bytes of an event (DESIGN section 1).
//   §3.2.1 no whitespace; literals null, true, false.
//   §3.2.2.2 strings: \b \f \n \r \t \" \\ escaped, other characters below U+0020 as \u00xx
//            (lowercase hex), everything else literal, "/" included. ECMAScript's
//            JSON.stringify of a well-formed string does exactly this; lone surrogates (which it
//            would escape as \udxxx and I-JSON forbids) are refused.
//   §3.2.2.3 numbers: ECMAScript Number-to-String, which JSON.stringify of a finite number is
//            (-0 → "0", 1e21 → "1e+21", 1e-7 → "1e-7"); NaN and ±Infinity are refused.
//   §3.2.3   object members sorted by their names as arrays of UTF-16 code units, which is what
//            Array.prototype.sort's default comparison does (not locale order: "péché" < "pêche").
// Worked example: {"b":[1,"é\n"],"a":null} → {"a":null,"b":[1,"é\n"]} with the newline as \n.
// Values that are not JSON are refused with "malformed", never dropped: undefined (also as an
// object member or array element), functions, bigint, symbols, class instances such as Date
// (toJSON is not consulted), and nesting deeper than 64 (which also catches cycles).

import { utf8Encode } from "./encoding.ts";
import { check, show, TrailError } from "./errors.ts";

const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;
const MAX_DEPTH = 64;

function string(s: string, out: string[]): void {
  check(!LONE_SURROGATE.test(s), "malformed", `string ${show(s)} contains a lone surrogate`);
  out.push(JSON.stringify(s));
}

function isPlainObject(v: object): v is Record<string, unknown> {
  const proto = Object.getPrototypeOf(v);
  return proto === Object.prototype || proto === null;
}

function write(v: unknown, out: string[], depth: number): void {
  check(depth <= MAX_DEPTH, "malformed", `JSON nested deeper than ${MAX_DEPTH}`);
  if (v === null) out.push("null");
  else if (v === true) out.push("true");
  else if (v === false) out.push("false");
  else if (typeof v === "number") {
    check(Number.isFinite(v), "malformed", `JSON numbers are finite, not ${v}`);
    out.push(JSON.stringify(v));
  } else if (typeof v === "string") string(v, out);
  else if (Array.isArray(v)) {
    out.push("[");
    for (let i = 0; i < v.length; i++) {
      if (i) out.push(",");
      write(v[i], out, depth + 1);
    }
    out.push("]");
  } else if (typeof v === "object" && isPlainObject(v)) {
    const keys = Object.keys(v).sort();
    out.push("{");
    keys.forEach((k, i) => {
      if (i) out.push(",");
      string(k, out);
      out.push(":");
      write(v[k], out, depth + 1);
    });
    out.push("}");
  } else {
    const kind = typeof v === "object" ? "an object that is not a plain object" : typeof v;
    throw new TrailError("malformed", `${kind} is not a JSON value`);
  }
}

/** The RFC 8785 canonical form of a JSON value. Throws TrailError "malformed" for non-JSON. */
export function canonicalJson(value: unknown): string {
  const out: string[] = [];
  write(value, out, 0);
  return out.join("");
}

/** UTF-8 of canonicalJson(value): the bytes that are hashed. */
export function canonicalJsonBytes(value: unknown): Uint8Array {
  return utf8Encode(canonicalJson(value));
}
