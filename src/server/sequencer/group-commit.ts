// Step 3 for every staged batch: one integration at a time in this process; the plans staged
// while it runs wait and go into the next one together (up to maxBatch leaves), so under load one
// row-locked transaction carries many requests. After COMMIT, each batch gets the answers for its
// submissions (step 4 delivers them).
//
// It remembers the tree as it last committed it, so the next integration can pipeline from it
// (integrate.ts, 3a). After another process's write it reads the tree under the lock instead for a
// while: with two writers, pipelining from a remembered edge would mostly roll back.

import type { Hasher } from "../../core/hash.ts";
import type { Sql } from "../../db/sql.ts";
import type { FaultHook } from "../fault-hook.ts";
import { type Answer, answers } from "./answer.ts";
import type { TreeEdge } from "./append.ts";
import { merge, type Pending, type Plan } from "./classify.ts";
import { type Integrated, integrate, StagedClaims } from "./integrate.ts";
import { discardStaged } from "./stage.ts";

/** Integrations that read the tree under the lock after one found another process's write. */
const LOCKED_READS_AFTER_STALE = 16;

/** An integration committed, with every submission's answer. */
export interface Committed extends Integrated {
  answers: Map<Pending, Answer>;
}

interface Staged {
  plan: Plan;
  resolve: (r: Committed) => void;
  reject: (e: unknown) => void;
}

export class GroupCommit {
  private staged: Staged[] = [];
  private running = false;
  /** The tree as this process last committed it (undefined: read it under the lock). */
  private tree: TreeEdge | undefined;
  private lockedReads = 0;

  constructor(
    private readonly sql: Sql,
    private readonly opts: { maxBatch: number; hasher: Hasher; fault?: FaultHook },
  ) {}

  /** Integrates a staged plan with the others staged meanwhile; resolves after COMMIT. */
  commit(plan: Plan): Promise<Committed> {
    return new Promise((resolve, reject) => {
      this.staged.push({ plan, resolve, reject });
      if (!this.running) void this.run();
    });
  }

  private async run(): Promise<void> {
    this.running = true;
    while (this.staged.length > 0) {
      const group = this.nextGroup();
      const staged = new StagedClaims(group.flatMap((g) => g.plan.fresh));
      try {
        const known = this.lockedReads > 0 ? undefined : this.tree;
        if (this.lockedReads > 0) this.lockedReads--;
        const r = await integrate(
          this.sql,
          merge(group.map((g) => g.plan)),
          staged,
          this.opts.hasher,
          known,
          this.opts.fault,
        );
        this.tree = r.append.to;
        if (r.stale) this.lockedReads = LOCKED_READS_AFTER_STALE;
        await this.opts.fault?.("integrated");
        const committed = { ...r, answers: answers(r.plan, r.append.from.size) };
        for (const g of group) g.resolve(committed);
      } catch (e) {
        this.tree = undefined;
        // Their content goes now, not at the next erasure's sweep (none of it is answered for).
        await discardStaged(this.sql, staged.batches);
        for (const g of group) g.reject(e);
      }
    }
    this.running = false;
  }

  /** The staged plans in order, up to maxBatch fresh leaves (at least one plan). */
  private nextGroup(): Staged[] {
    const group: Staged[] = [];
    let n = 0;
    while (
      this.staged.length > 0 &&
      (n === 0 || n + this.staged[0]!.plan.fresh.length <= this.opts.maxBatch)
    ) {
      const next = this.staged.shift()!;
      n += next.plan.fresh.length;
      group.push(next);
    }
    return group;
  }
}
