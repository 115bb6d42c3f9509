// `tmuxtrail audit` over the log's own database: recomputes everything the log ever committed to
// from the stored leaves and compares it with what is stored beside them, so that tampering by a
// database superuser (triggers disabled, rows edited) is found and named (docs/design.md §8.6).
//
// One pass over the leaves in index order, in chunks of CHUNK leaves (a multiple of 256, so a
// chunk covers whole level-0 tiles), inside one REPEATABLE READ READ ONLY transaction: a log that
// keeps serving while it is audited is audited at one consistent size. The next chunks' queries
// are sent before the current chunk is processed, so PostgreSQL reads while Node hashes; on a
// PostgreSQL primary they go alternately to READERS transactions that share that one snapshot
// (pg_export_snapshot), so two backends join leaves to entries and payloads at once: the join,
// not the hashing, bounds the audit.
//
//   0. read log_state and collect the erasure events (leaves indexed as type 'erasure');
//   1. per leaf: the index is present (no gap), the entry exists and hashes to leaves.leaf_hash,
//      the indexed columns equal the leaf's fields, its stream's seq continues, its payload is
//      present and matches its commitment (or is named by a later erasure event);
//   2. per chunk: the stored hash tiles the chunk completed equal the rebuilt ones; every stored
//      checkpoint in the chunk verifies with the log key and has the rebuilt root at its size;
//   3. at the end: the partial tiles, no tile or checkpoint beyond the tree, log_state's root and
//      right edge, every stream's gaps, and that the erasure events found by their column are
//      exactly those found in the leaves.
// Memory: one chunk of rows, the open tile per level, one record per stream, the erasure ranges.
//
// Longer than most files: one pass over the database whose checks share the chunk being read; the
// queries are db-queries.ts.

import { createHash } from "node:crypto";
import { parseCheckpoint } from "../core/checkpoint.ts";
import { base64Encode, bytesEqual, concatBytes } from "../core/encoding.ts";
import type { Verifier } from "../core/keys.ts";
import { splitNote } from "../core/note.ts";
import { isLogOwnEvent, readsAsEvent } from "../core/own-events.ts";
import type { Sql } from "../db/sql.ts";
import { nodeHasher } from "../lib/node-hasher.ts";
import { fastVerifier, openLogCheckpoint, rootFinding } from "./checkpoints.ts";
import {
  type CheckpointRow,
  type LeafRow,
  readCheckpoints,
  readErasureLeaves,
  readLeaves,
  readTiles,
  readTilesAt,
  readTilesBeyond,
} from "./db-queries.ts";
import { ErasureSet, isLogErasure } from "./erasures.ts";
import { Findings, streamName, tileName } from "./findings.ts";
import {
  columnMismatch,
  type LeafEvent,
  notTheLogsOwn,
  readLeafEvent,
  readsAsEventFinding,
} from "./leaf-event.ts";
import type { ProgressFn } from "./progress.ts";
import type { AuditReport } from "./report.ts";
import { StreamTracker } from "./streams.ts";
import { compareTile } from "./tile-compare.ts";
import { type RebuiltTile, TreeRebuilder } from "./tree-tiles.ts";

export const CHUNK = 40 * 256;
const ZERO = new Uint8Array(1);
const NO_HASH = new Uint8Array(32);

export interface DbAuditOptions {
  /** The log's verifier key(s). */
  verifiers: readonly Verifier[];
  /** Leaves per query (a multiple of 256). */
  chunk?: number;
  /** Transactions reading chunks at once on a PostgreSQL primary (default READERS). */
  readers?: number;
  onProgress?: ProgressFn;
}

const leafHash = (leaf: Uint8Array): Uint8Array =>
  createHash("sha256").update(ZERO).update(leaf).digest();

const commitment = (salt: Uint8Array, content: Uint8Array): string =>
  createHash("sha256").update(salt).update(content).digest("base64");

/** Transactions reading chunks at once on a PostgreSQL primary (the CLI's pool has as many). */
export const READERS = 2;

