// What a database audit reads, and how: every read sees one REPEATABLE READ READ ONLY snapshot, so
// a log that keeps serving while it is audited is audited at one consistent size; and the leaves
// arrive in chunks, in index order, read ahead of the checks.
//
// A chunk is the leaves [from, to) joined to their entries and payloads, the stored level-0 tiles
// covering them, and the stored checkpoints with from < size <= to. The next chunks' queries are
// sent before the current chunk is checked, so PostgreSQL reads while Node hashes; on a PostgreSQL
// primary they go alternately to `readers` transactions that share the one snapshot
// (pg_export_snapshot), so two backends join leaves to entries and payloads at once: the join, not
// the hashing, bounds the audit. A hot standby cannot export its snapshot: one transaction reads
// everything there, as on PGlite. Memory: one chunk of rows per reader.

import type { Sql } from "../db/sql.ts";
import {
  type CheckpointRow,
  type LeafRow,
  readCheckpoints,
  readLeaves,
  readTiles,
} from "./db-queries.ts";

export interface Chunk {
  from: number;
  to: number;
  rows: LeafRow[];
  /** The stored level-0 tiles of leaves [from, to), by tile index. */
  tiles0: Map<number, Uint8Array>;
  checkpoints: CheckpointRow[];
}

/**
 * Runs `fn` inside a read-only transaction at one snapshot, with that transaction first in its
 * `readers` and, on a PostgreSQL primary, up to `readers - 1` more sharing the snapshot.
 */
export function onSnapshot<T>(
  sql: Sql,
  readers: number,
  fn: (readers: Sql[]) => Promise<T>,
): Promise<T> {
  return sql.begin(async (tx) => {
    await tx.query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY");
    const all = [tx];
    // A hot standby cannot export its snapshot: one reader there, as on PGlite.
    const [primary] =
      sql.kind === "postgres"
        ? await tx.query<{ p: boolean }>("SELECT NOT pg_is_in_recovery() AS p")
        : [];
    if (!primary?.p || readers < 2) return fn(all);
    const [{ id }] = (await tx.query<{ id: string }>("SELECT pg_export_snapshot() AS id")) as [
      { id: string },
    ];
    if (!/^[0-9A-F-]+$/i.test(id)) throw new Error(`unexpected snapshot id ${id}`);
    return joinSnapshot(sql, id, readers - 1, all, () => fn(all));
  });
}

/** Opens `n` more transactions on the exported snapshot `id`, adds them to `readers`, runs `fn`. */
function joinSnapshot<T>(
  sql: Sql,
  id: string,
  n: number,
  readers: Sql[],
  fn: () => Promise<T>,
): Promise<T> {
  if (n === 0) return fn();
  return sql.begin(async (tx) => {
    await tx.query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY");
    await tx.query(`SET TRANSACTION SNAPSHOT '${id}'`);
    readers.push(tx);
    return joinSnapshot(sql, id, n - 1, readers, fn);
  });
}

/**
 * The leaves [0, size) in chunks of `chunk`, in order. One chunk is in flight per reader, taken
 * in turn; the next one is asked for before a chunk is handed out.
 */
export async function* readChunks(
  readers: Sql[],
  size: number,
  chunk: number,
): AsyncGenerator<Chunk> {
  const fetch = (sql: Sql, from: number): Promise<Chunk> => {
    const to = Math.min(from + chunk, size);
    return Promise.all([
      readLeaves(sql, from, to),
      readTiles(sql, 0, from / 256, Math.ceil(to / 256)),
      readCheckpoints(sql, from, to),
    ]).then(([rows, tiles0, checkpoints]) => ({ from, to, rows, tiles0, checkpoints }));
  };
  const inFlight: Promise<Chunk>[] = [];
  let nextFrom = 0;
  let launched = 0;
  const launch = () => {
    if (nextFrom >= size) return;
    const p = fetch(readers[launched++ % readers.length]!, nextFrom);
    p.catch(() => {}); // awaited in its turn; a failure surfaces there
    inFlight.push(p);
    nextFrom = Math.min(nextFrom + chunk, size);
  };
  for (const _ of readers) launch();
  while (inFlight.length > 0) {
    const cur = await inFlight.shift()!;
    launch();
    yield cur;
  }
}
