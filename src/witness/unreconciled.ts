// Peer heads this witness could not compare with its own (gossip.ts): the log withheld the tiles,
// the peer was unreachable or timed out, or it served tiles that do not reproduce its head. Such a
// comparison is never dropped: one row per (origin, peer) holds since when it is open and why,
// counted in tmuxtrail_witness_unreconciled_heads{origin}, logged at every failed round and alerted
// once when the hold begins. A completed comparison (equal heads, a consistency proof either way,
// or fork evidence) deletes the row.
//
// The hold: once a row for a log that names a peer's size (the peer served a checkpoint signed by
// the log, which could not be compared with ours) is older than the reconcile deadline (default 5
// minutes), the witness cosigns no checkpoint of that log beyond the size it already cosigned
// (add-checkpoint answers 503) until every such comparison completes. A row without a peer size
// (the peer unreachable, or serving no valid checkpoint) is counted, logged and alerted, never a
// hold: otherwise any one peer, or the network between, could stop cosigning of every log. A peer
// size once known is kept while the peer goes silent, and `since` restarts when one first appears. A log that shows W1 one tree and W2
// another at different sizes, and withholds the tiles that would compare them, thereby stops
// gathering cosignatures from both. Times are the witness's clock (deps.now, Unix seconds).

import type { Sql } from "../db/sql.ts";

/** Seconds an open comparison may last before the witness holds cosigning for that log. */
export const DEFAULT_RECONCILE_DEADLINE = 300;

export interface Unreconciled {
  origin: string;
  peer: string;
  peerSize: number | null;
  /** Unix seconds. */
  since: number;
  reason: string;
}

/** Records (or refreshes the reason of) an open comparison; returns the row, `since` kept. */
export async function markUnreconciled(
  sql: Sql,
  row: Omit<Unreconciled, "since">,
  now: number,
): Promise<Unreconciled> {
  const rows = await sql.query<{ since: number; peer_size: number | null }>(
    `INSERT INTO witness_unreconciled (origin, peer, peer_size, since, reason)
       VALUES ($1, $2, $3, to_timestamp($4), $5)
     ON CONFLICT (origin, peer) DO UPDATE SET
       since = CASE WHEN witness_unreconciled.peer_size IS NULL AND excluded.peer_size IS NOT NULL
                    THEN excluded.since ELSE witness_unreconciled.since END,
       peer_size = coalesce(excluded.peer_size, witness_unreconciled.peer_size),
       reason = excluded.reason
     RETURNING extract(epoch FROM since)::float8 AS since, peer_size`,
    [row.origin, row.peer, row.peerSize, now, row.reason],
  );
  const r = rows[0]!;
  return {
    ...row,
    peerSize: r.peer_size === null ? null : Number(r.peer_size),
    since: Number(r.since),
  };
}

/** The comparison with `peer` about `origin` completed. */
export async function clearUnreconciled(sql: Sql, origin: string, peer: string): Promise<void> {
  await sql.query("DELETE FROM witness_unreconciled WHERE origin = $1 AND peer = $2", [
    origin,
    peer,
  ]);
}

/** Forgets rows of peers no longer configured (called at start). */
export async function forgetOtherPeers(sql: Sql, peers: readonly string[]): Promise<void> {
  await sql.query("DELETE FROM witness_unreconciled WHERE NOT (peer = ANY($1::text[]))", [
    [...peers],
  ]);
}

export async function listUnreconciled(sql: Sql, origin?: string): Promise<Unreconciled[]> {
  const rows = await sql.query<{
    origin: string;
    peer: string;
    peer_size: number | null;
    since: number;
    reason: string;
  }>(
    `SELECT origin, peer, peer_size, extract(epoch FROM since)::float8 AS since, reason
       FROM witness_unreconciled ${origin === undefined ? "" : "WHERE origin = $1"}
      ORDER BY origin, peer`,
    origin === undefined ? [] : [origin],
  );
  return rows.map((r) => ({
    origin: r.origin,
    peer: r.peer,
    peerSize: r.peer_size === null ? null : Number(r.peer_size),
    since: Number(r.since),
    reason: r.reason,
  }));
}

/** Whether an open comparison holds cosigning: a peer's signed head is known, past the deadline. */
export const holds = (r: Unreconciled, now: number, deadline: number) =>
  r.peerSize !== null && r.since + deadline <= now;

/** The oldest open comparison for `origin` that holds cosigning, if any. */
export async function holdingSince(
  sql: Sql,
  origin: string,
  now: number,
  deadline: number,
): Promise<Unreconciled | undefined> {
  return (await listUnreconciled(sql, origin)).find((r) => holds(r, now, deadline));
}
