// C2SP tlog-tiles entry bundles: each leaf prefixed by its length as a big-endian uint16, so a
// leaf is at most 65535 bytes (the empty leaf is allowed). Decoding is strict: no truncated
// entry, no trailing bytes, and the count the caller expects.

import { check, show } from "./errors.ts";

export const MAX_LEAF_SIZE = 65535;

export function encodeBundle(leaves: readonly Uint8Array[]): Uint8Array {
  let n = 0;
  for (const l of leaves) {
    check(
      l.length <= MAX_LEAF_SIZE,
      "malformed",
      `a leaf of ${l.length} bytes exceeds ${MAX_LEAF_SIZE}`,
    );
    n += 2 + l.length;
  }
  const out = new Uint8Array(n);
  let o = 0;
  for (const l of leaves) {
    out[o] = l.length >> 8;
    out[o + 1] = l.length & 255;
    out.set(l, o + 2);
    o += 2 + l.length;
  }
  return out;
}

export function decodeBundle(bytes: Uint8Array, expectedCount?: number): Uint8Array[] {
  check(bytes instanceof Uint8Array, "malformed", "entry bundle is not bytes");
  const out: Uint8Array[] = [];
  let o = 0;
  while (o < bytes.length) {
    check(
      o + 2 <= bytes.length,
      "malformed",
      `entry bundle truncated in the length of entry ${out.length}`,
    );
    const len = (bytes[o]! << 8) | bytes[o + 1]!;
    check(
      o + 2 + len <= bytes.length,
      "malformed",
      `entry bundle truncated in entry ${out.length}`,
    );
    out.push(bytes.subarray(o + 2, o + 2 + len));
    o += 2 + len;
  }
  if (expectedCount !== undefined) {
    check(
      out.length === expectedCount,
      "malformed",
      `entry bundle holds ${out.length} entries, want ${show(expectedCount)}`,
    );
  }
  return out;
}
