// The stored checkpoints in a database audit: each one verifies with the log key, says the size and
// root recorded beside it, and has the root rebuilt from the leaves at its size (checkpoints.ts).
// Each is checked when the rebuild reaches its size, so every checkpoint the log ever signed is a
// prefix of the one rebuilt tree: they are mutually consistent. None may lie beyond the tree (its
// leaves were lost, or the database is an older copy). The newest one names the log's origin,
// which decides which events are the log's own.

import { parseCheckpoint } from "../core/checkpoint.ts";
import type { Hash } from "../core/hash.ts";
import type { Verifier } from "../core/keys.ts";
import { splitNote } from "../core/note.ts";
import type { Sql } from "../db/sql.ts";
import { fastVerifier, openLogCheckpoint, rootFinding } from "./checkpoints.ts";
import type { CheckpointRow } from "./db-queries.ts";
import type { Findings } from "./findings.ts";

/** The origin line of the newest stored checkpoint; undefined when there is none or it is broken. */
export async function readOrigin(sql: Sql): Promise<string | undefined> {
  const rows = await sql.query<{ note: string }>(
    "SELECT note FROM checkpoints ORDER BY size DESC LIMIT 1",
  );
  try {
    return rows[0] ? parseCheckpoint(splitNote(rows[0].note).text).origin : undefined;
  } catch {
    return undefined; // the checkpoint pass reports the broken note
  }
}

export class CheckpointChecks {
  /** Checkpoints checked. */
  count = 0;
  private readonly verifiers: Verifier[];

  constructor(
    private readonly findings: Findings,
    verifiers: readonly Verifier[],
  ) {
    this.verifiers = verifiers.map(fastVerifier);
  }

  /** Checks `row`; when the tree rebuilt so far is at its size, against the tree's root too. */
  check(row: CheckpointRow, tree: { size: number; root(): Hash }): void {
    this.count++;
    const opened = openLogCheckpoint(row.note, this.verifiers, row.size, row);
    const f =
      opened.finding ??
      (row.size === tree.size ? rootFinding(row.size, row.root, tree.root()) : undefined);
    if (f) this.findings.add(f);
  }

  /** At the end: no checkpoint beyond the tree of `size` (the first 21 named). */
  async finish(sql: Sql, size: number): Promise<void> {
    for (const cp of await sql.query<{ size: number }>(
      "SELECT size FROM checkpoints WHERE size > $1 ORDER BY size LIMIT 21",
      [size],
    )) {
      this.findings.add({
        kind: "checkpoint",
        size: cp.size,
        message: `checkpoint ${cp.size} is beyond the tree of size ${size}: leaves were lost or the database is an older copy`,
      });
    }
  }
}
