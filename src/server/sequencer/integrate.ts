// Step 3 of a batch: the plan's fresh leaves become leaves of the tree, in one transaction under
// the row lock on log_state (BEGIN; lock; INSERT the leaves rows; extend the hash tiles; upsert the
// sessions; compare-and-swap the size, root and right edge; COMMIT). Only this step is serialised:
// in process by the group commit (group-commit.ts), across processes by the lock.
//
// Up to three attempts, each a transaction that commits or rolls back whole:
//   3a. pipelined   from the tree as this process last committed it: every statement sent at once,
//                   then checked before COMMIT. If the locked row is not that tree, another process
//                   integrated since: roll back (stale). Two round trips hold the lock instead of
//                   five, which is what bounds one process's throughput under load.
//   3b. locked read the tree read under the lock first, then the same writes.
//   In both, the leaves rows go in with ON CONFLICT DO NOTHING: if the unique indexes (leaf hash,
//   stream position) let every one in, nothing was in the tree yet and the indexes assigned stand;
//   in steady state no probe runs at all. If they kept any out (a retry of acknowledged events, a
//   conflict, another process that integrated the same leaves): roll back and go to 3c.
//   3c. probed      the tree read and the leaves looked up in the indexes, both under the lock; the
//                   plan settled against what they found (duplicates keep their index, a filled
//                   position is a conflict); the rest appended. A unique violation now is an error.
// The fault hook runs at the end of each attempt, before COMMIT ("integrating").
//
// Storage v2: each attempt also marks the batches step 2 staged for these plans as integrated (in
// the same pipeline), and rewrites away the contents of staged slots it did not append (a leaf
// already in the tree, a duplicate of another plan's, a conflict), so that content lives only where
// a leaves row points: erasure then finds every copy (docs/design.md §4.9).

import type { Hasher } from "../../core/hash.ts";
import { rewriteContents } from "../../db/batch-store.ts";
import type { Sql } from "../../db/sql.ts";
import type { FaultHook } from "../fault-hook.ts";
import { type Append, appendTo, type TreeEdge } from "./append.ts";
import { type Claim, type Plan, settle } from "./classify.ts";
import { isTree, lockState, lookup, treeOf, writeAppend } from "./tree-sql.ts";

export interface Integrated {
  /** The plan as integrated: whom to answer, and with what (answer.ts). */
  plan: Plan;
  /** What was appended, from which tree to which. */
  append: Append;
  /** The pipelined attempt found another process's integration and was rolled back. */
  stale: boolean;
}

/** Why an attempt rolled back (thrown inside the transaction, so that it does roll back). */
class RolledBack extends Error {
  constructor(readonly why: "stale" | "in-tree") {
    super(`integration rolled back: ${why}`);
  }
}

const rolledBack = (e: unknown, why: RolledBack["why"]) => e instanceof RolledBack && e.why === why;

type Place = { batch: number; slot: number };
const placeKey = (p: Place) => `${p.batch}:${p.slot}`;

/**
 * What step 2 staged for the plans being integrated: the batches, and where each leaf hash's
 * bytes are. A leaf is found by its hash, not by the claim object: when a submission is rejected
 * under the lock, a later claim of the same leaf (never staged itself: classify kept the first)
 * is appended in its place, and takes the staged copy.
 */
export class StagedClaims {
  readonly batches: number[];
  /** Every staged slot that holds a payload, as staged (before `place` names any claim's). */
  private readonly withPayload: Place[] = [];
  private readonly byHash = new Map<string, Place>();

  constructor(claims: readonly Claim[]) {
    const batches = new Set<number>();
    for (const c of claims) {
      if (!c.at) continue;
      batches.add(c.at.batch);
      if (c.input.payload) this.withPayload.push(c.at);
      if (!this.byHash.has(c.hash)) this.byHash.set(c.hash, c.at);
    }
    this.batches = [...batches];
  }

  /** Names where each appended leaf's bytes are (its leaves row's batch and slot). */
  place(appended: readonly Claim[]): void {
    for (const c of appended) {
      const at = this.byHash.get(c.hash);
      if (!at) throw new Error(`leaf ${c.hash} was not staged`);
      c.at = at;
    }
  }

