// Step 1 of a batch, and every later decision of whom to answer how (no I/O): which leaves to
// append, which are already in the tree, which submissions conflict.
//
// One rule, applied to submissions in arrival order. A leaf is claimed by its leaf hash and, for
// an event, by its stream position (host, server, pane, seq). The first claim wins. A submission
// that needs a position claimed by a different leaf (in the tree, by an earlier submission, or by
// an earlier leaf of its own) conflicts: it is rejected whole and claims nothing. The same leaf
// submitted twice (in one submission or in several) is appended once and answered to each.
//
// The rule runs three times over the same submissions, with more known each time:
//   classify  one batch, before staging: against each other only (nothing is read from the tree);
//   merge     the batches staged while an integration ran, into the next one (group commit);
//   settle    under the row lock, against the leaves the index probes found in the tree: those
//             leaves are answered as duplicates with their index, a position they fill is a conflict.
// A submission rejected once stays rejected.

import { hexEncode } from "../../core/encoding.ts";
import { ConflictError, type LeafInput, type LeafResult } from "./input.ts";

/** One submission waiting to be sequenced: all-or-nothing. */
export interface Pending {
  leaves: LeafInput[];
  resolve: (r: LeafResult[]) => void;
  reject: (e: unknown) => void;
}

/** A submitted leaf with its claim keys. */
export interface Claim {
  input: LeafInput;
  /** The leaf hash, hex. */
  hash: string;
  /** The stream position (posKey), for an event. */
  pos?: string;
  /** Where step 2 stored its bytes (storage v2): set by stage. */
  at?: { batch: number; slot: number };
}

export interface Submission {
  pending: Pending;
  /** Position i of the submission. */
  claims: Claim[];
  conflict?: ConflictError;
}

/** A leaf already in the tree, as the index probes return it. */
export interface ExistingLeaf {
  idx: number;
  leaf_hash: Uint8Array;
  host: string | null;
  server: string | null;
  pane: string | null;
  seq: number | null;
}

export interface Plan {
  /** In arrival order; each is answered from `fresh` and `inTree`, or rejected with its conflict. */
  subs: Submission[];
  /** The leaves to append, in order: claimed by an accepted submission, not in the tree. */
  fresh: Claim[];
  /** Leaves of accepted submissions found in the tree: hex leaf hash → index. */
  inTree: ReadonlyMap<string, number>;
  /** Leaves submitted, counted with repeats. */
  total: number;
}

export const posKey = (s: { host: string; server: string; pane: string; seq: number }): string =>
  `${s.host}\u0000${s.server}\u0000${s.pane}\u0000${s.seq}`;

/** Step 1: one batch of submissions, in arrival order. */
export function classify(batch: Pending[]): Plan {
  return admit(
    batch.map((pending) => ({
      pending,
      claims: pending.leaves.map((input) => ({
        input,
        hash: hexEncode(input.leafHash),
        pos: input.stream && posKey(input.stream),
      })),
    })),
    [],
  );
}

/** Group commit: plans staged while an integration ran, as one plan (the earlier claim wins). */
export function merge(plans: Plan[]): Plan {
  if (plans.length === 1) return plans[0]!;
  return admit(
    plans.flatMap((p) => p.subs),
    [],
  );
}

/** Under the row lock: the plan against what the index probes found in the tree. */
export function settle(plan: Plan, found: ExistingLeaf[]): Plan {
  if (found.length === 0) return plan;
  return admit(plan.subs, found);
}

/** Who claimed a position: a leaf of the tree (idx ≥ 0) or an earlier claim (-1). */
interface Holder {
  hash: string;
  idx: number;
  leafHash: Uint8Array;
}

/** The rule: admits each submission whole or rejects it, against the tree and earlier claims. */
function admit(subs: Submission[], found: ExistingLeaf[]): Plan {
  const inTree = new Map<string, number>();
  const positions = new Map<string, Holder>();
  for (const e of found) {
    const hash = hexEncode(e.leaf_hash);
    inTree.set(hash, e.idx);
    if (e.host !== null && e.server !== null && e.pane !== null && e.seq !== null) {
      const pos = posKey({ host: e.host, server: e.server, pane: e.pane, seq: e.seq });
      positions.set(pos, { hash, idx: e.idx, leafHash: e.leaf_hash });
    }
  }
  const fresh = new Map<string, Claim>();
  const admitted: Submission[] = [];
  let total = 0;
  for (const sub of subs) {
    total += sub.claims.length;
    const conflict = sub.conflict ?? conflictOf(sub.claims, positions);
    admitted.push(conflict === sub.conflict ? sub : { ...sub, conflict });
    if (conflict) continue;
    for (const c of sub.claims) {
      if (inTree.has(c.hash) || fresh.has(c.hash)) continue;
      fresh.set(c.hash, c);
      if (c.pos) positions.set(c.pos, { hash: c.hash, idx: -1, leafHash: c.input.leafHash });
    }
  }
  return { subs: admitted, fresh: [...fresh.values()], inTree, total };
}

/** The first position of `claims` held by a different leaf, counting the submission's own. */
function conflictOf(claims: Claim[], positions: Map<string, Holder>): ConflictError | undefined {
  const own = new Map<string, Claim>();
  for (const [i, c] of claims.entries()) {
    if (!c.pos) continue;
    const held = positions.get(c.pos);
    if (held && held.hash !== c.hash) return new ConflictError(i, held.idx, held.leafHash);
    const mine = own.get(c.pos);
    if (mine && mine.hash !== c.hash) return new ConflictError(i, -1, mine.input.leafHash);
    own.set(c.pos, c);
  }
  return undefined;
}
