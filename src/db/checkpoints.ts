// The log's checkpoints and the witnesses' cosignatures of them: every query of the two tables the
// log serves from (docs/design.md §4.6). Both are append-only (§4.3): a checkpoint is stored once
// per size (two processes signing one size write the same note: Ed25519 is deterministic), a
// cosignature once per size and witness. "Served" is the newest checkpoint with every cosignature
// collected for it; "covered with quorum k" is the newest checkpoint that has k of them.
// The auditor (src/audit) reads these tables with its own queries on purpose: an audit does not
// share the code it checks.

import type { Sql } from "./sql.ts";

export interface StoredCheckpoint {
  size: number;
  root: Uint8Array;
  note: string;
}

export async function latestCheckpoint(sql: Sql): Promise<StoredCheckpoint | undefined> {
  const rows = await sql.query<StoredCheckpoint>(
    "SELECT size, root, note FROM checkpoints ORDER BY size DESC LIMIT 1",
  );
  return rows[0];
}

/** The newest checkpoint with at least `quorum` cosignatures (quorum 0: the newest). */
export async function latestWithQuorum(
  sql: Sql,
  quorum: number,
): Promise<StoredCheckpoint | undefined> {
  if (quorum <= 0) return latestCheckpoint(sql);
  const rows = await sql.query<StoredCheckpoint>(
    `SELECT size, root, note FROM checkpoints c
      WHERE (SELECT count(*) FROM cosignatures s WHERE s.size = c.size) >= $1
      ORDER BY size DESC LIMIT 1`,
    [quorum],
  );
  return rows[0];
}

/**
 * The note served on /checkpoint: the newest checkpoint with every cosignature collected for it;
 * with `quorum`, the newest one that already has that many (else the newest): what an export
 * proves against, so that a bundle made while a witness catches up still meets the quorum.
 */
export async function servedCheckpoint(
  sql: Sql,
  quorum = 0,
): Promise<{ size: number; note: string } | undefined> {
  const cp =
    (quorum > 0 ? await latestWithQuorum(sql, quorum) : undefined) ?? (await latestCheckpoint(sql));
  return cp && withCosignatures(sql, cp);
}

/** The stored checkpoint of exactly `size` with every cosignature collected for it, if any. */
export async function checkpointOfSize(
  sql: Sql,
  size: number,
): Promise<{ size: number; note: string } | undefined> {
  const [cp] = await sql.query<StoredCheckpoint>(
    "SELECT size, root, note FROM checkpoints WHERE size = $1",
    [size],
  );
  return cp && withCosignatures(sql, cp);
}

/** The note followed by every cosignature line collected for it, in witness order. */
async function withCosignatures(
  sql: Sql,
  cp: StoredCheckpoint,
): Promise<{ size: number; note: string }> {
  const cosigs = await sql.query<{ line: string }>(
    "SELECT line FROM cosignatures WHERE size = $1 ORDER BY witness",
    [cp.size],
  );
  return { size: cp.size, note: cp.note + cosigs.map((r) => r.line).join("") };
}

/** The root this log signed at `size`, if it signed that size. */
export async function checkpointRoot(sql: Sql, size: number): Promise<Uint8Array | undefined> {
  const rows = await sql.query<{ root: Uint8Array }>(
    "SELECT root FROM checkpoints WHERE size = $1",
    [size],
  );
  return rows[0]?.root;
}

/** The newest checkpoint's size and when it was stored (for /healthz). */
export async function latestCheckpointTime(
  sql: Sql,
): Promise<{ size: number; created_at: Date } | undefined> {
  const rows = await sql.query<{ size: number; created_at: Date }>(
    "SELECT size, created_at FROM checkpoints ORDER BY size DESC LIMIT 1",
  );
  return rows[0];
}

/** Stores a signed checkpoint; a second process storing the same size stored the same note. */
export async function insertCheckpoint(sql: Sql, cp: StoredCheckpoint): Promise<void> {
  await sql.query(
    "INSERT INTO checkpoints (size, root, note) VALUES ($1, $2, $3) ON CONFLICT (size) DO NOTHING",
    [cp.size, cp.root, cp.note],
  );
}

/** Stores one witness's cosignature line (verified by the caller) of checkpoint `size`. */
export async function insertCosignature(
  sql: Sql,
  c: { size: number; witness: string; line: string; time: number },
): Promise<void> {
  await sql.query(
    "INSERT INTO cosignatures (size, witness, line, time) VALUES ($1, $2, $3, $4) ON CONFLICT (size, witness) DO NOTHING",
    [c.size, c.witness, c.line, c.time],
  );
}
