// What a database audit reads, and how: every read sees one REPEATABLE READ READ ONLY snapshot, so
// a log that keeps serving while it is audited is audited at one consistent size; and the leaves
// arrive in chunks, in index order, read ahead of the checks.
//
// A chunk is the leaves [from, to) with their bytes and payloads from their batches, the stored
// level-0 tiles covering them, and the stored checkpoints with from < size <= to. Consecutive
// leaves share batches, so each batch is read and inflated once for the chunks that name it (a
// batch straddling two chunks is shared, not read twice). The next chunks' queries are sent before
// the current chunk is checked, and their parts inflate on libuv's thread pool, so PostgreSQL reads
// and zlib inflates while Node hashes; on a PostgreSQL primary they go alternately to `readers`
// transactions that share the one snapshot (pg_export_snapshot). A hot standby cannot export its
// snapshot: one transaction reads everything there, as on PGlite. Memory: one chunk of rows and
// its inflated batches per reader.

import {
  decompress,
  maxRaw,
  type Payload,
  unframeContents,
  unframeLeaves,
} from "../db/batch-codec.ts";
import type { Sql } from "../db/sql.ts";
import {
  type BatchRow,
  type CheckpointRow,
  type LeafRow,
  readBatches,
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

/** One batch as the audit reads it: each part inflated and unframed, or why it could not be. */
interface Batch {
  integrated: boolean;
  leaves: Uint8Array[] | string;
  contents: (Payload | null)[] | string;
}

async function inflate(row: BatchRow): Promise<Batch> {
  // Inflated only as far as the batch's count of slots can hold, and framed to that count.
  const part = async <T>(
    stored: Uint8Array,
    which: "leaves" | "contents",
    unframe: (raw: Uint8Array, count: number) => T,
  ) => {
    try {
      return unframe(await decompress(stored, row.codec, maxRaw(which, row.count)), row.count);
    } catch (e) {
      return `batch ${row.id}: ${(e as Error).message}`;
    }
  };
  const [leaves, contents] = await Promise.all([
    part(row.leaves, "leaves", unframeLeaves),
    part(row.contents, "contents", unframeContents),
  ]);
  return { integrated: row.integrated, leaves, contents };
}

/**
 * The batches chunks name, each read and inflated once: a chunk asks for the ids it names, and a
 * batch stays until no chunk asked for after it can need it.
 */
class Batches {
  private readonly held = new Map<number, { p: Promise<Batch | undefined>; last: number }>();

  /** The batches `ids`, read through `sql` where not held; `seq` is the asking chunk's number. */
  get(sql: Sql, ids: number[], seq: number): Promise<Map<number, Batch | undefined>> {
    const want = ids.filter((id) => !this.held.has(id));
    if (want.length > 0) {
      const rows = readBatches(sql, want).then((rs) => new Map(rs.map((r) => [r.id, r])));
      rows.catch(() => {}); // awaited below
      for (const id of want) {
        this.held.set(id, {
          p: rows.then((m) => {
            const r = m.get(id);
            return r ? inflate(r) : undefined;
          }),
          last: seq,
        });
      }
    }
    for (const id of ids) {
      const h = this.held.get(id)!;
      h.last = Math.max(h.last, seq);
    }
    return Promise.all(ids.map(async (id) => [id, await this.held.get(id)!.p] as const)).then(
      (es) => new Map(es),
    );
  }

  /** Chunks up to `seq` are done: what only they named goes. */
  release(seq: number): void {
    for (const [id, h] of this.held) if (h.last <= seq) this.held.delete(id);
  }
}

/** Fills each row's leaf bytes and payload from its batch, or says why they are not there. */
function place(rows: LeafRow[], batches: Map<number, Batch | undefined>): void {
  for (const r of rows) {
    r.leaf = null;
    r.salt = null;
    r.content = null;
    if (r.batch === null || r.slot === null) {
      r.lost = "no batch holds its bytes (leaves.batch is null)";
      continue;
    }
    const b = batches.get(r.batch);
    if (!b) {
      r.lost = `its batch ${r.batch} is not stored`;
      continue;
    }
    r.unintegrated = !b.integrated;
    if (typeof b.leaves === "string") {
      r.lost = b.leaves;
      continue;
    }
    const leaf = b.leaves[r.slot];
    if (leaf === undefined) {
      r.lost = `batch ${r.batch} has no slot ${r.slot} (${b.leaves.length} slots)`;
      continue;
    }
    r.leaf = leaf;
    if (typeof b.contents === "string") r.contentsLost = b.contents;
    else if (r.slot >= b.contents.length)
      r.contentsLost = `batch ${r.batch}: its contents part has no slot ${r.slot} (${b.contents.length} slots)`;
    else {
      const p = b.contents[r.slot];
      if (p) {
        r.salt = p.salt;
        r.content = p.content;
      }
    }
  }
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
  const batches = new Batches();
  const fetch = (sql: Sql, from: number, seq: number): Promise<Chunk> => {
    const to = Math.min(from + chunk, size);
    // A batch another chunk in flight already asked for is shared, whichever reader reads it.
    const rows = readLeaves(sql, from, to).then(async (rows) => {
      const ids = [...new Set(rows.flatMap((r) => (r.batch === null ? [] : [r.batch])))];
      place(rows, await batches.get(sql, ids, seq));
      return rows;
    });
    return Promise.all([
      rows,
      readTiles(sql, 0, from / 256, Math.ceil(to / 256)),
      readCheckpoints(sql, from, to),
    ]).then(([rows, tiles0, checkpoints]) => ({ from, to, rows, tiles0, checkpoints }));
  };
  const inFlight: Promise<Chunk>[] = [];
  let nextFrom = 0;
  let launched = 0;
  const launch = () => {
    if (nextFrom >= size) return;
    const p = fetch(readers[launched % readers.length]!, nextFrom, launched);
    launched++;
    p.catch(() => {}); // awaited in its turn; a failure surfaces there
    inFlight.push(p);
    nextFrom = Math.min(nextFrom + chunk, size);
  };
  for (const _ of readers) launch();
  for (let done = 0; inFlight.length > 0; done++) {
    const cur = await inFlight.shift()!;
    batches.release(done);
    launch();
    yield cur;
  }
}
