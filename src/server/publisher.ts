// The checkpoint publisher: signs the committed tree (C2SP tlog-checkpoint in a signed note) at
// most every interval and only when it grew (docs/design.md §5.3, §6.1).
//
// One publication, in order:
//   1. read the committed tree: size and root from log_state (the sequencer's commits only);
//   2. read the newest stored checkpoint; skip if the tree did not grow past it;
//   3. recompute from the stored hash tiles the root at the old checkpoint's size and at the new
//      size; both must equal what is stored, so the new tree is consistent with the old by
//      construction (tiles only ever extend) and storage has not been altered underneath;
//   4. sign, then INSERT the checkpoint (ON CONFLICT (size) DO NOTHING: Ed25519 is deterministic,
//      so two processes signing the same size produce the same note);
//   5. only then serve it.
// The fault hook (fault-hook.ts) runs after step 3 ("verified") and between signing and storing
// ("signed").
// A log whose storage and newest checkpoint disagree refuses to start (verifyStorage).

import { formatCheckpoint, openCheckpoint } from "../core/checkpoint.ts";
import { base64Encode, bytesEqual } from "../core/encoding.ts";
import type { Hash, Hasher } from "../core/hash.ts";
import { ALG_ED25519, makeVerifier, type Signer, type Verifier } from "../core/keys.ts";
import { signNote } from "../core/note.ts";
import {
  insertCheckpoint,
  latestCheckpoint,
  latestWithQuorum,
  type StoredCheckpoint,
} from "../db/checkpoints.ts";
import type { Sql } from "../db/sql.ts";
import type { FaultHook } from "./fault-hook.ts";
import { rootAt } from "./tree-reader.ts";

export class StorageMismatchError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "StorageMismatchError";
  }
}

/**
 * Throws unless `cp` is signed by `verifier`. One log, one key: every verifier, witness and bundle
 * is pinned to it, so a second key (a lost or swapped key file, two processes started with
 * different keys) must not sign the same log's history.
 */
export function checkSignedBy(cp: StoredCheckpoint, verifier: Verifier): void {
  try {
    openCheckpoint(cp.note, [verifier]);
  } catch {
    throw new StorageMismatchError(
      `checkpoint ${cp.size} is not signed by the configured key ${verifier.key} (it was signed by another key): start the log with the key it was created with (--key), or another database. A log's key cannot be rotated in place (docs/operations.md, Key rotation)`,
    );
  }
}

async function committedTree(sql: Sql): Promise<{ size: number; root: Hash }> {
  const rows = await sql.query<{ size: number; root: Uint8Array }>(
    "SELECT size, root FROM log_state WHERE id = 1",
  );
  const row = rows[0];
  if (!row)
    throw new StorageMismatchError("log_state row is missing: the database was not initialised");
  return row;
}

/**
 * Checks that the stored tiles reproduce the committed root and the newest checkpoint's root.
 * Throws StorageMismatchError naming what disagrees.
 */
export async function verifyStorage(sql: Sql, hasher: Hasher): Promise<void> {
  const tree = await committedTree(sql);
  const last = await latestCheckpoint(sql);
  const fromTiles = await rootAt(sql, tree.size, hasher);
  if (!bytesEqual(fromTiles, tree.root)) {
    throw new StorageMismatchError(
      `the hash tiles give root ${base64Encode(fromTiles)} at size ${tree.size}, but log_state holds ${base64Encode(tree.root)}`,
    );
  }
  if (!last) return;
  if (last.size > tree.size) {
    throw new StorageMismatchError(
      `the newest checkpoint has size ${last.size} but storage holds only ${tree.size} leaves: leaves were lost or the database was restored from an older backup`,
    );
  }
  const atLast = await rootAt(sql, last.size, hasher);
  if (!bytesEqual(atLast, last.root)) {
    throw new StorageMismatchError(
      `storage is not consistent with the newest checkpoint: at size ${last.size} the tiles give root ${base64Encode(atLast)}, the checkpoint says ${base64Encode(last.root)}`,
    );
  }
}

/** The log is shutting down: a waiter for a checkpoint gets no answer from this process. */
export class PublisherStoppedError extends Error {
  constructor() {
    super("the log is shutting down");
    this.name = "PublisherStoppedError";
  }
}

/** No checkpoint (with the quorum of cosignatures) covered a size in time. */
export class CheckpointWaitTimeout extends Error {
  constructor(
    readonly size: number,
    readonly timeoutMs: number,
  ) {
    super(`no checkpoint covered size ${size} within ${timeoutMs} ms`);
    this.name = "CheckpointWaitTimeout";
  }
}

/**
 * Time as the publisher sees it: the tick cadence and the `waitFor` deadlines. The default is real
 * time (`realClock`); tests pass a fake one to drive the cadence without sleeping.
 */
export interface PublisherClock {
  /** Milliseconds since the epoch, as Date.now. */
  now(): number;
  /** Runs `fn` once, `ms` from now (as setTimeout); the returned function cancels it. */
  schedule(fn: () => void, ms: number): () => void;
}

/** Date.now and setTimeout. */
export const realClock: PublisherClock = {
  now: () => Date.now(),
  schedule(fn, ms) {
    const timer = setTimeout(fn, ms);
    return () => clearTimeout(timer);
  },
};

