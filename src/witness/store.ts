// The witness's state, with compare-and-swap as the only way forward (C2SP tlog-witness): the size
// for a log advances from `old` to a new size in one conditional statement, and the row count
// decides. Two concurrent requests from the same old size cannot both advance; the loser sees 0
// rows and answers 409 with the size that won.

import type { Sql } from "../db/sql.ts";

export interface WitnessedState {
  size: number;
  root: Uint8Array;
  note: string;
}

export async function readState(sql: Sql, origin: string): Promise<WitnessedState | undefined> {
  const rows = await sql.query<WitnessedState>(
    "SELECT size, root, note FROM witness_logs WHERE origin = $1",
    [origin],
  );
  return rows[0];
}

/** Advances `origin` from `old` to `next`; false when the stored size is no longer `old`. */
export async function compareAndSwap(
  sql: Sql,
  origin: string,
  old: number,
  next: WitnessedState,
): Promise<boolean> {
  const updated = await sql.query(
    `UPDATE witness_logs SET size = $2, root = $3, note = $4, updated_at = now()
      WHERE origin = $1 AND size = $5 AND size <= $2 RETURNING 1`,
    [origin, next.size, next.root, next.note, old],
  );
  if (updated.length === 1) return true;
  if (old !== 0) return false;
  // A log never seen before starts from old 0.
  const inserted = await sql.query(
    "INSERT INTO witness_logs (origin, size, root, note) VALUES ($1, $2, $3, $4) ON CONFLICT (origin) DO NOTHING RETURNING 1",
    [origin, next.size, next.root, next.note],
  );
  return inserted.length === 1;
}

export interface Evidence {
  origin: string;
  kind: "same-size-different-root" | "inconsistent";
  /** The two log-signed checkpoint notes, verbatim; A is the smaller (or equal) size. */
  notes: [string, string];
  /**
   * For "inconsistent": the base64 consistency proof from A's size to B's in explicit form (led by
   * MTH of B's first A-size leaves when A's size is a power of two), which reproduces B's signed
   * root and implies a root at A's size other than A's.
   */
  proof?: string[];
  detail: string;
  detected: string;
}

/** Whether fork evidence is held for `origin` (then the witness cosigns nothing further for it). */
export async function hasEvidence(sql: Sql, origin: string): Promise<boolean> {
  const rows = await sql.query("SELECT 1 FROM evidence WHERE origin = $1 LIMIT 1", [origin]);
  return rows.length > 0;
}

/**
 * Stores one piece of evidence unless the same pair of notes is held; true when stored. Callers go
 * through recordEvidence (evidence.ts), which first checks that it proves a fork.
 */
export async function addEvidence(sql: Sql, e: Omit<Evidence, "detected">): Promise<boolean> {
  const dup = await sql.query(
    "SELECT 1 FROM evidence WHERE origin = $1 AND note_a = $2 AND note_b = $3",
    [e.origin, e.notes[0], e.notes[1]],
  );
  if (dup.length > 0) return false;
  await sql.query(
    "INSERT INTO evidence (origin, kind, note_a, note_b, proof, detail) VALUES ($1, $2, $3, $4, $5, $6)",
    [e.origin, e.kind, e.notes[0], e.notes[1], e.proof ?? null, e.detail],
  );
  return true;
}

export async function listEvidence(sql: Sql, origin?: string): Promise<Evidence[]> {
  const rows = await sql.query<{
    origin: string;
    kind: Evidence["kind"];
    note_a: string;
    note_b: string;
    proof: string[] | null;
    detail: string;
    detected: Date;
  }>(
    `SELECT origin, kind, note_a, note_b, proof, detail, detected FROM evidence
      ${origin === undefined ? "" : "WHERE origin = $1"} ORDER BY id`,
    origin === undefined ? [] : [origin],
  );
  return rows.map((r) => ({
    origin: r.origin,
    kind: r.kind,
    notes: [r.note_a, r.note_b],
    ...(r.proof ? { proof: r.proof } : {}),
    detail: r.detail,
    detected: r.detected.toISOString(),
  }));
}
