// The agent's receipts (index, leaf hash) of acknowledged events, as kept in <spool>/receipts.jsonl
// (one JSON object a line, appended by Spool.ack), read in bounded memory, and the view the
// sender checks each acknowledgement against: no index may name two different leaves.
//
// Memory: an agent runs for months, and its receipts file grows without bound (10 events a second
// is 26 million a month; a V8 Map also stops at 2^24 entries). The index therefore holds only the
// most recent `maxInMemory` receipts (100,000 by default: about 15 MB) in a Map, and remembers the
// largest index it evicted. An honest log names an index at or below that only for a duplicate of
// an event acknowledged long ago, which the agent never resends (it resends only what is still in
// the spool: at most the last batch): so the rare lookup below it scans the file, streaming, in
// bounded memory. Fresh indexes are above every index acknowledged before and cost one Map lookup.

import { closeSync, existsSync, openSync, readSync } from "node:fs";

export interface Receipt {
  index: number;
  /** base64 of the RFC 6962 leaf hash. */
  leafHash: string;
}

const CHUNK = 1 << 20;

/**
 * The receipts of `file` from byte `offset` on, each with the byte offset just past its line.
 * A line that is not a receipt (a torn write cut short by a crash) yields `receipt: undefined`;
 * an unterminated last line is not yielded (it may still be being written). Reads 1 MiB at a
 * time; a line longer than that is skipped as malformed.
 */
export function* receiptLines(
  file: string,
  offset = 0,
): Generator<{ receipt: Receipt | undefined; end: number }> {
  if (!existsSync(file)) return;
  const fd = openSync(file, "r");
  try {
    const buf = Buffer.alloc(CHUNK);
    let carry = Buffer.alloc(0);
    let pos = offset;
    for (;;) {
      const n = readSync(fd, buf, 0, CHUNK, pos);
      if (n === 0) return;
      const data = carry.length ? Buffer.concat([carry, buf.subarray(0, n)]) : buf.subarray(0, n);
      const start = pos - carry.length;
      pos += n;
      let from = 0;
      for (let nl = data.indexOf(10, from); nl >= 0; nl = data.indexOf(10, from)) {
        yield { receipt: parseReceipt(data.toString("utf8", from, nl)), end: start + nl + 1 };
        from = nl + 1;
      }
      carry = Buffer.from(data.subarray(from));
      if (carry.length >= CHUNK) {
        yield { receipt: undefined, end: pos };
        carry = Buffer.alloc(0);
      }
    }
  } finally {
    closeSync(fd);
  }
}

function parseReceipt(line: string): Receipt | undefined {
  try {
    const r = JSON.parse(line) as Partial<Receipt>;
    return Number.isSafeInteger(r.index) &&
      (r.index as number) >= 0 &&
      typeof r.leafHash === "string"
      ? { index: r.index as number, leafHash: r.leafHash }
      : undefined;
  } catch {
    return undefined;
  }
}

/** index → leaf hash of the acknowledged receipts: recent ones in memory, older ones on disk. */
export class ReceiptIndex {
  private readonly recent = new Map<number, string>();
  /**
   * The indexes in `recent`, oldest first, as a ring starting at `head` (a Map's first key is
   * not O(1) to reach after many deletions: V8 walks over the holes).
   */
  private readonly order: Float64Array;
  private head = 0;
  /** The largest index evicted from `recent` (its receipt is only on disk now); -1 when none. */
  private evictedMax = -1;

  constructor(
    readonly file: string,
    readonly maxInMemory = 100_000,
  ) {
    this.order = new Float64Array(maxInMemory);
    for (const { receipt } of receiptLines(file)) if (receipt) this.remember(receipt);
  }

  /** The leaf hash acknowledged at `index`, if any. */
  get(index: number): string | undefined {
    const hit = this.recent.get(index);
    if (hit !== undefined || index > this.evictedMax) return hit;
    for (const { receipt } of receiptLines(this.file))
      if (receipt?.index === index) return receipt.leafHash;
    return undefined;
  }

  /** Adds receipts just written to the file. */
  add(receipts: readonly Receipt[]): void {
    for (const r of receipts) this.remember(r);
  }

  /** Receipts held in memory. */
  get size(): number {
    return this.recent.size;
  }

  private remember(r: Receipt): void {
    if (this.recent.has(r.index)) return; // a duplicate acknowledgement: the first one stays
    if (this.recent.size === this.maxInMemory) {
      const oldest = this.order[this.head]!;
      this.recent.delete(oldest);
      this.evictedMax = Math.max(this.evictedMax, oldest);
      this.head = (this.head + 1) % this.maxInMemory;
    }
    this.order[(this.head + this.recent.size) % this.maxInMemory] = r.index;
    this.recent.set(r.index, r.leafHash);
  }
}
