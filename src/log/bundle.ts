// C2SP tlog-tiles "Log entries": an entry bundle is its leaves in order, each prefixed by its
// length as a big-endian uint16, so a leaf is at most 65535 bytes (the empty leaf is allowed) and
// a bundle holds at most 256 leaves. Example: the leaves "" and 0x07 encode as 00 00 00 01 07.
// Decoding is strict: no truncated length or entry, no trailing bytes, no more than 256
// entries, and exactly the count the caller expects (the bundle's width) when given.

import { check, show } from "./errors.ts";
import { TILE_WIDTH } from "./tiles.ts";

export const MAX_LEAF_SIZE = 65535;

export function encodeBundle(leaves: readonly Uint8Array[]): Uint8Array {
  check(leaves.length <= TILE_WIDTH, "malformed", `${leaves.length} leaves exceed one bundle`);
  let n = 0;
  for (const l of leaves) {
    check(l instanceof Uint8Array, "malformed", "a leaf is not bytes");
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
    out[o] = Math.floor(l.length / 256);
    out[o + 1] = l.length % 256;
    out.set(l, o + 2);
    o += 2 + l.length;
  }
  return out;
}

/** The leaves of an entry bundle, as views into `bytes`. */
export function decodeBundle(bytes: Uint8Array, expectedCount?: number): Uint8Array[] {
  check(bytes instanceof Uint8Array, "malformed", "entry bundle is not bytes");
  check(
    expectedCount === undefined ||
      (Number.isInteger(expectedCount) && expectedCount >= 0 && expectedCount <= TILE_WIDTH),
    "malformed",
    `expected entry count ${show(expectedCount)} is not in 0..256`,
  );
  const max = expectedCount ?? TILE_WIDTH;
  const out: Uint8Array[] = [];
  let o = 0;
  while (o < bytes.length) {
    check(out.length < max, "malformed", `entry bundle holds more than ${max} entries`);
    check(
      o + 2 <= bytes.length,
      "malformed",
      `entry bundle truncated in the length of entry ${out.length}`,
    );
    const len = bytes[o]! * 256 + bytes[o + 1]!;
    check(
      o + 2 + len <= bytes.length,
      "malformed",
      `entry bundle truncated in entry ${out.length}`,
    );
    out.push(bytes.subarray(o + 2, o + 2 + len));
    o += 2 + len;
  }
  check(
    expectedCount === undefined || out.length === expectedCount,
    "malformed",
    `entry bundle holds ${out.length} entries, want ${expectedCount}`,
  );
  return out;
}
