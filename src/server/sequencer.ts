// The sequencer: turns submissions into leaves of the tree, durably, in batches (DESIGN section 5).
//
// A submission (one HTTP request) is all-or-nothing; a batch is every submission waiting when the
// previous batch left. One batch's durable steps, in order:
//
//   1. classify   (no lock)  look up the batch's leaf hashes and stream positions among the leaves
//                            already in the tree: a known leaf hash is a duplicate (its index is the
//                            answer); a filled position with another hash is a conflict (409 for that
//                            submission, nothing of it is written). The tree only grows, so what is
//                            found here stays true; what is not found is rechecked in step 3.
//   2. stage      (no lock)  INSERT entry bytes and payloads keyed by leaf hash, ON CONFLICT DO
//                            NOTHING, committed. Content-addressed, so a retry or a concurrent writer
//                            of the same leaf is harmless. Staged rows are not yet in the tree.
//   3. integrate  (row lock) BEGIN; SELECT the one log_state row FOR UPDATE (the right edge is read
//                            back under the lock, never trusted from memory: another process may have
//                            integrated since); recheck step 1 for what it did not find; assign
//                            indexes; INSERT (index, leaf hash, stream columns) into leaves; extend
//                            hash tiles; update sessions; store the new size, root and right edge;
//                            COMMIT.
//   4. answer     callers are answered only after step 3 committed.
//
// Only step 3 is serialised (in process by one integration loop, across processes by the row
// lock), and it writes only small rows: the bulky entry and payload bytes were written in step 2,
// in parallel with the previous integration. Plans staged while an integration runs go together
// into the next one (group commit), so batches grow with load.

import type { Sql } from "../db/client.ts";
import { CompactRange } from "../log/compact.ts";
import { bytesEqual, hexEncode } from "../log/encoding.ts";
import type { Hash, Hasher } from "../log/hash.ts";
import { packBytes, packHashes } from "./sql-arrays.ts";
import { extendTiles, type TileUpdate } from "./tile-store.ts";

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
  onBatch?: (info: { leaves: number; newLeaves: number; ms: number; size: number }) => void;
}

interface Pending {
  leaves: LeafInput[];
  resolve: (r: LeafResult[]) => void;
  reject: (e: unknown) => void;
}

export class Sequencer {
  private queue: Pending[] = [];
  private queued = 0;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private inFlight = new Set<Promise<void>>();
  private staged: {
    plan: Plan;
    resolve: (r: { size: number; newLeaves: number }) => void;
    reject: (e: unknown) => void;
  }[] = [];
  private integrating = false;
  private closed = false;

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
      const plan = await classify(this.sql, batch);
      await stage(this.sql, plan.fresh);
      const { size, newLeaves } = await this.integrateSoon(plan);
      for (const s of plan.subs) {
        if (s.conflict) s.pending.reject(s.conflict);
        else s.pending.resolve(s.results as LeafResult[]);
      }
      this.opts.onBatch?.({
        leaves: plan.total,
        newLeaves,
        ms: performance.now() - started,
        size,
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
  private integrateSoon(plan: Plan): Promise<{ size: number; newLeaves: number }> {
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
        const r = await integrate(this.sql, mergePlans(group.map((g) => g.plan)), this.opts.hasher);
        for (const g of group) g.resolve(r);
      } catch (e) {
        for (const g of group) g.reject(e);
      }
    }
    this.integrating = false;
  }
}

// ---- the batch plan ----

interface SubPlan {
  pending: Pending;
  results: (LeafResult | undefined)[];
  conflict?: ConflictError;
}

interface FreshLeaf {
  input: LeafInput;
  /** Answers to fill in once the leaf has an index: [submission, position]. */
  waiters: [SubPlan, number][];
}

interface Plan {
  subs: SubPlan[];
  fresh: FreshLeaf[];
  total: number;
}

interface ExistingLeaf {
  idx: number;
  leaf_hash: Uint8Array;
  host: string | null;
  server: string | null;
  pane: string | null;
  seq: number | null;
}

const posKey = (s: { host: string; server: string; pane: string; seq: number }) =>
  `${s.host}\u0000${s.server}\u0000${s.pane}\u0000${s.seq}`;

