// Helpers for the fault drills (test/faults): concurrent submitters that record every
// acknowledgement, a checkpoint watcher, and the two checks every drill ends with: every
// acknowledged index still holds its leaf (read back both from /v1/entries and from the entry
// bundles of the tiles API), and every checkpoint seen is consistent with every later one (proofs
// rebuilt from the hash tiles, never taken on trust).

import { createHash } from "node:crypto";
import { openLogSource } from "../../src/client/log-source.ts";
import {
  consistencyFromTiles as consistencyOfTree,
  rootFromTiles as rootOfTree,
  TileTree,
} from "../../src/client/verified-reader.ts";
import { type Checkpoint, openCheckpoint } from "../../src/core/checkpoint.ts";
import { base64Decode, base64Encode, bytesEqual } from "../../src/core/encoding.ts";
import { type Hash, type Hasher, rfc6962 } from "../../src/core/hash.ts";
import { parseVerifierKey, type Verifier } from "../../src/core/keys.ts";
import { verifyConsistency } from "../../src/core/proof-verify.ts";
import { TILE_WIDTH } from "../../src/core/tiles.ts";
import { makeBatch } from "./events.ts";
import { ADMIN } from "./log.ts";
import type { Served } from "./serve.ts";

const auth = { Authorization: `Bearer ${ADMIN}` };

/** MTH of the first `size` leaves of the log at `url`, from its hash tiles at that size. */
export function rootFromTiles(url: string, size: number, hasher: Hasher): Promise<Hash> {
  return rootOfTree(new TileTree(openLogSource(url), hasher), size);
}

/** PROOF(from, to) rebuilt from the hash tiles of the log at `url` at size `to`. */
export function consistencyFromTiles(
  url: string,
  from: number,
  to: number,
  hasher: Hasher,
): Promise<Hash[]> {
  return consistencyOfTree(new TileTree(openLogSource(url), hasher), from, to);
}

export const verifierKeyOf = (s: Served): string =>
  s.proc.stdout().match(/verifier key\s+(\S+)/)![1]!;

export interface Ack {
  index: number;
  leafHash: string;
}

/** Every acknowledgement and every HTTP status seen by the submitters. */
export class Ledger {
  readonly acked = new Map<number, string>();
  readonly statuses = new Map<number, number>();
  readonly bodies: string[] = [];
  /** Acknowledgements that named an index already acknowledged with another leaf hash. */
  readonly clashes: string[] = [];

  record(acks: Ack[]): void {
    for (const a of acks) {
      const had = this.acked.get(a.index);
      if (had !== undefined && had !== a.leafHash)
        this.clashes.push(`index ${a.index}: ${had} then ${a.leafHash}`);
      this.acked.set(a.index, a.leafHash);
    }
  }

  status(s: number, body: string): void {
    this.statuses.set(s, (this.statuses.get(s) ?? 0) + 1);
    if (s >= 500 && this.bodies.length < 20) this.bodies.push(`${s} ${body.slice(0, 300)}`);
  }
}

export interface Submitter {
  /** The pane name of its stream and the next seq it will send. */
  pane: string;
  next: number;
  /** A batch sent but not acknowledged (the log died or answered 503): sent again first. */
  inFlight?: Record<string, unknown>[];
}

/**
 * Sends `s`'s batch in flight once; on 200 records the acknowledgements and moves `s` on. Returns
 * the status, or the network error.
 */
async function sendInFlight(url: string, s: Submitter, ledger: Ledger): Promise<number | Error> {
  let res: Response;
  try {
    res = await fetch(`${url}/v1/events`, {
      method: "POST",
      headers: { "Content-Type": "application/json", ...auth },
      body: JSON.stringify(s.inFlight),
      signal: AbortSignal.timeout(20_000),
    });
  } catch (e) {
    return e as Error;
  }
  const text = await res.text().catch(() => "");
  ledger.status(res.status, text);
  if (res.status === 200) {
    ledger.record(JSON.parse(text) as Ack[]);
    s.next += s.inFlight!.length;
    s.inFlight = undefined;
  }
  return res.status;
}