export function auditDatabase(sql: Sql, opts: DbAuditOptions): Promise<AuditReport> {
  return sql.begin(async (tx) => {
    await tx.query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY");
    const readers = [tx];
    // A hot standby cannot export its snapshot: one reader there, as on PGlite.
    const [primary] =
      sql.kind === "postgres"
        ? await tx.query<{ p: boolean }>("SELECT NOT pg_is_in_recovery() AS p")
        : [];
    if (!primary?.p || (opts.readers ?? READERS) < 2) return new DbAudit(readers, opts).run();
    const [{ id }] = (await tx.query<{ id: string }>("SELECT pg_export_snapshot() AS id")) as [
      { id: string },
    ];
    if (!/^[0-9A-F-]+$/i.test(id)) throw new Error(`unexpected snapshot id ${id}`);
    return withSnapshot(sql, id, (opts.readers ?? READERS) - 1, readers, () =>
      new DbAudit(readers, opts).run(),
    );
  });
}

/** Opens `n` more transactions on the exported snapshot `id`, adds them to `readers`, runs `fn`. */
function withSnapshot<T>(
  sql: Sql,
  id: string,
  n: number,
  readers: Sql[],
  fn: () => Promise<T>,
): Promise<T> {
  if (n === 0) return fn();
  return sql.begin(async (tx) => {
    await tx.query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY");
    await tx.query(`SET TRANSACTION SNAPSHOT '${id}'`);
    readers.push(tx);
    return withSnapshot(sql, id, n - 1, readers, fn);
  });
}

interface Chunk {
  from: number;
  to: number;
  rows: LeafRow[];
  tiles0: Map<number, Uint8Array>;
  checkpoints: CheckpointRow[];
}

class DbAudit {
  private readonly findings = new Findings();
  private readonly tree = new TreeRebuilder(nodeHasher);
  private readonly streams = new StreamTracker(this.findings);
  private readonly erasures = new ErasureSet();
  /** Erasure events (leaves.type = 'erasure') confirmed by their leaf bytes in the main pass. */
  private readonly erasuresSeen = new Set<number>();
  private readonly verifiers: Verifier[];
  private readonly chunk: number;
  private origin: string | undefined;
  private counts = { leaves: 0, tiles: 0, checkpoints: 0, payloads: 0, erased: 0 };

  private readonly sql: Sql;

  constructor(
    private readonly readers: Sql[],
    private readonly opts: DbAuditOptions,
  ) {
    this.sql = readers[0]!;
    this.verifiers = opts.verifiers.map(fastVerifier);
    this.chunk = opts.chunk ?? CHUNK;
    if (this.chunk <= 0 || this.chunk % 256 !== 0)
      throw new Error("chunk must be a positive multiple of 256");
  }

  async run(): Promise<AuditReport> {
    const started = performance.now();
    // 0. The committed tree, the log's origin (erasure events are the log's own), the erasures.
    const state = (
      await this.sql.query<{ size: number; root: Uint8Array; right_edge: Uint8Array }>(
        "SELECT size, root, right_edge FROM log_state WHERE id = 1",
      )
    )[0];
    if (!state)
      throw new Error(
        "no log_state row: this is not an initialised tmuxtrail database (check --database-schema)",
      );
    const size = state.size;
    this.origin = await this.readOrigin();
    await this.collectErasures(size);
    // 1-2. The main pass; the next chunk is read while this one is checked.
    for (const cp of await readCheckpoints(this.sql, -1, 0)) this.checkCheckpoint(cp);
    const fetch = (sql: Sql, from: number): Promise<Chunk> => {
      const to = Math.min(from + this.chunk, size);
      return Promise.all([
        readLeaves(sql, from, to),
        readTiles(sql, 0, from / 256, Math.ceil(to / 256)),
        readCheckpoints(sql, from, to),
      ]).then(([rows, tiles0, checkpoints]) => ({ from, to, rows, tiles0, checkpoints }));
    };
    // One chunk in flight per reader, taken in order.
    const inFlight: Promise<Chunk>[] = [];
    let nextFrom = 0;
    let launched = 0;
    const launch = () => {
      if (nextFrom >= size) return;
      const p = fetch(this.readers[launched++ % this.readers.length]!, nextFrom);
      p.catch(() => {}); // awaited in its turn; a failure surfaces there
      inFlight.push(p);
      nextFrom = Math.min(nextFrom + this.chunk, size);
    };
    for (const _ of this.readers) launch();
    while (inFlight.length > 0) {
      const cur = await inFlight.shift()!;
      launch();
      this.checkChunk(cur);
      await this.compareFullTiles(cur.tiles0);
      this.opts.onProgress?.(cur.to, size);
    }
    // 3. What only the end can tell.
    await this.finish(state);
    this.streams.finish();
    return {
      ok: this.findings.ok,
      source: "database",
      size,
      leaves: this.counts.leaves,
      tiles: this.counts.tiles,
      checkpoints: this.counts.checkpoints,
      streams: this.streams.count,
      payloads: this.counts.payloads,
      erased: this.counts.erased,
      findings: this.findings.list,
      omitted: this.findings.omitted,
      elapsedMs: Math.round(performance.now() - started),
    };
  }

