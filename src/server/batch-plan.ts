// The pure part of sequencing a batch: which submitted leaves are duplicates of leaves in the tree,
// which submissions conflict with a filled stream position, and which fresh leaves to append,
// with whom to answer for each. No SQL here: src/server/batch-sql.ts runs the statements.

import { bytesEqual, hexEncode } from "../log/encoding.ts";
import type { EventMeta } from "../log/events.ts";
import type { Hash, Hasher } from "../log/hash.ts";
import { sessionId } from "../log/session-id.ts";

/** The stream columns of an event leaf; raw leaves have none. */
export interface StreamInfo {
  host: string;
  server: string;
  pane: string;
  seq: number;
  session: string;
  sessionId: string;
  type: string;
  user: string;
  /** RFC 3339 UTC time of the event. */
  time: string;
}

export interface LeafInput {
  leaf: Uint8Array;
  leafHash: Hash;
  stream?: StreamInfo;
  payload?: { salt: Uint8Array; content: Uint8Array };
}

/**
 * Session ids of recently seen sessions: a SHA-256 per event was 6% of the submit path's CPU, and
 * a batch holds few sessions. Bounded: emptied when it holds 4,096.
 */
const sessionIds = new Map<string, string>();

function cachedSessionId(host: string, server: string, session: string): string {
  const key = `${host}\u0000${server}\u0000${session}`;
  let id = sessionIds.get(key);
  if (id === undefined) {
    if (sessionIds.size >= 4096) sessionIds.clear();
    id = sessionId(host, server, session);
    sessionIds.set(key, id);
  }
  return id;
}

/** The stream columns the sequencer indexes for an event. */
export function streamOf(m: EventMeta): StreamInfo {
  return {
    host: m.host,
    server: m.server,
    pane: m.pane,
    seq: m.seq,
    session: m.session,
    sessionId: cachedSessionId(m.host, m.server, m.session),
    type: m.type,
    user: m.user,
    time: m.time,
  };
}

/** An event's leaf (its canonical JSON), hash, stream columns and payload, for the sequencer. */
export function eventInput(
  meta: EventMeta,
  leaf: Uint8Array,
  hasher: Hasher,
  payload?: { salt: Uint8Array; content: Uint8Array },
): LeafInput {
  return { leaf, leafHash: hasher.leaf(leaf), stream: streamOf(meta), payload };
}

export interface LeafResult {
  index: number;
  leafHash: Hash;
  duplicate: boolean;
}

/** A different event already fills a stream position this submission uses. */
export class ConflictError extends Error {
  constructor(
    readonly position: number,
    readonly existingIndex: number,
    readonly existingLeafHash: Hash,
  ) {
    super(
      `event ${position} conflicts with leaf ${existingIndex}: a different event fills that stream position`,
    );
    this.name = "ConflictError";
  }
}

/** One submission waiting to be sequenced: all-or-nothing. */
export interface Pending {
  leaves: LeafInput[];
  resolve: (r: LeafResult[]) => void;
  reject: (e: unknown) => void;
}

export interface SubPlan {
  pending: Pending;
  results: (LeafResult | undefined)[];
  conflict?: ConflictError;
}

export interface FreshLeaf {
  input: LeafInput;
  /** Answers to fill in once the leaf has an index: [submission, position]. */
  waiters: [SubPlan, number][];
}

export interface Plan {
  subs: SubPlan[];
  fresh: FreshLeaf[];
  total: number;
}

export interface ExistingLeaf {
  idx: number;
  leaf_hash: Uint8Array;
  host: string | null;
  server: string | null;
  pane: string | null;
  seq: number | null;
}

export const posKey = (s: { host: string; server: string; pane: string; seq: number }) =>
  `${s.host}\u0000${s.server}\u0000${s.pane}\u0000${s.seq}`;

/**
 * Step 1 (with the leaves `lookup` found): decides, per submission, duplicates, conflicts and the fresh leaves to sequence.
 * Submissions are taken in arrival order; within the batch the first claim of a leaf hash or a
 * stream position wins, and a later different claim of a position is a conflict.
 */
