// The statements of step 3, all inside the integration's transaction: the row lock on log_state,
// the index probes for leaves already in the tree, and the writes of one append (leaves rows, hash
// tiles, sessions, the new size, root and right edge). integrate.ts decides their order.

import { bytesEqual, hexEncode } from "../../core/encoding.ts";
import type { Hash } from "../../core/hash.ts";
import type { Sql } from "../../db/sql.ts";
import { packHashes } from "../sql-arrays.ts";
import { extendTiles } from "../tile-store.ts";
import type { Append, TreeEdge } from "./append.ts";
import type { ExistingLeaf } from "./classify.ts";
import type { LeafInput } from "./input.ts";

export type StateRow = { size: number; right_edge: Uint8Array };

/** SELECT … FOR UPDATE of the one log_state row: the lock that serialises step 3 across processes. */
export function lockState(tx: Sql): Promise<StateRow[]> {
  return tx.query<StateRow>("SELECT size, right_edge FROM log_state WHERE id = 1 FOR UPDATE");
}

/** The locked row as a tree edge. */
export function treeOf(rows: StateRow[]): TreeEdge {
  const state = rows[0];
  if (!state) throw new Error("log_state row is missing: the database was not initialised");
  const edge: Hash[] = [];
  for (let o = 0; o < state.right_edge.length; o += 32) {
    edge.push(state.right_edge.subarray(o, o + 32));
  }
  return { size: state.size, edge };
}

/** Whether the locked row is the tree `known` (nobody integrated since). */
export function isTree(rows: StateRow[], known: TreeEdge): boolean {
  const { size, edge } = treeOf(rows);
  return (
    size === known.size &&
    edge.length === known.edge.length &&
    edge.every((h, i) => bytesEqual(h, known.edge[i]!))
  );
}

