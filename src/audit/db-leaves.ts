// The per-leaf checks of a database audit, one leaves row (with its bytes and payload from its
// batch, db-snapshot.ts) at a time, in index order:
//   - the row is there (no gap), its batch is stored and marked integrated, the batch's slot holds
//     its bytes (both parts inflate and frame) and SHA-256(0x00 || leaf) is its leaf_hash;
//   - the leaf bytes, not the indexed columns, decide what a leaf is (the log refuses opaque leaves
//     that read as events), so emptied columns cannot hide an event from the checks below: a leaf
//     indexed as an event is one, and its indexed columns equal its fields; an opaque leaf does
//     not read as an event; an access or erasure event is the log's own;
//   - its stream's seq continues (streams.ts: gaps and duplicates are named at the end);
//   - its payload is present and matches the leaf's commitment, or is named by an erasure event at
//     a later index (erasures.ts).
// Erasure events are found twice: by their column (leaves.type = 'erasure') before the pass, so a
// payload's check knows every later erasure, and by their bytes during it; the end names a leaf
// found one way only.

import { hash } from "node:crypto";
import { base64Encode, bytesEqual } from "../core/encoding.ts";
import { isLogOwnEvent, readsAsEvent } from "../core/own-events.ts";
import { BatchStore } from "../db/batch-store.ts";
import type { Sql } from "../db/sql.ts";
import { type LeafRow, readErasureLeaves } from "./db-queries.ts";
import { ErasureSet, isLogErasure } from "./erasures.ts";
import { type Findings, streamName } from "./findings.ts";
import {
  columnMismatch,
  type LeafEvent,
  notTheLogsOwn,
  readLeafEvent,
  readsAsEventFinding,
} from "./leaf-event.ts";
import { StreamTracker } from "./streams.ts";

const ZERO = new Uint8Array(1);

// One-shot hashes of the parts joined (node:crypto's `hash`, Node 20.12+): cheaper than a Hash
// object per call for inputs of this size, even with the copy. The parts are joined in one reused
// buffer (a Buffer.concat per leaf was a tenth of the audit's time in the garbage collector); a
// part too large for it (only a tampered one) is joined apart.
const scratch = Buffer.allocUnsafe(1 + 65_536 + 32);

function joined(a: Uint8Array, b: Uint8Array): Uint8Array {
  const n = a.length + b.length;
  if (n > scratch.length) return Buffer.concat([a, b]);
  scratch.set(a, 0);
  scratch.set(b, a.length);
  return scratch.subarray(0, n);
}

const leafHash = (leaf: Uint8Array): Uint8Array => hash("sha256", joined(ZERO, leaf), "buffer");

const commitment = (salt: Uint8Array, content: Uint8Array): string =>
  hash("sha256", joined(salt, content), "base64");

export class LeafChecks {
  /** Leaves rows checked. */
  leaves = 0;
  /** Payloads whose commitment was recomputed. */
  payloads = 0;
  /** Missing payloads excused by a later erasure event. */
  erased = 0;
  private readonly streams: StreamTracker;
  private readonly erasures = new ErasureSet();
  /** Erasure events (leaves.type = 'erasure') confirmed by their leaf bytes in the main pass. */
  private readonly erasuresSeen = new Set<number>();

  constructor(
    private readonly findings: Findings,
    /** The log's origin (from its newest checkpoint): its own events are the log's. */
    private readonly origin: string | undefined,
  ) {
    this.streams = new StreamTracker(findings);
  }

  /** Streams (host, server, pane) seen so far. */
  get streamCount(): number {
    return this.streams.count;
  }

  /** Before the pass: the erasure events of the tree of `size`, found by their column. */
  async collectErasures(sql: Sql, size: number): Promise<void> {
    // Few leaves, read through a small store; a leaf whose bytes cannot be read is not honoured
    // (the main pass names it).
    const store = new BatchStore(sql, { leavesBytes: 4 << 20, contentsBytes: 0 });
    const leafOf = async (batch: number | null, slot: number | null) => {
      if (batch === null || slot === null) return undefined;
      try {
        return (await store.leaves([{ batch, slot }]))[0];
      } catch {
        return undefined;
      }
    };
    for (let after = -1; ; ) {
      const rows = await readErasureLeaves(sql, after, 10_000);
      for (const r of rows) {
        if (r.idx >= size) continue;
        const leaf = await leafOf(r.batch, r.slot);
        const ev = leaf ? readLeafEvent(leaf) : undefined;
        if (ev && isLogErasure(ev, this.origin)) this.erasures.add(r.idx, ev.erasure!.indexes);
        else this.erasures.events.add(r.idx); // not honoured; the main pass says why
      }
      if (rows.length < 10_000) break;
      after = rows[rows.length - 1]!.idx;
    }
    this.erasures.seal();
  }