export function classify(batch: Pending[], existing: ExistingLeaf[]): Plan {
  const all = batch.flatMap((p) => p.leaves);
  const byHash = new Map<string, ExistingLeaf>();
  const byPos = new Map<string, ExistingLeaf>();
  for (const e of existing) {
    byHash.set(hexEncode(e.leaf_hash), e);
    if (e.host !== null && e.seq !== null) {
      byPos.set(posKey({ host: e.host, server: e.server!, pane: e.pane!, seq: e.seq }), e);
    }
  }
  const fresh = new Map<string, FreshLeaf>();
  const freshPos = new Map<string, Hash>();
  const subs: SubPlan[] = [];
  for (const pending of batch) {
    const sub: SubPlan = { pending, results: new Array(pending.leaves.length) };
    subs.push(sub);
    // First pass: conflicts only, so a rejected submission claims nothing. A position is claimed
    // by an earlier submission of the batch, or by an earlier leaf of this one (two different
    // events for one position in one request were both sequenced into a unique violation: 500).
    const ownPos = new Map<string, Hash>();
    pending.leaves.forEach((l, i) => {
      if (sub.conflict || !l.stream) return;
      const key = posKey(l.stream);
      const old = byPos.get(key);
      if (old && !bytesEqual(old.leaf_hash, l.leafHash)) {
        sub.conflict = new ConflictError(i, old.idx, old.leaf_hash);
        return;
      }
      const claimed = freshPos.get(key) ?? ownPos.get(key);
      if (claimed && !bytesEqual(claimed, l.leafHash)) {
        sub.conflict = new ConflictError(i, -1, claimed);
        return;
      }
      ownPos.set(key, l.leafHash);
    });
    if (sub.conflict) continue;
    pending.leaves.forEach((l, i) => {
      const hex = hexEncode(l.leafHash);
      const old = byHash.get(hex);
      if (old) {
        sub.results[i] = { index: old.idx, leafHash: l.leafHash, duplicate: true };
        return;
      }
      const f = fresh.get(hex);
      if (f) f.waiters.push([sub, i]);
      else fresh.set(hex, { input: l, waiters: [[sub, i]] });
      if (l.stream) freshPos.set(posKey(l.stream), l.leafHash);
    });
  }
  return { subs, fresh: [...fresh.values()], total: all.length };
}

/**
 * Several staged plans as one: fresh leaves are shared by hash (their waiters combined); a later
 * plan's different leaf for a stream position an earlier plan claims is a conflict for its
 * submission (which then claims nothing: integrate drops leaves only conflicting waiters want).
 */
export function mergePlans(plans: Plan[]): Plan {
  if (plans.length === 1) return plans[0]!;
  const fresh = new Map<string, FreshLeaf>();
  const claimed = new Map<string, Hash>();
  for (const p of plans) {
    for (const f of p.fresh) {
      const hex = hexEncode(f.input.leafHash);
      const have = fresh.get(hex);
      if (have) {
        have.waiters.push(...f.waiters);
        continue;
      }
      const key = f.input.stream && posKey(f.input.stream);
      const other = key ? claimed.get(key) : undefined;
      if (other) {
        for (const [sub, pos] of f.waiters) sub.conflict ??= new ConflictError(pos, -1, other);
        continue;
      }
      if (key) claimed.set(key, f.input.leafHash);
      fresh.set(hex, { input: f.input, waiters: [...f.waiters] });
    }
  }
  return {
    subs: plans.flatMap((p) => p.subs),
    fresh: [...fresh.values()],
    total: plans.reduce((n, p) => n + p.total, 0),
  };
}

/** Under the lock: what another process integrated since step 1 turns into duplicates/conflicts. */
export function recheck(plan: Plan, found: ExistingLeaf[]): void {
  if (found.length === 0) return;
  const byHash = new Map(found.map((e) => [hexEncode(e.leaf_hash), e]));
  const byPos = new Map(
    found
      .filter((e) => e.host !== null && e.seq !== null)
      .map((e) => [posKey({ host: e.host!, server: e.server!, pane: e.pane!, seq: e.seq! }), e]),
  );
  plan.fresh = plan.fresh.filter((f) => {
    const old = byHash.get(hexEncode(f.input.leafHash));
    if (old) {
      for (const [sub, pos] of f.waiters) {
        sub.results[pos] = { index: old.idx, leafHash: f.input.leafHash, duplicate: true };
      }
      return false;
    }
    const taken = f.input.stream && byPos.get(posKey(f.input.stream));
    if (taken) {
      for (const [sub, pos] of f.waiters) {
        sub.conflict ??= new ConflictError(pos, taken.idx, taken.leaf_hash);
      }
      return false;
    }
    return true;
  });
}