/** Leaves already in the tree that share a leaf hash or a stream position with `leaves`. */
async function lookup(sql: Sql, leaves: LeafInput[]): Promise<ExistingLeaf[]> {
  if (leaves.length === 0) return [];
  const streams = leaves.flatMap((l) => (l.stream ? [l.stream] : []));
  // Both halves probe the unique indexes once per element of the batch's arrays (LATERAL with an
  // equality on the index key; LIMIT 1 keeps the planner from flattening it into a join). Filters over leaves (`IN (…)`, `= ANY(…)`) and plain joins were
  // planned as whole-table scans, nested per element when statistics were young: seconds per
  // batch. Hashes travel as '\\x…' text cast to bytea.
  return sql.query<ExistingLeaf>(
    `SELECT l.idx, l.leaf_hash, l.host, l.server, l.pane, l.seq
       FROM unnest($1::text[]::bytea[]) AS h(leaf_hash)
       CROSS JOIN LATERAL (SELECT * FROM leaves WHERE leaves.leaf_hash = h.leaf_hash LIMIT 1) l
     UNION
     SELECT l.idx, l.leaf_hash, l.host, l.server, l.pane, l.seq
       FROM unnest($2::text[], $3::text[], $4::text[], $5::int8[]) AS p(host, server, pane, seq)
       CROSS JOIN LATERAL (SELECT * FROM leaves WHERE leaves.host = p.host AND leaves.server = p.server
                             AND leaves.pane = p.pane AND leaves.seq = p.seq LIMIT 1) l`,
    [
      leaves.map((l) => `\\x${hexEncode(l.leafHash)}`),
      streams.map((s) => s.host),
      streams.map((s) => s.server),
      streams.map((s) => s.pane),
      streams.map((s) => s.seq),
    ],
  );
}

/**
 * Step 1: decides, per submission, duplicates, conflicts and the fresh leaves to sequence.
 * Submissions are taken in arrival order; within the batch the first claim of a leaf hash or a
 * stream position wins, and a later different claim of a position is a conflict.
 */
