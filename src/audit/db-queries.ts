// The SQL of a database audit: every read is a bounded range scan on a primary key, so memory
// stays bounded and each query starts where the previous one ended. Leaves come with (batch,
// slot), the place of their bytes; the chunk's batches are read by id in a second query
// (db-snapshot.ts inflates them), leaves.time as whole microseconds so it compares exactly with the
// leaf's time.

import type { Sql } from "../db/sql.ts";

export interface LeafRow {
  idx: number;
  leaf_hash: Uint8Array;
  /** leaves.batch and leaves.slot; null on a v1 leaf the upgrade has not placed. */
  batch: number | null;
  slot: number | null;
  /** The leaf's bytes from its batch; null when they cannot be read (`lost` says why). */
  leaf: Uint8Array | null;
  /** Why the leaf's bytes (or, with `leaf` set, its payload) cannot be read. */
  lost?: string;
  /** Its batch is stored but not marked integrated. */
  unintegrated?: boolean;
  host: string | null;
  server: string | null;
  pane: string | null;
  seq: number | null;
  session: string | null;
  type: string | null;
  user: string | null;
  time_us: number | null;
  /** The slot's payload; null when the slot holds none (or its contents part is unreadable). */
  salt: Uint8Array | null;
  content: Uint8Array | null;
  /** Why the contents part of its batch cannot be read (the payload is then unknown). */
  contentsLost?: string;
}

export function readLeaves(sql: Sql, from: number, to: number): Promise<LeafRow[]> {
  return sql.query<LeafRow>(
    `SELECT l.idx, l.leaf_hash, l.batch, l.slot, l.host, l.server, l.pane, l.seq, l.session,
            l.type, l."user" AS "user", (extract(epoch FROM l.time) * 1000000)::int8 AS time_us
       FROM leaves l
      WHERE l.idx >= $1 AND l.idx < $2
      ORDER BY l.idx`,
    [from, to],
  );
}

export interface BatchRow {
  id: number;
  codec: number;
  count: number;
  integrated: boolean;
  leaves: Uint8Array;
  contents: Uint8Array;
}

/** The batches with these ids (both parts compressed, as stored). */
export function readBatches(sql: Sql, ids: number[]): Promise<BatchRow[]> {
  return sql.query<BatchRow>(
    "SELECT id, codec, count, integrated, leaves, contents FROM batches WHERE id = ANY($1::int8[])",
    [ids],
  );
}

/** Stored hash tiles of `level` with index in [from, to). */
export async function readTiles(
  sql: Sql,
  level: number,
  from: number,
  to: number,
): Promise<Map<number, Uint8Array>> {
  const rows = await sql.query<{ idx: number; hashes: Uint8Array }>(
    "SELECT idx, hashes FROM tiles WHERE level = $1 AND idx >= $2 AND idx < $3",
    [level, from, to],
  );
  return new Map(rows.map((r) => [r.idx, r.hashes]));
}

/** Stored hash tiles by (level, index); the key is "level/index". */
export async function readTilesAt(
  sql: Sql,
  ids: { level: number; index: number }[],
): Promise<Map<string, Uint8Array>> {
  if (ids.length === 0) return new Map();
  const rows = await sql.query<{ level: number; idx: number; hashes: Uint8Array }>(
    `SELECT t.level, t.idx, t.hashes FROM tiles t
       JOIN unnest($1::int4[], $2::int8[]) AS u(level, idx) ON t.level = u.level AND t.idx = u.idx`,
    [ids.map((t) => t.level), ids.map((t) => t.index)],
  );
  return new Map(rows.map((r) => [`${r.level}/${r.idx}`, r.hashes]));
}

/** Stored tiles past those a tree with `counts[L]` tiles at level L has (first `limit`). */
export function readTilesBeyond(
  sql: Sql,
  counts: number[],
  limit: number,
): Promise<{ level: number; idx: number; len: number }[]> {
  return sql.query(
    `SELECT t.level, t.idx, length(t.hashes) AS len FROM tiles t
      WHERE t.idx >= COALESCE((SELECT u.n FROM unnest($1::int4[], $2::int8[]) AS u(level, n)
                                WHERE u.level = t.level), 0)
      ORDER BY t.level, t.idx LIMIT $3`,
    [counts.map((_, i) => i), counts, limit],
  );
}

export interface CheckpointRow {
  size: number;
  root: Uint8Array;
  note: string;
}

/** Stored checkpoints with from < size <= to, by size. */
export function readCheckpoints(sql: Sql, from: number, to: number): Promise<CheckpointRow[]> {
  return sql.query<CheckpointRow>(
    "SELECT size, root, note FROM checkpoints WHERE size > $1 AND size <= $2 ORDER BY size",
    [from, to],
  );
}

/** Leaves indexed as erasure events (leaves.type), from index `after` on, `limit` at a time. */
export function readErasureLeaves(
  sql: Sql,
  after: number,
  limit: number,
): Promise<{ idx: number; batch: number | null; slot: number | null }[]> {
  return sql.query(
    `SELECT l.idx, l.batch, l.slot FROM leaves l
      WHERE l.type = 'erasure' AND l.idx > $1 ORDER BY l.idx LIMIT $2`,
    [after, limit],
  );
}
