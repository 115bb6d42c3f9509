// Byte and text encodings for untrusted input. Node's Buffer.from(s, "base64") accepts junk
// (whitespace, URL-safe letters, missing padding, trailing bits), so parsing here is strict:
// standard alphabet, padding required, canonical trailing bits, exact decoded lengths.
// Isomorphic: runs in Node and in the browser; Uint8Array in and out.

import { check } from "./errors.ts";

const B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
/** Each UTF-16 code unit's value in the alphabet, or -1: one load per character, no range test. */
const B64_VALUE = new Int8Array(65536).fill(-1);
for (let i = 0; i < B64.length; i++) B64_VALUE[B64.charCodeAt(i)] = i;

export function base64Encode(bytes: Uint8Array): string {
  let out = "";
  let i = 0;
  for (; i + 2 < bytes.length; i += 3) {
    const n = (bytes[i]! << 16) | (bytes[i + 1]! << 8) | bytes[i + 2]!;
    out += B64[n >> 18]! + B64[(n >> 12) & 63]! + B64[(n >> 6) & 63]! + B64[n & 63]!;
  }
  const rest = bytes.length - i;
  if (rest === 1) {
    const n = bytes[i]! << 16;
    out += `${B64[n >> 18]!}${B64[(n >> 12) & 63]!}==`;
  } else if (rest === 2) {
    const n = (bytes[i]! << 16) | (bytes[i + 1]! << 8);
    out += `${B64[n >> 18]!}${B64[(n >> 12) & 63]!}${B64[(n >> 6) & 63]!}=`;
  }
  return out;
}

/**
 * Strict standard base64 (RFC 4648 §4) with padding. Rejects anything whose canonical encoding
 * differs from the input, so every byte string has exactly one accepted spelling.
 * `expectedLength`, when given, is the exact number of decoded bytes required.
 */
export function base64Decode(text: string, what = "base64", expectedLength?: number): Uint8Array {
  if (typeof text !== "string") check(false, "malformed", `${what}: not a string`);
  if (text.length % 4 !== 0) check(false, "malformed", `${what}: length is not a multiple of 4`);
  const pad = text.endsWith("==") ? 2 : text.endsWith("=") ? 1 : 0;
  const outLen = (text.length / 4) * 3 - pad;
  if (expectedLength !== undefined && outLen !== expectedLength) {
    check(false, "malformed", `${what}: decodes to ${outLen} bytes, want ${expectedLength}`);
  }
  const out = new Uint8Array(outLen);
  // The whole quads: this loop runs per character of every hash and content a bundle carries (a
  // 100,000-event bundle: tens of millions of characters), so it tests a quad's four characters
  // at once and builds a message only on failure.
  const whole = pad ? text.length - 4 : text.length;
  let o = 0;
  for (let i = 0; i < whole; i += 4) {
    const a = B64_VALUE[text.charCodeAt(i)]!;
    const b = B64_VALUE[text.charCodeAt(i + 1)]!;
    const c = B64_VALUE[text.charCodeAt(i + 2)]!;
    const d = B64_VALUE[text.charCodeAt(i + 3)]!;
    if ((a | b | c | d) < 0) badCharacter(text, i, what);
    const n = (a << 18) | (b << 12) | (c << 6) | d;
    out[o++] = n >> 16;
    out[o++] = (n >> 8) & 255;
    out[o++] = n & 255;
  }
  if (pad) {
    const i = whole;
    const a = B64_VALUE[text.charCodeAt(i)]!;
    const b = B64_VALUE[text.charCodeAt(i + 1)]!;
    const c = pad === 1 ? B64_VALUE[text.charCodeAt(i + 2)]! : 0;
    if ((a | b | c) < 0) badCharacter(text, i, what);
    const n = (a << 18) | (b << 12) | (c << 6);
    out[o++] = n >> 16;
    if (pad === 1) out[o++] = (n >> 8) & 255;
    if ((n & (pad === 1 ? 0xff : 0xffff)) !== 0)
      check(false, "malformed", `${what}: non-canonical`);
  }
  return out;
}

/** The failure of a quad that holds a character outside the alphabet (a misplaced "=" too). */
function badCharacter(text: string, at: number, what: string): never {
  let k = at;
  while (k < at + 3 && B64_VALUE[text.charCodeAt(k)]! >= 0) k++;
  check(false, "malformed", `${what}: invalid character at ${k}`);
}

export function hexEncode(bytes: Uint8Array): string {
  let s = "";
  for (const b of bytes) s += b.toString(16).padStart(2, "0");
  return s;
}

/** Lowercase hex only, even length. */
export function hexDecode(text: string, what = "hex", expectedLength?: number): Uint8Array {
  check(
    typeof text === "string" && /^(?:[0-9a-f]{2})*$/.test(text),
    "malformed",
    `${what}: not lowercase hex`,
  );
  const out = new Uint8Array(text.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = Number.parseInt(text.slice(2 * i, 2 * i + 2), 16);
  if (expectedLength !== undefined) {
    check(out.length === expectedLength, "malformed", `${what}: want ${expectedLength} bytes`);
  }
  return out;
}

const encoder = new TextEncoder();
const strictDecoder = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

export function utf8Encode(text: string): Uint8Array {
  return encoder.encode(text);
}

/** Strict UTF-8: invalid sequences are an error, never U+FFFD. A BOM is kept as U+FEFF. */
export function utf8Decode(bytes: Uint8Array, what = "text"): string {
  try {
    return strictDecoder.decode(bytes);
  } catch {
    check(false, "malformed", `${what}: invalid UTF-8`);
  }
}

export function concatBytes(...parts: Uint8Array[]): Uint8Array {
  let n = 0;
  for (const p of parts) n += p.length;
  const out = new Uint8Array(n);
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

export function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** Constant-time comparison for secrets (same length assumed public). */
export function timingSafeEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let d = 0;
  for (let i = 0; i < a.length; i++) d |= a[i]! ^ b[i]!;
  return d === 0;
}

/** Big-endian uint64 of a safe integer. */
export function uint64be(n: number): Uint8Array {
  check(Number.isSafeInteger(n) && n >= 0, "malformed", "uint64: not a safe non-negative integer");
  const out = new Uint8Array(8);
  const view = new DataView(out.buffer);
  view.setUint32(0, Math.floor(n / 2 ** 32));
  view.setUint32(4, n >>> 0);
  return out;
}

/**
 * Parses a decimal uint64 written canonically: no sign, no leading zeros (except "0"), and at
 * most 2^53-1 so it is exact as a JS number.
 */
export function parseDecimal(text: string, what: string): number {
  check(/^(?:0|[1-9][0-9]{0,15})$/.test(text), "malformed", `${what}: not a canonical decimal`);
  const n = Number(text);
  check(Number.isSafeInteger(n), "malformed", `${what}: larger than 2^53-1`);
  return n;
}