/**
 * Runs `submitters` against `url` until `stop()` returns true. A batch that was not acknowledged
 * is re-sent identically (same salts) before moving on, so the retry must come back either as new
 * leaves or as duplicates, never as a conflict.
 */
export async function submitLoop(
  url: string,
  submitters: Submitter[],
  ledger: Ledger,
  stop: () => boolean,
  opts: { batch?: number; host?: string; onError?: (e: unknown) => "retry" | "stop" } = {},
): Promise<void> {
  const n = opts.batch ?? 20;
  await Promise.all(
    submitters.map(async (s) => {
      while (!stop()) {
        s.inFlight ??= makeBatch(n, s.next, { pane: s.pane, host: opts.host });
        const r = await sendInFlight(url, s, ledger);
        if (r instanceof Error && (opts.onError?.(r) ?? "stop") === "stop") return;
        if (r !== 200) await new Promise((res) => setTimeout(res, 50));
      }
    }),
  );
}

/**
 * Sends every batch still in flight again, identically, until it is acknowledged or `timeoutMs`
 * passes. Returns the panes whose batch is still unacknowledged (none, when the log is healthy).
 */
export async function resendInFlight(
  url: string,
  submitters: Submitter[],
  ledger: Ledger,
  timeoutMs = 10_000,
): Promise<string[]> {
  const end = Date.now() + timeoutMs;
  await Promise.all(
    submitters.map(async (s) => {
      while (s.inFlight && Date.now() < end) {
        if ((await sendInFlight(url, s, ledger)) !== 200)
          await new Promise((r) => setTimeout(r, 50));
      }
    }),
  );
  return submitters.filter((s) => s.inFlight).map((s) => s.pane);
}

