// The sequencer: turns submissions into leaves of the tree, durably, in batches (docs/design.md §5.2).
//
// A submission (one HTTP request) is all-or-nothing; a batch is every submission waiting when the
// previous batch left (or maxBatch leaves of them). One batch's durable steps, in order, each in
// its own module under sequencer/:
//
//   1. classify   (no I/O)   classify.ts: within the batch the first claim of a leaf hash or a
//                            stream position wins; a submission that needs a position claimed by a
//                            different leaf is a conflict (409, nothing of it is written).
//   2. stage      (no lock)  stage.ts: entry bytes and payloads, content-addressed, committed. Not
//                            yet in the tree.
//   3. integrate  (row lock) integrate.ts: the leaves rows, tiles, sessions and the new tree state in
//                            one transaction, pipelined from the tree as this process last committed
//                            it (append.ts computes, tree-sql.ts writes). Serialised in process by
//                            the group commit (group-commit.ts): plans staged while an integration
//                            runs go together into the next one, so batches grow with load.
//   4. answer                answer.ts: callers are answered only after step 3 committed.
//
// Step 2 writes the bulky bytes in parallel with the previous batch's step 3, which writes only
// small rows. A fault hook (fault-hook.ts) runs at each boundary: "staged", "integrating" (before
// COMMIT), "integrated" (after COMMIT, before answering).

import type { Hasher } from "../core/hash.ts";
import type { Sql } from "../db/sql.ts";
import type { FaultHook } from "./fault-hook.ts";
import { answer } from "./sequencer/answer.ts";
import { classify, type Pending } from "./sequencer/classify.ts";
import { GroupCommit } from "./sequencer/group-commit.ts";
import type { LeafInput, LeafResult } from "./sequencer/input.ts";
import { discardStaged, stage } from "./sequencer/stage.ts";

export {
  ConflictError,
  type LeafInput,
  type LeafResult,
  type StreamInfo,
} from "./sequencer/input.ts";

export class SequencerClosedError extends Error {
  constructor() {
    super("the log is shutting down");
    this.name = "SequencerClosedError";
  }
}

export interface SequencerOptions {
  /** Most leaves integrated in one transaction. */
  maxBatch: number;
  /** How long a batch waits for more submissions once one is pending (ms). */
  lingerMs: number;
  hasher: Hasher;
  /** Called after each integrated batch (metrics). */
  onBatch?: (info: {
    leaves: number;
    newLeaves: number;
    ms: number;
    size: number;
    /** Another process had integrated since this one last did (the pipelined attempt rolled back). */
    stale: boolean;
  }) => void;
  /** Fault injection at the durable step boundaries (tests only). */
  fault?: FaultHook;
}

export class Sequencer {
  private queue: Pending[] = [];
  private queued = 0;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private inFlight = new Set<Promise<void>>();
  private closed = false;
  private readonly group: GroupCommit;

  constructor(
    private readonly sql: Sql,
    private readonly opts: SequencerOptions,
  ) {
    this.group = new GroupCommit(sql, opts);
  }

  /** Sequences one submission; resolves after its batch committed, in input order. */
  submit(leaves: LeafInput[]): Promise<LeafResult[]> {
    if (this.closed) return Promise.reject(new SequencerClosedError());
    if (leaves.length === 0) return Promise.resolve([]);
    return new Promise((resolve, reject) => {
      this.queue.push({ leaves, resolve, reject });
      this.queued += leaves.length;
      if (this.queued >= this.opts.maxBatch) this.cut();
      else if (this.timer === undefined) {
        this.timer = setTimeout(() => this.cut(), this.opts.lingerMs);
      }
    });
  }

  /** Stops taking submissions and waits until everything accepted so far is answered. */
  async close(): Promise<void> {
    this.closed = true;
    this.cut();
    while (this.inFlight.size > 0) await Promise.allSettled([...this.inFlight]);
  }

  /** Cuts the queue into batches of up to maxBatch leaves (a bigger submission alone) and runs them. */
  private cut(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    while (this.queue.length > 0) {
      const batch: Pending[] = [];
      let n = 0;
      while (
        this.queue.length > 0 &&
        (n === 0 || n + this.queue[0]!.leaves.length <= this.opts.maxBatch)
      ) {
        const p = this.queue.shift()!;
        n += p.leaves.length;
        batch.push(p);
      }
      this.queued -= n;
      const run = this.sequence(batch).finally(() => this.inFlight.delete(run));
      this.inFlight.add(run);
    }
  }

  /** One batch through the durable steps; a failed step rejects every submission of the batch. */
  private async sequence(batch: Pending[]): Promise<void> {
    const started = performance.now();
    let staged: number | undefined;
    let committing = false;
    try {
      // 1. Classify.
      const plan = classify(batch);
      // 2. Stage.
      staged = await stage(this.sql, plan.fresh);
      await this.opts.fault?.("staged");
      // 3. Integrate, with the plans staged meanwhile.
      committing = true;
      const r = await this.group.commit(plan);
      // 4. Answer.
      answer(batch, r.answers);
      this.opts.onBatch?.({
        leaves: plan.total,
        newLeaves: r.append.leaves.length,
        ms: performance.now() - started,
        size: r.append.to.size,
        stale: r.stale,
      });
    } catch (e) {
      // Failed before step 3 took it (step 3 discards what it fails itself).
      if (staged !== undefined && !committing) await discardStaged(this.sql, [staged]);
      for (const p of batch) p.reject(e);
    }
  }
}
