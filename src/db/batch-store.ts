// Reading and rewriting storage v2's batches (docs/design.md §4.9; format in batch-codec.ts).
//
// Readers name what they want by (batch, slot), the columns of its leaves row, and get the leaf
// bytes and, when asked, the salt and content. Inflated parts are kept in two bounded caches:
//   leaves parts    never change once written: cached until evicted;
//   contents parts  change when erasure rewrites them (each rewrite bumps batches.version): a read
//                   sends the versions it holds, and the row comes back only when it moved, so no
//                   process serves content another process has erased.
// Both are LRU by inflated bytes; a batch of 4,000 events of terminal text inflates to ~5 MB.

import {
  BatchFormatError,
  compress,
  decompress,
  eraseSlots,
  maxRaw,
  type Payload,
  unframeContents,
  unframeLeaves,
} from "./batch-codec.ts";
import type { Sql } from "./sql.ts";

export interface SlotRef {
  batch: number;
  slot: number;
  /**
   * The batch's version, when the caller read it with the leaves row (a join on batches): a
   * contents part cached at that version is then used without asking the database again.
   */
  version?: number | null;
}

export interface StoredEvent {
  leaf: Uint8Array;
  /** Null when the slot holds no payload (none was submitted, or it was erased). */
  payload: Payload | null;
}

/** An LRU map bounded by the bytes of its values. */
class ByteLru<V> {
  private readonly map = new Map<number, { v: V; bytes: number }>();
  private held = 0;
  constructor(private readonly max: number) {}
  get(k: number): V | undefined {
    const e = this.map.get(k);
    if (!e) return undefined;
    this.map.delete(k);
    this.map.set(k, e);
    return e.v;
  }
  set(k: number, v: V, bytes: number): void {
    this.delete(k);
    if (bytes > this.max) return;
    this.map.set(k, { v, bytes });
    this.held += bytes;
    for (const [key, e] of this.map) {
      if (this.held <= this.max) break;
      this.map.delete(key);
      this.held -= e.bytes;
    }
  }
  delete(k: number): void {
    const e = this.map.get(k);
    if (!e) return;
    this.map.delete(k);
    this.held -= e.bytes;
  }
}

interface Contents {
  version: number;
  payloads: (Payload | null)[];
}

export interface BatchStoreOptions {
  /** Inflated bytes of leaves parts kept (default 16 MiB). */
  leavesBytes?: number;
  /** Inflated bytes of contents parts kept (default 32 MiB). */
  contentsBytes?: number;
}

/** A missing batch or slot that a leaves row names: the database is damaged (audit says where). */
export class MissingBatchError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "MissingBatchError";
  }
}

export class BatchStore {
  private readonly leavesCache: ByteLru<Uint8Array[]>;
  /** Leaves parts being read and inflated now, so concurrent readers share one inflation. */
  private readonly leavesLoading = new Map<number, Promise<Uint8Array[] | undefined>>();
  private readonly contentsCache: ByteLru<Contents>;

  constructor(
    private readonly sql: Sql,
    opts: BatchStoreOptions = {},
  ) {
    this.leavesCache = new ByteLru(opts.leavesBytes ?? 16 << 20);
    this.contentsCache = new ByteLru(opts.contentsBytes ?? 32 << 20);
  }

  /** The leaf bytes at each ref, in order. Throws MissingBatchError when one is not stored. */
  async leaves(refs: readonly SlotRef[]): Promise<Uint8Array[]> {
    const parts = await this.leavesParts(distinct(refs));
    return refs.map((r) => slotOf(parts.get(r.batch), r, "leaf"));
  }

  /** The leaf and payload at each ref, in order; `withContent: false` reads no contents part. */
  async events(refs: readonly SlotRef[], withContent = true): Promise<StoredEvent[]> {
    const ids = distinct(refs);
    const [leaves, contents] = await Promise.all([
      this.leavesParts(ids),
      withContent ? this.contentsParts(ids, refs) : undefined,
    ]);
    return refs.map((r) => ({
      leaf: slotOf(leaves.get(r.batch), r, "leaf"),
      payload: contents ? (slotOf(contents.get(r.batch), r, "content", true) ?? null) : null,
    }));
  }

  /** Forgets a batch's contents (this process rewrote them). */
  forgetContents(batch: number): void {
    this.contentsCache.delete(batch);
  }

  private async leavesParts(ids: number[]): Promise<Map<number, Uint8Array[]>> {
    const out = new Map<number, Uint8Array[]>();
    const missing: number[] = [];
    const pending: Promise<void>[] = [];
    for (const id of ids) {
      const hit = this.leavesCache.get(id);
      const loading = hit ? undefined : this.leavesLoading.get(id);
      if (hit) out.set(id, hit);
      else if (loading) {
        // Another read is inflating this part now: wait for it instead of inflating it again.
        pending.push(
          loading.then((leaves) => {
            if (leaves) out.set(id, leaves);
          }),
        );
      } else missing.push(id);
    }
    const waits = Promise.all(pending);
    waits.catch(() => {}); // awaited below, unless this read fails first
    if (missing.length > 0) {
      const load = this.loadLeaves(missing);
      for (const id of missing) {
        const one = load.then((m) => m.get(id));
        one.catch(() => {}); // a failure reaches its waiters; unawaited it is not unhandled
        this.leavesLoading.set(id, one);
      }
      try {
        for (const [id, leaves] of await load) out.set(id, leaves);
      } finally {
        for (const id of missing) this.leavesLoading.delete(id);
      }
    }
    await waits;
    return out;
  }

