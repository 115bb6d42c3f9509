// Storage v2's stored object (docs/design.md §4.9): one row of `batches` per staged batch, holding
// the batch's leaf bytes in one compressed part and its salts and contents in another. A leaves row
// names its bytes by (batch, slot): slot i of both parts is the i-th leaf staged in the batch.
//
// Raw framing of each part, before compression (all integers u32 big-endian):
//   leaves    count ‖ len_0 … len_{count-1} ‖ leaf_0 ‖ … ‖ leaf_{count-1}
//   contents  count ‖ len_0 … len_{count-1} ‖ (salt_i ‖ content_i for each slot with a payload)
//             len_i is the content's length, or NONE when the slot has no payload (a raw leaf, an
//             event without content, an erased one, or a slot rewritten away, see `eraseSlots`).
// Example: leaves ["ab", "cde"] frame as 00000002 00000002 00000003 61 62 63 64 65.
//
// Codec 1 is brotli at quality 1: on this machine's terminal text it gives 0.145 of the size at
// ~430 MB/s against deflate level 1's 0.163 at ~200 MB/s (`npm run bench:codecs`, §4.9). The codec
// is stored per batch, so a later rewrite may choose another. Both directions run on libuv's
// thread pool (node:zlib's async calls), not on the event loop.
//
// Everything read back is hostile until checked: a part that does not inflate, inflates past what
// its batch's count of slots can hold (maxRaw), claims another count or more than MAX_SLOTS, or
// whose framing does not add up throws BatchFormatError (audit names the batch).

import { promisify } from "node:util";
import { brotliCompress, brotliDecompress, constants } from "node:zlib";
import { MAX_LEAF_SIZE } from "../core/bundle.ts";
import { MAX_CONTENT } from "../core/events.ts";

export const CODEC_BROTLI_Q1 = 1;
/** The codec new batches are written with. */
export const CODEC = CODEC_BROTLI_Q1;
const NONE = 0xffffffff;
const SALT = 32;
/** Most slots a batch may have (serve --batch-max is at most this; a request at most 1,000). */
export const MAX_SLOTS = 100_000;
/** Most bytes one part may inflate to, whatever its count. */
export const MAX_RAW = 1 << 30;

/**
 * The most bytes a part of `count` slots can inflate to: a stored part is inflated only that far,
 * so a small crafted part cannot expand into gigabytes.
 */
export function maxRaw(part: "leaves" | "contents", count: number): number {
  const slot = part === "leaves" ? 4 + MAX_LEAF_SIZE : 4 + SALT + MAX_CONTENT;
  return Math.min(MAX_RAW, 4 + count * slot);
}

export interface Payload {
  salt: Uint8Array;
  content: Uint8Array;
}

export class BatchFormatError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "BatchFormatError";
  }
}

const compressAsync = promisify(brotliCompress);
const decompressAsync = promisify(brotliDecompress);

/** Compresses one raw part with `codec`. */
export async function compress(raw: Uint8Array, codec = CODEC): Promise<Uint8Array> {
  if (codec !== CODEC_BROTLI_Q1) throw new BatchFormatError(`unknown batch codec ${codec}`);
  const out = await compressAsync(raw, {
    params: {
      [constants.BROTLI_PARAM_QUALITY]: 1,
      [constants.BROTLI_PARAM_SIZE_HINT]: raw.length,
    },
  });
  return new Uint8Array(out.buffer, out.byteOffset, out.length);
}

/**
 * Inflates one stored part, to at most `limit` bytes (`maxRaw` of its part and count); throws
 * BatchFormatError on an unknown codec, a corrupt stream or one inflating past the limit.
 */
export async function decompress(
  stored: Uint8Array,
  codec: number,
  limit = MAX_RAW,
): Promise<Uint8Array> {
  if (codec !== CODEC_BROTLI_Q1) throw new BatchFormatError(`unknown batch codec ${codec}`);
  try {
    const out = await decompressAsync(stored, { maxOutputLength: limit });
    return new Uint8Array(out.buffer, out.byteOffset, out.length);
  } catch (e) {
    throw new BatchFormatError(`a batch part does not inflate: ${(e as Error).message}`);
  }
}

function header(count: number, lens: number[], body: number): { out: Uint8Array; view: DataView } {
  const out = new Uint8Array(4 + 4 * count + body);
  const view = new DataView(out.buffer);
  view.setUint32(0, count);
  for (let i = 0; i < count; i++) view.setUint32(4 + 4 * i, lens[i]!);
  return { out, view };
}

