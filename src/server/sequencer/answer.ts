// Step 4 of a batch: answering each submission, only after step 3 committed. A submission gets the
// index of each of its leaves (a duplicate's is where the tree already holds it), or its conflict.

import type { Pending, Plan } from "./classify.ts";
import type { ConflictError, LeafResult } from "./input.ts";

export type Answer = { results: LeafResult[] } | { conflict: ConflictError };

/** Each submission's answer; `from` is the index of the first leaf appended (plan.fresh[0]). */
export function answers(plan: Plan, from: number): Map<Pending, Answer> {
  const appended = new Map(plan.fresh.map((c, i) => [c.hash, from + i]));
  const out = new Map<Pending, Answer>();
  for (const { pending, claims, conflict } of plan.subs) {
    if (conflict) {
      out.set(pending, { conflict });
      continue;
    }
    const results = claims.map((c) => {
      const old = plan.inTree.get(c.hash);
      if (old !== undefined) return { index: old, leafHash: c.input.leafHash, duplicate: true };
      return { index: appended.get(c.hash)!, leafHash: c.input.leafHash, duplicate: false };
    });
    out.set(pending, { results });
  }
  return out;
}

/** Resolves or rejects each submission of `batch` with its answer. */
export function answer(batch: Pending[], all: Map<Pending, Answer>): void {
  for (const p of batch) {
    const a = all.get(p)!;
    if ("conflict" in a) p.reject(a.conflict);
    else p.resolve(a.results);
  }
}
