// The sequencer: turns submissions into leaves of the tree, durably, in batches (DESIGN section 5).
//
// A submission (one HTTP request) is all-or-nothing; a batch is every submission waiting when the
// previous batch left. One batch's durable steps, in order:
//
//   1. classify   (no I/O)   within the batch: the first claim of a leaf hash or a stream position
//                            wins; a later different event for a claimed position is a conflict (409
//                            for that submission, nothing of it is written).
//   2. stage      (no lock)  INSERT entry bytes and payloads keyed by leaf hash, ON CONFLICT DO
//                            NOTHING, committed. Content-addressed, so a retry or a concurrent writer
//                            of the same leaf is harmless. Staged rows are not yet in the tree.
//   3. integrate  (row lock) BEGIN; SELECT the one log_state row FOR UPDATE; assign indexes; INSERT
//                            (index, leaf hash, stream columns) into leaves ON CONFLICT DO NOTHING;
//                            extend hash tiles; update sessions; store the new size, root and right
//                            edge; COMMIT. Pipelined: all of it is computed from the tree as this
//                            process last committed it and sent at once, then checked before COMMIT;
//                            if the locked row says another process integrated since, ROLLBACK and
//                            integrate again reading the right edge under the lock first. If the
//                            unique indexes kept any leaf out (already in the tree: a retry, a
//                            conflict, another process), ROLLBACK and integrate again with index
//                            probes that turn them into duplicates (their original index) and
//                            conflicts (batch-sql.ts).
//   4. answer     callers are answered only after step 3 committed.
//
// Only step 3 is serialised (in process by one integration loop, across processes by the row
// lock), and it writes only small rows: the bulky entry and payload bytes were written in step 2,
// in parallel with the previous integration. Plans staged while an integration runs go together
// into the next one (group commit), so batches grow with load.

import type { Sql } from "../db/client.ts";
import type { Hasher } from "../log/hash.ts";
import {
  classify,
  type LeafInput,
  type LeafResult,
  mergePlans,
  type Pending,
  type Plan,
} from "./batch-plan.ts";
import { type Integrated, integrate, stage, type TreeEdge } from "./batch-sql.ts";

export { ConflictError, type LeafInput, type LeafResult, type StreamInfo } from "./batch-plan.ts";

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
}

export class Sequencer {
  private queue: Pending[] = [];
  private queued = 0;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private inFlight = new Set<Promise<void>>();
  private staged: {
    plan: Plan;
    resolve: (r: Integrated) => void;
    reject: (e: unknown) => void;
  }[] = [];
  private integrating = false;
  private closed = false;
  /** The tree as this process last committed it: integrations pipeline from it (batch-sql.ts). */
  private tree: TreeEdge | undefined;
  /** Integrations left that read the state under the lock first, after another process's write. */
  private lockedReads = 0;

  constructor(
    private readonly sql: Sql,
    private readonly opts: SequencerOptions,
  ) {}

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
      const run = this.process(batch).finally(() => this.inFlight.delete(run));
      this.inFlight.add(run);
    }
  }

  private async process(batch: Pending[]): Promise<void> {
    const started = performance.now();
    try {
      const plan = classify(batch, []);
      await stage(this.sql, plan.fresh);
      const { size, newLeaves, stale } = await this.integrateSoon(plan);
      for (const s of plan.subs) {
        if (s.conflict) s.pending.reject(s.conflict);
        else s.pending.resolve(s.results as LeafResult[]);
      }
      this.opts.onBatch?.({
        leaves: plan.total,
        newLeaves,
        ms: performance.now() - started,
        size,
        stale,
      });
    } catch (e) {
      for (const p of batch) p.reject(e);
    }
  }

  /**
   * Group commit: one integration at a time; every plan staged while it runs waits and then goes
   * into the next integration together (up to maxBatch leaves), so under load one row-locked
   * transaction carries many requests.
   */
  private integrateSoon(plan: Plan): Promise<Integrated> {
    return new Promise((resolve, reject) => {
      this.staged.push({ plan, resolve, reject });
      if (!this.integrating) void this.integrateLoop();
    });
  }

  private async integrateLoop(): Promise<void> {
    this.integrating = true;
    while (this.staged.length > 0) {
      const group: typeof this.staged = [];
      let n = 0;
      while (
        this.staged.length > 0 &&
        (n === 0 || n + this.staged[0]!.plan.fresh.length <= this.opts.maxBatch)
      ) {
        const next = this.staged.shift()!;
        n += next.plan.fresh.length;
        group.push(next);
      }
      try {
        const known = this.lockedReads > 0 ? undefined : this.tree;
        if (this.lockedReads > 0) this.lockedReads--;
        const r = await integrate(
          this.sql,
          mergePlans(group.map((g) => g.plan)),
          this.opts.hasher,
          known,
        );
        this.tree = r.tree;
        // Another process writes too: pipelining from a remembered edge would mostly roll back.
        if (r.stale) this.lockedReads = 16;
        for (const g of group) g.resolve(r);
      } catch (e) {
        this.tree = undefined;
        for (const g of group) g.reject(e);
      }
    }
    this.integrating = false;
  }
}
