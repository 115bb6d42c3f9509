// The in-place upgrade from storage v1 to v2 (docs/design.md §4.9): the bytes of every leaf of the
// tree move from `entries` and `payloads` rows (one each per event, content-addressed by leaf hash)
// into `batches` rows of UPGRADE_CHUNK leaves in tree order, each leaves row gaining its
// (batch, slot); then the two v1 tables are dropped. It runs at every start, after the migrations
// (initLogState), and does nothing once they are gone.
//
// Resumable: each chunk is one transaction (its batch row, its leaves rows' (batch, slot), its
// command events' command_payloads rows), so a kill -9 loses at most the chunk under way, and the
// converted leaves are always a prefix of the tree: the next start finds where it stopped by a
// binary search on leaves.batch. Several processes starting at once take turns by chunk (an
// advisory lock in each chunk's transaction). The v1 tables are dropped only when every leaf has
// its batch. A leaf whose entries row is missing (a damaged database) is stored with empty bytes,
// which `audit` then reports as not hashing to its leaf hash; nothing is invented.

import { CODEC, packBatch } from "./batch-codec.ts";
import type { Sql } from "./sql.ts";

/** Leaves per converted batch: the sequencer's largest batch (serve --batch-max's default). */
export const UPGRADE_CHUNK = 4000;
const UPGRADE_LOCK = 0x74743276; // "tt2v"

export interface UpgradeOptions {
  chunk?: number;
  /** Progress lines (serve prints them). */
  say?: (msg: string) => void;
  /** Runs after each committed chunk (tests interrupt the upgrade here). */
  afterChunk?: (converted: number) => Promise<void> | void;
}

export interface UpgradeResult {
  /** Leaves converted by this call. */
  converted: number;
  /** Leaves whose entries row was missing (stored empty, for `audit` to report). */
  missingLeaves: number[];
}

/** Whether the database still holds v1 tables (and has v2's, so it can be upgraded). */
export async function needsUpgrade(sql: Sql): Promise<boolean> {
  const [r] = await sql.query<{ v1: boolean; v2: boolean }>(
    "SELECT to_regclass('entries') IS NOT NULL AS v1, to_regclass('batches') IS NOT NULL AS v2",
  );
  return Boolean(r?.v1 && r.v2);
}

/** Converts the v1 tables into batches and drops them; undefined when there was nothing to do. */
export async function upgradeToBatches(
  sql: Sql,
  opts: UpgradeOptions = {},
): Promise<UpgradeResult | undefined> {
  if (!(await needsUpgrade(sql))) return undefined;
  const chunk = opts.chunk ?? UPGRADE_CHUNK;
  const result: UpgradeResult = { converted: 0, missingLeaves: [] };
  let hint = 0;
  const started = Date.now();
  let said = started;
  for (;;) {
    const step = await sql.begin(async (tx) => {
      await tx.query("SELECT pg_advisory_xact_lock($1)", [UPGRADE_LOCK]);
      if (!(await needsUpgrade(tx))) return { done: true, size: 0, from: 0, n: 0 };
      const [state] = await tx.query<{ size: number }>("SELECT size FROM log_state WHERE id = 1");
      const size = state?.size ?? 0;
      const from = await firstUnconverted(tx, size, hint);
      if (from >= size) {
        await tx.query("DROP TABLE payloads");
        await tx.query("DROP TABLE entries");
        return { done: true, size, from, n: 0 };
      }
      const n = await convertChunk(tx, from, Math.min(size, from + chunk), result);
      return { done: false, size, from, n };
    });
    if (step.done) {
      if (result.converted > 0) {
        const s = ((Date.now() - started) / 1000).toFixed(1);
        opts.say?.(`storage upgrade: done, ${result.converted} leaves in batches in ${s} s`);
      }
      if (result.missingLeaves.length > 0) {
        const some = result.missingLeaves.slice(0, 10).join(", ");
        opts.say?.(
          `storage upgrade: ${result.missingLeaves.length} leaves had no entries row (${some}${result.missingLeaves.length > 10 ? ", …" : ""}): stored empty, \`tmuxtrail audit\` reports them`,
        );
      }
      return result;
    }
    result.converted += step.n;
    hint = step.from + step.n;
    if (opts.say && Date.now() - said > 5000) {
      said = Date.now();
      opts.say(`storage upgrade: ${hint} of ${step.size} leaves in batches`);
    }
    await opts.afterChunk?.(result.converted);
  }
}

/** The first leaf without a batch: converted leaves are a prefix of [0, size). */
async function firstUnconverted(tx: Sql, size: number, hint: number): Promise<number> {
  const converted = async (i: number) => {
    const [r] = await tx.query<{ c: boolean }>(
      "SELECT batch IS NOT NULL AS c FROM leaves WHERE idx = $1",
      [i],
    );
    if (!r) throw new Error(`leaf ${i} of a tree of size ${size} has no leaves row`);
    return r.c;
  };
  // The common case: the previous chunk ended at `hint`.
  if (hint < size && !(await converted(hint)) && (hint === 0 || (await converted(hint - 1)))) {
    return hint;
  }
  let lo = 0;
  let hi = size; // first unconverted is in [lo, hi]
  while (lo < hi) {
    const mid = Math.floor((lo + hi) / 2);
    if (await converted(mid)) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

async function convertChunk(
  tx: Sql,
  from: number,
  to: number,
  result: UpgradeResult,
): Promise<number> {
  const rows = await tx.query<{
    idx: number;
    leaf_hash: Uint8Array;
    type: string | null;
    leaf: Uint8Array | null;
    salt: Uint8Array | null;
    content: Uint8Array | null;
  }>(
    `SELECT l.idx, l.leaf_hash, l.type, e.leaf, p.salt, p.content
       FROM leaves l LEFT JOIN entries e ON e.leaf_hash = l.leaf_hash
       LEFT JOIN payloads p ON p.leaf_hash = l.leaf_hash
      WHERE l.idx >= $1 AND l.idx < $2 ORDER BY l.idx`,
    [from, to],
  );
  if (rows.length !== to - from || rows.some((r, i) => r.idx !== from + i)) {
    throw new Error(`leaves ${from}..${to - 1} are not all stored: the tree has a gap`);
  }
  for (const r of rows) if (r.leaf === null) result.missingLeaves.push(r.idx);
  const packed = await packBatch(
    rows.map((r) => ({
      leaf: r.leaf ?? new Uint8Array(0),
      payload: r.salt && r.content ? { salt: r.salt, content: r.content } : null,
    })),
  );
  const [batch] = await tx.query<{ id: number }>(
    `INSERT INTO batches (codec, count, leaves, contents, integrated)
     VALUES ($1, $2, $3, $4, true) RETURNING id`,
    [CODEC, packed.count, packed.leaves, packed.contents],
  );
  const commands = rows.filter((r) => r.type === "command" && r.content);
  await Promise.all([
    tx.query(
      `UPDATE leaves SET batch = $1, slot = t.slot
         FROM unnest($2::int8[], $3::int4[]) AS t(idx, slot) WHERE leaves.idx = t.idx`,
      [batch!.id, rows.map((r) => r.idx), rows.map((_, i) => i)],
    ),
    commands.length === 0
      ? Promise.resolve()
      : tx.query(
          `INSERT INTO command_payloads (leaf_hash, content)
           SELECT p.leaf_hash, p.content FROM leaves l JOIN payloads p ON p.leaf_hash = l.leaf_hash
            WHERE l.idx >= $1 AND l.idx < $2 AND l.type = 'command'
           ON CONFLICT DO NOTHING`,
          [from, to],
        ),
  ]);
  return rows.length;
}
