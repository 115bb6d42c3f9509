// Bit arithmetic on tree sizes and indexes up to 2^53-1. JavaScript's bitwise operators work on
// 32 bits, so these split a number into two 32-bit halves or use exact arithmetic instead.

const TWO32 = 2 ** 32;

/** a XOR b for non-negative safe integers. */
export function xor(a: number, b: number): number {
  const hi = (Math.floor(a / TWO32) ^ Math.floor(b / TWO32)) >>> 0;
  const lo = ((a >>> 0) ^ (b >>> 0)) >>> 0;
  return hi * TWO32 + lo;
}

/** Number of bits needed to write x (0 for 0). */
export function bitLength(x: number): number {
  let n = 0;
  while (x >= TWO32) {
    x = Math.floor(x / TWO32);
    n += 32;
  }
  return n + (32 - Math.clz32(x));
}

/** Number of set bits. */
export function popcount(x: number): number {
  let n = 0;
  for (let v of [x >>> 0, Math.floor(x / TWO32)]) {
    while (v) {
      v &= v - 1;
      n++;
    }
  }
  return n;
}

/** Number of trailing zero bits (x > 0). */
export function trailingZeros(x: number): number {
  let n = 0;
  while (x % 2 === 0) {
    x /= 2;
    n++;
  }
  return n;
}

/** x >> k for safe integers. */
export function shr(x: number, k: number): number {
  return Math.floor(x / 2 ** k);
}

/** The largest power of two strictly less than n (n ≥ 2): RFC 6962's split point k. */
export function splitPoint(n: number): number {
  return 2 ** (bitLength(n - 1) - 1);
}

export function isPowerOfTwo(n: number): boolean {
  return n > 0 && 2 ** trailingZeros(n) === n;
}
