// `tmuxtrail audit --log URL`: the audit a reader with a read key can run against a served log,
// over its C2SP tlog-tiles API only. It verifies the served checkpoint with the log key, fetches
// every entry bundle from 0 to the checkpoint's size (tile/entries/N, the last one partial),
// recomputes every leaf hash, rebuilds every hash tile and compares it with the served one, and
// checks the rebuilt root against the checkpoint; streams are checked from the parsed leaves.
// Payloads are not in entry bundles, so they cannot be checked this way: audit the database.
// With `saved` (audit --log --state FILE) the rebuilt tree must also reproduce the root of the
// last checkpoint this auditor verified, at its size: a log rebuilt under the same key with
// another history is found even when everything it serves now is self-consistent.
//
// Bundles and tiles are fetched a few at a time ahead of the one being checked (a bounded window),
// and processed in order, so memory stays bounded by the window. They are read as served
// (openLogFiles, src/client/log-source.ts: capped, timed, a gone partial read at full width), so
// that a wrong one is a finding here rather than an error.

import { type LogFiles, LogSourceError, openLogFiles, type Served } from "../client/log-source.ts";
import { decodeBundle } from "../core/bundle.ts";
import type { Checkpoint } from "../core/checkpoint.ts";
import { base64Encode } from "../core/encoding.ts";
import type { Verifier } from "../core/keys.ts";
import { isLogOwnEvent, LOG_EVENT_TYPES, readsAsEvent } from "../core/own-events.ts";
import { TILE_WIDTH } from "../core/tiles.ts";
import { nodeHasher } from "../lib/node-hasher.ts";
import { fastVerifier, openLogCheckpoint, rootFinding } from "./checkpoints.ts";
import { Findings } from "./findings.ts";
import { notTheLogsOwn, readLeafEvent, readsAsEventFinding } from "./leaf-event.ts";
import type { ProgressFn } from "./progress.ts";
import type { AuditReport } from "./report.ts";
import { StreamTracker } from "./streams.ts";
import { compareTile } from "./tile-compare.ts";
import { type RebuiltTile, TreeRebuilder } from "./tree-tiles.ts";

const WINDOW = 16;

export interface HttpAuditOptions {
  verifiers: readonly Verifier[];
  /** Bearer token with read scope (entry bundles need it). */
  token?: string;
  onProgress?: ProgressFn;
  /**
   * The last checkpoint this auditor verified (audit --state): the served tree must extend it. A
   * smaller served size is a rollback; first `saved.size` leaves that hash to another root, a fork.
   */
  saved?: Checkpoint;
  /** Called with the served note once it verifies, before anything else is read. */
  onCheckpoint?: (note: string, checkpoint: Checkpoint) => void;
}

/** Reads: 30 s for each whole answer; what the log could not answer is a LogSourceError (exit 2). */
const TIMEOUT_MS = 30_000;

/** A served hash tile of `t`'s width (or its full tile), or undefined when neither is served. */
async function servedTile(files: LogFiles, t: RebuiltTile): Promise<Uint8Array | undefined> {
  try {
    return (await files.hashTile(t.level, t.index, t.hashes.length / 32)).data;
  } catch (e) {
    if (e instanceof LogSourceError && e.kind === "not-found") return undefined;
    throw e;
  }
}