  private async loadLeaves(ids: number[]): Promise<Map<number, Uint8Array[]>> {
    const out = new Map<number, Uint8Array[]>();
    const rows = await this.sql.query<{
      id: number;
      codec: number;
      count: number;
      leaves: Uint8Array;
    }>("SELECT id, codec, count, leaves FROM batches WHERE id = ANY($1::int8[])", [ids]);
    await Promise.all(
      rows.map(async (row) => {
        const raw = await decompress(row.leaves, row.codec, maxRaw("leaves", row.count));
        const leaves = unframeLeaves(raw, row.count);
        this.leavesCache.set(row.id, leaves, raw.length);
        out.set(row.id, leaves);
      }),
    );
    return out;
  }

  private async contentsParts(
    all: number[],
    refs: readonly SlotRef[],
  ): Promise<Map<number, (Payload | null)[]>> {
    const out = new Map<number, (Payload | null)[]>();
    // Cached at the version the caller read with its rows: no round trip at all.
    const known = new Map<number, number>();
    for (const r of refs) if (r.version != null) known.set(r.batch, r.version);
    const ids = all.filter((id) => {
      const c = this.contentsCache.get(id);
      if (c === undefined || known.get(id) !== c.version) return true;
      out.set(id, c.payloads);
      return false;
    });
    if (ids.length === 0) return out;
    const held = ids.flatMap((id) => {
      const c = this.contentsCache.get(id);
      return c ? [{ id, c }] : [];
    });
    // One round trip: the contents part comes back only where the held version is not current.
    const rows = await this.sql.query<{
      id: number;
      codec: number;
      count: number;
      version: number;
      contents: Uint8Array | null;
    }>(
      `SELECT b.id, b.codec, b.count, b.version,
              CASE WHEN h.version = b.version THEN NULL ELSE b.contents END AS contents
         FROM batches b LEFT JOIN unnest($2::int8[], $3::int4[]) AS h(id, version) ON h.id = b.id
        WHERE b.id = ANY($1::int8[])`,
      [ids, held.map((h) => h.id), held.map((h) => h.c.version)],
    );
    await Promise.all(
      rows.map(async (row) => {
        if (row.contents === null) {
          out.set(row.id, held.find((h) => h.id === row.id)!.c.payloads);
          return;
        }
        const raw = await decompress(row.contents, row.codec, maxRaw("contents", row.count));
        const payloads = unframeContents(raw, row.count);
        this.contentsCache.set(row.id, { version: row.version, payloads }, raw.length);
        out.set(row.id, payloads);
      }),
    );
    return out;
  }
}

function distinct(refs: readonly SlotRef[]): number[] {
  return [...new Set(refs.map((r) => r.batch))];
}

function slotOf<T>(part: T[] | undefined, r: SlotRef, what: string, nullable = false): T {
  if (!part) throw new MissingBatchError(`batch ${r.batch} is not stored (its ${what} is lost)`);
  if (r.slot < 0 || r.slot >= part.length) {
    throw new MissingBatchError(`batch ${r.batch} has no slot ${r.slot} (${part.length} slots)`);
  }
  const v = part[r.slot];
  if (v === undefined || (v === null && !nullable)) {
    throw new MissingBatchError(`batch ${r.batch} slot ${r.slot} holds no ${what}`);
  }
  return v as T;
}

/**
 * Rewrites a batch's contents part without the payloads of `slots` (erasure, and the sequencer's
 * scrub of slots that did not enter the tree), inside the caller's transaction. Returns how many
 * of those slots held a payload.
 */
export async function rewriteContents(tx: Sql, batch: number, slots: number[]): Promise<number> {
  const rows = await tx.query<{ codec: number; count: number; contents: Uint8Array }>(
    "SELECT codec, count, contents FROM batches WHERE id = $1 FOR UPDATE",
    [batch],
  );
  const row = rows[0];
  if (!row) throw new MissingBatchError(`batch ${batch} is not stored`);
  const raw = await decompress(row.contents, row.codec, maxRaw("contents", row.count));
  const before = unframeContents(raw, row.count);
  const held = slots.filter((s) => before[s] != null).length;
  if (held === 0) return 0;
  const rewritten = await compress(eraseSlots(raw, slots), row.codec);
  await tx.query("UPDATE batches SET contents = $2, version = version + 1 WHERE id = $1", [
    batch,
    rewritten,
  ]);
  return held;
}

export { BatchFormatError };
