// RFC 8785 JSON Canonicalization Scheme: the leaf bytes of an event. Object keys sorted by UTF-16
// code units, no whitespace, numbers in ECMAScript shortest form (JSON.stringify of a finite
// number is exactly that), strings escaped as ECMAScript's JSON.stringify does (which is what
// RFC 8785 §3.2.2.2 prescribes: \b \f \n \r \t \" \\ and \u00xx for other controls, everything
// else literal). Lone surrogates, non-finite numbers and non-JSON values are refused.

import { utf8Encode } from "./encoding.ts";
import { check, TrailError } from "./errors.ts";

const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;
/** No lone surrogate: String.prototype.isWellFormed where the runtime has it (a regex is slower). */
const wellFormed: (s: string) => boolean =
  typeof (String.prototype as { isWellFormed?: unknown }).isWellFormed === "function"
    ? (s) => (s as unknown as { isWellFormed(): boolean }).isWellFormed()
    : (s) => !LONE_SURROGATE.test(s);

// Builds the text by concatenation, with plain loops: every leaf a verifier reads is serialised
// once more to check that it is canonical (a 100,000-event bundle: 100,000 times).
function write(v: unknown, depth: number): string {
  if (depth > 64) check(false, "malformed", "JSON nested too deeply");
  switch (typeof v) {
    case "string":
      if (!wellFormed(v)) check(false, "malformed", "string contains a lone surrogate");
      return JSON.stringify(v);
    case "number":
      if (!Number.isFinite(v)) check(false, "malformed", "JSON numbers must be finite");
      return JSON.stringify(v);
    case "boolean":
      return v ? "true" : "false";
    case "object": {
      if (v === null) return "null";
      if (Array.isArray(v)) {
        let s = "[";
        for (let i = 0; i < v.length; i++) s += (i ? "," : "") + write(v[i], depth + 1);
        return `${s}]`;
      }
      if (Object.getPrototypeOf(v) !== Object.prototype) break;
      const o = v as Record<string, unknown>;
      let s = "{";
      for (const k of Object.keys(o).sort()) {
        const x = o[k];
        if (x === undefined) continue;
        if (!wellFormed(k)) check(false, "malformed", "key contains a lone surrogate");
        s += `${s.length > 1 ? "," : ""}${JSON.stringify(k)}:${write(x, depth + 1)}`;
      }
      return `${s}}`;
    }
  }
  throw new TrailError("malformed", `${typeof v} is not a JSON value`);
}

export function canonicalJson(value: unknown): string {
  return write(value, 0);
}

/**
 * Whether `text` is the canonical form of `parsed`, which JSON.parse gave for it: the check of
 * every leaf a verifier reads, without building the canonical text again. JSON.stringify of what
 * JSON.parse gave is the canonical text exactly when the text had no whitespace, its numbers and
 * strings were spelled as JSON.stringify spells them, and no key repeated (the parse keeps one);
 * what remains is that keys are in order and no string holds a lone surrogate (JSON.stringify
 * writes one back as the escape it may have been read from). Integer-like keys ("9") are
 * enumerated first whatever the text's order, so a canonical text holding such a key and a larger
 * one ("10" < "9") is refused here: only for documents of known keys (a leaf, after its schema).
 */
export function isCanonicalParse(parsed: unknown, text: string): boolean {
  return JSON.stringify(parsed) === text && ordered(parsed, 0);
}

function ordered(v: unknown, depth: number): boolean {
  if (typeof v === "string") return wellFormed(v);
  if (typeof v !== "object" || v === null) return true;
  if (depth > 64) return false;
  if (Array.isArray(v)) {
    for (const x of v) if (!ordered(x, depth + 1)) return false;
    return true;
  }
  let prev: string | undefined;
  for (const k in v) {
    if ((prev !== undefined && !(prev < k)) || !wellFormed(k)) return false;
    if (!ordered((v as Record<string, unknown>)[k], depth + 1)) return false;
    prev = k;
  }
  return true;
}

export function canonicalJsonBytes(value: unknown): Uint8Array {
  return utf8Encode(canonicalJson(value));
}
