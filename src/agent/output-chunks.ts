// Cutting a pane's output into events, with no I/O: where a pending run of output may be cut now
// (never inside a secret, holding back an unfinished private-key block and the last HOLD_BACK bytes
// of a busy pane), and the events' contents, at most `maxChunk` bytes each, redacted with CONTEXT
// bytes of look-back so that a pattern's key in one event and its secret in the next still match.

import {
  OPEN_KEY_BLOCK,
  type Redaction,
  type RedactionPattern,
  redact,
  safeCut,
  secretSpans,
} from "./redact.ts";

/** Held back from a busy pane's flush, so a secret split across two flushes is redacted whole. */
export const HOLD_BACK = 512;
/** A pane quiet this long has its held-back tail flushed (a secret paused longer may be split). */
export const IDLE_FLUSH_MS = 1000;

export const READ_LIMIT = 1024 * 1024;

/**
 * How far redaction looks back before a chunk: a pattern's key ("Bearer ", "password=") in one
 * chunk and its secret in the next still match (a pane that paused mid-line is flushed whole).
 */
const CONTEXT = 512;

/** The last CONTEXT bytes of `before` followed by `data`. */
export function lookBack(before: Buffer, data: Buffer): Buffer {
  if (data.length >= CONTEXT) return data.subarray(data.length - CONTEXT);
  return Buffer.concat([
    before.subarray(Math.max(0, before.length - (CONTEXT - data.length))),
    data,
  ]);
}

/** Where pending output `data` may be cut now (all of it when `all`, or when it is READ_LIMIT). */
export function flushCut(data: Buffer, spans: [number, number][], all: boolean): number {
  if (all || data.length >= READ_LIMIT) return data.length;
  const open = OPEN_KEY_BLOCK.exec(data.toString("latin1"));
  return safeCut(
    spans,
    Math.max(0, Math.min(open ? open.index : data.length, data.length - HOLD_BACK)),
  );
}

export interface OutputPiece {
  content: Buffer;
  redactions: Redaction[];
  /** The offset in `data` after this piece. */
  end: number;
}

/**
 * `data` in pieces of at most `maxChunk` bytes, none cut inside a secret (a secret longer than a
 * piece goes whole into one: redacted, it is short), each redacted with the bytes before it.
 */
export function outputPieces(
  data: Buffer,
  patterns: RedactionPattern[],
  maxChunk: number,
  known?: [number, number][],
  context: Buffer = Buffer.alloc(0),
): OutputPiece[] {
  const spans = known ?? secretSpans(data.toString("latin1"), patterns);
  const out: OutputPiece[] = [];
  for (let o = 0; o < data.length; ) {
    let end = Math.min(o + maxChunk, data.length);
    if (end < data.length) {
      const c = safeCut(spans, end);
      end =
        c > o
          ? c
          : Math.max(...spans.filter(([a, b]) => a <= o + 1 && b > end).map(([, b]) => b), end);
    }
    const { content, redactions } = redact(
      data.subarray(o, end),
      patterns,
      lookBack(context, data.subarray(0, o)),
    );
    out.push({ content, redactions, end });
    o = end;
  }
  return out;
}