  /** Rewrites away the payloads of staged slots that no appended leaf points to. */
  async scrub(tx: Sql, appended: readonly Claim[]): Promise<void> {
    const kept = new Set(appended.map((c) => placeKey(c.at!)));
    const dead = new Map<number, number[]>();
    for (const p of this.withPayload) {
      if (kept.has(placeKey(p))) continue;
      dead.set(p.batch, [...(dead.get(p.batch) ?? []), p.slot]);
    }
    for (const [batch, slots] of dead) await rewriteContents(tx, batch, slots);
  }
}

/** Step 3: `known` is the tree as this process last committed it (none: read it under the lock). */
export async function integrate(
  sql: Sql,
  plan: Plan,
  staged: StagedClaims,
  hasher: Hasher,
  known: TreeEdge | undefined,
  fault?: FaultHook,
): Promise<Integrated> {
  let stale = false;
  // 3a. Pipelined.
  if (known) {
    try {
      return { plan, append: await pipelined(sql, plan, staged, known, hasher, fault), stale };
    } catch (e) {
      stale = rolledBack(e, "stale");
      if (!stale && !rolledBack(e, "in-tree")) throw e;
    }
  }
  // 3b. Locked read.
  try {
    return { plan, append: await lockedRead(sql, plan, staged, hasher, fault), stale };
  } catch (e) {
    if (!rolledBack(e, "in-tree")) throw e;
  }
  // 3c. Probed.
  return { ...(await probed(sql, plan, staged, hasher, fault)), stale };
}

/** 3a: computed from `known`, sent at once, checked before COMMIT. */
function pipelined(
  sql: Sql,
  plan: Plan,
  staged: StagedClaims,
  known: TreeEdge,
  hasher: Hasher,
  fault?: FaultHook,
): Promise<Append> {
  const append = appendTo(known, plan.fresh, hasher);
  staged.place(append.leaves);
  return sql.begin(async (tx) => {
    // Not awaited before the writes: they follow it in the same pipeline.
    const lock = lockState(tx);
    const written = writeAppend(tx, append, true, staged.batches);
    await Promise.allSettled([lock, written]);
    if (!isTree(await lock, known)) throw new RolledBack("stale");
    const w = await written;
    if (w.inserted !== append.leaves.length) throw new RolledBack("in-tree");
    if (!w.advanced) throw new Error(`log_state is not at size ${known.size} under the lock`);
    await staged.scrub(tx, append.leaves);
    await fault?.("integrating");
    return append;
  });
}

/** 3b: the tree read under the lock, then the writes. */
function lockedRead(
  sql: Sql,
  plan: Plan,
  staged: StagedClaims,
  hasher: Hasher,
  fault?: FaultHook,
): Promise<Append> {
  return sql.begin(async (tx) => {
    const append = appendTo(treeOf(await lockState(tx)), plan.fresh, hasher);
    staged.place(append.leaves);
    const w = await writeAppend(tx, append, true, staged.batches);
    if (w.inserted !== append.leaves.length) throw new RolledBack("in-tree");
    if (!w.advanced) throw new Error(`log_state is not at size ${append.from.size} under the lock`);
    await staged.scrub(tx, append.leaves);
    await fault?.("integrating");
    return append;
  });
}

/** 3c: the tree and the index probes under the lock, the plan settled against them, the rest appended. */
function probed(
  sql: Sql,
  plan: Plan,
  staged: StagedClaims,
  hasher: Hasher,
  fault?: FaultHook,
): Promise<Omit<Integrated, "stale">> {
  return sql.begin(async (tx) => {
    const [state, found] = await Promise.all([
      lockState(tx),
      lookup(
        tx,
        plan.fresh.map((c) => c.input),
      ),
    ]);
    const settled = settle(plan, found);
    const append = appendTo(treeOf(state), settled.fresh, hasher);
    staged.place(append.leaves);
    const w = await writeAppend(tx, append, false, staged.batches);
    if (!w.advanced) throw new Error(`log_state is not at size ${append.from.size} under the lock`);
    await staged.scrub(tx, append.leaves);
    await fault?.("integrating");
    return { plan: settled, append };
  });
}