/** The raw leaves part of `leaves`, in slot order. */
export function frameLeaves(leaves: readonly Uint8Array[]): Uint8Array {
  const lens = leaves.map((l) => l.length);
  const { out } = header(
    leaves.length,
    lens,
    lens.reduce((a, b) => a + b, 0),
  );
  let o = 4 + 4 * leaves.length;
  for (const l of leaves) {
    out.set(l, o);
    o += l.length;
  }
  return out;
}

/** The raw contents part: slot i holds payloads[i], or nothing when it is null. */
export function frameContents(payloads: readonly (Payload | null | undefined)[]): Uint8Array {
  const lens = payloads.map((p) => (p ? p.content.length : NONE));
  let body = 0;
  for (const p of payloads) if (p) body += SALT + p.content.length;
  const { out } = header(payloads.length, lens, body);
  let o = 4 + 4 * payloads.length;
  for (const p of payloads) {
    if (!p) continue;
    if (p.salt.length !== SALT) throw new BatchFormatError("a salt is not 32 bytes");
    out.set(p.salt, o);
    out.set(p.content, o + SALT);
    o += SALT + p.content.length;
  }
  return out;
}

function counted(
  raw: Uint8Array,
  what: string,
  expected: number | undefined,
): { count: number; view: DataView } {
  if (raw.length < 4) throw new BatchFormatError(`the ${what} part is shorter than its count`);
  const view = new DataView(raw.buffer, raw.byteOffset, raw.length);
  const count = view.getUint32(0);
  // Checked before any slot is read: a crafted count would otherwise cost one object per slot.
  if (count > MAX_SLOTS) {
    throw new BatchFormatError(`the ${what} part claims ${count} slots (at most ${MAX_SLOTS})`);
  }
  if (expected !== undefined && count !== expected) {
    throw new BatchFormatError(`the ${what} part holds ${count} slots, its batch says ${expected}`);
  }
  if (4 + 4 * count > raw.length) {
    throw new BatchFormatError(`the ${what} part's ${count} lengths do not fit in it`);
  }
  return { count, view };
}

/** The leaves of a raw leaves part (views into `raw`); `expected`: the batch's count. */
export function unframeLeaves(raw: Uint8Array, expected?: number): Uint8Array[] {
  const { count, view } = counted(raw, "leaves", expected);
  const out: Uint8Array[] = new Array(count);
  let o = 4 + 4 * count;
  for (let i = 0; i < count; i++) {
    const len = view.getUint32(4 + 4 * i);
    if (o + len > raw.length) throw new BatchFormatError(`leaf slot ${i} runs past its part`);
    out[i] = raw.subarray(o, o + len);
    o += len;
  }
  if (o !== raw.length) throw new BatchFormatError("the leaves part has bytes after its last slot");
  return out;
}

/** The payloads of a raw contents part (views into `raw`); null where a slot holds none. */
export function unframeContents(raw: Uint8Array, expected?: number): (Payload | null)[] {
  const { count, view } = counted(raw, "contents", expected);
  const out: (Payload | null)[] = new Array(count);
  let o = 4 + 4 * count;
  for (let i = 0; i < count; i++) {
    const len = view.getUint32(4 + 4 * i);
    if (len === NONE) {
      out[i] = null;
      continue;
    }
    if (o + SALT + len > raw.length)
      throw new BatchFormatError(`content slot ${i} runs past its part`);
    out[i] = { salt: raw.subarray(o, o + SALT), content: raw.subarray(o + SALT, o + SALT + len) };
    o += SALT + len;
  }
  if (o !== raw.length)
    throw new BatchFormatError("the contents part has bytes after its last slot");
  return out;
}

/** The raw contents part without the payloads of `slots`: what erasure writes back. */
export function eraseSlots(raw: Uint8Array, slots: Iterable<number>): Uint8Array {
  const payloads = unframeContents(raw);
  for (const s of slots) if (s >= 0 && s < payloads.length) payloads[s] = null;
  return frameContents(payloads);
}

export interface PackedBatch {
  count: number;
  leaves: Uint8Array;
  contents: Uint8Array;
}

/** One staged batch's two parts, compressed (in parallel on the thread pool). */
export async function packBatch(
  events: readonly { leaf: Uint8Array; payload?: Payload | null }[],
): Promise<PackedBatch> {
  const [leaves, contents] = await Promise.all([
    compress(frameLeaves(events.map((e) => e.leaf))),
    compress(frameContents(events.map((e) => e.payload))),
  ]);
  return { count: events.length, leaves, contents };
}