async function classify(sql: Sql, batch: Pending[]): Promise<Plan> {
  const all = batch.flatMap((p) => p.leaves);
  const existing = await lookup(sql, all);
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
    // First pass: conflicts only, so a rejected submission claims nothing.
    pending.leaves.forEach((l, i) => {
      if (sub.conflict || !l.stream) return;
      const key = posKey(l.stream);
      const old = byPos.get(key);
      if (old && !bytesEqual(old.leaf_hash, l.leafHash)) {
        sub.conflict = new ConflictError(i, old.idx, old.leaf_hash);
        return;
      }
      const claimed = freshPos.get(key);
      if (claimed && !bytesEqual(claimed, l.leafHash)) {
        sub.conflict = new ConflictError(i, -1, claimed);
      }
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
function mergePlans(plans: Plan[]): Plan {
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

/** Step 2: entry bytes and payloads, content-addressed, committed before any index exists. */
async function stage(sql: Sql, fresh: FreshLeaf[]): Promise<void> {
  if (fresh.length === 0) return;
  const leaves = packBytes(fresh.map((f) => f.input.leaf));
  const withPayload = fresh.filter((f) => f.input.payload);
  const contents = packBytes(withPayload.map((f) => f.input.payload!.content));
  await sql.begin(async (tx) => {
    await Promise.all([
      tx.query(
        `INSERT INTO entries (leaf_hash, leaf)
         SELECT substring($1::bytea FROM (o::int4 - 1) * 32 + 1 FOR 32), substring($2::bytea FROM off + 1 FOR len)
           FROM unnest($3::int4[], $4::int4[]) WITH ORDINALITY AS t(off, len, o)
         ON CONFLICT DO NOTHING`,
        [packHashes(fresh.map((f) => f.input.leafHash)), leaves.blob, leaves.offs, leaves.lens],
      ),
      withPayload.length === 0
        ? Promise.resolve()
        : tx.query(
            `INSERT INTO payloads (leaf_hash, salt, content)
             SELECT substring($1::bytea FROM (o::int4 - 1) * 32 + 1 FOR 32),
                    substring($2::bytea FROM (o::int4 - 1) * 32 + 1 FOR 32),
                    substring($3::bytea FROM off + 1 FOR len)
               FROM unnest($4::int4[], $5::int4[]) WITH ORDINALITY AS t(off, len, o)
             ON CONFLICT DO NOTHING`,
            [
              packHashes(withPayload.map((f) => f.input.leafHash)),
              packHashes(withPayload.map((f) => f.input.payload!.salt)),
              contents.blob,
              contents.offs,
              contents.lens,
            ],
          ),
    ]);
  });
}

/** Step 3, under the row lock. Returns the new tree size. */
async function integrate(
  sql: Sql,
  plan: Plan,
  hasher: Hasher,
): Promise<{ size: number; newLeaves: number }> {
  return sql.begin(async (tx) => {
    const [stateRows, again] = await Promise.all([
      tx.query<{ size: number; right_edge: Uint8Array }>(
        "SELECT size, right_edge FROM log_state WHERE id = 1 FOR UPDATE",
      ),
      lookup(
        tx,
        plan.fresh.map((f) => f.input),
      ),
    ]);
    const state = stateRows[0];
    if (!state) throw new Error("log_state row is missing: the database was not initialised");
    recheck(plan, again);
    const fresh = plan.fresh.filter((f) => f.waiters.some(([s]) => !s.conflict));
    const edge: Hash[] = [];
    for (let o = 0; o < state.right_edge.length; o += 32) {
      edge.push(state.right_edge.subarray(o, o + 32));
    }
    const range = CompactRange.fromRightEdge(state.size, edge, hasher);
    const oldSize = state.size;
    const updates: TileUpdate[] = [];
    fresh.forEach((f, i) => {
      const index = oldSize + i;
      range.append(f.input.leafHash, (id, hash) => {
        if (id.level % 8 === 0) updates.push({ level: id.level / 8, index: id.index, hash });
      });
      for (const [sub, pos] of f.waiters) {
        sub.results[pos] = { index, leafHash: f.input.leafHash, duplicate: false };
      }
    });
    if (fresh.length === 0) return { size: oldSize, newLeaves: 0 };
    const ev = fresh.map((f, i) => ({ s: f.input.stream, idx: oldSize + i }));
    const streams = ev.filter((e) => e.s) as { s: StreamInfo; idx: number }[];
    const raws = ev.filter((e) => !e.s);
    const hashes = packHashes(fresh.map((f) => f.input.leafHash));
    await Promise.all([
      tx.query(
        `INSERT INTO leaves (idx, leaf_hash)
         SELECT $1::int8 + o - 1, substring($2::bytea FROM (o::int4 - 1) * 32 + 1 FOR 32)
           FROM generate_series(1, length($2::bytea) / 32) AS o
          WHERE o - 1 = ANY($3::int8[])`,
        [oldSize, hashes, raws.map((r) => r.idx - oldSize)],
      ),
      streams.length === 0
        ? Promise.resolve()
        : tx.query(
            `INSERT INTO leaves (idx, leaf_hash, host, server, pane, seq, session, type, "user", time)
             SELECT t.idx, substring($1::bytea FROM (t.idx - $2::int8)::int4 * 32 + 1 FOR 32),
                    t.host, t.server, t.pane, t.seq, t.session, t.type, t.usr, t.time
               FROM unnest($3::int8[], $4::text[], $5::text[], $6::text[], $7::int8[], $8::text[],
                           $9::text[], $10::text[], $11::timestamptz[])
                 AS t(idx, host, server, pane, seq, session, type, usr, time)`,
            [
              hashes,
              oldSize,
              streams.map((e) => e.idx),
              streams.map((e) => e.s.host),
              streams.map((e) => e.s.server),
              streams.map((e) => e.s.pane),
              streams.map((e) => e.s.seq),
              streams.map((e) => e.s.session),
              streams.map((e) => e.s.type),
              streams.map((e) => e.s.user),
              streams.map((e) => e.s.time),
            ],
          ),
      extendTiles(tx, oldSize, updates),
      upsertSessions(tx, streams),
      tx.query(
        "UPDATE log_state SET size = $1, root = $2, right_edge = $3, updated_at = now() WHERE id = 1",
        [range.size, range.root(), packHashes(range.rightEdge())],
      ),
    ]);
    return { size: range.size, newLeaves: fresh.length };
  });
}

/** Under the lock: what another process integrated since step 1 turns into duplicates/conflicts. */
function recheck(plan: Plan, found: ExistingLeaf[]): void {
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

async function upsertSessions(tx: Sql, streams: { s: StreamInfo; idx: number }[]): Promise<void> {
  const by = new Map<
    string,
    { s: StreamInfo; first: number; last: number; n: number; t0: string; t1: string }
  >();
  for (const { s, idx } of streams) {
    if (s.session === "-") continue;
    const cur = by.get(s.sessionId);
    if (!cur) by.set(s.sessionId, { s, first: idx, last: idx, n: 1, t0: s.time, t1: s.time });
    else {
      cur.last = idx;
      cur.n++;
      if (s.time < cur.t0) cur.t0 = s.time;
      if (s.time > cur.t1) cur.t1 = s.time;
    }
  }
  if (by.size === 0) return;
  const rows = [...by.entries()];
  await tx.query(
    `INSERT INTO sessions AS x (id, host, server, session, "user", first_idx, last_idx, first_time, last_time, events)
     SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::int8[], $7::int8[],
                          $8::timestamptz[], $9::timestamptz[], $10::int8[])
     ON CONFLICT (id) DO UPDATE SET
       last_idx = GREATEST(x.last_idx, EXCLUDED.last_idx),
       first_time = LEAST(x.first_time, EXCLUDED.first_time),
       last_time = GREATEST(x.last_time, EXCLUDED.last_time),
       events = x.events + EXCLUDED.events`,
    [
      rows.map(([id]) => id),
      rows.map(([, r]) => r.s.host),
      rows.map(([, r]) => r.s.server),
      rows.map(([, r]) => r.s.session),
      rows.map(([, r]) => r.s.user),
      rows.map(([, r]) => r.first),
      rows.map(([, r]) => r.last),
      rows.map(([, r]) => r.t0),
      rows.map(([, r]) => r.t1),
      rows.map(([, r]) => r.n),
    ],
  );
}