/** Fetches /checkpoint every `everyMs` until `stop()`, verifying and keeping every note. */
export async function watchCheckpoints(
  url: string,
  verifier: Verifier,
  seen: Checkpoint[],
  stop: () => boolean,
  everyMs = 40,
): Promise<void> {
  while (!stop()) {
    let note: string | undefined;
    try {
      const r = await fetch(`${url}/checkpoint`, { signal: AbortSignal.timeout(5_000) });
      if (r.ok) note = await r.text();
    } catch {
      if (stop()) return;
    }
    if (note !== undefined) seen.push(openCheckpoint(note, [verifier]).checkpoint);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

export async function latestCheckpoint(url: string, vkey: string): Promise<Checkpoint> {
  const note = await (await fetch(`${url}/checkpoint`)).text();
  return openCheckpoint(note, [parseVerifierKey(vkey)]).checkpoint;
}

/** Waits until the served checkpoint covers `size` leaves; returns it. */
export async function checkpointCovering(
  url: string,
  vkey: string,
  size: number,
  timeoutMs = 20_000,
): Promise<Checkpoint> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const cp = await latestCheckpoint(url, vkey).catch(() => undefined);
    if (cp && cp.size >= size) return cp;
    if (Date.now() > end) throw new Error(`no checkpoint covering ${size} within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/**
 * Mismatches between the acknowledgements and what the log holds, read twice: through
 * GET /v1/entries (pages) and through the entry bundles of the tiles API (leaf hashes recomputed
 * from the leaf bytes). Returns human-readable differences; empty when all is well.
 */
export async function ackedMismatches(
  url: string,
  acked: Map<number, string>,
  treeSize: number,
): Promise<string[]> {
  const out: string[] = [];
  const max = Math.max(-1, ...acked.keys());
  if (max >= treeSize) out.push(`acknowledged index ${max} is beyond the tree size ${treeSize}`);
  const viaEntries = new Map<number, string>();
  for (let from = 0; from <= max; from += 10_000) {
    const r = await fetch(`${url}/v1/entries?from=${from}&limit=10000`, { headers: auth });
    if (!r.ok) throw new Error(`/v1/entries: ${r.status} ${await r.text()}`);
    for (const e of (await r.json()) as { index: number; leafHash: string; leaf: string }[]) {
      const recomputed = base64Encode(rfc6962.leaf(base64Decode(e.leaf)));
      if (recomputed !== e.leafHash) out.push(`entry ${e.index}: leaf does not hash to leafHash`);
      viaEntries.set(e.index, e.leafHash);
    }
  }
  const viaBundles = new Map<number, string>();
  const source = openLogSource(url, { token: ADMIN, timeoutMs: 20_000 });
  for (let b = 0; b * TILE_WIDTH <= max; b++) {
    const leaves = await source.entryBundle(b, Math.min(TILE_WIDTH, treeSize - b * TILE_WIDTH));
    for (const [i, leaf] of leaves.entries()) {
      viaBundles.set(b * TILE_WIDTH + i, base64Encode(rfc6962.leaf(leaf)));
    }
  }
  for (const [index, leafHash] of acked) {
    if (viaEntries.get(index) !== leafHash)
      out.push(`index ${index}: acknowledged ${leafHash}, /v1/entries ${viaEntries.get(index)}`);
    if (viaBundles.get(index) !== leafHash)
      out.push(`index ${index}: acknowledged ${leafHash}, entry bundle ${viaBundles.get(index)}`);
  }
  return out;
}

/**
 * Checks every checkpoint in `seen` against `latest` (served by `url`): the latest root matches
 * the hash tiles, and every earlier checkpoint is consistent with it and with the next larger
 * one, by proofs rebuilt from the tiles and, for the latest, also by GET /v1/proof/consistency.
 * Returns the problems found.
 */
export async function consistencyProblems(
  url: string,
  seen: Checkpoint[],
  latest: Checkpoint,
): Promise<string[]> {
  const out: string[] = [];
  const bySize = new Map<number, Uint8Array>();
  for (const cp of [...seen, latest]) {
    const had = bySize.get(cp.size);
    if (had && !bytesEqual(had, cp.root)) out.push(`two roots for size ${cp.size}`);
    bySize.set(cp.size, cp.root);
  }
  const tilesRoot = await rootFromTiles(url, latest.size, rfc6962);
  if (!bytesEqual(tilesRoot, latest.root)) out.push(`tiles disagree with root of ${latest.size}`);
  const sizes = [...bySize.keys()].filter((s) => s > 0).sort((a, b) => a - b);
  for (const [i, size] of sizes.entries()) {
    if (size > latest.size) {
      out.push(`checkpoint ${size} seen earlier is larger than the latest ${latest.size}`);
      continue;
    }
    const next = sizes[i + 1];
    const pairs: [number, number][] = [[size, latest.size]];
    if (next !== undefined && next < latest.size) pairs.push([size, next]);
    for (const [a, b] of pairs) {
      if (a === b) continue;
      try {
        const proof = await consistencyFromTiles(url, a, b, rfc6962);
        verifyConsistency(a, b, proof, bySize.get(a)!, bySize.get(b)!);
      } catch (e) {
        out.push(`tiles: ${a} → ${b} not consistent: ${(e as Error).message}`);
      }
    }
    if (size < latest.size) {
      try {
        const r = await fetch(`${url}/v1/proof/consistency?from=${size}&to=${latest.size}`, {
          headers: auth,
        });
        const p = (await r.json()) as { proof: string[] };
        verifyConsistency(
          size,
          latest.size,
          p.proof.map((h) => base64Decode(h)),
          bySize.get(size)!,
          latest.root,
        );
      } catch (e) {
        out.push(`/v1/proof/consistency ${size} → ${latest.size}: ${(e as Error).message}`);
      }
    }
  }
  return out;
}

/** Sizes that went down between consecutive observations (a rollback). */
export function rollbacks(seen: Checkpoint[]): string[] {
  const out: string[] = [];
  for (let i = 1; i < seen.length; i++) {
    if (seen[i]!.size < seen[i - 1]!.size)
      out.push(`checkpoint went from ${seen[i - 1]!.size} back to ${seen[i]!.size}`);
  }
  return out;
}

export const sha256hex = (s: string): string => createHash("sha256").update(s).digest("hex");