/** Leaves already in the tree that share a leaf hash or a stream position with `leaves`. */
export async function lookup(tx: Sql, leaves: LeafInput[]): Promise<ExistingLeaf[]> {
  if (leaves.length === 0) return [];
  const streams = leaves.flatMap((l) => (l.stream ? [l.stream] : []));
  // Both halves probe the unique indexes once per element of the batch's arrays (LATERAL with an
  // equality on the index key; LIMIT 1 keeps the planner from flattening it into a join): filters
  // over leaves (`IN (…)`, `= ANY(…)`) and plain joins can be planned as whole-table scans. Hashes
  // travel as '\\x…' text cast to bytea.
  return tx.query<ExistingLeaf>(
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

export interface Written {
  /** Leaves rows that went in: fewer than appended when the unique indexes kept some out. */
  inserted: number;
  /** The compare-and-swap of log_state from the old size to the new one took. */
  advanced: boolean;
}

/**
 * Sends every write of `a` at once (they pipeline on one connection) and settles them all, so no
 * statement's failure goes unobserved. `skipInTree`: ON CONFLICT DO NOTHING on the leaves rows, so
 * a leaf (or position) already in the tree shows as `inserted` falling short instead of an error.
 */
export async function writeAppend(
  tx: Sql,
  a: Append,
  skipInTree: boolean,
  batches: readonly number[],
): Promise<Written> {
  const marked = markIntegrated(tx, batches);
  if (a.leaves.length === 0) {
    await marked;
    return { inserted: 0, advanced: true };
  }
  const inserted = insertLeaves(tx, a, skipInTree);
  const rest = [
    marked,
    extendTiles(tx, a.from.size, a.tiles),
    upsertSessions(tx, a),
    tx.query<{ size: number }>(
      `UPDATE log_state SET size = $1, root = $2, right_edge = $3, updated_at = now()
        WHERE id = 1 AND size = $4 RETURNING size`,
      [a.to.size, a.root, packHashes(a.to.edge), a.from.size],
    ),
  ] as const;
  await Promise.allSettled([inserted, ...rest]);
  const n = await inserted;
  // Some leaf is already in the tree: the caller rolls back, whatever the other writes did.
  if (n !== a.leaves.length) return { inserted: n, advanced: false };
  const [, , , updated] = await Promise.all(rest);
  return { inserted: n, advanced: updated.length === 1 };
}

/**
 * Marks the batches staged for this integration as in the tree (storage v2). Every one must still
 * be stored: one that erasure's sweep took for abandoned (staged long ago, never integrated) fails
 * the integration, whose submissions are then refused, not acknowledged, and resubmitted.
 */
async function markIntegrated(tx: Sql, batches: readonly number[]): Promise<void> {
  if (batches.length === 0) return;
  const rows = await tx.query<{ id: number }>(
    "UPDATE batches SET integrated = true WHERE id = ANY($1::int8[]) RETURNING id",
    [batches],
  );
  if (rows.length !== batches.length) {
    throw new Error(
      `a staged batch is no longer stored (${batches.length - rows.length} of ${batches.length}): swept as abandoned before it entered the tree`,
    );
  }
}

/** The leaves rows of `a` (tree position, leaf hash, stream columns); returns how many went in. */
async function insertLeaves(tx: Sql, a: Append, skipInTree: boolean): Promise<number> {
  const from = a.from.size;
  const raws: number[] = [];
  for (const [i, c] of a.leaves.entries()) if (!c.input.stream) raws.push(i);
  const where = (i: number) => {
    const at = a.leaves[i]!.at;
    if (!at) throw new Error(`leaf ${from + i} was not staged`);
    return at;
  };
  const streams = a.streams;
  const hashes = packHashes(a.leaves.map((c) => c.input.leafHash));
  const onConflict = skipInTree ? "ON CONFLICT DO NOTHING" : "";
  const counted = (insert: string) =>
    `WITH ins AS (${insert} ${onConflict} RETURNING 1) SELECT count(*)::int AS n FROM ins`;
  const inserted = await Promise.all([
    raws.length === 0
      ? Promise.resolve([{ n: 0 }])
      : tx.query<{ n: number }>(
          counted(`INSERT INTO leaves (idx, leaf_hash, batch, slot)
            SELECT $1::int8 + o, substring($2::bytea FROM o::int4 * 32 + 1 FOR 32), b, s
              FROM unnest($3::int8[], $4::int8[], $5::int4[]) AS t(o, b, s)`),
          [from, hashes, raws, raws.map((i) => where(i).batch), raws.map((i) => where(i).slot)],
        ),
    streams.length === 0
      ? Promise.resolve([{ n: 0 }])
      : tx.query<{ n: number }>(
          counted(`INSERT INTO leaves (idx, leaf_hash, host, server, pane, seq, session, type, "user", time, batch, slot)
            SELECT t.idx, substring($1::bytea FROM (t.idx - $2::int8)::int4 * 32 + 1 FOR 32),
                   t.host, t.server, t.pane, t.seq, t.session, t.type, t.usr, t.time, t.b, t.s
              FROM unnest($3::int8[], $4::text[], $5::text[], $6::text[], $7::int8[], $8::text[],
                          $9::text[], $10::text[], $11::timestamptz[], $12::int8[], $13::int4[])
                AS t(idx, host, server, pane, seq, session, type, usr, time, b, s)`),
          [
            hashes,
            from,
            streams.map((e) => e.idx),
            streams.map((e) => e.s.host),
            streams.map((e) => e.s.server),
            streams.map((e) => e.s.pane),
            streams.map((e) => e.s.seq),
            streams.map((e) => e.s.session),
            streams.map((e) => e.s.type),
            streams.map((e) => e.s.user),
            streams.map((e) => e.s.time),
            streams.map((e) => where(e.idx - from).batch),
            streams.map((e) => where(e.idx - from).slot),
          ],
        ),
  ]);
  return inserted[0][0]!.n + inserted[1][0]!.n;
}

async function upsertSessions(tx: Sql, a: Append): Promise<void> {
  const rows = a.sessions;
  if (rows.length === 0) return;
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
      rows.map((r) => r.id),
      rows.map((r) => r.s.host),
      rows.map((r) => r.s.server),
      rows.map((r) => r.s.session),
      rows.map((r) => r.s.user),
      rows.map((r) => r.first),
      rows.map((r) => r.last),
      rows.map((r) => r.t0),
      rows.map((r) => r.t1),
      rows.map((r) => r.events),
    ],
  );
}
