// RFC 8785 JSON Canonicalization Scheme: the leaf bytes of an event. Object keys sorted by UTF-16
// code units, no whitespace, numbers in ECMAScript shortest form (JSON.stringify of a finite
// number is exactly that), strings escaped as ECMAScript's JSON.stringify does (which is what
// RFC 8785 §3.2.2.2 prescribes: \b \f \n \r \t \" \\ and \u00xx for other controls, everything
// else literal). Lone surrogates, non-finite numbers and non-JSON values are refused.

import { utf8Encode } from "./encoding.ts";
import { check, TrailError } from "./errors.ts";

const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

function write(v: unknown, out: string[], depth: number): void {
  check(depth <= 64, "malformed", "JSON nested too deeply");
  if (v === null) out.push("null");
  else if (typeof v === "boolean") out.push(v ? "true" : "false");
  else if (typeof v === "number") {
    check(Number.isFinite(v), "malformed", "JSON numbers must be finite");
    out.push(JSON.stringify(v));
  } else if (typeof v === "string") {
    check(!LONE_SURROGATE.test(v), "malformed", "string contains a lone surrogate");
    out.push(JSON.stringify(v));
  } else if (Array.isArray(v)) {
    out.push("[");
    v.forEach((x, i) => {
      if (i) out.push(",");
      write(x, out, depth + 1);
    });
    out.push("]");
  } else if (typeof v === "object" && Object.getPrototypeOf(v) === Object.prototype) {
    const keys = Object.keys(v as object)
      .filter((k) => (v as Record<string, unknown>)[k] !== undefined)
      .sort();
    out.push("{");
    keys.forEach((k, i) => {
      if (i) out.push(",");
      check(!LONE_SURROGATE.test(k), "malformed", "key contains a lone surrogate");
      out.push(JSON.stringify(k), ":");
      write((v as Record<string, unknown>)[k], out, depth + 1);
    });
    out.push("}");
  } else {
    throw new TrailError("malformed", `${typeof v} is not a JSON value`);
  }
}

export function canonicalJson(value: unknown): string {
  const out: string[] = [];
  write(value, out, 0);
  return out.join("");
}

export function canonicalJsonBytes(value: unknown): Uint8Array {
  return utf8Encode(canonicalJson(value));
}