  /** Leaf `i` has no row. */
  missing(i: number): void {
    this.findings.add({
      kind: "leaf",
      index: i,
      message: `leaf ${i} is missing from the leaves table`,
    });
  }

  check(r: LeafRow): void {
    const i = r.idx;
    this.leaves++;
    if (r.unintegrated) {
      // The sequencer marks a batch integrated in the transaction that puts its leaves in the tree.
      this.findings.add({
        kind: "leaf",
        index: i,
        message: `leaf ${i}: its batch ${r.batch} is not marked integrated`,
      });
    }
    if (r.leaf === null) {
      this.findings.add({
        kind: "leaf",
        index: i,
        message: `leaf ${i}: its bytes are lost: ${r.lost ?? "unreadable"} (leaf hash ${base64Encode(r.leaf_hash)})`,
      });
      return;
    }
    if (!bytesEqual(leafHash(r.leaf), r.leaf_hash)) {
      this.findings.add({
        kind: "leaf",
        index: i,
        message: `leaf ${i}: its bytes hash to ${base64Encode(leafHash(r.leaf))}, the tree holds ${base64Encode(r.leaf_hash)}`,
      });
    }
    const indexed =
      r.host !== null || r.server !== null || r.pane !== null || r.seq !== null || r.type !== null;
    const ev = readLeafEvent(r.leaf);
    if (!indexed && !ev) {
      // An opaque leaf (POST /v1/leaves): no stream, no payload. One that reads as an event is
      // refused there (own-events.ts), as readers could take it for an event.
      if (readsAsEvent(r.leaf)) this.findings.add(readsAsEventFinding(i));
      return;
    }
    if (!ev) {
      this.findings.add({
        kind: "leaf",
        index: i,
        message: `leaf ${i} is indexed as an event of ${r.host}/${r.server}/${r.pane} but is not an event`,
      });
      return;
    }
    const bad = columnMismatch(r, ev);
    if (bad) this.findings.add({ kind: "leaf", index: i, message: `leaf ${i}: ${bad}` });
    this.streams.see(ev, i);
    if (ev.payload) this.checkPayload(r, ev);
    if (ev.type === "erasure") this.checkErasureEvent(i, ev);
    else if (ev.type === "access" && !isLogOwnEvent(ev, this.origin))
      this.findings.add(notTheLogsOwn(i, ev));
  }

  private checkPayload(r: LeafRow, ev: LeafEvent): void {
    const i = r.idx;
    if (r.contentsLost !== undefined) {
      this.findings.add({
        kind: "payload",
        index: i,
        stream: streamName(ev),
        message: `leaf ${i}: its payload cannot be read: ${r.contentsLost}`,
      });
      return;
    }
    if (r.salt === null || r.content === null) {
      if (this.erasures.covers(i)) this.erased++;
      else
        this.findings.add({
          kind: "payload",
          index: i,
          stream: streamName(ev),
          message: `leaf ${i}: its payload is missing and no later erasure event names it`,
        });
      return;
    }
    this.payloads++;
    if (
      r.content.length !== ev.payload!.size ||
      commitment(r.salt, r.content) !== ev.payload!.sha256
    ) {
      this.findings.add({
        kind: "payload",
        index: i,
        stream: streamName(ev),
        message: `leaf ${i}: the stored payload (${r.content.length} bytes) does not match the leaf's commitment (${ev.payload!.size} bytes, sha256 ${ev.payload!.sha256})`,
      });
    }
  }

  private checkErasureEvent(i: number, ev: LeafEvent): void {
    this.erasuresSeen.add(i);
    if (!this.erasures.events.has(i)) {
      this.findings.add({
        kind: "leaf",
        index: i,
        message: `leaf ${i} is an erasure event but is not indexed as one (leaves.type)`,
      });
    } else if (!isLogErasure(ev, this.origin)) {
      this.findings.add(notTheLogsOwn(i, ev));
    }
  }

  /** After the pass: leaves indexed as erasure events that are not, and every stream's gaps. */
  finish(): void {
    for (const i of this.erasures.events) {
      if (!this.erasuresSeen.has(i))
        this.findings.add({
          kind: "leaf",
          index: i,
          message: `leaf ${i} is indexed as an erasure event but its leaf is not one`,
        });
    }
    this.streams.finish();
  }
}
