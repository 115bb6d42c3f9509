// The SQL of one batch (DESIGN section 5): the index probes that find what the tree already holds,
// staging of entry bytes and payloads, and the row-locked integration. See sequencer.ts for the
// order of the durable steps.

import type { Sql } from "../db/client.ts";
import { CompactRange } from "../log/compact.ts";
import { bytesEqual, hexEncode } from "../log/encoding.ts";
import type { Hash, Hasher } from "../log/hash.ts";
import {
  type ExistingLeaf,
  type FreshLeaf,
  type LeafInput,
  type Plan,
  recheck,
  type StreamInfo,
} from "./batch-plan.ts";
import { packBytes, packHashes } from "./sql-arrays.ts";
import { extendTiles, type TileUpdate } from "./tile-store.ts";

/** Leaves already in the tree that share a leaf hash or a stream position with `leaves`. */
export async function lookup(sql: Sql, leaves: LeafInput[]): Promise<ExistingLeaf[]> {
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

/** Step 2: entry bytes and payloads, content-addressed, committed before any index exists. */
export async function stage(sql: Sql, fresh: FreshLeaf[]): Promise<void> {
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

/** A leaf the optimistic integration meant to append is already in the tree (or its position is). */
class AlreadyInTree extends Error {}

/** The tree another process integrated since this one last did: its remembered edge is stale. */
class StaleEdge extends Error {}

/** The tree's size and right edge (compact range of [0, size)), as this process last committed it. */
export interface TreeEdge {
  size: number;
  edge: Hash[];
}

export interface Integrated {
  size: number;
  newLeaves: number;
  /** The tree as committed: the `known` edge of the next integration. */
  tree: TreeEdge;
  /** The pipelined attempt found another process's integration and was rolled back. */
  stale: boolean;
}

type Mode = "pipelined" | "optimistic" | "probe";

/**
 * Step 3, under the row lock. Returns the new tree.
 *
 * Pipelined when `known` is given (the tree as this process last committed it): every statement
 * of the transaction (the row lock, the leaves, the tiles, the sessions, the new state) is sent at
 * once, computed from `known`, and checked before COMMIT: if the locked row is not `known`, another
 * process integrated since, and the transaction is rolled back (StaleEdge). Two round trips hold
 * the lock instead of five; under load each round trip also waits for the event loop, so this is
 * what bounds a single process's throughput.
 *
 * Optimistic otherwise (and after a stale or already-in-tree pipeline): the state is read under the
 * lock first, then the batch's fresh leaves are inserted with ON CONFLICT DO NOTHING. If the unique
 * indexes on leaf hash and stream position let every one in, nothing was in the tree yet and the
 * indexes assigned stand. Otherwise (a retry of acknowledged events, a conflict, another process
 * that integrated the same leaves) the transaction is rolled back and the batch integrated again
 * with the probes of `lookup` under the lock, which sort out duplicates and conflicts. In steady
 * state no probe runs at all: the unique indexes do that work once, on insert.
 */
export async function integrate(
  sql: Sql,
  plan: Plan,
  hasher: Hasher,
  known?: TreeEdge,
): Promise<Integrated> {
  let stale = false;
  if (known) {
    try {
      return { ...(await integrateOnce(sql, plan, hasher, "pipelined", known)), stale };
    } catch (e) {
      if (e instanceof StaleEdge) stale = true;
      else if (!(e instanceof AlreadyInTree)) throw e;
    }
  }
  try {
    return { ...(await integrateOnce(sql, plan, hasher, "optimistic")), stale };
  } catch (e) {
    if (!(e instanceof AlreadyInTree)) throw e;
    return { ...(await integrateOnce(sql, plan, hasher, "probe")), stale };
  }
}

const sameEdge = (stored: Uint8Array, edge: Hash[]) =>
  stored.length === edge.length * 32 &&
  edge.every((h, i) => bytesEqual(stored.subarray(i * 32, i * 32 + 32), h));

async function integrateOnce(
  sql: Sql,
  plan: Plan,
  hasher: Hasher,
  mode: Mode,
  known?: TreeEdge,
): Promise<Omit<Integrated, "stale">> {
  return sql.begin(async (tx) => {
    const lock = tx.query<{ size: number; right_edge: Uint8Array }>(
      "SELECT size, right_edge FROM log_state WHERE id = 1 FOR UPDATE",
    );
    let tree: TreeEdge;
    if (mode === "pipelined") {
      tree = known!;
      // Not awaited: the statements below follow it in the same pipeline. Checked before COMMIT.
      lock.catch(() => {});
    } else {
      const [stateRows, again] = await Promise.all([
        lock,
        mode === "probe"
          ? lookup(
              tx,
              plan.fresh.map((f) => f.input),
            )
          : Promise.resolve([]),
      ]);
      const state = stateRows[0];
      if (!state) throw new Error("log_state row is missing: the database was not initialised");
      if (mode === "probe") recheck(plan, again);
      const edge: Hash[] = [];
      for (let o = 0; o < state.right_edge.length; o += 32) {
        edge.push(state.right_edge.subarray(o, o + 32));
      }
      tree = { size: state.size, edge };
    }
    const fresh = plan.fresh.filter((f) => f.waiters.some(([s]) => !s.conflict));
    const range = CompactRange.fromRightEdge(tree.size, tree.edge, hasher);
    const oldSize = tree.size;
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
    if (fresh.length === 0) {
      if (mode === "pipelined") await checkKnown(lock, tree);
      return { size: oldSize, newLeaves: 0, tree };
    }
    const ev = fresh.map((f, i) => ({ s: f.input.stream, idx: oldSize + i }));
    const streams = ev.filter((e) => e.s) as { s: StreamInfo; idx: number }[];
    const rightEdge = range.rightEdge();
    const inserts = insertLeaves(tx, fresh, ev, oldSize, mode !== "probe");
    const rest = Promise.all([
      extendTiles(tx, oldSize, updates),
      upsertSessions(tx, streams),
      tx.query<{ size: number }>(
        `UPDATE log_state SET size = $1, root = $2, right_edge = $3, updated_at = now()
          WHERE id = 1 AND size = $4 RETURNING size`,
        [range.size, range.root(), packHashes(rightEdge), oldSize],
      ),
    ]);
    // Everything is in flight (pipelined on PostgreSQL): settle all before deciding, so no
    // statement's failure goes unobserved.
    await Promise.allSettled([inserts, rest]);
    if (mode === "pipelined") await checkKnown(lock, tree);
    // Rolls the transaction back: some leaf (or position) was already there.
    if ((await inserts) !== fresh.length) throw new AlreadyInTree();
    const [, , updated] = await rest;
    if (updated.length !== 1) throw new Error(`log_state is not at size ${oldSize} under the lock`);
    return {
      size: range.size,
      newLeaves: fresh.length,
      tree: { size: range.size, edge: rightEdge },
    };
  });
}

async function checkKnown(
  lock: Promise<{ size: number; right_edge: Uint8Array }[]>,
  known: TreeEdge,
): Promise<void> {
  const state = (await lock)[0];
  if (!state) throw new Error("log_state row is missing: the database was not initialised");
  if (state.size !== known.size || !sameEdge(state.right_edge, known.edge)) throw new StaleEdge();
}

/** Inserts the tree rows of `fresh` (from index oldSize); returns how many went in. */
async function insertLeaves(
  tx: Sql,
  fresh: FreshLeaf[],
  ev: { s: StreamInfo | undefined; idx: number }[],
  oldSize: number,
  skipConflicts: boolean,
): Promise<number> {
  const streams = ev.filter((e) => e.s) as { s: StreamInfo; idx: number }[];
  const raws = ev.filter((e) => !e.s);
  const hashes = packHashes(fresh.map((f) => f.input.leafHash));
  const onConflict = skipConflicts ? "ON CONFLICT DO NOTHING" : "";
  const counted = (insert: string) =>
    `WITH ins AS (${insert} ${onConflict} RETURNING 1) SELECT count(*)::int AS n FROM ins`;
  const inserted = await Promise.all([
    raws.length === 0
      ? Promise.resolve([{ n: 0 }])
      : tx.query<{ n: number }>(
          counted(`INSERT INTO leaves (idx, leaf_hash)
            SELECT $1::int8 + o, substring($2::bytea FROM o::int4 * 32 + 1 FOR 32)
              FROM unnest($3::int8[]) AS o`),
          [oldSize, hashes, raws.map((r) => r.idx - oldSize)],
        ),
    streams.length === 0
      ? Promise.resolve([{ n: 0 }])
      : tx.query<{ n: number }>(
          counted(`INSERT INTO leaves (idx, leaf_hash, host, server, pane, seq, session, type, "user", time)
            SELECT t.idx, substring($1::bytea FROM (t.idx - $2::int8)::int4 * 32 + 1 FOR 32),
                   t.host, t.server, t.pane, t.seq, t.session, t.type, t.usr, t.time
              FROM unnest($3::int8[], $4::text[], $5::text[], $6::text[], $7::int8[], $8::text[],
                          $9::text[], $10::text[], $11::timestamptz[])
                AS t(idx, host, server, pane, seq, session, type, usr, time)`),
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
  ]);
  return inserted[0][0]!.n + inserted[1][0]!.n;
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