  private async readOrigin(): Promise<string | undefined> {
    const rows = await this.sql.query<{ note: string }>(
      "SELECT note FROM checkpoints ORDER BY size DESC LIMIT 1",
    );
    try {
      return rows[0] ? parseCheckpoint(splitNote(rows[0].note).text).origin : undefined;
    } catch {
      return undefined; // the checkpoint pass reports the broken note
    }
  }

  private async collectErasures(size: number): Promise<void> {
    for (let after = -1; ; ) {
      const rows = await readErasureLeaves(this.sql, after, 10_000);
      for (const r of rows) {
        if (r.idx >= size) continue;
        const ev = r.leaf ? readLeafEvent(r.leaf) : undefined;
        if (ev && isLogErasure(ev, this.origin)) this.erasures.add(r.idx, ev.erasure!.indexes);
        else this.erasures.events.add(r.idx); // not honoured; the main pass says why
      }
      if (rows.length < 10_000) break;
      after = rows[rows.length - 1]!.idx;
    }
    this.erasures.seal();
  }

  private checkChunk(c: Chunk): void {
    let i = c.from;
    let cp = 0;
    const afterAppend = () => {
      while (cp < c.checkpoints.length && c.checkpoints[cp]!.size === this.tree.size) {
        this.checkCheckpoint(c.checkpoints[cp++]!);
      }
    };
    for (const r of c.rows) {
      for (; i < r.idx; i++) {
        this.gap(i, c.tiles0);
        afterAppend();
      }
      this.checkLeaf(r);
      afterAppend();
      i++;
    }
    for (; i < c.to; i++) {
      this.gap(i, c.tiles0);
      afterAppend();
    }
  }

  /** Leaf `i` has no row: named, and the tree continues with the stored tile's hash for it. */
  private gap(i: number, tiles0: Map<number, Uint8Array>): void {
    this.findings.add({
      kind: "leaf",
      index: i,
      message: `leaf ${i} is missing from the leaves table`,
    });
    const t = tiles0.get(Math.floor(i / 256));
    const o = (i % 256) * 32;
    this.tree.append(t && t.length >= o + 32 ? t.subarray(o, o + 32) : NO_HASH);
  }

