// The naive recursive RFC 6962 definitions (§2.1, §2.1.1, §2.1.2), over an array of leaf hashes.
// Test-only: the fast code in src/core is compared against these by fast-check.

import { type Hash, rfc6962 } from "../../src/core/hash.ts";

/** The largest power of two strictly less than n (n ≥ 2). */
function k(n: number): number {
  let s = 1;
  while (s * 2 < n) s *= 2;
  return s;
}

/** MTH(D[n]) over leaf hashes. */
export function mth(d: Hash[]): Hash {
  if (d.length === 0) return rfc6962.emptyRoot();
  if (d.length === 1) return d[0]!;
  const s = k(d.length);
  return rfc6962.node(mth(d.slice(0, s)), mth(d.slice(s)));
}

/** PATH(m, D[n]). */
export function path(m: number, d: Hash[]): Hash[] {
  if (d.length <= 1) return [];
  const s = k(d.length);
  return m < s
    ? [...path(m, d.slice(0, s)), mth(d.slice(s))]
    : [...path(m - s, d.slice(s)), mth(d.slice(0, s))];
}

/** SUBPROOF(m, D[n], b). */
function subproof(m: number, d: Hash[], b: boolean): Hash[] {
  if (m === d.length) return b ? [] : [mth(d)];
  const s = k(d.length);
  return m <= s
    ? [...subproof(m, d.slice(0, s), b), mth(d.slice(s))]
    : [...subproof(m - s, d.slice(s), false), mth(d.slice(0, s))];
}

/** PROOF(m, D[n]). */
export function proof(m: number, d: Hash[]): Hash[] {
  return subproof(m, d, true);
}

/** n leaf hashes of distinct leaves. */
export function leafHashes(n: number): Hash[] {
  return Array.from({ length: n }, (_, i) => rfc6962.leaf(new TextEncoder().encode(`leaf ${i}`)));
}

/** A NodeReader backed by the naive MTH: the hash of perfect subtree (level, index). */
export function naiveReader(d: Hash[]) {
  return async (ids: readonly { level: number; index: number }[]) =>
    ids.map(({ level, index }) => {
      const w = 2 ** level;
      if ((index + 1) * w > d.length) throw new Error(`node ${level}/${index} is not complete`);
      return mth(d.slice(index * w, (index + 1) * w));
    });
}

/** Any fast-check value as a string, without ever throwing (for building junk inputs). */
export function junkString(v: unknown): string {
  if (typeof v === "string") return v;
  try {
    return JSON.stringify(v) ?? typeof v;
  } catch {
    return typeof v;
  }
}
