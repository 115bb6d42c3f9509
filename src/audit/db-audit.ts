// `tmuxtrail audit` over the log's own database: recomputes everything the log ever committed to
// from the stored leaves and compares it with what is stored beside them, so that tampering by a
// database superuser (triggers disabled, rows edited) is found and named (docs/design.md §8.6).
//
// One pass over the leaves in index order, in chunks of CHUNK leaves (a multiple of 256, so a
// chunk covers whole level-0 tiles), all read at one snapshot (db-snapshot.ts: a log that keeps
// serving while it is audited is audited at one consistent size). The steps, numbered in `audit`:
//   0. read log_state, the log's origin and the erasure events (leaves indexed as type 'erasure');
//   1. per leaf (db-leaves.ts): the index is present (no gap), the entry exists and hashes to
//      leaves.leaf_hash, the indexed columns equal the leaf's fields, its stream's seq continues,
//      its payload is present and matches its commitment (or is named by a later erasure event);
//   2. per chunk: the stored hash tiles the chunk completed equal the rebuilt ones (db-tree.ts);
//      every stored checkpoint in the chunk verifies with the log key and has the rebuilt root at
//      its size (db-checkpoints.ts);
//   3. at the end: the partial tiles, no tile or checkpoint beyond the tree, log_state's root and
//      right edge, every stream's gaps, and that the erasure events found by their column are
//      exactly those found in the leaves.
// Findings come in that order, the earliest thing that breaks first (findings.ts).
// Memory: one chunk of rows per reader, the open tile per level, one record per stream, the erasure
// ranges.

import type { Verifier } from "../core/keys.ts";
import type { Sql } from "../db/sql.ts";
import { CheckpointChecks, readOrigin } from "./db-checkpoints.ts";
import { LeafChecks } from "./db-leaves.ts";
import { type LeafRow, readCheckpoints } from "./db-queries.ts";
import { type Chunk, onSnapshot, readChunks } from "./db-snapshot.ts";
import { type LogState, TreeChecks } from "./db-tree.ts";
import { Findings } from "./findings.ts";
import type { ProgressFn } from "./progress.ts";
import type { AuditReport } from "./report.ts";

export const CHUNK = 40 * 256;

/** Transactions reading chunks at once on a PostgreSQL primary (the CLI's pool has as many). */
export const READERS = 2;

export interface DbAuditOptions {
  /** The log's verifier key(s). */
  verifiers: readonly Verifier[];
  /** Leaves per query (a multiple of 256). */
  chunk?: number;
  /** Transactions reading chunks at once on a PostgreSQL primary (default READERS). */
  readers?: number;
  onProgress?: ProgressFn;
}

export function auditDatabase(sql: Sql, opts: DbAuditOptions): Promise<AuditReport> {
  return onSnapshot(sql, opts.readers ?? READERS, (readers) => audit(readers, opts));
}

async function audit(readers: Sql[], opts: DbAuditOptions): Promise<AuditReport> {
  const sql = readers[0]!;
  const findings = new Findings();
  const checkpoints = new CheckpointChecks(findings, opts.verifiers);
  const chunk = opts.chunk ?? CHUNK;
  if (chunk <= 0 || chunk % 256 !== 0) throw new Error("chunk must be a positive multiple of 256");
  const started = performance.now();
  // 0. The committed tree, the log's origin (erasure events are the log's own), the erasures.
  const state = (
    await sql.query<LogState>("SELECT size, root, right_edge FROM log_state WHERE id = 1")
  )[0];
  if (!state)
    throw new Error(
      "no log_state row: this is not an initialised tmuxtrail database (check --database-schema)",
    );
  const size = state.size;
  const leaves = new LeafChecks(findings, await readOrigin(sql));
  await leaves.collectErasures(sql, size);
  const tree = new TreeChecks(sql, findings);
  // 1-2. The main pass; the next chunks are read while this one is checked.
  for (const cp of await readCheckpoints(sql, -1, 0)) checkpoints.check(cp, tree);
  for await (const c of readChunks(readers, size, chunk)) {
    checkChunk(c, leaves, tree, checkpoints);
    await tree.compareFullTiles(c.tiles0);
    opts.onProgress?.(c.to, size);
  }
  // 3. What only the end can tell.
  await tree.finishTiles();
  await checkpoints.finish(sql, size);
  await tree.finishState(state);
  leaves.finish();
  return {
    ok: findings.ok,
    source: "database",
    size,
    leaves: leaves.leaves,
    tiles: tree.tiles,
    checkpoints: checkpoints.count,
    streams: leaves.streamCount,
    payloads: leaves.payloads,
    erased: leaves.erased,
    findings: findings.list,
    omitted: findings.omitted,
    elapsedMs: Math.round(performance.now() - started),
  };
}

/**
 * Chunk `c` in index order: each leaf (or the gap where its row is missing) is checked and
 * appended to the tree, then the checkpoints at the size that reached.
 */
function checkChunk(c: Chunk, leaves: LeafChecks, tree: TreeChecks, cps: CheckpointChecks): void {
  let cp = 0;
  const next = (i: number, r: LeafRow | undefined) => {
    if (r) {
      leaves.check(r);
      tree.append(r.leaf_hash);
    } else {
      leaves.missing(i);
      tree.appendMissing(i, c.tiles0);
    }
    while (cp < c.checkpoints.length && c.checkpoints[cp]!.size === tree.size) {
      cps.check(c.checkpoints[cp++]!, tree);
    }
  };
  let i = c.from;
  for (const r of c.rows) {
    for (; i < r.idx; i++) next(i, undefined);
    next(i++, r);
  }
  for (; i < c.to; i++) next(i, undefined);
}