  private checkLeaf(r: LeafRow): void {
    const i = r.idx;
    this.counts.leaves++;
    if (r.leaf === null) {
      this.findings.add({
        kind: "leaf",
        index: i,
        message: `leaf ${i}: no entries row holds its bytes (leaf hash ${base64Encode(r.leaf_hash)})`,
      });
    } else if (!bytesEqual(leafHash(r.leaf), r.leaf_hash)) {
      this.findings.add({
        kind: "leaf",
        index: i,
        message: `leaf ${i}: its bytes hash to ${base64Encode(leafHash(r.leaf))}, the tree holds ${base64Encode(r.leaf_hash)}`,
      });
    }
    this.tree.append(r.leaf_hash.length === 32 ? r.leaf_hash : NO_HASH);
    if (r.leaf === null) return;
    const indexed =
      r.host !== null || r.server !== null || r.pane !== null || r.seq !== null || r.type !== null;
    // The leaf bytes decide what a leaf is (the log refuses opaque leaves that read as events), so
    // emptied columns cannot hide an event from the stream and payload checks.
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
    if (r.salt === null || r.content === null) {
      if (this.erasures.covers(i)) this.counts.erased++;
      else
        this.findings.add({
          kind: "payload",
          index: i,
          stream: streamName(ev),
          message: `leaf ${i}: its payload is missing and no later erasure event names it`,
        });
      return;
    }
    this.counts.payloads++;
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

  private checkCheckpoint(row: CheckpointRow): void {
    this.counts.checkpoints++;
    const opened = openLogCheckpoint(row.note, this.verifiers, row.size, row);
    const f =
      opened.finding ??
      (row.size === this.tree.size ? rootFinding(row.size, row.root, this.tree.root()) : undefined);
    if (f) this.findings.add(f);
  }

  /** Compares the full tiles the rebuild completed; level 0 against the rows read with the chunk. */
  private async compareFullTiles(tiles0: Map<number, Uint8Array>): Promise<void> {
    const done = this.tree.takeFullTiles();
    const upper = done.filter((t) => t.level > 0);
    const stored = await readTilesAt(this.sql, upper);
    for (const t of done) {
      this.compare(t, t.level === 0 ? tiles0.get(t.index) : stored.get(tileName(t.level, t.index)));
    }
  }

  private compare(t: RebuiltTile, stored: Uint8Array | undefined): void {
    this.counts.tiles++;
    const f = compareTile(t, stored, this.tree.size);
    if (f) this.findings.add(f);
  }

  private async finish(state: {
    size: number;
    root: Uint8Array;
    right_edge: Uint8Array;
  }): Promise<void> {
    const size = state.size;
    const partial = this.tree.partialTiles();
    const stored = await readTilesAt(this.sql, partial);
    for (const t of partial) this.compare(t, stored.get(tileName(t.level, t.index)));
    for (const t of await readTilesBeyond(this.sql, this.tree.tileCounts(), 21)) {
      this.findings.add({
        kind: "tile",
        tile: tileName(t.level, t.idx),
        message: `tile ${tileName(t.level, t.idx)} (${t.len / 32} hashes) lies beyond the tree of size ${size}`,
      });
    }
    for (const cp of await this.sql.query<{ size: number }>(
      "SELECT size FROM checkpoints WHERE size > $1 ORDER BY size LIMIT 21",
      [size],
    )) {
      this.findings.add({
        kind: "checkpoint",
        size: cp.size,
        message: `checkpoint ${cp.size} is beyond the tree of size ${size}: leaves were lost or the database is an older copy`,
      });
    }
    const beyond = await this.sql.query<{ idx: number }>(
      "SELECT idx FROM leaves WHERE idx >= $1 ORDER BY idx LIMIT 1",
      [size],
    );
    if (beyond[0])
      this.findings.add({
        kind: "state",
        index: beyond[0].idx,
        message: `leaf ${beyond[0].idx} lies beyond log_state.size ${size}`,
      });
    const root = this.tree.root();
    const f = rootFinding(size, state.root, root, "log_state");
    if (f) this.findings.add({ ...f, kind: "state" });
    if (!bytesEqual(state.right_edge, concatBytes(...this.tree.rightEdge()))) {
      this.findings.add({
        kind: "state",
        size,
        message: `log_state: the right edge is not the compact range of the first ${size} leaves`,
      });
    }
    for (const i of this.erasures.events) {
      if (!this.erasuresSeen.has(i))
        this.findings.add({
          kind: "leaf",
          index: i,
          message: `leaf ${i} is indexed as an erasure event but its leaf is not one`,
        });
    }
  }
}