export async function auditServedLog(url: string, opts: HttpAuditOptions): Promise<AuditReport> {
  const started = performance.now();
  const findings = new Findings();
  const streams = new StreamTracker(findings);
  const tree = new TreeRebuilder(nodeHasher);
  const files = openLogFiles(url, { token: opts.token, timeoutMs: TIMEOUT_MS });
  const note = new TextDecoder().decode(await files.checkpoint());
  const opened = openLogCheckpoint(note, opts.verifiers.map(fastVerifier), "the served checkpoint");
  const report = (tiles: number): AuditReport => ({
    ok: findings.ok,
    source: "http",
    size: opened.checkpoint?.size ?? 0,
    leaves: tree.size,
    tiles,
    checkpoints: opened.finding ? 0 : 1,
    streams: streams.count,
    payloads: null,
    erased: 0,
    findings: findings.list,
    omitted: findings.omitted,
    elapsedMs: Math.round(performance.now() - started),
  });
  if (!opened.checkpoint) {
    findings.add(opened.finding!);
    return report(0);
  }
  const { size, root } = opened.checkpoint;
  opts.onCheckpoint?.(note, opened.checkpoint);
  const saved = opts.saved;
  if (saved && saved.size > size)
    findings.add({
      kind: "checkpoint",
      size: saved.size,
      message: `the served checkpoint has size ${size}, smaller than the size ${saved.size} this auditor verified before (--state): a rollback`,
    });
  const bundles = Math.ceil(size / TILE_WIDTH);
  const widthOf = (n: number) => Math.min(TILE_WIDTH, size - n * TILE_WIDTH);
  const pending = new Map<number, Promise<Served>>();
  const request = (n: number) => {
    if (n >= bundles || pending.has(n)) return;
    const p = files.entryBundle(n, widthOf(n));
    p.catch(() => {});
    pending.set(n, p);
  };
  // Tiles wait in order for their served copies; their fetches overlap the bundles'.
  const tiles: { tile: RebuiltTile; served: Promise<Uint8Array | undefined> }[] = [];
  let compared = 0;
  const compareDue = async (keep: number) => {
    while (tiles.length > keep) {
      const { tile, served } = tiles.shift()!;
      compared++;
      const f = compareTile(tile, await served, size, {
        exactLength: tile.hashes.length === TILE_WIDTH * 32,
      });
      if (f) findings.add(f);
    }
  };
  const queueTiles = (list: RebuiltTile[]) => {
    for (const tile of list) {
      const served = servedTile(files, tile);
      served.catch(() => {});
      tiles.push({ tile, served });
    }
  };
  for (let n = 0; n < bundles; n++) {
    for (let k = n; k < n + WINDOW; k++) request(k);
    const served = (await pending.get(n))!;
    pending.delete(n);
    let leaves: Uint8Array[];
    try {
      // The full bundle, when the partial one is gone, holds the partial's leaves first.
      leaves = decodeBundle(served.data, served.width).slice(0, widthOf(n));
    } catch (e) {
      findings.add({
        kind: "leaf",
        index: n * TILE_WIDTH,
        message: `entry bundle ${n} (leaves from ${n * TILE_WIDTH}) is malformed: ${(e as Error).message}`,
      });
      return report(compared); // the tree cannot be rebuilt past a bundle that does not decode
    }
    for (const [o, leaf] of leaves.entries()) {
      tree.append(nodeHasher.leaf(leaf));
      if (saved && tree.size === saved.size && saved.size > 0) {
        const f = rootFinding(
          saved.size,
          saved.root,
          tree.root(),
          `the checkpoint of size ${saved.size} this auditor verified before (--state): a fork`,
        );
        if (f) findings.add(f);
      }
      const i = n * TILE_WIDTH + o;
      const ev = readLeafEvent(leaf);
      if (ev) {
        streams.see(ev, i);
        if (LOG_EVENT_TYPES.includes(ev.type) && !isLogOwnEvent(ev, opened.checkpoint.origin))
          findings.add(notTheLogsOwn(i, ev));
      } else if (readsAsEvent(leaf)) findings.add(readsAsEventFinding(i));
    }
    queueTiles(tree.takeFullTiles());
    await compareDue(WINDOW);
    opts.onProgress?.(tree.size, size);
  }
  queueTiles(tree.partialTiles());
  await compareDue(0);
  const f = rootFinding(
    size,
    root,
    tree.root(),
    `the served checkpoint (size ${size}, root ${base64Encode(root)})`,
  );
  if (f) findings.add(f);
  streams.finish();
  return report(compared);
}