export interface PublisherOptions {
  origin: string;
  signer: Signer;
  hasher: Hasher;
  intervalMs: number;
  /** Cosignatures a checkpoint needs before `waitFor` counts it (serve --witness-quorum). */
  witnessQuorum?: number;
  /** Runs after every tick (the witness pool catches up there). */
  afterTick?: () => Promise<void>;
  /**
   * A publication found every committed leaf covered by a stored checkpoint: one it just signed,
   * or one already there (signed by this process or by another `serve` process of the log).
   */
  onCovered?: (size: number) => void;
  onError?: (e: unknown) => void;
  /** Fault injection at the durable step boundaries (tests only). */
  fault?: FaultHook;
  /** The cadence's and the waiters' time (tests only); real time by default. */
  clock?: PublisherClock;
}

export class Publisher {
  /** Cancels the pending tick. */
  private cancelTick: (() => void) | undefined;
  /** The publication in progress (settles, never rejects: callers get the outcome from `publish`). */
  private running: Promise<void> | undefined;
  private stopped = false;
  private waiters: { size: number; resolve: () => void; reject: (e: Error) => void }[] = [];
  private readonly verifier: Verifier;
  private readonly clock: PublisherClock;

  constructor(
    private readonly sql: Sql,
    private readonly opts: PublisherOptions,
  ) {
    this.verifier = makeVerifier(opts.signer.name, ALG_ED25519, opts.signer.publicKey);
    this.clock = opts.clock ?? realClock;
  }

  /**
   * Publishes if the tree grew (or if nothing was ever published: the empty tree). One
   * publication at a time in this process, in order: a call waits for the one in progress and then
   * reads the tree afresh, so what it signs covers everything committed before the call (a shared
   * publication could have read the tree before the caller's last batch committed).
   */
  publish(): Promise<StoredCheckpoint | undefined> {
    const next = (this.running ?? Promise.resolve()).then(() => this.publishOnce());
    const tracked: Promise<void> = next.then(
      () => {
        if (this.running === tracked) this.running = undefined;
      },
      () => {
        if (this.running === tracked) this.running = undefined;
      },
    );
    this.running = tracked;
    return next;
  }

  /**
   * Resolves once a stored checkpoint covers `size` leaves (published by this process or another,
   * with the quorum of cosignatures), rejects with CheckpointWaitTimeout after `timeoutMs`.
   */
  waitFor(size: number, timeoutMs = 30_000): Promise<void> {
    return new Promise((resolve, reject) => {
      const w = {
        size,
        resolve: () => {
          cancel();
          resolve();
        },
        reject,
      };
      const cancel = this.clock.schedule(() => {
        this.waiters = this.waiters.filter((x) => x !== w);
        reject(new CheckpointWaitTimeout(size, timeoutMs));
      }, timeoutMs);
      this.waiters.push(w);
    });
  }

  /** Resolves the waiters a stored checkpoint (with its quorum of cosignatures) now covers. */
  async notifyWaiters(): Promise<void> {
    if (this.waiters.length === 0) return;
    const covered = (await latestWithQuorum(this.sql, this.opts.witnessQuorum ?? 0))?.size;
    if (covered === undefined) return;
    const ready = this.waiters.filter((w) => w.size <= covered);
    this.waiters = this.waiters.filter((w) => w.size > covered);
    for (const w of ready) w.resolve();
  }

  start(): void {
    // A fixed cadence: the next tick is due `intervalMs` after this one started, not after it
    // ended (under load a tick takes a few hundred ms, which added straight to checkpoint lag).
    const tick = async () => {
      const started = this.clock.now();
      try {
        await this.publish();
        await this.opts.afterTick?.();
        await this.notifyWaiters();
      } catch (e) {
        this.opts.onError?.(e);
      }
      if (!this.stopped) {
        const wait = Math.max(0, this.opts.intervalMs - (this.clock.now() - started));
        this.cancelTick = this.clock.schedule(tick, wait);
      }
    };
    this.cancelTick = this.clock.schedule(tick, 0);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.cancelTick?.();
    await this.running?.catch(() => {});
    for (const w of this.waiters) w.reject(new PublisherStoppedError());
    this.waiters = [];
  }

  private async publishOnce(): Promise<StoredCheckpoint | undefined> {
    const { sql, opts } = this;
    // 1-2. The committed tree and the newest checkpoint.
    const [tree, last] = await Promise.all([committedTree(sql), latestCheckpoint(sql)]);
    if (last && tree.size <= last.size) {
      opts.onCovered?.(tree.size);
      return undefined;
    }
    // 3. Both roots recomputed from the tiles.
    const [now, then] = await Promise.all([
      rootAt(sql, tree.size, opts.hasher),
      last ? rootAt(sql, last.size, opts.hasher) : undefined,
    ]);
    if (!bytesEqual(now, tree.root)) {
      throw new StorageMismatchError(
        `refusing to sign size ${tree.size}: tiles and log_state disagree on the root`,
      );
    }
    if (last && then && !bytesEqual(then, last.root)) {
      throw new StorageMismatchError(
        `refusing to sign size ${tree.size}: storage is no longer consistent with checkpoint ${last.size}`,
      );
    }
    // Checked at start-up too (log.ts); here for processes that raced on an empty database.
    if (last) checkSignedBy(last, this.verifier);
    await opts.fault?.("verified");
    // 4. Sign and store.
    const body = formatCheckpoint({ origin: opts.origin, size: tree.size, root: tree.root });
    const note = signNote(body, [opts.signer]);
    await opts.fault?.("signed");
    await insertCheckpoint(sql, { size: tree.size, root: tree.root, note });
    // 5. Serve.
    opts.onCovered?.(tree.size);
    return { size: tree.size, root: tree.root, note };
  }
}
